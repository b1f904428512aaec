// The workloads: what one peer does in one turn, and what has to happen before each turn (warming or
// dropping the page cache). A workload runs in `rounds` turns per peer, each with an equal share of the
// work, and the peers take their turns interleaved, so slow drift (page-cache writeback, a noisy
// neighbour) does not land on one peer only. Every turn starts with an unmeasured warm-up of the same job.
import { randomFillSync } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { alignedBuffer } from '../../src/index.js';
import { dropCaches, removeQuietly, warmPageCache, type DataFile, MiB } from './data-files.js';
import { PEER_NAMES, type BenchDir, type BenchFile, type Peer, type PeerName } from './peers.js';
import { randomBlockOffsets, workerSeed } from './prng.js';
import { runWorkers, type Limit, type Measurement } from './workers.js';

const BLOCK = 4096;
const SMALL_FILES_DIR = 'small-files';
/** Seeds for the unmeasured warm-up ops, far from the measured ones so the two never share a sequence. */
const WARMUP_SEED_BASE = 1_000_000;
/** The unmeasured files each small-files turn starts with, as a share of its measured ones. */
const SMALL_FILES_WARMUP_SHARE = 0.25;

export interface Settings {
  /** turns per peer and workload */
  rounds: number;
  /** measured time per peer for each timed workload, over all its rounds */
  timedSeconds: number;
  /** unmeasured time at the start of every turn of a timed workload (JIT, ring and thread-pool start) */
  warmupSeconds: number;
  appendBytes: number;
  appendvBytes: number;
  smallFiles: number;
  fioSeconds: number;
}

export const FULL: Settings = {
  // as many as there are peers: with the order rotated each round, every peer takes every place once, so
  // drift within a workload (the host's cache filling, writeback) lands on all of them alike
  rounds: PEER_NAMES.length,
  timedSeconds: 5,
  warmupSeconds: 0.25,
  appendBytes: 1024 * MiB,
  // enough that a turn is measured for about 0.3 s (appendv) and 1-2 s (small files): with 256 MiB and
  // 10,000 files a turn took 0.1-0.2 s, and the process's first turn of a workload came out 15-30% low for
  // whichever peer took it (BENCHMARKS.md, session 45)
  appendvBytes: 1024 * MiB,
  smallFiles: 30_000,
  fioSeconds: 10,
};

export const QUICK: Settings = {
  rounds: 1,
  timedSeconds: 0.5,
  warmupSeconds: 0.05,
  appendBytes: 16 * MiB,
  appendvBytes: 4 * MiB,
  smallFiles: 500,
  fioSeconds: 1,
};

export interface BenchFiles {
  /** 256 MiB, read through the page cache */
  warm: DataFile;
  /** 2 GiB, read with O_DIRECT after dropping the caches */
  cold: DataFile;
}

export interface WorkloadContext {
  dir: string;
  files: BenchFiles;
  settings: Settings;
  /** records something the reader of the results should know (e.g. the caches could not be dropped) */
  note(message: string): void;
}

export const WORKLOAD_IDS = [
  'randread-4k-qd1-warm',
  'randread-4k-qd32-warm',
  'randread-4k-qd32-cold-direct',
  'append-1m',
  'appendv-16x4k',
  'randwrite-4k-qd32-warm',
  'small-files',
] as const;
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

/** fio running the same job, as the ceiling for this machine. */
export interface FioJob {
  file: keyof BenchFiles;
  direct: boolean;
}

export interface Workload {
  id: WorkloadId;
  description: string;
  bytesPerOp: number;
  /** the big file it works on, created before the run if missing */
  file?: keyof BenchFiles;
  fio?: FioJob;
  /** before every turn, and before fio */
  prepare(context: WorkloadContext): Promise<void>;
  /** one peer's turn (`round` counts from 0) */
  turn(peer: Peer, round: number, context: WorkloadContext): Promise<Measurement>;
  /** after all turns, also after a failure: removes what the turns made */
  cleanup?(context: WorkloadContext): Promise<void>;
}

export function allWorkloads(): Workload[] {
  return [
    randomReads('randread-4k-qd1-warm', 1, 'warm'),
    randomReads('randread-4k-qd32-warm', 32, 'warm'),
    randomReads('randread-4k-qd32-cold-direct', 32, 'cold'),
    appends('append-1m', 'sequential 1 MiB appends, one at a time', [MiB], (s) => s.appendBytes),
    appends('appendv-16x4k', 'sequential appendv of 16 x 4 KiB, one at a time', Array<number>(16).fill(BLOCK), (s) => s.appendvBytes),
    randomWrites('randwrite-4k-qd32-warm', 32),
    smallFiles(32),
  ];
}

const warmFile = async (context: WorkloadContext) => warmPageCache(context.files.warm);

async function dropCachesOrNote(context: WorkloadContext): Promise<void> {
  if (!dropCaches()) context.note('could not drop the page cache (not root?): the cold job ran with warm metadata caches');
}

/** Runs `work` on the bench directory as `peer` sees it, closing what it opened. */
async function inBenchDir<T>(peer: Peer, relativePath: string, work: (dir: BenchDir) => Promise<T>): Promise<T> {
  const dir = await peer.openDirectory(relativePath);
  try {
    return await work(dir);
  } finally {
    await dir.close();
  }
}

async function onFile<T>(peer: Peer, file: DataFile, direct: boolean, work: (file: BenchFile) => Promise<T>): Promise<T> {
  return inBenchDir(peer, '', async (dir) => {
    const opened = await dir.openFile(file.name, direct);
    try {
      return await work(opened);
    } finally {
      await opened.close();
    }
  });
}

/**
 * Per-worker random 4 KiB blocks of `file`: a warm-up phase, then the measured phase. Each peer's turn
 * reads its own blocks (the seeds depend on the round and the peer): a block another peer has just read
 * may still be in a cache below the guest's (the host's, for an O_DIRECT read on a VM), which would favour
 * whoever comes later in a round.
 */
async function randomBlockJob(
  queueDepth: number,
  file: DataFile,
  turn: { round: number; peer: PeerName },
  settings: Settings,
  operation: (offset: number, buffer: Buffer) => Promise<void>,
  makeBuffer: () => Buffer,
): Promise<Measurement> {
  const buffers = Array.from({ length: queueDepth }, makeBuffer);
  const phase = (seedBase: number, limit: Limit) => {
    const offsets = buffers.map((_, worker) => randomBlockOffsets(workerSeed(seedBase + worker), file.size, BLOCK));
    return runWorkers(queueDepth, limit, (worker) => operation(offsets[worker]!(), buffers[worker]!));
  };
  const seedBase = (turn.round * PEER_NAMES.length + PEER_NAMES.indexOf(turn.peer)) * queueDepth;
  await phase(WARMUP_SEED_BASE + seedBase, { seconds: settings.warmupSeconds });
  return phase(seedBase, { seconds: settings.timedSeconds / settings.rounds });
}

function randomReads(id: WorkloadId, queueDepth: number, which: keyof BenchFiles): Workload {
  const direct = which === 'cold';
  return {
    id,
    description: `4 KiB random reads, ${queueDepth} in flight, ${direct ? '2 GiB file, O_DIRECT, caches dropped' : '256 MiB file in the page cache'}`,
    bytesPerOp: BLOCK,
    file: which,
    fio: queueDepth === 32 ? { file: which, direct } : undefined,
    prepare: direct ? dropCachesOrNote : warmFile,
    turn: (peer, round, context) => {
      const data = context.files[which];
      return onFile(peer, data, direct, (file) =>
        randomBlockJob(
          queueDepth,
          data,
          { round, peer: peer.name },
          context.settings,
          async (offset, buffer) => {
            const n = await file.read(offset, buffer);
            if (n !== buffer.length) throw new Error(`${peer.name}: short read at ${offset}: ${n} bytes`);
          },
          // O_DIRECT needs aligned memory; node:fs gets the same aligned Buffers, they are ordinary Buffers
          () => (direct ? alignedBuffer(BLOCK, BLOCK) : Buffer.alloc(BLOCK)),
        ),
      );
    },
  };
}

function randomWrites(id: WorkloadId, queueDepth: number): Workload {
  return {
    id,
    description: `4 KiB random writeAt, ${queueDepth} in flight, 256 MiB file in the page cache, no fsync`,
    bytesPerOp: BLOCK,
    file: 'warm',
    prepare: warmFile,
    turn: (peer, round, context) => {
      const data = context.files.warm;
      return onFile(peer, data, false, (file) =>
        randomBlockJob(
          queueDepth,
          data,
          { round, peer: peer.name },
          context.settings,
          (offset, buffer) => file.writeAt(offset, buffer),
          () => randomFillSync(Buffer.alloc(BLOCK)),
        ),
      );
    },
  };
}

const appendFileName = (peer: PeerName) => `append-${peer.replace(':', '-')}.dat`;

/**
 * Appends to a new file one record at a time (each awaited), then deletes it. A turn does this twice and
 * measures the second: the first is its warm-up, and frees as much page-cache memory as the second then
 * takes. (On a VM that hands freed memory back to the host, the first touch of memory is a host page fault,
 * which would otherwise land on whichever peer goes first.)
 */
function appends(id: WorkloadId, description: string, bufferSizes: number[], totalBytes: (settings: Settings) => number): Workload {
  const recordBytes = bufferSizes.reduce((sum, size) => sum + size, 0);
  const single = bufferSizes.length === 1;
  return {
    id,
    description: `${description}, no fsync`,
    bytesPerOp: recordBytes,
    prepare: async () => {},
    turn: (peer, _round, context) =>
      inBenchDir(peer, '', async (dir) => {
        const name = appendFileName(peer.name);
        await removeQuietly(path.join(context.dir, name));
        const buffers = bufferSizes.map((size) => randomFillSync(Buffer.alloc(size)));
        const ops = Math.floor(totalBytes(context.settings) / recordBytes / context.settings.rounds);
        const appendAndDelete = async (): Promise<Measurement> => {
          const file = await dir.createFile(name);
          let measured: Measurement;
          try {
            measured = await runWorkers(1, { ops }, async () => {
              await (single ? file.append(buffers[0]!) : file.appendv(buffers));
            });
          } finally {
            await file.close();
          }
          await dir.deleteFile(name);
          return measured;
        };
        await appendAndDelete();
        return appendAndDelete();
      }),
    cleanup: async (context) => {
      for (const peer of PEER_NAMES) await removeQuietly(path.join(context.dir, appendFileName(peer)));
    },
  };
}

/** The whole life of a small file, `concurrency` files at a time: create, write 4 KiB, close, delete. */
function smallFiles(concurrency: number): Workload {
  return {
    id: 'small-files',
    description: `create + write 4 KiB + close + delete, ${concurrency} files at a time`,
    bytesPerOp: BLOCK,
    prepare: async (context) => {
      // every turn starts from an empty directory
      await removeQuietly(path.join(context.dir, SMALL_FILES_DIR));
      await mkdir(path.join(context.dir, SMALL_FILES_DIR));
    },
    turn: (peer, _round, context) =>
      inBenchDir(peer, SMALL_FILES_DIR, async (dir) => {
        const data = randomFillSync(Buffer.alloc(BLOCK));
        const made = new Array<number>(concurrency).fill(0);
        const ops = Math.floor(context.settings.smallFiles / context.settings.rounds);
        const phase = (count: number) =>
          runWorkers(concurrency, { ops: count }, async (worker) => {
            const name = `f-${worker}-${made[worker]!++}`;
            const file = await dir.createFile(name);
            await file.writeAt(0, data);
            await file.close();
            await dir.deleteFile(name);
          });
        await phase(Math.ceil(ops * SMALL_FILES_WARMUP_SHARE));
        return phase(ops);
      }),
    cleanup: async (context) => {
      await removeQuietly(path.join(context.dir, SMALL_FILES_DIR));
    },
  };
}
