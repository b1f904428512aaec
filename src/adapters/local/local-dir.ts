// A directory open in a LocalAdapter: a descriptor opened beneath the root. Every call names a single
// entry relative to it, so nothing reaches outside the root: openat2 refuses to resolve out of it, and
// the other *at calls act on the entry itself (never following a final symlink).
import { AT, O, RENAME_EXCHANGE, RENAME_NOREPLACE, type IoEngine, type SetTime, type Stat } from '../../io/engine.js';
import type { FsStats } from '../../io/native.js';
import { isCode, storageError } from '../../ground/errors.js';
import {
  kindOfMode,
  POSIX_ACL_DEFAULT,
  TYPE_BITS,
  type DirEntry,
  type DirNode,
  type EntryKind,
  type EntryStat,
  type FileNode,
  type MadeFile,
  type NodeKind,
  type OpenFlags,
  type RenameMode,
  type XattrNode,
} from '../adapter.js';
import { FdNode, fdXattrs, withKind } from './fd-node.js';
import type { InodeTable } from './inode-table.js';
import { LocalFile, writeFully } from './local-file.js';

export interface LocalContext {
  engine: IoEngine;
  inodes: InodeTable;
  /** descriptor of the root's temporary directory, for flushWrite */
  tmpFd: number;
  umask: number;
  nextTempName(): string;
}

const KIND_BY_DTYPE: Record<number, EntryKind> = { 1: 'fifo', 2: 'char-device', 4: 'directory', 6: 'block-device', 8: 'file', 10: 'symlink', 12: 'socket' };
const DIRECT_ALIGNMENT_FALLBACK = 4096;

function openFlags(flags: OpenFlags): number {
  const access = flags.read && flags.write ? O.RDWR : flags.write ? O.WRONLY : O.RDONLY;
  // O_NONBLOCK: opening a FIFO or device placed under the root must not hang a worker (then EINVAL);
  // it changes nothing for regular files
  return access | O.CLOEXEC | O.NONBLOCK | (flags.direct ? O.DIRECT : 0) | (flags.dsync ? O.DSYNC : 0);
}

export class LocalDir extends FdNode implements DirNode {
  constructor(
    private readonly context: LocalContext,
    fd: number,
  ) {
    super(context.engine, fd);
  }

  /**
   * Whether making an entry here with `mode` lost bits to the process umask: it has some of them, and this
   * directory has no default POSIX ACL. Where it has one, the file system applied the ACL instead of the
   * umask (as Linux does for every new entry there): the mode and ACL it gave stand, and a chmod would widen
   * them (an ACL's "other::---" would become the mode's other bits). Another failure to tell is an error:
   * guessing "none" would chmod past what the ACL gave.
   */
  private async umaskTook(mode: number): Promise<boolean> {
    if ((mode & this.context.umask) === 0) return false;
    try {
      await this.engine.getxattr(this.fd, '', POSIX_ACL_DEFAULT);
      return false;
    } catch (error) {
      if (isCode(error, 'ENODATA') || isCode(error, 'EOPNOTSUPP')) return true; // none, or no ACLs here at all
      throw error;
    }
  }

  /** Runs `finish` on the entry `name` just made; when it fails, the entry is removed (best effort) and its error reported. */
  private async finishMade(name: string, directory: boolean, finish: () => Promise<void>): Promise<void> {
    try {
      await finish();
    } catch (error) {
      await this.engine.unlinkat(this.fd, name, directory ? AT.REMOVEDIR : 0).catch(() => undefined);
      throw error;
    }
  }

  async mkdir(name: string, mode: number): Promise<void> {
    await this.engine.mkdirat(this.fd, name, mode);
    await this.finishMade(name, true, async () => {
      if (!(await this.umaskTook(mode))) return;
      const dir = await this.openDir(name);
      try {
        await this.engine.fchmod(dir.fd, mode);
      } finally {
        await dir.close();
      }
    });
  }

  async mknod(name: string, kind: NodeKind, mode: number, device: number): Promise<void> {
    await this.engine.mknodat(this.fd, name, TYPE_BITS[kind] | mode, device);
    await this.finishMade(name, false, async () => {
      if (await this.umaskTook(mode)) await this.engine.lchmod(this.fd, name, mode);
    });
  }

  /** Opens the directory `name`; `extraFlags` O.NOFOLLOW refuses a final symlink (ELOOP). */
  async openDir(name: string, extraFlags = 0): Promise<LocalDir> {
    const fd = await this.engine.openat(this.fd, name, O.RDONLY | O.DIRECTORY | O.CLOEXEC | extraFlags, 0);
    return new LocalDir(this.context, fd);
  }

  /** The open file `fd`; `made`: its statx, taken already (else asked for), `sizeCell` where its size is kept already. */
  private async fileNode(fd: number, flags: OpenFlags, made?: Stat, sizeCell?: Float64Array): Promise<FileNode> {
    try {
      const stat = made ?? (await this.engine.statx(fd, ''));
      if (kindOfMode(stat.mode) === 'directory') throw storageError('EISDIR', 'cannot open a directory as a file');
      if (kindOfMode(stat.mode) !== 'file') throw storageError('EINVAL', 'not a regular file');
      const alignment = flags.direct ? Math.max(stat.dioMemAlign, stat.dioOffsetAlign) || DIRECT_ALIGNMENT_FALLBACK : 0;
      return new LocalFile(this.engine, this.context.inodes, fd, this.context.inodes.acquire(stat, sizeCell), alignment, stat);
    } catch (error) {
      await this.engine.closeFd(fd).catch(() => undefined);
      throw error;
    }
  }

  /** The file made, its exact mode given and its statx taken in one pool call (IoEngine.createFile). */
  async createFile(name: string, mode: number, flags: OpenFlags): Promise<FileNode> {
    const { fd, stat } = await this.engine.createFile(this.fd, name, openFlags(flags), mode, this.context.umask);
    return this.fileNode(fd, flags, stat);
  }

  async adoptFile(name: string, mode: number, flags: OpenFlags, made: MadeFile): Promise<FileNode> {
    made.taken = true;
    return this.madeFile(made.fd, name, mode, flags, made.stat, made.sizeCell);
  }

  /** O_TMPFILE in this directory: a file of its file system with no name (EOPNOTSUPP where the file system has none). */
  async createUnnamed(mode: number, flags: OpenFlags): Promise<FileNode> {
    const fd = await this.engine.openat(this.fd, '.', openFlags(flags) | O.TMPFILE, mode);
    return this.madeFile(fd, undefined, mode, flags);
  }

  /**
   * The file just made as `fd`, named `name` (or none): given its exact mode where the umask took bits
   * (umaskTook); on failure closed, and removed when it has a name.
   */
  private async madeFile(fd: number, name: string | undefined, mode: number, flags: OpenFlags, stat?: Stat, sizeCell?: Float64Array): Promise<FileNode> {
    const exact = async () => {
      if (await this.umaskTook(mode)) await this.engine.fchmod(fd, mode);
    };
    try {
      await (name === undefined ? exact() : this.finishMade(name, false, exact));
    } catch (error) {
      await this.engine.closeFd(fd).catch(() => undefined);
      throw error;
    }
    return this.fileNode(fd, flags, stat, sizeCell);
  }

  async openFile(name: string, flags: OpenFlags): Promise<FileNode> {
    const fd = await this.engine.openat(this.fd, name, openFlags(flags), 0);
    return this.fileNode(fd, flags);
  }

  async flushWrite(name: string, buffers: readonly Uint8Array[], mode: number, flags: OpenFlags): Promise<FileNode> {
    const { engine, tmpFd } = this.context;
    const temp = this.context.nextTempName();
    const fd = await engine.openat(tmpFd, temp, openFlags(flags) | O.CREAT | O.EXCL, mode);
    try {
      // made in the temporary directory, not in this one: a default ACL here does not apply to it, and its
      // permission is set exactly (over what the umask, or the temporary directory's inherited ACL, gave)
      if ((mode & this.context.umask) !== 0) await engine.fchmod(fd, mode);
      await writeFully(engine, fd, buffers, 0);
      await engine.fsync(fd, false);
      await engine.renameat(tmpFd, temp, this.fd, name, 0);
    } catch (error) {
      await engine.closeFd(fd).catch(() => undefined);
      await engine.unlinkat(tmpFd, temp, 0).catch(() => undefined);
      throw error;
    }
    try {
      await this.sync();
    } catch (error) {
      await engine.closeFd(fd).catch(() => undefined);
      const code = (error as { code?: string }).code ?? 'EIO';
      throw storageError(code, 'flushWrite: the new content replaced the file, but the directory fsync failed, so a crash may bring back the old one', {
        syscall: 'fsync',
        path: name,
        cause: error,
      });
    }
    return this.fileNode(fd, flags);
  }

  async list(): Promise<DirEntry[]> {
    const records = await this.engine.readdir(this.fd);
    return Promise.all(
      records.map(async ({ name, type }) => ({
        name,
        // d_type is unknown on some file systems: ask statx then
        kind: KIND_BY_DTYPE[type] ?? (type === 0 ? (await this.stat(name)).kind : 'other'),
      })),
    );
  }

  async stat(name: string): Promise<EntryStat> {
    return withKind(await this.engine.statx(this.fd, name));
  }

  rename(from: string, to: DirNode, toName: string, mode: RenameMode): Promise<void> {
    const flags = mode === 'replace' ? 0 : mode === 'noreplace' ? RENAME_NOREPLACE : RENAME_EXCHANGE;
    return this.engine.renameat(this.fd, from, (to as LocalDir).fd, toName, flags);
  }

  unlink(name: string): Promise<void> {
    return this.engine.unlinkat(this.fd, name, 0);
  }

  rmdir(name: string): Promise<void> {
    return this.engine.unlinkat(this.fd, name, AT.REMOVEDIR);
  }

  symlink(target: string, name: string): Promise<void> {
    return this.engine.symlinkat(target, this.fd, name);
  }

  readlink(name: string): Promise<string> {
    return this.engine.readlinkat(this.fd, name);
  }

  link(name: string, to: DirNode, toName: string): Promise<void> {
    return this.engine.linkat(this.fd, name, (to as LocalDir).fd, toName);
  }

  chmodEntry(name: string, mode: number): Promise<void> {
    return this.engine.lchmod(this.fd, name, mode);
  }

  chownEntry(name: string, uid: number, gid: number): Promise<void> {
    return this.engine.lchown(this.fd, name, uid, gid);
  }

  utimesEntry(name: string, atime: SetTime, mtime: SetTime): Promise<void> {
    return this.engine.lutimes(this.fd, name, atime, mtime);
  }

  entryXattrs(name: string): XattrNode {
    return fdXattrs(this.engine, this.fd, name);
  }

  sync(): Promise<void> {
    return this.engine.fsync(this.fd, false);
  }

  statfs(): Promise<FsStats> {
    return this.engine.fstatfs(this.fd);
  }

  descriptor(): number {
    return this.fd;
  }

  close(): Promise<void> {
    return this.engine.closeFd(this.fd);
  }
}
