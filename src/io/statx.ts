// struct statx as the kernel lays it out (linux/stat.h), decoded into a Stat.
import type { Stat } from './engine.js';

export const STATX_SIZE = 256;
// STATX_BASIC_STATS | STATX_BTIME | STATX_DIOALIGN
export const STATX_MASK = 0x7ff | 0x800 | 0x2000;

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
    birthtimeNs: timeNs(view, 80),
    ctimeNs: timeNs(view, 96),
    mtimeNs: timeNs(view, 112),
    dev: view.getUint32(136, true) * 0x100000 + view.getUint32(140, true),
    dioMemAlign: hasDio ? view.getUint32(152, true) : 0,
    dioOffsetAlign: hasDio ? view.getUint32(156, true) : 0,
  };
}

/** AT_SYMLINK_NOFOLLOW, plus AT_EMPTY_PATH when the descriptor itself is asked about. */
export const statxFlags = (name: string): number => 0x100 | (name === '' ? 0x1000 : 0);
