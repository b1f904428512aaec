// A StorageBackend that fails on purpose, for the WAL's tests: it can fail appends once a number of bytes
// has been written (a full disk), fail flush/sync, and crash: lose everything written since the last
// successful flush or sync, as a machine that loses power would.
import { storageError } from '../ground/errors.js';
import { totalBytes } from '../adapters/adapter.js';
import { asBuffers, type StorageBackend } from './backend.js';
import { MemoryBackend } from './memory-backend.js';

export interface CrashPlan {
  /** appends fail (with `failCode`) once this many bytes in total would have been stored */
  failAfterBytes?: number;
  failCode?: string;
  /** flush and sync fail with EIO */
  failSync?: boolean;
}

export class CrashingBackend implements StorageBackend {
  private durable = 0;
  plan: CrashPlan;

  constructor(
    readonly inner: MemoryBackend = new MemoryBackend(),
    plan: CrashPlan = {},
  ) {
    this.plan = plan;
    this.durable = inner.size();
  }

  readAt(offset: number, length: number): Promise<Buffer> {
    return this.inner.readAt(offset, length);
  }

  async append(data: Uint8Array | readonly Uint8Array[]): Promise<number> {
    const { failAfterBytes, failCode = 'ENOSPC' } = this.plan;
    const buffers = asBuffers(data);
    if (failAfterBytes !== undefined && this.inner.size() + totalBytes(buffers) > failAfterBytes) {
      // a full disk takes what fits, then fails: the partial write is there for the caller to clean up
      const room = Math.max(0, failAfterBytes - this.inner.size());
      if (room > 0) await this.inner.append(Buffer.concat(buffers as Uint8Array[]).subarray(0, room));
      throw storageError(failCode, `simulated failure after ${failAfterBytes} bytes`, { syscall: 'write' });
    }
    return this.inner.append(buffers);
  }

  private async makeDurable(what: string): Promise<void> {
    if (this.plan.failSync) throw storageError('EIO', `simulated ${what} failure`, { syscall: what });
    this.durable = this.inner.size();
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
    this.durable = Math.min(this.durable, newSize);
  }

  /** What survives a crash now: the bytes up to the last successful flush or sync. */
  crashImage(): Buffer {
    return this.inner.snapshot().subarray(0, this.durable);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
