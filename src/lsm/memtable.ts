// The memtable: the newest writes, sorted by key (bytewise) and for one key by version newest first, held
// by the addon outside the V8 heap (native/src/memtable.cc: a skiplist in an arena, as LevelDB's). A put
// copies its key and value from the WAL record into the arena and leaves no object behind; the memory
// goes back at once when the last state holding the memtable lets go of it (free()). Nothing is
// overwritten: an update or a delete (a tombstone) adds a version.
import { storageError } from '../ground/errors.js';
import { native, type NativeMemtable } from '../io/native.js';
import type { Hit } from './table.js';

/**
 * Where the addon reports the entry a call landed on: [0] its version, [1] its value's length (-1: a
 * delete), [2] its index (the entry's name in later calls). Valid until the next call on any memtable.
 */
export const landed = new Float64Array(3);

export class Memtable {
  private readonly table: NativeMemtable = new native.Memtable(landed);
  entries = 0;
  minSeq = Infinity;
  maxSeq = 0;
  /** the states holding this memtable (version-set.ts): freed when the last lets go */
  refs = 0;

  /** bytes of entries (keys, values, versions and links): the memtable is frozen past LsmOptions.memtableSize */
  get bytes(): number {
    return this.table.bytes;
  }

  /** distinct keys */
  get keys(): number {
    return this.table.keys;
  }

  /**
   * Inserts the ops of a WAL write record (write-batch.ts), which gives their versions; returns their
   * count. A malformed record is EBADMSG and inserts nothing.
   */
  addBatch(record: Uint8Array, where: string): number {
    const count = this.table.addBatch(record);
    if (count < 0) throw storageError('EBADMSG', `LSM write record at ${where} is malformed`);
    if (count > 0) {
      const first = landed[0]!;
      if (first < this.minSeq) this.minSeq = first;
      if (first + count - 1 > this.maxSeq) this.maxSeq = first + count - 1;
      this.entries += count;
    }
    return count;
  }

  /** The version of `key` visible at `version` (newest at or below it; a delete: value undefined), with a copy of its value. */
  find(key: string, version: number): Hit | undefined {
    const at = this.table.find(key, version);
    if (at < 0) return undefined;
    const seq = landed[0]!;
    return { seq, value: this.value(at, landed[1]!) };
  }

  /** A copy of the value of entry `at`, `length` bytes long (-1: a delete, undefined). */
  value(at: number, length: number): Buffer | undefined {
    if (length < 0) return undefined;
    const out = Buffer.allocUnsafe(length);
    this.table.copyValue(at, out);
    return out;
  }

  /**
   * Forward: the first key >= target (> when `exclusive`) with a version visible at `version`; reverse:
   * the last key <= target (<). An undefined target starts at the first (last) key. The entry is in `landed`.
   */
  seek(target: string | undefined, exclusive: boolean, version: number, reverse: boolean): string | undefined {
    return this.table.seek(target, exclusive, version, reverse);
  }

  /** As seek, from the key of entry `at`, exclusive. */
  step(at: number, version: number, reverse: boolean): string | undefined {
    return this.table.step(at, version, reverse);
  }

  /** The next data block of an SST of every entry after `entry` (SstBuilder.addBlockOf; native.ts says how). */
  encodeBlock(entry: number, out: Uint8Array, offset: number, blockSize: number, restartInterval: number, hashes: Uint32Array, report: Float64Array): number {
    return this.table.encodeBlock(entry, out, offset, blockSize, restartInterval, hashes, report);
  }

  /** The key of entry `entry` (as encodeBlock reports them). */
  keyAt(entry: number): string {
    return this.table.keyAt(entry);
  }

  /** Every entry in order, every version (the flush's way before encodeBlock; tests compare the two). The value is a view valid until the next entry. */
  *sorted(): Generator<[key: string, seq: number, value: Buffer | undefined]> {
    let scratch = Buffer.allocUnsafe(4096);
    let key = '';
    for (let at = this.table.next(-1); at >= 0; at = this.table.next(at)) {
      const seq = landed[0]!;
      const length = landed[1]!;
      if (landed[2] === 1) key = this.table.keyAt(at);
      if (length < 0) {
        yield [key, seq, undefined];
        continue;
      }
      if (length > scratch.length) scratch = Buffer.allocUnsafe(length);
      this.table.copyValue(at, scratch);
      yield [key, seq, scratch.subarray(0, length)];
    }
  }

  /** Gives the memory back; any later use is EBADF. */
  free(): void {
    this.table.free();
  }
}
