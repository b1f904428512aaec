// The system calls that run on the libuv thread pool through the native addon: the whole of the sync IO
// mode's path operations, and what io_uring has no opcode for (readlink, readdir, mknod, chmod, chown,
// utimens, statfs, lseek, copy_file_range) in the io_uring mode.
import { decodeName, splitNames } from '../ground/name-bytes.js';
import { errnoError } from '../ground/errors.js';
import { AT, RESOLVE, type DirentRecord, type Stat, type SetTime } from './engine.js';
import { cString, native, type FsStats } from './native.js';
import { decodeStatx, STATX_MASK, STATX_SIZE, statxFlags } from './statx.js';

const blocking = native.blocking;

export const BENEATH = RESOLVE.BENEATH | RESOLVE.NO_MAGICLINKS;

function check(result: number, syscall: string, path?: string): number {
  if (result < 0) throw errnoError(-result, syscall, path);
  return result;
}

function checked<T>(result: T | number, syscall: string, path?: string): T {
  if (typeof result === 'number') throw errnoError(-result, syscall, path);
  return result;
}

export async function openat(dirfd: number, path: string, flags: number, mode: number): Promise<number> {
  return check(await blocking.openat2(dirfd, cString(path), flags, mode, BENEATH), 'openat2', path);
}

/** The steps of blocking.createFile, by the number its error carries above the errno. */
const CREATE_STEPS = ['openat2', 'fcntl O_DIRECT', 'getxattr of the default ACL', 'fchmod', 'statx'];

/** blocking.createFile: the new file's descriptor and its statx, in one pool call. */
export async function createFile(dirfd: number, name: string, flags: number, mode: number, umask: number): Promise<{ fd: number; stat: Stat }> {
  const out = new Uint8Array(STATX_SIZE);
  const result = await blocking.createFile(dirfd, cString(name), flags, mode, umask, STATX_MASK, out);
  if (result < 0) throw errnoError(-result & 0xffff, CREATE_STEPS[-result >> 16] ?? 'openat2', name);
  return { fd: result, stat: decodeStatx(out) };
}

export async function closeFd(fd: number): Promise<void> {
  check(await blocking.close(fd), 'close');
}

export async function statx(dirfd: number, name: string): Promise<Stat> {
  const out = new Uint8Array(STATX_SIZE);
  check(await blocking.statx(dirfd, cString(name), statxFlags(name), STATX_MASK, out), 'statx', name);
  return decodeStatx(out);
}

export async function renameat(fromDir: number, from: string, toDir: number, to: string, flags: number): Promise<void> {
  check(await blocking.renameat2(fromDir, cString(from), toDir, cString(to), flags), 'renameat2', to);
}

export async function unlinkat(dirfd: number, name: string, flags: number): Promise<void> {
  check(await blocking.unlinkat(dirfd, cString(name), flags), flags & AT.REMOVEDIR ? 'rmdir' : 'unlink', name);
}

export async function mkdirat(dirfd: number, name: string, mode: number): Promise<void> {
  check(await blocking.mkdirat(dirfd, cString(name), mode), 'mkdirat', name);
}

export async function mknodat(dirfd: number, name: string, mode: number, device: number): Promise<void> {
  check(await blocking.mknodat(dirfd, cString(name), mode, device), 'mknodat', name);
}

export async function symlinkat(target: string, dirfd: number, name: string): Promise<void> {
  check(await blocking.symlinkat(cString(target), dirfd, cString(name)), 'symlinkat', name);
}

export async function linkat(fromDir: number, from: string, toDir: number, to: string, flags = 0): Promise<void> {
  check(await blocking.linkat(fromDir, cString(from), toDir, cString(to), flags), 'linkat', to);
}

export async function readlinkat(dirfd: number, name: string): Promise<string> {
  return decodeName(checked(await blocking.readlinkat(dirfd, cString(name)), 'readlinkat', name));
}

export async function readdir(dirfd: number): Promise<DirentRecord[]> {
  const { names, types } = checked(await blocking.readdir(dirfd), 'readdir');
  return splitNames(names).map((name, i) => ({ name, type: types[i]! }));
}

export async function fchmod(fd: number, mode: number): Promise<void> {
  check(await blocking.fchmod(fd, mode), 'fchmod');
}

export async function fchown(fd: number, uid: number, gid: number): Promise<void> {
  check(await blocking.fchown(fd, uid, gid), 'fchown');
}

export async function futimens(fd: number, atime: SetTime, mtime: SetTime): Promise<void> {
  check(await blocking.futimens(fd, atime, mtime), 'futimens');
}

export async function lchmod(dirfd: number, name: string, mode: number): Promise<void> {
  check(await blocking.lchmod(dirfd, cString(name), mode), 'fchmodat2', name);
}

export async function lchown(dirfd: number, name: string, uid: number, gid: number): Promise<void> {
  check(await blocking.fchownat(dirfd, cString(name), uid, gid, AT.SYMLINK_NOFOLLOW), 'fchownat', name);
}

export async function lutimes(dirfd: number, name: string, atime: SetTime, mtime: SetTime): Promise<void> {
  check(await blocking.utimensat(dirfd, cString(name), atime, mtime, AT.SYMLINK_NOFOLLOW), 'utimensat', name);
}

export async function getxattr(fd: number, entry: string, name: string): Promise<Buffer> {
  return checked(await blocking.getxattr(fd, cString(entry), cString(name)), 'getxattr', entry || name);
}

export async function setxattr(fd: number, entry: string, name: string, value: Uint8Array, flags: number): Promise<void> {
  check(await blocking.setxattr(fd, cString(entry), cString(name), value, flags), 'setxattr', entry || name);
}

export async function listxattr(fd: number, entry: string): Promise<string[]> {
  return splitNames(checked(await blocking.listxattr(fd, cString(entry)), 'listxattr', entry || undefined));
}

export async function removexattr(fd: number, entry: string, name: string): Promise<void> {
  check(await blocking.removexattr(fd, cString(entry), cString(name)), 'removexattr', entry || name);
}

export async function fallocate(fd: number, mode: number, offset: number, length: number): Promise<void> {
  check(await blocking.fallocate(fd, mode, offset, length), 'fallocate');
}

export async function ftruncate(fd: number, length: number): Promise<void> {
  check(await blocking.ftruncate(fd, length), 'ftruncate');
}

export async function lseek(fd: number, offset: number, whence: number): Promise<number> {
  return check(await blocking.lseek(fd, offset, whence), 'lseek');
}

export async function copyFileRange(fdIn: number, offsetIn: number, fdOut: number, offsetOut: number, length: number): Promise<number> {
  return check(await blocking.copyFileRange(fdIn, offsetIn, fdOut, offsetOut, length), 'copy_file_range');
}

export async function fstatfs(fd: number): Promise<FsStats> {
  return checked(await blocking.fstatfs(fd), 'fstatfs');
}
