// Bloom filter over the keys of one SST: `bitsPerKey` bits a key and k = bitsPerKey * ln 2 probes made
// from one 32-bit hash by double hashing (the second hash is the first rotated), as LevelDB does.
// Layout: the bit array, then one byte holding k.
import { hashKey } from './bytes.js';

export function buildBloom(hashes: readonly number[], bitsPerKey: number): Buffer {
  const k = Math.min(30, Math.max(1, Math.round(bitsPerKey * 0.69)));
  const bits = Math.max(64, hashes.length * bitsPerKey);
  const bytes = Math.ceil(bits / 8);
  const filter = Buffer.alloc(bytes + 1);
  const nbits = bytes * 8;
  for (const hash of hashes) {
    let h = hash;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < k; j++) {
      const bit = h % nbits;
      filter[bit >>> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
  filter[bytes] = k;
  return filter;
}

/** False when `hash`'s key is certainly not in the filter's set. An empty filter matches everything. */
export function bloomMayContain(filter: Buffer, hash: number): boolean {
  if (filter.length < 2) return true;
  const bytes = filter.length - 1;
  const k = filter[bytes]!;
  const nbits = bytes * 8;
  let h = hash;
  const delta = ((h >>> 17) | (h << 15)) >>> 0;
  for (let j = 0; j < k; j++) {
    const bit = h % nbits;
    if ((filter[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    h = (h + delta) >>> 0;
  }
  return true;
}

export { hashKey };
