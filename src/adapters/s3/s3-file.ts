// A file of the S3 adapter: an object. Every handle this process has open on one key shares one
// OpenObject (one size, one staged content, as handles on one local file share an inode). Reads are
// ranged GETs of the version opened (its ETag: a change behind our back is ESTALE, never a mix of two
// versions); a stream is one GET. Writes are staged in memory (the whole object, fetched at the first
// write unless it starts empty) and go up as one PUT at sync and at close: readers elsewhere see the old
// object or the new one, never a part.
import { constants as bufferConstants } from 'node:buffer';

import { storageError } from '../../ground/errors.js';
import type { SetTime } from '../../io/engine.js';
import { XattrsOf, copyByReadWrite, readvInOneRead, totalBytes, type EntryStat, type FileNode, type SeekTarget, type XattrNode } from '../adapter.js';
import { entryStat, metadataOf, withTimes, type Attributes } from './object-attributes.js';
import type { ObjectStore } from './object-store.js';

/** The largest file staged in memory for writing. */
const MAX_STAGED = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32);

const noXattrs = async (): Promise<never> => {
  throw storageError('EOPNOTSUPP', 'the S3 adapter keeps no extended attributes');
};

/** Extended attributes: not kept on S3 (EOPNOTSUPP, as a file system without them answers). */
export const NO_XATTRS: XattrNode = { getXattr: noXattrs, setXattr: noXattrs, listXattrs: async () => [], removeXattr: noXattrs };

export interface ObjectState {
  key: string;
  size: number;
  etag: string;
  attributes: Attributes;
}

/** One object as this process has it open: what every handle on its key shares. */
class OpenObject {
  key: string;
  length: number;
  etag: string;
  attributes: Attributes;
  /** the content while it is being changed (its first `length` bytes; zeros past them); undefined while the object holds it */
  staged: Buffer | undefined;
  /** whether the stored object is behind the staged content or the attributes */
  dirty = false;
  /** deleted while open: nothing is uploaded any more */
  unlinked = false;
  handles = 0;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly store: ObjectStore,
    state: ObjectState,
  ) {
    this.key = state.key;
    this.length = state.size;
    this.etag = state.etag;
    this.attributes = state.attributes;
  }

  /** Runs `work` after every change queued before it (changes to one object happen one at a time). */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  stat(): EntryStat {
    return entryStat('file', this.key, this.length, this.attributes);
  }

  /** The staged content, fetched on first use: whole, or only its first `keep` bytes when the rest is dropped. */
  async stage(keep = this.length): Promise<Buffer> {
    if (this.staged === undefined) {
      const content = Buffer.alloc(Math.min(keep, this.length));
      const got = await this.store.readRange(this.key, 0, content, this.etag);
      if (got < content.length) throw storageError('ESTALE', 'the object is shorter than when it was opened', { path: this.key });
      this.staged = content;
      this.length = content.length;
    }
    return this.staged;
  }

  /** Makes the file `size` bytes long: zeros past the old end, nothing kept past a new, shorter one. */
  async resize(size: number): Promise<Buffer> {
    if (size > MAX_STAGED) throw storageError('EFBIG', `a file written through the S3 adapter holds at most ${MAX_STAGED} bytes (staged in memory)`);
    let content = await this.stage(Math.min(size, this.length));
    if (size < this.length) content.fill(0, size, this.length);
    if (size > content.length) {
      const grown = Buffer.alloc(Math.max(size, Math.min(MAX_STAGED, content.length * 2)));
      content.copy(grown, 0, 0, this.length);
      content = grown;
    }
    this.staged = content;
    this.length = size;
    this.changed();
    return content;
  }

  changed(): void {
    this.dirty = true;
    this.attributes = withTimes(this.attributes, 'omit', 'now');
  }

  /** Uploads what changed: one PUT (a multipart upload when large); durable when it resolves. */
  async upload(): Promise<void> {
    if (!this.dirty || this.unlinked) return;
    const content = (await this.stage()).subarray(0, this.length);
    this.etag = await this.store.put(this.key, content, content.length, metadataOf(this.attributes));
    this.dirty = false;
    // The object holds it now: later reads go to the version just stored.
    this.staged = undefined;
  }

  /** New attributes: kept for the upload when one is due, else a copy of the object onto itself. */
  async setAttributes(attributes: Attributes): Promise<void> {
    this.attributes = attributes;
    if (this.dirty || this.unlinked) return;
    this.etag = await this.store.copy(this.key, this.key, metadataOf(attributes));
  }
}

/** What follows a rename: an open directory's key prefix. */
export interface PrefixHolder {
  prefix: string;
}

/**
 * The objects this process has open, by key (a second open of a key shares the first one's state), and
 * the directories it has open: renames through this process carry both along.
 */
export class OpenObjects {
  private readonly byKey = new Map<string, OpenObject>();
  readonly dirs = new Set<PrefixHolder>();

  constructor(readonly store: ObjectStore) {}

  /** A handle on `state.key`: the object already open there, else one made from `state` (what a HEAD said). */
  open(state: ObjectState): S3File {
    let object = this.byKey.get(state.key);
    if (object === undefined) {
      object = new OpenObject(this.store, state);
      this.byKey.set(state.key, object);
    }
    object.handles++;
    return new S3File(this, object);
  }

  /** The open object at `key`, if any. */
  at(key: string): OpenObject | undefined {
    return this.byKey.get(key);
  }

  released(object: OpenObject): void {
    object.handles--;
    if (object.handles === 0 && this.byKey.get(object.key) === object) this.byKey.delete(object.key);
  }

  /** `key` was replaced by another object (flushWrite): open handles on the old one read what they staged, or ESTALE. */
  replaced(key: string): void {
    const object = this.byKey.get(key);
    if (object === undefined) return;
    object.unlinked = true;
    this.byKey.delete(key);
  }

  /** `key` was deleted: open handles keep their staged content; nothing of theirs is uploaded any more. */
  unlinked(key: string): void {
    this.replaced(key);
  }

  /** Objects at `from` (or under `from/` when `prefix`) now live at `to`: open handles follow. */
  renamed(from: string, to: string, prefix: boolean): void {
    this.replaced(to);
    for (const [key, object] of [...this.byKey]) {
      const moved = key === from ? to : prefix && key.startsWith(`${from}/`) ? `${to}/${key.slice(from.length + 1)}` : undefined;
      if (moved === undefined) continue;
      this.byKey.delete(key);
      object.key = moved;
      this.byKey.set(moved, object);
    }
    if (!prefix) return;
    for (const dir of this.dirs) if (dir.prefix.startsWith(`${from}/`)) dir.prefix = `${to}/${dir.prefix.slice(from.length + 1)}`;
  }
}

export class S3File extends XattrsOf implements FileNode {
  readonly alignment = 0;
  readonly opened: EntryStat;
  private closed = false;

  constructor(
    private readonly objects: OpenObjects,
    private readonly object: OpenObject,
  ) {
    super(NO_XATTRS);
    this.opened = object.stat();
  }

  size(): number {
    return this.object.length;
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    const object = this.object;
    if (object.staged === undefined && !object.dirty) {
      if (position >= object.length) return 0;
      return object.store.readRange(object.key, position, buffer.subarray(0, Math.min(buffer.length, object.length - position)), object.etag);
    }
    return object.exclusive(async () => {
      if (position >= object.length) return 0;
      const want = Math.min(buffer.length, object.length - position);
      const content = await object.stage();
      buffer.set(content.subarray(position, position + want));
      return want;
    });
  }

  readv(buffers: readonly Uint8Array[], position: number): Promise<number> {
    return readvInOneRead((buffer, at) => this.read(buffer, at), buffers, position, this.object.length);
  }

  /** One GET from `offset` to the end, as it arrives (or the staged content, while there is some). */
  async *stream(offset: number): AsyncGenerator<Buffer, void, undefined> {
    const object = this.object;
    if (object.staged !== undefined || object.dirty) {
      const content = await object.exclusive(async () => Buffer.from((await object.stage()).subarray(offset, object.length)));
      if (content.length > 0) yield content;
      return;
    }
    if (offset >= object.length) return;
    yield* object.store.stream(object.key, offset, object.etag);
  }

  write(buffers: readonly Uint8Array[], position: number): Promise<void> {
    const object = this.object;
    return object.exclusive(async () => {
      const end = position + totalBytes(buffers);
      const content = end > object.length ? await object.resize(end) : await object.stage();
      let at = position;
      for (const buffer of buffers) {
        content.set(buffer, at);
        at += buffer.length;
      }
      object.changed();
    });
  }

  append(buffers: readonly Uint8Array[]): Promise<number> {
    const object = this.object;
    return object.exclusive(async () => {
      const offset = object.length;
      const content = await object.resize(offset + totalBytes(buffers));
      let at = offset;
      for (const buffer of buffers) {
        content.set(buffer, at);
        at += buffer.length;
      }
      return offset;
    });
  }

  truncate(size: number): Promise<void> {
    const object = this.object;
    return object.exclusive(async () => {
      if (size !== object.length) await object.resize(size);
    });
  }

  /** Uploads what is staged; durable in the object store when it resolves. */
  sync(): Promise<void> {
    return this.object.exclusive(() => this.object.upload());
  }

  async stat(): Promise<EntryStat> {
    return this.object.stat();
  }

  async allocate(offset: number, length: number, mode: number): Promise<void> {
    if (mode !== 0) throw storageError('EOPNOTSUPP', 'the S3 adapter has no holes or preallocation: only plain allocation (mode 0)');
    if (offset + length > this.object.length) await this.truncate(offset + length);
  }

  async seek(offset: number, target: SeekTarget): Promise<number> {
    return target === 'data' ? offset : this.object.length;
  }

  copyFrom(source: FileNode, sourceOffset: number, offset: number, length: number): Promise<number> {
    return copyByReadWrite(source, sourceOffset, this, offset, length);
  }

  sameFile(other: FileNode): boolean {
    return other instanceof S3File && other.object === this.object;
  }

  private changeAttributes(change: (attributes: Attributes) => Attributes): Promise<void> {
    const object = this.object;
    return object.exclusive(() => object.setAttributes(change(object.attributes)));
  }

  chmod(mode: number): Promise<void> {
    return this.changeAttributes((attributes) => ({ ...attributes, mode: mode & 0o7777 }));
  }

  chown(uid: number, gid: number): Promise<void> {
    return this.changeAttributes((attributes) => ({ ...attributes, uid: uid >= 0 ? uid : attributes.uid, gid: gid >= 0 ? gid : attributes.gid }));
  }

  utimes(atime: SetTime, mtime: SetTime): Promise<void> {
    return this.changeAttributes((attributes) => withTimes(attributes, atime, mtime));
  }

  /** Uploads what is still staged (a failure is reported here, as close(2) reports a failed write-back). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.sync();
    } finally {
      this.objects.released(this.object);
    }
  }
}
