// A range read: the live keys between the bounds, in order (or reverse), as of one version, up to a limit.
// The iterator holds its version and the files it reads until it is closed.
import { storageError } from '../ground/errors.js';
import type { SyncStreak } from '../ground/event-loop-turns.js';
import { keyBytes, keyOf } from './bytes.js';
import { Merge } from './merge.js';
import type { Source, Step } from './sources.js';
import type { Bytes, Entry, RangeOptions } from './types.js';

interface Bound {
  key: string;
  exclusive: boolean;
}

const EMPTY = Buffer.alloc(0);

export class LsmIterator {
  private readonly merge: Merge;
  private readonly reverse: boolean;
  /** the bounds in the iterator's direction: where it starts, and where it ends */
  private readonly start: Bound | undefined;
  private readonly end: Bound | undefined;
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
    /** the store's count of calls answered without I/O: a loop of them lets the event loop run now and then */
    private readonly cachedReads: SyncStreak,
  ) {
    this.reverse = options.reverse === true;
    this.merge = new Merge(sources, this.reverse);
    const lower = bound(options.gte, options.gt, 1);
    const upper = bound(options.lte, options.lt, -1);
    this.start = this.reverse ? upper : lower;
    this.end = this.reverse ? lower : upper;
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
    this.enter('next');
    try {
      const step = this.advance();
      if (step instanceof Promise) return await step;
      const wait = this.cachedReads.passed();
      if (wait) await wait;
      return step;
    } finally {
      this.settled();
    }
  }

  /** Up to `size` entries (fewer at the end of the range). */
  async nextv(size: number): Promise<Entry[]> {
    this.enter('nextv');
    try {
      const entries: Entry[] = [];
      let waited = false;
      while (entries.length < size) {
        const step = this.advance();
        waited ||= step instanceof Promise;
        const entry = step instanceof Promise ? await step : step;
        if (entry === undefined) break;
        entries.push(entry);
      }
      const wait = waited ? undefined : this.cachedReads.passed();
      if (wait) await wait;
      return entries;
    } finally {
      this.settled();
    }
  }

  /** A call ended; one closed meanwhile releases what the iterator held now (close left it to the call). */
  private settled(): void {
    this.busy = false;
    if (this.closed) this.release();
  }

  private enter(what: string): void {
    if (this.closed) throw storageError('EBADF', `${what} on a closed iterator`);
    if (this.busy) throw storageError('EBUSY', `${what} called before the previous call settled`);
    this.busy = true;
  }

  /** Moves on and returns the entry there: at once when no block had to be read, else a promise. */
  private advance(): Entry | undefined | Promise<Entry | undefined> {
    let step: Step;
    if (this.seekTarget !== undefined) {
      const target = this.seekTarget;
      this.seekTarget = undefined;
      this.started = true;
      const start = this.start;
      const inside = start === undefined || (this.reverse ? target < start.key : target > start.key);
      step = inside ? this.merge.seek(target, false) : this.merge.seek(start.key, start.exclusive);
    } else if (!this.started) {
      this.started = true;
      step = this.merge.seek(this.start?.key, this.start?.exclusive ?? false);
    } else {
      // done without moving on: at the limit, or on an inclusive end bound (moving on would read past
      // the range, a block that may not even be readable)
      const end = this.end;
      if (this.count >= this.limit || (end !== undefined && !end.exclusive && this.merge.key === end.key)) return undefined;
      step = this.merge.next();
    }
    return step === undefined ? this.current() : step.then(() => this.current());
  }

  /** The entry the merge is on, if it is inside the range and the limit. */
  private current(): Entry | undefined {
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
    const end = this.end;
    if (end === undefined) return false;
    if (this.reverse) return key < end.key || (key === end.key && end.exclusive);
    return key > end.key || (key === end.key && end.exclusive);
  }

  /**
   * Releases the version and the files this iterator holds; while a next() or nextv() is under way, when
   * it settles (it still reads the blocks it holds: a compaction could otherwise delete their file).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.busy) this.release();
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
function bound(inclusive: Bytes | undefined, exclusive: Bytes | undefined, side: 1 | -1): Bound | undefined {
  const ex = exclusive === undefined ? undefined : { key: keyOf(exclusive), exclusive: true };
  const inc = inclusive === undefined ? undefined : { key: keyOf(inclusive), exclusive: false };
  if (ex === undefined || inc === undefined) return ex ?? inc;
  // side 1 (a lower bound): the larger key is tighter; side -1 (an upper bound): the smaller
  if (inc.key === ex.key) return ex;
  return inc.key > ex.key === (side === 1) ? inc : ex;
}
