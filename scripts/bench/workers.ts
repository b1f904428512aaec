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
  /** CPU time (user + system) of this whole process meanwhile, its threads included (the thread pool,
   * io_uring's io-wq workers, LevelDB's): what the operations cost beside how long they took */
  cpuSeconds?: number;
}

/** The CPU time this process used since `since` (a process.cpuUsage() taken before), in seconds. */
export function cpuSecondsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/**
 * Runs `operation(worker)` in `count` concurrent loops until the limit, and measures from the first start
 * to the last completion (operations already in flight at the deadline finish and count). What
 * `operation` resolves with is ignored.
 *
 * The clock is read once every `count` operations started, not at each: a read costs 115 ns on this
 * machine (BENCHMARKS.md, WAL, branch wal2m), a fifth of a WAL record's whole cost at 2M records/s. So
 * up to `count` operations more may start after the deadline, about one per loop, as many as may
 * already be in flight at it; the time measured is still from the first start to the last completion.
 */
export async function runWorkers(count: number, limit: Limit, operation: (worker: number) => Promise<unknown>): Promise<Measurement> {
  const maxOps = limit.ops ?? Infinity;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const deadline = limit.seconds === undefined ? Infinity : start + limit.seconds * 1000;
  let ops = 0;
  let nextCheck = 0;
  let expired = false;
  const loop = async (worker: number): Promise<void> => {
    while (ops < maxOps) {
      if (ops >= nextCheck) {
        nextCheck = ops + count;
        expired = performance.now() >= deadline;
      }
      if (expired) return;
      ops++;
      await operation(worker);
    }
  };
  await Promise.all(Array.from({ length: count }, (_, worker) => loop(worker)));
  return { ops, seconds: (performance.now() - start) / 1000, cpuSeconds: cpuSecondsSince(cpu) };
}

/** Where sums of measurements start. */
export const NOTHING_MEASURED: Measurement = { ops: 0, seconds: 0, cpuSeconds: 0 };

/** Both together; CPU time only when both have it. */
export function addMeasurements(a: Measurement, b: Measurement): Measurement {
  const sum = { ops: a.ops + b.ops, seconds: a.seconds + b.seconds };
  return a.cpuSeconds === undefined || b.cpuSeconds === undefined ? sum : { ...sum, cpuSeconds: a.cpuSeconds + b.cpuSeconds };
}

/** Microseconds of CPU per operation, where the CPU time was measured. */
export function cpuUsPerOp(measured: Measurement): number | undefined {
  return measured.cpuSeconds === undefined || measured.ops === 0 ? undefined : (measured.cpuSeconds / measured.ops) * 1e6;
}
