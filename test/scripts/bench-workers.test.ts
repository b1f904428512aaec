// The benchmarks' workers (scripts/bench/workers.ts): the clock is read once per round of the loops, not
// per operation (a read costs a fifth of a WAL record at 2M records/s here); and the WAL section's jobs
// by sync policy (--wal-sync).
import { performance } from 'node:perf_hooks';
import test from 'tape';

import { walJobs } from '../../scripts/bench/wal-section.js';
import { runWorkers } from '../../scripts/bench/workers.js';

/** Runs `body` counting the calls to performance.now() meanwhile. */
async function countingClockReads(body: () => Promise<unknown>): Promise<number> {
  const now = performance.now;
  let reads = 0;
  performance.now = function (this: typeof performance) {
    reads++;
    return now.call(this);
  };
  try {
    await body();
  } finally {
    performance.now = now;
  }
  return reads;
}

test('runWorkers reads the clock once per `count` operations started, and still stops at the deadline', async (t) => {
  let ops = 0;
  const reads = await countingClockReads(() => runWorkers(8, { seconds: 1000, ops: 800 }, async () => ops++));
  t.equal(ops, 800, 'the operations limit holds');
  t.ok(reads <= 800 / 8 + 10, `${reads} clock reads for 800 operations in 8 loops`);

  let timed = 0;
  const measured = await runWorkers(4, { seconds: 0.05 }, () => new Promise((resolve) => setImmediate(() => resolve(timed++))));
  t.ok(measured.seconds >= 0.05, `a time limit ends the run after it (${measured.seconds} s)`);
  t.equal(measured.ops, timed, 'every operation started is counted');
});

test('walJobs: the jobs of the sync policies asked for', (t) => {
  const none = walJobs(['none']);
  t.ok(none.length > 0 && none.every((job) => job.policy === 'none'), "--wal-sync none: only the 'none' rows");
  t.ok(
    none.some((job) => job.writers === 256 && job.recordBytes === 100),
    "with the goal's row: 100 B, 256 writers",
  );
  t.deepEqual(
    walJobs().filter((job) => job.policy === 'none'),
    none,
    'the same as in the full list',
  );
  t.end();
});
