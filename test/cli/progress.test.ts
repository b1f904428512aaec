// The benchmarks' progress (mount/progress.ts steps(), issue 14): off a terminal, one plain line per step
// as it ends, with N of M, the time elapsed and the ETA (the mean step so far times the steps left); on a
// terminal, a cli-progress bar with the same lines above it, cleared at the end. The clock and the stream
// are the test's, so nothing here depends on how fast the machine is.
import { PassThrough } from 'node:stream';

import test from 'tape';

import { etaSeconds, type ProgressStream, steps } from '../../mount/progress.js';

/** A stream that keeps what is written; a terminal when `isTTY`. */
function captured(isTTY: boolean): { stream: ProgressStream; text: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY, columns: 200 });
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, text: () => text };
}

/** A clock moved by hand. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let ms = 1_000_000;
  return { now: () => ms, advance: (by) => (ms += by) };
}

/** Three steps of 2, 4 and 6 seconds, a line logged before the first. */
function runPlan(stream: ProgressStream): void {
  const time = clock();
  const progress = steps({ title: 'demo', total: 3, stream, now: time.now });
  progress.log('writing data.bin');
  for (const [label, seconds, result] of [
    ['[1/2] write  round 1/1  a', 2, '10 ops/s'],
    ['[1/2] write  round 1/1  b', 4, '20 ops/s'],
    ['[2/2] read  round 1/1  a', 6, '30 ops/s'],
  ] as const) {
    progress.begin(label);
    progress.detail('1,000 ops');
    time.advance(seconds * 1000);
    progress.end(result);
  }
  progress.stop();
}

test('etaSeconds: the mean step so far times the steps left, less what the current step has run', (t) => {
  t.equal(etaSeconds(0, 10, 5000), undefined, 'no step ended yet: no ETA');
  t.equal(etaSeconds(2, 10, 4000), 16, '2 of 10 in 4 s: 8 left of 2 s');
  t.equal(etaSeconds(2, 10, 4000, 1500), 14.5, '1.5 s into the third step');
  t.equal(etaSeconds(2, 10, 4000, 60_000), 0, 'never below 0');
  t.equal(etaSeconds(10, 10, 4000), 0, 'all done');
  t.end();
});

test('off a terminal: one plain line per step with N of M, elapsed and ETA; the logged line as it is; no bar', (t) => {
  const { stream, text } = captured(false);
  runPlan(stream);
  t.deepEqual(text().split('\n'), [
    'writing data.bin',
    'demo 1/3, 02s elapsed, ETA 04s: [1/2] write  round 1/1  a  10 ops/s',
    'demo 2/3, 06s elapsed, ETA 03s: [1/2] write  round 1/1  b  20 ops/s',
    'demo 3/3, 12s elapsed, ETA 00s: [2/2] read  round 1/1  a  30 ops/s',
    '',
  ]);
  t.end();
});

test('on a terminal: a bar with the count, the ETA and the step under way, the same lines above it, cleared at the end', (t) => {
  const { stream, text } = captured(true);
  runPlan(stream);
  const written = text();
  t.match(written, /demo [\u2588\u2591]+ 3\/3 \| 12s elapsed \| ETA 00s \| \[2\/2\] read {2}round 1\/1 {2}a/, 'the bar: count, elapsed, ETA, the step');
  for (const line of ['writing data.bin', 'demo 1/3, 02s elapsed, ETA 04s: [1/2] write  round 1/1  a  10 ops/s', 'demo 3/3, 12s elapsed, ETA 00s']) {
    t.ok(written.includes(line), `above the bar: ${line}`);
  }
  t.ok(written.endsWith('\u001b[0J'), 'the bar is cleared at the end (the cursor shown again before)');
  t.end();
});
