// What the parts of an open store share: whether it is closing or closed, the background failure after
// which writes are refused and nothing more is recorded, the writes stalled until a flush or compaction
// makes room, and the counters stats() reports.
import { storageError, type StorageError } from '../ground/errors.js';
import type { Logger } from '../log.js';

export class StoreStatus {
  closing = false;
  closed = false;
  failure: StorageError | undefined;
  readonly counters = { flushBytes: 0, compactionBytes: 0, userBytes: 0, compactions: 0, droppedVersions: 0, threadCompactions: 0 };
  private stallWaiters: Array<() => void> = [];

  constructor(
    private readonly readOnly: boolean,
    private readonly logger: Logger | undefined,
  ) {}

  checkWritable(what: string): void {
    if (this.closed || this.closing) throw storageError('EBADF', `${what} on a closed LSM store`);
    if (this.readOnly) throw storageError('EROFS', `${what}: the LSM store was opened read-only`);
    if (this.failure) throw storageError('EIO', `${what}: a background flush or compaction failed (${this.failure.message}); reopen the store`);
  }

  fail(error: unknown, what: string): void {
    this.failure = error as StorageError;
    this.logger?.error({ err: error }, `LSM background ${what} failed; writes are refused until the store is reopened`);
    this.wakeStalled();
  }

  stalled(): Promise<void> {
    return new Promise((resolve) => this.stallWaiters.push(resolve));
  }

  wakeStalled(): void {
    const waiters = this.stallWaiters;
    this.stallWaiters = [];
    for (const wake of waiters) wake();
  }
}
