// Builds the bytes of one SST from entries given in order (key ascending, and for one key its versions
// newest first), in the current format (2: each key stored as the bytes it does not share with the key
// before it, whole every RESTART_INTERVAL entries). A data block is cut once it holds `blockSize` bytes,
// and only between two keys, so that every version of a key sits in one block (the readers rely on it).
// The table is built in one buffer and an entry is encoded into it as it is added: the builder keeps no
// view of the caller's value (the compaction thread reuses its input buffers), and a finished table moves
// to another thread as it is.
import { buildBloom } from './bloom.js';
import { hashKey } from './bytes.js';
import {
  blockCrc,
  encodeEntry,
  encodeFooter,
  encodeIndex,
  encodeProperties,
  ENTRY_HEADER_MAX,
  RESTART_INTERVAL,
  sharedPrefix,
  SST_FORMAT_VERSION,
  type BlockHandle,
  type Index,
  type TableProperties,
} from './sst-format.js';

/**
 * Entries that encode themselves a data block at a time (a frozen memtable: Memtable.encodeBlock, in the
 * addon): the bytes add() would write for them, cut where add() would cut, without a call for each entry.
 */
export interface EncodedBlocks {
  /** 1 with the block in out[offset, ...) and `report` filled; 0 when none is left; -1 when out has no room (report[0] 1) or hashes (2) */
  encodeBlock(entry: number, out: Uint8Array, offset: number, blockSize: number, restartInterval: number, hashes: Uint32Array, report: Float64Array): number;
  keyAt(entry: number): string;
}

/** What encodeBlock reports: entries, bytes, first and last entry, keys, smallest and largest version. */
const report = new Float64Array(7);
/** the hashes of a block's keys, grown when a block has more */
let blockHashes = new Uint32Array(1024);

export interface BuiltTable {
  buffers: Buffer[];
  bytes: number;
  properties: TableProperties;
}

/** A builder's first buffer for a table of about `dataBytes` of entries: room for its metadata too. */
export const tableSizeHint = (dataBytes: number, blockSize: number): number => dataBytes + (dataBytes >>> 4) + 4 * blockSize;

export class SstBuilder {
  /** the table so far: written blocks in out[0, offset), the block being filled after them */
  private out: Buffer;
  private offset = 0;
  private readonly index: Index = { firstKeys: [], lastKeys: [], handles: [] };
  private readonly hashes: number[] = [];
  /** the block being filled: its entries encoded in out[offset, offset + pendingBytes) */
  private pendingBytes = 0;
  private pendingCount = 0;
  private pendingFirst = '';
  private lastKey: string | undefined;
  private entries = 0;
  private minSeq = Infinity;
  private maxSeq = 0;
  private smallest: string | undefined;

  /**
   * `first`: the bytes the table is expected to reach, or a buffer to build it in (from its first byte);
   * the buffer is replaced by a larger one when needed.
   */
  constructor(
    private readonly blockSize: number,
    private readonly bloomBitsPerKey: number,
    first: number | Buffer = 64 * 1024,
  ) {
    // a buffer of its own (never a slice of Node's pool), so that its ArrayBuffer can move to another thread
    this.out = typeof first === 'number' ? Buffer.allocUnsafeSlow(Math.max(first, 2 * blockSize) + 4) : first;
  }

  /** Bytes so far (written blocks and the block being filled). */
  get size(): number {
    return this.offset + this.pendingBytes;
  }

  get empty(): boolean {
    return this.entries === 0;
  }

  /** The key most recently added. */
  get last(): string | undefined {
    return this.lastKey;
  }

  add(key: string, seq: number, value: Buffer | undefined): void {
    const before = this.lastKey;
    if (key !== before) {
      if (this.pendingBytes >= this.blockSize) this.cutBlock();
      this.hashes.push(hashKey(key));
      this.smallest ??= key;
      this.lastKey = key;
    }
    // room for the entry and the block's count
    this.reserve(ENTRY_HEADER_MAX + key.length + (value?.length ?? 0) + 4);
    if (this.pendingCount === 0) this.pendingFirst = key;
    // the versions of one key after its first share all of it
    const shared = this.pendingCount % RESTART_INTERVAL === 0 ? 0 : key === before ? key.length : sharedPrefix(before!, key);
    this.pendingBytes = encodeEntry(this.out, this.offset + this.pendingBytes, key, shared, seq, value) - this.offset;
    this.pendingCount++;
    this.entries++;
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  /**
   * Adds the next data block of `source`, its entries after `entry` (-1: from its first), as `source`
   * encodes them: the same bytes as add() for each (test/lsm/sst-builder.test.ts). Returns the entry to go on
   * from, or -1 when `source` had none left. A builder takes its entries from add() or from here, not both.
   */
  addBlockOf(source: EncodedBlocks, entry: number): number {
    if (this.pendingCount !== 0) throw new Error('SstBuilder.addBlockOf after add(): a builder takes its entries one way');
    for (;;) {
      const status = source.encodeBlock(entry, this.out, this.offset, this.blockSize, RESTART_INTERVAL, blockHashes, report);
      if (status === 0) return -1;
      if (status > 0) break;
      if (report[0] === 1)
        this.reserve(this.out.length - this.offset + 1); // at least twice the buffer
      else blockHashes = new Uint32Array(2 * blockHashes.length);
    }
    const [count, bytes, first, last, keys, minSeq, maxSeq] = report as unknown as [number, number, number, number, number, number, number];
    this.pendingFirst = source.keyAt(first);
    this.lastKey = keys === 1 ? this.pendingFirst : source.keyAt(last);
    this.smallest ??= this.pendingFirst;
    for (let i = 0; i < keys; i++) this.hashes.push(blockHashes[i]!);
    this.pendingBytes = bytes;
    this.pendingCount = count;
    this.entries += count;
    if (minSeq < this.minSeq) this.minSeq = minSeq;
    if (maxSeq > this.maxSeq) this.maxSeq = maxSeq;
    this.cutBlock();
    return last;
  }

  /** Makes room for `bytes` more after the block being filled. */
  private reserve(bytes: number): void {
    const need = this.offset + this.pendingBytes + bytes;
    if (need <= this.out.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.out.length, need));
    this.out.copy(grown, 0, 0, this.offset + this.pendingBytes);
    this.out = grown;
  }

  private cutBlock(): void {
    if (this.pendingCount === 0) return;
    this.out.writeUInt32LE(this.pendingCount, this.offset + this.pendingBytes);
    const block = this.out.subarray(this.offset, this.offset + this.pendingBytes + 4);
    this.index.firstKeys.push(this.pendingFirst);
    this.index.lastKeys.push(this.lastKey!);
    this.index.handles.push({ offset: this.offset, length: block.length, crc: blockCrc(block) });
    this.offset += block.length;
    this.pendingCount = 0;
    this.pendingBytes = 0;
  }

  private append(block: Buffer): BlockHandle {
    this.reserve(block.length);
    const handle = { offset: this.offset, length: block.length, crc: blockCrc(block) };
    block.copy(this.out, this.offset);
    this.offset += block.length;
    return handle;
  }

  /** The table's bytes: one view of the builder's buffer, which starts at its first byte. */
  finish(): BuiltTable {
    this.cutBlock();
    const properties: TableProperties = {
      entries: this.entries,
      minSeq: this.entries === 0 ? 0 : this.minSeq,
      maxSeq: this.maxSeq,
      smallest: this.smallest ?? '',
      largest: this.lastKey ?? '',
    };
    const filter = this.append(this.bloomBitsPerKey > 0 ? buildBloom(this.hashes, this.bloomBitsPerKey) : Buffer.alloc(0));
    const index = this.append(encodeIndex(this.index));
    const props = this.append(encodeProperties(properties));
    this.append(encodeFooter({ version: SST_FORMAT_VERSION, index, filter, properties: props }));
    return { buffers: [this.out.subarray(0, this.offset)], bytes: this.offset, properties };
  }
}
