// The POSIX operations of the mount, on the storage API, independent of the FUSE binding: each takes
// what the kernel asked (paths as FUSE gives them, '/a/b'), does one thing on the storage, and resolves
// with the answer or rejects with a StorageError whose code becomes the errno (fuse-glue.ts, kernel/).
// Both transports use it. Paths are made of name strings (ground/name-bytes.ts): a name that is not UTF-8
// has its bytes escaped in the path, and reaches the storage as those bytes (publicName).
//
// Writes: a write at the end of the file is an append (appends queued on one file go down together as
// one writev, see LocalFile); a write inside the file is writeAt. The kernel sends writes for one inode
// one at a time (it holds the inode lock for the whole write), so "at the end" is decided reliably here.
import type { MadeFile } from '../src/adapters/adapter.js';
import { publicName } from '../src/ground/name-bytes.js';
import {
  kindOfMode,
  POSIX_ACL_ACCESS,
  POSIX_ACL_DEFAULT,
  type EntryStat,
  type FsStats,
  type NativeAccess,
  type NodeKind,
  type RenameMode,
} from '../src/adapters/adapter.js';
import { isCode, StorageError, traceless } from '../src/ground/errors.js';
import type { SetTime } from '../src/ground/set-time.js';
import type { Dir, DirEntry } from '../src/storage/dir.js';
import type { File } from '../src/storage/file.js';
import { canWrite, Mode } from '../src/storage/mode.js';
import type { Storage } from '../src/storage/storage.js';
import { O, SEEK } from '../src/io/engine.js';
import type { Name } from '../src/storage/names.js';
import { DirCache } from './dir-cache.js';

/** What getattr answers (fuse-native's stat shape: times in milliseconds). */
export interface PosixStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: number;
  nlink: number;
  ino: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

const ABSENT_XATTR_PATHS = 65536;

function toPosixStat(stat: EntryStat): PosixStat {
  const ms = (ns: bigint) => Number(ns / 1_000_000n);
  return {
    mode: stat.mode,
    uid: stat.uid,
    gid: stat.gid,
    size: stat.size,
    dev: stat.dev,
    nlink: stat.nlink,
    // fuse-native passes inode numbers as 32 bits: ext4's fit; others are folded
    ino: Number(stat.ino & 0xffffffffn),
    rdev: stat.rdev,
    blksize: stat.blksize,
    blocks: stat.blocks,
    atime: ms(stat.atimeNs),
    mtime: ms(stat.mtimeNs),
    ctime: ms(stat.ctimeNs),
  };
}

/** '/a/b/c' -> ['a/b', 'c']; '/c' -> ['', 'c'] */
function parentAndName(path: string): [string, string] {
  const relative = path.replace(/^\/+/, '');
  const slash = relative.lastIndexOf('/');
  return slash < 0 ? ['', relative] : [relative.slice(0, slash), relative.slice(slash + 1)];
}

/** setxattr(2)'s flags as the storage takes them: XATTR_CREATE (1), XATTR_REPLACE (2), or neither. */
const onlyOf = (flags: number): 'create' | 'replace' | undefined => (flags & 1 ? 'create' : flags & 2 ? 'replace' : undefined);

const relativeOf = (path: string): string => path.replace(/^\/+/, '').replace(/\/+$/, '');

/**
 * Open flags with O_TRUNC and O_RDONLY made O_RDWR: open(2) empties the file then too (the kernel asked
 * for write permission, as O_TRUNC makes it), so the handle that does it needs write access; the kernel
 * sends no write through a file it opened read-only.
 */
export function writableIfTruncating(flags: number): number {
  return flags & O.TRUNC && (flags & O.ACCMODE) === O.RDONLY ? (flags & ~O.ACCMODE) | O.RDWR : flags;
}

function accessOf(flags: number): Mode {
  switch (flags & O.ACCMODE) {
    case O.WRONLY:
      return Mode.Write;
    case O.RDWR:
      return Mode.ReadAndWrite;
    default:
      return Mode.Read;
  }
}

export class PosixFs {
  private readonly dirs: DirCache;
  private readonly files = new Map<number, File>();
  /** directories open for a listing (openDirectory), by handle; the root is shared, never closed here */
  private readonly listed = new Map<number, Dir>();
  private nextListed = 1;
  /** attribute names known to be absent, by path (see getxattr) */
  private readonly absentXattrs = new Map<string, Set<string>>();
  /** forgetXattrs calls so far (see getxattr) */
  private xattrForgets = 0;
  private nextHandle = 1;
  /** handles reserved for files native code makes (reserveHandle), until they are taken or released */
  private readonly reserved = new Set<number>();

  constructor(
    private readonly storage: Storage,
    dirCacheSize = 4096,
  ) {
    this.dirs = new DirCache(storage, dirCacheSize);
  }

  /** Runs `work` on the parent directory of `path` and the last name. */
  private atParent<T>(path: string, work: (dir: Dir, name: Name) => Promise<T>): Promise<T> {
    const [parent, name] = parentAndName(path);
    if (name === '') return Promise.reject(new StorageError('EINVAL', 'EINVAL: the root has no parent'));
    return this.dirs.use(parent, (dir) => work(dir, publicName(name)));
  }

  private handle(fh: number): File {
    const open = this.files.get(fh);
    if (!open) throw new StorageError('EBADF', `EBADF: no open file with handle ${fh}`);
    return open;
  }

  private register(file: File): number {
    const fh = this.freeHandle();
    this.files.set(fh, file);
    return fh;
  }

  private freeHandle(): number {
    while (this.files.has(this.nextHandle) || this.reserved.has(this.nextHandle) || this.nextHandle === 0) this.nextHandle = (this.nextHandle + 1) >>> 0;
    const fh = this.nextHandle;
    this.nextHandle = (this.nextHandle + 1) >>> 0;
    return fh;
  }

  /**
   * A handle no file is given until `adopt` gives it one (the mount's data path answers a CREATE with it
   * before JavaScript has the file); it stays reserved until then, or until released.
   */
  reserveHandle(): number {
    const fh = this.freeHandle();
    this.reserved.add(fh);
    return fh;
  }

  /**
   * The file native code made at `path` (`made`: as create() takes it) becomes reserved handle `fh`. On
   * failure `fh` stays reserved (the kernel holds it open) until released.
   */
  adopt(path: string, made: MadeFile, fh: number): Promise<void> {
    if (!this.reserved.has(fh)) return Promise.reject(new StorageError('EBADF', `EBADF: handle ${fh} was not reserved`));
    this.forgetXattrs(path);
    return this.atParent(path, async (dir, name) => {
      const file = await dir.createFile(name, made.stat.mode & 0o7777, {}, made);
      this.reserved.delete(fh);
      this.files.set(fh, file);
    });
  }

  /**
   * The file native code made at `path` for reserved handle `fh` was closed before `adopt` (nothing to
   * take: the storage finds it as any file it did not make); what adopt forgets is forgotten.
   */
  madeAndClosed(path: string | undefined, fh: number): void {
    if (path !== undefined) this.forgetXattrs(path);
    this.reserved.delete(fh);
  }

  /** The entry at `path` itself (a symlink is not followed). */
  stat(path: string): Promise<EntryStat> {
    if (relativeOf(path) === '') return this.storage.root.stat();
    return this.atParent(path, (dir, name) => dir.stat(name));
  }

  /** The open file's descriptor and size cell, for a native data path (undefined without a descriptor). */
  nativeAccess(fh: number): NativeAccess | undefined {
    return this.handle(fh).nativeAccess();
  }

  /**
   * Runs `use` with the descriptor of the directory at `path` while it is open here, where the storage has
   * one (for native code, which keeps a duplicate), and the names there that are the storage's own (absent
   * or not, only the storage answers for them): what `use` answers, or false where there is none.
   */
  withDirectoryDescriptor(path: string, use: (fd: number, ownNames: readonly string[]) => boolean): Promise<boolean> {
    return this.dirs.use(relativeOf(path), async (dir) => {
      const fd = dir.nativeDescriptor();
      return fd !== undefined && use(fd, dir.ownNames());
    });
  }

  fstat(fh: number): Promise<EntryStat> {
    return this.handle(fh).stat();
  }

  /** Whether handle `fh` was opened for writing (a truncate through it is allowed). */
  writable(fh: number): boolean {
    return canWrite(this.handle(fh).access);
  }

  /** The attributes of the file `fh` as it was opened or created (fstat without asking the storage). */
  openedStat(fh: number): EntryStat {
    return this.handle(fh).opened;
  }

  async getattr(path: string): Promise<PosixStat> {
    return toPosixStat(await this.stat(path));
  }

  async fgetattr(fh: number): Promise<PosixStat> {
    return toPosixStat(await this.fstat(fh));
  }

  /** The entries of a directory with their kind (without . and ..). */
  list(path: string): Promise<DirEntry[]> {
    return this.dirs.use(relativeOf(path), (dir) => dir.read());
  }

  /**
   * Opens the directory at `path` for a listing: a handle whose listDirectory and statInDirectory reach
   * that directory itself (its descriptor) wherever it is renamed; undefined where the storage's directories
   * have no descriptor (a remote tier: list and stat by path).
   */
  async openDirectory(path: string): Promise<number | undefined> {
    const relative = relativeOf(path);
    const dir = relative === '' ? this.storage.root : await this.atParent(relative, (parent, name) => parent.openDirectory(name));
    if (dir.nativeDescriptor() === undefined) {
      if (dir !== this.storage.root) await dir.close();
      return undefined;
    }
    const dh = this.nextListed++;
    this.listed.set(dh, dir);
    return dh;
  }

  private listedDir(dh: number): Dir {
    const dir = this.listed.get(dh);
    if (!dir) throw new StorageError('EBADF', `EBADF: no open directory with handle ${dh}`);
    return dir;
  }

  /** The entries of open directory `dh` (without . and ..), read now. */
  listDirectory(dh: number): Promise<DirEntry[]> {
    return this.listedDir(dh).read();
  }

  /** The entry `name` in open directory `dh` itself (a symlink is not followed), or the directory without a name. */
  statInDirectory(dh: number, name?: string): Promise<EntryStat> {
    return this.listedDir(dh).stat(name === undefined ? undefined : publicName(name));
  }

  async closeDirectory(dh: number): Promise<void> {
    const dir = this.listed.get(dh);
    this.listed.delete(dh);
    if (dir !== undefined && dir !== this.storage.root) await dir.close();
  }

  /** The names of a directory: strings, or bytes for names that are not UTF-8. */
  readdir(path: string): Promise<Array<string | Buffer>> {
    return this.dirs.use(relativeOf(path), async (dir) => ['.', '..', ...(await dir.read()).map((entry) => entry.name)]);
  }

  open(path: string, flags: number): Promise<number> {
    return this.atParent(path, async (dir, name) => {
      // emptied as it opens (a remote object's content is then never fetched)
      const file = await dir.openFile(name, { access: accessOf(writableIfTruncating(flags)), truncate: (flags & O.TRUNC) !== 0 });
      return this.register(file);
    });
  }

  /** Creates `path` (EEXIST if there) open for reading and writing; `made`: the file native code made there so, taken. */
  create(path: string, mode: number, made?: MadeFile): Promise<number> {
    this.forgetXattrs(path);
    return this.atParent(path, async (dir, name) => this.register(await dir.createFile(name, mode & 0o7777, {}, made)));
  }

  /** O_TMPFILE: a file with no name in the directory at `path`, open for reading and writing (see Dir.createUnnamedFile). */
  createUnnamed(path: string, mode: number): Promise<number> {
    return this.dirs.use(relativeOf(path), async (dir) => this.register(await dir.createUnnamedFile(mode & 0o7777)));
  }

  /** Whether the storage makes files without a name (createUnnamed): its root does. */
  get makesUnnamedFiles(): boolean {
    return this.storage.root.node.createUnnamed !== undefined;
  }

  /** The storage writes (append or writeAt) the mount made: one per write request, logged at unmount. */
  readonly writes = { calls: 0, bytes: 0, largest: 0 };

  async read(fh: number, buffer: Buffer, length: number, position: number): Promise<number> {
    const file = this.handle(fh);
    if (position >= file.knownSize) return 0;
    return file.read(position, buffer.subarray(0, length));
  }

  async write(fh: number, buffer: Buffer, length: number, position: number): Promise<number> {
    const open = this.handle(fh);
    const data = buffer.subarray(0, length);
    this.writes.calls++;
    this.writes.bytes += length;
    this.writes.largest = Math.max(this.writes.largest, length);
    // writes that follow each other at the end go down together (the storage batches them)
    await open.writeAt(position, data);
    return length;
  }

  async flush(fh: number): Promise<void> {
    await this.handle(fh).flush();
  }

  async fsync(fh: number, datasync: boolean): Promise<void> {
    const file = this.handle(fh);
    await (datasync ? file.datasync() : file.sync());
  }

  fsyncdir(path: string): Promise<void> {
    return this.dirs.use(relativeOf(path), (dir) => dir.sync());
  }

  async release(fh: number): Promise<void> {
    if (this.reserved.delete(fh)) return; // never given a file (adopt failed)
    const open = this.handle(fh);
    this.files.delete(fh);
    await open.close();
  }

  /** Runs `work` on an open handle of the file at `path`, closed after. */
  private withFile<T>(path: string, access: Mode, work: (file: File) => Promise<T>): Promise<T> {
    return this.atParent(path, async (dir, name) => {
      const file = await dir.openFile(name, { access });
      try {
        return await work(file);
      } finally {
        await file.close();
      }
    });
  }

  truncate(path: string, size: number): Promise<void> {
    return this.withFile(path, Mode.Write, (file) => file.truncate(size));
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    await this.handle(fh).truncate(size);
  }

  // The same changes through an open handle: for a file whose name is gone (unlinked while open).
  async fchmod(fh: number, mode: number): Promise<void> {
    await this.handle(fh).setPermission(mode & 0o7777);
  }

  async fchown(fh: number, uid: number, gid: number): Promise<void> {
    await this.handle(fh).chown(uid, gid);
  }

  async futimens(fh: number, atime: SetTime, mtime: SetTime): Promise<void> {
    await this.handle(fh).utimes(atime, mtime);
  }

  /** fallocate with its mode (0, KEEP_SIZE, PUNCH_HOLE | KEEP_SIZE, ZERO_RANGE; see File.allocate). */
  async fallocate(fh: number, offset: number, length: number, mode = 0): Promise<void> {
    await this.handle(fh).allocate(offset, length, mode);
  }

  /**
   * lseek: SEEK_DATA and SEEK_HOLE through the storage; SEEK_SET and SEEK_END are arithmetic (the kernel
   * does those itself and does not ask). SEEK_CUR is relative to a position this side never sees (it
   * lives in the caller's open file description): EINVAL.
   */
  async lseek(fh: number, offset: number, whence: number): Promise<number> {
    const file = this.handle(fh);
    switch (whence) {
      case SEEK.DATA:
        return file.seek(offset, 'data');
      case SEEK.HOLE:
        return file.seek(offset, 'hole');
      case SEEK.SET:
      case SEEK.END: {
        const at = whence === SEEK.SET ? offset : file.knownSize + offset;
        if (at < 0) throw new StorageError('EINVAL', `EINVAL: lseek to ${at}, before the start of the file`);
        return at;
      }
      default:
        throw new StorageError('EINVAL', `EINVAL: lseek whence ${whence} is not SEEK_SET, SEEK_END, SEEK_DATA or SEEK_HOLE`);
    }
  }

  /** copy_file_range between two open handles; short only at the source's end (File.copyFrom). */
  async copyFileRange(fhIn: number, offsetIn: number, fhOut: number, offsetOut: number, length: number): Promise<number> {
    const source = this.handle(fhIn);
    return this.handle(fhOut).copyFrom(source, offsetIn, offsetOut, length);
  }

  /** The entry at `path` was removed by the data path, beside this: what is known of it here is forgotten. */
  removedBeside(path: string): void {
    this.forgetXattrs(path);
  }

  unlink(path: string): Promise<void> {
    this.forgetXattrs(path);
    return this.atParent(path, (dir, name) => dir.deleteFile(name));
  }

  mkdir(path: string, mode: number): Promise<void> {
    this.forgetXattrs(path);
    return this.atParent(path, async (dir, name) => {
      await (await dir.createDirectory(name, mode & 0o7777)).close();
    });
  }

  /**
   * mknod: a FIFO, socket or device node (the kernel serves their IO itself: a FIFO's data and a socket's
   * connections never come here), or an empty regular file (no type bits, or S_IFREG).
   */
  mknod(path: string, mode: number, device: number): Promise<void> {
    this.forgetXattrs(path);
    return this.atParent(path, async (dir, name) => {
      const kind = (mode & 0o170000) === 0 ? 'file' : kindOfMode(mode);
      if (kind === 'file') return (await dir.createFile(name, mode & 0o7777)).close();
      return dir.makeNode(name, kind as NodeKind, mode & 0o7777, device);
    });
  }

  async rmdir(path: string): Promise<void> {
    this.forgetXattrs(path, 'subtree');
    await this.atParent(path, (dir, name) => dir.removeDirectory(name));
    this.dirs.invalidate(relativeOf(path));
  }

  /** rename(2); renameat2's RENAME_NOREPLACE (EEXIST when `to` exists) or RENAME_EXCHANGE (swap). */
  async rename(from: string, to: string, how: RenameMode = 'replace'): Promise<void> {
    this.forgetXattrs(from, 'subtree');
    this.forgetXattrs(to, 'subtree');
    const [toParent, toName] = parentAndName(to);
    try {
      await this.atParent(from, (dir, name) =>
        this.dirs.use(toParent, (target) => dir.moveEntry(name, target, publicName(toName), { replace: how === 'replace', exchange: how === 'exchange' })),
      );
    } finally {
      // again: an absence found out at either path while the rename ran is not the file there now
      this.forgetXattrs(from, 'subtree');
      this.forgetXattrs(to, 'subtree');
    }
    this.dirs.invalidate(relativeOf(from));
    this.dirs.invalidate(relativeOf(to));
  }

  // Extended attributes: one call on the entry, no open. The kernel asks for security.capability before
  // every write (to drop file capabilities), so the answer "no such attribute" is remembered per path
  // until something changes that path's attributes or name: every change comes through this mount. Such a
  // change forgets before it and after it, and an absence found out while anything was forgotten is not
  // remembered (it may be from before the change).
  async getxattr(path: string, name: string): Promise<Buffer> {
    const attribute = publicName(name);
    const relative = relativeOf(path);
    // an answer, not a failure: without a stack trace (see traceless)
    if (this.absentXattrs.get(relative)?.has(name)) throw traceless(() => new StorageError('ENODATA', `ENODATA: no attribute ${name}`));
    const forgets = this.xattrForgets;
    try {
      if (relative === '') return await this.storage.root.getXattr(attribute);
      return await this.atParent(path, (dir, entry) => dir.getEntryXattr(entry, attribute));
    } catch (error) {
      if ((error as { code?: string }).code === 'ENODATA' && forgets === this.xattrForgets) this.rememberAbsent(relative, name);
      throw error;
    }
  }

  private rememberAbsent(relative: string, name: string): void {
    if (this.absentXattrs.size >= ABSENT_XATTR_PATHS) this.absentXattrs.clear();
    let names = this.absentXattrs.get(relative);
    if (!names) {
      names = new Set();
      this.absentXattrs.set(relative, names);
    }
    names.add(name);
  }

  /**
   * Forgets what is known of the attributes of `path` (`entry`), and of everything below it too (`subtree`:
   * an rmdir or a rename, which can take a directory; a create or unlink names no directory, so it does not
   * scan the table). Setting or removing an attribute forgets everything (`all`): the file may have other names.
   */
  private forgetXattrs(path: string, scope: 'entry' | 'subtree' | 'all' = 'entry'): void {
    this.xattrForgets++;
    if (scope === 'all') {
      this.absentXattrs.clear();
      return;
    }
    const relative = relativeOf(path);
    this.absentXattrs.delete(relative);
    if (scope === 'entry') return;
    const prefix = `${relative}/`;
    for (const key of this.absentXattrs.keys()) if (key.startsWith(prefix)) this.absentXattrs.delete(key);
  }

  /**
   * Whether the storage keeps POSIX ACLs as the kernel means them: its root answers a read of its access
   * ACL with one, or with ENODATA (a file system without ACLs says EOPNOTSUPP). Only a local storage's
   * attributes are the backing file system's; another adapter's are stored, not interpreted.
   */
  async keepsPosixAcls(): Promise<boolean> {
    if (this.storage.adapter.kind !== 'local') return false;
    try {
      await this.storage.root.getXattr(POSIX_ACL_ACCESS);
      return true;
    } catch (error) {
      return isCode(error, 'ENODATA');
    }
  }

  /**
   * Whether directory `path` has a default POSIX ACL (what is made in it takes its ACL from it). Its absence
   * is remembered as any attribute's (getxattr); no ACLs at all (EOPNOTSUPP) is none.
   */
  async hasDefaultAcl(path: string): Promise<boolean> {
    try {
      await this.getxattr(path, POSIX_ACL_DEFAULT);
      return true;
    } catch (error) {
      if (isCode(error, 'ENODATA') || isCode(error, 'EOPNOTSUPP')) return false;
      throw error;
    }
  }

  setxattr(path: string, name: string, value: Buffer, flags: number): Promise<void> {
    const only = onlyOf(flags);
    const attribute = publicName(name);
    return this.changeXattrs(() =>
      relativeOf(path) === ''
        ? this.storage.root.setXattr(attribute, value, only)
        : this.atParent(path, (dir, entry) => dir.setEntryXattr(entry, attribute, value, only)),
    );
  }

  /** A change of an attribute: everything known absent is forgotten before and after it (see getxattr). */
  private async changeXattrs(change: () => Promise<void>): Promise<void> {
    this.forgetXattrs('', 'all');
    try {
      await change();
    } finally {
      this.forgetXattrs('', 'all');
    }
  }

  listxattr(path: string): Promise<Array<string | Buffer>> {
    if (relativeOf(path) === '') return this.storage.root.listXattrs();
    return this.atParent(path, (dir, entry) => dir.listEntryXattrs(entry));
  }

  removexattr(path: string, name: string): Promise<void> {
    const attribute = publicName(name);
    return this.changeXattrs(() =>
      relativeOf(path) === '' ? this.storage.root.removeXattr(attribute) : this.atParent(path, (dir, entry) => dir.removeEntryXattr(entry, attribute)),
    );
  }

  // The attributes through an open handle: for a file without a name (unlinked while open, or O_TMPFILE).
  fgetxattr(fh: number, name: string): Promise<Buffer> {
    return this.handle(fh).getXattr(publicName(name));
  }

  fsetxattr(fh: number, name: string, value: Buffer, flags: number): Promise<void> {
    const file = this.handle(fh);
    return this.changeXattrs(() => file.setXattr(publicName(name), value, onlyOf(flags)));
  }

  flistxattr(fh: number): Promise<Array<string | Buffer>> {
    return this.handle(fh).listXattrs();
  }

  fremovexattr(fh: number, name: string): Promise<void> {
    const file = this.handle(fh);
    return this.changeXattrs(() => file.removeXattr(publicName(name)));
  }

  /** chmod of the entry itself, without opening it (the kernel has resolved symlinks already). */
  chmod(path: string, mode: number): Promise<void> {
    if (relativeOf(path) === '') return this.storage.root.setPermission(mode & 0o7777);
    return this.atParent(path, (dir, name) => dir.setEntryPermission(name, mode & 0o7777));
  }

  /** chown and utimens act on the entry itself: a symlink is changed, not followed (lchown, lutimes). */
  chown(path: string, uid: number, gid: number): Promise<void> {
    if (relativeOf(path) === '') return this.storage.root.chown(uid, gid);
    return this.atParent(path, (dir, name) => dir.chownEntry(name, uid, gid));
  }

  /** Times as the storage takes them: ns since the epoch (bigint), 'now' or 'omit'. */
  utimens(path: string, atime: SetTime, mtime: SetTime): Promise<void> {
    if (relativeOf(path) === '') return this.storage.root.utimes(atime, mtime);
    return this.atParent(path, (dir, name) => dir.utimesEntry(name, atime, mtime));
  }

  symlink(target: Name, path: string): Promise<void> {
    this.forgetXattrs(path);
    return this.atParent(path, (dir, name) => dir.symlink(target, name));
  }

  readlink(path: string): Promise<string | Buffer> {
    return this.atParent(path, (dir, name) => dir.readlink(name));
  }

  link(from: string, to: string): Promise<void> {
    this.forgetXattrs(to);
    const [toParent, toName] = parentAndName(to);
    return this.atParent(from, (dir, name) => this.dirs.use(toParent, (target) => dir.link(name, target, publicName(toName))));
  }

  /** A name at `to` for the file open as `fh` (linkat of the handle: a file made by createUnnamed included). */
  linkHandle(fh: number, to: string): Promise<void> {
    this.forgetXattrs(to);
    const file = this.handle(fh);
    return this.atParent(to, (dir, name) => file.link(dir, name));
  }

  async access(path: string): Promise<void> {
    await this.getattr(path);
  }

  /** statfs of the storage, with favail (free inodes for an unprivileged user: the same here) */
  statfs(): Promise<FsStats & { favail: number }> {
    return this.storage.root.statfs().then((s) => ({ ...s, favail: s.ffree }));
  }

  get openFiles(): number {
    return this.files.size;
  }

  /** Closes every handle the kernel left open, and the cached directories. */
  async close(): Promise<void> {
    const open = [...this.files.values()];
    this.files.clear();
    await Promise.all(open.map((entry) => entry.close()));
    const listed = [...this.listed.keys()];
    await Promise.all(listed.map((dh) => this.closeDirectory(dh)));
    await this.dirs.closeAll();
  }
}
