// The WAL section of the benchmark: persistfs' Wal (group commit) in the io_uring and sync IO modes
// against the naive log a program would write with node:fs (write, then fdatasync, per record), for small
// and 4 KiB records, with sync 'always' and 'none', at several writer counts. Each writer loops
// { await append(record) }, so `writers` is also the number of records in flight.
//
// Like the storage workloads, a job runs in `rounds` turns per peer with the peers' order rotated, every
// turn on a new, empty log, starting with an unmeasured warm-up of the same job on that log.
import { randomFillSync } from 'node:crypto';

import { steps, type Steps } from '../../mount/progress.js';
import { writeBack } from './data-files.js';
import { PEER_NAMES, rotated, type PeerName } from './peers.js';
import {
  CHECKPOINT_INTERVAL_MS,
  CHECKPOINTED_SEGMENT_SIZE,
  openLogPeer,
  RECYCLED_SPARES,
  WAL_SEGMENT_SIZE,
  type LogCalls,
  type LogPeer,
  type WalPolicy,
} from './wal-logs.js';
import { evaluateWalTargets, formatRecordSize, walRow, type WalJob, type WalRow, type WalTargetResult } from './wal-report.js';
import { addMeasurements, NOTHING_MEASURED, runWorkers, type Measurement } from './workers.js';

export interface WalSettings {
  /** turns per peer and job */
  rounds: number;
  /** measured time per peer and job, over all its rounds */
  secondsPerJob: number;
  /** unmeasured time at the start of every turn (JIT, ring start, the first segment's header) */
  warmupSeconds: number;
}

export const WAL_FULL: WalSettings = { rounds: 2, secondsPerJob: 3, warmupSeconds: 0.25 };
export const WAL_QUICK: WalSettings = { rounds: 1, secondsPerJob: 0.5, warmupSeconds: 0.05 };

export const WAL_RECORD_SIZES: readonly number[] = [100, 4096];
export const WAL_POLICIES: readonly WalPolicy[] = ['always', 'none'];
/** 'none' goes past 64 writers because a batch holds at most as many records as there are writers */
const WRITER_COUNTS: Record<WalPolicy, readonly number[]> = { always: [1, 16, 64], none: [1, 64, 256] };

/** The writers of the checkpointed jobs (sync 'always' only): the group commit's row. */
const CHECKPOINTED_WRITERS = 64;

/** The jobs, for the sync policies `policies` (default both); under 'always', a checkpointed job too for each record size. */
export function walJobs(policies: readonly WalPolicy[] = WAL_POLICIES): WalJob[] {
  return WAL_RECORD_SIZES.flatMap((recordBytes) =>
    policies.flatMap((policy) => [
      ...WRITER_COUNTS[policy].map((writers) => ({ recordBytes, policy, writers })),
      ...(policy === 'always' ? [{ recordBytes, policy, writers: CHECKPOINTED_WRITERS, checkpointed: true }] : []),
    ]),
  );
}

export interface WalSectionResult {
  settings: WalSettings;
  segmentSize: number;
  jobs: WalJob[];
  results: WalRow[];
  targets: WalTargetResult[];
}

export interface WalSectionOptions {
  benchDir: string;
  settings: WalSettings;
  /** the sync policies whose jobs run (default both) */
  policies?: readonly WalPolicy[];
}

const describeJob = (job: WalJob) =>
  `${formatRecordSize(job.recordBytes).padStart(6)}  ${job.policy.padEnd(6)}  ${String(job.writers).padStart(3)} writers${job.checkpointed ? ', checkpointed' : ''}`;

const NO_CALLS: LogCalls = { writes: 0, datasyncs: 0 };
const addCalls = (a: LogCalls, b: LogCalls): LogCalls => ({ writes: a.writes + b.writes, datasyncs: a.datasyncs + b.datasyncs });
const subtractCalls = (a: LogCalls, b: LogCalls): LogCalls => ({ writes: a.writes - b.writes, datasyncs: a.datasyncs - b.datasyncs });

interface Turn {
  measured: Measurement;
  calls: LogCalls;
}

/** One peer's turn at `job`: a new log, a warm-up, then `seconds` measured, then the log is deleted. */
async function runTurn(peer: LogPeer, job: WalJob, seconds: number, warmupSeconds: number): Promise<Turn> {
  const log = await peer.createLog(job.policy, job.checkpointed);
  try {
    const records = Array.from({ length: job.writers }, () => randomFillSync(Buffer.alloc(job.recordBytes)));
    const append = (writer: number) => log.append(records[writer]!);
    await runWorkers(job.writers, { seconds: warmupSeconds }, append);
    const before = log.calls();
    const measured = await runWorkers(job.writers, { seconds }, append);
    return { measured, calls: subtractCalls(log.calls(), before) };
  } finally {
    await log.close();
  }
}

async function runJob(job: WalJob, order: number, position: string, peers: readonly LogPeer[], settings: WalSettings, progress: Steps): Promise<WalRow[]> {
  const { rounds, secondsPerJob, warmupSeconds } = settings;
  const totals = new Map<PeerName, Turn>();
  // the naive log is never checkpointed: a checkpointed job compares with its plain job's row
  const taking = job.checkpointed ? peers.filter((peer) => peer.name !== 'node:fs') : peers;
  for (let round = 0; round < rounds; round++) {
    for (const peer of rotated(taking, order + round)) {
      // no turn pays for the writeback an earlier one left behind
      writeBack();
      progress.begin(`${position} ${describeJob(job)}  round ${round + 1}/${rounds}  ${peer.name}`);
      const turn = await runTurn(peer, job, secondsPerJob / rounds, warmupSeconds);
      progress.end(`${Math.round(turn.measured.ops / turn.measured.seconds).toLocaleString('en-US')} records/s`);
      const total = totals.get(peer.name) ?? { measured: NOTHING_MEASURED, calls: NO_CALLS };
      totals.set(peer.name, { measured: addMeasurements(total.measured, turn.measured), calls: addCalls(total.calls, turn.calls) });
    }
  }
  return taking.map(({ name }) => {
    const total = totals.get(name)!;
    return walRow(job, name, total.measured, total.calls);
  });
}

export async function runWalSection(options: WalSectionOptions): Promise<WalSectionResult> {
  const jobs = walJobs(options.policies);
  const results: WalRow[] = [];
  const peers: LogPeer[] = [];
  const turns = jobs.reduce((sum, job) => sum + PEER_NAMES.length - (job.checkpointed ? 1 : 0), 0);
  const progress = steps({ title: 'wal', total: turns * options.settings.rounds });
  try {
    for (const name of PEER_NAMES) peers.push(await openLogPeer(name, options.benchDir));
    for (const [index, job] of jobs.entries()) {
      results.push(...(await runJob(job, index, `[${index + 1}/${jobs.length}]`, peers, options.settings, progress)));
    }
  } finally {
    progress.stop();
    for (const peer of peers) await peer.close();
  }
  return { settings: options.settings, segmentSize: WAL_SEGMENT_SIZE, jobs, results, targets: evaluateWalTargets(results, WAL_RECORD_SIZES) };
}

/** What a reader of the WAL table needs to know to read it right. */
export const WAL_NOTES: readonly string[] = [
  "WAL node:fs is the naive log: one FileHandle opened 'a', per record write() and (sync 'always') datasync(), no framing or checksum; persistfs adds a 9-byte header with CRC32C per record; MiB/s counts payload bytes only",
  `WAL checkpointed: the log truncated up to its end every ${CHECKPOINT_INTERVAL_MS} ms as a database does after a flush (an fsync each), in segments of ${CHECKPOINTED_SEGMENT_SIZE / 2 ** 20} MiB with ${RECYCLED_SPARES} kept as spares and written over in place (WalOptions.recycle); its ratios are to the naive log's plain row`,
  "WAL records/write: records per write call (persistfs: per group-commit pwritev, on the calling thread up to the log's inlineWriteLimit (under 'always' by default 512 KiB, under 'none' 64 KiB), else through the IO engine; each followed by one fdatasync under 'always')",
];
