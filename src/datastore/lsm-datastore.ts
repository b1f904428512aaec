// LsmDatastore: the Datastore interface over the LSM store (src/lsm). A key is stored as its UTF-8 bytes,
// whose order is the Datastore's key order, so a query's prefix is one range scan of the store: '/a'
// reads the keys in ('/a/', '/a0'), as '0' follows '/' in byte order. A batch is one LSM write: atomic.
//
// Durability follows the store's sync policy: with the default ('none') a put survives the process being
// killed once it resolves, and a machine crash once sync() resolved; with sync 'always', once it resolves.
import type { Dir } from '../storage/dir.js';
import { storageError } from '../ground/errors.js';
import { LsmStore } from '../lsm/lsm-store.js';
import type { LsmOptions, RangeOptions, WriteOp } from '../lsm/types.js';
import type { BatchOp } from './batch.js';
import { CheckedDatastore } from './checked-datastore.js';
import * as Key from './key.js';
import type { SourceEntry, Want } from './query.js';

/** The range of keys strictly under `prefix` ('/' holds every key, all of which start with '/'). */
function rangeUnder(prefix: string): RangeOptions {
  return prefix === Key.ROOT ? { gte: '/', lt: '0' } : { gt: `${prefix}/`, lt: `${prefix}0` };
}

export class LsmDatastore extends CheckedDatastore {
  private constructor(
    readonly store: LsmStore,
    private readonly owned: boolean,
  ) {
    super('LSM datastore');
  }

  /** Opens (or creates) an LSM store in `dir` and the datastore over it; close() closes the store. */
  static async open(dir: Dir, options: LsmOptions = {}): Promise<LsmDatastore> {
    return new LsmDatastore(await LsmStore.open(dir, options), true);
  }

  /** A datastore over a store the caller keeps open and closes itself. */
  static over(store: LsmStore): LsmDatastore {
    if (!(store instanceof LsmStore)) throw storageError('EINVAL', 'LsmDatastore.over takes an LsmStore');
    return new LsmDatastore(store, false);
  }

  protected read(key: string): Promise<Buffer | undefined> {
    return this.store.get(key);
  }

  protected async sizeOf(key: string): Promise<number | undefined> {
    return (await this.store.get(key))?.length;
  }

  protected async write(key: string, value: Uint8Array): Promise<void> {
    await this.store.put(key, value);
  }

  protected async remove(key: string): Promise<void> {
    await this.store.del(key);
  }

  protected override async applyBatch(ops: readonly BatchOp[]): Promise<void> {
    await this.store.write(ops.map((op): WriteOp => (op.type === 'put' ? { type: 'put', key: op.key, value: op.value } : { type: 'del', key: op.key })));
  }

  /** The keys under `prefix` in key order, as of the moment the scan starts (one version). */
  protected async *scan(prefix: string, want: Want): AsyncIterable<SourceEntry> {
    const withValues = want.values || want.sizes;
    const iterator = this.store.iterator({ ...rangeUnder(prefix), values: withValues });
    try {
      for (;;) {
        const entries = await iterator.nextv(256);
        if (entries.length === 0) return;
        for (const entry of entries) {
          const key = entry.key.toString('utf8');
          yield withValues ? { key, value: entry.value, size: entry.value.length } : { key };
        }
      }
    } finally {
      await iterator.close();
    }
  }

  protected async syncUnder(): Promise<void> {
    await this.store.sync();
  }

  protected async release(): Promise<void> {
    if (this.owned) await this.store.close();
  }
}
