// fio as the ceiling: the same 4 KiB random-read job at queue depth 32 through fio's own io_uring engine.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

import type { DataFile } from './data-files.js';

const run = promisify(execFile);

export interface FioResult {
  iops: number;
  bytesPerSecond: number;
  seconds: number;
  /** fio's own CPU time (user + system, as its JSON reports it) */
  cpuSeconds: number | undefined;
  commandLine: string;
}

/** fio's version string, or undefined when it is not installed. */
export function fioVersion(): string | undefined {
  const probe = spawnSync('fio', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

/** fio's random reads of `file` for `seconds`; `round` seeds the offsets, so that each turn reads other blocks. */
export async function runFio(file: DataFile, direct: boolean, seconds: number, round: number): Promise<FioResult> {
  const args = [
    '--name=randread',
    `--filename=${file.path}`,
    '--rw=randread',
    '--bs=4k',
    '--iodepth=32',
    '--ioengine=io_uring',
    `--direct=${direct ? 1 : 0}`,
    // fio drops the file's pages before starting by default, which would make the warm job a cold one
    ...(direct ? [] : ['--invalidate=0']),
    '--readonly',
    `--randseed=${1000 + round}`,
    `--runtime=${Math.round(seconds * 1000)}ms`,
    '--time_based',
    '--output-format=json',
  ];
  const { stdout } = await run('fio', args, { maxBuffer: 16 * 1024 * 1024 });
  const read = readStats(JSON.parse(stdout.slice(stdout.indexOf('{'))));
  return { ...read, commandLine: ['fio', ...args].join(' ') };
}

/** Several turns of fio as one result: their operations, time and CPU added up. */
export function combinedFio(runs: readonly FioResult[]): FioResult {
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  const ops = runs.reduce((sum, run) => sum + run.iops * run.seconds, 0);
  const bytes = runs.reduce((sum, run) => sum + run.bytesPerSecond * run.seconds, 0);
  const cpu = runs.every((run) => run.cpuSeconds !== undefined) ? runs.reduce((sum, run) => sum + run.cpuSeconds!, 0) : undefined;
  return { iops: ops / seconds, bytesPerSecond: bytes / seconds, seconds, cpuSeconds: cpu, commandLine: runs.map((run) => run.commandLine).join('\n') };
}

/** The read side of fio's only job, checked field by field (the JSON is fio's, not ours). */
function readStats(report: unknown): Omit<FioResult, 'commandLine'> {
  const job = field(report, 'jobs', 0);
  const read = field(job, 'read');
  const iops = field(read, 'iops');
  const bytesPerSecond = field(read, 'bw_bytes');
  const runtimeMs = field(read, 'runtime');
  if (typeof iops !== 'number' || typeof bytesPerSecond !== 'number' || typeof runtimeMs !== 'number') {
    throw new Error('fio printed JSON without jobs[0].read.iops, bw_bytes and runtime');
  }
  const error = field(job, 'error');
  if (error !== 0) throw new Error(`fio's job failed with error ${String(error)}`);
  // usr_cpu and sys_cpu: percent of the job's run time
  const user = field(job, 'usr_cpu');
  const system = field(job, 'sys_cpu');
  const cpuSeconds = typeof user === 'number' && typeof system === 'number' ? ((user + system) / 100) * (runtimeMs / 1000) : undefined;
  return { iops, bytesPerSecond, seconds: runtimeMs / 1000, cpuSeconds };
}

function field(value: unknown, key: string, index?: number): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  const child: unknown = (value as Record<string, unknown>)[key];
  if (index === undefined) return child;
  return Array.isArray(child) ? (child[index] as unknown) : undefined;
}
