// A StorageBackend on a storage File: appends are the File's appends (so they run on io_uring or the sync
// IO mode like everything else), writeAt is pwritev, allocate fallocate, flush fdatasync, sync fsync.
// writeAtNow is a pwritev on this thread through the File's descriptor (its nativeAccess), raising the
// size the File knows (and its count of writes) as the mount's native data path does; startWriteback a sync_file_range on the
// thread pool through the same descriptor, which close() waits for.
import { writevSync } from 'node:fs';

import { skipBytes, totalBytes } from '../adapters/adapter.js';
import { storageError, toStorageError } from '../ground/errors.js';
import { native } from '../io/native.js';
import type { File } from '../storage/file.js';
import { checkOffset, checkRead, checkTruncate, type StorageBackend } from './backend.js';

export class FileBackend implements StorageBackend {
  /** writeback started and not finished: the descriptor must stay open until it is */
  private readonly writebacks = new Set<Promise<unknown>>();

  constructor(private readonly file: File) {}

  async readAt(offset: number, length: number): Promise<Buffer> {
    checkRead(offset, length, this.file.knownSize);
    const buffer = Buffer.allocUnsafe(length);
    const n = length === 0 ? 0 : await this.file.read(offset, buffer);
    if (n !== length) checkRead(offset, length, n + offset);
    return buffer;
  }

  append(data: Uint8Array | readonly Uint8Array[]): Promise<number> {
    return data instanceof Uint8Array ? this.file.append(data) : this.file.appendv(data);
  }

  writeAt(offset: number, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    return this.file.writevAt(offset, data instanceof Uint8Array ? [data] : data);
  }

  writeAtNow(offset: number, data: readonly Uint8Array[]): boolean {
    const access = this.file.nativeAccess();
    // O_DIRECT wants aligned buffers and offsets: such a file takes the checked path, writeAt
    if (access === undefined || this.file.alignment !== 0) return false;
    checkOffset(offset);
    let rest = data;
    let at = offset;
    let left = totalBytes(data);
    try {
      while (left > 0) {
        const n = writevSync(access.fd, rest as Uint8Array[], at);
        if (n === 0) throw storageError('EIO', `pwritev wrote nothing at offset ${at} with ${left} bytes left`, { syscall: 'pwritev' });
        at += n;
        left -= n;
        if (left > 0) rest = skipBytes(rest, n);
      }
    } catch (error) {
      throw toStorageError(error, 'pwritev', this.file.path);
    } finally {
      // what did reach the file counts, even when the rest failed: the caller cuts it back by the size
      if (at > access.sizeCell[0]!) access.sizeCell[0] = at;
      // a file whose storage counts its writes (NativeAccess.changeCell) learns of this one as of the data path's
      if (access.changeCell !== undefined) Atomics.add(access.changeCell, 0, 1);
    }
    return true;
  }

  startWriteback(offset: number, length: number): void {
    const access = this.file.nativeAccess();
    if (access === undefined || length <= 0) return;
    // advisory: an error here (-errno) is the later sync's to report
    const started: Promise<unknown> = native.blocking.syncFileRange(access.fd, offset, length).then(
      () => this.writebacks.delete(started),
      () => this.writebacks.delete(started),
    );
    this.writebacks.add(started);
  }

  allocate(offset: number, length: number): Promise<void> {
    return this.file.allocate(offset, length);
  }

  flush(): Promise<void> {
    return this.file.datasync();
  }

  size(): number {
    return this.file.knownSize;
  }

  sync(): Promise<void> {
    return this.file.sync();
  }

  async truncate(newSize: number): Promise<void> {
    checkTruncate(newSize, this.file.knownSize);
    await this.file.truncate(newSize);
  }

  async close(): Promise<void> {
    await Promise.all(this.writebacks);
    return this.file.close();
  }
}
