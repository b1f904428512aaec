// A StorageBackend on a storage File: appends are the File's appends (so they run on io_uring or the sync
// IO mode like everything else), writeAt is pwritev, allocate fallocate, flush fdatasync, sync fsync.
import type { File } from '../storage/file.js';
import { checkRead, checkTruncate, type StorageBackend } from './backend.js';

export class FileBackend implements StorageBackend {
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

  close(): Promise<void> {
    return this.file.close();
  }
}
