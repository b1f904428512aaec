// The IO engine interface: the system calls the storage adapters need, on file descriptors and on names
// relative to directory descriptors. Two implementations: UringEngine (io_uring) and SyncEngine (the
// libuv thread pool). Results are plain values; failures are StorageErrors with the kernel's code.
// Names and paths are name strings (ground/name-bytes.ts): bytes that are not UTF-8 travel escaped, and
// go to the kernel, and come back from it (readdir, readlink, listxattr), as the exact bytes.
import type { FsStats } from './native.js';

import type { SetTime } from '../ground/set-time.js';

export type { SetTime };

export type IoMode = 'io_uring' | 'sync';

export const O = {
  /** the access-mode bits of the flags: RDONLY, WRONLY or RDWR */
  ACCMODE: 0o3,
  RDONLY: 0o0,
  WRONLY: 0o1,
  RDWR: 0o2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOFOLLOW: 0o400000,
  NONBLOCK: 0o4000,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  DSYNC: 0o10000,
  DIRECTORY: 0o200000,
  CLOEXEC: 0o2000000,
  DIRECT: 0o40000,
  PATH: 0o10000000,
  /** a file with no name, in the directory opened (with O_DIRECTORY's bit, as the kernel's O_TMPFILE has it) */
  TMPFILE: 0o20200000,
} as const;

export const AT = {
  FDCWD: -100,
  REMOVEDIR: 0x200,
  SYMLINK_NOFOLLOW: 0x100,
  SYMLINK_FOLLOW: 0x400,
  EMPTY_PATH: 0x1000,
} as const;

export const RESOLVE = {
  NO_XDEV: 0x01,
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
} as const;

/** lseek's whence; DATA and HOLE find data and holes in a sparse file */
export const SEEK = {
  SET: 0,
  CUR: 1,
  END: 2,
  DATA: 3,
  HOLE: 4,
} as const;

/** fallocate(2) mode bits: the ones the storage API passes on (see File.allocate) */
export const FALLOC = {
  KEEP_SIZE: 0x01,
  PUNCH_HOLE: 0x02,
  ZERO_RANGE: 0x10,
} as const;

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export interface Stat {
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: bigint;
  dev: number;
  size: number;
  blocks: number;
  blksize: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
  /** the device a character or block device node stands for, as the kernel encodes dev_t (0 otherwise) */
  rdev: number;
  /** O_DIRECT alignment of memory and of file offsets, 0 where the kernel or file system does not say. */
  dioMemAlign: number;
  dioOffsetAlign: number;
}

export interface DirentRecord {
  name: string;
  /** d_type: 4 directory, 8 regular file, 10 symlink, 0 unknown */
  type: number;
}

export interface IoEngine {
  readonly mode: IoMode;
  /** openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, always: nothing opened escapes `dirfd`. */
  openat(dirfd: number, path: string, flags: number, mode: number): Promise<number>;
  /**
   * A new regular file `name` in `dirfd` (O_CREAT | O_EXCL with `flags`, beneath `dirfd` as openat), its
   * permission exactly `mode` unless the directory's default ACL decided it (the umask's bits given back: a
   * chmod where `umask` took some and no default ACL stood instead); with the statx of the new descriptor.
   * One pool call: a failure leaves no file.
   */
  createFile(dirfd: number, name: string, flags: number, mode: number, umask: number): Promise<{ fd: number; stat: Stat }>;
  closeFd(fd: number): Promise<void>;
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  readv(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number>;
  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  writev(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number>;
  fsync(fd: number, datasync: boolean): Promise<void>;
  /**
   * statx of `name` in `dirfd` (not following a final symlink), or of `dirfd` itself when `name` is '' (made
   * on the calling thread then: statxOfDescriptor in statx.ts).
   */
  statx(dirfd: number, name: string): Promise<Stat>;
  renameat(fromDir: number, from: string, toDir: number, to: string, flags: number): Promise<void>;
  unlinkat(dirfd: number, name: string, flags: number): Promise<void>;
  mkdirat(dirfd: number, name: string, mode: number): Promise<void>;
  /** mknodat: a FIFO, socket or device node; `mode` carries its type bits, `device` is a dev_t (makedev) */
  mknodat(dirfd: number, name: string, mode: number, device: number): Promise<void>;
  symlinkat(target: string, dirfd: number, name: string): Promise<void>;
  /** flags: AT.SYMLINK_FOLLOW follows a final symlink of `from` (/proc/self/fd/N: the open file itself) */
  linkat(fromDir: number, from: string, toDir: number, to: string, flags?: number): Promise<void>;
  readlinkat(dirfd: number, name: string): Promise<string>;
  readdir(dirfd: number): Promise<DirentRecord[]>;
  fchmod(fd: number, mode: number): Promise<void>;
  fchown(fd: number, uid: number, gid: number): Promise<void>;
  futimens(fd: number, atime: SetTime, mtime: SetTime): Promise<void>;
  /** chmod of `name` in `dirfd` itself (a symlink is not followed: EOPNOTSUPP) */
  lchmod(dirfd: number, name: string, mode: number): Promise<void>;
  /** chown of `name` in `dirfd` itself (a symlink is not followed) */
  lchown(dirfd: number, name: string, uid: number, gid: number): Promise<void>;
  /** times of `name` in `dirfd` itself (a symlink is not followed) */
  lutimes(dirfd: number, name: string, atime: SetTime, mtime: SetTime): Promise<void>;
  fallocate(fd: number, mode: number, offset: number, length: number): Promise<void>;
  /** lseek with SEEK_DATA or SEEK_HOLE: where the next data or hole at or after `offset` starts (ENXIO past the end) */
  lseek(fd: number, offset: number, whence: number): Promise<number>;
  /** one copy_file_range(2) at explicit offsets: resolves with the bytes copied (fewer than asked, 0 at the source's end) */
  copyFileRange(fdIn: number, offsetIn: number, fdOut: number, offsetOut: number, length: number): Promise<number>;
  /**
   * Extended attributes of the open file or directory `fd` (entry ''), or of the entry `entry` of the
   * directory `fd` itself (a symlink is not followed); flags: 1 create only, 2 replace only.
   */
  getxattr(fd: number, entry: string, name: string): Promise<Buffer>;
  setxattr(fd: number, entry: string, name: string, value: Uint8Array, flags: number): Promise<void>;
  listxattr(fd: number, entry: string): Promise<string[]>;
  removexattr(fd: number, entry: string, name: string): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  fstatfs(fd: number): Promise<FsStats>;
  /**
   * Waits for every request in flight, then releases the engine. Later calls fail with EBADF; so does an open
   * (openat, createFile) that gives its descriptor after the close began: that descriptor is closed before
   * close() resolves.
   */
  close(): Promise<void>;
}
