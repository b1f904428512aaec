// The rotation (format version 3 on): the next segment is made ahead while the current one fills, a seal
// record ends the current one, the log switches, and the old segment is cut and fsynced in the
// background. Here the process stops (kill -9) or the machine loses power before each single operation
// of a run of rotations, in turn: every record acknowledged before the stop is there after recovery, the
// log reads 0..n-1 in order with nothing after a gap, strict recovery opens it, and appends go on.
import test from 'tape';

import type { SyncPolicy } from '../../src/wal/wal.js';
import { check, RECORDS, run } from './crash-steps.js';

for (const [name, sync] of [
  ['always', 'always'],
  ['none', 'none'],
  ['batch', { batch: { intervalMs: 1, bytes: 300 } }],
] as Array<[string, SyncPolicy]>) {
  for (const slowSync of [0, 3]) {
    test(`a crash before each operation of ${RECORDS} records' rotations (sync ${name}${slowSync ? ', slow segment fsyncs' : ''}): acknowledged records survive, the log opens, in order, no gap`, async (t) => {
      const full = await run(sync, Infinity, slowSync);
      t.equal(full.acknowledged.length, RECORDS, `the whole run: ${full.steps} operations, ${(await full.store.list()).length} segments`);
      const problems: string[] = [];
      let checked = 0;
      for (let stopAt = 1; stopAt <= full.steps; stopAt++) {
        const stopped = await run(sync, stopAt, slowSync);
        const durable = sync === 'none' ? [] : stopped.acknowledged;
        for (const kind of ['kill', 'power', 'power, entries lost'] as const) {
          const problem = await check(
            `stop before operation ${stopAt} of ${full.steps}, ${kind}`,
            await stopped.store.image(kind),
            kind === 'kill' ? stopped.acknowledged : durable,
          );
          if (problem !== undefined) problems.push(problem);
          checked++;
        }
      }
      t.deepEqual(problems.slice(0, 5), [], `${checked} crash images, ${problems.length} with a problem`);
    });
  }
}
