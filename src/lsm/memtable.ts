// The memtable: the newest writes, sorted by key in a B+ tree (sorted-btree). Each key holds its versions
// oldest first; a version's value is undefined for a delete (a tombstone). Nothing is overwritten: an
// update or a delete adds a version.
import BTreeModule from 'sorted-btree';

// sorted-btree is CommonJS: the class is its `default` export
const BTree = BTreeModule.default;

export class Versions {
  // arrays of one made by a literal hold one slot; `[]` grows to 16 at the first push (~240 bytes a key)
  readonly seqs: number[];
  readonly values: Array<Buffer | undefined>;

  constructor(seq: number, value: Buffer | undefined) {
    this.seqs = [seq];
    this.values = [value];
  }

  /** The index of the newest version with seq <= `version`, or -1. */
  visible(version: number): number {
    const seqs = this.seqs;
    for (let i = seqs.length - 1; i >= 0; i--) if (seqs[i]! <= version) return i;
    return -1;
  }
}

/** Per-entry bookkeeping counted into the memtable's size besides key and value bytes. */
const ENTRY_OVERHEAD = 64;

export class Memtable {
  /** key order for scans and the flush; `index` finds a key's versions without a tree descent */
  private readonly tree = new BTree<string, Versions>();
  private readonly index = new Map<string, Versions>();
  /** bytes of keys, values and overhead: the memtable is frozen when it passes LsmOptions.memtableSize */
  bytes = 0;
  entries = 0;
  minSeq = Infinity;
  maxSeq = 0;

  add(key: string, seq: number, value: Buffer | undefined): void {
    const versions = this.index.get(key);
    if (versions === undefined) {
      const first = new Versions(seq, value);
      this.index.set(key, first);
      this.tree.set(key, first);
      this.bytes += key.length;
    } else {
      versions.seqs.push(seq);
      versions.values.push(value);
    }
    this.bytes += (value?.length ?? 0) + ENTRY_OVERHEAD;
    this.entries++;
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  get(key: string): Versions | undefined {
    return this.index.get(key);
  }

  get keys(): number {
    return this.tree.size;
  }

  /** The first key >= `key` (> when `exclusive`), with its versions; the first key of all when `key` is undefined. */
  atOrAfter(key: string | undefined, exclusive: boolean): [string, Versions] | undefined {
    if (key === undefined) return this.tree.nextHigherPair(undefined);
    return exclusive ? this.tree.nextHigherPair(key) : this.tree.getPairOrNextHigher(key);
  }

  /** The last key <= `key` (< when `exclusive`); the last key of all when `key` is undefined. */
  atOrBefore(key: string | undefined, exclusive: boolean): [string, Versions] | undefined {
    if (key === undefined) return this.tree.nextLowerPair(undefined);
    return exclusive ? this.tree.nextLowerPair(key) : this.tree.getPairOrNextLower(key);
  }

  /** Every key in order (for a flush; the memtable is frozen by then). */
  sorted(): IterableIterator<[string, Versions]> {
    return this.tree.entries();
  }
}
