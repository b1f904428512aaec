// Decoded data blocks shared by every table of a store, least recently used first out (lru-cache), sized
// in bytes. A block read that is already under way is shared instead of read twice. The memory of a
// dropped block nothing else can hold (Block.recyclable) is kept for the next block of its size class:
// a get at depth then reads into it instead of allocating (and later collecting) a new ArrayBuffer.
import { LRUCache } from 'lru-cache';

import type { Dir } from '../storage/dir.js';
import { blockCost, type Block } from './block.js';

/** Blocks per file are numbered below this: (file, block) is one number. */
const BLOCKS_PER_FILE = 1 << 22;
/** buffers for blocks are sized in steps of this, so that a dropped block's memory fits the next ones */
const SIZE_STEP = 256;
/** dropped blocks' memories kept per size */
const SPARES_PER_SIZE = 64;

export class BlockCache {
  private readonly cache: LRUCache<number, Block> | undefined;
  private readonly reading = new Map<number, Promise<Block>>();
  private readonly spares = new Map<number, ArrayBufferLike[]>();
  /** blocks read into a dropped block's memory */
  recycled = 0;
  /** blocks read through a table's mapping (Table.mappedView) */
  mappedReads = 0;
  /** the store's tables open with a mapping */
  mappedTables = 0;

  /**
   * `mapped`: the directory whose SSTs are read through a mapping (the store's own, with mmapReads; not
   * the remote tier's, whose local copies are the tiered adapter's to replace)
   */
  constructor(
    maxBytes: number,
    private readonly mapped?: Dir,
  ) {
    this.cache =
      maxBytes > 0
        ? new LRUCache<number, Block>({
            maxSize: maxBytes,
            sizeCalculation: (block) => Math.max(1, blockCost(block)),
            dispose: (block) => this.spare(block),
          })
        : undefined;
  }

  /** `length` bytes to read a block into: a dropped block's memory when one of its size is spare. */
  buffer(length: number): Buffer {
    const size = Math.max(SIZE_STEP, Math.ceil(length / SIZE_STEP) * SIZE_STEP);
    const memory = this.spares.get(size)?.pop();
    if (memory !== undefined) {
      this.recycled++;
      return Buffer.from(memory, 0, length);
    }
    return Buffer.from(Buffer.allocUnsafeSlow(size).buffer, 0, length);
  }

  private spare(block: Block): void {
    if (!block.recyclable || block.decoded) return;
    const memory = block.data.buffer;
    let list = this.spares.get(memory.byteLength);
    if (list === undefined) {
      list = [];
      this.spares.set(memory.byteLength, list);
    }
    if (list.length < SPARES_PER_SIZE) list.push(memory);
  }

  static id(file: number, block: number): number {
    return file * BLOCKS_PER_FILE + block;
  }

  get(id: number): Block | undefined {
    return this.cache?.get(id);
  }

  set(id: number, block: Block): void {
    this.cache?.set(id, block);
  }

  /** The block `id` from the cache, or read by `load` (once, however many ask meanwhile). */
  load(id: number, load: () => Promise<Block>): Promise<Block> {
    let reading = this.reading.get(id);
    if (reading === undefined) {
      reading = load().then(
        (block) => {
          this.reading.delete(id);
          this.cache?.set(id, block);
          return block;
        },
        (error: unknown) => {
          this.reading.delete(id);
          throw error;
        },
      );
      this.reading.set(id, reading);
    }
    return reading;
  }

  /** Whether the SSTs of `dir` are read through a mapping (see the constructor). */
  maps(dir: Dir): boolean {
    return this.mapped !== undefined && dir === this.mapped;
  }

  /** Forgets the blocks of a deleted file. */
  evictFile(file: number, blocks: number): void {
    for (let i = 0; i < blocks; i++) this.cache?.delete(BlockCache.id(file, i));
  }

  get bytes(): number {
    return this.cache?.calculatedSize ?? 0;
  }
}
