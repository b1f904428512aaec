// What the remote section produced: per metric and peer the rounds' figures and their median, persistfs'
// speed ratios to the others, the targets (issue 13) with their verdicts, and the tables.
import { median } from '../fio/summary.js';
import { MiB } from './data-files.js';
import { formatNumber, formatRatio, formatTextTable } from './report.js';
import { LOCAL_PEER, type RemoteRowPeer } from './remote-peers.js';
import type { RemoteMetricId, RemoteSettings, TurnFigures } from './remote-workloads.js';

export interface RemoteMetric {
  id: RemoteMetricId;
  /** the workload of the issue it belongs to (1-4): a table each */
  workload: number;
  description: string;
  /** MiB/s for the big file (its bytes over the seconds), seconds for the others */
  unit: 'MiB/s' | 's';
  /** whether persistfs >= rclone is a target on it */
  target: boolean;
}

export const REMOTE_METRICS: readonly RemoteMetric[] = [
  { id: 'seq-write', workload: 1, description: 'write + fsync (dd bs=1M conv=fsync)', unit: 'MiB/s', target: true },
  { id: 'seq-write-uploaded', workload: 1, description: 'upload done: from the start of dd to HeadObject finding it', unit: 's', target: true },
  { id: 'cold-read', workload: 2, description: 'cold read (cat, caches empty, first read after the mount)', unit: 'MiB/s', target: true },
  { id: 'warm-read', workload: 2, description: 'warm re-read (a second cat)', unit: 'MiB/s', target: true },
  { id: 'small-write', workload: 3, description: 'write (bash loop: printf \'%s\' "$data" > fN)', unit: 's', target: true },
  { id: 'small-write-uploaded', workload: 3, description: 'upload done: from the start of the loop to all in ListObjectsV2', unit: 's', target: true },
  { id: 'small-read', workload: 3, description: 'read back (cat *, same mount, after the uploads)', unit: 's', target: true },
  { id: 'ls-cold', workload: 4, description: 'ls -l, cold (the first command after the mount)', unit: 's', target: true },
  { id: 'ls-warm', workload: 4, description: 'ls -l again (no target)', unit: 's', target: false },
];

/** The warm re-read's target against the local mount. */
const WARM_LOCAL_AT_LEAST = 0.9;

export function workloadTitles(settings: RemoteSettings): Record<number, string> {
  const big = `${settings.bigBytes / MiB} MiB`;
  const small = `${settings.smallFiles.toLocaleString('en-US')} files of ${settings.smallBytes / 1024} KiB`;
  return {
    1: `1. ${big} sequential write`,
    2: `2. ${big} object read (put with the SDK before the mount)`,
    3: `3. ${small}`,
    4: `4. ls -l of a directory of ${settings.listObjects.toLocaleString('en-US')} objects (put with the SDK before the mount)`,
  };
}

export interface RemoteRow {
  metric: RemoteMetricId;
  peer: RemoteRowPeer;
  unit: 'MiB/s' | 's';
  /** seconds of every round that measured this figure, in round order */
  rounds: number[];
  failedRounds: number;
  /** the median of `rounds` */
  medianSeconds: number | undefined;
  /** the median in the metric's unit (MiB/s from the median seconds) */
  value: number | undefined;
}

/** One peer's turn in one round: its figures, or why it failed. */
export interface RemoteTurn {
  round: number;
  peer: RemoteRowPeer;
  figures: TurnFigures;
  error?: string;
}

const bytesOf = (metric: RemoteMetric, settings: RemoteSettings) => (metric.unit === 'MiB/s' ? settings.bigBytes : 0);

export function remoteRows(turns: readonly RemoteTurn[], peers: readonly RemoteRowPeer[], settings: RemoteSettings): RemoteRow[] {
  return REMOTE_METRICS.flatMap((metric) =>
    peers.flatMap((peer): RemoteRow[] => {
      const mine = turns.filter((turn) => turn.peer === peer);
      // a turn that failed halfway keeps the figures measured before the failure
      const rounds = mine.flatMap((turn) => turn.figures[metric.id] ?? []);
      // the local mount runs the reads only
      if (peer === LOCAL_PEER && metric.id !== 'warm-read' && metric.id !== 'cold-read') return [];
      const medianSeconds = median(rounds);
      const value = medianSeconds === undefined ? undefined : metric.unit === 'MiB/s' ? bytesOf(metric, settings) / MiB / medianSeconds : medianSeconds;
      return [{ metric: metric.id, peer, unit: metric.unit, rounds, failedRounds: mine.length - rounds.length, medianSeconds, value }];
    }),
  );
}

const rowOf = (rows: readonly RemoteRow[], metric: RemoteMetricId, peer: RemoteRowPeer) => rows.find((row) => row.metric === metric && row.peer === peer);

/** persistfs' speed over `against`'s: their median seconds over ours (> 1: persistfs faster), in MiB/s and seconds alike. */
export function speedRatio(rows: readonly RemoteRow[], metric: RemoteMetricId, against: RemoteRowPeer): number | undefined {
  const ours = rowOf(rows, metric, 'persistfs')?.medianSeconds;
  const theirs = rowOf(rows, metric, against)?.medianSeconds;
  return ours !== undefined && theirs !== undefined ? theirs / ours : undefined;
}

export interface RemoteTargetResult {
  description: string;
  metric: RemoteMetricId;
  against: RemoteRowPeer;
  atLeast: number;
  ratio: number | undefined;
  verdict: 'PASS' | 'MISS' | 'SKIP';
}

export function evaluateRemoteTargets(rows: readonly RemoteRow[], settings: RemoteSettings): RemoteTargetResult[] {
  const titles = workloadTitles(settings);
  const targets = REMOTE_METRICS.filter((metric) => metric.target).flatMap((metric) => {
    const what = `${titles[metric.workload]!.replace(/^\d\. /, '').replace(/ \(.*\)$/, '')}, ${metric.description.replace(/ \(.*\)$/, '').replace(/:.*/, '')}`;
    const list: Omit<RemoteTargetResult, 'ratio' | 'verdict'>[] = [
      { description: `persistfs >= rclone: ${what}`, metric: metric.id, against: 'rclone', atLeast: 1 },
    ];
    if (metric.id === 'warm-read') {
      list.push({
        description: `persistfs >= ${WARM_LOCAL_AT_LEAST}x the local mount: ${what}`,
        metric: metric.id,
        against: LOCAL_PEER,
        atLeast: WARM_LOCAL_AT_LEAST,
      });
    }
    return list;
  });
  return targets.map((target) => {
    const ratio = speedRatio(rows, target.metric, target.against);
    return { ...target, ratio, verdict: ratio === undefined ? 'SKIP' : ratio >= target.atLeast ? 'PASS' : 'MISS' };
  });
}

function formatValue(row: RemoteRow | undefined, settings: RemoteSettings): string {
  if (row === undefined) return '';
  if (row.value === undefined) return row.failedRounds > 0 ? 'FAILED' : '-';
  const metric = REMOTE_METRICS.find((candidate) => candidate.id === row.metric)!;
  const inUnit = (seconds: number) => (row.unit === 'MiB/s' ? bytesOf(metric, settings) / MiB / seconds : seconds);
  const digits = row.unit === 'MiB/s' ? 1 : 2;
  const values = row.rounds.map(inUnit);
  const spread = values.length > 1 ? ` (${formatNumber(Math.min(...values), digits)}-${formatNumber(Math.max(...values), digits)})` : '';
  const failed = row.failedRounds > 0 ? ` ${row.failedRounds} failed` : '';
  return `${formatNumber(row.value, digits)}${spread}${failed}`;
}

/** A table per workload: each peer's median (with the rounds' range), and persistfs' speed ratios to the others. */
export function formatRemoteTables(rows: readonly RemoteRow[], peers: readonly RemoteRowPeer[], settings: RemoteSettings): string {
  const titles = workloadTitles(settings);
  const others = peers.filter((peer) => peer !== 'persistfs');
  const tables = Object.entries(titles).map(([workload, title]) => {
    const metrics = REMOTE_METRICS.filter((metric) => metric.workload === Number(workload));
    const shown = peers.filter((peer) => peer !== LOCAL_PEER || workload === '2');
    const ratioPeers = others.filter((peer) => peer !== LOCAL_PEER || workload === '2');
    const header = ['', 'unit', ...shown, ...ratioPeers.map((peer) => `persistfs/${peer}`)];
    const body = metrics.map((metric) => [
      metric.description,
      metric.unit,
      ...shown.map((peer) => formatValue(rowOf(rows, metric.id, peer), settings)),
      ...ratioPeers.map((peer) => (rowOf(rows, metric.id, peer) ? formatRatio(speedRatio(rows, metric.id, peer)) : '')),
    ]);
    return `${title}\n${formatTextTable(header, body, 2)}`;
  });
  return tables.join('\n\n');
}

export function remoteNotes(settings: RemoteSettings): string[] {
  return [
    `remote: medians of ${settings.rounds} round${settings.rounds === 1 ? '' : 's'} (the rounds' lowest-highest in brackets); each round mounts every peer afresh (empty cache directory) in rotated order and unmounts it after; one Ceph radosgw (memstore) on 127.0.0.1 for all, a bucket per peer`,
    "remote: persistfs/<peer> ratios are speeds: > 1.00x means persistfs was faster (for rows in seconds, the peer's time over persistfs')",
    'remote: times are wall clock as the shell saw them; "upload done" is polled with HeadObject (every 50 ms) or ListObjectsV2 (every 100 ms) after the command returned, and counted from the command\'s start',
    'remote: rclone mount --vfs-cache-mode full uploads a closed file after --vfs-write-back (5 s by default); s3fs (defaults, no use_cache) uploads at fsync and close; persistfs (write-back) uploads once no file has closed for --write-back-delay (1 s by default; at most 5 s after the first close), durable locally at fsync (rclone does not fsync its cache file at fsync)',
  ];
}
