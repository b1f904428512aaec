// restore-stops.ts, the stop of a restore's worker threads: a file whose rename is under way when the main
// thread stops is placed before the stop returns (the stop waits for it); a file that looks after the stop
// is not placed.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import test from 'tape';

import { PLACING, placeUnlessStopped, STOPS, sharedStops, stopPlacing } from '../../src/backup/restore-stops.js';

const stopsModule = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'backup', 'restore-stops.js')).href;

test('a stop waits for a rename already past its look at the stops: once it returns, that file is placed', async (t) => {
  const shared = sharedStops();
  // [0] entered: the worker is inside place; [1] placed: its (slow, 300 ms) rename is done
  const progress = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     import(workerData.module).then(({ placeUnlessStopped }) => {
       const { shared, progress } = workerData;
       placeUnlessStopped(shared, 0, () => { throw new Error('aborted') }, () => {
         Atomics.store(progress, 0, 1);
         Atomics.wait(progress, 1, 0, 300);
         Atomics.store(progress, 1, 1);
       });
     });`,
    { eval: true, workerData: { module: stopsModule, shared, progress } },
  );
  try {
    while (Atomics.load(progress, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    t.equal(Atomics.load(shared, PLACING), 1, 'the worker is placing');
    stopPlacing(shared);
    t.equal(Atomics.load(progress, 1), 1, 'the stop returned after the rename under way was done');
    t.equal(Atomics.load(shared, PLACING), 0, 'and nothing is placing');
    t.equal(Atomics.load(shared, STOPS), 1, 'one stop asked');
  } finally {
    await worker.terminate();
  }
});

test('a file that looks after a stop is not placed: its abort is called and its place fails', (t) => {
  const shared = sharedStops();
  stopPlacing(shared);
  const aborter = new AbortController();
  let placed = false;
  t.throws(
    () =>
      placeUnlessStopped(
        shared,
        0,
        () => aborter.abort(),
        () => {
          aborter.signal.throwIfAborted();
          placed = true;
        },
      ),
    /abort/i,
    'place fails on the aborted signal',
  );
  t.notOk(placed, 'nothing placed');
  t.equal(Atomics.load(shared, PLACING), 0, 'and PLACING is back to 0');
  let placedNow = false;
  placeUnlessStopped(
    shared,
    1,
    () => t.fail('no stop since this file started'),
    () => (placedNow = true),
  );
  t.ok(placedNow, 'a file started after the stop (it saw it at its start) is placed');
  t.end();
});
