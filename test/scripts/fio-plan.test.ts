// The plan of a fio run (scripts/fio/plan.ts, issue 14): every job, in every round, on every target, the
// targets rotated per job and round, each step labelled with the job (N of M), the round and the target.
// Its length is the progress' total.
import test from 'tape';

import { FIO_JOBS } from '../../scripts/fio/jobs.js';
import { fioPlan } from '../../scripts/fio/plan.js';

test('fioPlan: jobs x rounds x targets, targets rotated per job and round, labels saying where the run is', (t) => {
  const jobs = FIO_JOBS.slice(0, 2);
  const targets = [{ name: 'backing' }, { name: 'kernel io_uring' }, { name: 'fuse-native io_uring' }];
  const plan = fioPlan(jobs, targets, 2);
  t.equal(plan.length, 2 * 2 * 3, 'one step per job, round and target');
  t.deepEqual(
    plan.map((step) => `${step.job.id} ${step.round} ${step.target.name}`),
    [
      `${jobs[0]!.id} 0 backing`,
      `${jobs[0]!.id} 0 kernel io_uring`,
      `${jobs[0]!.id} 0 fuse-native io_uring`,
      `${jobs[0]!.id} 1 kernel io_uring`,
      `${jobs[0]!.id} 1 fuse-native io_uring`,
      `${jobs[0]!.id} 1 backing`,
      `${jobs[1]!.id} 0 kernel io_uring`,
      `${jobs[1]!.id} 0 fuse-native io_uring`,
      `${jobs[1]!.id} 0 backing`,
      `${jobs[1]!.id} 1 fuse-native io_uring`,
      `${jobs[1]!.id} 1 backing`,
      `${jobs[1]!.id} 1 kernel io_uring`,
    ],
    'rotated so that no target always goes first',
  );
  t.equal(plan[4]!.label, `[1/2] ${jobs[0]!.id.padEnd(18)} round 2/2  fuse-native io_uring`, 'the label: job N of M, round of how many, target');
  t.end();
});
