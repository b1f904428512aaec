// A file of the tiered adapter, in one of three forms:
// - written: the file is open for writing; its whole content is a local copy (staging/<id>, shared by every
//   handle on the key), with a pending-upload record from its first sync() or close on (durable from a
//   sync() on; one written at a close survives a kill -9 but not the machine stopping: copy-check.ts); it
//   uploads when the last handle closes (write-through: at sync, and at each close(2), only what changed since the last sent);
// - copy: read-only on a local copy that is still waiting for its upload (the newest bytes are here);
// - cached: read-only on a remote object, its blocks fetched into the block cache as they are read (and
//   ahead of a sequential reader).
// The local copy's descriptor is what the mount's native data path serves (nativeAccess); a cached
// object's local file too, as far as its blocks are there (BlockCache).
import { isCode, storageError } from '../../ground/errors.js';
import type { SetTime } from '../../io/engine.js';
import { TYPE_BITS, XattrsOf, copyByReadWrite, readvInOneRead, type EntryStat, type FileNode, type NativeAccess, type SeekTarget } from '../adapter.js';
import { entryStat, inodeOf, withTimes, type Attributes } from '../s3/object-attributes.js';
import { NO_XATTRS } from '../s3/s3-file.js';
import type { BlockCache, CachedObject } from './block-cache.js';
import type { ReadAhead } from './read-ahead.js';

/** A key open for writing: its local copy, shared by every handle on it. */
export class Written {
  handles = 0;
  /** deleted (or replaced) while open: nothing is uploaded at close */
  dropped = false;
  /** its copy was closed, by the close of its last handle: never twice (the descriptor may be another file's by then) */
  closed = false;
  /** changes through the storage API's calls (chmod by name too) */
  private changes = 0;
  /**
   * writes the mount's native data path served, [0] raised by one as each ends (writes that bypass both
   * show in the local file's ctime only)
   */
  readonly changeCell = new Uint32Array(1);
  /**
   * write-through: what the last upload by sync() sent (taken before the copy's sync, so a change during
   * the upload makes it stale); a later sync() or the last close sends nothing while the copy still matches
   */
  sent: Sent | undefined;
  /** [0]: the file's mode with its type bits, kept as `attributes` changes (the data path's privilege check) */
  readonly modeCell = new Uint32Array(1);
  private current!: Attributes;

  constructor(
    public key: string,
    readonly id: string,
    readonly file: FileNode,
    attributes: Attributes,
    /** the local file's size and ctime when the copy was made: a change since means an upload is due */
    readonly baseline: { size: number; ctimeNs: bigint },
    /** new, or an upload was already due when it opened */
    private readonly due: boolean,
    /** its upload has a record (pending/): from the first sync() or close on, or from before it opened */
    public recorded: boolean,
  ) {
    this.attributes = attributes;
  }

  /** The file's mode, owner and times, kept for its upload (the local copy's own are not the file's). */
  get attributes(): Attributes {
    return this.current;
  }

  set attributes(attributes: Attributes) {
    this.current = attributes;
    this.modeCell[0] = TYPE_BITS.file | attributes.mode;
  }

  /** Changed since it opened through this process (the storage API, the data path), or due anyway: an upload is due. */
  get changed(): boolean {
    return this.due || this.generation !== 0;
  }

  /** Counts the changes through this process: what `sent` was taken at. */
  get generation(): number {
    return this.changes + this.changeCell[0]!;
  }

  /** A change through the storage API: an upload is due. */
  change(): void {
    this.changes++;
  }

  /** The copy, whose size and ctime are `stat`'s now, is as it opened and no upload was due: the object has its bytes. */
  asOpened(stat: { size: number; ctimeNs: bigint }): boolean {
    return !this.changed && stat.size === this.baseline.size && stat.ctimeNs === this.baseline.ctimeNs;
  }
}

/** The copy as an upload sent it: its generation, size, ctime and metadata then, and the object's ETag. */
export interface Sent {
  generation: number;
  size: number;
  ctimeNs: bigint;
  metadata: string;
  etag: string;
}

/** What a tiered file calls back into its adapter for. */
export interface TieredFiles {
  readonly cache: BlockCache;
  /** the last handle on `written` closed: record its upload (no fsync) and queue it */
  closeWritten(written: Written): Promise<void>;
  /** sync(): make the copy durable and record its upload durably (write-through: upload it now) */
  sync(written: Written, datasync: boolean): Promise<void>;
  /** close(2) returns once the file is uploaded */
  readonly writeThrough: boolean;
  /** a read-only handle (on a local copy, or on a remote object) closed */
  closeReader(reader: Reader): void;
  /**
   * new attributes for the file of read-only handle `reader`, under the key it has when its turn comes (local
   * copy or object; a rename may move it meanwhile); resolves with them
   */
  changeAttributes(reader: Reader, current: Attributes, change: (attributes: Attributes) => Attributes): Promise<Attributes>;
  /** resolves once no rename moves the key of `reader` (one running now has ended) */
  settled(reader: Reader): Promise<void>;
}

/** A read-only handle's key: the one its file has now (a rename moves it: Tier.moved). */
export interface Reader {
  key: string;
  /** on a local copy waiting for its upload (else on a remote object) */
  readonly copy: boolean;
  /**
   * its file was unlinked, or replaced by a rename over it: the name is another file's now (or none), and
   * an attribute change through the handle changes the handle's own attributes only (as on an unlinked file)
   */
  gone?: boolean;
}

type Form =
  | { kind: 'written'; written: Written }
  | { kind: 'copy'; reader: Reader; file: FileNode; attributes: Attributes }
  | { kind: 'cached'; reader: Reader; object: CachedObject; attributes: Attributes; ahead: ReadAhead };

const readOnly = (): never => {
  throw storageError('EBADF', 'this handle of the tiered adapter is open for reading only');
};

export class TieredFile extends XattrsOf implements FileNode {
  readonly alignment = 0;
  opened: EntryStat = entryStat('file', '', 0, { mode: 0, uid: 0, gid: 0, mtimeNs: 0n, atimeNs: 0n });
  private closed = false;

  private constructor(
    private readonly files: TieredFiles,
    private readonly form: Form,
  ) {
    super(NO_XATTRS);
  }

  /** `local`: the local copy's attributes now, when the caller has them (no stat then). */
  static async open(files: TieredFiles, form: Form, local?: EntryStat): Promise<TieredFile> {
    const file = new TieredFile(files, form);
    if (form.kind === 'written') form.written.handles++;
    file.opened = local === undefined ? await file.stat() : file.withAttributes(local);
    return file;
  }

  /** The local file holding the bytes (the copy being written, or waiting for its upload). */
  private get local(): FileNode | undefined {
    const form = this.form;
    return form.kind === 'written' ? form.written.file : form.kind === 'copy' ? form.file : undefined;
  }

  /** The file's key now: a rename of it (or of a directory above it) since it opened moved it. */
  private get key(): string {
    const form = this.form;
    return form.kind === 'written' ? form.written.key : form.reader.key;
  }

  /**
   * `work` changing the local copy, counted as a change (an upload is due at close) when it starts and
   * again when it has ended: a sync() that began meanwhile may have sent the copy without it
   */
  private async changing<T>(work: (file: FileNode) => Promise<T>): Promise<T> {
    if (this.form.kind !== 'written') return readOnly();
    const written = this.form.written;
    written.change();
    try {
      return await work(written.file);
    } finally {
      written.change();
    }
  }

  size(): number {
    return this.form.kind === 'cached' ? this.form.object.size : this.local!.size();
  }

  read(buffer: Uint8Array, position: number): Promise<number> {
    if (this.form.kind === 'cached') return this.readCached(this.form, buffer, position);
    return this.local!.read(buffer, position);
  }

  /**
   * A read of the remote object, its missing blocks fetched from the name it has now (by the ETag of the
   * version opened). One that found no object under that name (ENOENT) while a rename moved it (the object
   * copied to its new name and deleted from the old one, the key not moved yet) is tried again once the
   * rename is done, from the new name. A version the bucket no longer has under the handle's name is ESTALE,
   * saying why when the file was renamed, deleted or replaced since the handle opened it.
   */
  private async readCached(form: Extract<Form, { kind: 'cached' }>, buffer: Uint8Array, position: number): Promise<number> {
    const { reader, object, ahead } = form;
    const key = reader.key;
    try {
      try {
        return await this.files.cache.read(object, buffer, position, ahead);
      } catch (error) {
        if (!isCode(error, 'ENOENT') || reader.gone) throw error;
        await this.files.settled(reader);
        if (reader.key === key) throw error;
        return await this.files.cache.read(object, buffer, position, ahead);
      }
    } catch (error) {
      if (!isCode(error, 'ENOENT') && !isCode(error, 'ESTALE')) throw error;
      if (reader.gone) {
        throw storageError('ESTALE', 'the file was deleted or replaced since this handle opened it: the bytes not read yet are not in the bucket any more', {
          path: object.key,
        });
      }
      if (reader.key !== object.key) {
        throw storageError(
          'ESTALE',
          'the file was renamed since this handle opened it, and the object under its new name is not the version opened (a rename copies the object: some stores give the copy another ETag)',
          { path: reader.key, hint: 'open it again' },
        );
      }
      throw error;
    }
  }

  readv(buffers: readonly Uint8Array[], position: number): Promise<number> {
    if (this.form.kind !== 'cached') return this.local!.readv(buffers, position);
    return readvInOneRead((buffer, at) => this.read(buffer, at), buffers, position, this.size());
  }

  write(buffers: readonly Uint8Array[], position: number): Promise<void> {
    return this.changing((file) => file.write(buffers, position));
  }

  append(buffers: readonly Uint8Array[]): Promise<number> {
    return this.changing((file) => file.append(buffers));
  }

  truncate(size: number): Promise<void> {
    return this.changing((file) => file.truncate(size));
  }

  allocate(offset: number, length: number, mode: number): Promise<void> {
    return this.changing((file) => file.allocate(offset, length, mode));
  }

  async seek(offset: number, target: SeekTarget): Promise<number> {
    if (this.form.kind === 'cached') return target === 'data' ? offset : this.size();
    return this.local!.seek(offset, target);
  }

  copyFrom(source: FileNode, sourceOffset: number, offset: number, length: number): Promise<number> {
    return copyByReadWrite(source, sourceOffset, this, offset, length);
  }

  /** Durable on the local disk, its upload recorded durably too; write-through: uploaded too. */
  async sync(datasync: boolean): Promise<void> {
    if (this.form.kind !== 'written') return;
    await this.files.sync(this.form.written, datasync);
  }

  /** Write-through: a close(2) of a descriptor of a written file returns once it is uploaded (as its sync() does). */
  async flush(): Promise<void> {
    if (this.form.kind === 'written' && this.files.writeThrough) await this.files.sync(this.form.written, true);
  }

  async stat(): Promise<EntryStat> {
    const form = this.form;
    if (form.kind === 'cached') return entryStat('file', this.key, form.object.size, form.attributes);
    return this.withAttributes(await this.local!.stat());
  }

  /** The local copy's `local` attributes with the file's own mode, owner and inode. */
  private withAttributes(local: EntryStat): EntryStat {
    const form = this.form;
    const attributes = form.kind === 'written' ? form.written.attributes : form.attributes;
    return {
      ...local,
      kind: 'file',
      mode: TYPE_BITS.file | attributes.mode,
      uid: attributes.uid,
      gid: attributes.gid,
      ino: inodeOf(this.key),
      nlink: 1,
      dev: 0,
    };
  }

  sameFile(other: FileNode): boolean {
    return other instanceof TieredFile && other.key === this.key;
  }

  nativeAccess(): NativeAccess | undefined {
    const access = this.localAccess();
    // the local file's own mode, owner and inode number are not this file's: stat() says what they are
    return access && { ...access, attributesByStorage: true };
  }

  /** What native code needs to read (and write) the local file holding the bytes. */
  private localAccess(): NativeAccess | undefined {
    const form = this.form;
    if (form.kind === 'cached') {
      const access = form.object.file?.nativeAccess?.();
      if (access === undefined || form.object.complete) return access;
      // not all here yet: native code serves what is, read() fetches the rest
      return { fd: access.fd, sizeCell: form.object.sizeCell, filling: { readyCell: form.object.readyCell, servedCell: form.ahead.servedCell } };
    }
    const access = this.local!.nativeAccess?.();
    if (access === undefined || form.kind !== 'written') return access;
    // a written copy's sync() records its upload durably too (TieredFiles.sync); the data path counts its
    // writes (whether it changed: its ctime alone can miss a write in the same clock tick as the copy's
    // making or last upload); write-through: its flush (close(2)) uploads it, unless nothing changed since
    // the last upload
    const counted = { ...access, syncByStorage: true, changeCell: form.written.changeCell, modeCell: form.written.modeCell };
    return this.files.writeThrough ? { ...counted, flushByStorage: true } : counted;
  }

  /** Applies `change` to the attributes: an open copy keeps them for its upload, others change where they are. */
  private async changeAttributes(change: (attributes: Attributes) => Attributes): Promise<void> {
    const form = this.form;
    if (form.kind === 'written') {
      form.written.attributes = change(form.written.attributes);
      form.written.change();
      return;
    }
    form.attributes = await this.files.changeAttributes(form.reader, form.attributes, change);
  }

  chmod(mode: number): Promise<void> {
    return this.changeAttributes((attributes) => ({ ...attributes, mode: mode & 0o7777 }));
  }

  chown(uid: number, gid: number): Promise<void> {
    return this.changeAttributes((attributes) => ({ ...attributes, uid: uid >= 0 ? uid : attributes.uid, gid: gid >= 0 ? gid : attributes.gid }));
  }

  async utimes(atime: SetTime, mtime: SetTime): Promise<void> {
    if (this.form.kind === 'written') await this.form.written.file.utimes(atime, mtime);
    await this.changeAttributes((attributes) => withTimes(attributes, atime, mtime));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const form = this.form;
    if (form.kind === 'cached') {
      form.ahead.stop();
      this.files.closeReader(form.reader);
      return this.files.cache.unpin(form.object);
    }
    if (form.kind === 'copy') {
      await form.file.close();
      this.files.closeReader(form.reader);
      return;
    }
    form.written.handles--;
    if (form.written.handles === 0) await this.files.closeWritten(form.written);
  }
}
