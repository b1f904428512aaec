// Runs one fio job file (or one section of it) and reads the totals of its JSON report. fio runs as a child
// process, asynchronously, so this process stays responsive (and a mount it tests is never its child's
// child: the mounts are processes of their own).
import { spawn } from 'node:child_process';

export interface FioInvocation {
  jobFile: string;
  section?: string;
  env: Record<string, string>;
  /** fio's working directory, where it leaves the output of exec_prerun commands */
  cwd: string;
  /** only fio's setup phase: lay out the files the job needs, do no IO */
  createOnly?: boolean;
}

export interface FioTotals {
  /** IOs of every job and direction: reads (verify reads included) plus writes; files for the metadata engines */
  ios: number;
  bytes: number;
  /** the longest runtime of any direction: the run's duration */
  seconds: number;
}

export class FioFailure extends Error {}

/** The fio command line, for the report and for error messages. */
export function fioArguments(invocation: Pick<FioInvocation, 'jobFile' | 'section' | 'createOnly'>): string[] {
  return [
    '--output-format=json',
    ...(invocation.createOnly ? ['--create_only=1'] : []),
    ...(invocation.section === undefined ? [] : [`--section=${invocation.section}`]),
    invocation.jobFile,
  ];
}

export async function runFio(invocation: FioInvocation): Promise<FioTotals> {
  const args = fioArguments(invocation);
  const child = spawn('fio', args, {
    cwd: invocation.cwd,
    env: { ...process.env, ...invocation.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const what = `fio ${args.join(' ')}`;
  // fio reports a failed job (a verify mismatch, an IO error) with a non-zero exit and the error on stderr
  if (exitCode !== 0) throw new FioFailure(`${what} exited with ${exitCode}: ${stderr.trim() || stdout.trim()}`);
  // fio may print warnings ahead of the JSON on stdout
  const start = stdout.indexOf('{');
  if (start < 0) throw new FioFailure(`${what} printed no JSON report: ${stdout.trim()}`);
  const totals = totalsOf(JSON.parse(stdout.slice(start)), what);
  // a job that fails before its IO starts (an exec_prerun command, say) can leave fio exiting 0
  if (!invocation.createOnly && (totals.ios === 0 || totals.seconds === 0)) {
    throw new FioFailure(`${what} did no IO: ${stderr.trim() || stdout.slice(0, start).trim()}`);
  }
  return totals;
}

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

function numberAt(object: JsonObject, key: string, what: string): number {
  const value = object[key];
  if (typeof value !== 'number') throw new FioFailure(`${what}: the JSON report has no number at ${key}`);
  return value;
}

/** The report's totals, checked field by field (the JSON is fio's, not ours). */
function totalsOf(report: unknown, what: string): FioTotals {
  const jobs = isObject(report) ? report.jobs : undefined;
  if (!Array.isArray(jobs) || jobs.length === 0) throw new FioFailure(`${what}: the JSON report has no jobs`);
  const totals: FioTotals = { ios: 0, bytes: 0, seconds: 0 };
  for (const job of jobs) {
    if (!isObject(job)) throw new FioFailure(`${what}: a job in the JSON report is not an object`);
    const error = numberAt(job, 'error', what);
    if (error !== 0) throw new FioFailure(`${what}: job ${String(job.jobname)} failed with error ${error}`);
    for (const direction of ['read', 'write']) {
      const stats = job[direction];
      if (!isObject(stats)) throw new FioFailure(`${what}: the JSON report has no ${direction} statistics`);
      totals.ios += numberAt(stats, 'total_ios', what);
      totals.bytes += numberAt(stats, 'io_bytes', what);
      totals.seconds = Math.max(totals.seconds, numberAt(stats, 'runtime', what) / 1000);
    }
  }
  return totals;
}
