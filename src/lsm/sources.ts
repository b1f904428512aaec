// Sources of a read: cursors over one memtable or one run of SSTs (a level, or one level-0 file), each
// showing per key only the version visible at the read's version (newest with seq <= it; it may be a
// delete). They move in one direction, chosen when made. A move returns a promise only when it has to
// read a block; otherwise it is done when it returns, which keeps scans over cached blocks cheap.
import { groupStart, isDelete, keyAt, nextGroup, seekEntry, seqAt, valueAt, visibleInGroup, type Block } from './block.js';
import { landed, type Memtable } from './memtable.js';
import { firstEndingAtOrAfter } from './key-range.js';
import type { Table } from './table.js';

export type Step = Promise<void> | undefined;

export interface Source {
  /** the current key; undefined once the source is exhausted */
  key: string | undefined;
  seq: number;
  deleted: boolean;
  value(): Buffer;
  /**
   * Forward: to the first key >= target (> when exclusive); reverse: to the last key <= target (<).
   * An undefined target means the first (forward) or last (reverse) key.
   */
  seek(target: string | undefined, exclusive: boolean): Step;
  /** To the next key in the source's direction. */
  step(): Step;
}

export class MemtableSource implements Source {
  key: string | undefined;
  seq = 0;
  deleted = false;
  /** the entry the source is on, and its value's length */
  private at = -1;
  private length = -1;

  constructor(
    private readonly memtable: Memtable,
    private readonly version: number,
    private readonly reverse: boolean,
  ) {}

  value(): Buffer {
    return this.memtable.value(this.at, this.length)!;
  }

  seek(target: string | undefined, exclusive: boolean): Step {
    this.land(this.memtable.seek(target, exclusive, this.version, this.reverse));
    return undefined;
  }

  step(): Step {
    if (this.key === undefined) return undefined;
    this.land(this.memtable.step(this.at, this.version, this.reverse));
    return undefined;
  }

  private land(key: string | undefined): void {
    this.key = key;
    if (key === undefined) return;
    this.seq = landed[0]!;
    this.length = landed[1]!;
    this.at = landed[2]!;
    this.deleted = this.length < 0;
  }
}

/** A run of SSTs with disjoint key ranges, in key order: a level >= 1, or one level-0 file alone. */
export class TablesSource implements Source {
  key: string | undefined;
  seq = 0;
  deleted = false;
  private t = 0;
  private b = 0;
  /** the first entry of the current key's group in the block (-1 or count: outside it) */
  private g = 0;
  private block: Block | undefined;
  private entry = -1;
  /** where to place g once block b is loaded: a seek target, or the block's first/last group */
  private target: string | undefined;
  private exclusive = false;

  constructor(
    private readonly tables: readonly Table[],
    private readonly version: number,
    private readonly reverse: boolean,
  ) {}

  value(): Buffer {
    return Buffer.from(valueAt(this.block!, this.entry));
  }

  seek(target: string | undefined, exclusive: boolean): Step {
    const tables = this.tables;
    this.block = undefined;
    this.target = target;
    this.exclusive = exclusive;
    if (target === undefined) {
      this.t = this.reverse ? tables.length - 1 : 0;
      this.b = this.reverse && this.t >= 0 ? tables[this.t]!.blocks - 1 : 0;
      return this.settle();
    }
    // the table, then the block, whose range may hold target
    let t = firstEndingAtOrAfter(tables, target);
    if (this.reverse && t === tables.length) t = tables.length - 1;
    this.t = t;
    if (t >= 0 && t < tables.length) {
      const table = tables[t]!;
      const b = table.blockFor(target);
      this.b = b === table.blocks ? table.blocks - 1 : b;
    }
    return this.settle();
  }

  step(): Step {
    if (this.key === undefined) return undefined;
    this.moveOn(this.block!);
    return this.settle();
  }

  /** To the next group in the source's direction (possibly outside the block). */
  private moveOn(block: Block): void {
    if (!this.reverse) this.g = nextGroup(block, this.g);
    else this.g = this.g > 0 ? groupStart(block, this.g - 1) : -1;
  }

  /** Moves to the next block in the source's direction (across tables); false past the end. */
  private nextBlock(): boolean {
    this.block = undefined;
    this.target = undefined;
    const tables = this.tables;
    if (this.reverse) {
      if (--this.b < 0) {
        if (--this.t < 0) return false;
        this.b = tables[this.t]!.blocks - 1;
      }
    } else if (++this.b >= tables[this.t]!.blocks) {
      if (++this.t >= tables.length) return false;
      this.b = 0;
    }
    return true;
  }

  /** Where g starts in a freshly loaded block. */
  private place(block: Block): void {
    const target = this.target;
    this.target = undefined;
    if (target === undefined) {
      this.g = !this.reverse ? 0 : block.count > 0 ? groupStart(block, block.count - 1) : -1;
      return;
    }
    const e = seekEntry(block, target);
    const onTarget = e < block.count && keyAt(block, e) === target;
    if (!this.reverse) this.g = onTarget && this.exclusive ? nextGroup(block, e) : e;
    else this.g = onTarget && !this.exclusive ? e : e > 0 ? groupStart(block, e - 1) : -1;
  }

  /** From (t, b, g) on, in the source's direction, the first key with a visible version. */
  private settle(): Step {
    for (;;) {
      if (this.t < 0 || this.t >= this.tables.length) {
        this.key = undefined;
        return undefined;
      }
      if (this.block === undefined) {
        const loaded = this.tables[this.t]!.block(this.b);
        if (loaded instanceof Promise) {
          return loaded.then((block) => {
            this.block = block;
            this.place(block);
            return this.settle();
          });
        }
        this.block = loaded;
        this.place(loaded);
      }
      const block = this.block;
      while (this.g >= 0 && this.g < block.count) {
        const e = visibleInGroup(block, this.g, this.version);
        if (e >= 0) {
          this.key = keyAt(block, this.g);
          this.entry = e;
          this.seq = seqAt(block, e);
          this.deleted = isDelete(block, e);
          return undefined;
        }
        this.moveOn(block);
      }
      if (!this.nextBlock()) {
        this.key = undefined;
        return undefined;
      }
    }
  }
}
