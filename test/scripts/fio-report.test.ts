// The fio report (scripts/fio/summary.ts, report.ts): per job, the medians, the ratios, the mount's CPU per
// request and, for persistfs kernel mounts, how its native data path answered (summed over the rounds).
import test from 'tape';

import { FIO_JOBS } from '../../scripts/fio/jobs.js';
import type { RunResult } from '../../scripts/fio/measured-run.js';
import { formatTable } from '../../scripts/fio/report.js';
import { summarize } from '../../scripts/fio/summary.js';

test('fio report: the data path column, summed over the successful rounds; "-" where a mount has none', (t) => {
  const job = FIO_JOBS[0]!;
  const kinds = [
    { name: 'kernel io_uring', transport: 'kernel' as const, args: [] },
    { name: 'fuse-native io_uring', transport: 'fuse-native' as const, args: [] },
  ];
  const run = (target: string, round: number, throughput: number, extra = {}): RunResult => ({
    job: job.id,
    target,
    round,
    throughput,
    ios: 100,
    bytes: 100 * 4096,
    seconds: 1,
    ...extra,
  });
  const runs: RunResult[] = [
    run('backing', 0, 100),
    run('backing', 1, 100),
    run('kernel io_uring', 0, 80, { dataPath: { requests: 50, served: 40, splicedReads: 20, cachedReads: 10 } }),
    run('kernel io_uring', 1, 90, { dataPath: { requests: 50, served: 50, splicedReads: 10, cachedReads: 30 } }),
    { job: job.id, target: 'kernel io_uring', round: 2, error: 'the mount process exited' },
    run('fuse-native io_uring', 0, 50),
    run('fuse-native io_uring', 1, 50),
  ];
  const [summary] = summarize([job], kinds, runs);
  const kernel = summary!.mounts.find((mount) => mount.target === 'kernel io_uring')!;
  t.deepEqual(kernel.dataPath, { requests: 100, served: 90, splicedReads: 30, cachedReads: 40 }, 'the rounds that succeeded, added up');
  t.equal(summary!.mounts.find((mount) => mount.target === 'fuse-native io_uring')!.dataPath, undefined, 'fuse-native: none');
  const table = formatTable([summary!]);
  const row = (target: string) => table.split('\n').find((line) => line.includes(target)) ?? '';
  t.match(row('kernel io_uring'), /90% native, 33% splice, 44% cache\s*$/, 'the kernel row: native share, then the READs by kind');
  t.match(row('fuse-native io_uring'), /\s-\s*$/, 'the fuse-native row: -');
  t.match(table.split('\n')[0] ?? '', /data path\s*$/, 'the column is named');
  t.end();
});
