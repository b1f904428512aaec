// A deterministic pseudo-random sequence (Marsaglia's xorshift, 32-bit state) for choosing offsets. Every
// peer gets the same sequence for the same worker, so all of them touch the same blocks in the same order.

/** Seeds for worker indices: distinct, never zero (zero is xorshift's one fixed point). */
export function workerSeed(workerIndex: number): number {
  return Math.imul(workerIndex + 1, 0x9e3779b1) >>> 0 || 1;
}

export class Xorshift32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }

  /** The next value in [0, 2^32). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** An integer in [0, bound), bound at most 2^32 (scaling, not modulo, so no bucket is favoured). */
  below(bound: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * bound);
  }
}

/** `blockSize`-aligned offsets spread over a file of `fileSize` bytes. */
export function randomBlockOffsets(seed: number, fileSize: number, blockSize: number): () => number {
  const prng = new Xorshift32(seed);
  const blocks = Math.floor(fileSize / blockSize);
  return () => prng.below(blocks) * blockSize;
}
