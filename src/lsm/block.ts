// A data block as read from an SST: its bytes and where each entry starts, found by one walk over the
// entry headers the first time a scan needs them (a point read searches the bytes in the addon instead).
// Keys are decoded (as latin1 strings) only when asked for, and kept: a scan looks at each key once.
// Format 1 stores each key whole after a fixed header; format 2 (what this build writes) a key as the bytes
// it does not share with the key before it, after a header of varints (sst-format.ts).
//
// Entries are sorted by key, and the versions of one key (a group) are adjacent, newest first.
import { native } from '../io/native.js';
import { corruptSst, ENTRY_HEADER_MIN, ENTRY_HEADER_SIZE, KIND_DELETE, parsed, parseEntry, readU64, RESTART_INTERVAL } from './sst-format.js';

export class Block {
  /**
   * read on the JavaScript thread for a point read (Table): only such reads held it, none since, so its
   * memory may serve another block once the cache drops it, unless a scan walked it (decoded)
   */
  recyclable = false;
  private entryOffsets: number[] | undefined;
  private keyStrings: Array<string | undefined> | undefined;
  /** format 2, once walked: every key whole, back to back, and where each ends */
  keyBytes: Buffer | undefined;
  keyEnds: number[] | undefined;

  constructor(
    readonly data: Buffer,
    readonly count: number,
    /** the SST and the block's offset in it, named by a corruption error */
    private readonly file: string,
    private readonly at: number,
    /** the SST's format version (1 or 2) */
    readonly format: number,
  ) {}

  /** entry i starts at offsets[i] (the walk over the headers throws EBADMSG when they do not fit the block) */
  get offsets(): readonly number[] {
    if (this.entryOffsets === undefined) this.entryOffsets = walkEntries(this);
    return this.entryOffsets;
  }

  get keys(): Array<string | undefined> {
    if (this.keyStrings === undefined) this.keyStrings = new Array<string | undefined>(this.count);
    return this.keyStrings;
  }

  get decoded(): boolean {
    return this.entryOffsets !== undefined;
  }

  /** This block with its entries walked now (for a scan; EBADMSG when they do not fit the block). */
  walked(): Block {
    void this.offsets;
    return this;
  }

  /**
   * The offset of the entry of `key` visible at `version` (the newest with seq <= version), or -1: searched
   * in the bytes by the addon, which walks the whole block; EBADMSG when it does not hold together.
   */
  find(key: string, version: number): number {
    const at = native.sstBlockFind(this.data, key, version, this.format);
    if (at >= -1) return at;
    throw whatIsWrong(this);
  }

  corrupt(what: string): Error {
    return corruptSst(this.file, what, this.at);
  }
}

/** A block of an SST of `format` whose entries are walked when first needed (its count checked now). */
export function blockOf(data: Buffer, file: string, offset: number, format: number): Block {
  if (data.length < 4) throw corruptSst(file, 'data block too short', offset);
  const end = data.length - 4;
  const count = data.readUInt32LE(end);
  if (count * (format === 1 ? ENTRY_HEADER_SIZE : ENTRY_HEADER_MIN) > end) throw corruptSst(file, `data block claims ${count} entries`, offset);
  return new Block(data, count, file, offset, format);
}

/** A block with its entries walked (and checked) now. */
export const loadBlock = (data: Buffer, file: string, offset: number, format: number): Block => blockOf(data, file, offset, format).walked();

/** What the addon's walks of format-2 blocks write into (reused: see sst-block.cc), grown as needed. */
let walkStarts = new Uint32Array(1024);
let walkKeyEnds = new Uint32Array(1024);
let walkKeys = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * Where each entry of `block` starts (format 2: and its keys put together, by the addon); EBADMSG when the
 * entries do not fit it exactly.
 */
function walkEntries(block: Block): number[] {
  const { data, count } = block;
  if (block.format === 2) {
    if (count > walkStarts.length) {
      walkStarts = new Uint32Array(count);
      walkKeyEnds = new Uint32Array(count);
    }
    let bytes = native.sstBlockWalk(data, walkStarts, walkKeyEnds, walkKeys);
    while (bytes === -1) {
      walkKeys = Buffer.allocUnsafeSlow(2 * walkKeys.length);
      bytes = native.sstBlockWalk(data, walkStarts, walkKeyEnds, walkKeys);
    }
    if (bytes < 0) throw whatIsWrong(block);
    // a copy of its own (the scratch serves the next walk), from which keys are decoded as flat strings:
    // slices of one string would be compared more slowly (the merge compares every key)
    block.keyBytes = Buffer.allocUnsafe(bytes);
    walkKeys.copy(block.keyBytes, 0, 0, bytes);
    // plain arrays: a new typed array of this size costs ~2 us (its memory is outside V8's heap), a copy
    // into an array of small integers ~0.06
    const offsets = new Array<number>(count);
    const keyEnds = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      offsets[i] = walkStarts[i]!;
      keyEnds[i] = walkKeyEnds[i]!;
    }
    block.keyEnds = keyEnds;
    return offsets;
  }
  const end = data.length - 4;
  const offsets = new Array<number>(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + ENTRY_HEADER_SIZE > end) throw block.corrupt(`entry ${i} runs past the block`);
    offsets[i] = at;
    at += ENTRY_HEADER_SIZE + data.readUInt32LE(at) + data.readUInt32LE(at + 4);
  }
  if (at !== end) throw block.corrupt(`the entries end at ${at}, not at ${end}`);
  return offsets;
}

/** EBADMSG saying what is wrong with a block the addon found malformed: the first fault of a walk in JavaScript. */
function whatIsWrong(block: Block): Error {
  const { data, count } = block;
  const end = data.length - 4;
  if (block.format === 1) {
    walkEntries(block);
    return block.corrupt('the data block does not hold together');
  }
  let at = 0;
  let keyLength = 0;
  for (let i = 0; i < count; i++) {
    if (!parseEntry(data, at, end)) return block.corrupt(`entry ${i} runs past the block`);
    if (parsed.shared > keyLength) return block.corrupt(`entry ${i} shares ${parsed.shared} bytes of a ${keyLength}-byte key`);
    if (i % RESTART_INTERVAL === 0 && parsed.shared !== 0) return block.corrupt(`entry ${i} starts a restart but shares ${parsed.shared} bytes`);
    keyLength = parsed.shared + parsed.unshared;
    at = parsed.end;
  }
  return block.corrupt(at === end ? 'the data block does not hold together' : `the entries end at ${at}, not at ${end}`);
}

/** Entry i's key (decoded once, then kept by the block). */
export function keyAt(block: Block, i: number): string {
  const keys = block.keys;
  const key = keys[i];
  if (key !== undefined) return key;
  const { data, offsets } = block;
  if (block.format === 1) {
    const at = offsets[i]! + ENTRY_HEADER_SIZE;
    keys[i] = data.toString('latin1', at, at + data.readUInt32LE(at - ENTRY_HEADER_SIZE));
    return keys[i];
  }
  // format 2: the walk put every key together
  const ends = block.keyEnds!;
  keys[i] = block.keyBytes!.toString('latin1', i === 0 ? 0 : ends[i - 1], ends[i]);
  return keys[i];
}

/** The seq of the entry that starts at byte `at` of the block (what Block.find answers). */
export function seqIn(block: Block, at: number): number {
  if (block.format === 1) return readU64(block.data, at + 8);
  parseEntry(block.data, at, block.data.length - 4);
  return parsed.seq;
}

export function isDeleteIn(block: Block, at: number): boolean {
  if (block.format === 1) return block.data[at + 16] === KIND_DELETE;
  parseEntry(block.data, at, block.data.length - 4);
  return parsed.kind === KIND_DELETE;
}

/** The value of the entry that starts at byte `at`, sharing the block's memory (copy it before handing it out). */
export function valueIn(block: Block, at: number): Buffer {
  const data = block.data;
  if (block.format === 1) {
    const start = at + ENTRY_HEADER_SIZE + data.readUInt32LE(at);
    return data.subarray(start, start + data.readUInt32LE(at + 4));
  }
  parseEntry(data, at, data.length - 4);
  return parsedValue(data);
}

/** The value of the format-2 entry parseEntry read last, sharing the block's memory. */
function parsedValue(data: Buffer): Buffer {
  const start = parsed.key + parsed.unshared;
  return data.subarray(start, start + parsed.valueLength);
}

/** What versionIn read last (one object, reused: read it at once). */
const version: { seq: number; value: Buffer | undefined } = { seq: 0, value: undefined };

/**
 * The entry that starts at byte `at`: its seq and its value (undefined for a delete, else sharing the
 * block's memory), its header read once (a get, and a merge for every version it takes). The object is
 * the next call's too.
 */
export function versionIn(block: Block, at: number): { readonly seq: number; readonly value: Buffer | undefined } {
  const data = block.data;
  if (block.format === 1) {
    version.seq = readU64(data, at + 8);
    version.value = data[at + 16] === KIND_DELETE ? undefined : valueIn(block, at);
    return version;
  }
  parseEntry(data, at, data.length - 4);
  version.seq = parsed.seq;
  version.value = parsed.kind === KIND_DELETE ? undefined : parsedValue(data);
  return version;
}

export const seqAt = (block: Block, i: number): number => seqIn(block, block.offsets[i]!);

export const isDelete = (block: Block, i: number): boolean => isDeleteIn(block, block.offsets[i]!);

/** Entry i's value, sharing the block's memory (copy it before handing it out). */
export const valueAt = (block: Block, i: number): Buffer => valueIn(block, block.offsets[i]!);

/** The first entry whose key is >= key (count when none). */
export function seekEntry(block: Block, key: string): number {
  let lo = 0;
  let hi = block.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keyAt(block, mid) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first entry of the group after the one entry e is in. */
export function nextGroup(block: Block, e: number): number {
  const key = keyAt(block, e);
  let j = e + 1;
  while (j < block.count && keyAt(block, j) === key) j++;
  return j;
}

/** The first entry of the group entry e is in. */
export function groupStart(block: Block, e: number): number {
  const key = keyAt(block, e);
  while (e > 0 && keyAt(block, e - 1) === key) e--;
  return e;
}

/** In the group starting at e, the entry visible at `version` (newest with seq <= version), or -1. */
export function visibleInGroup(block: Block, e: number, version: number): number {
  const key = keyAt(block, e);
  for (let j = e; j < block.count && keyAt(block, j) === key; j++) if (seqAt(block, j) <= version) return j;
  return -1;
}

/** Bytes the block cache counts for a block. */
export const blockCost = (block: Block): number => block.data.length + block.count * 40 + (block.keyBytes?.length ?? 0);

/**
 * What a merge reads of an SST: an open Table, or an SST parsed from its bytes in memory (sst-image.ts, in
 * the compaction thread).
 */
export interface MergeInput {
  readonly smallest: string;
  readonly largest: string;
  readonly bytes: number;
  readonly blocks: number;
  /** block `i`, decoded (and checked): at once, or a promise of it */
  block(i: number): Block | Promise<Block>;
}
