// The benchmarks' CPU time per operation (scripts/bench/workers.ts): measured over the same span as the
// operations, summed across turns, and printed beside the rates in the storage, WAL and LSM tables.
import test from 'tape';

import { formatLsmTable } from '../../scripts/bench/lsm-report.js';
import type { LsmPeerRun } from '../../scripts/bench/lsm-child.js';
import { formatTable, resultRow } from '../../scripts/bench/report.js';
import { formatWalTable, walRow } from '../../scripts/bench/wal-report.js';
import { addMeasurements, cpuUsPerOp, NOTHING_MEASURED, runWorkers } from '../../scripts/bench/workers.js';

/** Spins until this process has used `ms` more milliseconds of CPU (not of wall time: load cannot shorten it). */
function burn(ms: number): void {
  const since = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(since);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

test('runWorkers: the CPU time of the operations, not their wall time', async (t) => {
  const busy = await runWorkers(1, { ops: 5 }, async () => burn(20));
  t.ok(busy.cpuSeconds !== undefined && busy.cpuSeconds >= 0.1, `5 operations burning 20 ms of CPU each: ${busy.cpuSeconds} s of CPU`);
  const idle = await runWorkers(1, { ops: 5 }, () => new Promise((resolve) => setTimeout(resolve, 20)));
  t.ok(idle.cpuSeconds !== undefined && idle.cpuSeconds < 0.05, `5 operations sleeping 20 ms each: ${idle.cpuSeconds} s of CPU`);
  t.ok(idle.seconds >= 0.09, 'though they took their time');
  const perOp = cpuUsPerOp(busy);
  t.ok(perOp !== undefined && perOp >= 20_000, `per operation: ${perOp} us`);
});

test('addMeasurements: CPU time sums, and is left out where a part did not measure it', (t) => {
  const a = { ops: 10, seconds: 1, cpuSeconds: 0.5 };
  t.deepEqual(addMeasurements(addMeasurements(NOTHING_MEASURED, a), a), { ops: 20, seconds: 2, cpuSeconds: 1 });
  t.deepEqual(addMeasurements(a, { ops: 10, seconds: 1 }), { ops: 20, seconds: 2 });
  t.equal(cpuUsPerOp({ ops: 20, seconds: 2 }), undefined);
  t.equal(cpuUsPerOp({ ops: 0, seconds: 0, cpuSeconds: 0 }), undefined, 'nothing per operation without operations');
  t.end();
});

test('the storage, WAL and LSM tables print CPU per operation beside the rates', (t) => {
  const storage = formatTable([
    resultRow('append-1m', 'io_uring', { ops: 1000, seconds: 1, cpuSeconds: 0.25 }, 1 << 20),
    resultRow('append-1m', 'fio', { ops: 1000, seconds: 1 }, 1 << 20),
  ]);
  t.ok(/CPU us\/op/.test(storage.split('\n')[0]!), 'storage: a CPU column');
  t.ok(/io_uring\s+1,000\s+1,000\.0\s+250 /.test(storage), `storage: 250 us per operation on the io_uring row\n${storage}`);
  t.ok(/fio\s+1,000\s+1,000\.0\s+-/.test(storage), 'and - where it was not measured');

  const job = { recordBytes: 100, policy: 'none' as const, writers: 4 };
  const calls = { writes: 10, datasyncs: 0 };
  const wal = formatWalTable([walRow(job, 'io_uring', { ops: 400_000, seconds: 1, cpuSeconds: 0.6 }, calls)]);
  t.ok(/CPU us\/rec/.test(wal) && /\s1\.50\s/.test(wal), `WAL: 1.50 us per record\n${wal}`);

  const memory = { rssMiB: 1, heapUsedMiB: 1, externalMiB: 1, fileRssMiB: 0 };
  const run = (peer: LsmPeerRun['peer'], cpuUsPerOp: number): LsmPeerRun => ({
    peer,
    results: [{ workload: 'fillseq', inFlight: 1, ops: 100, seconds: 1, opsPerSecond: 100, cpuUsPerOp, found: undefined, memory }],
    memoryAtStart: memory,
    memoryAtEnd: memory,
    maxRssMiB: 1,
    maxAnonRssMiB: 1,
    dbBytesAfterFill: 0,
    storeStats: undefined,
    loadBefore: 0,
    loadAfter: 0,
  });
  const lsm = formatLsmTable([run('lsm io_uring', 12.5), run('classic-level', 8)]);
  t.ok(/lsm io_uring CPU us\/op/.test(lsm) && /classic-level CPU us\/op/.test(lsm), 'LSM: a CPU column per store');
  t.ok(/12\.5\s+8\.00$/m.test(lsm), `LSM: their figures\n${lsm}`);
  t.end();
});
