// The S3 adapter: the storage API on an S3 bucket (Ceph radosgw, MinIO, AWS). A directory is a key prefix
// ending in '/', with an empty marker object of that name so that an empty directory stays visible (and
// holds its mode and owner); a file is an object. What S3 cannot do atomically is said where it is done:
// a rename is a copy then a delete (per object, for a directory every object under it), a rmdir checks
// emptiness then deletes the marker. Symlinks, hard links, special files and extended attributes are not
// kept (EOPNOTSUPP). Lookups and listings are answered from the listing cache (listing-cache.ts) while it
// is fresh.
import { storageError, traceless } from '../../ground/errors.js';
import type { SetTime } from '../../io/engine.js';
import type { FsStats } from '../../io/native.js';
import type { Adapter, DirEntry, DirNode, EntryStat, FileNode, NodeKind, OpenFlags, RenameMode, XattrNode } from '../adapter.js';
import { XattrsOf, totalBytes } from '../adapter.js';
import { attributesOf, entryStat, metadataOf, newAttributes, withTimes, type Attributes } from './object-attributes.js';
import { keyOfName, nameOfKey } from './key-names.js';
import { ListingCache, type CachedFile } from './listing-cache.js';
import { ObjectStore, type ObjectHead } from './object-store.js';
import { NO_XATTRS, OpenObjects } from './s3-file.js';
import { resolveS3Settings, type S3Options, type S3Settings } from './s3-settings.js';

const unsupported = (what: string): never => {
  throw storageError('EOPNOTSUPP', `the S3 adapter keeps no ${what}`);
};

/** What a name under a directory is in the bucket: an object, a directory (marker and/or keys under it), or nothing. */
type Found = { kind: 'file'; head: ObjectHead } | { kind: 'directory'; marker: ObjectHead | undefined } | { kind: 'none' };

/**
 * What a lookup is for: the attributes ('stat': a cached head will do), a version to read ('open': one
 * HEAD, unless the cached version is one this process stored), or the bucket's answer now ('fresh').
 */
export type Purpose = 'stat' | 'open' | 'fresh';

const headOf = (key: string, file: CachedFile, metadata: Record<string, string>): ObjectHead => ({
  key,
  size: file.size,
  etag: file.etag,
  lastModified: file.lastModified,
  metadata,
});

export class S3Adapter implements Adapter {
  readonly kind = 's3';
  readonly ioMode = 's3';
  readonly store: ObjectStore;
  private readonly objects: OpenObjects;
  readonly listings: ListingCache;

  private constructor(readonly settings: S3Settings) {
    this.store = new ObjectStore(settings);
    this.objects = new OpenObjects(this.store);
    this.listings = new ListingCache(this.store, settings.dirCacheTime);
    this.store.observer = this.listings;
  }

  /** An adapter on `root` (s3://bucket/prefix, or any root with the bucket in `options`). */
  static create(root: string, options: S3Options = {}): S3Adapter {
    return new S3Adapter(resolveS3Settings(root, options));
  }

  /** Checks the bucket and credentials (ENOENT naming a missing bucket, EACCES for refused credentials). */
  async openRoot(): Promise<DirNode> {
    await this.store.checkBucket();
    return new S3Dir(this.objects, this.listings, this.settings.prefix);
  }

  async close(): Promise<void> {
    this.store.close();
  }
}

export class S3Dir extends XattrsOf implements DirNode {
  private readonly store: ObjectStore;

  constructor(
    private readonly objects: OpenObjects,
    private readonly listings: ListingCache,
    /** the key prefix of this directory's entries: '' (the bucket's top) or ending in '/'; follows renames */
    public prefix: string,
  ) {
    super(NO_XATTRS);
    this.store = objects.store;
    objects.dirs.add(this);
  }

  /** The key of the entry `name` of this directory. */
  keyOf(name: string): string {
    return this.prefix + keyOfName(name);
  }

  /** The object store's name of entry `name`, as errors give it. */
  private pathOf(name: string): string {
    return `s3://${this.store.bucket}/${this.keyOf(name)}`;
  }

  private fail(code: string, what: string, name: string): never {
    throw storageError(code, what, { path: this.pathOf(name) });
  }

  /** What `name` is, from this directory's cached listing (a HEAD where `purpose` needs one), else from the bucket. */
  async find(name: string, purpose: Purpose = 'stat'): Promise<Found> {
    if (!this.listings.enabled || purpose === 'fresh') return this.findRemote(name);
    const part = keyOfName(name);
    const key = this.prefix + part;
    const listing = await this.listings.listing(this.prefix);
    const file = listing.files.get(part);
    if (file !== undefined) {
      if (file.metadata !== undefined && (purpose === 'stat' || file.own)) return { kind: 'file', head: headOf(key, file, file.metadata) };
      const head = await this.store.head(key);
      if (head !== undefined) return { kind: 'file', head };
      // gone meanwhile (the HEAD took it out of the listing): a directory of that name may remain
    }
    if (!listing.dirs.has(part)) return { kind: 'none' };
    return { kind: 'directory', marker: await this.listings.marker(`${key}/`) };
  }

  /** What `name` is, without its attributes: from the cached listing alone when there is one. */
  async kindOf(name: string): Promise<Found['kind']> {
    if (!this.listings.enabled) return (await this.findRemote(name)).kind;
    const part = keyOfName(name);
    const listing = await this.listings.listing(this.prefix);
    return listing.files.has(part) ? 'file' : listing.dirs.has(part) ? 'directory' : 'none';
  }

  /** What `name` is, as the bucket says now: one HEAD for a file, then the directory marker, then any key below it. */
  private async findRemote(name: string): Promise<Found> {
    const head = await this.store.head(this.keyOf(name));
    if (head !== undefined) return { kind: 'file', head };
    const marker = await this.store.head(`${this.keyOf(name)}/`);
    if (marker !== undefined || (await this.store.anyUnder(`${this.keyOf(name)}/`))) return { kind: 'directory', marker };
    return { kind: 'none' };
  }

  private statOf(found: Found, key: string): EntryStat {
    // A file open here may hold writes not uploaded yet: its size and times are the open object's.
    const open = found.kind === 'file' ? this.objects.at(key) : undefined;
    if (open !== undefined) return open.stat();
    if (found.kind === 'file') return entryStat('file', key, found.head.size, attributesOf(found.head.metadata, 'file', found.head.lastModified));
    if (found.kind === 'directory') {
      const marker = found.marker;
      return entryStat('directory', key, 0, marker === undefined ? newAttributes(0o755) : attributesOf(marker.metadata, 'directory', marker.lastModified));
    }
    return unsupported('entry');
  }

  async stat(name: string): Promise<EntryStat> {
    if (name === '') {
      const marker = this.prefix === '' ? undefined : await this.listings.marker(this.prefix);
      return entryStat(
        'directory',
        this.prefix,
        0,
        marker === undefined ? newAttributes(0o755) : attributesOf(marker.metadata, 'directory', marker.lastModified),
      );
    }
    const found = await this.find(name);
    // a hot answer (the LOOKUP before every create), not a failure: no stack trace
    if (found.kind === 'none') throw traceless(() => storageError('ENOENT', 'no such file or directory', { path: this.pathOf(name) }));
    return this.statOf(found, this.keyOf(name));
  }

  private async mustBeFree(name: string): Promise<void> {
    if ((await this.kindOf(name)) !== 'none') this.fail('EEXIST', 'the name is taken', name);
  }

  async mkdir(name: string, mode: number): Promise<void> {
    await this.mustBeFree(name);
    await this.store.put(`${this.keyOf(name)}/`, Buffer.alloc(0), 0, metadataOf(newAttributes(mode), 'directory'));
    this.listings.madeEmpty(`${this.keyOf(name)}/`);
  }

  async mknod(_name: string, _kind: NodeKind, _mode: number, _device: number): Promise<void> {
    unsupported('special files (FIFOs, sockets, devices)');
  }

  async openDir(name: string): Promise<DirNode> {
    const kind = await this.kindOf(name);
    if (kind === 'none') this.fail('ENOENT', 'no such directory', name);
    if (kind === 'file') this.fail('ENOTDIR', 'not a directory', name);
    return new S3Dir(this.objects, this.listings, `${this.keyOf(name)}/`);
  }

  private checkFlags(flags: OpenFlags, name: string): void {
    if (flags.direct) this.fail('EINVAL', 'O_DIRECT has no meaning on an object store', name);
  }

  async createFile(name: string, mode: number, flags: OpenFlags): Promise<FileNode> {
    this.checkFlags(flags, name);
    await this.mustBeFree(name);
    const attributes = newAttributes(mode);
    const key = this.keyOf(name);
    // The empty object makes the name visible now, as creat(2) does; the content goes up at sync or close.
    const etag = await this.store.put(key, Buffer.alloc(0), 0, metadataOf(attributes));
    this.objects.replaced(key);
    return this.objects.open({ key, size: 0, etag, attributes });
  }

  async openFile(name: string, flags: OpenFlags): Promise<FileNode> {
    this.checkFlags(flags, name);
    const found = await this.find(name, 'open');
    if (found.kind === 'none') this.fail('ENOENT', 'no such file', name);
    if (found.kind === 'directory') this.fail('EISDIR', 'is a directory', name);
    const { head } = found;
    return this.objects.open({ key: head.key, size: head.size, etag: head.etag, attributes: attributesOf(head.metadata, 'file', head.lastModified) });
  }

  /** One PUT of the whole content: the old object or the new one, never a part, durable when it resolves. */
  async flushWrite(name: string, buffers: readonly Uint8Array[], mode: number, flags: OpenFlags): Promise<FileNode> {
    this.checkFlags(flags, name);
    if ((await this.kindOf(name)) === 'directory') this.fail('EISDIR', 'is a directory', name);
    const attributes = newAttributes(mode);
    const body = Buffer.concat(buffers as Uint8Array[]);
    const key = this.keyOf(name);
    const etag = await this.store.put(key, body, totalBytes(buffers), metadataOf(attributes));
    this.objects.replaced(key);
    return this.objects.open({ key, size: body.length, etag, attributes });
  }

  async list(): Promise<DirEntry[]> {
    if (this.listings.enabled) {
      const listing = await this.listings.listing(this.prefix);
      return [
        ...[...listing.files.keys()].map((part): DirEntry => ({ name: nameOfKey(part), kind: 'file' })),
        ...[...listing.dirs].map((part): DirEntry => ({ name: nameOfKey(part), kind: 'directory' })),
      ].filter((entry) => entry.name !== '');
    }
    const entries: DirEntry[] = [];
    for await (const page of this.store.list(this.prefix, '/')) {
      for (const object of page.objects) {
        const name = object.key.slice(this.prefix.length);
        if (name !== '') entries.push({ name: nameOfKey(name), kind: 'file' });
      }
      for (const prefix of page.prefixes) entries.push({ name: nameOfKey(prefix.slice(this.prefix.length, -1)), kind: 'directory' });
    }
    return entries.filter((entry) => entry.name !== '');
  }

  async rename(from: string, to: DirNode, toName: string, mode: RenameMode): Promise<void> {
    if (!(to instanceof S3Dir) || to.store !== this.store) this.fail('EXDEV', 'a rename between two storages', from);
    if (mode === 'exchange') this.fail('EOPNOTSUPP', 'S3 cannot swap two objects', from);
    const source = await this.kindOf(from);
    if (source === 'none') this.fail('ENOENT', 'no such file or directory', from);
    const fromKey = this.keyOf(from);
    const toKey = to.keyOf(toName);
    if (fromKey === toKey) return;
    const target = await to.kindOf(toName);
    if (target !== 'none' && mode === 'noreplace') to.fail('EEXIST', 'the target exists', toName);
    if (source === 'file') {
      if (target === 'directory') to.fail('EISDIR', 'cannot replace a directory with a file', toName);
      await this.store.copy(fromKey, toKey);
      await this.store.delete(fromKey);
      this.objects.renamed(fromKey, toKey, false);
      return;
    }
    if (target === 'file') to.fail('ENOTDIR', 'cannot replace a file with a directory', toName);
    if (`${toKey}/`.startsWith(`${fromKey}/`)) to.fail('EINVAL', 'a directory cannot move into itself', toName);
    if (target === 'directory' && (await to.hasEntries(toName))) to.fail('ENOTEMPTY', 'the target directory is not empty', toName);
    // Not atomic: every object under the directory is copied, then the old ones are deleted.
    const keys: string[] = [];
    for await (const page of this.store.list(`${fromKey}/`, '')) for (const object of page.objects) keys.push(object.key);
    for (const key of keys) await this.store.copy(key, `${toKey}/${key.slice(fromKey.length + 1)}`);
    await this.store.deleteMany(keys);
    this.objects.renamed(fromKey, toKey, true);
  }

  /** Whether the directory `name` holds anything besides its own marker. */
  private async hasEntries(name: string): Promise<boolean> {
    const marker = `${this.keyOf(name)}/`;
    for await (const page of this.store.list(marker, '', 2)) return page.objects.some((object) => object.key !== marker);
    return false;
  }

  async unlink(name: string): Promise<void> {
    const kind = await this.kindOf(name);
    if (kind === 'none') this.fail('ENOENT', 'no such file', name);
    if (kind === 'directory') this.fail('EISDIR', 'is a directory (rmdir removes directories)', name);
    await this.store.delete(this.keyOf(name));
    this.objects.unlinked(this.keyOf(name));
  }

  async rmdir(name: string): Promise<void> {
    const kind = await this.kindOf(name);
    if (kind === 'none') this.fail('ENOENT', 'no such directory', name);
    if (kind === 'file') this.fail('ENOTDIR', 'not a directory', name);
    if (await this.hasEntries(name)) this.fail('ENOTEMPTY', 'directory not empty', name);
    await this.store.delete(`${this.keyOf(name)}/`);
  }

  async symlink(_target: string, _name: string): Promise<void> {
    unsupported('symbolic links');
  }

  async readlink(name: string): Promise<string> {
    if ((await this.kindOf(name)) === 'none') this.fail('ENOENT', 'no such file', name);
    return this.fail('EINVAL', 'not a symbolic link (the S3 adapter keeps none)', name);
  }

  async link(_name: string, _to: DirNode, _toName: string): Promise<void> {
    unsupported('hard links');
  }

  entryXattrs(_name: string): XattrNode {
    return NO_XATTRS;
  }

  /** Rewrites the attributes of `name` (its object, or its directory marker, made if missing). */
  private async changeEntry(name: string, change: (attributes: Attributes) => Attributes): Promise<void> {
    const found = await this.find(name);
    if (found.kind === 'none') this.fail('ENOENT', 'no such file or directory', name);
    const open = this.objects.at(this.keyOf(name));
    if (open !== undefined) {
      await open.exclusive(() => open.setAttributes(change(open.attributes)));
      return;
    }
    if (found.kind === 'file') {
      const attributes = change(attributesOf(found.head.metadata, 'file', found.head.lastModified));
      await this.store.copy(found.head.key, found.head.key, metadataOf(attributes));
      return;
    }
    const marker = `${this.keyOf(name)}/`;
    const attributes = change(found.marker === undefined ? newAttributes(0o755) : attributesOf(found.marker.metadata, 'directory', found.marker.lastModified));
    await this.store.put(marker, Buffer.alloc(0), 0, metadataOf(attributes, 'directory'));
  }

  /** This directory's own attributes, on its marker (the top of the bucket has none: EOPNOTSUPP). */
  private async changeSelf(change: (attributes: Attributes) => Attributes): Promise<void> {
    if (this.prefix === '') unsupported('attributes for the top of a bucket');
    const marker = await this.listings.marker(this.prefix);
    const attributes = change(marker === undefined ? newAttributes(0o755) : attributesOf(marker.metadata, 'directory', marker.lastModified));
    await this.store.put(this.prefix, Buffer.alloc(0), 0, metadataOf(attributes, 'directory'));
  }

  chmodEntry(name: string, mode: number): Promise<void> {
    return this.changeEntry(name, (attributes) => ({ ...attributes, mode: mode & 0o7777 }));
  }

  chownEntry(name: string, uid: number, gid: number): Promise<void> {
    return this.changeEntry(name, (attributes) => owned(attributes, uid, gid));
  }

  utimesEntry(name: string, atime: SetTime, mtime: SetTime): Promise<void> {
    return this.changeEntry(name, (attributes) => withTimes(attributes, atime, mtime));
  }

  chmod(mode: number): Promise<void> {
    return this.changeSelf((attributes) => ({ ...attributes, mode: mode & 0o7777 }));
  }

  chown(uid: number, gid: number): Promise<void> {
    return this.changeSelf((attributes) => owned(attributes, uid, gid));
  }

  utimes(atime: SetTime, mtime: SetTime): Promise<void> {
    return this.changeSelf((attributes) => withTimes(attributes, atime, mtime));
  }

  /** Nothing to do: an object store has acknowledged every change when its call resolved. */
  async sync(): Promise<void> {}

  /** An object store has no fixed size: a large, constant answer (as s3fs and rclone give). */
  async statfs(): Promise<FsStats> {
    const blocks = 2 ** 40;
    return { bsize: 4096, frsize: 4096, blocks, bfree: blocks, bavail: blocks, files: 2 ** 32, ffree: 2 ** 32, namemax: 1024 };
  }

  async close(): Promise<void> {
    this.objects.dirs.delete(this);
  }
}

function owned(attributes: Attributes, uid: number, gid: number): Attributes {
  return { ...attributes, uid: uid >= 0 ? uid : attributes.uid, gid: gid >= 0 ? gid : attributes.gid };
}
