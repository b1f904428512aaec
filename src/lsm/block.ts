// A data block as read from an SST: its bytes and where each entry starts, found by one walk over the
// entry headers the first time a scan needs them (a point read searches the bytes in the addon instead).
// Keys are decoded (as latin1 strings) only when asked for, and kept: a scan looks at each key once.
//
// Entries are sorted by key, and the versions of one key (a group) are adjacent, newest first.
import { native } from '../io/native.js';
import { corruptSst, ENTRY_HEADER_SIZE, KIND_DELETE, readU64 } from './sst-format.js';

export class Block {
  /**
   * read on the JavaScript thread for a point read (Table): only such reads held it, none since, so its
   * memory may serve another block once the cache drops it, unless a scan walked it (decoded)
   */
  recyclable = false;
  private entryOffsets: Uint32Array | undefined;
  private keyStrings: Array<string | undefined> | undefined;

  constructor(
    readonly data: Buffer,
    readonly count: number,
    /** the SST and the block's offset in it, named by a corruption error */
    private readonly file: string,
    private readonly at: number,
  ) {}

  /** entry i starts at offsets[i] (the walk over the headers throws EBADMSG when they do not fit the block) */
  get offsets(): Uint32Array {
    if (this.entryOffsets === undefined) this.entryOffsets = walkEntries(this.data, this.count, this.file, this.at);
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
    const at = native.sstBlockFind(this.data, key, version);
    if (at >= -1) return at;
    walkEntries(this.data, this.count, this.file, this.at);
    throw corruptSst(this.file, 'the data block does not hold together', this.at);
  }
}

/** A block whose entries are walked when first needed (its count checked now). */
export function blockOf(data: Buffer, file: string, offset: number): Block {
  if (data.length < 4) throw corruptSst(file, 'data block too short', offset);
  const end = data.length - 4;
  const count = data.readUInt32LE(end);
  if (count * ENTRY_HEADER_SIZE > end) throw corruptSst(file, `data block claims ${count} entries`, offset);
  return new Block(data, count, file, offset);
}

/** A block with its entries walked (and checked) now. */
export const loadBlock = (data: Buffer, file: string, offset: number): Block => blockOf(data, file, offset).walked();

function walkEntries(data: Buffer, count: number, file: string, offset: number): Uint32Array {
  const end = data.length - 4;
  const offsets = new Uint32Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + ENTRY_HEADER_SIZE > end) throw corruptSst(file, `entry ${i} runs past the block`, offset);
    offsets[i] = at;
    at += ENTRY_HEADER_SIZE + data.readUInt32LE(at) + data.readUInt32LE(at + 4);
  }
  if (at !== end) throw corruptSst(file, `the entries end at ${at}, not at ${end}`, offset);
  return offsets;
}

export function keyAt(block: Block, i: number): string {
  const keys = block.keys;
  let key = keys[i];
  if (key === undefined) {
    const at = block.offsets[i]! + ENTRY_HEADER_SIZE;
    key = block.data.toString('latin1', at, at + block.data.readUInt32LE(at - ENTRY_HEADER_SIZE));
    keys[i] = key;
  }
  return key;
}

/** The seq of the entry that starts at byte `at` of a block's bytes (what Block.find answers). */
export const seqIn = (data: Buffer, at: number): number => readU64(data, at + 8);

export const isDeleteIn = (data: Buffer, at: number): boolean => data[at + 16] === KIND_DELETE;

/** The value of the entry that starts at byte `at`, sharing the block's memory (copy it before handing it out). */
export function valueIn(data: Buffer, at: number): Buffer {
  const start = at + ENTRY_HEADER_SIZE + data.readUInt32LE(at);
  return data.subarray(start, start + data.readUInt32LE(at + 4));
}

export const seqAt = (block: Block, i: number): number => seqIn(block.data, block.offsets[i]!);

export const isDelete = (block: Block, i: number): boolean => isDeleteIn(block.data, block.offsets[i]!);

/** Entry i's value, sharing the block's memory (copy it before handing it out). */
export const valueAt = (block: Block, i: number): Buffer => valueIn(block.data, block.offsets[i]!);

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
export const blockCost = (block: Block): number => block.data.length + block.count * 40;

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
