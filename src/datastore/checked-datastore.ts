// What every Datastore implementation shares, so that each behaves the same at its edges: keys, values
// and prefixes checked before anything happens, calls refused with EBADF after close() (which waits for
// the calls running), no synchronous throw, queries through the shared engine, batches through
// QueuedBatch. An implementation writes only the store-specific steps, which receive checked arguments.
import type { Batch, Datastore, Query, QueryResult } from './datastore.js';
import { checkValue, notFound } from './datastore.js';
import { applyInOrder, QueuedBatch, type BatchOp } from './batch.js';
import * as Key from './key.js';
import { Lifecycle } from './lifecycle.js';
import { runQuery, type SourceEntry, type Want } from './query.js';

export abstract class CheckedDatastore implements Datastore {
  protected readonly lifecycle: Lifecycle;

  /** `kind` names the store in errors ('memory datastore', ...). */
  constructor(kind: string) {
    this.lifecycle = new Lifecycle(kind);
  }

  /** The value of a valid key, or undefined when it has none. */
  protected abstract read(key: string): Promise<Buffer | undefined>;
  /** The size of a valid key's value, or undefined when it has none. */
  protected abstract sizeOf(key: string): Promise<number | undefined>;
  protected abstract write(key: string, value: Uint8Array): Promise<void>;
  /** Removes a valid key's value; nothing when it has none. */
  protected abstract remove(key: string): Promise<void>;
  /** The entries under `prefix` for the query engine (query.ts: QuerySource.scan). */
  protected abstract scan(prefix: string, want: Want): AsyncIterable<SourceEntry>;
  protected abstract syncUnder(prefix: string): Promise<void>;
  /** Releases what the store holds; runs once, after the calls in progress. */
  protected abstract release(): Promise<void>;

  /** Applies a checked batch; by default in order (batch.ts). */
  protected applyBatch(ops: readonly BatchOp[]): Promise<void> {
    return applyInOrder(
      ops,
      (key, value) => this.write(key, value),
      (key) => this.remove(key),
    );
  }

  get(key: string): Promise<Buffer> {
    return this.lifecycle.run('get', async () => {
      const value = await this.read(Key.check(key, 'get'));
      if (value === undefined) throw notFound(key, 'get');
      return value;
    });
  }

  has(key: string): Promise<boolean> {
    return this.lifecycle.run('has', async () => (await this.sizeOf(Key.check(key, 'has'))) !== undefined);
  }

  getSize(key: string): Promise<number> {
    return this.lifecycle.run('getSize', async () => {
      const size = await this.sizeOf(Key.check(key, 'getSize'));
      if (size === undefined) throw notFound(key, 'getSize');
      return size;
    });
  }

  put(key: string, value: Uint8Array): Promise<void> {
    return this.lifecycle.run('put', async () => {
      const checked = Key.check(key, 'put');
      await this.write(checked, checkValue(value, checked));
    });
  }

  delete(key: string): Promise<void> {
    return this.lifecycle.run('delete', async () => this.remove(Key.check(key, 'delete')));
  }

  query(q?: Query): AsyncIterable<QueryResult> {
    return runQuery(
      q,
      {
        scan: (prefix, want) => this.scan(prefix, want),
        get: (key) => this.get(key),
        getSize: (key) => this.getSize(key),
      },
      () => this.lifecycle.check('query'),
    );
  }

  sync(prefix: string): Promise<void> {
    return this.lifecycle.run('sync', async () => this.syncUnder(Key.checkPrefix(prefix, 'sync prefix')));
  }

  batch(): Batch {
    return new QueuedBatch((ops) => this.lifecycle.run('batch commit', () => this.applyBatch(ops)));
  }

  close(): Promise<void> {
    return this.lifecycle.close(() => this.release());
  }
}
