// Builds the bytes of one SST from entries given in order (key ascending, and for one key its versions
// newest first). A data block is cut once it holds `blockSize` bytes, and only between two keys, so that
// every version of a key sits in one block (the readers rely on it).
import { buildBloom } from './bloom.js';
import { hashKey } from './bytes.js';
import {
  blockCrc,
  encodeEntry,
  encodeFooter,
  encodeIndex,
  encodeProperties,
  ENTRY_HEADER_SIZE,
  type BlockHandle,
  type Index,
  type TableProperties,
} from './sst-format.js';

export interface BuiltTable {
  buffers: Buffer[];
  bytes: number;
  properties: TableProperties;
}

export class SstBuilder {
  private readonly buffers: Buffer[] = [];
  private offset = 0;
  private readonly index: Index = { firstKeys: [], lastKeys: [], handles: [] };
  private readonly hashes: number[] = [];
  private pendingKeys: string[] = [];
  private pendingSeqs: number[] = [];
  private pendingValues: Array<Buffer | undefined> = [];
  private pendingBytes = 0;
  private lastKey: string | undefined;
  private entries = 0;
  private minSeq = Infinity;
  private maxSeq = 0;
  private smallest: string | undefined;

  constructor(
    private readonly blockSize: number,
    private readonly bloomBitsPerKey: number,
  ) {}

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
    if (key !== this.lastKey) {
      if (this.pendingBytes >= this.blockSize) this.cutBlock();
      this.hashes.push(hashKey(key));
      this.smallest ??= key;
      this.lastKey = key;
    }
    this.pendingKeys.push(key);
    this.pendingSeqs.push(seq);
    this.pendingValues.push(value);
    this.pendingBytes += ENTRY_HEADER_SIZE + key.length + (value?.length ?? 0);
    this.entries++;
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  private cutBlock(): void {
    const count = this.pendingKeys.length;
    if (count === 0) return;
    const block = Buffer.allocUnsafe(this.pendingBytes + 4);
    let at = 0;
    for (let i = 0; i < count; i++) at = encodeEntry(block, at, this.pendingKeys[i]!, this.pendingSeqs[i]!, this.pendingValues[i]);
    block.writeUInt32LE(count, at);
    this.index.firstKeys.push(this.pendingKeys[0]!);
    this.index.lastKeys.push(this.pendingKeys[count - 1]!);
    this.index.handles.push(this.append(block));
    this.pendingKeys = [];
    this.pendingSeqs = [];
    this.pendingValues = [];
    this.pendingBytes = 0;
  }

  private append(block: Buffer): BlockHandle {
    const handle = { offset: this.offset, length: block.length, crc: blockCrc(block) };
    this.buffers.push(block);
    this.offset += block.length;
    return handle;
  }

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
    this.append(encodeFooter({ index, filter, properties: props }));
    return { buffers: this.buffers, bytes: this.offset, properties };
  }
}
