// Sequential-read detection for one open handle of a cached object: which blocks to fetch ahead of a read.
// A read that starts within a block of where the previous one ended (the first read of a handle counts
// from block 0; the kernel's reads of one stream may arrive slightly out of order) continues a run; the blocks fetched ahead double with each read of the
// run, from 2 up to `maxBlocks`, as the kernel's own read-ahead does. Any other read ends the run: random
// access fetches only what it reads.

export class ReadAhead {
  /** the last block of the previous read (-1: none yet, so a read of block 0 is sequential) */
  private lastBlock = -1;
  /** blocks to fetch ahead on the next sequential read (0: not in a run) */
  private window = 0;

  constructor(private readonly maxBlocks: number) {}

  /**
   * A read of blocks `first` to `last` (inclusive): the blocks to fetch ahead of it, as [from, to)
   * (empty when the read is not sequential or read-ahead is off).
   */
  next(first: number, last: number): [number, number] {
    const sequential = first >= this.lastBlock - 1 && first <= this.lastBlock + 1;
    if (!sequential || this.maxBlocks <= 0) {
      this.lastBlock = last;
      this.window = 0;
      return [last + 1, last + 1];
    }
    this.lastBlock = Math.max(this.lastBlock, last);
    this.window = Math.min(this.maxBlocks, Math.max(2, this.window * 2));
    return [this.lastBlock + 1, this.lastBlock + 1 + this.window];
  }
}
