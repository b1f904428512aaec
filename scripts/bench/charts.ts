// Charts of a saved report (issue 14): one job, a bench or fio JSON report in, SVG files out. Each chart is
// a Vega-Lite spec of grouped bars (one group per workload or job, one bar per peer), compiled to Vega and
// rendered headless (renderer 'none': no browser, no canvas). bench.ts and fio.ts call writeCharts after
// saving their JSON; scripts/charts.ts draws them again from a file already recorded (`make charts`).
//
// bench reports: the ratios of persistfs io_uring's ops/s to each peer's (node:fs, sync, fio) per storage
// workload, and the ops/s themselves; the same for the WAL jobs (records/s, over the naive node:fs log) and
// the LSM workloads (ops/s, over classic-level and the others). fio reports: each mount's median over the
// backing directory's per job, each persistfs mount's over passthrough_hp's, and the mounts' CPU time per
// request. A report with no results is an error (a chart of nothing would hide a broken run).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';

/** One bar: its group on the x axis (a workload or job), its series (the peer or pair), its height. */
export interface Bar {
  group: string;
  series: string;
  value: number;
}

export interface ChartSpec {
  /** the file name's suffix: <report>-<name>.svg */
  name: string;
  title: string;
  yTitle: string;
  bars: Bar[];
  /** a logarithmic y axis, for figures spanning orders of magnitude */
  log?: boolean;
  /** a horizontal rule at this height (1 for ratios: above it, persistfs is the faster) */
  rule?: number;
}

export interface Chart {
  name: string;
  title: string;
  svg: string;
  /** bars drawn (one per group and series with a finite figure) */
  bars: number;
}

// The reports as read back from disk: only the fields drawn, all optional (older reports lack some).
interface StorageRow {
  workload: string;
  peer: string;
  opsPerSecond: number;
}
interface WalRow {
  recordBytes: number;
  policy: string;
  writers: number;
  /** the log truncated as it goes (wal-section.ts): compared with the naive log's plain row */
  checkpointed?: boolean;
  peer: string;
  recordsPerSecond: number;
}
interface LsmRun {
  peer: string;
  results?: Array<{ workload: string; opsPerSecond: number }>;
}
interface BenchReport {
  startedAt?: string;
  quick?: boolean;
  results?: StorageRow[];
  wal?: { results?: WalRow[] };
  lsm?: { runs?: LsmRun[] };
}
interface FioMount {
  /** the target's name; `mode` in reports from before the targets were named */
  target?: string;
  mode?: string;
  median?: number | null;
  ratio?: number | null;
  ratioToPeer?: number | null;
  cpuUsPerRequest?: { total?: number } | null;
}
interface FioReport {
  startedAt?: string;
  quick?: boolean;
  summary?: Array<{ job: string; unit?: string; mounts?: FioMount[] }>;
}

const isFigure = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Bars of `numerator`'s figure over each of `against`'s, per group, where both were measured. */
function ratioBars<Row>(
  rows: readonly Row[],
  group: (row: Row) => string,
  peer: (row: Row) => string,
  figure: (row: Row) => number,
  numerator: string,
  against: readonly string[],
): Bar[] {
  const bars: Bar[] = [];
  const groups = [...new Set(rows.map(group))];
  for (const name of groups) {
    const find = (wanted: string) => rows.find((row) => group(row) === name && peer(row) === wanted);
    const mine = find(numerator);
    if (!mine) continue;
    for (const other of against) {
      const theirs = find(other);
      if (theirs && figure(theirs) > 0) bars.push({ group: name, series: `${numerator} / ${other}`, value: figure(mine) / figure(theirs) });
    }
  }
  return bars.filter((bar) => isFigure(bar.value));
}

const walJobName = (row: WalRow) =>
  `${row.recordBytes} B, ${row.policy}${row.checkpointed ? ', checkpointed' : ''}, ${row.writers} writer${row.writers === 1 ? '' : 's'}`;

/** The WAL rows, with the naive log's plain row also standing in each checkpointed job (it has no such job of its own). */
function walRatioRows(wal: readonly WalRow[]): WalRow[] {
  const checkpointed = wal.filter((row) => row.checkpointed);
  const standIns = wal
    .filter((naive) => naive.peer === 'node:fs' && checkpointed.some((row) => walJobName(row) === walJobName({ ...naive, checkpointed: true })))
    .map((naive) => ({ ...naive, checkpointed: true }));
  return [...wal, ...standIns];
}

function benchCharts(report: BenchReport): ChartSpec[] {
  const specs: ChartSpec[] = [];
  const rows = report.results ?? [];
  if (rows.length > 0) {
    const peers = [...new Set(rows.map((row) => row.peer))];
    specs.push(
      {
        name: 'storage-ratio',
        title: 'Storage: persistfs io_uring ops/s over each peer (above 1: io_uring faster)',
        yTitle: 'ratio',
        bars: ratioBars(
          rows,
          (row) => row.workload,
          (row) => row.peer,
          (row) => row.opsPerSecond,
          'io_uring',
          peers.filter((peer) => peer !== 'io_uring'),
        ),
        rule: 1,
      },
      {
        name: 'storage-throughput',
        title: 'Storage: ops/s per workload and peer',
        yTitle: 'ops/s (log scale)',
        bars: rows.map((row) => ({ group: row.workload, series: row.peer, value: row.opsPerSecond })),
        log: true,
      },
    );
  }
  const wal = report.wal?.results ?? [];
  if (wal.length > 0) {
    const peers = [...new Set(wal.map((row) => row.peer))].filter((peer) => peer !== 'node:fs');
    specs.push(
      {
        name: 'wal-ratio',
        title: 'WAL: persistfs records/s over the naive node:fs log (above 1: persistfs faster)',
        yTitle: 'ratio',
        bars: peers.flatMap((peer) =>
          ratioBars(
            walRatioRows(wal),
            walJobName,
            (row) => row.peer,
            (row) => row.recordsPerSecond,
            peer,
            ['node:fs'],
          ),
        ),
        rule: 1,
      },
      {
        name: 'wal-throughput',
        title: 'WAL: records/s per job and peer',
        yTitle: 'records/s (log scale)',
        bars: wal.map((row) => ({ group: walJobName(row), series: row.peer, value: row.recordsPerSecond })),
        log: true,
      },
    );
  }
  const lsm = (report.lsm?.runs ?? []).flatMap((run) => (run.results ?? []).map((result) => ({ peer: run.peer, ...result })));
  if (lsm.length > 0) {
    const peers = [...new Set(lsm.map((row) => row.peer))];
    specs.push(
      {
        name: 'lsm-ratio',
        title: 'LSM: lsm io_uring ops/s over each peer (above 1: lsm io_uring faster)',
        yTitle: 'ratio',
        bars: ratioBars(
          lsm,
          (row) => row.workload,
          (row) => row.peer,
          (row) => row.opsPerSecond,
          'lsm io_uring',
          peers.filter((peer) => peer !== 'lsm io_uring'),
        ),
        rule: 1,
      },
      {
        name: 'lsm-throughput',
        title: 'LSM: ops/s per workload and peer',
        yTitle: 'ops/s (log scale)',
        bars: lsm.map((row) => ({ group: row.workload, series: row.peer, value: row.opsPerSecond })),
        log: true,
      },
    );
  }
  return specs;
}

function fioCharts(report: FioReport): ChartSpec[] {
  const mounts = (report.summary ?? []).flatMap((job) =>
    (job.mounts ?? []).map((mount) => ({ job: job.job, name: mount.target ?? mount.mode ?? '?', ...mount })),
  );
  if (mounts.length === 0) return [];
  const bars = (figure: (mount: (typeof mounts)[number]) => unknown, suffix = ''): Bar[] =>
    mounts.flatMap((mount) => {
      const value = figure(mount);
      return isFigure(value) ? [{ group: mount.job, series: `${mount.name}${suffix}`, value }] : [];
    });
  const specs: ChartSpec[] = [
    {
      name: 'fio-ratio',
      title: "fio: each mount's median over the backing directory's (1: as fast as the backing directory)",
      yTitle: 'mount / backing',
      bars: bars((mount) => mount.ratio, ' / backing'),
      rule: 1,
    },
    {
      name: 'fio-ratio-peer',
      title: "fio: each persistfs mount's median over passthrough_hp's (above 1: persistfs faster)",
      yTitle: 'persistfs / passthrough_hp',
      bars: bars((mount) => mount.ratioToPeer, ' / passthrough_hp'),
      rule: 1,
    },
    {
      name: 'fio-cpu',
      title: "fio: the mount process's CPU time per request (user + system; lower is better)",
      yTitle: 'µs per request (log scale)',
      bars: bars((mount) => mount.cpuUsPerRequest?.total).filter((bar) => bar.value > 0),
      log: true,
    },
  ];
  return specs.filter((spec) => spec.bars.length > 0);
}

/** The Vega-Lite spec of grouped bars: groups along x, one bar per series within a group, coloured by series. */
export function groupedBarsSpec(chart: ChartSpec, subtitle?: string): TopLevelSpec {
  const groups = [...new Set(chart.bars.map((bar) => bar.group))];
  const series = [...new Set(chart.bars.map((bar) => bar.series))];
  const bars = {
    mark: { type: 'bar' as const, tooltip: true },
    encoding: {
      x: { field: 'group', type: 'nominal' as const, sort: groups, title: null, axis: { labelAngle: -30, labelLimit: 220 } },
      xOffset: { field: 'series', type: 'nominal' as const, sort: series },
      y: {
        field: 'value',
        type: 'quantitative' as const,
        title: chart.yTitle,
        ...(chart.log ? { scale: { type: 'log' as const } } : {}),
      },
      color: { field: 'series', type: 'nominal' as const, sort: series, title: null, legend: { orient: 'bottom' as const, columns: 2, labelLimit: 400 } },
    },
  };
  const layers =
    chart.rule === undefined ? [bars] : [bars, { mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#555' }, encoding: { y: { datum: chart.rule } } }];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: chart.title, ...(subtitle ? { subtitle } : {}), anchor: 'start' },
    // with xOffset, the step is each bar's (a group is as wide as its series, plus the padding between groups)
    width: { step: series.length > 1 ? 16 : 28 },
    height: 260,
    data: { values: chart.bars },
    layer: layers,
    config: { font: 'sans-serif', background: 'white' },
  } as TopLevelSpec;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    // coordinates and labels to 2 decimals: Vega writes full doubles, which triples the file for no visible change
    return (await view.toSVG()).replace(/(\d\.\d{2})\d+/g, '$1');
  } finally {
    view.finalize();
  }
}

/** Which kind of report this is, by its fields: fio reports have a summary, bench reports results or sections. */
export function reportKind(report: unknown): 'bench' | 'fio' {
  if (typeof report !== 'object' || report === null) throw new Error('charts: the report is not a JSON object');
  if ('summary' in report) return 'fio';
  if ('results' in report || 'wal' in report || 'lsm' in report) return 'bench';
  throw new Error('charts: not a bench or fio report (it has neither a summary nor results, wal or lsm)');
}

/** The charts of a report, rendered; throws when the report has nothing to draw. */
export async function chartsOf(report: unknown): Promise<Chart[]> {
  const kind = reportKind(report);
  const specs = kind === 'fio' ? fioCharts(report as FioReport) : benchCharts(report as BenchReport);
  const drawn = specs.filter((spec) => spec.bars.length > 0);
  if (drawn.length === 0) {
    throw new Error(
      kind === 'fio'
        ? 'charts: the fio report has no results to draw (its summary has no mount with a measured figure)'
        : 'charts: the bench report has no results to draw (no storage rows, WAL results or LSM runs)',
    );
  }
  const { startedAt, quick } = report as { startedAt?: string; quick?: boolean };
  const subtitle = [startedAt && `run of ${startedAt}`, quick && '--quick'].filter(Boolean).join(', ') || undefined;
  const charts: Chart[] = [];
  for (const spec of drawn) {
    charts.push({ name: spec.name, title: spec.title, svg: await renderSvg(groupedBarsSpec(spec, subtitle)), bars: spec.bars.length });
  }
  return charts;
}

/**
 * Draws the charts of the report in `jsonFile` as <report>-<chart>.svg in `outDir` (by default beside the
 * JSON) and returns the files written.
 */
export async function writeCharts(jsonFile: string, outDir = path.dirname(jsonFile)): Promise<string[]> {
  const report: unknown = JSON.parse(await readFile(jsonFile, 'utf8'));
  const charts = await chartsOf(report);
  await mkdir(outDir, { recursive: true });
  const base = path.basename(jsonFile, '.json');
  const files: string[] = [];
  for (const chart of charts) {
    const file = path.join(outDir, `${base}-${chart.name}.svg`);
    await writeFile(file, chart.svg.endsWith('\n') ? chart.svg : `${chart.svg}\n`);
    files.push(file);
  }
  return files;
}

/**
 * For bench.ts and fio.ts, after saving: draws the report's charts beside it and names them. A chart that
 * cannot be drawn is reported on stderr and does not fail the run (its JSON is saved already; `make charts`
 * draws it again).
 */
export async function printChartsOf(jsonFile: string): Promise<void> {
  try {
    const files = await writeCharts(jsonFile);
    console.log(`charts: ${files.map((file) => path.relative(process.cwd(), file) || file).join(', ')}`);
  } catch (error) {
    console.error(`charts not drawn: ${error instanceof Error ? error.message : String(error)}`);
  }
}
