// Buffers for the pieces of a ranged GET's body, used again once the caller has written them: a piece is
// copied out of its connection's reads' buffer (read into again at once) into one of these. Fresh memory
// for every piece cost more than the copy: 1.7-1.9 ms a MiB of page faults on this VM (a cold read of a
// 64 MiB object through the S3 mount, BENCHMARKS.md session 28), where a buffer used again is already
// faulted in. A buffer the caller never gives back is the garbage collector's, as any other. The backup's
// whole-file reads take its buffers too (src/backup/file-buffers.ts).

export class PiecePool {
  private readonly free: Buffer[] = [];
  /** the memories of the buffers lent and not given back: only those are taken back, once each */
  private readonly lent = new WeakSet<ArrayBuffer>();

  constructor(
    /** the size of each buffer: the largest piece */
    readonly size: number,
    /** how many free buffers are kept at most */
    private readonly keep: number,
  ) {}

  /**
   * A copy of `piece`: in a buffer of the pool when it is at least a quarter of `size` (and at most `size`),
   * else of its own size (a buffer of the pool for each small read, 8 KiB on a real network, would count
   * up to 32 times the bytes held against the heap's external memory).
   */
  copy(piece: Uint8Array): Buffer {
    if (piece.length > this.size || piece.length * 4 < this.size) return Buffer.from(piece);
    const buffer = this.take();
    buffer.set(piece);
    return buffer.subarray(0, piece.length);
  }

  /** A buffer of the pool (`size` bytes), lent until it is given back (giveBack). */
  take(): Buffer {
    const buffer = this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    this.lent.add(buffer.buffer as ArrayBuffer);
    return buffer;
  }

  /** The pieces `copy` or `take` gave (or views of them) are no longer used by anyone: their buffers serve again. */
  giveBack(pieces: readonly Uint8Array[]): void {
    for (const piece of pieces) {
      const memory = piece.buffer as ArrayBuffer;
      if (!this.lent.has(memory)) continue;
      this.lent.delete(memory);
      if (this.free.length < this.keep) this.free.push(Buffer.from(memory, 0, this.size));
    }
  }
}
