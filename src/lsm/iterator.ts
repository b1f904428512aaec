// A range read: the live keys between the bounds, in order (or reverse), as of one version, up to a limit.
// The iterator holds its version and the files it reads until it is closed.
import { storageError } from '../storage/errors.js';
import { keyBytes, keyOf } from './bytes.js';
import { Merge } from './merge.js';
import type { Source } from './sources.js';
import type { Bytes, Entry, RangeOptions } from './types.js';

interface Bound {
  key: string;
  exclusive: boolean;
}

const EMPTY = Buffer.alloc(0);

export class LsmIterator {
  private readonly merge: Merge;
  private readonly reverse: boolean;
  private readonly lower: Bound | undefined;
  private readonly upper: Bound | undefined;
  private readonly limit: number;
  private readonly wantKeys: boolean;
  private readonly wantValues: boolean;
  private count = 0;
  private started = false;
  private seekTarget: string | undefined;
  private closed = false;
  private busy = false;

  /** @internal made by LsmStore.iterator and Snapshot.iterator */
  constructor(
    sources: Source[],
    readonly version: number,
    options: RangeOptions,
    private readonly release: () => void,
  ) {
    this.reverse = options.reverse === true;
    this.merge = new Merge(sources, this.reverse);
    this.lower = bound(options.gte, options.gt, 'lower');
    this.upper = bound(options.lte, options.lt, 'upper');
    const limit = options.limit ?? -1;
    this.limit = limit < 0 || limit === Infinity ? Infinity : limit;
    this.wantKeys = options.keys !== false;
    this.wantValues = options.values !== false;
  }

  /**
   * Moves the iterator: the next entry is the first key >= target (<= target when reverse) inside the
   * range. Takes effect at the next call of next().
   */
  seek(target: Bytes): void {
    if (this.closed) throw storageError('EBADF', 'seek on a closed iterator');
    this.seekTarget = keyOf(target);
  }

  /** The next entry, or undefined at the end of the range (or past the limit). */
  async next(): Promise<Entry | undefined> {
    if (this.closed) throw storageError('EBADF', 'next on a closed iterator');
    if (this.busy) throw storageError('EBUSY', 'next called before the previous call settled');
    this.busy = true;
    try {
      return await this.advance();
    } finally {
      this.busy = false;
    }
  }

  /** Up to `size` entries (fewer at the end of the range). */
  async nextv(size: number): Promise<Entry[]> {
    if (this.closed) throw storageError('EBADF', 'nextv on a closed iterator');
    if (this.busy) throw storageError('EBUSY', 'nextv called before the previous call settled');
    this.busy = true;
    try {
      const entries: Entry[] = [];
      while (entries.length < size) {
        const entry = await this.advance();
        if (entry === undefined) break;
        entries.push(entry);
      }
      return entries;
    } finally {
      this.busy = false;
    }
  }

  private async advance(): Promise<Entry | undefined> {
    if (this.seekTarget !== undefined) {
      const target = this.seekTarget;
      this.seekTarget = undefined;
      this.started = true;
      const start = this.reverse ? this.upper : this.lower;
      const inside = start === undefined || (this.reverse ? target < start.key : target > start.key);
      await (inside ? this.merge.seek(target, false) : this.merge.seek(start.key, start.exclusive));
    } else if (!this.started) {
      this.started = true;
      const start = this.reverse ? this.upper : this.lower;
      await this.merge.seek(start?.key, start?.exclusive ?? false);
    } else {
      await this.merge.next();
    }
    const key = this.merge.key;
    if (key === undefined || this.count >= this.limit || this.pastEnd(key)) return undefined;
    this.count++;
    const winner = this.merge.winner!;
    return {
      key: this.wantKeys ? keyBytes(key) : EMPTY,
      value: this.wantValues ? winner.value() : EMPTY,
      version: winner.seq,
    };
  }

  private pastEnd(key: string): boolean {
    const end = this.reverse ? this.lower : this.upper;
    if (end === undefined) return false;
    if (this.reverse) return key < end.key || (key === end.key && end.exclusive);
    return key > end.key || (key === end.key && end.exclusive);
  }

  /** Releases the version and the files this iterator holds. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Entry, void, undefined> {
    try {
      for (;;) {
        const entry = await this.next();
        if (entry === undefined) return;
        yield entry;
      }
    } finally {
      await this.close();
    }
  }
}

/** The tighter of an inclusive and an exclusive bound given for the same side (exclusive wins a tie). */
function bound(inclusive: Bytes | undefined, exclusive: Bytes | undefined, side: 'lower' | 'upper'): Bound | undefined {
  const inc: Bound | undefined = inclusive === undefined ? undefined : { key: keyOf(inclusive), exclusive: false };
  const exc: Bound | undefined = exclusive === undefined ? undefined : { key: keyOf(exclusive), exclusive: true };
  if (inc === undefined || exc === undefined) return exc ?? inc;
  if (inc.key === exc.key) return exc;
  // the tighter lower bound is the larger key, the tighter upper bound the smaller one
  return (side === 'lower') === inc.key > exc.key ? inc : exc;
}
