// Sequential-read detection for one open handle of a cached object: which blocks to fetch ahead of a read.
// A read that starts within a block of where the previous one ended (the first read of a handle counts
// from block 0; the kernel's reads of one stream may arrive slightly out of order) continues a run; the blocks fetched ahead double with each read of the
// run, from 2 up to `maxBlocks`, as the kernel's own read-ahead does. Any other read ends the run: random
// access fetches only what it reads. Reads the mount's native data path served (servedCell) count as the
// run's too: they were of blocks held from 0 on.

export class ReadAhead {
  /** the end of the furthest read native code served to this handle (0: none), which it raises */
  readonly servedCell = new Float64Array(1);
  /** the last block of the previous read (-1: none yet, so a read of block 0 is sequential) */
  private lastBlock = -1;
  /** blocks to fetch ahead on the next sequential read (0: not in a run) */
  private window = 0;
  private stopped = false;

  constructor(private readonly maxBlocks: number) {}

  /**
   * A read of blocks `first` to `last` (inclusive), `served` the last block native code served (-1:
   * none): the blocks to fetch ahead of it, as [from, to) (empty when the read is not sequential or
   * read-ahead is off).
   */
  next(first: number, last: number, served = -1): [number, number] {
    if (served > this.lastBlock && this.window > 0) this.lastBlock = served;
    else if (this.lastBlock === -1 && served >= 0) this.lastBlock = served;
    const sequential = first >= this.lastBlock - 1 && first <= this.lastBlock + 1;
    if (!sequential || this.maxBlocks <= 0) {
      this.lastBlock = last;
      this.window = 0;
      return [last + 1, last + 1];
    }
    this.lastBlock = Math.max(this.lastBlock, last);
    return this.ahead();
  }

  /**
   * Native code served up to block `served` (-1: none) since: the blocks to fetch ahead of it, as [from,
   * to), if the handle is in a run (empty otherwise, and once stopped).
   */
  beyond(served: number): [number, number] {
    if (this.stopped || this.window === 0 || served < 0) return [0, 0];
    this.lastBlock = Math.max(this.lastBlock, served);
    return this.ahead();
  }

  /** The handle closed: nothing more is fetched for it. */
  stop(): void {
    this.stopped = true;
  }

  private ahead(): [number, number] {
    this.window = Math.min(this.maxBlocks, Math.max(2, this.window * 2));
    return [this.lastBlock + 1, this.lastBlock + 1 + this.window];
  }
}
