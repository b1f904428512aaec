// A StorageBackend in memory, for tests and for data that needs no durability.
import { totalBytes } from '../adapters/adapter.js';
import { asBuffers, checkOffset, checkRead, checkTruncate, closedBackend, type StorageBackend } from './backend.js';

export class MemoryBackend implements StorageBackend {
  private data = Buffer.alloc(0);
  private length = 0;
  private closed = false;

  constructor(initial?: Uint8Array) {
    if (initial) {
      this.data = Buffer.from(initial);
      this.length = initial.length;
    }
  }

  private check(what: string): void {
    if (this.closed) throw closedBackend(what);
  }

  async readAt(offset: number, length: number): Promise<Buffer> {
    this.check('readAt');
    checkRead(offset, length, this.length);
    return Buffer.from(this.data.subarray(offset, offset + length));
  }

  async append(data: Uint8Array | readonly Uint8Array[]): Promise<number> {
    this.check('append');
    const offset = this.length;
    this.put(offset, asBuffers(data));
    return offset;
  }

  async writeAt(offset: number, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    this.check('writeAt');
    checkOffset(offset);
    this.put(offset, asBuffers(data));
  }

  /** writeAt done before it returns: memory needs no IO engine, so a caller may write on its own thread. */
  writeAtNow(offset: number, data: readonly Uint8Array[]): boolean {
    this.check('writeAt');
    checkOffset(offset);
    this.put(offset, data);
    return true;
  }

  async allocate(offset: number, length: number): Promise<void> {
    this.check('allocate');
    checkOffset(offset);
    this.grow(offset + length);
  }

  /** Makes the store at least `end` bytes long (the new bytes zeros). */
  private grow(end: number): void {
    if (end > this.data.length) {
      const grown = Buffer.alloc(Math.max(end, this.data.length * 2, 4096));
      this.data.copy(grown, 0, 0, this.length);
      this.data = grown;
    }
    this.length = Math.max(this.length, end);
  }

  private put(offset: number, buffers: readonly Uint8Array[]): void {
    this.grow(offset + totalBytes(buffers));
    let at = offset;
    for (const buffer of buffers) {
      this.data.set(buffer, at);
      at += buffer.length;
    }
  }

  async flush(): Promise<void> {
    this.check('flush');
  }

  size(): number {
    return this.length;
  }

  async sync(): Promise<void> {
    this.check('sync');
  }

  async truncate(newSize: number): Promise<void> {
    this.check('truncate');
    checkTruncate(newSize, this.length);
    this.data.fill(0, newSize, this.length);
    this.length = newSize;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A copy of the bytes held (tests). */
  snapshot(): Buffer {
    return Buffer.from(this.data.subarray(0, this.length));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
