// One measured run: one job on one target, after that job's preparation (fresh files, layout, the page
// cache written back or dropped), with the mount's CPU time read around it.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename } from 'node:fs/promises';
import path from 'node:path';

import { dropCaches, MiB, removeQuietly, writeBack } from '../bench/data-files.js';
import { runFio } from './fio-runner.js';
import { type FioJob, type JobId, SET_ASIDE_DIR } from './jobs.js';
import { jobEnvironment, type FioSettings } from './settings.js';
import type { Target, TargetName } from './targets.js';

export interface RunContext {
  settings: FioSettings;
  /** scripts/fio/jobs */
  jobsDir: string;
  /** the work directory (fio runs in it) */
  workdir: string;
  /** records something the reader of the results should know, once */
  note(message: string): void;
}

interface RunIdentity {
  job: JobId;
  target: TargetName;
  round: number;
}

export interface SuccessfulRun extends RunIdentity {
  /** in the job's unit: MiB/s, IOPS or files/s */
  throughput: number;
  ios: number;
  bytes: number;
  seconds: number;
  /** mounts only: the mount process' CPU time during the run, per fio IO (or file) */
  mountCpuUsPerRequest?: CpuPerRequest;
  /** persistfs kernel mounts: how the data path answered during the run (changes of its counters) */
  dataPath?: DataPathRun;
}

/** What the native data path did during one run (persistfs stats' dataPath, after less before). */
export interface DataPathRun {
  /** FUSE requests answered, natively or in JavaScript */
  requests: number;
  /** requests answered natively */
  served: number;
  /** READs answered by splice from the backing file's page cache */
  splicedReads: number;
  /** READs copied from the backing file's page cache on the reader thread */
  cachedReads: number;
}
const DATA_PATH_COUNTERS = ['requests', 'served', 'splicedReads', 'cachedReads'] as const;

export interface CpuPerRequest {
  /** user + system */
  total: number;
  user: number;
  system: number;
}

export interface FailedRun extends RunIdentity {
  error: string;
}

export type RunResult = SuccessfulRun | FailedRun;

export const isFailed = (run: RunResult): run is FailedRun => 'error' in run;

/** Moves `dir`/`name`, if there, into a new directory below `dir`/SET_ASIDE_DIR (see FioJob.setAsideBefore). */
export async function setAside(dir: string, name: string): Promise<void> {
  const from = path.join(dir, name);
  if (!existsSync(from)) return;
  const aside = path.join(dir, SET_ASIDE_DIR);
  await mkdir(aside, { recursive: true });
  await rename(from, path.join(await mkdtemp(path.join(aside, `${name}-`)), name));
}

/** Runs `job` once on `target`. Any failure (a verify mismatch, an IO error, a dead mount) comes back as a FailedRun. */
export async function measuredRun(job: FioJob, target: Target, round: number, context: RunContext): Promise<RunResult> {
  const identity: RunIdentity = { job: job.id, target: target.name, round };
  try {
    target.mount?.checkServing();
    const invocation = {
      jobFile: path.join(context.jobsDir, job.jobFile),
      section: job.section,
      env: jobEnvironment(context.settings, target.dir),
      cwd: context.workdir,
    };
    for (const name of job.removeBefore) await removeQuietly(path.join(target.dir, name));
    for (const name of job.setAsideBefore) await setAside(target.dir, name);
    // fio makes the files but not the directory they are in
    if (job.subdirectory !== undefined) await mkdir(path.join(target.dir, job.subdirectory), { recursive: true });
    if (job.layout) await runFio({ ...invocation, createOnly: true });
    // every run starts with no dirty pages, so none pays for the writeback of an earlier one
    if (!job.cold) writeBack();
    else if (!dropCaches()) context.note('could not drop the page cache (not root?): the cold jobs ran warm');

    const pathBefore = await target.mount?.dataPath();
    const cpuBefore = target.mount?.cpuTime();
    const totals = await runFio(invocation);
    const cpuAfter = target.mount?.cpuTime();
    const pathAfter = pathBefore && (await target.mount?.dataPath());

    const throughput = job.unit === 'MiB/s' ? totals.bytes / MiB / totals.seconds : totals.ios / totals.seconds;
    const run: SuccessfulRun = { ...identity, throughput, ...totals };
    if (cpuBefore !== undefined && cpuAfter !== undefined) {
      const user = ((cpuAfter.user - cpuBefore.user) * 1e6) / totals.ios;
      const system = ((cpuAfter.system - cpuBefore.system) * 1e6) / totals.ios;
      run.mountCpuUsPerRequest = { total: user + system, user, system };
    }
    if (pathBefore && pathAfter) {
      const counted = DATA_PATH_COUNTERS.map((name) => [name, (pathAfter[name] ?? 0) - (pathBefore[name] ?? 0)]);
      run.dataPath = Object.fromEntries(counted) as unknown as DataPathRun;
    }
    return run;
  } catch (error) {
    // recorded, and the script goes on with the other runs: a mount that errors on one job (or died)
    // should not hide how the others went; the script still exits non-zero at the end
    return { ...identity, error: error instanceof Error ? error.message : String(error) };
  }
}
