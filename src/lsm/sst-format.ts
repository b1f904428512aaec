// The SST file format (see README.md beside this file). Every block is checksummed with CRC32C; the CRCs
// of data blocks are in the index, those of the index, filter and properties blocks in the footer, and the
// footer carries its own.
import { crc32c } from '@node-rs/crc32';

import { storageError, type StorageError } from '../ground/errors.js';
import { native } from '../io/native.js';

export const SST_MAGIC = Buffer.from('PFS-SST\n', 'latin1');
/** The format this build writes: 2 (entries with varint headers and keys prefix-compressed, as LevelDB's). */
export const SST_FORMAT_VERSION = 2;
/** The oldest format this build reads: 1 (fixed 17-byte entry headers, whole keys). */
export const SST_OLDEST_FORMAT = 1;
export const FOOTER_SIZE = 64;
/** Format 1: the size of an entry's header. */
export const ENTRY_HEADER_SIZE = 17;
/** Format 2: the least bytes an entry header takes (three one-byte varints, the kind, a one-byte seq) ... */
export const ENTRY_HEADER_MIN = 5;
/** ... and the most (three varint32, the kind, a varint of a seq below 2^53) */
export const ENTRY_HEADER_MAX = 5 + 5 + 5 + 1 + 8;
/**
 * Format 2: every RESTART_INTERVAL-th entry of a block (from its first) holds its whole key, which readers
 * check: a block's keys put together then take at most RESTART_INTERVAL times its bytes.
 */
export const RESTART_INTERVAL = 16;

export const KIND_DELETE = 0;
export const KIND_PUT = 1;

export interface BlockHandle {
  offset: number;
  length: number;
  crc: number;
}

export interface Footer {
  /** the format of the data blocks (1: fixed headers, whole keys; 2: varint headers, keys prefix-compressed) */
  version: number;
  index: BlockHandle;
  filter: BlockHandle;
  properties: BlockHandle;
}

/** What an SST holds, stored in its properties block and in the manifest. */
export interface TableProperties {
  entries: number;
  minSeq: number;
  maxSeq: number;
  /** smallest and largest keys, latin1 strings inside the store (hex in the file) */
  smallest: string;
  largest: string;
}

export function corruptSst(file: string, what: string, offset?: number): StorageError {
  const where = offset === undefined ? '' : ` (block at offset ${offset})`;
  return storageError('EBADMSG', `SST ${file} is corrupt${where}: ${what}; the store will not return its data`, { path: file });
}

export function writeU64(target: Buffer, value: number, at: number): void {
  target.writeUInt32LE(value % 0x1_0000_0000, at);
  target.writeUInt32LE(Math.floor(value / 0x1_0000_0000), at + 4);
}

export function readU64(source: Buffer, at: number): number {
  return source.readUInt32LE(at) + source.readUInt32LE(at + 4) * 0x1_0000_0000;
}

/** Writes `value` (an integer, 0 to 2^53) as a varint (7 bits a byte, low first) at `at`; returns the offset after it. */
export function writeVarint(target: Buffer, value: number, at: number): number {
  while (value >= 0x80) {
    target[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  target[at++] = value;
  return at;
}

/**
 * Encodes one entry of a format-2 data block at `at`: `shared` bytes of its key are those of the entry
 * before it (0 at a restart), the rest follows the header. Returns the offset after the entry.
 *   entry = shared varint | unshared varint | value length varint | kind u8 | version varint | key[shared:] | value
 */
export function encodeEntry(target: Buffer, at: number, key: string, shared: number, seq: number, value: Buffer | undefined): number {
  at = writeVarint(target, shared, at);
  at = writeVarint(target, key.length - shared, at);
  at = writeVarint(target, value?.length ?? 0, at);
  target[at++] = value === undefined ? KIND_DELETE : KIND_PUT;
  at = writeVarint(target, seq, at);
  // a short key's bytes one by one, a value by TypedArray set: both cheaper than Buffer's write and copy
  // at these sizes (the compaction thread encodes every entry it keeps)
  if (key.length - shared <= 32) for (let i = shared; i < key.length; i++) target[at++] = key.charCodeAt(i);
  else at += target.write(shared === 0 ? key : key.slice(shared), at, 'latin1');
  if (value !== undefined) {
    target.set(value, at);
    at += value.length;
  }
  return at;
}

/** The header of a format-2 entry, as parseEntry last read it (one object, reused: read it at once). */
export const parsed = { shared: 0, unshared: 0, valueLength: 0, kind: 0, seq: 0, key: 0, end: 0 };

/** Where the next readVarint reads. */
let cursor = 0;

/** The varint at `cursor` (before `limit`), the cursor moved past it; -1 when it runs past limit or over 8 bytes. */
function readVarint(data: Uint8Array, limit: number): number {
  let value = 0;
  let scale = 1;
  for (let n = 0; n < 8 && cursor < limit; n++) {
    const byte = data[cursor++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 0x80;
  }
  return -1;
}

/**
 * Parses the header of the format-2 entry at `at` of a block whose entries end at `limit` into `parsed`
 * (`key`: where its unshared key bytes start; `end`: where the entry ends); false when it does not fit.
 */
export function parseEntry(data: Uint8Array, at: number, limit: number): boolean {
  cursor = at;
  const shared = readVarint(data, limit);
  const unshared = readVarint(data, limit);
  const valueLength = readVarint(data, limit);
  if (shared < 0 || unshared < 0 || valueLength < 0 || cursor >= limit) return false;
  parsed.kind = data[cursor++]!;
  const seq = readVarint(data, limit);
  if (seq < 0) return false;
  parsed.shared = shared;
  parsed.unshared = unshared;
  parsed.valueLength = valueLength;
  parsed.seq = seq;
  parsed.key = cursor;
  parsed.end = cursor + unshared + valueLength;
  return parsed.end <= limit;
}

/** How many first bytes `a` and `b` (latin1 strings) have in common. */
export function sharedPrefix(a: string, b: string): number {
  const limit = Math.min(a.length, b.length);
  let n = 0;
  while (n < limit && a.charCodeAt(n) === b.charCodeAt(n)) n++;
  return n;
}

/** The index: per data block its first and last key and where it is. */
export interface Index {
  firstKeys: string[];
  lastKeys: string[];
  handles: BlockHandle[];
}

export function encodeIndex(index: Index): Buffer {
  let size = 4;
  for (let i = 0; i < index.handles.length; i++) size += 8 + index.firstKeys[i]!.length + index.lastKeys[i]!.length + 16;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  out.writeUInt32LE(index.handles.length, at);
  at += 4;
  for (let i = 0; i < index.handles.length; i++) {
    for (const key of [index.firstKeys[i]!, index.lastKeys[i]!]) {
      out.writeUInt32LE(key.length, at);
      at += 4 + out.write(key, at + 4, 'latin1');
    }
    const handle = index.handles[i]!;
    writeU64(out, handle.offset, at);
    out.writeUInt32LE(handle.length, at + 8);
    out.writeUInt32LE(handle.crc, at + 12);
    at += 16;
  }
  return out;
}

export function decodeIndex(data: Buffer, file: string): Index {
  const index: Index = { firstKeys: [], lastKeys: [], handles: [] };
  const fail = () => corruptSst(file, 'the index block is malformed');
  if (data.length < 4) throw fail();
  const count = data.readUInt32LE(0);
  let at = 4;
  for (let i = 0; i < count; i++) {
    const keys: string[] = [];
    for (let k = 0; k < 2; k++) {
      if (at + 4 > data.length) throw fail();
      const length = data.readUInt32LE(at);
      if (at + 4 + length > data.length) throw fail();
      keys.push(data.toString('latin1', at + 4, at + 4 + length));
      at += 4 + length;
    }
    if (at + 16 > data.length) throw fail();
    index.firstKeys.push(keys[0]!);
    index.lastKeys.push(keys[1]!);
    index.handles.push({ offset: readU64(data, at), length: data.readUInt32LE(at + 8), crc: data.readUInt32LE(at + 12) });
    at += 16;
  }
  return index;
}

export function encodeProperties(properties: TableProperties): Buffer {
  return Buffer.from(
    JSON.stringify({
      entries: properties.entries,
      minSeq: properties.minSeq,
      maxSeq: properties.maxSeq,
      smallest: Buffer.from(properties.smallest, 'latin1').toString('hex'),
      largest: Buffer.from(properties.largest, 'latin1').toString('hex'),
    }),
  );
}

export function decodeProperties(data: Buffer, file: string): TableProperties {
  try {
    const raw = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    const { entries, minSeq, maxSeq, smallest, largest } = raw;
    if (typeof entries !== 'number' || typeof minSeq !== 'number' || typeof maxSeq !== 'number') throw new Error('fields');
    if (typeof smallest !== 'string' || typeof largest !== 'string') throw new Error('keys');
    return {
      entries,
      minSeq,
      maxSeq,
      smallest: Buffer.from(smallest, 'hex').toString('latin1'),
      largest: Buffer.from(largest, 'hex').toString('latin1'),
    };
  } catch {
    throw corruptSst(file, 'the properties block is malformed');
  }
}

export function encodeFooter(footer: Footer): Buffer {
  const out = Buffer.alloc(FOOTER_SIZE);
  SST_MAGIC.copy(out, 0);
  out.writeUInt32LE(footer.version, 8);
  let at = 12;
  for (const handle of [footer.index, footer.filter, footer.properties]) {
    writeU64(out, handle.offset, at);
    out.writeUInt32LE(handle.length, at + 8);
    out.writeUInt32LE(handle.crc, at + 12);
    at += 16;
  }
  out.writeUInt32LE(crc32c(out.subarray(0, 60)), 60);
  return out;
}

export function decodeFooter(data: Buffer, file: string, offset?: number): Footer {
  if (data.length !== FOOTER_SIZE || !data.subarray(0, 8).equals(SST_MAGIC)) throw corruptSst(file, 'no SST footer (bad magic)', offset);
  if (data.readUInt32LE(60) !== crc32c(data.subarray(0, 60))) throw corruptSst(file, 'footer checksum mismatch', offset);
  const version = data.readUInt32LE(8);
  if (version < SST_OLDEST_FORMAT || version > SST_FORMAT_VERSION) {
    throw corruptSst(file, `format version ${version} is not supported (this build reads ${SST_OLDEST_FORMAT} to ${SST_FORMAT_VERSION})`, offset);
  }
  const handles: BlockHandle[] = [];
  for (let at = 12; at < 60; at += 16) handles.push({ offset: readU64(data, at), length: data.readUInt32LE(at + 8), crc: data.readUInt32LE(at + 12) });
  return { version, index: handles[0]!, filter: handles[1]!, properties: handles[2]! };
}

/** CRC32C of a block, as stored in its handle: by the addon (ISA-L), ~4x faster than @node-rs/crc32 on 4 KiB. */
export const blockCrc = (data: Uint8Array): number => native.crc32c(data, 0);
