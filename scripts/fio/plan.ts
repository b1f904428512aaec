// The plan of a fio run: every job, in every round, on every target, the targets in a different order for
// every job and round so that none always goes first. Known before the first run, so that the progress
// can say which step of how many is under way and when the run should end.
import type { FioJob } from './jobs.js';

export interface FioStep<T> {
  job: FioJob;
  /** 0-based */
  round: number;
  target: T;
  /** what the progress shows: the job (N of M), the round (of how many) and the target */
  label: string;
}

/** `targets` rotated by `by`. */
function rotated<T>(targets: readonly T[], by: number): T[] {
  const start = by % targets.length;
  return [...targets.slice(start), ...targets.slice(0, start)];
}

export function fioPlan<T extends { name: string }>(jobs: readonly FioJob[], targets: readonly T[], rounds: number): FioStep<T>[] {
  return jobs.flatMap((job, index) =>
    Array.from({ length: rounds }, (_, round) =>
      rotated(targets, index + round).map((target) => ({
        job,
        round,
        target,
        label: `[${index + 1}/${jobs.length}] ${job.id.padEnd(18)} round ${round + 1}/${rounds}  ${target.name}`,
      })),
    ).flat(),
  );
}
