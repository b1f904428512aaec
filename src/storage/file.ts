// File: an open file of the storage API (seed 002), plus what a POSIX front needs (writeAt, truncate,
// sync, datasync, stat, allocate with fallocate's modes, seek to data and holes, copy between files).
// Every call checks the handle and its arguments before any IO, so bad input changes nothing; every
// failure is a StorageError naming the file.
import { addressAlignment, alignedMemory, FALLOC, totalBytes, type EntryStat, type FileNode, type NativeAccess, type SeekTarget } from '../adapters/adapter.js';
import { storageError } from '../ground/errors.js';
import { Handle } from './handle.js';
import { canRead, canWrite, modeFor, type Mode, type Permission } from './mode.js';
import { printableName, publicName } from '../ground/name-bytes.js';
import { joinPath, type Name } from './names.js';

/**
 * What a File needs of the directory it was opened in (a Dir): its path, whether the storage is
 * read-only, and the renames and unlinks of the file's own name. An interface, so that file.ts does not
 * import dir.ts (which imports file.ts).
 */
export interface FileParent {
  readonly path: string;
  readonly readOnlyStorage: boolean;
  renameChild(from: string, to: Name, options: RenameOptions): Promise<string>;
  unlinkChild(name: string): Promise<void>;
  /** names the open file `node` `name` in this directory; resolves with the name string */
  linkFile(node: FileNode, name: Name): Promise<string>;
}

export interface RenameOptions {
  /** replace an existing entry of that name (POSIX rename); by default that is EEXIST, as the seed says */
  replace?: boolean;
  /** swap with the existing entry of that name, atomically (renameat2 RENAME_EXCHANGE); ENOENT without one */
  exchange?: boolean;
}

export const DEFAULT_CHUNK = 64 * 1024;

/**
 * The fallocate modes File.allocate takes besides 0 (allocate, growing the file): KeepSize (allocate, the
 * size stays), PunchHole | KeepSize (free the range: it reads as zeros), ZeroRange, ZeroRange | KeepSize.
 */
export const Falloc = { KeepSize: FALLOC.KEEP_SIZE, PunchHole: FALLOC.PUNCH_HOLE, ZeroRange: FALLOC.ZERO_RANGE } as const;

const ALLOCATE_MODES: ReadonlySet<number> = new Set([
  0,
  Falloc.KeepSize,
  Falloc.PunchHole | Falloc.KeepSize,
  Falloc.ZeroRange,
  Falloc.ZeroRange | Falloc.KeepSize,
]);

/** Who the checks name in their errors: the file, whose path is only made when one fails. */
interface Named {
  readonly path: string;
}

function checkAllocateMode(mode: unknown, file: Named): number {
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0) {
    throw storageError('EINVAL', `the allocate mode must be 0 or Falloc bits, got ${String(mode)}`, { path: file.path });
  }
  if (!ALLOCATE_MODES.has(mode)) {
    // as fallocate(2) answers a mode it does not do (collapse, insert, unshare; a hole without KeepSize)
    throw storageError('EOPNOTSUPP', `allocate mode 0x${mode.toString(16)} is not supported`, {
      path: file.path,
      hint: 'use 0, Falloc.KeepSize, Falloc.PunchHole | Falloc.KeepSize, Falloc.ZeroRange or Falloc.ZeroRange | Falloc.KeepSize',
    });
  }
  return mode;
}

function checkOffset(value: unknown, what: string, file: Named): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw storageError('EINVAL', `${what} must be a non-negative integer, got ${String(value)}`, { path: file.path });
  }
  return value;
}

/**
 * Where a write, truncate or allocate ends: `offset` must be a non-negative integer (EINVAL), and
 * `offset + length` at most 2^53 - 1, the largest file size a number addresses exactly: beyond it is
 * EFBIG, as POSIX says for a write past the largest file size (the kernel says EFBIG for its own limit).
 */
function checkExtent(offset: unknown, length: number, what: string, file: Named): number {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw storageError('EINVAL', `${what} must be a non-negative integer, got ${String(offset)}`, { path: file.path });
  }
  if (offset + length > Number.MAX_SAFE_INTEGER) {
    throw storageError('EFBIG', `${what} ${offset}${length > 0 ? ` + ${length} bytes` : ''} is past the largest file size (2^53 - 1 bytes)`, {
      path: file.path,
    });
  }
  return offset;
}

function checkBuffers(buffers: unknown, file: Named): readonly Uint8Array[] {
  if (!Array.isArray(buffers) || buffers.length === 0) {
    throw storageError('EINVAL', 'expected a non-empty array of Buffers or Uint8Arrays', { path: file.path });
  }
  for (const buffer of buffers) {
    if (!(buffer instanceof Uint8Array)) throw storageError('EINVAL', 'every element must be a Buffer or Uint8Array', { path: file.path });
  }
  // a copy: the IO may start later (queued appends, a full ring), and the caller may change its array
  return [...(buffers as Uint8Array[])];
}

function checkBuffer(buffer: unknown, file: Named): Uint8Array {
  if (!(buffer instanceof Uint8Array)) throw storageError('EINVAL', 'expected a Buffer or Uint8Array', { path: file.path });
  return buffer;
}

/** The bytes of `source` cut into chunks of `size` (the last one shorter). */
async function* rechunked(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer, void, undefined> {
  let pending: Buffer[] = [];
  let held = 0;
  for await (const piece of source) {
    let rest = piece;
    while (held + rest.length >= size) {
      const take = size - held;
      pending.push(rest.subarray(0, take));
      yield Buffer.concat(pending, size);
      pending = [];
      held = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      pending.push(Buffer.from(rest));
      held += rest.length;
    }
  }
  if (held > 0) yield Buffer.concat(pending, held);
}

export class File extends Handle {
  private fileName: string;

  /** @internal made by Dir */
  constructor(
    private readonly node: FileNode,
    private parent: FileParent,
    name: string,
    /** what this handle may do: read, write or both */
    readonly access: Mode,
    /** opened with O_DIRECT */
    readonly direct: boolean,
    private readonly onClose: (file: File) => Promise<void>,
  ) {
    super();
    this.fileName = name;
  }

  protected get attributeNode() {
    return this.node;
  }

  /** The file's name in its directory: a string when it is UTF-8, its bytes otherwise. */
  get name(): string | Buffer {
    return publicName(this.fileName);
  }

  protected get readOnly(): boolean {
    return this.parent.readOnlyStorage;
  }

  get path(): string {
    return joinPath(this.parent.path, this.fileName);
  }

  /** The size as this process knows it, without a call: what `size()` resolves with. */
  get knownSize(): number {
    return this.node.size();
  }

  /**
   * For native code that reads and writes this file itself while the handle is open (the mount's data
   * path): its descriptor, and the cell with the size that `size()` reports, which such code must raise
   * when it writes past the end. Undefined on a closed handle and where files have no descriptor.
   * Reading or writing through the descriptor after close() is using a descriptor that may be reused.
   */
  nativeAccess(): NativeAccess | undefined {
    return this.closed ? undefined : this.node.nativeAccess?.();
  }

  /** O_DIRECT alignment (bytes) for buffers, offsets and lengths; 0 when not opened with direct. */
  get alignment(): number {
    return this.node.alignment;
  }

  private checkAccess(what: string, write: boolean): void {
    if (write) this.writable(what);
    if (write ? !canWrite(this.access) : !canRead(this.access)) {
      throw storageError('EBADF', `${what}: the file is open for ${write ? 'reading' : 'writing'} only`, { path: this.path });
    }
  }

  /** For O_DIRECT: the kernel refuses unaligned memory, offsets and lengths; say so before it does. */
  private checkAligned(buffers: readonly Uint8Array[], offset: number | undefined): void {
    const alignment = this.node.alignment;
    if (alignment === 0) return;
    const fail = (what: string) => {
      throw storageError('EINVAL', `direct IO needs ${what} aligned to ${alignment} bytes; allocate with alignedBuffer()`, { path: this.path });
    };
    if (offset !== undefined && offset % alignment !== 0) fail(`the file offset (${offset})`);
    for (const buffer of buffers) {
      if (buffer.length % alignment !== 0) fail(`every length (got ${buffer.length})`);
      if (addressAlignment(buffer) < alignment) fail('buffer memory');
    }
  }

  /** Appends `buffer` at the end of the file as one record; resolves with the offset it starts at. */
  append(buffer: Uint8Array): Promise<number> {
    return this.appendv([buffer]);
  }

  /** Appends consecutive buffers at the end of the file as one record (one writev); resolves with its offset. */
  appendv(buffers: readonly Uint8Array[]): Promise<number> {
    return this.call('append', () => {
      this.checkAccess('append', true);
      const checked = checkBuffers(buffers, this);
      this.checkAligned(checked, this.node.alignment ? this.node.size() : undefined);
      return this.node.append(checked);
    });
  }

  /** Writes `buffer` at `offset` (in place, or extending the file). */
  writeAt(offset: number, buffer: Uint8Array): Promise<void> {
    return this.writevAt(offset, [buffer]);
  }

  writevAt(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return this.call('writeAt', () => {
      this.checkAccess('writeAt', true);
      const checked = checkBuffers(buffers, this);
      checkExtent(offset, totalBytes(checked), 'offset', this);
      this.checkAligned(checked, offset);
      return this.node.write(checked, offset);
    });
  }

  /**
   * Reads into `buffer` from `offset` until the buffer is full or the file ends; resolves with the bytes
   * read (short only at the end of the file). An offset past the end is EINVAL.
   */
  read(offset: number, buffer: Uint8Array): Promise<number> {
    return this.call('read', async () => {
      this.checkAccess('read', false);
      this.checkReadOffset(offset);
      checkBuffer(buffer, this);
      this.checkAligned([buffer], offset);
      return this.node.read(buffer, offset);
    });
  }

  /** Reads the file from `offset` into consecutive buffers (one readv); resolves with the bytes read. */
  readv(offset: number, buffers: readonly Uint8Array[]): Promise<number> {
    return this.call('readv', async () => {
      this.checkAccess('readv', false);
      this.checkReadOffset(offset);
      const checked = checkBuffers(buffers, this);
      this.checkAligned(checked, offset);
      return this.node.readv(checked, offset);
    });
  }

  private checkReadOffset(offset: number): void {
    checkOffset(offset, 'offset', this);
    const size = this.node.size();
    if (offset > size) {
      throw storageError('EINVAL', `offset ${offset} is past the end of the file (size ${size})`, { path: this.path });
    }
  }

  /**
   * The file from `offset` to its end, `chunkSize` bytes at a time (the last chunk may be shorter). Each
   * chunk is a new Buffer the caller may keep. Reads only as the iteration asks for more.
   */
  async *stream(offset = 0, chunkSize = DEFAULT_CHUNK): AsyncGenerator<Buffer, void, undefined> {
    checkOffset(chunkSize, 'chunkSize', this);
    if (chunkSize === 0) throw storageError('EINVAL', 'chunkSize must be at least 1', { path: this.path });
    const streamed = this.node.stream;
    if (streamed !== undefined) {
      this.checkAccess('stream', false);
      this.checkReadOffset(offset);
      yield* rechunked(streamed.call(this.node, offset), chunkSize);
      return;
    }
    let position = offset;
    for (;;) {
      const chunk = this.direct ? alignedMemory(chunkSize, this.alignment) : Buffer.allocUnsafe(chunkSize);
      const n = await this.read(position, chunk);
      if (n === 0) return;
      position += n;
      yield n === chunk.length ? chunk : chunk.subarray(0, n);
      if (n < chunkSize) return;
    }
  }

  /** The size of the file in bytes, as written through this storage. */
  size(): Promise<number> {
    return this.call('size', async () => this.node.size());
  }

  stat(): Promise<EntryStat> {
    return this.call('stat', () => this.node.stat());
  }

  /** The attributes the file had when this handle opened (or created) it: no call to the storage. */
  get opened(): EntryStat {
    return this.node.opened;
  }

  /** Cuts or extends (with zeros) the file to `size` bytes. */
  truncate(size: number): Promise<void> {
    return this.call('truncate', async () => {
      this.checkAccess('truncate', true);
      checkExtent(size, 0, 'size', this);
      await this.node.truncate(size);
    });
  }

  /** Makes everything written so far durable, data and metadata (fsync). */
  sync(): Promise<void> {
    return this.call('sync', () => this.node.sync(false));
  }

  /** A descriptor of the file was closed (close(2)): what the storage does then (write-through: the upload). */
  flush(): Promise<void> {
    return this.call('flush', async () => this.node.flush?.());
  }

  /** Makes the data written so far durable, and the metadata needed to read it (fdatasync). */
  datasync(): Promise<void> {
    return this.call('datasync', () => this.node.sync(true));
  }

  /**
   * fallocate of [offset, offset + length). Mode 0 preallocates it, growing the file if needed;
   * Falloc.KeepSize preallocates without changing the size; Falloc.PunchHole | Falloc.KeepSize frees it
   * (it reads as zeros, the size stays); Falloc.ZeroRange makes it read as zeros, allocated (growing the
   * file unless with KeepSize). Any other mode is EOPNOTSUPP, and so is a mode the backing file system
   * does not have (the memory adapter has them all).
   */
  allocate(offset: number, length: number, mode = 0): Promise<void> {
    return this.call('allocate', async () => {
      this.checkAccess('allocate', true);
      checkAllocateMode(mode, this);
      checkOffset(length, 'length', this);
      if (length === 0) throw storageError('EINVAL', 'length must be at least 1', { path: this.path });
      checkExtent(offset, length, 'offset', this);
      await this.node.allocate(offset, length, mode);
    });
  }

  /**
   * Where the next data (`'data'`) or hole (`'hole'`) at or after `offset` starts, as lseek's SEEK_DATA and
   * SEEK_HOLE say. The end of the file counts as a hole, so `'hole'` finds the size at most; an offset at or
   * past the end, or `'data'` in a hole that runs to the end, is ENXIO. A file system that does not keep
   * holes (and the memory adapter) answers as if every byte were data.
   */
  seek(offset: number, target: SeekTarget): Promise<number> {
    return this.call('seek', async () => {
      if (target !== 'data' && target !== 'hole') {
        throw storageError('EINVAL', `seek looks for 'data' or 'hole', got ${String(target)}`, { path: this.path });
      }
      checkOffset(offset, 'offset', this);
      const size = this.node.size();
      if (offset >= size) {
        throw storageError('ENXIO', `seek: offset ${offset} is at or past the end of the file (size ${size})`, { path: this.path });
      }
      return this.node.seek(offset, target);
    });
  }

  /**
   * Copies `length` bytes of `source` from `sourceOffset` into this file at `offset`, growing this file as
   * needed, with copy_file_range: the kernel moves the data (sharing blocks where the file system can), none
   * of it passes through JavaScript. Resolves with the bytes copied: the copy goes on until `length` bytes
   * are done or the source ends, so it is short only at the source's end, as read() is (0 when
   * `sourceOffset` is at or past it). Both handles count the copy as theirs: closing either waits for it.
   * `source` must be open for reading and this file for writing (EBADF), both of one kind of storage;
   * overlapping ranges of one file are EINVAL.
   */
  copyFrom(source: File, sourceOffset: number, offset: number, length: number): Promise<number> {
    return this.call('copy', async () => {
      this.checkAccess('copy', true);
      if (!(source instanceof File)) throw storageError('EINVAL', 'copy: the source must be an open File', { path: this.path });
      const from = `copy: the source '${printableName(source.path)}'`;
      if (source.closed) throw storageError('EBADF', `${from} is closed`, { path: this.path });
      if (Object.getPrototypeOf(source.node) !== Object.getPrototypeOf(this.node)) {
        throw storageError('EINVAL', `${from} belongs to another kind of storage (local, memory): read and write to copy between them`, { path: this.path });
      }
      if (!canRead(source.access)) throw storageError('EBADF', `${from} is open for writing only`, { path: this.path });
      checkOffset(sourceOffset, 'sourceOffset', this);
      checkOffset(length, 'length', this);
      checkExtent(offset, length, 'offset', this);
      if (this.node.sameFile(source.node) && sourceOffset < offset + length && offset < sourceOffset + length) {
        throw storageError('EINVAL', `copy: [${sourceOffset}, +${length}) and [${offset}, +${length}) of one file overlap`, { path: this.path });
      }
      return source.hold('copy', async () => {
        let done = 0;
        while (done < length) {
          const n = await this.node.copyFrom(source.node, sourceOffset + done, offset + done, length - done);
          if (n === 0) break;
          done += n;
        }
        return done;
      });
    });
  }

  /** Sets the owner's read/write permission (Mode) or the whole POSIX mode (number). */
  setPermission(permission: Permission): Promise<void> {
    return this.call('setPermission', async () => {
      this.writable('setPermission');
      await this.node.chmod(await modeFor(permission, async () => (await this.node.stat()).mode));
    });
  }

  /** Renames the file within its directory; EEXIST if `newName` exists unless `replace` is set. */
  rename(newName: Name, options: RenameOptions = {}): Promise<void> {
    return this.call('rename', async () => {
      this.fileName = await this.parent.renameChild(this.named('rename'), newName, options);
    });
  }

  /** Removes the file's name and closes this handle. */
  async delete(): Promise<void> {
    await this.call('delete', () => this.parent.unlinkChild(this.named('delete')));
    await this.close();
  }

  /**
   * Gives this open file the name `name` in `to` (a Dir of the same storage; EEXIST if taken), whatever
   * names it has: a hard link through the handle. A file made by Dir.createUnnamedFile gets its first name
   * so (once: linked, then deleted, it is gone), and the handle goes by that name when `to` is the directory
   * it was made in. EOPNOTSUPP where the storage cannot (remote storage).
   */
  link(to: FileParent, name: Name): Promise<void> {
    return this.call('link', async () => {
      this.writable('link');
      const linked = await to.linkFile(this.node, name);
      if (this.fileName === '' && to === this.parent) this.fileName = linked;
    });
  }

  /** The file's name for a call that needs it: ENOENT for a file made without one and not linked. */
  private named(what: string): string {
    if (this.fileName === '') throw storageError('ENOENT', `${what}: the file has no name (made by createUnnamedFile, not linked yet)`, { path: this.path });
    return this.fileName;
  }

  /** Waits for this handle's calls in progress, then releases it. Later calls fail with EBADF. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.settle();
    await this.node.close();
    await this.onClose(this);
  }
}
