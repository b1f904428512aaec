// The WAL's on-disk format (see README.md beside this file), in one place.
//
// Segment file `<segment, 16 decimal digits>.wal`:
//   header  magic "PFSWAL01" (8) | format version u32 LE | reserved u32 | segment number u64 LE | CRC32C u32 LE
//           of the 24 bytes before it                                                      = 28 bytes
//   records, back to back, each:
//           CRC32C u32 LE of the rest of the record | length u32 LE (payload bytes) | type u8 | payload
// A record never spans two segments. CRC32C is the Castagnoli CRC (hardware-accelerated by @node-rs/crc32).
import { crc32c } from '@node-rs/crc32';

export const MAGIC = Buffer.from('PFSWAL01', 'ascii');
export const FORMAT_VERSION = 1;
export const SEGMENT_HEADER_SIZE = 28;
export const RECORD_HEADER_SIZE = 9;

export const segmentName = (segment: number): string => `${String(segment).padStart(16, '0')}.wal`;
export const CHECKPOINT_NAME = 'CHECKPOINT';

export function parseSegmentName(name: string): number | undefined {
  const match = /^(\d{16})\.wal$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

export function encodeSegmentHeader(segment: number): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(FORMAT_VERSION, 8);
  header.writeBigUInt64LE(BigInt(segment), 16);
  header.writeUInt32LE(crc32c(header.subarray(0, 24)), 24);
  return header;
}

/** The problem with a segment header, or undefined when it is sound and names `segment`. */
export function checkSegmentHeader(header: Buffer, segment: number): string | undefined {
  if (header.length < SEGMENT_HEADER_SIZE) return `header is ${header.length} bytes, expected ${SEGMENT_HEADER_SIZE}`;
  if (!header.subarray(0, 8).equals(MAGIC)) return 'bad magic: not a persistfs WAL segment';
  if (header.readUInt32LE(24) !== crc32c(header.subarray(0, 24))) return 'header checksum mismatch';
  const version = header.readUInt32LE(8);
  if (version !== FORMAT_VERSION) return `format version ${version}, this build reads ${FORMAT_VERSION}`;
  const named = Number(header.readBigUInt64LE(16));
  if (named !== segment) return `header says segment ${named}, file name says ${segment}`;
  return undefined;
}

const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));

/**
 * Writes the record (type, payload) at `at` of `target`: its header, and the payload too when `copy`
 * (small records go down as one staged buffer; large ones keep their own buffer). Returns the CRC.
 */
export function encodeRecord(target: Buffer, at: number, type: number, payload: Uint8Array, copy: boolean): void {
  target.writeUInt32LE(payload.length, at + 4);
  target[at + 8] = type;
  let crc: number;
  if (copy) {
    target.set(payload, at + RECORD_HEADER_SIZE);
    crc = crc32c(target.subarray(at + 4, at + RECORD_HEADER_SIZE + payload.length));
  } else {
    crc = crc32c(asBuffer(payload), crc32c(target.subarray(at + 4, at + RECORD_HEADER_SIZE)));
  }
  target.writeUInt32LE(crc, at);
}

/** Whether the record whose header is `header` and payload `payload` has the CRC its header says. */
export function recordCrcMatches(header: Buffer, payload: Buffer): boolean {
  return crc32c(payload, crc32c(header.subarray(4, RECORD_HEADER_SIZE))) === header.readUInt32LE(0);
}

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
