// A failed fsync the log met on its own (the seal of a segment it rotated away from, under sync 'none')
// is reported by close(): records acknowledged as written since the last good flush are not durable, and
// close() must not say they are. (A failed sync() then close(): wal.test.ts.)
import test from 'tape';

import { CrashingBackend } from '../../src/backend/crash-backend.js';
import { MemorySegmentStore } from '../../src/wal/segment-store.js';
import { Wal, type SyncPolicy } from '../../src/wal/wal.js';
import { rejection } from '../helpers.js';
import { record } from './wal-helpers.js';

test("sync 'none': a seal whose fsync fails in the background makes close() reject, not report the records durable", async (t) => {
  const backends = new Map<number, CrashingBackend>();
  const store = new MemorySegmentStore((memory, segment) => {
    const backend = new CrashingBackend(memory);
    backends.set(segment, backend);
    return backend;
  });
  const wal = await Wal.open(store, { sync: 'none', segmentSize: 4096 });
  backends.get(1)!.plan = { failSync: true }; // segment 1's seal (its fsync) fails
  const settled = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => wal.append(record(i, 100))));
  const acknowledged = settled.filter((outcome) => outcome.status === 'fulfilled').map((outcome) => outcome.value);
  t.ok(acknowledged.length > 0, `records were acknowledged (${acknowledged.length})`);
  t.ok(backends.has(2), 'the log rotated away from segment 1 (its seal ran in the background)');
  await rejection(t, wal.close(), 'EIO', 'close() says the acknowledged records are not known durable');
  const crashed = await Wal.open(store.crash(({ backend }) => (backend as CrashingBackend).crashImage()));
  t.ok(crashed.recovery.records < acknowledged.length, `indeed a crash keeps fewer (${crashed.recovery.records})`);
  await crashed.close();
});

// close()'s own last fsync failing: the segment's descriptor is closed all the same (a log that could not
// close would keep it open for the life of the process), and close() reports the failure.
const POLICIES: Array<[string, SyncPolicy]> = [
  ['none', 'none'],
  ['batch', { batch: { intervalMs: 1000, bytes: 1 << 20 } }],
  ['always', 'always'],
];
for (const [name, sync] of POLICIES) {
  test(`sync '${name}': close() whose last fsync fails still closes the segment, then rejects`, async (t) => {
    const backends: CountingBackend[] = [];
    const store = new MemorySegmentStore((memory) => {
      const backend = new CountingBackend(memory);
      backends.push(backend);
      return backend;
    });
    const wal = await Wal.open(store, { sync });
    const appended = Array.from({ length: 10 }, (_, i) => wal.append(record(i, 100)));
    await wal.sync();
    await Promise.all(appended);
    for (const backend of backends) backend.plan = { failSync: true };
    await rejection(t, wal.close(), 'EIO', 'close() reports the failed fsync');
    t.deepEqual(
      backends.map((backend) => backend.closes),
      backends.map(() => 1),
      `every segment's backend was closed once (${backends.length})`,
    );
    await wal.close();
    t.deepEqual(
      backends.map((backend) => backend.closes),
      backends.map(() => 1),
      'a second close() closes nothing twice',
    );
  });
}

class CountingBackend extends CrashingBackend {
  closes = 0;
  override close(): Promise<void> {
    this.closes++;
    return super.close();
  }
}
