// Concurrency for the workloads: `count` async workers, each awaiting one operation at a time, so at most
// `count` operations are in flight (the queue depth). The engines batch what is in flight themselves.
import { performance } from 'node:perf_hooks';

/** Stop after this long, or after this many operations in all, whichever comes first. */
export interface Limit {
  seconds?: number;
  ops?: number;
}

export interface Measurement {
  ops: number;
  seconds: number;
}

/**
 * Runs `operation(worker)` in `count` concurrent loops until the limit, and measures from the first start
 * to the last completion (operations already in flight at the deadline finish and count). What
 * `operation` resolves with is ignored.
 */
export async function runWorkers(count: number, limit: Limit, operation: (worker: number) => Promise<unknown>): Promise<Measurement> {
  const maxOps = limit.ops ?? Infinity;
  const start = performance.now();
  const deadline = limit.seconds === undefined ? Infinity : start + limit.seconds * 1000;
  let ops = 0;
  const loop = async (worker: number): Promise<void> => {
    while (ops < maxOps && performance.now() < deadline) {
      ops++;
      await operation(worker);
    }
  };
  await Promise.all(Array.from({ length: count }, (_, worker) => loop(worker)));
  return { ops, seconds: (performance.now() - start) / 1000 };
}

export function addMeasurements(a: Measurement, b: Measurement): Measurement {
  return { ops: a.ops + b.ops, seconds: a.seconds + b.seconds };
}
