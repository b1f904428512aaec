// NamespacedDatastore: a child datastore seen through a key prefix. Keys get the prefix on the way in
// ('/x' is stored as '/ns/x') and lose it on the way out; queries and syncs reach only the namespace.
// The namespaced store owns its child: close() closes it.
import { CheckedDatastore } from './checked-datastore.js';
import { checkDatastore, childEntries, unlessNotFound } from './children.js';
import type { Datastore } from './datastore.js';
import * as Key from './key.js';
import type { SourceEntry, Want } from './query.js';
import { storageError } from '../ground/errors.js';

export class NamespacedDatastore extends CheckedDatastore {
  private readonly child: Datastore;
  readonly prefix: string;

  /** Throws EINVAL for a `child` that is not a datastore or a `prefix` that is not a key. */
  constructor(child: Datastore, prefix: string) {
    super('namespaced datastore');
    this.child = checkDatastore(child, 'the namespace child');
    this.prefix = Key.checkPrefix(prefix, 'namespace prefix');
    if (this.prefix === Key.ROOT) throw storageError('EINVAL', "namespace prefix: '/' adds nothing; name a key such as '/ns'");
  }

  private inner(key: string): string {
    return Key.under(this.prefix, key);
  }

  protected read(key: string): Promise<Buffer | undefined> {
    return unlessNotFound(this.child.get(this.inner(key)));
  }

  protected sizeOf(key: string): Promise<number | undefined> {
    return unlessNotFound(this.child.getSize(this.inner(key)));
  }

  protected write(key: string, value: Uint8Array): Promise<void> {
    return this.child.put(this.inner(key), value);
  }

  protected remove(key: string): Promise<void> {
    return this.child.delete(this.inner(key));
  }

  protected scan(prefix: string, want: Want): AsyncIterable<SourceEntry> {
    return childEntries(this.child, this.inner(prefix), want, (key) => (Key.isAncestorOf(this.prefix, key) ? Key.strip(this.prefix, key) : undefined));
  }

  protected syncUnder(prefix: string): Promise<void> {
    return this.child.sync(this.inner(prefix));
  }

  protected release(): Promise<void> {
    return this.child.close();
  }
}
