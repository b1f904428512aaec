// Decoded data blocks shared by every table of a store, least recently used first out (lru-cache), sized
// in bytes. A block read that is already under way is shared instead of read twice.
import { LRUCache } from 'lru-cache';

import { blockCost, type Block } from './block.js';

/** Blocks per file are numbered below this: (file, block) is one number. */
const BLOCKS_PER_FILE = 1 << 22;

export class BlockCache {
  private readonly cache: LRUCache<number, Block> | undefined;
  private readonly reading = new Map<number, Promise<Block>>();

  constructor(maxBytes: number) {
    this.cache = maxBytes > 0 ? new LRUCache<number, Block>({ maxSize: maxBytes, sizeCalculation: (block) => Math.max(1, blockCost(block)) }) : undefined;
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

  /** Forgets the blocks of a deleted file. */
  evictFile(file: number, blocks: number): void {
    for (let i = 0; i < blocks; i++) this.cache?.delete(BlockCache.id(file, i));
  }

  get bytes(): number {
    return this.cache?.calculatedSize ?? 0;
  }
}
