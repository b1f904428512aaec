// A StorageBackend that fails on purpose, for the WAL's tests: it can fail appends once a number of bytes
// has been written (a full disk), fail flush/sync, and crash: lose everything written since the last
// successful flush or sync (appends and writes in place alike), as a machine that loses power would.
import { storageError } from '../ground/errors.js';
import { totalBytes } from '../adapters/adapter.js';
import { asBuffers, type StorageBackend } from './backend.js';
import { MemoryBackend } from './memory-backend.js';

export interface CrashPlan {
  /**
   * The disk's room: appends, writes and allocations fail (with `failCode`) where they would make the
   * store larger than this many bytes, after writing what fits. Writes within the store's current size
   * never fail for it: that space is the file's already, as on a file system that does not copy on write.
   */
  failAfterBytes?: number;
  failCode?: string;
  /** flush and sync fail with EIO */
  failSync?: boolean;
}

export class CrashingBackend implements StorageBackend {
  /** what a crash leaves: the bytes as of the last successful flush or sync */
  private durable: Buffer;
  plan: CrashPlan;

  constructor(
    readonly inner: MemoryBackend = new MemoryBackend(),
    plan: CrashPlan = {},
  ) {
    this.plan = plan;
    this.durable = inner.snapshot();
  }

  readAt(offset: number, length: number): Promise<Buffer> {
    return this.inner.readAt(offset, length);
  }

  async append(data: Uint8Array | readonly Uint8Array[]): Promise<number> {
    const offset = this.inner.size();
    await this.writeAt(offset, data);
    return offset;
  }

  async writeAt(offset: number, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const { failAfterBytes, failCode = 'ENOSPC' } = this.plan;
    const buffers = asBuffers(data);
    const limit = failAfterBytes === undefined ? undefined : Math.max(failAfterBytes, this.inner.size());
    if (limit !== undefined && offset + totalBytes(buffers) > limit) {
      // a full disk takes what fits, then fails: the partial write is there for the caller to clean up
      const room = Math.max(0, limit - offset);
      if (room > 0) await this.inner.writeAt(offset, Buffer.concat(buffers as Uint8Array[]).subarray(0, room));
      throw storageError(failCode, `simulated failure after ${failAfterBytes} bytes`, { syscall: 'write' });
    }
    await this.inner.writeAt(offset, buffers);
  }

  async allocate(offset: number, length: number): Promise<void> {
    const { failAfterBytes, failCode = 'ENOSPC' } = this.plan;
    if (failAfterBytes !== undefined && offset + length > Math.max(failAfterBytes, this.inner.size())) {
      throw storageError(failCode, `simulated failure after ${failAfterBytes} bytes`, { syscall: 'fallocate' });
    }
    await this.inner.allocate(offset, length);
  }

  private async makeDurable(what: string): Promise<void> {
    if (this.plan.failSync) throw storageError('EIO', `simulated ${what} failure`, { syscall: what });
    this.durable = this.inner.snapshot();
  }

  flush(): Promise<void> {
    return this.makeDurable('fdatasync');
  }

  size(): number {
    return this.inner.size();
  }

  sync(): Promise<void> {
    return this.makeDurable('fsync');
  }

  async truncate(newSize: number): Promise<void> {
    await this.inner.truncate(newSize);
    this.durable = this.durable.subarray(0, Math.min(this.durable.length, newSize));
  }

  /** What survives a crash now: the bytes as of the last successful flush or sync. */
  crashImage(): Buffer {
    return Buffer.from(this.durable);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
