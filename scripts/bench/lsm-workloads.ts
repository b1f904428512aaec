// The LSM section's workloads, after LevelDB's db_bench: fillseq, fillrandom, readrandom, readseq and
// seekrandom over 16-byte keys and 100-byte values, each run one operation at a time (as db_bench does,
// single-threaded) and, except readseq, also with `concurrency` operations in flight (the `-qd64` ids),
// since a Node program can keep many in flight and the stores batch or parallelise what is in flight.
//
// Keys are the decimal index padded to 16 digits (db_bench's format); random keys come from Xorshift32
// with fixed seeds, taken in the order the operations are issued, so every store sees the same sequence.
// Values are 100 bytes, half of them a repeat of the other half (db_bench's compression ratio 0.5), taken
// in turn from a 1 MiB pool and copied into a new Buffer per put, as a caller's own buffers would be.
import { Xorshift32 } from './prng.js';
import type { KvStore } from './lsm-stores.js';
import { runWorkers, type Measurement } from './workers.js';

export interface LsmSettings {
  /** keys written by each fill (fillrandom draws them with replacement, as db_bench) */
  keys: number;
  /** gets per readrandom run */
  reads: number;
  /** seeks per seekrandom run */
  seeks: number;
  /** entries read after each seek */
  seekNexts: number;
  /** operations in flight in the -qd workloads */
  concurrency: number;
}

export const LSM_FULL: LsmSettings = { keys: 1_000_000, reads: 1_000_000, seeks: 200_000, seekNexts: 10, concurrency: 64 };
export const LSM_QUICK: LsmSettings = { keys: 100_000, reads: 100_000, seeks: 20_000, seekNexts: 10, concurrency: 64 };

export const KEY_BYTES = 16;
export const VALUE_BYTES = 100;
const VALUE_POOL_BYTES = 1024 * 1024;
const FILL_SEED = 0x5eed_f111;
const READ_SEED = 0x5eed_4ead;
const SEEK_SEED = 0x5eed_5eec;

export type LsmWorkloadId =
  | 'fillseq'
  | 'fillseq-qd64'
  | 'fillrandom'
  | 'fillrandom-qd64'
  | 'readrandom'
  | 'readrandom-qd64'
  | 'readseq'
  | 'seekrandom'
  | 'seekrandom-qd64';

export interface LsmWorkload {
  id: LsmWorkloadId;
  description: string;
  /** a fill makes a new database of its own; the others read the database fillrandom made */
  kind: 'fill' | 'read';
  /** operations in flight */
  inFlight: number;
  run(store: KvStore, settings: LsmSettings, onProgress: (done: number) => void): Promise<LsmMeasurement>;
}

export interface LsmMeasurement extends Measurement {
  /** what the operations found: keys present (readrandom), entries read (readseq, seekrandom) */
  found?: number;
}

export function keyOf(index: number): Buffer {
  return Buffer.from(String(index).padStart(KEY_BYTES, '0'), 'latin1');
}

/** 100-byte values, half compressible, one new Buffer per call. */
export class Values {
  private readonly pool = Buffer.allocUnsafe(VALUE_POOL_BYTES);
  private offset = 0;

  constructor(seed = 0x5eed_7a1e) {
    const prng = new Xorshift32(seed);
    const half = VALUE_BYTES / 2;
    for (let start = 0; start + VALUE_BYTES <= VALUE_POOL_BYTES; start += VALUE_BYTES) {
      for (let i = 0; i < half; i++) this.pool[start + i] = this.pool[start + half + i] = prng.next() & 0xff;
    }
  }

  next(): Buffer {
    if (this.offset + VALUE_BYTES > VALUE_POOL_BYTES) this.offset = 0;
    const value = Buffer.allocUnsafe(VALUE_BYTES);
    this.pool.copy(value, 0, this.offset, this.offset + VALUE_BYTES);
    this.offset += VALUE_BYTES;
    return value;
  }
}

/** `total` operations with `inFlight` workers, reporting progress every tenth of the way. */
function counted(total: number, inFlight: number, onProgress: (done: number) => void, operation: () => Promise<unknown>): Promise<Measurement> {
  const step = Math.max(1, Math.floor(total / 10));
  let done = 0;
  return runWorkers(inFlight, { ops: total }, async () => {
    await operation();
    if (++done % step === 0) onProgress(done);
  });
}

function fill(order: 'seq' | 'random', inFlight: number): LsmWorkload['run'] {
  return async (store, settings, onProgress) => {
    const values = new Values();
    const prng = new Xorshift32(FILL_SEED);
    let next = 0;
    const index = order === 'seq' ? () => next++ : () => prng.below(settings.keys);
    return counted(settings.keys, inFlight, onProgress, () => store.put(keyOf(index()), values.next()));
  };
}

function readRandom(inFlight: number): LsmWorkload['run'] {
  return async (store, settings, onProgress) => {
    const prng = new Xorshift32(READ_SEED);
    let found = 0;
    const measured = await counted(settings.reads, inFlight, onProgress, async () => {
      if ((await store.get(keyOf(prng.below(settings.keys)))) !== undefined) found++;
    });
    return { ...measured, found };
  };
}

/** Each seek on a new iterator (as db_bench's seekrandom), then `seekNexts` entries read with one nextv. */
function seekRandom(inFlight: number): LsmWorkload['run'] {
  return async (store, settings, onProgress) => {
    const prng = new Xorshift32(SEEK_SEED);
    let found = 0;
    const measured = await counted(settings.seeks, inFlight, onProgress, async () => {
      const iterator = store.iterator();
      try {
        iterator.seek(keyOf(prng.below(settings.keys)));
        // not `found += await ...`: that reads `found` before the await and loses the other workers' counts
        const read = await iterator.nextv(settings.seekNexts);
        found += read;
      } finally {
        await iterator.close();
      }
    });
    return { ...measured, found };
  };
}

/** The whole database in key order through one iterator, one next() per entry; an op is an entry. */
const readSeq: LsmWorkload['run'] = async (store, settings, onProgress) => {
  const step = Math.max(1, Math.floor(settings.keys / 10));
  const iterator = store.iterator();
  const start = performance.now();
  let ops = 0;
  try {
    while (await iterator.next()) {
      if (++ops % step === 0) onProgress(ops);
    }
  } finally {
    await iterator.close();
  }
  return { ops, seconds: (performance.now() - start) / 1000, found: ops };
};

export function lsmWorkloads(settings: LsmSettings): LsmWorkload[] {
  const qd = settings.concurrency;
  return [
    { id: 'fillseq', description: 'puts in key order, 1 in flight', kind: 'fill', inFlight: 1, run: fill('seq', 1) },
    { id: 'fillseq-qd64', description: `puts in key order, ${qd} in flight`, kind: 'fill', inFlight: qd, run: fill('seq', qd) },
    { id: 'fillrandom-qd64', description: `puts of random keys, ${qd} in flight`, kind: 'fill', inFlight: qd, run: fill('random', qd) },
    // last of the fills: the reads run on the database it makes
    { id: 'fillrandom', description: 'puts of random keys, 1 in flight', kind: 'fill', inFlight: 1, run: fill('random', 1) },
    { id: 'readrandom', description: 'gets of random keys, 1 in flight', kind: 'read', inFlight: 1, run: readRandom(1) },
    { id: 'readrandom-qd64', description: `gets of random keys, ${qd} in flight`, kind: 'read', inFlight: qd, run: readRandom(qd) },
    { id: 'readseq', description: 'one iterator over everything, next() per entry', kind: 'read', inFlight: 1, run: readSeq },
    {
      id: 'seekrandom',
      description: `new iterator, seek to a random key, nextv(${settings.seekNexts}); 1 in flight`,
      kind: 'read',
      inFlight: 1,
      run: seekRandom(1),
    },
    {
      id: 'seekrandom-qd64',
      description: `new iterator, seek to a random key, nextv(${settings.seekNexts}); ${qd} in flight`,
      kind: 'read',
      inFlight: qd,
      run: seekRandom(qd),
    },
  ];
}
