// The mark close() writes after the last record (src/wal/README.md, Marks): written only when records were
// appended since the open, never claiming a record whose fdatasync failed (close() waits for the flushes
// it did not start), and best effort: a full disk at close leaves the log as it was and close() succeeds.
import test from 'tape';

import type { StorageBackend } from '../../src/backend/backend.js';
import { storageError } from '../../src/ground/errors.js';
import { decodeMark, MARK_MAGIC, MARK_RECORD_SIZE, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, type WalPosition } from '../../src/wal/format.js';
import { MemorySegmentStore } from '../../src/wal/segment-store.js';
import { type SyncPolicy, Wal } from '../../src/wal/wal.js';
import { closeMarkAt } from './wal-helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every mark in a segment's bytes, in order (the positions they say). */
function marksIn(bytes: Buffer): WalPosition[] {
  const found: WalPosition[] = [];
  for (let at = bytes.indexOf(MARK_MAGIC); at >= 0; at = bytes.indexOf(MARK_MAGIC, at + 1)) {
    const mark = decodeMark(bytes.subarray(at, at + MARK_RECORD_SIZE - RECORD_HEADER_SIZE));
    if (mark !== undefined) found.push(mark);
  }
  return found;
}

/** The segments' backends wrapped: `flush` fails (after a while) once failFlush is set; writeAt fails ENOSPC past `room` bytes. */
function faultyStore(): { store: MemorySegmentStore; faults: { failFlush: boolean; room: number } } {
  const faults = { failFlush: false, room: Number.POSITIVE_INFINITY };
  const store = new MemorySegmentStore(
    (memory) =>
      new Proxy(memory, {
        get(target, property: keyof StorageBackend) {
          if (property === 'flush')
            return async () => {
              if (!faults.failFlush) return target.flush();
              await sleep(30);
              throw storageError('EIO', 'simulated fdatasync failure', { syscall: 'fdatasync' });
            };
          if (property === 'writeAt')
            return async (offset: number, data: Uint8Array | readonly Uint8Array[]) => {
              const length = data instanceof Uint8Array ? data.length : data.reduce((sum, part) => sum + part.length, 0);
              if (offset + length > Math.max(faults.room, target.size())) throw storageError('ENOSPC', 'simulated full disk', { syscall: 'pwritev' });
              return target.writeAt(offset, data);
            };
          if (property === 'writeAtNow') return undefined;
          const value = (target as StorageBackend)[property];
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
  );
  return { store, faults };
}

test('close() writes no mark when nothing was appended since the open: open and close again and again leave the log as it was', async (t) => {
  const store = new MemorySegmentStore();
  for (let i = 0; i < 3; i++) {
    const wal = await Wal.open(store, { sync: 'none' });
    await wal.close();
  }
  t.deepEqual(marksIn(store.bytes(1)!), [], 'a new log, opened and closed three times: no mark');
  t.equal(store.bytes(1)!.length, SEGMENT_HEADER_SIZE, 'the segment is its header alone');
  const wal = await Wal.open(store, { sync: 'none' });
  await wal.append(Buffer.alloc(50, 1));
  await wal.close();
  const marked = store.bytes(1)!;
  t.equal(
    closeMarkAt(marked),
    SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE + 50 + MARK_RECORD_SIZE,
    "after an append, close() marks the end after it (and after its batch's mark)",
  );
  for (let i = 0; i < 2; i++) await (await Wal.open(store, { sync: 'none' })).close();
  t.ok(store.bytes(1)!.equals(marked), 'opened and closed again without appends: unchanged');
});

for (const sync of ['none', 'always'] as const) {
  test(`a full disk at close (sync '${sync}', no space ahead of the records): close() succeeds without the mark, the log opens with every record`, async (t) => {
    const { store, faults } = faultyStore();
    const wal = await Wal.open(store, { sync, preallocate: 'off' });
    for (let i = 0; i < 5; i++) await wal.append(Buffer.alloc(50, i));
    faults.room = store.bytes(1)!.length;
    await wal.close();
    t.pass('close() resolved');
    t.equal(closeMarkAt(store.bytes(1)!), undefined, 'no mark at the end');
    const again = await Wal.open(store, { sync });
    let records = 0;
    for await (const _ of again.read()) records++;
    t.equal(records, 5, 'every record is there');
    t.equal(again.recovery.dropped, undefined, 'nothing cut');
    await again.close();
  });
}

for (const [what, sync, start] of [
  ["'batch': the flush its timer started", { batch: { intervalMs: 1, bytes: 1 << 20 } }, () => sleep(5)],
  ["'none': a sync() the caller did not await", 'none', (wal: Wal) => void wal.sync().catch(() => undefined)],
] as Array<[string, SyncPolicy, (wal: Wal) => unknown]>) {
  test(`a flush failing while close() runs (${what}): no mark says the record it covered is on disk`, async (t) => {
    const { store, faults } = faultyStore();
    const wal = await Wal.open(store, { sync });
    await wal.append(Buffer.alloc(100, 1));
    await wal.sync();
    faults.failFlush = true;
    const second = wal.append(Buffer.alloc(100, 2)).then(
      (position) => position,
      () => undefined,
    );
    await start(wal);
    await wal.close().catch(() => undefined);
    const position = await second;
    const end = (position?.offset ?? SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE + 100) + RECORD_HEADER_SIZE + 100;
    const claimed = marksIn(store.bytes(1)!).map((mark) => mark.offset);
    t.ok(
      claimed.every((offset) => offset < end),
      `no mark at or past the end of the record whose fdatasync failed (${end}): marks say ${claimed.join(', ') || 'nothing'}`,
    );
  });
}
