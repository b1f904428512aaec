// The pacing of O_DIRECT requests (src/io/direct-pacing.ts): fixed ways stay, the adaptive one follows the
// way with the lower latency, probes the other one window in PROBE_EVERY, and counts a way's stragglers.
import test from 'tape';

import { DirectPacing, PROBE_EVERY, WINDOW } from '../../src/io/direct-pacing.js';

/** Runs `windows` windows, each way's completions taking `latency(eager)` ms; returns the ways used, in order. */
function run(pacing: DirectPacing, windows: number, latency: (eager: boolean) => number): boolean[] {
  const ways: boolean[] = [];
  for (let w = 0; w < windows; w++) {
    const eager = pacing.eager;
    ways.push(eager);
    for (let i = 0; i < WINDOW; i++) pacing.completed(eager, latency(eager));
  }
  return ways;
}

test('direct pacing: a fixed way never changes', (t) => {
  for (const mode of ['eager', 'batched'] as const) {
    const pacing = new DirectPacing(mode);
    const ways = run(pacing, 40, (eager) => (eager === (mode === 'eager') ? 9 : 1));
    t.ok(
      ways.every((eager) => eager === (mode === 'eager')),
      `${mode}: every window ${mode}, even measured slower`,
    );
  }
  t.end();
});

test('direct pacing: adaptive measures both ways, then keeps the faster one but for one window in PROBE_EVERY', (t) => {
  for (const faster of [true, false]) {
    const pacing = new DirectPacing('adaptive');
    const ways = run(pacing, 10 * PROBE_EVERY + 1, (eager) => (eager === faster ? 0.3 : 0.5));
    t.deepEqual(ways.slice(0, 2), [true, false], 'eager first, then batched: each measured once');
    const other = ways.slice(2).filter((eager) => eager !== faster).length;
    t.equal(other, 10, `${faster ? 'eager' : 'batched'} faster: ${other} of ${ways.length - 2} windows probe the slower way`);
    t.equal(pacing.eager, faster, 'the faster way is the current one');
  }
  t.end();
});

test('direct pacing: adaptive follows a change of which way is faster', (t) => {
  const pacing = new DirectPacing('adaptive');
  run(pacing, 4 * PROBE_EVERY + 1, (eager) => (eager ? 0.3 : 0.5));
  t.equal(pacing.eager, true, 'eager while it is faster');
  const after = run(pacing, 4 * PROBE_EVERY, (eager) => (eager ? 0.8 : 0.5));
  const switched = after.indexOf(false);
  t.ok(switched >= 0 && switched <= 4, `batched within a few windows once eager is slower (window ${switched})`);
  t.ok(after.slice(switched + 4).filter((eager) => eager).length <= 4, 'and kept, eager only probed');
  t.end();
});

test("direct pacing: requests of one way completing in the other way's window count for their own way", (t) => {
  const pacing = new DirectPacing('adaptive');
  run(pacing, 2, (eager) => (eager ? 0.3 : 0.5)); // eager measured, batched measured: eager is current
  t.equal(pacing.eager, true, 'eager is the current way');
  // batched stragglers, slow, while eager's window runs: they do not close it, and count for batched
  for (let i = 0; i < WINDOW / 2; i++) pacing.completed(false, 2);
  t.equal(pacing.eager, true, 'stragglers of the other way close no window');
  t.equal(pacing.measured.batched, 0.5, 'nor change its mean before its own window closes');
  for (let i = 0; i < WINDOW; i++) pacing.completed(true, 0.3);
  // the next windows are eager until the probe; run to it and through it with batched at 0.5
  while (pacing.eager) for (let i = 0; i < WINDOW; i++) pacing.completed(true, 0.3);
  for (let i = 0; i < WINDOW / 2; i++) pacing.completed(false, 0.5);
  t.ok(pacing.measured.batched > 0.5, `the probe window's mean has the stragglers in it: ${pacing.measured.batched.toFixed(3)} ms`);
  t.end();
});
