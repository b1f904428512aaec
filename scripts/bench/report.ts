// What a run produced: one row per workload and peer (fio included), the ratios of io_uring to the
// others, the targets with their verdicts, and the machine they were measured on.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { MiB } from './data-files.js';
import type { PeerName } from './peers.js';
import { WORKLOAD_IDS, type WorkloadId } from './workloads.js';
import { cpuUsPerOp, type Measurement } from './workers.js';

export type RowPeer = PeerName | 'fio';

export interface ResultRow {
  workload: WorkloadId;
  peer: RowPeer;
  ops: number;
  seconds: number;
  opsPerSecond: number;
  mibPerSecond: number;
  /** the process's CPU time per operation (workers.ts), where measured */
  cpuUsPerOp: number | undefined;
}

export function resultRow(workload: WorkloadId, peer: RowPeer, measured: Measurement, bytesPerOp: number): ResultRow {
  const opsPerSecond = measured.ops / measured.seconds;
  return { workload, peer, ...measured, opsPerSecond, mibPerSecond: (opsPerSecond * bytesPerOp) / MiB, cpuUsPerOp: cpuUsPerOp(measured) };
}

/** CPU microseconds per operation as a table cell ('-' where not measured). */
export const formatCpu = (us: number | undefined) => (us === undefined ? '-' : formatNumber(us, us < 10 ? 2 : us < 100 ? 1 : 0));

const RATIO_PEERS: readonly RowPeer[] = ['node:fs', 'sync', 'fio'];

/** io_uring's ops/s over `against`'s in the same workload, when both ran. */
export function ratio(rows: readonly ResultRow[], workload: WorkloadId, against: RowPeer): number | undefined {
  const find = (peer: RowPeer) => rows.find((row) => row.workload === workload && row.peer === peer);
  const mine = find('io_uring');
  const theirs = find(against);
  return mine && theirs ? mine.opsPerSecond / theirs.opsPerSecond : undefined;
}

export interface Target {
  description: string;
  workload: WorkloadId;
  against: RowPeer;
  /** io_uring's ops/s must be at least this multiple of `against`'s */
  atLeast: number;
}

export interface TargetResult extends Target {
  ratio: number | undefined;
  verdict: 'PASS' | 'MISS' | 'SKIP';
}

// Issue 15's bar: io_uring at or above node:fs on every workload, and at least 0.9x fio's IOPS on the random
// reads warm and cold; with the first bar's 2x node:fs at QD32 warm.
export const TARGETS: readonly Target[] = [
  { description: 'io_uring >= 2x node:fs, 4K random reads QD32, warm', workload: 'randread-4k-qd32-warm', against: 'node:fs', atLeast: 2 },
  ...WORKLOAD_IDS.map((workload) => ({ description: `io_uring not slower than node:fs, ${workload}`, workload, against: 'node:fs' as const, atLeast: 1 })),
  { description: 'io_uring >= 90% of fio IOPS, 4K random reads QD32, warm', workload: 'randread-4k-qd32-warm', against: 'fio', atLeast: 0.9 },
  { description: 'io_uring >= 90% of fio IOPS, 4K random reads QD32, cold O_DIRECT', workload: 'randread-4k-qd32-cold-direct', against: 'fio', atLeast: 0.9 },
];

export function evaluateTargets(rows: readonly ResultRow[]): TargetResult[] {
  return TARGETS.map((target) => {
    const value = ratio(rows, target.workload, target.against);
    const verdict = value === undefined ? 'SKIP' : value >= target.atLeast ? 'PASS' : 'MISS';
    return { ...target, ratio: value, verdict };
  });
}

export const formatRatio = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(2)}x`);
export const formatNumber = (value: number, digits: number) => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The results as a text table; ratios sit on the io_uring row of each workload. */
export function formatTable(rows: readonly ResultRow[]): string {
  const header = ['workload', 'peer', 'ops/s', 'MiB/s', 'CPU us/op', ...RATIO_PEERS.map((peer) => `io_uring/${peer}`)];
  const body = rows.map((row, index) => [
    index > 0 && rows[index - 1]!.workload === row.workload ? '' : row.workload,
    row.peer,
    formatNumber(row.opsPerSecond, 0),
    formatNumber(row.mibPerSecond, 1),
    formatCpu(row.cpuUsPerOp),
    ...RATIO_PEERS.map((peer) => (row.peer === 'io_uring' ? formatRatio(ratio(rows, row.workload, peer)) : '')),
  ]);
  return formatTextTable(header, body, 2);
}

/** Columns sized to fit: the first `textColumns` aligned left (text), the others right (numbers). */
export function formatTextTable(header: readonly string[], body: readonly (readonly string[])[], textColumns: number): string {
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column < textColumns ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join('\n');
}

/** One line per target: its verdict, what it asks, the ratio measured and the one needed (every section's targets). */
export function formatTargets(results: readonly Pick<TargetResult, 'verdict' | 'description' | 'ratio' | 'atLeast'>[]): string {
  return results
    .map((result) => {
      const measured = result.ratio === undefined ? 'not measured' : `${formatRatio(result.ratio)} (needs ${result.atLeast}x)`;
      return `${result.verdict.padEnd(4)}  ${result.description}: ${measured}`;
    })
    .join('\n');
}

export interface MachineInfo {
  cpuModel: string;
  nproc: number;
  kernel: string;
  os: string;
  node: string;
  memoryGiB: number;
  /** the libuv pool that runs node:fs and persistfs' sync mode calls */
  uvThreadpoolSize: string;
  benchDirFilesystem: string;
  fio: string | undefined;
  /** how an idle CPU waits (cpuIdle) */
  cpuIdle: string;
}

const sysfs = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/** How an idle CPU waits: the cpuidle driver, with haltpoll's polling window (a VM guest's) when it is the driver. */
export function cpuIdle(): string {
  const driver = sysfs('/sys/devices/system/cpu/cpuidle/current_driver') ?? 'unknown';
  const poll = driver === 'haltpoll' ? sysfs('/sys/module/haltpoll/parameters/guest_halt_poll_ns') : undefined;
  return poll === undefined ? driver : `${driver}, guest_halt_poll_ns ${poll}`;
}

/**
 * A note for the figures when idle vCPUs halt at once (haltpoll with no polling window): there a wake-up of
 * an idle vCPU is a VM exit and entry, paid by every request that hands work from one thread to another
 * (BENCHMARKS.md, session 46: cold O_DIRECT reads at 1 in flight went from 7.8K to 20.8K a second with a
 * 200 us window, fio's from 18K to 24K). Undefined otherwise.
 */
export function cpuIdleNote(idle: string): string | undefined {
  if (idle !== 'haltpoll, guest_halt_poll_ns 0') return undefined;
  return (
    'idle vCPUs halt at once here (cpuidle haltpoll, guest_halt_poll_ns 0): waking one is a VM exit, which every request ' +
    'handed between threads pays (an event loop woken by a completion, a FUSE server woken by a request); latency-bound ' +
    'rows suffer most (BENCHMARKS.md, session 46)'
  );
}

function filesystemOf(dir: string): string {
  const found = spawnSync('findmnt', ['--noheadings', '--output', 'FSTYPE,SOURCE', '--target', dir], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim().replace(/\s+/g, ' on ') : 'unknown';
}

export function machineInfo(benchDir: string, fio: string | undefined): MachineInfo {
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    nproc: os.availableParallelism(),
    kernel: os.release(),
    os: `${os.type()} ${os.arch()}`,
    node: process.version,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
    benchDirFilesystem: filesystemOf(benchDir),
    fio,
    cpuIdle: cpuIdle(),
  };
}

/** The compact ISO 8601 form (20260102T030405Z): sortable, and no colons in file names. */
function timestampForFileName(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Writes `report` as bench-<timestamp>.json in `dir` (through a .tmp file, so a reader never sees half). */
export async function saveReport(dir: string, startedAt: Date, report: object, prefix = 'bench'): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${prefix}-${timestampForFileName(startedAt)}.json`);
  await writeFile(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
  return file;
}
