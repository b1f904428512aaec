// The verdicts `make bench` prints are issue 15's bar: io_uring at or above node:fs on every storage
// workload and at 0.9x fio's random reads; the LSM store at or above classic-level on every workload and
// at or below its peak memory.
import test from 'tape';

import type { LsmPeerRun } from '../../scripts/bench/lsm-child.js';
import { evaluateLsmTargets } from '../../scripts/bench/lsm-report.js';
import { cpuIdle, cpuIdleNote, evaluateTargets, resultRow } from '../../scripts/bench/report.js';
import { WORKLOAD_IDS } from '../../scripts/bench/workloads.js';

test('storage targets: every workload against node:fs, and 0.9x fio on the random reads', (t) => {
  const rows = WORKLOAD_IDS.flatMap((workload) => [
    resultRow(workload, 'io_uring', { ops: 95, seconds: 1 }, 4096),
    resultRow(workload, 'node:fs', { ops: 100, seconds: 1 }, 4096),
    resultRow(workload, 'fio', { ops: 110, seconds: 1 }, 4096),
  ]);
  const results = evaluateTargets(rows);
  for (const workload of WORKLOAD_IDS) {
    const against = results.find((result) => result.workload === workload && result.against === 'node:fs' && result.atLeast === 1);
    t.equal(against?.verdict, 'MISS', `${workload}: 0.95x node:fs misses`);
  }
  const fio = results.filter((result) => result.against === 'fio');
  t.deepEqual(
    fio.map((result) => [result.workload, result.atLeast, result.verdict]),
    [
      ['randread-4k-qd32-warm', 0.9, 'MISS'],
      ['randread-4k-qd32-cold-direct', 0.9, 'MISS'],
    ],
    'fio: 0.86x misses 0.9x on both random reads',
  );
  t.end();
});

test('LSM targets: 1x classic-level on every workload, and peak RSS at or below it', (t) => {
  const memory = { rssMiB: 1, heapUsedMiB: 1, externalMiB: 1, fileRssMiB: 0 };
  const run = (peer: LsmPeerRun['peer'], opsPerSecond: number, maxRssMiB: number): LsmPeerRun => ({
    peer,
    results: [{ workload: 'fillseq', inFlight: 1, ops: 100, seconds: 1, opsPerSecond, cpuUsPerOp: 1, found: undefined, memory }],
    memoryAtStart: memory,
    memoryAtEnd: memory,
    maxRssMiB,
    maxAnonRssMiB: maxRssMiB,
    dbBytesAfterFill: 0,
    storeStats: undefined,
    loadBefore: 0,
    loadAfter: 0,
  });
  const verdicts = (ours: LsmPeerRun, theirs: LsmPeerRun) => evaluateLsmTargets([ours, theirs]).map((result) => `${result.workload} ${result.verdict}`);
  t.deepEqual(verdicts(run('lsm io_uring', 90, 300), run('classic-level', 100, 280)), ['fillseq MISS', 'peak-rss MISS'], '0.9x and more memory: two misses');
  t.deepEqual(verdicts(run('lsm io_uring', 100, 280), run('classic-level', 100, 280)), ['fillseq PASS', 'peak-rss PASS'], 'at par on both: two passes');
  t.end();
});

test('machine: how idle CPUs wait is reported, with a note beside the figures only where idle vCPUs halt at once', (t) => {
  t.ok(cpuIdle().length > 0, `the cpuidle driver, read from sysfs: ${cpuIdle()}`);
  t.ok(cpuIdleNote('haltpoll, guest_halt_poll_ns 0')?.includes('VM exit'), 'haltpoll without a polling window: the note says what it costs');
  t.equal(cpuIdleNote('haltpoll, guest_halt_poll_ns 200000'), undefined, 'with a polling window: no note');
  t.equal(cpuIdleNote('intel_idle'), undefined, 'another driver: no note');
  t.end();
});
