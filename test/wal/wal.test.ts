// The WAL on every segment store: round trips across rotations, readers from any position, torn tails cut
// at every length, corruption in the middle reported, group commit, sync policies, ENOSPC, fsync failure,
// truncation after a checkpoint.
import test from 'tape';

import { CrashingBackend } from '../../src/backend/crash-backend.js';
import { FORMAT_VERSION, MARK_RECORD_SIZE, RECORD_HEADER_SIZE, SEAL_PAYLOAD, SEAL_RECORD_SIZE } from '../../src/wal/format.js';
import { MemorySegmentStore } from '../../src/wal/segment-store.js';
import { Wal } from '../../src/wal/wal.js';
import { rejection } from '../helpers.js';
import { closeMarkAt, countingStore, RAW_STORE_KINDS, record, STORE_KINDS, versionOneSegment, type WriteCounts } from './wal-helpers.js';

const MiB = 1024 * 1024;

for (const kind of STORE_KINDS) {
  test(`round trip of 0 B, 1 B, 4 KiB and 1 MiB records across rotations; readers from any position [${kind.name}]`, async (t) => {
    const { store, reopen } = await kind.make(t);
    const wal = await Wal.open(store, { segmentSize: 2 * MiB + 1024, sync: 'none' });
    const sizes = [0, 1, 4096, MiB, 0, MiB, 1, MiB, 4096, 0];
    const payloads = sizes.map((size, i) => record(i, size));
    const positions = await Promise.all(payloads.map((payload, i) => wal.append(payload, 1 + (i % 3))));
    t.ok(new Set(positions.map((p) => p.segment)).size >= 3, `the records span ${new Set(positions.map((p) => p.segment)).size} segments`);
    const all = [];
    for await (const entry of wal.read()) all.push(entry);
    t.deepEqual(
      all.map((e) => e.payload.length),
      sizes,
      'every record comes back, in order, with its size',
    );
    t.ok(
      all.every((e, i) => e.payload.equals(payloads[i]!) && e.type === 1 + (i % 3)),
      'with its bytes and its type',
    );
    t.deepEqual(
      all.map((e) => e.position),
      positions,
      'at the positions append returned',
    );
    for (const from of [3, 5, 9]) {
      const tail = [];
      for await (const entry of wal.read(positions[from])) tail.push(entry.payload.length);
      t.deepEqual(tail, sizes.slice(from), `a reader from record ${from} sees the rest`);
    }
    const endBefore = wal.end;
    await wal.close();
    const again = await Wal.open(await reopen(), { segmentSize: 2 * MiB + 1024 });
    t.equal(again.recovery.records, sizes.length, 'recovery finds every record');
    t.notOk(again.recovery.dropped, 'and drops nothing');
    const next = await again.append(Buffer.from('after reopen'));
    // the last batch may end with a mark (format 4) after its last record; close() wrote one after it
    const lastEnd = positions.at(-1)!.offset + 9;
    t.ok(
      next.segment === positions.at(-1)!.segment &&
        next.offset === endBefore.offset + MARK_RECORD_SIZE &&
        [MARK_RECORD_SIZE, 2 * MARK_RECORD_SIZE].includes(next.offset - lastEnd),
      "appending continues after the last record, its batch's mark and the mark close() wrote",
    );
    await again.close();
  });

  test(`group commit: concurrent writers share appendv and fdatasync calls [${kind.name}]`, async (t) => {
    const { store } = await kind.make(t);
    const wal = await Wal.open(store, { sync: 'always' });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append(record(i))));
    t.equal(new Set(results.map((p) => `${p.segment}:${p.offset}`)).size, 200, 'every writer got its own position');
    const seen = [];
    for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
    t.deepEqual(
      seen,
      Array.from({ length: 200 }, (_, i) => i),
      'the records are in the order they were appended',
    );
    await wal.close();
  });

  test(`bad input and oversize records are refused and change nothing [${kind.name}]`, async (t) => {
    const { store } = await kind.make(t);
    const wal = await Wal.open(store, { maxRecordSize: 1000 });
    await wal.append(Buffer.from('first'));
    const end = wal.end;
    const error = await rejection(t, wal.append(Buffer.alloc(1001)), 'EINVAL', 'a record over maxRecordSize');
    t.match(error?.message ?? '', /1001 bytes exceeds the limit/, 'the error gives the size and the limit');
    await rejection(t, wal.append('text' as unknown as Buffer), 'EINVAL', 'a string');
    await rejection(t, wal.append(Buffer.from('x'), 0), 'EINVAL', 'type 0');
    t.deepEqual(wal.end, end, 'nothing was written');
    await wal.close();
    await rejection(t, wal.append(Buffer.from('x')), 'EBADF', 'append on a closed WAL');
  });

  test(`truncateBefore deletes whole segments; recovery starts at the checkpoint [${kind.name}]`, async (t) => {
    const { store, reopen } = await kind.make(t);
    const wal = await Wal.open(store, { segmentSize: 4096 });
    const positions = [];
    for (let i = 0; i < 100; i++) positions.push(await wal.append(record(i, 200)));
    const checkpoint = positions[60]!;
    const removed = await wal.truncateBefore(checkpoint);
    t.equal(removed, checkpoint.segment - 1, `the ${removed} segments before the checkpoint's are gone`);
    await rejection(
      t,
      (async () => {
        for await (const _ of wal.read(positions[0])) break;
      })(),
      'ENOENT',
      'reading from a deleted segment',
    );
    await wal.close();
    const again = await Wal.open(await reopen(), { segmentSize: 4096 });
    t.equal(again.recovery.records, 40, 'recovery scans from the checkpoint: the 40 records after it');
    const first = (await again.read().next()).value;
    const firstKept = positions.findIndex((p) => p.segment === checkpoint.segment);
    t.equal(first?.payload.readUInt32LE(0), firstKept, `reading starts at the first kept segment (record ${firstKept})`);
    await again.close();
  });
}

for (const kind of RAW_STORE_KINDS) {
  test(`torn tail: a last record cut at every length, where the file ends or inside preallocated zeros, recovers exactly the records before it [${kind.name}]`, async (t) => {
    const { store, reopen, bytes, setBytes } = await kind.make(t);
    const wal = await Wal.open(store);
    for (let i = 0; i < 5; i++) await wal.append(record(i, 30));
    const { position: last, end } = await wal.appendSpan(record(5, 40));
    // the record's end: its batch's mark (format 4) follows it, and is cut with every keep below
    const recordEnd = end.offset;
    const logEnd = wal.end.offset;
    await wal.close();
    const whole = bytes(last.segment);
    t.equal(closeMarkAt(whole), logEnd, 'close() wrote a mark after the last record');
    t.ok(
      whole.length > logEnd + MARK_RECORD_SIZE && whole.subarray(logEnd + MARK_RECORD_SIZE).every((byte) => byte === 0),
      'the segment runs on in zeros after it',
    );
    const cuts = recordEnd - last.offset;
    for (const [where, image] of [
      ['where the file ends', (keep: number) => whole.subarray(0, last.offset + keep)],
      ['inside preallocated zeros', (keep: number) => Buffer.concat([whole.subarray(0, last.offset + keep), Buffer.alloc(whole.length - last.offset - keep)])],
    ] as const) {
      let exact = 0;
      for (let keep = 0; keep < cuts; keep++) {
        const torn = image(keep);
        setBytes(last.segment, torn);
        const again = await Wal.open(await reopen());
        const seen = [];
        for await (const entry of again.read()) seen.push(entry.payload.readUInt32LE(0));
        const dropped = again.recovery.dropped;
        // nothing is cut when only zeros follow the records (the torn bytes kept may all be zeros)
        const clean = torn.subarray(last.offset).every((byte) => byte === 0) || torn.length === last.offset;
        const cut = clean ? dropped === undefined : dropped?.bytes === torn.length - last.offset && dropped.position.offset === last.offset;
        if (seen.join() === '0,1,2,3,4' && cut && again.end.offset === last.offset) exact++;
        await again.close();
      }
      t.equal(exact, cuts, `${where}: all ${cuts} cuts recover exactly the 5 acknowledged records, append after them and report what was cut`);
    }
    setBytes(last.segment, whole);
  });

  test(`a log of format version 1 opens and reads; new records go to a new segment of the current version [${kind.name}]`, async (t) => {
    const { store, reopen, bytes, setBytes } = await kind.make(t);
    const first = await Wal.open(store);
    await first.close();
    const old = versionOneSegment(
      1,
      Array.from({ length: 10 }, (_, i) => record(i)),
    );
    setBytes(1, old);
    const wal = await Wal.open(await reopen());
    t.deepEqual([wal.recovery.records, wal.recovery.dropped], [10, undefined], 'recovery reads its 10 records and cuts nothing');
    const next = await wal.append(record(10));
    t.equal(next.segment, 2, 'the next record begins segment 2');
    await wal.close();
    t.ok(bytes(1).equals(old), 'the version 1 segment is left as it was');
    t.equal(bytes(2).readUInt32LE(8), FORMAT_VERSION, `segment 2 is of format version ${FORMAT_VERSION}`);
    const again = await Wal.open(await reopen());
    const seen = [];
    for await (const entry of again.read()) seen.push(entry.payload.readUInt32LE(0));
    t.deepEqual(
      seen,
      Array.from({ length: 11 }, (_, i) => i),
      'reopened, the log reads the old records and the new one, in order',
    );
    await again.close();
  });

  test(`a bit flipped in the middle is corruption, reported with its position [${kind.name}]`, async (t) => {
    const { store, reopen, bytes, setBytes } = await kind.make(t);
    const wal = await Wal.open(store);
    const positions = [];
    for (let i = 0; i < 10; i++) positions.push(await wal.append(record(i, 100)));
    await wal.close();
    const data = Buffer.from(bytes(1));
    data[positions[4]!.offset + 9 + 50]! ^= 0x10;
    setBytes(1, data);
    const error = await rejection(t, Wal.open(await reopen()), 'EBADMSG', 'opening a log with a flipped bit');
    t.match(error?.message ?? '', new RegExp(`segment 1 offset ${positions[4]!.offset}`), 'the error gives the segment and offset');
  });

  test(`a segment before the last: its seal record, then zeros (a crash before its cut) or nothing; anything else is corruption [${kind.name}]`, async (t) => {
    const { store, reopen, bytes, setBytes } = await kind.make(t);
    const wal = await Wal.open(store, { segmentSize: 1024 });
    // 8 records of 109 bytes fill a segment of 1024 (its seal record besides): segment 2, the last, holds 4
    for (let i = 0; i < 12; i++) await wal.append(record(i, 100));
    t.equal(wal.end.segment, 2, 'two segments');
    await wal.close();
    const sealed = bytes(1);
    const sealAt = sealed.length - SEAL_RECORD_SIZE;
    t.ok(sealed.subarray(sealAt + RECORD_HEADER_SIZE).equals(SEAL_PAYLOAD), 'segment 1 ends with its seal record');
    const opened = async () => {
      const again = await Wal.open(await reopen(), { segmentSize: 1024 });
      const seen = [];
      for await (const entry of again.read()) seen.push(entry.payload.readUInt32LE(0));
      await again.close();
      return seen;
    };
    setBytes(1, Buffer.concat([sealed, Buffer.alloc(200)]));
    t.deepEqual(
      await opened(),
      Array.from({ length: 12 }, (_, i) => i),
      'zeros after the seal record: every record is read',
    );
    setBytes(1, Buffer.concat([sealed, Buffer.alloc(200, 1)]));
    let error = await rejection(t, Wal.open(await reopen(), { segmentSize: 1024 }), 'EBADMSG', 'bytes after the seal record');
    t.match(
      error?.message ?? '',
      new RegExp(`segment 1 offset ${sealAt}: bytes that are not zeros after the seal record, in segment 1 of \\d+`),
      `says so (${error?.message})`,
    );
    // without its seal record, with records in the next segment: the tail of segment 1 may have been lost
    setBytes(1, sealed.subarray(0, sealAt));
    error = await rejection(t, Wal.open(await reopen(), { segmentSize: 1024 }), 'EBADMSG', 'no seal record, records after it');
    t.match(
      error?.message ?? '',
      new RegExp(`segment 1 offset ${sealAt}: the records stop here \\(the file ends\\) without the seal record, and segment 2 holds records`),
      `says so (${error?.message})`,
    );
    setBytes(1, Buffer.concat([sealed.subarray(0, sealAt), Buffer.alloc(200)]));
    error = await rejection(t, Wal.open(await reopen(), { segmentSize: 1024 }), 'EBADMSG', 'no seal record, zeros, records after it');
    t.match(error?.message ?? '', /without the seal record, and segment 2 holds records/, `says so (${error?.message})`);
    // what point-in-time recovery keeps of it: the records of segment 1, nothing after
    const cut = await Wal.open(await reopen(), { segmentSize: 1024, recovery: 'point-in-time' });
    const seen = [];
    for await (const entry of cut.read()) seen.push(entry.payload.readUInt32LE(0));
    t.ok(seen.length > 0 && seen.every((n, i) => n === i) && cut.end.segment === 1, `point-in-time: segment 1's ${seen.length} records, the rest cut`);
    await cut.close();
  });
}

test('ENOSPC during append: the write fails, earlier records stay, the log goes on once space frees', async (t) => {
  let backend: CrashingBackend | undefined;
  const store = new MemorySegmentStore((memory) => (backend = new CrashingBackend(memory)));
  const wal = await Wal.open(store);
  for (let i = 0; i < 3; i++) await wal.append(record(i, 100));
  // each append is a batch of its own, ending with a mark (format 4): the fdatasync before it moved the durable end
  const each = 109 + MARK_RECORD_SIZE;
  const room = Math.floor((backend!.size() - wal.end.offset) / each);
  // the disk is full: the segment cannot grow past the space grown ahead, where `room` batches fit whole
  // and the next one in part (written, then undone)
  backend!.plan = { failAfterBytes: backend!.size() };
  const fitting = [];
  for (let i = 0; i < room; i++) fitting.push(await wal.append(record(3, 100)));
  t.equal(fitting.length, room, `the ${room} records that fit in the space already grown are written on the full disk`);
  t.ok(backend!.size() - wal.end.offset > 0, 'and part of the next batch fits too');
  await rejection(t, wal.append(record(3, 100)), 'ENOSPC', 'an append that finds the disk full');
  await rejection(t, wal.append(record(4, 100)), 'ENOSPC', 'and the next one too');
  const seen = [];
  for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
  t.deepEqual(seen, [0, 1, 2, ...fitting.map(() => 3)], 'earlier records are intact and nothing partial is left');
  backend!.plan = {};
  await wal.append(record(5, 100));
  const after = [];
  for await (const entry of wal.read()) after.push(entry.payload.readUInt32LE(0));
  t.deepEqual(after, [0, 1, 2, ...fitting.map(() => 3), 5], 'the log is usable once space frees');
  const again = await Wal.open(store.crash(({ backend: b }) => (b as CrashingBackend).crashImage()));
  t.equal(again.recovery.records, after.length, 'and recovers every record after a crash: what a failed write left was cut or zeroed');
  t.notOk(again.recovery.dropped, 'with nothing to cut');
  await again.close();
  await wal.close();
});

test('a failed fdatasync stops the log until it is reopened', async (t) => {
  let backend: CrashingBackend | undefined;
  const store = new MemorySegmentStore((memory) => (backend = new CrashingBackend(memory)));
  const wal = await Wal.open(store);
  await wal.append(record(0));
  backend!.plan = { failSync: true };
  await rejection(t, wal.append(record(1)), 'EIO', 'the append whose fdatasync fails');
  backend!.plan = {};
  const error = await rejection(t, wal.append(record(2)), 'EIO', 'later appends are refused');
  t.match(error?.message ?? '', /reopen it to recover/, 'saying what to do');
  const again = await Wal.open(store.crash(({ backend: b }) => (b as CrashingBackend).crashImage()));
  const seen = [];
  for await (const entry of again.read()) seen.push(entry.payload.readUInt32LE(0));
  t.deepEqual(seen, [0], 'after a crash, what was durable is there');
  await again.close();
  await wal.close(); // resolves: every record it acknowledged was flushed (sync 'always')
});

test('a failed fdatasync in sync() stops the log too (sync none)', async (t) => {
  let backend: CrashingBackend | undefined;
  const store = new MemorySegmentStore((memory) => (backend = new CrashingBackend(memory)));
  const wal = await Wal.open(store, { sync: 'none' });
  await wal.append(record(0));
  backend!.plan = { failSync: true };
  await rejection(t, wal.sync(), 'EIO', 'the sync whose fdatasync fails');
  backend!.plan = {};
  await rejection(t, wal.append(record(1)), 'EIO', 'later appends are refused');
  await rejection(t, wal.sync(), 'EIO', 'and later syncs: nothing since the last good one is known durable');
  await rejection(t, wal.close(), 'EIO', 'and close(): the record it acknowledged is not known durable');
});

test('sync policies: always is durable at resolve, none is not, batch at the next interval or byte count', async (t) => {
  const durableAfter = async (sync: 'always' | 'none' | { batch: { intervalMs: number; bytes: number } }, count: number) => {
    const store = new MemorySegmentStore((memory) => new CrashingBackend(memory));
    const wal = await Wal.open(store, { sync });
    await Promise.all(Array.from({ length: count }, (_, i) => wal.append(record(i))));
    const crashed = await Wal.open(store.crash(({ backend }) => (backend as CrashingBackend).crashImage()));
    const records = crashed.recovery.records;
    await crashed.close();
    await wal.close();
    return records;
  };
  t.equal(await durableAfter('always', 20), 20, "'always': every resolved record survives a crash");
  t.equal(await durableAfter('none', 20), 0, "'none': resolved records are written, not yet durable");
  t.equal(await durableAfter({ batch: { intervalMs: 5, bytes: 1 << 30 } }, 20), 20, "'batch': records resolve after the interval's sync");
  t.equal(await durableAfter({ batch: { intervalMs: 60_000, bytes: 200 } }, 20), 20, "'batch': or once enough bytes wait");
});

test('group commit: 200 concurrent appends with sync always take a handful of fdatasyncs', async (t) => {
  let flushes = 0;
  let appends = 0;
  const store = new MemorySegmentStore((memory) => {
    const backend = new CrashingBackend(memory);
    const flush = backend.flush.bind(backend);
    const append = backend.append.bind(backend);
    backend.flush = () => {
      flushes++;
      return flush();
    };
    backend.append = (data) => {
      appends++;
      return append(data);
    };
    return backend;
  });
  const wal = await Wal.open(store, { sync: 'always' });
  const [baseFlushes, baseAppends] = [flushes, appends];
  await Promise.all(Array.from({ length: 200 }, (_, i) => wal.append(record(i))));
  t.ok(flushes - baseFlushes <= 3, `200 durable records took ${flushes - baseFlushes} fdatasync calls`);
  t.ok(appends - baseAppends <= 3, `and ${appends - baseAppends} appendv calls`);
  await wal.close();
});

test('recovery edge cases: checkpoint then crash, a smaller maxRecordSize, a missing segment, bad checkpoints', async (t) => {
  // a checkpoint taken under sync 'none' is durable with what it points at, so a crash never strands it
  const store = new MemorySegmentStore((memory) => new CrashingBackend(memory));
  const wal = await Wal.open(store, { sync: 'none' });
  const positions = [];
  for (let i = 0; i < 10; i++) positions.push(await wal.append(record(i)));
  await wal.truncateBefore(positions[8]!);
  const crashed = await Wal.open(store.crash(({ backend }) => (backend as CrashingBackend).crashImage()));
  t.equal(crashed.recovery.records, 2, 'after a crash the log opens at its checkpoint with the 2 records after it');
  await crashed.close();
  await wal.close();

  const big = new MemorySegmentStore();
  const first = await Wal.open(big, { maxRecordSize: 1 << 20 });
  await first.append(record(0, 5000));
  await first.append(record(1, 10));
  await first.close();
  const smaller = await Wal.open(big, { maxRecordSize: 4096 });
  t.deepEqual([smaller.recovery.records, smaller.recovery.dropped], [2, undefined], 'a record over a later, smaller maxRecordSize is kept');
  await smaller.close();

  const gap = new MemorySegmentStore();
  const log = await Wal.open(gap, { segmentSize: 1024 });
  for (let i = 0; i < 20; i++) await log.append(record(i, 200));
  await log.close();
  await gap.remove(1);
  await rejection(t, Wal.open(gap, { segmentSize: 1024 }), 'EBADMSG', 'a missing first segment is corruption');

  const checked = await Wal.open(new MemorySegmentStore());
  const at = await checked.append(record(0, 100));
  await rejection(t, checked.truncateBefore({ segment: at.segment, offset: at.offset + 3 }), 'EINVAL', 'a checkpoint inside a record');
  await rejection(t, checked.truncateBefore({ segment: 9, offset: 28 }), 'EINVAL', 'a checkpoint in a segment that does not exist');
  await rejection(t, checked.truncateBefore({ segment: 1, offset: 5 }), 'EINVAL', 'a checkpoint inside the header');
  t.equal(await checked.truncateBefore(checked.end), 0, 'the end of the log is a good checkpoint');
  await checked.close();
});

test('a reader keeps going when the writer rotates the segment it is reading; close settles racing appends', async (t) => {
  const store = new MemorySegmentStore();
  const wal = await Wal.open(store, { segmentSize: 3 * 1024 * 1024, sync: 'none' });
  for (let i = 0; i < 4; i++) await wal.append(record(i, 700 * 1024));
  const seen: number[] = [];
  for await (const entry of wal.read()) {
    seen.push(entry.payload.readUInt32LE(0));
    if (seen.length === 1) await wal.append(record(99, 700 * 1024)); // forces a rotation mid-read
  }
  t.deepEqual(seen.slice(0, 4), [0, 1, 2, 3], 'the reader saw every record of the rotated segment');

  const batch = await Wal.open(new MemorySegmentStore(), { sync: { batch: { intervalMs: 5, bytes: 1 << 30 } } });
  const racing = [batch.append(record(0)), batch.close().then(() => 'closed'), batch.append(record(1))];
  const settled = await Promise.race([Promise.allSettled(racing), new Promise((resolve) => setTimeout(() => resolve('hung'), 2000))]);
  t.notEqual(settled, 'hung', 'appends racing close() all settle');
  await wal.close();
});

test("recovery 'point-in-time' opens a log with a bad record in its last segment, keeping what precedes it", async (t) => {
  const store = new MemorySegmentStore();
  const wal = await Wal.open(store);
  const positions = [];
  for (let i = 0; i < 10; i++) positions.push(await wal.append(record(i, 100)));
  await wal.close();
  const data = Buffer.from(store.bytes(1)!);
  data[positions[6]!.offset + 9 + 10]! ^= 0x01;
  store.setBytes(1, data);
  await rejection(t, Wal.open(store), 'EBADMSG', "the default, 'strict', refuses");
  const recovered = await Wal.open(store, { recovery: 'point-in-time' });
  const seen = [];
  for await (const entry of recovered.read()) seen.push(entry.payload.readUInt32LE(0));
  t.deepEqual(seen, [0, 1, 2, 3, 4, 5], "'point-in-time' keeps the records before the bad one");
  t.deepEqual(recovered.recovery.dropped?.position, positions[6], 'and reports where it cut');
  await recovered.close();
});

const LOCAL_STORE_KINDS = STORE_KINDS.filter((kind) => kind.name.startsWith('dir on local/'));

for (const kind of LOCAL_STORE_KINDS) {
  test(`small batches are written on this thread, large ones and inlineWriteLimit 0 through the IO engine [${kind.name}]`, async (t) => {
    const { store, reopen } = await kind.make(t);
    const counts: WriteCounts = { engine: 0, inline: 0 };
    const wal = await Wal.open(countingStore(store, counts), { sync: 'none' });
    await Promise.all(Array.from({ length: 64 }, (_, i) => wal.append(record(i, 100))));
    t.ok(counts.inline >= 1, `sync 'none' by default, 64 records of 100 B: ${counts.inline} write(s) on this thread`);
    t.equal(counts.engine, 0, 'none through the IO engine');
    const inlineBefore = counts.inline;
    await wal.append(record(64, 100 * 1024));
    t.deepEqual(counts, { engine: 1, inline: inlineBefore }, 'a batch of 100 KiB (past the 64 KiB default) goes through the engine');
    await wal.close();

    // (that each is made durable before its records resolve: ack-order.test)
    // (preallocate 'off': the segment grows by the records' own writes, so every write counted is a batch's)
    const durable = await Wal.open(countingStore(await reopen(), counts), { sync: 'always', preallocate: 'off' });
    const engineBefore = counts.engine;
    await Promise.all(Array.from({ length: 16 }, (_, i) => durable.append(record(65 + i, 100))));
    t.ok(counts.inline > inlineBefore, `under sync 'always' small batches are written on this thread by default (${counts.inline - inlineBefore})`);
    t.equal(counts.engine, engineBefore, 'none through the engine');
    await durable.append(record(81, 260 * 1024));
    t.equal(counts.engine, engineBefore, 'a batch of 260 KiB (64 writers of 4 KiB) on this thread too');
    const inlineAfter = counts.inline;
    await durable.append(record(82, 600 * 1024));
    t.equal(counts.inline, inlineAfter, 'a batch past the 512 KiB default is not written on this thread');
    t.equal(counts.engine, engineBefore + 1, 'but through the engine, in one write');
    await durable.close();

    const limited = await Wal.open(countingStore(await reopen(), counts), { sync: 'always', preallocate: 'off', inlineWriteLimit: 512 });
    const [inlineLimited, engineLimited] = [counts.inline, counts.engine];
    await limited.append(record(83, 100));
    t.deepEqual([counts.inline, counts.engine], [inlineLimited + 1, engineLimited], "sync 'always', inlineWriteLimit 512: a record of 100 B on this thread");
    await limited.append(record(84, 1000));
    t.deepEqual([counts.inline, counts.engine], [inlineLimited + 1, engineLimited + 1], 'one of 1,000 B through the engine');
    await limited.close();

    const batched = await Wal.open(countingStore(await reopen(), counts), { sync: { batch: { intervalMs: 1, bytes: 1 << 20 } }, inlineWriteLimit: 64 * 1024 });
    const inlineBatched = counts.inline;
    await Promise.all(Array.from({ length: 8 }, (_, i) => batched.append(record(85 + i, 100))));
    t.equal(counts.inline, inlineBatched, "sync 'batch': nothing on this thread, even with inlineWriteLimit");
    await batched.close();

    const viaEngine = await Wal.open(countingStore(await reopen(), counts), { sync: 'none', inlineWriteLimit: 0 });
    const inlineNow = counts.inline;
    const engineNow = counts.engine;
    await Promise.all(Array.from({ length: 8 }, (_, i) => viaEngine.append(record(93 + i, 100))));
    t.equal(counts.inline, inlineNow, 'inlineWriteLimit 0: nothing on this thread');
    t.ok(counts.engine > engineNow, 'every batch through the engine');
    await viaEngine.close();

    const small = await Wal.open(countingStore(await reopen(), counts), { sync: 'none', inlineWriteLimit: 512 });
    const [inlineThen, engineThen] = [counts.inline, counts.engine];
    for (let i = 0; i < 7; i++) await small.append(record(101 + i, 100));
    t.deepEqual([counts.inline, counts.engine], [inlineThen + 7, engineThen], "sync 'none', inlineWriteLimit 512: records of 100 B on this thread");
    await small.append(record(108, 1000));
    t.deepEqual([counts.inline, counts.engine], [inlineThen + 7, engineThen + 1], 'one of 1,000 B through the engine');
    await small.close();

    const again = await Wal.open(await reopen());
    const seen = [];
    for await (const entry of again.read()) seen.push(entry.payload.readUInt32LE(0));
    t.deepEqual(
      seen,
      Array.from({ length: 109 }, (_, i) => i),
      'every record reads back, in order, however it was written',
    );
    await again.close();
    await rejection(t, Wal.open(store, { inlineWriteLimit: -1 }), 'EINVAL', 'a negative inlineWriteLimit');
  });

  test(`sync 'none': writers that never stop do not starve the event loop of its turn [${kind.name}]`, async (t) => {
    const { store } = await kind.make(t);
    const wal = await Wal.open(store, { sync: 'none' });
    const most = 200_000;
    let appended = 0;
    let stop = false;
    setImmediate(() => {
      stop = true;
    });
    const writer = async () => {
      while (!stop && appended < most) {
        appended++;
        await wal.append(record(appended, 100));
      }
    };
    await Promise.all(Array.from({ length: 64 }, writer));
    t.ok(appended < most, `a setImmediate ran while 64 writers appended in a loop (after ${appended} records)`);
    await wal.close();
  });

  test(`preallocate 'auto' (the default under 'always'): grown by zeros for small batches, by fallocate for large ones; 'zeros' always by zeros [${kind.name}]`, async (t) => {
    const { store, reopen } = await kind.make(t);
    const counts: WriteCounts = { engine: 0, inline: 0, allocations: 0 };
    const wal = await Wal.open(countingStore(store, counts), { sync: 'always', segmentSize: 16 * MiB });
    let n = 0;
    const batch = (writers: number, bytes: number) => Promise.all(Array.from({ length: writers }, () => wal.append(record(n++, bytes))));
    while (wal.end.offset < 2 * MiB) await batch(64, 100);
    t.equal(counts.allocations, 0, `2 MiB of 7 KiB batches: the segment grew by zeros only (${counts.engine} writes through the engine)`);
    const small = n;
    while (wal.end.offset < 8 * MiB) await batch(16, 16 * 1024);
    t.ok(counts.allocations! >= 1, `then 6 MiB of 256 KiB batches: by fallocate (${counts.allocations} calls)`);
    await wal.close();

    const reader = await Wal.open(await reopen());
    const seen: number[] = [];
    for await (const entry of reader.read()) seen.push(entry.payload.readUInt32LE(0));
    t.deepEqual(
      seen,
      Array.from({ length: n }, (_, i) => i),
      `every record reads back in order, across space grown both ways (${small} small, ${n - small} of 16 KiB)`,
    );
    t.notOk(reader.recovery.dropped, 'nothing cut');
    await reader.close();

    const other = await kind.make(t);
    const zerosOnly: WriteCounts = { engine: 0, inline: 0, allocations: 0 };
    const explicit = await Wal.open(countingStore(other.store, zerosOnly), { sync: 'always', segmentSize: 16 * MiB, preallocate: 'zeros' });
    for (let i = 0; i < 24; i++) await Promise.all(Array.from({ length: 16 }, (_, j) => explicit.append(record(16 * i + j, 16 * 1024))));
    t.equal(zerosOnly.allocations, 0, "preallocate 'zeros': 6 MiB of large batches grow the segment by zeros too");
    await explicit.close();
  });

  test(`under sync 'none', writeback of the segment is started every 4 MiB; under 'always' never [${kind.name}]`, async (t) => {
    const { store, reopen } = await kind.make(t);
    const counts: WriteCounts = { engine: 0, inline: 0, writebacks: [] };
    const wal = await Wal.open(countingStore(store, counts), { sync: 'none', segmentSize: 16 * MiB });
    const payload = Buffer.alloc(32 * 1024, 1);
    let last = await wal.append(payload);
    while (last.offset < 9 * MiB) last = (await Promise.all(Array.from({ length: 16 }, () => wal.append(payload)))).at(-1)!;
    const ranges = counts.writebacks!;
    t.equal(ranges.length, 2, `9 MiB written: writeback started twice (${JSON.stringify(ranges)})`);
    t.equal(ranges[0]![0], 28, 'from the first record');
    t.ok(
      ranges.every(([offset, length], i) => length >= 4 * MiB && (i === 0 || offset === ranges[i - 1]![0] + ranges[i - 1]![1])),
      'each over at least 4 MiB, one after the other',
    );
    await wal.close();
    const durable = await Wal.open(countingStore(await reopen(), counts), { sync: 'always', segmentSize: 16 * MiB });
    const before = ranges.length;
    for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 16 }, () => durable.append(payload)));
    t.equal(ranges.length, before, "sync 'always' fdatasyncs every batch: it starts none");
    await durable.close();
  });

  for (const sync of ['none', 'always'] as const) {
    test(`sync '${sync}': a batch written on this thread that fails is undone: its records fail, the log goes on [${kind.name}]`, async (t) => {
      const { store, reopen } = await kind.make(t);
      const counts: WriteCounts = { engine: 0, inline: 0 };
      const fail = { on: false, after: 50 };
      const wal = await Wal.open(countingStore(store, counts, fail), { sync, inlineWriteLimit: 64 * 1024 });
      await wal.append(record(0, 100));
      await wal.append(record(1, 100));
      const end = wal.end;
      fail.on = true;
      const failed = [wal.append(record(2, 100)), wal.append(record(3, 100))];
      await rejection(t, failed[0]!, 'ENOSPC', 'a record of the failed batch');
      await rejection(t, failed[1]!, 'ENOSPC', 'and the other');
      fail.on = false;
      const next = await wal.append(record(4, 100));
      t.deepEqual(next, end, 'the next record goes where the failed batch began');
      await wal.close();
      const again = await Wal.open(await reopen());
      t.equal(again.recovery.records, 3, 'recovery finds the three records that were written');
      t.notOk(again.recovery.dropped, 'and nothing to cut: the partial write was undone');
      const seen = [];
      for await (const entry of again.read()) seen.push(entry.payload.readUInt32LE(0));
      t.deepEqual(seen, [0, 1, 4], 'in order');
      await again.close();
    });
  }
}
