// Sync 'always' overlaps a batch's write with the previous batch's fdatasync, and keeps up to two
// fdatasyncs in flight: the flushes here are held open by the test (gates) so that the interleavings are
// forced, not hoped for. What must hold: the next batch is written while a flush is held; a record still
// resolves only after its own flush, and after every earlier record; a failed write of the next batch
// leaves nothing behind and does not touch the batch being flushed; a failed flush rejects every record
// not yet covered by a good one, and stops the log.
import test from 'tape';

import type { StorageBackend } from '../../src/backend/backend.js';
import { CrashingBackend } from '../../src/backend/crash-backend.js';
import { storageError } from '../../src/ground/errors.js';
import { MemorySegmentStore } from '../../src/wal/segment-store.js';
import { Wal } from '../../src/wal/wal.js';
import { rejection } from '../helpers.js';
import { record } from './wal-helpers.js';

/** A flush the test holds open: release() lets it complete, fail() makes it fail with EIO. */
interface Gate {
  release(): void;
  fail(): void;
}

/** The segment's backend with its flushes held at gates and its writes counted; failNextWrite fails one write halfway. */
class GatedBackend implements StorageBackend {
  readonly gates: Gate[] = [];
  /** writes completed, in order (the ranges written) */
  readonly writes: Array<[number, number]> = [];
  failNextWrite = false;
  /** the failing write's part reaches the disk before the write fails (the kernel's writeback took it) */
  partWritten = false;

  constructor(readonly inner: CrashingBackend) {}

  readAt(offset: number, length: number): Promise<Buffer> {
    return this.inner.readAt(offset, length);
  }
  append(data: Uint8Array | readonly Uint8Array[]): Promise<number> {
    return this.inner.append(data);
  }
  async writeAt(offset: number, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const all = data instanceof Uint8Array ? data : Buffer.concat(data as Uint8Array[]);
    if (this.failNextWrite) {
      this.failNextWrite = false;
      // half of it reaches the file, as a disk error part way through does
      await this.inner.writeAt(offset, all.subarray(0, all.length >> 1));
      if (this.partWritten) await this.inner.flush();
      throw storageError('EIO', 'simulated write failure', { syscall: 'pwritev' });
    }
    await this.inner.writeAt(offset, all);
    this.writes.push([offset, offset + all.length]);
  }
  allocate(offset: number, length: number): Promise<void> {
    return this.inner.allocate(offset, length);
  }
  flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.gates.push({
        // what the flush makes durable is what was written when it was submitted
        release: () => void this.inner.flush().then(resolve, reject),
        fail: () => reject(storageError('EIO', 'simulated fdatasync failure', { syscall: 'fdatasync' })),
      });
    });
  }
  size(): number {
    return this.inner.size();
  }
  sync(): Promise<void> {
    return this.inner.sync();
  }
  truncate(size: number): Promise<void> {
    return this.inner.truncate(size);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Lets the event loop run until `done()` or `turns` turns have passed; answers done(). */
async function until(done: () => boolean, turns = 200): Promise<boolean> {
  for (let i = 0; i < turns && !done(); i++) await new Promise((resolve) => setImmediate(resolve));
  return done();
}

async function gatedLog(): Promise<{ wal: Wal; backend: () => GatedBackend; store: MemorySegmentStore }> {
  let backend: GatedBackend | undefined;
  const store = new MemorySegmentStore((memory) => (backend = new GatedBackend(new CrashingBackend(memory))));
  const wal = await Wal.open(store, { sync: 'always' });
  return { wal, backend: () => backend!, store };
}

/** Tracks a promise: whether it has settled, and how. */
function tracked<T>(promise: Promise<T>): { state: () => 'pending' | 'resolved' | 'rejected'; promise: Promise<T> } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  return { state: () => state, promise };
}

const recovered = async (store: MemorySegmentStore): Promise<number[]> => {
  const again = await Wal.open(store.crash(({ backend }) => (backend as GatedBackend).inner.crashImage()));
  const seen = [];
  for await (const entry of again.read()) seen.push(entry.payload.readUInt32LE(0));
  await again.close();
  return seen;
};

test("sync 'always': the next batch is written while the previous batch's fdatasync is in flight, and flushed in parallel", async (t) => {
  const { wal, backend } = await gatedLog();
  const b = backend();
  const first = tracked(wal.append(record(0)));
  t.ok(await until(() => b.gates.length === 1), "the first record's write done, its fdatasync submitted (held)");
  const writesBefore = b.writes.length;
  const second = tracked(wal.append(record(1)));
  t.ok(await until(() => b.writes.length > writesBefore), 'the second record is written while the first fdatasync is held');
  t.ok(await until(() => b.gates.length === 2), 'and its own fdatasync submitted once its write completed, beside the first');
  b.gates[1]!.release();
  await until(() => second.state() !== 'pending', 20);
  t.equal(second.state(), 'pending', 'the second record does not resolve before the first, though its fdatasync is done');
  t.equal(first.state(), 'pending', 'nor does the first, whose fdatasync is held');
  b.gates[0]!.release();
  t.deepEqual(
    [await first.promise, await second.promise].map((p) => p.offset > 0),
    [true, true],
    'then both resolve',
  );
  const closing = wal.close();
  await until(() => b.gates.length > 2);
  for (const gate of b.gates.slice(2)) gate.release();
  await closing;
});

test("sync 'always': a failed write of the next batch leaves nothing, even on the disk, and does not touch the batch being flushed", async (t) => {
  const { wal, backend, store } = await gatedLog();
  const b = backend();
  const first = tracked(wal.append(record(0)));
  await until(() => b.gates.length === 1);
  b.failNextWrite = true;
  b.partWritten = true;
  // one batch of four records: the half of it that reaches the disk holds two of them whole
  const failed = [1, 2, 3, 4].map((i) => wal.append(record(i)));
  await Promise.all(failed.map((promise, i) => rejection(t, promise, 'EIO', `record ${i + 1} of the failed batch (written while the first is flushed)`)));
  t.deepEqual(await recovered(store), [0], 'a crash right after the rejection: none of the rejected records comes back');
  t.equal(first.state(), 'pending', 'the first record still waits for its fdatasync');
  b.gates[0]!.release();
  t.equal((await first.promise).offset, 28, 'and resolves when it completes');
  const third = wal.append(record(5));
  await until(() => b.gates.length === 2);
  b.gates[1]!.release();
  t.equal((await third).offset, 28 + 9 + record(0).length, 'the log goes on where the failed write began');
  t.deepEqual(await recovered(store), [0, 5], 'after a crash later: the two good records, nothing of the failed ones');
  const closing = wal.close();
  for (const gate of b.gates.slice(2)) gate.release();
  await closing;
});

test("sync 'always': a failed write whose undo cannot be made durable stops the log", async (t) => {
  const { wal, backend } = await gatedLog();
  const b = backend();
  const first = tracked(wal.append(record(0)));
  await until(() => b.gates.length === 1);
  b.failNextWrite = true;
  b.inner.plan.failSync = true;
  await rejection(t, wal.append(record(1)), 'EIO', "the record whose write failed: the write's error");
  await rejection(t, first.promise, 'EIO', 'the record waiting for its fdatasync: not trusted once the log stopped');
  await rejection(t, wal.append(record(2)), 'EIO', 'later appends: the log has stopped');
  b.inner.plan.failSync = false;
  const closing = wal.close();
  for (const gate of b.gates.slice(1)) gate.release();
  await closing;
});

test("sync 'always': a failed fdatasync rejects the batches written after it too, even when their own fdatasync succeeds", async (t) => {
  const { wal, backend, store } = await gatedLog();
  const b = backend();
  await Promise.all([wal.append(record(0)), until(() => b.gates.length === 1).then(() => b.gates[0]!.release())]);
  const first = tracked(wal.append(record(1)));
  await until(() => b.gates.length === 2);
  const second = tracked(wal.append(record(2)));
  await until(() => b.gates.length === 3);
  b.gates[2]!.release(); // the later fdatasync succeeds
  b.gates[1]!.fail(); // the earlier one fails
  await rejection(t, first.promise, 'EIO', 'the record whose fdatasync failed');
  await rejection(t, second.promise, 'EIO', 'the record written after it, whose own fdatasync succeeded');
  await rejection(t, wal.append(record(3)), 'EIO', 'later appends: the log has stopped');
  t.deepEqual((await recovered(store)).slice(0, 1), [0], 'after a crash, the record acknowledged before the failure is there');
  await wal.close();
});

test("sync 'always': close() waits for the fdatasyncs in flight and leaves none behind", async (t) => {
  const { wal, backend } = await gatedLog();
  const b = backend();
  const appended = tracked(wal.append(record(0)));
  await until(() => b.gates.length === 1);
  let closed = false;
  const closing = wal.close().then(() => (closed = true));
  await until(() => closed, 20);
  t.notOk(closed, 'close() does not finish while an fdatasync is in flight');
  b.gates[0]!.release();
  await closing;
  t.equal(appended.state(), 'resolved', 'the record resolved before close() finished');
});

test("sync 'batch': a failed write whose undo cannot be made durable, then close(): the records waiting for the batch's sync settle", async (t) => {
  let backend: GatedBackend | undefined;
  const store = new MemorySegmentStore((memory) => (backend = new GatedBackend(new CrashingBackend(memory))));
  const wal = await Wal.open(store, { sync: { batch: { intervalMs: 60_000, bytes: 1 << 30 } } });
  const b = backend!;
  const waiting = tracked(wal.append(record(0)));
  await until(() => b.writes.length > 0 && wal.end.offset > 28);
  b.failNextWrite = true;
  b.inner.plan.failSync = true;
  await rejection(t, wal.append(record(1)), 'EIO', 'the record whose write failed');
  b.inner.plan.failSync = false;
  await wal.close();
  await until(() => waiting.state() !== 'pending', 50);
  t.equal(waiting.state(), 'rejected', 'the record written before, waiting for the sync, is rejected (not left pending for ever)');
});
