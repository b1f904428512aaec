// What the LSM section produced, as text: ops/s per workload and store with the ratios of ours to
// classic-level, the memory each store's process used, the ≥ 0.5x target's verdict per workload, and a
// check that every store found the same keys and entries.
import type { LsmPeerRun, LsmWorkloadResult } from './lsm-child.js';
import type { KvPeerName } from './lsm-stores.js';
import type { LsmWorkloadId } from './lsm-workloads.js';
import { formatCpu, formatNumber, formatRatio, formatTextTable } from './report.js';

const OURS: KvPeerName = 'lsm io_uring';
const THEIRS: KvPeerName = 'classic-level';
// Issue 15's bar: every workload at or above classic-level (no compression), and peak memory at or below it.
const LSM_TARGET = 1;

/** The ratios shown, ours first; a column appears when both of its stores ran. */
const RATIOS: readonly [KvPeerName, KvPeerName][] = [
  ['lsm io_uring', 'classic-level'],
  ['lsm io_uring', 'lsm io_uring pread'],
  ['lsm sync', 'classic-level'],
  ['lsm io_uring', 'classic-level snappy'],
];

function resultOf(runs: readonly LsmPeerRun[], peer: KvPeerName, workload: LsmWorkloadId): LsmWorkloadResult | undefined {
  return runs.find((run) => run.peer === peer)?.results.find((result) => result.workload === workload);
}

export function lsmRatio(runs: readonly LsmPeerRun[], workload: LsmWorkloadId, mine: KvPeerName, theirs: KvPeerName): number | undefined {
  const a = resultOf(runs, mine, workload);
  const b = resultOf(runs, theirs, workload);
  return a && b ? a.opsPerSecond / b.opsPerSecond : undefined;
}

/** The workloads in the order they ran (the first store's order; every store runs the same list). */
const workloadsOf = (runs: readonly LsmPeerRun[]) => runs[0]?.results.map((result) => result.workload) ?? [];

export function formatLsmTable(runs: readonly LsmPeerRun[]): string {
  const peers = runs.map((run) => run.peer);
  const ratios = RATIOS.filter(([a, b]) => peers.includes(a) && peers.includes(b));
  const header = [
    'workload',
    'in flight',
    ...peers.map((peer) => `${peer} ops/s`),
    ...ratios.map(([a, b]) => `${a} / ${b}`),
    ...peers.map((peer) => `${peer} CPU us/op`),
  ];
  const body = workloadsOf(runs).map((workload) => [
    workload,
    String(resultOf(runs, peers[0]!, workload)!.inFlight),
    ...peers.map((peer) => {
      const result = resultOf(runs, peer, workload);
      return result ? formatNumber(result.opsPerSecond, 0) : '-';
    }),
    ...ratios.map(([a, b]) => formatRatio(lsmRatio(runs, workload, a, b))),
    ...peers.map((peer) => formatCpu(resultOf(runs, peer, workload)?.cpuUsPerOp)),
  ]);
  return formatTextTable(header, body, 1);
}

const mib = (value: number) => formatNumber(value, 1);

/** Memory of each store's process: at start, after fillrandom, at the end, and at its peak. */
export function formatLsmMemoryTable(runs: readonly LsmPeerRun[]): string {
  const header = [
    'store',
    'RSS start MiB',
    'RSS after fillrandom',
    'RSS after reads',
    'of it mapped files',
    'peak RSS',
    'peak anon RSS',
    'heap after fillrandom',
    'heap after reads',
    'external after reads',
    'db MiB after fillrandom',
  ];
  const body = runs.map((run) => {
    const filled = run.results.find((result) => result.workload === 'fillrandom')?.memory;
    const last = run.results.at(-1)?.memory;
    return [
      run.peer,
      mib(run.memoryAtStart.rssMiB),
      filled ? mib(filled.rssMiB) : '-',
      last ? mib(last.rssMiB) : '-',
      last ? mib(last.fileRssMiB) : '-',
      mib(run.maxRssMiB),
      mib(run.maxAnonRssMiB),
      filled ? mib(filled.heapUsedMiB) : '-',
      last ? mib(last.heapUsedMiB) : '-',
      last ? mib(last.externalMiB) : '-',
      mib(run.dbBytesAfterFill / 2 ** 20),
    ];
  });
  return formatTextTable(header, body, 1);
}

export interface LsmTargetResult {
  description: string;
  /** a workload's ops/s ratio, or the stores' peak RSS (theirs over ours) */
  workload: LsmWorkloadId | 'peak-rss';
  ratio: number | undefined;
  verdict: 'PASS' | 'MISS' | 'SKIP';
}

const lsmVerdict = (ratio: number | undefined) => (ratio === undefined ? 'SKIP' : ratio >= LSM_TARGET ? 'PASS' : 'MISS');

export function evaluateLsmTargets(runs: readonly LsmPeerRun[]): LsmTargetResult[] {
  const speed = workloadsOf(runs).map((workload): LsmTargetResult => {
    const ratio = lsmRatio(runs, workload, OURS, THEIRS);
    return { description: `LSM ${OURS} >= ${LSM_TARGET}x ${THEIRS}, ${workload}`, workload, ratio, verdict: lsmVerdict(ratio) };
  });
  const ours = runs.find((run) => run.peer === OURS);
  const theirs = runs.find((run) => run.peer === THEIRS);
  const ratio = ours && theirs ? theirs.maxRssMiB / ours.maxRssMiB : undefined;
  const memory: LsmTargetResult = {
    description: `LSM ${OURS}'s peak RSS <= ${THEIRS}'s (theirs over ours)`,
    workload: 'peak-rss',
    ratio,
    verdict: lsmVerdict(ratio),
  };
  return [...speed, memory];
}

export function formatLsmTargets(results: readonly LsmTargetResult[]): string {
  return results
    .map((result) => {
      const measured = result.ratio === undefined ? 'not measured' : `${formatRatio(result.ratio)} (needs ${LSM_TARGET}x)`;
      return `${result.verdict.padEnd(4)}  ${result.description}: ${measured}`;
    })
    .join('\n');
}

/** Workloads where the stores did not all find the same number of keys or entries: a correctness alarm. */
export function lsmFoundMismatches(runs: readonly LsmPeerRun[]): string[] {
  return workloadsOf(runs).flatMap((workload) => {
    const found = runs.map((run) => ({ peer: run.peer, found: resultOf(runs, run.peer, workload)?.found }));
    const distinct = new Set(found.map((entry) => entry.found));
    if (distinct.size <= 1) return [];
    return [`LSM ${workload}: the stores found different counts: ${found.map((entry) => `${entry.peer} ${entry.found ?? '-'}`).join(', ')}`];
  });
}
