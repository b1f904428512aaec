// MountDatastore: datastores mounted at key prefixes. A key goes to the mount with the longest prefix
// strictly above it, without that prefix ('/a/x' in the mount at '/a' is that store's '/x'); a key no
// mount covers has no value, and putting one is EINVAL. A mount at '/' covers every key no other does.
// A query asks every mount that can hold keys under its prefix and merges what they return (the engine
// then orders, cuts and limits the whole). The mount owns its datastores: close() closes them all.
import { storageError } from '../ground/errors.js';
import { CheckedDatastore } from './checked-datastore.js';
import { checkDatastore, childEntries, closeAll, unlessNotFound } from './children.js';
import type { Datastore } from './datastore.js';
import * as Key from './key.js';
import type { SourceEntry, Want } from './query.js';

export interface Mount {
  prefix: string;
  datastore: Datastore;
}

/** A mount's part of a query or sync: its datastore and the prefix in that store's key space. */
interface Reach {
  mount: Mount;
  prefix: string;
}

export class MountDatastore extends CheckedDatastore {
  /** longest prefix first, so that the first mount above a key is the one it goes to */
  private readonly mounts: Mount[];

  /** Throws EINVAL for an empty list, a prefix that is not '/' or a key, a repeated prefix, or a non-datastore. */
  constructor(mounts: readonly Mount[]) {
    super('mount datastore');
    if (!Array.isArray(mounts) || mounts.length === 0) throw storageError('EINVAL', 'MountDatastore needs a non-empty array of { prefix, datastore }');
    const checked = mounts.map((mount, i) => ({
      prefix: Key.checkPrefix(typeof mount?.prefix === 'string' ? mount.prefix : null, `mounts[${i}].prefix`),
      datastore: checkDatastore(mount?.datastore, `mounts[${i}].datastore`),
    }));
    const seen = new Set<string>();
    for (const { prefix } of checked) {
      if (seen.has(prefix)) throw storageError('EINVAL', `two mounts at '${prefix}'`);
      seen.add(prefix);
    }
    this.mounts = checked.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The mount a key goes to, or undefined when none covers it. */
  private mountOf(key: string): Mount | undefined {
    return this.mounts.find((mount) => Key.isAncestorOf(mount.prefix, key));
  }

  private route(key: string): { store: Datastore; key: string } | undefined {
    const mount = this.mountOf(key);
    return mount === undefined ? undefined : { store: mount.datastore, key: Key.strip(mount.prefix, key) };
  }

  /**
   * The mounts that can hold keys under `prefix`: the longest one at or above it (asked for what lies under
   * `prefix` there), and every mount below it (asked for everything).
   */
  private reach(prefix: string): Reach[] {
    const above = this.mounts.find((mount) => mount.prefix === prefix || Key.isAncestorOf(mount.prefix, prefix));
    const below = this.mounts.filter((mount) => Key.isAncestorOf(prefix, mount.prefix));
    const reach: Reach[] = below.map((mount) => ({ mount, prefix: Key.ROOT }));
    if (above !== undefined) reach.push({ mount: above, prefix: above.prefix === prefix ? Key.ROOT : Key.strip(above.prefix, prefix) });
    return reach;
  }

  protected async read(key: string): Promise<Buffer | undefined> {
    const to = this.route(key);
    return to === undefined ? undefined : unlessNotFound(to.store.get(to.key));
  }

  protected async sizeOf(key: string): Promise<number | undefined> {
    const to = this.route(key);
    return to === undefined ? undefined : unlessNotFound(to.store.getSize(to.key));
  }

  protected async write(key: string, value: Uint8Array): Promise<void> {
    const to = this.route(key);
    if (to === undefined) {
      throw storageError('EINVAL', `put: no mount covers this key (mounts: ${this.mounts.map((mount) => mount.prefix).join(', ')})`, { path: key });
    }
    await to.store.put(to.key, value);
  }

  protected async remove(key: string): Promise<void> {
    const to = this.route(key);
    if (to !== undefined) await to.store.delete(to.key);
  }

  /** Keys a mount returns that would go to another mount (left there by an earlier layout) are left out. */
  protected async *scan(prefix: string, want: Want): AsyncIterable<SourceEntry> {
    for (const { mount, prefix: inner } of this.reach(prefix)) {
      yield* childEntries(mount.datastore, inner, want, (key) => {
        const outer = Key.under(mount.prefix, key);
        return this.mountOf(outer) === mount ? outer : undefined;
      });
    }
  }

  protected async syncUnder(prefix: string): Promise<void> {
    await Promise.all(this.reach(prefix).map(({ mount, prefix: inner }) => mount.datastore.sync(inner)));
  }

  protected release(): Promise<void> {
    return closeAll(this.mounts.map((mount) => mount.datastore));
  }
}
