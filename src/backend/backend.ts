// StorageBackend (seed 004): an opaque byte store that knows nothing of what it holds. The WAL writes its
// segments through it. Invariants: append returns the offset it wrote at; writeAt writes in place (or past
// the end, growing the store); readAt returns exactly the bytes written there; flush makes written data
// durable, sync data and metadata; truncate only shrinks.
import { storageError, type StorageError } from '../ground/errors.js';

export interface StorageBackend {
  /** Exactly `length` bytes at `offset`; EINVAL (naming offset, length and size) if that passes the end. */
  readAt(offset: number, length: number): Promise<Buffer>;
  /** Appends `data` (one buffer or several, written as one) and resolves with the offset it starts at. */
  append(data: Uint8Array | readonly Uint8Array[]): Promise<number>;
  /** Writes `data` (one buffer or several, written as one) at `offset`: in place, or growing the store. */
  writeAt(offset: number, data: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /**
   * Writes `data` at `offset` now, on the calling thread (a blocking pwritev into the page cache), and
   * answers true; or answers false, having written nothing, where the store cannot (no descriptor). For
   * small writes, where a round trip through the IO engine costs more than the write itself. The caller
   * has no other write or size change to the store in flight. Optional: a store without it is written
   * with writeAt.
   */
  writeAtNow?(offset: number, data: readonly Uint8Array[]): boolean;
  /**
   * Starts writing [offset, offset + length) back to the disk and returns without waiting (for a later
   * sync or flush to find less to do); makes nothing durable and reports nothing. Optional: a store
   * without it leaves writeback to the kernel.
   */
  startWriteback?(offset: number, length: number): void;
  /** Reserves [offset, offset + length) (fallocate), growing the store to its end if it is shorter; new bytes read as zeros. */
  allocate(offset: number, length: number): Promise<void>;
  /** Makes every written byte durable (fdatasync). */
  flush(): Promise<void>;
  /** The size in bytes: where the next append lands. */
  size(): number;
  /** Makes data and metadata durable (fsync). */
  sync(): Promise<void>;
  /** Cuts the store to `newSize` bytes (shrinking only). */
  truncate(newSize: number): Promise<void>;
  close(): Promise<void>;
}

export function pastEnd(offset: number, length: number, size: number): StorageError {
  return storageError('EINVAL', `read of ${length} bytes at offset ${offset} passes the end (size ${size})`);
}

export function checkRead(offset: number, length: number, size: number): void {
  for (const [name, value] of [
    ['offset', offset],
    ['length', length],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw storageError('EINVAL', `${name} must be a non-negative integer, got ${value}`);
  }
  if (offset + length > size) throw pastEnd(offset, length, size);
}

export function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw storageError('EINVAL', `offset must be a non-negative integer, got ${offset}`);
}

export function checkTruncate(newSize: number, size: number): void {
  if (!Number.isSafeInteger(newSize) || newSize < 0) throw storageError('EINVAL', `size must be a non-negative integer, got ${newSize}`);
  if (newSize > size) throw storageError('EINVAL', `truncate only shrinks: ${newSize} is more than the size ${size}`);
}

export const closedBackend = (what: string): StorageError => storageError('EBADF', `${what} on a closed backend`);

export const asBuffers = (data: Uint8Array | readonly Uint8Array[]): readonly Uint8Array[] => (data instanceof Uint8Array ? [data] : data);
