// The results as a text table for the terminal, and as JSON in bench-results/fio-<timestamp>.json.

import { formatNumber, formatTextTable } from '../bench/report.js';
import type { Unit } from './jobs.js';
import type { CpuPerRequest, DataPathRun } from './measured-run.js';
import { REFERENCE_ATTRIBUTION } from './reference.js';
import type { JobSummary, TargetSummary } from './summary.js';

/** A throughput in its unit; '!' marks a median over fewer rounds than ran, 'FAILED' one with none. */
function formatThroughput(summary: TargetSummary, unit: Unit): string {
  if (summary.median === undefined) return summary.failedRounds > 0 ? 'FAILED' : '-';
  const value = formatNumber(summary.median, unit === 'MiB/s' ? 1 : 0);
  return summary.failedRounds > 0 ? `${value}!` : value;
}

function formatRatio(ratio: number | undefined, atLeastJsPassthrough: boolean | undefined): string {
  if (ratio === undefined) return '-';
  const mark = atLeastJsPassthrough === undefined ? '' : atLeastJsPassthrough ? ' ok' : ' LOW';
  return `${ratio.toFixed(2)}${mark}`;
}

// 99.96 would show as 100.0 with one decimal: the cut is where rounding makes it
const formatMicroseconds = (us: number) => formatNumber(us, us < 99.95 ? 1 : 0);

/** total (user+system) */
const formatCpu = (cpu: CpuPerRequest | undefined) =>
  cpu === undefined ? '-' : `${formatMicroseconds(cpu.total)} (${formatMicroseconds(cpu.user)}+${formatMicroseconds(cpu.system)})`;

/** native: the share of requests the data path answered; splice / cache: of those, the READs spliced or copied from the page cache */
function formatDataPath(path: DataPathRun | undefined): string {
  if (path === undefined || path.requests === 0) return '-';
  const percent = (n: number, of: number) => `${Math.round((100 * n) / Math.max(of, 1))}%`;
  const reads = path.splicedReads + path.cachedReads;
  const native = `${percent(path.served, path.requests)} native`;
  return reads === 0 ? native : `${native}, ${percent(path.splicedReads, path.served)} splice, ${percent(path.cachedReads, path.served)} cache`;
}

/**
 * One row per target of each job: the backing directory, then every mount with its ratio to it, the
 * reference file systems' ratios beside, and its CPU time; the job is named on its first row only.
 */
export function formatTable(summaries: readonly JobSummary[]): string {
  const header = ['job', 'unit', 'target', 'median', '/ backing', '/ hp', 'ref hp', 'ref JS', 'CPU us/req', 'data path'];
  const body = summaries.flatMap((summary) => {
    const reference = summary.reference ? [summary.reference.passthroughHp.toFixed(2), summary.reference.jsPassthrough.toFixed(2)] : ['-', '-'];
    return [
      [summary.job, summary.unit, 'backing', formatThroughput(summary.backing, summary.unit), '', '', '', '', '', ''],
      ...summary.mounts.map((mount) => [
        '',
        '',
        mount.target,
        formatThroughput(mount, summary.unit),
        formatRatio(mount.ratio, mount.atLeastJsPassthrough),
        mount.ratioToPeer === undefined ? '-' : mount.ratioToPeer.toFixed(2),
        ...reference,
        formatCpu(mount.cpuUsPerRequest),
        formatDataPath(mount.dataPath),
      ]),
    ];
  });
  return formatTextTable(header, body, 3);
}

export function formatLegend(rounds: number): string {
  return [
    `medians of ${rounds} round${rounds === 1 ? '' : 's'}; target: the backing directory, or a mount (<transport> <IO mode>[, variant]; the`,
    "kernel rows without a variant run with --fuse-uring off), or libfuse's passthrough_hp (--peer-hp);",
    "/ backing = the mount's median / the backing directory's, / hp = / passthrough_hp's, both in the same run;",
    'ref hp, ref JS: the reference ratios below (earlier runs, for comparison);',
    "ok / LOW: the ratio is at least / below the JS passthrough's; ! = some rounds failed (see below).",
    `${REFERENCE_ATTRIBUTION}.`,
    'CPU us/req: CPU time of the mount process over the run, total (user+system), per fio IO (per file',
    'for create, stat and delete); /proc/<pid>/stat counts in clock ticks (1/CLK_TCK s).',
    'data path (persistfs kernel mounts, all rounds): the share of FUSE requests its native data path answered, and',
    "of those, the READs spliced from the backing file's page cache or copied from it (persistfs stats --json).",
  ].join('\n');
}
