// Decoding what the kernel sends: the request header (fuse_in_header: len u32, opcode u32, unique u64,
// nodeid u64, uid u32, gid u32, pid u32, total_extlen u16, padding u16 = 40 bytes) and the bodies, each
// read field by field at its documented offset. A body shorter than its structure, or a name without its
// NUL, is a ProtocolError (answered EINVAL and logged, never a crash).
import { STATX_SIZE } from '../../src/io/statx.js';
import { Opcode, Size } from './protocol.js';

export class ProtocolError extends Error {}

export interface Request {
  opcode: number;
  unique: number;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  /** the body: after the header, before any extensions */
  body: Buffer;
  /**
   * A LOOKUP's struct statx of the name, made by the data path where it answers LOOKUPs (in an attached
   * directory, native/src/fuse/data-path.cc ServeLookup): it comes after the request's own bytes, then
   * `removals` (a u64).
   */
  statx?: Buffer;
  /** with `statx`: how many names JavaScript had taken away (unnamed) before the statx was made */
  removals?: number;
  /**
   * An UNLINK the data path made and answered (native/src/fuse/data-path.cc ServeUnlink): the node whose
   * name it was and that node's file; JavaScript only updates its table (no reply). Comes after the
   * request's own bytes: the u64 UNLINKED_HERE, then the node, the inode number and the birth time (u64s).
   */
  unlinkedHere?: { node: number; ino: bigint; born: bigint };
  /**
   * A CREATE whose file the data path made (native/src/fuse/data-path.cc ServeCreate): the descriptor it
   * opened, now JavaScript's to keep or close, and its struct statx; JavaScript answers the request. Comes
   * after the request's own bytes: the u64 CREATED_HERE, the descriptor (u64), the statx.
   */
  created?: { fd: number; statx: Buffer };
  /**
   * A CREATE the data path made and answered (native/src/fuse/data-path.cc AnswerCreate) with a slot
   * JavaScript reserved (giveCreateSlot): the descriptor of the file, now JavaScript's, the slot's node id and
   * handle, and the file's struct statx; JavaScript takes the file (no reply). Comes after the request's own
   * bytes: the u64 ANSWERED_HERE, the descriptor, the node, the handle (u64s), the statx.
   */
  answered?: AnsweredCreate;
}

/** What the data path tells of a CREATE it made and answered (Request.answered). */
export interface AnsweredCreate {
  fd: number;
  node: number;
  fh: number;
  statx: Buffer;
}

/** The marker of an UNLINK the data path made ("unlinked" in ASCII, as a little-endian u64: data-path.h kUnlinkedHere). */
const UNLINKED_HERE = 0x64656b6e696c6e75n;
/** The marker of a CREATE whose file the data path made ("created": data-path.h kCreatedHere). */
const CREATED_HERE = 0x0064657461657263n;
/** The marker of a CREATE the data path made and answered ("answered": data-path.h kAnsweredHere). */
const ANSWERED_HERE = 0x6465726577736e61n;

/** A u64 that the kernel keeps small (node ids, uniques, file handles we made): as a number. */
function u64(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at) + buffer.readUInt32LE(at + 4) * 0x1_0000_0000;
}

/** The header of a raw request; a request too short for it, or whose length lies, is a ProtocolError. */
export function decodeRequest(raw: Buffer): Request {
  if (raw.length < Size.IN_HEADER) throw new ProtocolError(`a request of ${raw.length} bytes is shorter than its header`);
  const len = raw.readUInt32LE(0);
  const opcode = raw.readUInt32LE(4);
  const statx = opcode === Opcode.LOOKUP && raw.length === len + STATX_SIZE + 8;
  const unlinkedHere = opcode === Opcode.UNLINK && raw.length === len + 32 && raw.readBigUInt64LE(len) === UNLINKED_HERE;
  const created = opcode === Opcode.CREATE && raw.length === len + 16 + STATX_SIZE && raw.readBigUInt64LE(len) === CREATED_HERE;
  const answered = opcode === Opcode.CREATE && raw.length === len + 32 + STATX_SIZE && raw.readBigUInt64LE(len) === ANSWERED_HERE;
  if (len !== raw.length && !statx && !unlinkedHere && !created && !answered)
    throw new ProtocolError(`a request says it has ${len} bytes, ${raw.length} arrived`);
  const extensions = raw.readUInt16LE(36) * 8;
  if (Size.IN_HEADER + extensions > len) throw new ProtocolError('request extensions longer than the request');
  return {
    opcode,
    unique: u64(raw, 8),
    nodeid: u64(raw, 16),
    uid: raw.readUInt32LE(24),
    gid: raw.readUInt32LE(28),
    pid: raw.readUInt32LE(32),
    body: raw.subarray(Size.IN_HEADER, len - extensions),
    ...(statx ? { statx: raw.subarray(len, len + STATX_SIZE), removals: u64(raw, len + STATX_SIZE) } : {}),
    ...(unlinkedHere ? { unlinkedHere: { node: u64(raw, len + 8), ino: raw.readBigUInt64LE(len + 16), born: raw.readBigUInt64LE(len + 24) } } : {}),
    ...(created ? { created: { fd: u64(raw, len + 8), statx: raw.subarray(len + 16, len + 16 + STATX_SIZE) } } : {}),
    ...(answered
      ? { answered: { fd: u64(raw, len + 8), node: u64(raw, len + 16), fh: u64(raw, len + 24), statx: raw.subarray(len + 32, len + 32 + STATX_SIZE) } }
      : {}),
  };
}

/** Reads a body front to back: fixed fields, then NUL-terminated names, then the rest. */
export class BodyReader {
  private at = 0;

  constructor(private readonly body: Buffer) {}

  private need(bytes: number): void {
    if (this.at + bytes > this.body.length) throw new ProtocolError(`request body too short (${this.body.length} bytes)`);
  }

  u32(): number {
    this.need(4);
    const value = this.body.readUInt32LE(this.at);
    this.at += 4;
    return value;
  }

  u64(): number {
    this.need(8);
    const value = u64(this.body, this.at);
    this.at += 8;
    return value;
  }

  /** A signed 64-bit field (times may be before 1970) */
  i64(): bigint {
    this.need(8);
    const value = this.body.readBigInt64LE(this.at);
    this.at += 8;
    return value;
  }

  skip(bytes: number): this {
    this.need(bytes);
    this.at += bytes;
    return this;
  }

  /** A NUL-terminated name as its bytes (without the NUL). */
  name(): Buffer {
    const end = this.body.indexOf(0, this.at);
    if (end < 0) throw new ProtocolError('a name in the request has no terminating NUL');
    const name = this.body.subarray(this.at, end);
    this.at = end + 1;
    return name;
  }

  /** Everything not read yet. */
  rest(): Buffer {
    const rest = this.body.subarray(this.at);
    this.at = this.body.length;
    return rest;
  }
}

export const reader = (request: Request): BodyReader => new BodyReader(request.body);

// The bodies that several operations share.

/** fuse_read_in (READ, READDIR, READDIRPLUS): fh u64, offset u64, size u32, read_flags u32, lock_owner u64, flags u32, padding */
export function readIn(request: Request): { fh: number; offset: number; size: number } {
  const r = reader(request);
  return { fh: r.u64(), offset: r.u64(), size: r.u32() };
}

/** fuse_write_in: fh u64, offset u64, size u32, write_flags u32, lock_owner u64, flags u32, padding u32; then the data */
export function writeIn(request: Request): { fh: number; offset: number; data: Buffer; writeFlags: number } {
  const r = reader(request);
  const fh = r.u64();
  const offset = r.u64();
  const size = r.u32();
  const writeFlags = r.u32();
  const data = r.skip(16).rest();
  if (data.length !== size) throw new ProtocolError(`a WRITE of ${size} bytes carried ${data.length}`);
  return { fh, offset, data, writeFlags };
}

/** fuse_release_in (RELEASE, RELEASEDIR), fuse_flush_in, fuse_fsync_in: all start with fh u64, then a u32 of flags */
export function fhIn(request: Request): { fh: number; flags: number } {
  const r = reader(request);
  return { fh: r.u64(), flags: r.u32() };
}

/** fuse_lseek_in: fh u64, offset u64 (signed, a loff_t), whence u32, padding u32 */
export function lseekIn(request: Request): { fh: number; offset: number; whence: number } {
  const r = reader(request);
  return { fh: r.u64(), offset: Number(r.i64()), whence: r.u32() };
}

/** fuse_copy_file_range_in (COPY_FILE_RANGE and COPY_FILE_RANGE_64): fh_in, off_in, nodeid_out, fh_out, off_out, len, flags, all u64 */
export interface CopyFileRangeIn {
  fhIn: number;
  offsetIn: number;
  nodeOut: number;
  fhOut: number;
  offsetOut: number;
  length: number;
  flags: number;
}

export function copyFileRangeIn(request: Request): CopyFileRangeIn {
  const r = reader(request);
  return { fhIn: r.u64(), offsetIn: r.u64(), nodeOut: r.u64(), fhOut: r.u64(), offsetOut: r.u64(), length: r.u64(), flags: r.u64() };
}

/** fuse_open_in: flags u32, open_flags u32 */
export function openIn(request: Request): { flags: number; openFlags: number } {
  const r = reader(request);
  return { flags: r.u32(), openFlags: r.u32() };
}

/** fuse_create_in (CREATE, TMPFILE): flags u32, mode u32, umask u32, open_flags u32; `body` is left at the name. */
export function createIn(body: BodyReader): { flags: number; mode: number; umask: number } {
  const flags = body.u32();
  const mode = body.u32();
  const umask = body.u32();
  body.skip(4);
  return { flags, mode, umask };
}

/**
 * fuse_setattr_in: valid u32, padding u32, fh u64, size u64, lock_owner u64, atime u64, mtime u64, ctime
 * u64, atimensec u32, mtimensec u32, ctimensec u32, mode u32, unused u32, uid u32, gid u32, unused u32.
 */
export interface SetattrIn {
  valid: number;
  fh: number;
  size: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  mode: number;
  uid: number;
  gid: number;
}

export function setattrIn(request: Request): SetattrIn {
  const r = reader(request);
  const valid = r.u32();
  const fh = r.skip(4).u64();
  const size = r.u64();
  const atime = r.skip(8).i64();
  const mtime = r.i64();
  const atimensec = r.skip(8).u32();
  const mtimensec = r.u32();
  const mode = r.skip(4).u32();
  const uid = r.skip(4).u32();
  const gid = r.u32();
  return {
    valid,
    fh,
    size,
    atimeNs: atime * 1_000_000_000n + BigInt(atimensec),
    mtimeNs: mtime * 1_000_000_000n + BigInt(mtimensec),
    mode,
    uid,
    gid,
  };
}

/** fuse_init_in: major u32, minor u32, max_readahead u32, flags u32, flags2 u32 (7.36+), unused */
export function initIn(request: Request): { major: number; minor: number; maxReadahead: number; flags: bigint } {
  const r = reader(request);
  const major = r.u32();
  const minor = r.u32();
  const maxReadahead = r.u32();
  const flags = BigInt(r.u32());
  const flags2 = request.body.length >= 20 ? BigInt(r.u32()) : 0n;
  return { major, minor, maxReadahead, flags: flags | (flags2 << 32n) };
}
