// From the runs to one line per job: the median of every target's rounds, the mounts' ratios to the
// backing directory and to the peer (passthrough_hp, when it ran), and how those compare with the
// reference file systems'.
import type { FioJob, JobId, Unit } from './jobs.js';
import { isFailed, type CpuPerRequest, type DataPathRun, type RunResult, type SuccessfulRun } from './measured-run.js';
import { REFERENCE_RATIOS, type ReferenceRatios } from './reference.js';
import type { MountKind, TargetName } from './targets.js';

export interface TargetSummary {
  /** the median throughput of the successful rounds, in the job's unit; undefined when none succeeded */
  median: number | undefined;
  failedRounds: number;
}

export interface MountSummary extends TargetSummary {
  target: TargetName;
  /** the mount's median over the backing directory's */
  ratio: number | undefined;
  /** the mount's median over passthrough_hp's in the same run; undefined without the peer */
  ratioToPeer: number | undefined;
  /** whether `ratio` is at least the JS passthrough's; undefined without either */
  atLeastJsPassthrough: boolean | undefined;
  /** CPU microseconds of the mount process per fio IO (per file for the metadata jobs), median round */
  cpuUsPerRequest: CpuPerRequest | undefined;
  /** persistfs kernel mounts: the data path's counters summed over the successful rounds */
  dataPath: DataPathRun | undefined;
}

export interface JobSummary {
  job: JobId;
  unit: Unit;
  backing: TargetSummary;
  mounts: MountSummary[];
  reference: ReferenceRatios | undefined;
}

/** The middle value (the mean of the two middle ones for an even count); undefined for none. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The figures of the round with the median total (the lower middle one of an even count), so that its parts add up. */
function medianCpu(figures: readonly CpuPerRequest[]): CpuPerRequest | undefined {
  const sorted = [...figures].sort((a, b) => a.total - b.total);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The counters of every round added up; undefined when no round has them. */
function sumDataPath(rounds: readonly DataPathRun[]): DataPathRun | undefined {
  if (rounds.length === 0) return undefined;
  const sum: DataPathRun = { requests: 0, served: 0, splicedReads: 0, cachedReads: 0 };
  for (const round of rounds) for (const name of Object.keys(sum) as (keyof DataPathRun)[]) sum[name] += round[name];
  return sum;
}

function runsOf(runs: readonly RunResult[], job: JobId, target: TargetName): { succeeded: SuccessfulRun[]; failed: number } {
  const mine = runs.filter((run) => run.job === job && run.target === target);
  const succeeded = mine.filter((run): run is SuccessfulRun => !isFailed(run));
  return { succeeded, failed: mine.length - succeeded.length };
}

function targetSummary(runs: readonly RunResult[], job: JobId, target: TargetName): TargetSummary {
  const { succeeded, failed } = runsOf(runs, job, target);
  return { median: median(succeeded.map((run) => run.throughput)), failedRounds: failed };
}

export function summarize(jobs: readonly FioJob[], kinds: readonly MountKind[], runs: readonly RunResult[]): JobSummary[] {
  return jobs.map((job) => {
    const backing = targetSummary(runs, job.id, 'backing');
    const peer = kinds.some((kind) => kind.transport === 'passthrough_hp') ? targetSummary(runs, job.id, 'passthrough_hp') : undefined;
    const reference = REFERENCE_RATIOS[job.id];
    const over = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a / b : undefined);
    const mounts = kinds.map((kind): MountSummary => {
      const target = kind.name;
      const summary = targetSummary(runs, job.id, target);
      const ratio = over(summary.median, backing.median);
      const { succeeded } = runsOf(runs, job.id, target);
      const cpuFigures = succeeded.flatMap((run) => run.mountCpuUsPerRequest ?? []);
      return {
        target,
        ...summary,
        ratio,
        ratioToPeer: kind.transport === 'passthrough_hp' ? undefined : over(summary.median, peer?.median),
        atLeastJsPassthrough: ratio !== undefined && reference !== undefined ? ratio >= reference.jsPassthrough : undefined,
        cpuUsPerRequest: medianCpu(cpuFigures),
        dataPath: sumDataPath(succeeded.flatMap((run) => run.dataPath ?? [])),
      };
    });
    return { job: job.id, unit: job.unit, backing, mounts, reference };
  });
}
