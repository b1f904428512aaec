// struct statx as the kernel lays it out (linux/stat.h), decoded into a Stat; device numbers as dev_t.
import { errnoError, storageError } from '../ground/errors.js';
import type { Stat } from './engine.js';
import { cString, native } from './native.js';

export const STATX_SIZE = 256;
const STATX_BTIME = 0x800;
// STATX_BASIC_STATS | STATX_BTIME | STATX_DIOALIGN
export const STATX_MASK = 0x7ff | STATX_BTIME | 0x2000;

function timeNs(view: DataView, at: number): bigint {
  return view.getBigInt64(at, true) * 1_000_000_000n + BigInt(view.getUint32(at + 8, true));
}

export function decodeStatx(buffer: Uint8Array): Stat {
  const view = new DataView(buffer.buffer, buffer.byteOffset, STATX_SIZE);
  const mask = view.getUint32(0, true);
  const hasDio = (mask & 0x2000) !== 0;
  return {
    blksize: view.getUint32(4, true),
    nlink: view.getUint32(16, true),
    uid: view.getUint32(20, true),
    gid: view.getUint32(24, true),
    mode: view.getUint16(28, true),
    ino: view.getBigUint64(32, true),
    size: Number(view.getBigUint64(40, true)),
    blocks: Number(view.getBigUint64(48, true)),
    atimeNs: timeNs(view, 64),
    birthtimeNs: (mask & STATX_BTIME) !== 0 ? timeNs(view, 80) : 0n, // 0n: the file system keeps none
    ctimeNs: timeNs(view, 96),
    mtimeNs: timeNs(view, 112),
    dev: view.getUint32(136, true) * 0x100000 + view.getUint32(140, true),
    rdev: deviceNumber(view.getUint32(128, true), view.getUint32(132, true)),
    dioMemAlign: hasDio ? view.getUint32(152, true) : 0,
    dioOffsetAlign: hasDio ? view.getUint32(156, true) : 0,
  };
}

/**
 * statx of the open descriptor `fd` itself, made on the calling thread: it reads the inode the descriptor
 * holds in memory, so it never waits for IO on a local file system, where io_uring (which hands every
 * STATX to an io-wq worker) or the thread pool would cost two thread wake-ups.
 */
export function statxOfDescriptor(fd: number): Stat {
  const out = new Uint8Array(STATX_SIZE);
  const rc = native.fstatx(fd, STATX_MASK, out);
  if (rc < 0) throw errnoError(-rc, 'statx');
  return decodeStatx(out);
}

const ENOENT = 2;

/**
 * statx of `name` in `dirfd` (a final symlink not followed) made on the calling thread when the dentry
 * cache has the answer (statxCached in native/src/blocking.cc: no IO, no lookup in the file system, a few
 * microseconds); undefined when it has not, for the caller to stat the slow way. An absence the cache
 * knows is ENOENT; any other error is left to the slow way too, so that errors stay the kernel's statx's. A stat through io_uring (always handed to an io-wq worker) costs two thread wake-ups and
 * 3x the CPU here (BENCHMARKS.md, branch metaperf); this blocks the event loop no longer than a read of
 * memory, which is what the metadata requests of a mount stat (names just looked up, made or checked).
 */
export function statxOfCachedName(dirfd: number, name: string): Stat | undefined {
  const out = new Uint8Array(STATX_SIZE);
  const rc = native.statxCached(dirfd, cString(name), STATX_MASK, out);
  if (rc === -ENOENT) throw errnoError(ENOENT, 'statx', name);
  if (rc < 0) return undefined;
  return decodeStatx(out);
}

/** AT_SYMLINK_NOFOLLOW, plus AT_EMPTY_PATH when the descriptor itself is asked about. */
export const statxFlags = (name: string): number => 0x100 | (name === '' ? 0x1000 : 0);

/**
 * The device number (dev_t) of `major`:`minor` as Linux and glibc encode it (makedev(3)): what mknod(2)
 * takes, what stat(2) answers as st_rdev and Node's fs.Stats as rdev. Linux devices have a 12-bit major
 * and a 20-bit minor, so the number fits in 32 bits.
 */
export function deviceNumber(major: number, minor: number): number {
  const valid = (value: number, bits: number) => Number.isInteger(value) && value >= 0 && value < 2 ** bits;
  if (!valid(major, 12) || !valid(minor, 20)) {
    throw storageError('EINVAL', `a device is major 0 to 4095, minor 0 to 1048575; got ${String(major)}:${String(minor)}`);
  }
  return (minor & 0xff) + major * 0x100 + (minor >>> 8) * 0x100000;
}
