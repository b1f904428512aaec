// The WAL's on-disk format (see README.md beside this file), in one place.
//
// Segment file `<segment, 16 decimal digits>.wal`:
//   header  magic "PFSWAL01" (8) | format version u32 LE | reserved u32 | segment number u64 LE | CRC32C u32 LE
//           of the 24 bytes before it                                                      = 28 bytes
//   records, back to back, each:
//           CRC32C u32 LE of the rest of the record | length u32 LE (payload bytes) | type u8 | payload
// A record never spans two segments. CRC32C is the Castagnoli CRC (hardware-accelerated by @node-rs/crc32).
// Version 2 (written now) seeds each record's CRC with the segment's number, and a version 2 segment may
// run on past its last record in zeros (space preallocated ahead of the records, written in place).
// Version 3 (written now) ends a segment the log rotated away from with a seal record (type 0, payload
// SEAL_PAYLOAD), so recovery can tell a segment whose records all reached it from one whose tail was lost:
// the next segment is made ahead and the old one sealed off the writers' path (README.md, Rotation).
// Version 4 (written now) adds marks: a record of type 0 with MARK_MAGIC and a position, written at the end
// of a batch (and by close() after the last record), saying every byte of the log before that position was
// on disk (a flush had completed) when it was written; recovery refuses damage before a mark and cuts
// anything else (README.md, Marks).
// Version 5 is version 4 in a recycled file (a segment the log no longer needed, renamed and written over
// in place: WalOptions.recycle): after its records, or after its seal record, the file may still hold
// another segment's bytes, which never verify under this segment's seed (README.md, Recycled segments).
// Version 1 segments (CRC unseeded, the file ends at the last record) and version 2 (no seal record: a
// segment before the last ends at its last record) are still read.
import { crc32c } from '@node-rs/crc32';

import { native } from '../io/native.js';

export const MAGIC = Buffer.from('PFSWAL01', 'ascii');
/** the version a new segment is written in; every version from 1 to RECYCLED_VERSION is read */
export const FORMAT_VERSION = 4;
/** the version of a segment written in a recycled file: version 4, with another segment's bytes possibly after its records */
export const RECYCLED_VERSION = 5;
export const SEGMENT_HEADER_SIZE = 28;
export const RECORD_HEADER_SIZE = 9;
/** the payload of a version 3 segment's seal record (type 0); never all zeros, so never a zero header */
export const SEAL_PAYLOAD = Buffer.from('PFSSEAL\0', 'ascii');
/** the room a version 3 segment keeps at its end for its seal record */
export const SEAL_RECORD_SIZE = RECORD_HEADER_SIZE + SEAL_PAYLOAD.length;
/** the first 8 bytes of a version 4 mark record's payload (type 0); a segment u64 and an offset u64 follow */
export const MARK_MAGIC = Buffer.from('PFSMARK\0', 'ascii');
const MARK_PAYLOAD_SIZE = MARK_MAGIC.length + 16;
/** a mark record, header included */
export const MARK_RECORD_SIZE = RECORD_HEADER_SIZE + MARK_PAYLOAD_SIZE;

export const segmentName = (segment: number): string => `${String(segment).padStart(16, '0')}.wal`;
export const CHECKPOINT_NAME = 'CHECKPOINT';

export function parseSegmentName(name: string): number | undefined {
  const match = /^(\d{16})\.wal$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** A spare: a segment the log no longer needs, kept (renamed) to be written over as a later segment. */
export const spareName = (segment: number): string => `${String(segment).padStart(16, '0')}.spare`;

export function parseSpareName(name: string): number | undefined {
  const match = /^(\d{16})\.spare$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** A segment header (of version `version`: older ones only for tests of old logs). */
export function encodeSegmentHeader(segment: number, version = FORMAT_VERSION): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(version, 8);
  header.writeBigUInt64LE(BigInt(segment), 16);
  header.writeUInt32LE(crc32c(header.subarray(0, 24)), 24);
  return header;
}

/**
 * How a segment's records are read. `seed` starts each record's CRC32C: in version 2 the segment number
 * (its low 32 bits), so a record left in a file by another segment never verifies in this one; 0 in
 * version 1 (a plain CRC32C). `zerosEnd`: a record header of zeros is where the written records end
 * (version 2: the rest of the segment is preallocated space), not a bad record. `sealed` (version 3): a
 * segment rotated away from ends with a seal record (type 0, SEAL_PAYLOAD), then nothing or zeros. `marks`
 * (version 4): batches may end with a mark record (type 0, MARK_MAGIC), which readers skip. `stale`
 * (version 5, a recycled file): after the records (a zero record header ends them) and after the seal
 * record, the file may hold another segment's bytes: not zeros, and no record of this seed.
 */
export interface SegmentFormat {
  version: number;
  seed: number;
  zerosEnd: boolean;
  sealed: boolean;
  marks: boolean;
  stale: boolean;
}

export const segmentFormat = (version: number, segment: number): SegmentFormat =>
  version === 1
    ? { version, seed: 0, zerosEnd: false, sealed: false, marks: false, stale: false }
    : { version, seed: segment % 2 ** 32, zerosEnd: true, sealed: version >= 3, marks: version >= 4, stale: version >= RECYCLED_VERSION };

/**
 * Stages the mark record saying `durable` (every byte of the log before it was on disk) at `at` of
 * `target`, all but its CRC (sealRecords gives it one with the records of its batch).
 */
export function stageMark(target: Buffer, at: number, durable: WalPosition): void {
  encodeRecordUnsealed(target, at, 0, MARK_PAYLOAD_SIZE);
  MARK_MAGIC.copy(target, at + RECORD_HEADER_SIZE);
  target.writeBigUInt64LE(BigInt(durable.segment), at + RECORD_HEADER_SIZE + 8);
  target.writeBigUInt64LE(BigInt(durable.offset), at + RECORD_HEADER_SIZE + 16);
}

/** The position a mark record's payload (type 0, CRC checked) says, or undefined if the payload is no mark. */
export function decodeMark(payload: Buffer): WalPosition | undefined {
  if (payload.length !== MARK_PAYLOAD_SIZE || !payload.subarray(0, MARK_MAGIC.length).equals(MARK_MAGIC)) return undefined;
  return { segment: Number(payload.readBigUInt64LE(8)), offset: Number(payload.readBigUInt64LE(16)) };
}

/** Whether position `a` is after `b` (false when `a` is undefined). */
export const isAfter = (a: WalPosition | undefined, b: WalPosition): boolean =>
  a !== undefined && (a.segment > b.segment || (a.segment === b.segment && a.offset > b.offset));

/** The later of two positions (either may be undefined). */
export const later = (a: WalPosition | undefined, b: WalPosition | undefined): WalPosition | undefined =>
  a === undefined ? b : b === undefined || isAfter(a, b) ? a : b;

/** The seal record of a version 3 segment of seed `seed`: written at its end when the log rotates away from it. */
export function sealRecord(seed: number): Buffer {
  const record = Buffer.alloc(SEAL_RECORD_SIZE);
  encodeRecord(record, 0, 0, SEAL_PAYLOAD, true, seed);
  return record;
}

/** The format of the segment whose header is `header`, or the problem with it (not sound, or not naming `segment`). */
export function checkSegmentHeader(header: Buffer, segment: number): SegmentFormat | string {
  if (header.length < SEGMENT_HEADER_SIZE) return `header is ${header.length} bytes, expected ${SEGMENT_HEADER_SIZE}`;
  if (!header.subarray(0, 8).equals(MAGIC)) return 'bad magic: not a persistfs WAL segment';
  if (header.readUInt32LE(24) !== crc32c(header.subarray(0, 24))) return 'header checksum mismatch';
  const version = header.readUInt32LE(8);
  if (version < 1 || version > RECYCLED_VERSION) return `format version ${version}, this build reads 1 to ${RECYCLED_VERSION}`;
  const named = Number(header.readBigUInt64LE(16));
  if (named !== segment) return `header says segment ${named}, file name says ${segment}`;
  return segmentFormat(version, segment);
}

const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));

/**
 * Writes the record (type, payload) at `at` of `target`: its header, and the payload too when `copy`
 * (small records go down as one staged buffer; large ones keep their own buffer). `seed` is the
 * segment's (SegmentFormat).
 */
export function encodeRecord(target: Buffer, at: number, type: number, payload: Uint8Array, copy: boolean, seed: number): void {
  target.writeUInt32LE(payload.length, at + 4);
  target[at + 8] = type;
  let crc: number;
  if (copy) {
    target.set(payload, at + RECORD_HEADER_SIZE);
    crc = crc32c(target.subarray(at + 4, at + RECORD_HEADER_SIZE + payload.length), seed);
  } else {
    crc = crc32c(asBuffer(payload), crc32c(target.subarray(at + 4, at + RECORD_HEADER_SIZE), seed));
  }
  target.writeUInt32LE(crc, at);
}

/**
 * Writes the header of the record (type, `length` bytes of payload) at `at` of `target`, all but its CRC:
 * sealRecords fills that in, for a run of records at once.
 */
export function encodeRecordUnsealed(target: Buffer, at: number, type: number, length: number): void {
  // byte stores: writeUInt32LE's range checks cost more than the stores (10 ns a record); `length` < 2^32
  target[at + 4] = length;
  target[at + 5] = length >>> 8;
  target[at + 6] = length >>> 16;
  target[at + 7] = length >>> 24;
  target[at + 8] = type;
}

/**
 * Gives the records staged whole, back to back, in target[start, end) (each header from
 * encodeRecordUnsealed, its payload after it) their CRC, from `seed`: one call into the addon for the run,
 * where a call per record cost more than the checksums (BENCHMARKS.md, WAL).
 */
export function sealRecords(target: Buffer, start: number, end: number, seed: number): void {
  if (end > start) native.crc32cRecords(target, start, end, seed);
}

/** Whether the record whose header is `header` and payload `payload` has the CRC its header says, from `seed`. */
export function recordCrcMatches(header: Buffer, payload: Buffer, seed: number): boolean {
  return crc32c(payload, crc32c(header.subarray(4, RECORD_HEADER_SIZE), seed)) === header.readUInt32LE(0);
}

/** Whether a record header is all zeros: never a record (type 0 is not one), the preallocated space of a version 2 segment. */
export const isZeroHeader = (header: Buffer): boolean => header.readUInt32LE(0) === 0 && header.readUInt32LE(4) === 0 && header[8] === 0;

export const recordLength = (header: Buffer): number => header.readUInt32LE(4);

/** A position in the log: the record at `offset` of `segment` (offset of its header). */
export interface WalPosition {
  segment: number;
  offset: number;
}

export function encodeCheckpoint(position: WalPosition): Buffer {
  const data = Buffer.alloc(20);
  data.writeBigUInt64LE(BigInt(position.segment), 0);
  data.writeBigUInt64LE(BigInt(position.offset), 8);
  data.writeUInt32LE(crc32c(data.subarray(0, 16)), 16);
  return data;
}

export function decodeCheckpoint(data: Buffer): WalPosition | undefined {
  if (data.length !== 20 || data.readUInt32LE(16) !== crc32c(data.subarray(0, 16))) return undefined;
  return { segment: Number(data.readBigUInt64LE(0)), offset: Number(data.readBigUInt64LE(8)) };
}
