// TieredDatastore: tiers from fastest (a cache) to the backing store, which is last. Writes go to every
// tier, reads take the first tier that has the key:
// - put writes the backing tier first and the first tier last, delete the other way round, so a failure
//   part way never leaves an earlier tier with a value the later ones lack;
// - get asks the tiers in order, and a value found in a later tier is put into the earlier ones;
// - has and getSize ask the tiers in order (nothing to copy without a value);
// - query asks the backing tier only (it holds everything); sync syncs every tier.
// Calls on one key run one at a time (get with its fill, put, delete, getSize): otherwise a get could put
// back into the cache a value that a delete or put running meanwhile has just replaced.
// The tiered store owns its tiers: close() closes them all.
import { CheckedDatastore } from './checked-datastore.js';
import { checkDatastores, childEntries, closeAll, unlessNotFound } from './children.js';
import type { Datastore } from './datastore.js';
import type { SourceEntry, Want } from './query.js';

export class TieredDatastore extends CheckedDatastore {
  private readonly tiers: Datastore[];
  /** per key, the last call queued on it */
  private readonly busy = new Map<string, Promise<void>>();

  /** Throws EINVAL for an empty list or a non-datastore. */
  constructor(tiers: readonly Datastore[]) {
    super('tiered datastore');
    this.tiers = checkDatastores(tiers, 'the tiers');
  }

  private get backing(): Datastore {
    return this.tiers[this.tiers.length - 1]!;
  }

  /** Runs `work` after every call on `key` that came before it has settled. */
  private serial<T>(key: string, work: () => Promise<T>): Promise<T> {
    const run = (this.busy.get(key) ?? Promise.resolve()).then(work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.busy.set(key, settled);
    void settled.then(() => {
      if (this.busy.get(key) === settled) this.busy.delete(key);
    });
    return run;
  }

  protected read(key: string): Promise<Buffer | undefined> {
    return this.serial(key, async () => {
      for (let i = 0; i < this.tiers.length; i++) {
        const value = await unlessNotFound(this.tiers[i]!.get(key));
        if (value === undefined) continue;
        for (let j = i - 1; j >= 0; j--) await this.tiers[j]!.put(key, value);
        return value;
      }
      return undefined;
    });
  }

  protected sizeOf(key: string): Promise<number | undefined> {
    return this.serial(key, async () => {
      for (const tier of this.tiers) {
        const size = await unlessNotFound(tier.getSize(key));
        if (size !== undefined) return size;
      }
      return undefined;
    });
  }

  protected write(key: string, value: Uint8Array): Promise<void> {
    return this.serial(key, async () => {
      for (let i = this.tiers.length - 1; i >= 0; i--) await this.tiers[i]!.put(key, value);
    });
  }

  protected remove(key: string): Promise<void> {
    return this.serial(key, async () => {
      for (const tier of this.tiers) await tier.delete(key);
    });
  }

  protected scan(prefix: string, want: Want): AsyncIterable<SourceEntry> {
    return childEntries(this.backing, prefix, want, (key) => key);
  }

  protected async syncUnder(prefix: string): Promise<void> {
    await Promise.all(this.tiers.map((tier) => tier.sync(prefix)));
  }

  protected release(): Promise<void> {
    return closeAll(this.tiers);
  }
}
