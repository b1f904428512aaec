// Batch: puts and deletes queued in memory, then applied by commit(). Arguments are checked as they are
// queued, but a bad one is reported by commit() (which then applies nothing), so that put and delete
// never throw. Values are copied when queued.
//
// How atomic a commit is depends on the store: the memory store applies a batch at once; the others
// (flatfs, the compositions) apply it in order, one operation after the other, and stop at the first
// failure, whose error says how many operations were applied before it.
import { storageError, toStorageError, type StorageError } from '../ground/errors.js';
import { checkValue, type Batch } from './datastore.js';
import * as Key from './key.js';

export type BatchOp = { type: 'put'; key: string; value: Buffer } | { type: 'delete'; key: string };

export class QueuedBatch implements Batch {
  private readonly ops: BatchOp[] = [];
  private problem: StorageError | undefined;
  private committed = false;

  /** `apply` runs the checked operations (once). */
  constructor(private readonly apply: (ops: readonly BatchOp[]) => Promise<void>) {}

  put(key: string, value: Uint8Array): void {
    this.queue(() => {
      const checked = Key.check(key, 'batch put');
      return { type: 'put', key: checked, value: Buffer.from(checkValue(value, checked, 'batch put')) };
    });
  }

  delete(key: string): void {
    this.queue(() => ({ type: 'delete', key: Key.check(key, 'batch delete') }));
  }

  private queue(make: () => BatchOp): void {
    if (this.problem !== undefined || this.committed) return;
    try {
      this.ops.push(make());
    } catch (error) {
      const e = toStorageError(error, 'batch');
      this.problem = storageError(e.code, `batch operation ${this.ops.length + 1} was refused, so the commit applies nothing: ${e.message}`, {
        path: e.path,
        cause: e,
      });
    }
  }

  async commit(): Promise<void> {
    if (this.committed) throw storageError('EINVAL', 'batch commit: this batch was already committed; start another with batch()');
    this.committed = true;
    if (this.problem !== undefined) throw this.problem;
    await this.apply(this.ops);
  }
}

/** Applies `ops` in order through `put` and `delete`; the error of a failure says how far it got. */
export async function applyInOrder(
  ops: readonly BatchOp[],
  put: (key: string, value: Buffer) => Promise<void>,
  remove: (key: string) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    try {
      await (op.type === 'put' ? put(op.key, op.value) : remove(op.key));
    } catch (error) {
      const e = toStorageError(error, 'batch commit', op.key);
      throw storageError(e.code, `batch commit stopped at operation ${i + 1} (${op.type}) after applying ${i} of ${ops.length}: ${e.message}`, {
        path: op.key,
        cause: e,
      });
    }
  }
}
