// What the WAL section produced: one row per job and peer, the ratios to the naive node:fs log, and the
// WAL targets with their verdicts.
import { MiB } from './data-files.js';
import type { PeerName } from './peers.js';
import { formatCpu, formatNumber, formatRatio, formatTextTable } from './report.js';
import type { LogCalls, WalPolicy } from './wal-logs.js';
import { cpuUsPerOp, type Measurement } from './workers.js';

export interface WalJob {
  /** payload bytes per record (persistfs adds its 9-byte record header; the naive log adds nothing) */
  recordBytes: number;
  policy: WalPolicy;
  /** concurrent writers, each appending one record at a time */
  writers: number;
  /** the log truncated as it goes, its segments recycled (wal-logs.ts: persistfs only; compared with the naive log's plain job) */
  checkpointed?: boolean;
}

export interface WalRow extends WalJob {
  peer: PeerName;
  records: number;
  seconds: number;
  recordsPerSecond: number;
  /** payload MiB/s */
  mibPerSecond: number;
  /** the process's CPU time per record (workers.ts), where measured */
  cpuUsPerRecord: number | undefined;
  /** write calls and fdatasyncs that reached the storage while measuring */
  calls: LogCalls;
}

export function walRow(job: WalJob, peer: PeerName, measured: Measurement, calls: LogCalls): WalRow {
  const recordsPerSecond = measured.ops / measured.seconds;
  return {
    ...job,
    peer,
    records: measured.ops,
    seconds: measured.seconds,
    recordsPerSecond,
    mibPerSecond: (recordsPerSecond * job.recordBytes) / MiB,
    cpuUsPerRecord: cpuUsPerOp(measured),
    calls,
  };
}

const sameJob = (a: WalJob, b: WalJob) =>
  a.recordBytes === b.recordBytes && a.policy === b.policy && a.writers === b.writers && (a.checkpointed ?? false) === (b.checkpointed ?? false);

function findRow(rows: readonly WalRow[], job: WalJob, peer: PeerName): WalRow | undefined {
  return rows.find((row) => row.peer === peer && sameJob(row, job));
}

/** `row`'s records/s over the naive log's under the same policy and record size, at `writers` writers. */
export function ratioToNaive(rows: readonly WalRow[], row: WalRow, writers: number): number | undefined {
  const naive = findRow(rows, { ...row, writers, checkpointed: false }, 'node:fs');
  return naive ? row.recordsPerSecond / naive.recordsPerSecond : undefined;
}

export const formatRecordSize = (bytes: number) => (bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`);

/** The results as a text table. Ratios compare with node:fs under the same sync policy. */
export function formatWalTable(rows: readonly WalRow[]): string {
  const header = ['record', 'sync', 'writers', 'peer', 'records/s', 'MiB/s', 'CPU us/rec', 'records/write', 'vs node:fs same writers', 'vs node:fs 1 writer'];
  const body = rows.map((row) => {
    const naive = row.peer === 'node:fs';
    return [
      formatRecordSize(row.recordBytes),
      row.checkpointed ? `${row.policy}, checkpointed` : row.policy,
      String(row.writers),
      row.peer,
      formatNumber(row.recordsPerSecond, 0),
      formatNumber(row.mibPerSecond, 1),
      formatCpu(row.cpuUsPerRecord),
      row.calls.writes === 0 ? '-' : formatNumber(row.records / row.calls.writes, 1),
      naive ? '' : formatRatio(ratioToNaive(rows, row, row.writers)),
      naive && row.writers === 1 ? '' : formatRatio(ratioToNaive(rows, row, 1)),
    ];
  });
  return formatTextTable(header, body, 4);
}

export interface WalTargetResult {
  description: string;
  /** a ratio for 'x', records per second for 'records/s' */
  measured: number | undefined;
  needs: number;
  unit: 'x' | 'records/s';
  /** where the measured figure came from, when more than one job could give it */
  detail?: string;
  verdict: 'PASS' | 'MISS' | 'SKIP';
}

const verdictOf = (measured: number | undefined, needs: number) => (measured === undefined ? 'SKIP' : measured >= needs ? 'PASS' : 'MISS');

const GROUP_COMMIT_WRITERS = 64;
const GROUP_COMMIT_AT_LEAST = 20;
const UNSYNCED_RECORD_BYTES = 100;
// issue 15 (was 1,000,000, issue 4)
const UNSYNCED_RECORDS_PER_SECOND = 2_000_000;

/**
 * persistfs (io_uring) with sync 'always' and 64 writers against the naive log at 64 writers; `checkpointed`:
 * the log truncated as it goes and its segments recycled, against the same naive log.
 */
function groupCommitTarget(rows: readonly WalRow[], recordBytes: number, checkpointed: boolean): WalTargetResult {
  const mine = findRow(rows, { recordBytes, policy: 'always', writers: GROUP_COMMIT_WRITERS, checkpointed }, 'io_uring');
  const measured = mine && ratioToNaive(rows, mine, GROUP_COMMIT_WRITERS);
  const how = checkpointed ? ', checkpointed (segments recycled)' : '';
  return {
    description: `WAL io_uring >= ${GROUP_COMMIT_AT_LEAST}x node:fs write+fdatasync, sync 'always', ${GROUP_COMMIT_WRITERS} writers, ${formatRecordSize(recordBytes)} records${how}`,
    measured,
    needs: GROUP_COMMIT_AT_LEAST,
    unit: 'x',
    verdict: verdictOf(measured, GROUP_COMMIT_AT_LEAST),
  };
}

/** persistfs (io_uring) with sync 'none' and 100-byte records, at its best writer count. */
function unsyncedTarget(rows: readonly WalRow[]): WalTargetResult {
  const candidates = rows.filter((row) => row.peer === 'io_uring' && row.policy === 'none' && row.recordBytes === UNSYNCED_RECORD_BYTES);
  const best = candidates.reduce<WalRow | undefined>((top, row) => (top && top.recordsPerSecond >= row.recordsPerSecond ? top : row), undefined);
  const measured = best?.recordsPerSecond;
  return {
    description: `WAL io_uring >= ${formatNumber(UNSYNCED_RECORDS_PER_SECOND, 0)} records/s, sync 'none', ${UNSYNCED_RECORD_BYTES} B records, best writer count`,
    measured,
    needs: UNSYNCED_RECORDS_PER_SECOND,
    unit: 'records/s',
    detail: best && `at ${best.writers} writers`,
    verdict: verdictOf(measured, UNSYNCED_RECORDS_PER_SECOND),
  };
}

export function evaluateWalTargets(rows: readonly WalRow[], recordSizes: readonly number[]): WalTargetResult[] {
  const checkpointed = recordSizes.filter((bytes) =>
    findRow(rows, { recordBytes: bytes, policy: 'always', writers: GROUP_COMMIT_WRITERS, checkpointed: true }, 'io_uring'),
  );
  return [
    ...recordSizes.map((bytes) => groupCommitTarget(rows, bytes, false)),
    ...checkpointed.map((bytes) => groupCommitTarget(rows, bytes, true)),
    unsyncedTarget(rows),
  ];
}

function formatMeasured(result: WalTargetResult): string {
  if (result.measured === undefined) return 'not measured';
  const value = (n: number) => (result.unit === 'x' ? formatRatio(n) : `${formatNumber(n, 0)} records/s`);
  const where = result.detail === undefined ? '' : `, ${result.detail}`;
  return `${value(result.measured)}${where} (needs ${value(result.needs)})`;
}

export function formatWalTargets(results: readonly WalTargetResult[]): string {
  return results.map((result) => `${result.verdict.padEnd(4)}  ${result.description}: ${formatMeasured(result)}`).join('\n');
}
