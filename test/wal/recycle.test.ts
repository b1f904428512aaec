// Recycled segments (WalOptions.recycle): truncateBefore keeps segments as spares, and the log writes
// new segments over them in place (format 5). The old bytes after a recycled segment's records are never
// read as records; a crash (kill -9 or a power loss, before each operation of a run with checkpoints)
// keeps every acknowledged record; the spares kept follow the option.
import test from 'tape';

import { damaged } from '../../src/ground/verify.js';
import { RECYCLED_VERSION, segmentName } from '../../src/wal/format.js';
import { DirSegmentStore, MemorySegmentStore } from '../../src/wal/segment-store.js';
import { verifyWal } from '../../src/wal/verify.js';
import { type SyncPolicy, Wal, type WalPosition } from '../../src/wal/wal.js';
import { BACKENDS, freshStorage, prng, rejection } from '../helpers.js';
import { check, run } from './crash-steps.js';
import { record } from './wal-helpers.js';

const SEGMENT = 1024;

/** The records of `wal`, by the number each carries. */
async function numbers(wal: Wal): Promise<number[]> {
  const seen: number[] = [];
  for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
  return seen;
}

const versionOf = (bytes: Buffer): number => bytes.readUInt32LE(8);

test('recycle: a value that is not a non-negative integer is EINVAL, and nothing is made', async (t) => {
  for (const recycle of [-1, 1.5, Number.NaN, '2' as unknown as number]) {
    const store = new MemorySegmentStore();
    await rejection(t, Wal.open(store, { recycle }), 'EINVAL', `recycle ${String(recycle)}`);
    t.deepEqual(await store.list(), [], 'no segment made');
  }
});

test('recycle 2 (memory store): truncateBefore keeps two spares, new segments are written over them, every record reads back in order', async (t) => {
  const store = new MemorySegmentStore();
  const wal = await Wal.open(store, { segmentSize: SEGMENT, recycle: 2 });
  const positions: WalPosition[] = [];
  for (let i = 0; i < 60; i++) positions.push(await wal.append(record(i, 100)));
  const before = await store.list();
  const removed = await wal.truncateBefore(positions[40]!);
  t.equal(removed, positions[40]!.segment - 1, `the ${removed} segments before the checkpoint leave the log`);
  t.deepEqual(await store.spares.list(), [1, 2], 'the first two are kept as spares');
  t.deepEqual(await store.list(), before.slice(removed), 'the others are deleted');
  for (let i = 60; i < 120; i++) positions.push(await wal.append(record(i, 100)));
  t.deepEqual(await store.spares.list(), [], 'the next segments took the spares');
  const recycled = (await store.list()).filter((n) => versionOf(store.bytes(n)!) === RECYCLED_VERSION);
  t.equal(recycled.length, 2, `two segments are recycled files, format ${RECYCLED_VERSION} (${recycled.join(', ')})`);
  const first = positions[40]!.segment;
  const expected = (await numbers(wal)).length;
  t.ok(expected > 80, 'the log reads from the checkpoint segment on');
  await wal.close();

  const again = await Wal.open(store, { segmentSize: SEGMENT, recycle: 2 });
  const seen = await numbers(again);
  t.equal(seen.length, expected, 'after a reopen the same records');
  t.ok(
    seen.every((n, i) => n === seen[0]! + i),
    'in order, none from a recycled file read twice',
  );
  t.equal(seen.at(-1), 119, 'up to the last');
  t.deepEqual([again.recovery.dropped, again.recovery.unflushed], [undefined, undefined], 'nothing cut');
  t.ok(seen[0]! <= 40 && first === positions[40]!.segment, 'the log begins at or before the checkpoint record');
  await again.close();
});

test('recycle: a segment being written in a recycled file ends at a zero header; a crash there (kill -9) cuts nothing', async (t) => {
  const store = new MemorySegmentStore();
  const wal = await Wal.open(store, { segmentSize: SEGMENT, recycle: 1 });
  const positions: WalPosition[] = [];
  for (let i = 0; i < 30; i++) positions.push(await wal.append(record(i, 100)));
  await wal.truncateBefore(positions[29]!);
  t.deepEqual(await store.spares.list(), [1], 'one spare kept');
  // fill the current segment until the log rotates into the spare, then a few records in it
  let i = 30;
  while (versionOf(store.bytes(wal.end.segment)!) !== RECYCLED_VERSION) positions.push(await wal.append(record(i++, 100)));
  for (let j = 0; j < 3; j++) positions.push(await wal.append(record(i++, 100)));
  const current = wal.end;
  const bytes = store.bytes(current.segment)!;
  t.ok(bytes.length > current.offset + 100, 'the recycled file runs on past the records');
  t.ok(
    bytes.subarray(current.offset, current.offset + 9).every((b) => b === 0),
    'a zero record header after the last batch',
  );
  t.notOk(
    bytes.subarray(current.offset + 9).every((b) => b === 0),
    'then the old segment bytes (not zeros)',
  );

  const survivor = store.crash();
  const recovered = await Wal.open(survivor, { segmentSize: SEGMENT, recycle: 1 });
  const seen = await numbers(recovered);
  t.deepEqual([seen.at(-1), recovered.recovery.dropped, recovered.recovery.unflushed], [i - 1, undefined, undefined], 'every record back, nothing cut');
  await recovered.append(record(i, 100));
  await recovered.close();
  t.equal(survivor.bytes(current.segment)!.length, recovered.end.offset, 'close cuts the old bytes after the records');
  const last = await Wal.open(survivor, { segmentSize: SEGMENT, recycle: 1 });
  t.equal((await numbers(last)).at(-1), i, 'and the record appended after recovery reads back');
  await last.close();
  await wal.close();
});

test('recycle: lowered at open, the spares past it are removed; segments a crash left before the checkpoint become spares', async (t) => {
  const store = new MemorySegmentStore();
  const wal = await Wal.open(store, { segmentSize: SEGMENT, recycle: 3 });
  const positions: WalPosition[] = [];
  for (let i = 0; i < 60; i++) positions.push(await wal.append(record(i, 100)));
  await wal.truncateBefore(positions[59]!);
  await wal.close();
  t.equal((await store.spares.list()).length, 3, 'three spares');
  const lowered = await Wal.open(store, { segmentSize: SEGMENT, recycle: 1 });
  t.equal((await store.spares.list()).length, 1, 'recycle 1: one left');
  await lowered.close();
  const off = await Wal.open(store, { segmentSize: SEGMENT });
  t.deepEqual(await store.spares.list(), [], 'recycle 0 (the default): none left');
  await off.close();

  // a crash after the checkpoint was written, before the segments before it were deleted
  const crashed = new MemorySegmentStore();
  const writer = await Wal.open(crashed, { segmentSize: SEGMENT });
  const kept: WalPosition[] = [];
  for (let i = 0; i < 60; i++) kept.push(await writer.append(record(i, 100)));
  await writer.close();
  const { encodeCheckpoint } = await import('../../src/wal/format.js');
  await crashed.writeCheckpoint(encodeCheckpoint(kept[50]!));
  const reopened = await Wal.open(crashed, { segmentSize: SEGMENT, recycle: 2 });
  t.deepEqual(
    [(await crashed.list())[0], (await crashed.spares.list()).length],
    [kept[50]!.segment, 2],
    'the leftovers are gone from the log: two kept as spares, the rest deleted',
  );
  t.equal((await numbers(reopened)).at(-1), 59, 'the log reads as before');
  await reopened.close();
});

for (const backend of BACKENDS) {
  test(`recycle 2 on a directory (${backend.name}): spares are files of their own, the log writes over them, check finds nothing wrong`, async (t) => {
    const { storage } = await freshStorage(t, backend);
    const dir = await storage.root.createDirectory('wal');
    const store = new DirSegmentStore(dir);
    const wal = await Wal.open(store, { segmentSize: 4096, recycle: 2 });
    const positions: WalPosition[] = [];
    for (let i = 0; i < 200; i++) positions.push(await wal.append(record(i, 100)));
    await wal.truncateBefore(positions[150]!);
    const names = (await dir.read()).map((entry) => String(entry.name)).filter((name) => name.endsWith('.spare'));
    t.equal(names.length, 2, `two spare files (${names.join(', ')})`);
    for (let i = 200; i < 400; i++) positions.push(await wal.append(record(i, 100)));
    const versions = await Promise.all((await store.list()).map(async (n) => versionOf(await dir.readFile(segmentName(n)))));
    t.equal(versions.filter((v) => v === RECYCLED_VERSION).length, 2, 'two segments written over spares');
    const report = await verifyWal(dir);
    t.notOk(damaged(report), `check: no damage (${report.findings.map((f) => f.problem).join('; ') || 'no finding'})`);
    await wal.close();
    const again = await Wal.open(new DirSegmentStore(await storage.openDirectory('wal')), { segmentSize: 4096, recycle: 2 });
    const seen = await numbers(again);
    t.deepEqual([seen.at(-1), seen.every((n, i) => n === seen[0]! + i)], [399, true], 'every record from the checkpoint segment on, in order');
    await again.close();
    t.notOk(damaged(await verifyWal(await storage.openDirectory('wal'))), 'check after close: no damage');
    await storage.close();
  });
}

for (const [name, sync] of [
  ['always', 'always'],
  ['none', 'none'],
  ['batch', { batch: { intervalMs: 1, bytes: 300 } }],
] as Array<[string, SyncPolicy]>) {
  test(`recycled segments: a crash before each operation of a run with checkpoints (sync ${name}): acknowledged records after the checkpoint survive, the log opens, in order`, async (t) => {
    const options = { records: 110, recycle: 2, checkpointEvery: 8 };
    const full = await run(sync, Infinity, 0, options);
    t.ok(full.store.reuses > 0, `the whole run (${full.steps} operations) writes ${full.store.reuses} segments over spares`);
    const problems: string[] = [];
    let checked = 0;
    for (let stopAt = 1; stopAt <= full.steps; stopAt++) {
      const stopped = await run(sync, stopAt, 0, options);
      const durable = sync === 'none' ? [] : stopped.acknowledged;
      for (const kind of ['kill', 'power', 'power, entries lost'] as const) {
        const problem = await check(
          `stop before operation ${stopAt} of ${full.steps}, ${kind}`,
          await stopped.store.image(kind),
          kind === 'kill' ? stopped.acknowledged : durable,
          SEGMENT,
          {
            recycle: 2,
            checkpointed: stopped.checkpointed ?? 0,
          },
        );
        if (problem !== undefined) problems.push(problem);
        checked++;
      }
      if (sync === 'always') {
        // a power loss that keeps unflushed pages of 64 bytes in any order
        const rng = prng(stopAt);
        const keep = () => rng() < 0.5;
        const problem = await check(`stop before operation ${stopAt}, random unflushed pages`, await stopped.store.pagesImage(64, keep), durable, SEGMENT, {
          recycle: 2,
          checkpointed: stopped.checkpointed ?? 0,
        });
        if (problem !== undefined) problems.push(problem);
        checked++;
      }
    }
    t.deepEqual(problems.slice(0, 5), [], `${checked} crash images, ${problems.length} with a problem`);
  });
}

test("recycle: a segment made ahead is deleted at close, never kept as a spare (its number is the next segment's): closed and reopened, the log opens and closes", async (t) => {
  const store = new MemorySegmentStore();
  const options = { segmentSize: SEGMENT, recycle: 3 };
  let wal = await Wal.open(store, options);
  let next = 0;
  let last: WalPosition | undefined;
  for (let i = 0; i < 40; i++) last = await wal.append(record(next++, 100));
  // just after a rotation (no segment made ahead yet), a checkpoint at the last record
  const segment = wal.end.segment;
  while (wal.end.segment === segment) last = await wal.append(record(next++, 100));
  await wal.truncateBefore(last!);
  t.equal((await store.spares.list()).length, 3, 'three spares');
  // past half of the current segment: the next one is made ahead, from a spare
  while (!(await store.list()).includes(wal.end.segment + 1)) await wal.append(record(next++, 100));
  const ahead = wal.end.segment + 1;
  await wal.close();
  t.notOk((await store.spares.list()).includes(ahead), `close deletes segment ${ahead}, made ahead, and keeps no spare of its number`);
  for (let round = 0; round < 3; round++) {
    wal = await Wal.open(store, options);
    await wal.append(record(next++, 100)); // the current segment is past half: the next is made ahead again
    await wal.close();
  }
  wal = await Wal.open(store, options);
  const seen = await numbers(wal);
  t.deepEqual([seen.at(-1), seen.every((n, i) => n === seen[0]! + i)], [next - 1, true], 'every record since the checkpoint, in order');
  await wal.close();
});

test('recycle: good records of the segment after a zero header, far into old bytes, are found (a power loss, cut and reported), and the rest of the file is cut', async (t) => {
  const { encodeRecord, encodeSegmentHeader, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE } = await import('../../src/wal/format.js');
  const { randomFillSync } = await import('node:crypto');
  const size = 16 * 1024 * 1024;
  const bytes = randomFillSync(Buffer.alloc(size)); // the old segment's bytes, random to this one
  encodeSegmentHeader(1, RECYCLED_VERSION).copy(bytes, 0);
  let at = SEGMENT_HEADER_SIZE;
  for (let i = 0; i < 3; i++) {
    const payload = record(i, 100);
    encodeRecord(bytes, at, 1, payload, true, 1);
    at += RECORD_HEADER_SIZE + payload.length;
  }
  const end = at;
  bytes.fill(0, end, end + RECORD_HEADER_SIZE); // the zero header after the last batch that reached the disk
  // a later batch whose first page was lost, 1 MiB further
  const later = 1024 * 1024;
  encodeRecord(bytes, later, 1, record(9, 100), true, 1);
  const store = new MemorySegmentStore();
  store.setBytes(1, bytes);
  const wal = await Wal.open(store, { segmentSize: size, recycle: 1 });
  t.deepEqual(await numbers(wal), [0, 1, 2], 'the records before the zero header');
  t.deepEqual(
    wal.recovery.unflushed,
    { position: { segment: 1, offset: end }, segments: [] },
    'the good record after it is found: cut as a power loss, reported',
  );
  t.equal(store.bytes(1)!.length, end, 'the file is cut where the records end');
  await wal.close();

  // a clean end: the zero header with only old bytes after it
  const clean = randomFillSync(Buffer.alloc(size));
  bytes.copy(clean, 0, 0, end + RECORD_HEADER_SIZE);
  const cleanStore = new MemorySegmentStore();
  cleanStore.setBytes(1, clean);
  const opened = await Wal.open(cleanStore, { segmentSize: size, recycle: 1 });
  t.deepEqual(
    [await numbers(opened), opened.recovery.dropped, opened.recovery.unflushed, cleanStore.bytes(1)!.length],
    [[0, 1, 2], undefined, undefined, end],
    'a clean end: nothing reported, the old bytes cut',
  );
  await opened.close();
});
