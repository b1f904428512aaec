// Dir: an open directory of the storage API (seed 002). Children (File and Dir handles opened through it)
// keep its descriptor alive after the caller closes it, so that they can still be renamed or deleted.
//
// The owner's Mode of the directory is enforced here for every adapter: creating, renaming and deleting
// entries needs Write, listing needs Read (as the kernel would for a non-root owner).
import {
  NODE_KINDS,
  type DirNode,
  type EntryKind,
  type EntryStat,
  type FileNode,
  type MadeFile,
  type FsStats,
  type NodeKind,
  type OpenFlags,
  type RenameMode,
} from '../adapters/adapter.js';
import { publicName } from '../ground/name-bytes.js';
import { isCode, storageError } from '../ground/errors.js';
import { checkTimes, type SetTime } from './times.js';
import { File, type RenameOptions } from './file.js';
import { Handle, labelOf } from './handle.js';
import { allows, canRead, canWrite, Mode, modeBits, modeFor, permissionOf, withPermission, type Permission } from './mode.js';
import { RESERVED_NAMES } from '../ground/reserved-names.js';
import { checkName, joinPath, toNameString, type Name } from './names.js';

/** An entry of a directory listing: its name (a string when it is UTF-8, its bytes otherwise) and kind. */
export interface DirEntry {
  name: string | Buffer;
  kind: EntryKind;
}

export interface OpenOptions {
  /** what the handle may do; by default what the file's owner permission allows */
  access?: Mode;
  /** O_DIRECT: bypass the page cache; buffers, offsets and lengths must be aligned (File.alignment) */
  direct?: boolean;
  /** O_DSYNC: every write is durable when it resolves */
  dsync?: boolean;
  /**
   * O_TRUNC: the file is emptied as it opens; with `access` it must allow writing (EINVAL otherwise), without
   * it the file's owner permission must (EACCES); EROFS on a read-only storage. An adapter that would copy
   * the content in at open (the tiered adapter's local copy of a remote object) leaves it out
   */
  truncate?: boolean;
}

/** Called by Dir for every handle it opens, and when one closes (the Storage keeps the set for close()). */
export interface HandleRegistry {
  /** false when something above already checks permissions (a kernel with default_permissions) */
  readonly enforcePermissions: boolean;
  /** opened read-only: every change is EROFS */
  readonly readOnly: boolean;
  opened(handle: File | Dir): void;
  closed(handle: File | Dir): void;
}

export class Dir extends Handle {
  private dirName: string;
  private openChildren = 0;
  private released = false;

  /** @internal made by Storage and by other Dirs */
  constructor(
    readonly node: DirNode,
    private parent: Dir | undefined,
    name: string,
    private mode: number,
    private readonly registry: HandleRegistry,
  ) {
    super();
    this.dirName = name;
    registry.opened(this);
    parent?.retain();
  }

  protected get attributeNode() {
    return this.node;
  }

  /** The directory's name in its parent: a string when it is UTF-8, its bytes otherwise. */
  get name(): string | Buffer {
    return publicName(this.dirName);
  }

  get path(): string {
    return this.parent === undefined ? '' : joinPath(this.parent.path, this.dirName);
  }

  get isRoot(): boolean {
    return this.parent === undefined;
  }

  private retain(): void {
    this.openChildren++;
  }

  private async release(): Promise<void> {
    if (--this.openChildren === 0 && this.closed) await this.releaseNode();
  }

  private async releaseNode(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.node.close();
    await this.parent?.release();
  }

  protected get readOnly(): boolean {
    return this.registry.readOnly;
  }

  /** @internal whether the storage this handle belongs to was opened read-only */
  get readOnlyStorage(): boolean {
    return this.registry.readOnly;
  }

  private need(what: string, write: boolean): void {
    if (write) this.writable(what);
    if (!this.registry.enforcePermissions) return;
    const granted = permissionOf(this.mode);
    if (write ? !canWrite(granted) : !canRead(granted)) {
      throw storageError('EACCES', `${what}: the directory's permission does not allow ${write ? 'writing' : 'reading'}`, {
        path: this.path === '' ? '/' : this.path,
      });
    }
  }

  /** A caller's entry name as a name string, checked; persistfs's own names at the root are refused. */
  private checkEntryName(value: Name, what: string): string {
    const name = checkName(value);
    if (this.isRoot && RESERVED_NAMES.has(name)) {
      throw storageError('EINVAL', `${what}: '${name}' is reserved for persistfs's own files`, { path: name });
    }
    return name;
  }

  /** Runs `work` on the checked name string of the entry `name`, as one call labelled with that entry. */
  private onEntry<T>(what: string, name: Name, work: (entry: string) => Promise<T>): Promise<T> {
    return this.call(what, async () => work(this.checkEntryName(name, what)), labelOf(name));
  }

  /**
   * Creates the directory `name` (EEXIST if present) and opens it. Its permission is exact (no umask), but
   * in a directory with a default POSIX ACL (local storage), where the file system applies the ACL to it.
   */
  createDirectory(name: Name, permission: Permission = Mode.ReadAndWrite): Promise<Dir> {
    return this.onEntry('createDirectory', name, async (entry) => {
      const bits = modeBits(permission, true);
      this.need('createDirectory', true);
      await this.node.mkdir(entry, bits);
      return this.openChild(entry);
    });
  }

  /**
   * Makes the special file `name` (EEXIST if present), as mknod(2) does: a 'fifo' (named pipe), a 'socket'
   * (the name of a unix socket; a process binding it through a mount makes it live), or a 'char-device' or
   * 'block-device' node for `device` (a dev_t: deviceNumber(major, minor)). Devices need the privilege to
   * make them (root): EPERM otherwise. EINVAL for another kind, or a device number for a FIFO or socket.
   * The permission is exact (no umask; in a directory with a default POSIX ACL, the file system applies the
   * ACL to it as for any new entry there, as createFile and createDirectory do); files are made with createFile.
   */
  makeNode(name: Name, kind: NodeKind, permission: Permission = Mode.ReadAndWrite, device = 0): Promise<void> {
    return this.onEntry('makeNode', name, async (entry) => {
      if (!NODE_KINDS.includes(kind)) {
        throw storageError('EINVAL', `makeNode: kind must be one of ${NODE_KINDS.join(', ')}, got ${String(kind)}`, { path: entry });
      }
      const isDevice = kind === 'char-device' || kind === 'block-device';
      if (!Number.isSafeInteger(device) || device < 0 || (!isDevice && device !== 0)) {
        const wanted = isDevice ? 'the device must be a dev_t (deviceNumber(major, minor))' : `a ${kind} has no device number`;
        throw storageError('EINVAL', `makeNode: ${wanted}, got ${String(device)}`, { path: entry });
      }
      const bits = modeBits(permission, false);
      this.need('makeNode', true);
      await this.node.mknod(entry, kind, bits, device);
    });
  }

  /** Opens the directory `name` (ENOENT if missing, ENOTDIR if not a directory). */
  openDirectory(name: Name): Promise<Dir> {
    return this.onEntry('openDirectory', name, (entry) => this.openChild(entry));
  }

  private async openChild(name: string): Promise<Dir> {
    const node = await this.node.openDir(name);
    try {
      const stat = await node.stat('');
      return new Dir(node, this, name, stat.mode, this.registry);
    } catch (error) {
      await node.close();
      throw error;
    }
  }

  /**
   * The entries of this directory with their kind (file, directory, symlink, fifo, socket, char-device,
   * block-device, other). A name is a string when it is valid UTF-8, and a Buffer of its bytes otherwise
   * (like fs.readdir with encoding 'buffer').
   */
  read(): Promise<DirEntry[]> {
    return this.call('read', async () => {
      this.need('read', false);
      const entries = await this.node.list();
      const visible = this.isRoot ? entries.filter((entry) => !RESERVED_NAMES.has(entry.name)) : entries;
      return visible.map((entry) => ({ name: publicName(entry.name), kind: entry.kind }));
    });
  }

  private flags(options: OpenOptions, access: Mode): OpenFlags {
    return {
      read: canRead(access),
      write: canWrite(access),
      direct: options.direct === true,
      dsync: options.dsync === true,
      truncate: options.truncate === true,
    };
  }

  private checkAccess(access: unknown): Mode {
    if (access !== Mode.Read && access !== Mode.Write && access !== Mode.ReadAndWrite) {
      throw storageError('EINVAL', `access must be Mode.Read, Mode.Write or Mode.ReadAndWrite, got ${String(access)}`);
    }
    return access;
  }

  private fileHandle(node: FileNode, name: string, access: Mode, options: OpenOptions): File {
    this.retain();
    const file = new File(node, this, name, access, options.direct === true, async (closed) => {
      this.registry.closed(closed);
      await this.release();
    });
    this.registry.opened(file);
    return file;
  }

  /**
   * Creates the file `name` (EEXIST if present) and opens it for reading and writing. Its permission is
   * exact (no umask), but in a directory with a default POSIX ACL (local storage), where the file system
   * applies the ACL to it. (`made`, internal: the file the mount's data path made so, which the storage takes
   * instead of making one.)
   */
  createFile(name: Name, permission: Permission = Mode.ReadAndWrite, options: OpenOptions = {}, made?: MadeFile): Promise<File> {
    return this.onEntry('createFile', name, async (entry) => {
      const bits = modeBits(permission, false);
      this.need('createFile', true);
      const access = options.access === undefined ? Mode.ReadAndWrite : this.checkAccess(options.access);
      const flags = this.flags(options, access);
      const node = made === undefined ? await this.node.createFile(entry, bits, flags) : await this.adoptFile(entry, bits, flags, made);
      return this.fileHandle(node, entry, access, options);
    });
  }

  /** @internal createFile of a file native code made (`made`, read and write): the storage takes it. */
  private adoptFile(entry: string, bits: number, flags: OpenFlags, made: MadeFile): Promise<FileNode> {
    if (!this.node.adoptFile || !flags.read || !flags.write || flags.direct || flags.dsync) {
      throw storageError('EOPNOTSUPP', 'createFile: this storage does not take files made for it, or not opened so', { path: joinPath(this.path, entry) });
    }
    return this.node.adoptFile(entry, bits, flags, made);
  }

  /**
   * Creates a file with no name in this directory's file system (O_TMPFILE) and opens it for reading and
   * writing (options.access Mode.Write: writing only). Nothing lists it, and it is gone at close, or at a
   * crash, unless File.link names it: write it, sync it, then link it, and the name appears with the whole
   * content or not at all (sync this directory after for the name to be durable too). Its permission is
   * exact, as createFile's. EOPNOTSUPP where the storage has no such files (S3, tiered; a local file system
   * without O_TMPFILE).
   */
  createUnnamedFile(permission: Permission = Mode.ReadAndWrite, options: OpenOptions = {}): Promise<File> {
    return this.call('createUnnamedFile', async () => {
      const bits = modeBits(permission, false);
      this.need('createUnnamedFile', true);
      const access = options.access === undefined ? Mode.ReadAndWrite : this.checkAccess(options.access);
      if (!canWrite(access)) throw storageError('EINVAL', 'createUnnamedFile: a file without a name is opened for writing (Mode.Write or Mode.ReadAndWrite)');
      if (!this.node.createUnnamed) {
        throw storageError('EOPNOTSUPP', 'createUnnamedFile: this storage has no files without a name', {
          path: this.path === '' ? '/' : this.path,
          hint: 'create the file under a temporary name, then rename it',
        });
      }
      const node = await this.node.createUnnamed(bits, this.flags(options, access));
      return this.fileHandle(node, '', access, options);
    });
  }

  /** @internal File.link: names the open file `node` `name` here (EEXIST if taken); resolves with the name string. */
  linkFile(node: FileNode, name: Name): Promise<string> {
    return this.onEntry('link', name, async (entry) => {
      this.need('link', true);
      if (!node.linkInto) {
        throw storageError('EOPNOTSUPP', 'link: this storage cannot name a file through its handle', {
          path: joinPath(this.path, entry),
          hint: 'use Dir.link with a name the file has',
        });
      }
      await node.linkInto(this.node, entry);
      return entry;
    });
  }

  /**
   * The whole content of the file `name` (opened for reading, closed after): for the small files read in
   * one piece (manifests, checkpoints, values). ENOENT when there is none; see readFileIfExists.
   */
  async readFile(name: Name): Promise<Buffer> {
    const file = await this.openFile(name, { access: Mode.Read });
    try {
      const size = await file.size();
      const buffer = Buffer.allocUnsafe(size);
      const n = size === 0 ? 0 : await file.read(0, buffer);
      return n === size ? buffer : buffer.subarray(0, n);
    } finally {
      await file.close();
    }
  }

  /** readFile, or undefined when there is no file `name`. */
  async readFileIfExists(name: Name): Promise<Buffer | undefined> {
    try {
      return await this.readFile(name);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  /**
   * Opens the file `name`; by default for what its owner permission allows (on a read-only storage, for
   * reading; asking for Write there is EROFS).
   */
  openFile(name: Name, options: OpenOptions = {}): Promise<File> {
    return this.onEntry('openFile', name, async (entry) => {
      const wanted = options.access === undefined ? undefined : this.checkAccess(options.access);
      if (options.truncate === true && wanted !== undefined && !canWrite(wanted)) {
        throw storageError('EINVAL', 'openFile: truncate needs write access (Mode.Write or Mode.ReadAndWrite)', { path: entry });
      }
      if ((wanted !== undefined && canWrite(wanted)) || options.truncate === true) this.writable('openFile for writing');
      let access = wanted !== undefined && !this.registry.enforcePermissions ? wanted : await this.checkedAccess(entry, wanted);
      if (this.readOnly) access = Mode.Read;
      // no access asked: the owner permission's, which does not allow writing
      if (options.truncate === true && !canWrite(access)) {
        throw storageError('EACCES', "openFile: truncate needs write access, which the file's permission does not give", { path: entry });
      }
      const node = await this.node.openFile(entry, this.flags(options, access));
      const file = this.fileHandle(node, entry, access, options);
      if (options.truncate === true) {
        try {
          await file.truncate(0);
        } catch (error) {
          await file.close().catch(() => undefined);
          throw error;
        }
      }
      return file;
    });
  }

  /** The access an open of `name` gets: `wanted`, or what the owner permission allows; EACCES beyond it. */
  private async checkedAccess(name: string, wanted: Mode | undefined): Promise<Mode> {
    let stat = await this.node.stat(name);
    if (stat.kind === 'symlink') stat = await this.targetStat(name);
    if (stat.kind === 'directory') throw storageError('EISDIR', 'openFile: is a directory', { path: name });
    const granted = permissionOf(stat.mode);
    const access = wanted ?? granted ?? Mode.Read;
    if (this.registry.enforcePermissions && (granted === undefined || !allows(granted, access))) {
      throw storageError('EACCES', `openFile: the file's permission does not allow ${access}`, { path: name });
    }
    return access;
  }

  /** The stat of what the symlink `name` leads to (beneath the root only). */
  private async targetStat(name: string): Promise<EntryStat> {
    const node = await this.node.openFile(name, { read: false, write: false, direct: false, dsync: false });
    try {
      return await node.stat();
    } finally {
      await node.close();
    }
  }

  /**
   * Writes `data` as the whole content of `name`, atomically: a temporary file is written, fsynced and
   * renamed over `name`, then this directory is fsynced. On any error the old file (or no file) remains
   * and no temporary is left. Resolves with the new file open for reading and writing.
   */
  flushWrite(name: Name, data: Uint8Array | readonly Uint8Array[], permission: Permission = Mode.ReadAndWrite, options: OpenOptions = {}): Promise<File> {
    return this.onEntry('flushWrite', name, async (entry) => {
      const bits = modeBits(permission, false);
      const buffers = data instanceof Uint8Array ? [data] : data;
      if (!Array.isArray(buffers) || !buffers.every((buffer) => buffer instanceof Uint8Array)) {
        throw storageError('EINVAL', 'flushWrite data must be a Buffer, a Uint8Array or an array of them', { path: entry });
      }
      this.need('flushWrite', true);
      const node = await this.node.flushWrite(entry, buffers, bits, this.flags(options, Mode.ReadAndWrite));
      return this.fileHandle(node, entry, Mode.ReadAndWrite, options);
    });
  }

  /** Removes the file `name` (EISDIR for a directory: use removeDirectory or Dir.delete). */
  deleteFile(name: Name): Promise<void> {
    return this.onEntry('deleteFile', name, async (entry) => {
      this.need('deleteFile', true);
      await this.node.unlink(entry);
    });
  }

  /**
   * Removes several files (seed 000's batch delete). All names are checked first; then they are removed
   * in order, stopping at the first failure, whose error says how many were removed before it.
   */
  deleteFiles(names: readonly Name[]): Promise<void> {
    return this.call('deleteFiles', async () => {
      if (!Array.isArray(names)) throw storageError('EINVAL', 'deleteFiles takes an array of names', { path: this.path });
      const entries = names.map((name) => this.checkEntryName(name, 'deleteFiles'));
      this.need('deleteFiles', true);
      for (let i = 0; i < entries.length; i++) {
        try {
          await this.node.unlink(entries[i]!);
        } catch (error) {
          const e = error as { code?: string };
          throw storageError(e.code ?? 'EIO', `deleteFiles stopped after removing ${i} of ${entries.length} files`, {
            path: joinPath(this.path, entries[i]!),
            cause: error,
          });
        }
      }
    });
  }

  /** Removes the empty directory `name` (ENOTEMPTY otherwise, as POSIX rmdir). */
  removeDirectory(name: Name): Promise<void> {
    return this.onEntry('removeDirectory', name, async (entry) => {
      this.need('removeDirectory', true);
      await this.node.rmdir(entry);
    });
  }

  /** Deletes this directory and everything in it, then closes the handle. The root cannot be deleted. */
  async delete(): Promise<void> {
    await this.call('delete', async () => {
      if (this.parent === undefined) throw storageError('EBUSY', 'the storage root cannot be deleted', { path: '/' });
      this.writable('delete');
      // opened through a symlink: the entry is the link, not this directory; never empty the target
      if ((await this.parent.node.stat(this.dirName)).kind !== 'directory') {
        throw storageError('ENOTDIR', 'this directory was opened through a symlink; delete the link with deleteFile', { path: this.path });
      }
      await removeTree(this.node);
      await this.parent.node.rmdir(this.dirName);
    });
    await this.close();
  }

  /**
   * Moves the entry `from` of this directory to `to`/`toName`: EEXIST if the target exists unless
   * `replace` is set (then POSIX rename rules: a directory replaces only an empty directory), or with
   * `exchange` swaps the two entries.
   */
  moveEntry(from: Name, to: Dir, toName: Name, options: RenameOptions = {}): Promise<void> {
    return this.onEntry('rename', from, async (entry) => {
      const target = to.checkEntryName(toName, 'rename');
      if (to.closed) throw to.closedError('rename');
      this.need('rename', true);
      to.need('rename', true);
      await this.node.rename(entry, to.node, target, renameMode(options));
    });
  }

  /** Renames this directory within its parent; EEXIST if `newName` exists unless `replace` is set. */
  rename(newName: Name, options: RenameOptions = {}): Promise<void> {
    return this.call('rename', async () => {
      if (this.parent === undefined) throw storageError('EBUSY', 'the storage root cannot be renamed', { path: '/' });
      this.dirName = await this.parent.renameChild(this.dirName, newName, options);
    });
  }

  /**
   * @internal For a child handle renaming its own entry; resolves with the new name string. The child
   * keeps this directory's descriptor open, so this works after the caller closed this handle (the path
   * shortcuts close theirs at once).
   */
  async renameChild(from: string, to: Name, options: RenameOptions): Promise<string> {
    checkName(to, 'new name');
    const target = this.checkEntryName(to, 'rename');
    this.need('rename', true);
    await this.node.rename(from, this.node, target, renameMode(options));
    return target;
  }

  /** @internal For a child File handle deleting its own name (see renameChild). */
  async unlinkChild(name: string): Promise<void> {
    this.need('deleteFile', true);
    await this.node.unlink(name);
  }

  /** Stat of the entry `name` (a symlink itself, not its target), or of this directory without a name. */
  stat(name?: Name): Promise<EntryStat> {
    if (name === undefined) return this.call('stat', () => this.node.stat(''));
    return this.onEntry('stat', name, (entry) => this.node.stat(entry));
  }

  /** Sets the owner's read/write permission of this directory (Mode) or its whole POSIX mode (number). */
  setPermission(permission: Permission): Promise<void> {
    return this.call('setPermission', async () => {
      this.writable('setPermission');
      const mode = withPermission(this.mode, permission);
      await this.node.chmod(mode);
      this.mode = (this.mode & ~0o7777) | mode;
    });
  }

  /** The whole POSIX mode (or the owner's Mode) of the entry `name`, without opening it; not for symlinks. */
  setEntryPermission(name: Name, permission: Permission): Promise<void> {
    return this.onEntry('setPermission', name, async (entry) => {
      this.writable('setPermission');
      await this.node.chmodEntry(entry, await modeFor(permission, async () => (await this.node.stat(entry)).mode));
    });
  }

  /** chown of the entry `name` itself (a symlink is changed, not followed); -1 leaves one unchanged. */
  chownEntry(name: Name, uid: number, gid: number): Promise<void> {
    return this.onEntry('chown', name, async (entry) => {
      this.writable('chown');
      await this.node.chownEntry(entry, uid, gid);
    });
  }

  /** Access and modification times of the entry `name` itself: ns since the epoch, 'now' or 'omit'. */
  utimesEntry(name: Name, atime: SetTime, mtime: SetTime): Promise<void> {
    return this.onEntry('utimes', name, async (entry) => {
      this.writable('utimes');
      checkTimes(atime, mtime);
      await this.node.utimesEntry(entry, atime, mtime);
    });
  }

  /** Extended attributes of the entry `entry` itself, without opening it (a symlink is not followed). */
  getEntryXattr(entry: Name, name: Name): Promise<Buffer> {
    return this.xattrGet(() => this.node.entryXattrs(this.checkEntryName(entry, 'getxattr')), name, labelOf(entry));
  }

  setEntryXattr(entry: Name, name: Name, value: Uint8Array, only?: 'create' | 'replace'): Promise<void> {
    return this.xattrSet(() => this.node.entryXattrs(this.checkEntryName(entry, 'setxattr')), name, value, only, labelOf(entry));
  }

  listEntryXattrs(entry: Name): Promise<Array<string | Buffer>> {
    return this.xattrList(() => this.node.entryXattrs(this.checkEntryName(entry, 'listxattr')), labelOf(entry));
  }

  removeEntryXattr(entry: Name, name: Name): Promise<void> {
    return this.xattrRemove(() => this.node.entryXattrs(this.checkEntryName(entry, 'removexattr')), name, labelOf(entry));
  }

  /** Makes the symlink `name` pointing at `target` (any bytes but NUL; kept exactly, never resolved here). */
  symlink(target: Name, name: Name): Promise<void> {
    return this.onEntry('symlink', name, async (entry) => {
      const bytes = toNameString(target, 'symlink target');
      if (bytes === '' || bytes.includes('\0')) {
        throw storageError('EINVAL', 'a symlink target must be non-empty and hold no NUL byte', { path: entry });
      }
      this.need('symlink', true);
      await this.node.symlink(bytes, entry);
    });
  }

  /** The target of the symlink `name`: a string when it is UTF-8, its bytes otherwise. */
  readlink(name: Name): Promise<string | Buffer> {
    return this.onEntry('readlink', name, async (entry) => publicName(await this.node.readlink(entry)));
  }

  /** A hard link `to`/`toName` to the file `name` of this directory. */
  link(name: Name, to: Dir, toName: Name): Promise<void> {
    return this.onEntry('link', name, async (entry) => {
      const target = to.checkEntryName(toName, 'link');
      to.need('link', true);
      await this.node.link(entry, to.node, target);
    });
  }

  /** fsync of this directory: makes the creations, renames and deletions in it durable. */
  sync(): Promise<void> {
    return this.call('sync', () => this.node.sync());
  }

  statfs(): Promise<FsStats> {
    return this.call('statfs', () => this.node.statfs());
  }

  /**
   * For native code that stats this directory itself (the mount's data path): its descriptor, valid until
   * this handle closes (such code keeps a duplicate). Undefined on a closed handle and where directories
   * have no descriptor whose stat is theirs.
   */
  nativeDescriptor(): number | undefined {
    return this.closed ? undefined : this.node.descriptor?.();
  }

  /** The names this directory keeps for persistfs's own files (at the root): hidden from listings, refused by name. */
  ownNames(): readonly string[] {
    return this.isRoot ? [...RESERVED_NAMES] : [];
  }

  /** Waits for this handle's calls in progress and releases it (its descriptor once no child needs it). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.settle();
    this.registry.closed(this);
    if (this.openChildren === 0) await this.releaseNode();
  }
}

function renameMode(options: RenameOptions): RenameMode {
  return options.exchange === true ? 'exchange' : options.replace === true ? 'replace' : 'noreplace';
}

/** Removes everything inside `node`, depth first. */
async function removeTree(node: DirNode): Promise<void> {
  for (const entry of await node.list()) {
    if (entry.kind === 'directory') {
      const child = await node.openDir(entry.name);
      try {
        await removeTree(child);
      } finally {
        await child.close();
      }
      await node.rmdir(entry.name);
    } else {
      await node.unlink(entry.name);
    }
  }
}
