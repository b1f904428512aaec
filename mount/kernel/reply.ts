// Encoding the replies' bodies (the native session adds fuse_out_header: len u32, error i32, unique u64).
// Each structure is written field by field at its documented offset; unused and padding bytes are zero.
import type { EntryStat } from '../../src/adapters/adapter.js';
import type { FsStats } from '../../src/io/native.js';
import { Size } from './protocol.js';

/** Seconds and nanoseconds, as the cache timeouts travel (valid u64 + valid_nsec u32). */
export interface Timeout {
  sec: number;
  nsec: number;
}

export const timeout = (seconds: number): Timeout => ({ sec: Math.floor(seconds), nsec: Math.round((seconds % 1) * 1e9) });

function writeU64(buffer: Buffer, at: number, value: number | bigint): void {
  buffer.writeBigUInt64LE(BigInt(value), at);
}

function writeTime(buffer: Buffer, secondsAt: number, nsecAt: number, ns: bigint): void {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  buffer.writeBigInt64LE(sec, secondsAt);
  buffer.writeUInt32LE(Number(nsec), nsecAt);
}

/**
 * fuse_attr at `at`: ino u64, size u64, blocks u64, atime u64, mtime u64, ctime u64, atimensec u32,
 * mtimensec u32, ctimensec u32, mode u32, nlink u32, uid u32, gid u32, rdev u32, blksize u32, flags u32.
 */
export function writeAttr(buffer: Buffer, at: number, stat: EntryStat): void {
  writeU64(buffer, at, stat.ino);
  writeU64(buffer, at + 8, stat.size);
  writeU64(buffer, at + 16, stat.blocks);
  writeTime(buffer, at + 24, at + 48, stat.atimeNs);
  writeTime(buffer, at + 32, at + 52, stat.mtimeNs);
  writeTime(buffer, at + 40, at + 56, stat.ctimeNs);
  buffer.writeUInt32LE(stat.mode >>> 0, at + 60);
  buffer.writeUInt32LE(stat.nlink >>> 0, at + 64);
  buffer.writeUInt32LE(stat.uid >>> 0, at + 68);
  buffer.writeUInt32LE(stat.gid >>> 0, at + 72);
  // rdev in the new_encode_dev layout the kernel decodes, which is the dev_t layout for 32-bit numbers
  buffer.writeUInt32LE(stat.rdev >>> 0, at + 76);
  buffer.writeUInt32LE(stat.blksize >>> 0, at + 80);
}

/** fuse_entry_out at `at`: nodeid u64, generation u64, entry_valid u64, attr_valid u64, entry_valid_nsec u32, attr_valid_nsec u32, attr */
export function writeEntry(buffer: Buffer, at: number, nodeid: number, stat: EntryStat | undefined, entry: Timeout, attr: Timeout): void {
  writeU64(buffer, at, nodeid);
  writeU64(buffer, at + 8, 0); // generation: node ids are never reused while mounted
  writeU64(buffer, at + 16, entry.sec);
  writeU64(buffer, at + 24, attr.sec);
  buffer.writeUInt32LE(entry.nsec, at + 32);
  buffer.writeUInt32LE(attr.nsec, at + 36);
  if (stat) writeAttr(buffer, at + 40, stat);
}

export function entryOut(nodeid: number, stat: EntryStat | undefined, entry: Timeout, attr: Timeout): Buffer {
  const buffer = Buffer.alloc(Size.ENTRY_OUT);
  writeEntry(buffer, 0, nodeid, stat, entry, attr);
  return buffer;
}

/** fuse_attr_out: attr_valid u64, attr_valid_nsec u32, dummy u32, attr */
export function attrOut(stat: EntryStat, valid: Timeout): Buffer {
  const buffer = Buffer.alloc(Size.ATTR_OUT);
  writeU64(buffer, 0, valid.sec);
  buffer.writeUInt32LE(valid.nsec, 8);
  writeAttr(buffer, 16, stat);
  return buffer;
}

/** statx(2)'s mask bits: the basic stats (type, mode, nlink, uid, gid, atime, mtime, ctime, ino, size, blocks) and btime */
const STATX_BASIC_STATS = 0x7ff;
const STATX_BTIME = 0x800;

/** fuse_sx_time at `at`: tv_sec i64, tv_nsec u32, reserved i32. */
function writeSxTime(buffer: Buffer, at: number, ns: bigint): void {
  writeTime(buffer, at, at + 8, ns);
}

/**
 * fuse_statx_out: attr_valid u64, attr_valid_nsec u32, flags u32, spare u64[2], then fuse_statx at 32:
 * mask u32, blksize u32, attributes u64, nlink u32, uid u32, gid u32, mode u16, spare u16, ino u64,
 * size u64, blocks u64, attributes_mask u64, atime, btime, ctime, mtime (fuse_sx_time each, from 64),
 * rdev_major u32, rdev_minor u32, dev_major u32, dev_minor u32 (from 128), spare u64[14]. The mask says
 * btime only when the storage keeps one (birthtimeNs not 0); the kernel fills in the device itself.
 */
export function statxOut(stat: EntryStat, valid: Timeout): Buffer {
  const buffer = Buffer.alloc(Size.STATX_OUT);
  writeU64(buffer, 0, valid.sec);
  buffer.writeUInt32LE(valid.nsec, 8);
  const at = 32;
  buffer.writeUInt32LE(STATX_BASIC_STATS | (stat.birthtimeNs !== 0n ? STATX_BTIME : 0), at);
  buffer.writeUInt32LE(stat.blksize >>> 0, at + 4);
  buffer.writeUInt32LE(stat.nlink >>> 0, at + 16);
  buffer.writeUInt32LE(stat.uid >>> 0, at + 20);
  buffer.writeUInt32LE(stat.gid >>> 0, at + 24);
  buffer.writeUInt16LE(stat.mode & 0xffff, at + 28);
  writeU64(buffer, at + 32, stat.ino);
  writeU64(buffer, at + 40, stat.size);
  writeU64(buffer, at + 48, stat.blocks);
  writeSxTime(buffer, at + 64, stat.atimeNs);
  if (stat.birthtimeNs !== 0n) writeSxTime(buffer, at + 80, stat.birthtimeNs);
  writeSxTime(buffer, at + 96, stat.ctimeNs);
  writeSxTime(buffer, at + 112, stat.mtimeNs);
  // rdev as the kernel's new_decode_dev splits the 32-bit dev_t layout GETATTR sends
  const rdev = stat.rdev >>> 0;
  buffer.writeUInt32LE((rdev & 0xfff00) >>> 8, at + 128);
  buffer.writeUInt32LE(((rdev & 0xff) | ((rdev >>> 12) & 0xfff00)) >>> 0, at + 132);
  return buffer;
}

/** fuse_open_out: fh u64, open_flags u32, backing_id i32 (with FOPEN_PASSTHROUGH) */
export function openOut(fh: number, openFlags: number, backingId = 0): Buffer {
  const buffer = Buffer.alloc(Size.OPEN_OUT);
  writeU64(buffer, 0, fh);
  buffer.writeUInt32LE(openFlags, 8);
  buffer.writeInt32LE(backingId, 12);
  return buffer;
}

/** fuse_write_out: size u32, padding u32 */
export function writeOut(size: number): Buffer {
  const buffer = Buffer.alloc(Size.WRITE_OUT);
  buffer.writeUInt32LE(size, 0);
  return buffer;
}

/** fuse_getxattr_out (size probes of GETXATTR and LISTXATTR): size u32, padding u32 */
export const xattrSizeOut = writeOut;

/** fuse_lseek_out: offset u64 */
export function lseekOut(offset: number): Buffer {
  const buffer = Buffer.alloc(Size.LSEEK_OUT);
  writeU64(buffer, 0, offset);
  return buffer;
}

/** fuse_copy_file_range_out (COPY_FILE_RANGE_64): bytes_copied u64, the same one u64 */
export const copyFileRangeOut = lseekOut;

/** fuse_statfs_out: blocks, bfree, bavail, files, ffree u64; bsize, namelen, frsize u32; padding u32; spare u32[6] */
export function statfsOut(s: FsStats): Buffer {
  const buffer = Buffer.alloc(Size.STATFS_OUT);
  writeU64(buffer, 0, s.blocks);
  writeU64(buffer, 8, s.bfree);
  writeU64(buffer, 16, s.bavail);
  writeU64(buffer, 24, s.files);
  writeU64(buffer, 32, s.ffree);
  buffer.writeUInt32LE(s.bsize, 40);
  buffer.writeUInt32LE(s.namemax, 44);
  buffer.writeUInt32LE(s.frsize, 48);
  return buffer;
}

/** d_type of a mode (DT_DIR 4, DT_REG 8, DT_LNK 10, DT_UNKNOWN 0), the form fuse_dirent.type takes. */
export function direntType(mode: number): number {
  return (mode & 0o170000) >>> 12;
}

const align8 = (n: number): number => (n + 7) & ~7;

/** The size of a fuse_dirent (ino u64, off u64, namelen u32, type u32, name, padded to 8) */
export const direntSize = (nameLength: number): number => align8(Size.DIRENT + nameLength);
export const direntplusSize = (nameLength: number): number => align8(Size.DIRENTPLUS + nameLength);

/** Writes a fuse_dirent at `at`; returns its size. */
export function writeDirent(buffer: Buffer, at: number, ino: bigint, nextOffset: number, type: number, name: Buffer): number {
  writeU64(buffer, at, ino);
  writeU64(buffer, at + 8, nextOffset);
  buffer.writeUInt32LE(name.length, at + 16);
  buffer.writeUInt32LE(type, at + 20);
  name.copy(buffer, at + Size.DIRENT);
  const size = direntSize(name.length);
  buffer.fill(0, at + Size.DIRENT + name.length, at + size);
  return size;
}
