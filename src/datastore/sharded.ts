// ShardedDatastore: keys spread over N datastores by a hash of the key (by default CRC32C of its UTF-8
// bytes), child = hash % N. The hash must stay the same for the life of the data: a key found by another
// hash is looked for in the wrong child. A query asks every child and merges their results; sync syncs
// all. The sharded store owns its children: close() closes them all.
import { crc32c } from '@node-rs/crc32';

import { storageError } from '../ground/errors.js';
import { CheckedDatastore } from './checked-datastore.js';
import { checkDatastores, childEntries, closeAll, unlessNotFound } from './children.js';
import type { Datastore } from './datastore.js';
import type { SourceEntry, Want } from './query.js';

/** A key's hash: a non-negative integer. */
export type KeyHash = (key: string) => number;

export const crc32cHash: KeyHash = (key) => crc32c(key);

export class ShardedDatastore extends CheckedDatastore {
  private readonly children: Datastore[];
  private readonly hash: KeyHash;

  /** Throws EINVAL for an empty list, a non-datastore, or a hash that is not a function. */
  constructor(children: readonly Datastore[], hash: KeyHash = crc32cHash) {
    super('sharded datastore');
    this.children = checkDatastores(children, 'the shards');
    if (typeof hash !== 'function') throw storageError('EINVAL', 'the shard hash must be a function from key to a non-negative integer');
    this.hash = hash;
  }

  /** The child that holds `key`; EINVAL when the hash gives something other than a non-negative integer. */
  private childOf(key: string): Datastore {
    const hash = this.hash(key);
    if (!Number.isSafeInteger(hash) || hash < 0) {
      throw storageError('EINVAL', `the shard hash returned ${String(hash)}, not a non-negative integer`, { path: key });
    }
    return this.children[hash % this.children.length]!;
  }

  protected async read(key: string): Promise<Buffer | undefined> {
    return unlessNotFound(this.childOf(key).get(key));
  }

  protected async sizeOf(key: string): Promise<number | undefined> {
    return unlessNotFound(this.childOf(key).getSize(key));
  }

  protected async write(key: string, value: Uint8Array): Promise<void> {
    await this.childOf(key).put(key, value);
  }

  protected async remove(key: string): Promise<void> {
    await this.childOf(key).delete(key);
  }

  protected async *scan(prefix: string, want: Want): AsyncIterable<SourceEntry> {
    for (const child of this.children) yield* childEntries(child, prefix, want, (key) => key);
  }

  protected async syncUnder(prefix: string): Promise<void> {
    await Promise.all(this.children.map((child) => child.sync(prefix)));
  }

  protected release(): Promise<void> {
    return closeAll(this.children);
  }
}
