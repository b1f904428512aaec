// What the backup workload produced: per metric and peer the rounds' seconds and their median,
// persistfs' speed ratio to rclone, the target (issue 13: the backup at least as fast as rclone copy), the
// table.
import { median } from '../fio/summary.js';
import type { TreeSize } from './backup-checkpoint.js';
import type { BackupFigures, BackupMetricId, BackupPeerName } from './backup-workloads.js';
import { MiB } from './data-files.js';
import { formatNumber, formatRatio, formatTextTable } from './report.js';

export interface BackupMetric {
  id: BackupMetricId;
  description: string;
  /** MiB/s: the tree's bytes over the seconds; s: the seconds */
  unit: 'MiB/s' | 's';
  /** whether persistfs >= rclone is a target on it */
  target: boolean;
}

export const BACKUP_METRICS: readonly BackupMetric[] = [
  { id: 'backup-full', description: 'full backup (into an empty prefix)', unit: 'MiB/s', target: true },
  { id: 'backup-incremental', description: 'incremental backup (the second checkpoint, same prefix)', unit: 's', target: true },
  { id: 'restore', description: 'restore (into an empty directory)', unit: 'MiB/s', target: false },
];

/** One peer's turn in one round: its figures, or why it failed. */
export interface BackupTurn {
  round: number;
  peer: BackupPeerName;
  figures: BackupFigures;
  error?: string;
}

export interface BackupRow {
  metric: BackupMetricId;
  peer: BackupPeerName;
  unit: 'MiB/s' | 's';
  /** seconds of every round that measured it, in round order */
  rounds: number[];
  failedRounds: number;
  medianSeconds: number | undefined;
  /** the median in the metric's unit */
  value: number | undefined;
}

export interface BackupTargetResult {
  description: string;
  metric: BackupMetricId;
  atLeast: number;
  ratio: number | undefined;
  verdict: 'PASS' | 'MISS' | 'SKIP';
}

export function backupRows(turns: readonly BackupTurn[], peers: readonly BackupPeerName[], base: TreeSize): BackupRow[] {
  return BACKUP_METRICS.flatMap((metric) =>
    peers.map((peer): BackupRow => {
      const mine = turns.filter((turn) => turn.peer === peer);
      const rounds = mine.flatMap((turn) => turn.figures[metric.id] ?? []);
      const medianSeconds = median(rounds);
      const value = medianSeconds === undefined ? undefined : metric.unit === 'MiB/s' ? base.bytes / MiB / medianSeconds : medianSeconds;
      return { metric: metric.id, peer, unit: metric.unit, rounds, failedRounds: mine.length - rounds.length, medianSeconds, value };
    }),
  );
}

const rowOf = (rows: readonly BackupRow[], metric: BackupMetricId, peer: BackupPeerName) => rows.find((row) => row.metric === metric && row.peer === peer);

/** persistfs' speed over rclone's: rclone's median seconds over persistfs' (> 1: persistfs faster). */
export function backupRatio(rows: readonly BackupRow[], metric: BackupMetricId): number | undefined {
  const ours = rowOf(rows, metric, 'persistfs')?.medianSeconds;
  const theirs = rowOf(rows, metric, 'rclone')?.medianSeconds;
  return ours !== undefined && theirs !== undefined ? theirs / ours : undefined;
}

export function backupTitle(base: TreeSize, next: TreeSize): string {
  return (
    `5. persistfs backup / restore of an LSM checkpoint of ${formatNumber(base.bytes / MiB, 0)} MiB (${base.files} files) against rclone copy; ` +
    `incremental: a second checkpoint of ${next.files} files, ${formatNumber((next.bytes - base.bytes) / MiB, 1)} MiB more`
  );
}

export function evaluateBackupTargets(rows: readonly BackupRow[]): BackupTargetResult[] {
  return BACKUP_METRICS.filter((metric) => metric.target).map((metric) => {
    const ratio = backupRatio(rows, metric.id);
    return {
      description: `persistfs >= rclone copy: LSM checkpoint, ${metric.description.replace(/ \(.*\)$/, '')}`,
      metric: metric.id,
      atLeast: 1,
      ratio,
      verdict: ratio === undefined ? 'SKIP' : ratio >= 1 ? 'PASS' : 'MISS',
    };
  });
}

function formatValue(row: BackupRow | undefined, base: TreeSize): string {
  if (row === undefined) return '';
  if (row.value === undefined) return row.failedRounds > 0 ? 'FAILED' : '-';
  const inUnit = (seconds: number) => (row.unit === 'MiB/s' ? base.bytes / MiB / seconds : seconds);
  const digits = row.unit === 'MiB/s' ? 1 : 2;
  const values = row.rounds.map(inUnit);
  const spread = values.length > 1 ? ` (${formatNumber(Math.min(...values), digits)}-${formatNumber(Math.max(...values), digits)})` : '';
  const failed = row.failedRounds > 0 ? ` ${row.failedRounds} failed` : '';
  return `${formatNumber(row.value, digits)}${spread}${failed}`;
}

export function formatBackupTable(rows: readonly BackupRow[], peers: readonly BackupPeerName[], base: TreeSize, next: TreeSize): string {
  const header = ['', 'unit', ...peers, 'persistfs/rclone'];
  const body = BACKUP_METRICS.map((metric) => [
    metric.description,
    metric.unit,
    ...peers.map((peer) => formatValue(rowOf(rows, metric.id, peer), base)),
    formatRatio(backupRatio(rows, metric.id)),
  ]);
  return `${backupTitle(base, next)}\n${formatTextTable(header, body, 2)}`;
}
