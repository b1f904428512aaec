// kill -9 a process appending with sync 'always' at a random moment; reopen: every acknowledged record is
// there, in order, with no gap; and ENOSPC on a real (tmpfs) disk: the write fails, the log goes on.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type test from 'tape';

import { type File, openStorage, type StorageOptions } from '../../src/index.js';
import { MARK_RECORD_SIZE, SEAL_RECORD_SIZE, segmentName } from '../../src/wal/format.js';
import { DirSegmentStore, MemorySegmentStore } from '../../src/wal/segment-store.js';
import { Wal } from '../../src/wal/wal.js';
import { Acknowledged, type Backend, eachBackend, LOCAL_MODES, mountTmpfs, rejection, tempDir } from '../helpers.js';
import { record, withoutCloseMark } from './wal-helpers.js';

const writer = path.join(path.dirname(new URL(import.meta.url).pathname), 'wal-writer.js');

eachBackend(
  'kill -9 during sync-always appends: every acknowledged record survives, no gaps',
  async (t, backend) => {
    const root = tempDir(t);
    const child = spawn(process.execPath, [writer, root, backend.options.config!.ioMode!], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acks = new Acknowledged(child);
    await acks.until(child, () => acks.numbers.length >= 2000);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
    const closed = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGKILL');
    await closed;
    const acknowledged = new Set(acks.numbers);

    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());
    const wal = await Wal.open(new DirSegmentStore(await storage.openDirectory('wal')), { segmentSize: 64 * 1024 });
    const seen: number[] = [];
    for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
    const present = new Set(seen);
    const missing = [...acknowledged].filter((i) => !present.has(i));
    t.equal(missing.length, 0, `all ${acknowledged.size} acknowledged records are there (${seen.length} in the log)`);
    t.ok(
      seen.every((value, i) => value === i),
      'the log holds records 0..n in order: nothing after a gap',
    );
    t.equal(seen.length, new Set(seen).size, 'no record twice');
    await wal.append(Buffer.from('after the crash'));
    await wal.close();
  },
  LOCAL_MODES,
);

/** Starts a writer child in `root`, lets it acknowledge `count` records, kills it (-9); the numbers acknowledged. */
async function crashWriter(
  root: string,
  ioMode: string,
  count: number,
  segmentSize?: number,
  sync?: 'none' | 'always',
  recordBytes?: number,
): Promise<Set<number>> {
  const child = spawn(
    process.execPath,
    [
      writer,
      root,
      ioMode,
      ...(segmentSize === undefined ? [] : [String(segmentSize)]),
      ...(sync === undefined ? [] : [sync]),
      ...(recordBytes === undefined ? [] : [String(recordBytes)]),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const acks = new Acknowledged(child);
  await acks.until(child, () => acks.numbers.length >= count);
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGKILL');
  await closed;
  return new Set(acks.numbers);
}

/**
 * The log in `root`/wal reopened: the numbers of its records in order and its recovery report; then one
 * more record appended (where it went: it begins the next segment when the last has no room for it) and
 * the log closed again.
 */
async function reopened(t: test.Test, root: string, options: StorageOptions, segmentSize: number) {
  const storage = await openStorage(root, options);
  t.teardown(() => storage.close());
  const wal = await Wal.open(new DirSegmentStore(await storage.openDirectory('wal')), { segmentSize });
  const seen: number[] = [];
  for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
  const recovery = wal.recovery;
  const appended = await wal.appendSpan(record(seen.length));
  await wal.close();
  await storage.close();
  return { seen, recovery, appended };
}

/** Every record `acknowledged` before the kill is in `seen` (the log read back), which holds 0..n in order. */
function survived(t: test.Test, acknowledged: Set<number>, seen: number[]): void {
  t.equal([...acknowledged].filter((i) => seen[i] !== i).length, 0, `all ${acknowledged.size} acknowledged records are there (${seen.length} in the log)`);
  t.ok(
    seen.every((value, i) => value === i),
    'the log holds records 0..n in order: nothing after a gap',
  );
}

eachBackend(
  'kill -9 while segments grow ahead of their records (4 MiB segments): every acknowledged record survives, in order',
  async (t, backend) => {
    const root = tempDir(t);
    const acknowledged = await crashWriter(root, backend.options.config!.ioMode!, 20000, 4 * 1024 * 1024);
    const { seen } = await reopened(t, root, backend.options, 4 * 1024 * 1024);
    survived(t, acknowledged, seen);
  },
  LOCAL_MODES,
);

// 16 writers of 16 KiB make batches of ~262 KiB, written on the calling thread (under the 512 KiB default of
// inlineWriteLimit); of 64 KiB, up to 1 MiB: any of 8 records or more goes through the IO engine
for (const recordKiB of [16, 64]) {
  eachBackend(
    `kill -9 while segments grow by fallocate (16 writers of ${recordKiB} KiB records: batches over preallocate 'auto''s 128 KiB, ${recordKiB === 16 ? 'written on the calling thread' : 'most through the IO engine'}): every acknowledged record survives, in order`,
    async (t, backend) => {
      const root = tempDir(t);
      const acknowledged = await crashWriter(root, backend.options.config!.ioMode!, 3000, 16 * 1024 * 1024, 'always', recordKiB * 1024);
      const { seen } = await reopened(t, root, backend.options, 16 * 1024 * 1024);
      survived(t, acknowledged, seen);
    },
    LOCAL_MODES,
  );
}

for (const segmentSize of [16 * 1024, 1024]) {
  eachBackend(
    `kill -9 during sync 'none' appends, a rotation every ${segmentSize === 1024 ? 8 : 140} records (next segment made ahead, old one sealed behind): every acknowledged record survives, in order`,
    async (t, backend) => {
      // under 'none' a record is acknowledged once written: after kill -9 (not a power loss) the page cache
      // still has it, whichever step of a rotation the process was in
      const root = tempDir(t);
      const acknowledged = await crashWriter(root, backend.options.config!.ioMode!, segmentSize === 1024 ? 1500 : 20000, segmentSize, 'none');
      const { seen } = await reopened(t, root, backend.options, segmentSize);
      survived(t, acknowledged, seen);
    },
    LOCAL_MODES,
  );
}

/**
 * Damages the last segment of the log in `logged` (after the record reopened() appends to it) in the ways
 * a crash inside preallocated space can, each on a copy: recovery keeps exactly the records written before
 * and cuts what it must.
 */
async function damageVariants(t: test.Test, backend: Backend, logged: string, segmentSize: number, label: string): Promise<void> {
  const base = await reopened(t, logged, backend.options, segmentSize);
  // the record reopened() appended is the last of the log; its segment (the next one when the last had no
  // room for it) is the one damaged
  const { position, end: after } = base.appended;
  const { segment, offset: tail } = position;
  const end = after.offset;
  t.ok(segment >= 2, `${label}: the log has ${segment} segments`);
  const walDir = (root: string) => path.join(root, 'wal');
  const lastFile = (root: string) => path.join(walDir(root), segmentName(segment));
  const expected = [...base.seen, base.seen.length];
  // as a crash right after the append left it: without the mark close() wrote after it
  const afterAppend = withoutCloseMark(fs.readFileSync(lastFile(logged)));

  const variant = async (what: string, damage: (file: Buffer) => Buffer, cut: boolean) => {
    const root = tempDir(t);
    fs.cpSync(logged, root, { recursive: true });
    fs.writeFileSync(lastFile(root), damage(Buffer.from(afterAppend)));
    const again = await reopened(t, root, backend.options, segmentSize);
    t.deepEqual(again.seen, expected, `${label}, ${what}: exactly the records written before, in order`);
    t.equal(again.recovery.dropped?.position.offset, cut ? end : undefined, cut ? `${label}, ${what}: cut at the tail` : `${label}, ${what}: nothing cut`);
    const third = await reopened(t, root, backend.options, segmentSize);
    t.deepEqual(third.seen, [...expected, expected.length], `${label}, ${what}: an append after recovery is read back, nothing else`);
  };
  const room = (file: Buffer, length: number) => (file.length >= end + length ? file : Buffer.concat([file, Buffer.alloc(end + length - file.length)]));
  await variant(
    'a torn record inside preallocated zeros',
    (file) => {
      const torn = room(file, 4096);
      // the header and half the payload of a record like the last one, zeros after (half of its own
      // length: a fixed count is the whole record when the payload is that short)
      afterAppend.copy(torn, end, tail, tail + 9 + Math.floor((end - tail - 9) / 2));
      return torn;
    },
    true,
  );
  await variant(
    'stale records of another segment after the tail',
    (file) => {
      const first = fs.readFileSync(path.join(walDir(logged), segmentName(segment - 1)));
      const stale = room(file, 8192);
      first.copy(stale, end, 28, 28 + 8192);
      return stale;
    },
    true,
  );
  await variant(
    'a crash while the segment grew: its zeros end anywhere after the tail',
    (file) => Buffer.concat([file.subarray(0, end), Buffer.alloc(Math.floor(Math.random() * (segmentSize - end + 1)))]),
    false,
  );
}

eachBackend(
  'after kill -9: a torn record inside preallocated zeros, stale records of another segment after the tail, a crash while growing',
  async (t, backend) => {
    const crashed = tempDir(t);
    const segmentSize = 64 * 1024;
    const acknowledged = await crashWriter(crashed, backend.options.config!.ioMode!, 3000);
    const { seen } = await reopened(t, crashed, backend.options, segmentSize);
    t.equal([...acknowledged].filter((i) => seen[i] !== i).length, 0, `all ${acknowledged.size} acknowledged records are there`);
    await damageVariants(t, backend, crashed, segmentSize, 'after kill -9');
  },
  LOCAL_MODES,
);

eachBackend(
  'a last segment with no room for the next record: the append begins the next segment, and damage after it is recovered as in any other',
  async (t, backend) => {
    // a crash can leave the last segment's tail anywhere, also closer to its end than the record appended
    // at reopening needs: that record then begins the next segment, and the one before is sealed
    const root = tempDir(t);
    const segmentSize = 64 * 1024;
    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());
    const wal = await Wal.open(new DirSegmentStore(await storage.root.createDirectory('wal')), { segmentSize });
    // records 0..98 as the crash writer makes them (segment 1), then record 99 filling segment 2 to 10
    // bytes before its end: the record reopened() appends (100, of the shortest payload, 20 bytes) begins
    // segment 3
    for (let i = 0; i < 99; i++) await wal.append(record(i));
    await wal.append(record(99, segmentSize - 28 - 9 - SEAL_RECORD_SIZE - 10));
    t.deepEqual(wal.end, { segment: 2, offset: segmentSize - SEAL_RECORD_SIZE - 10 }, 'segment 2 has 10 bytes of room left (besides its seal record)');
    await wal.close();
    await storage.close();
    await damageVariants(t, backend, root, segmentSize, 'a full last segment');
  },
  LOCAL_MODES,
);

eachBackend(
  'a second process cannot open the same WAL: it is refused before writing, the owner loses nothing',
  async (t, backend) => {
    const root = tempDir(t);
    const ioMode = backend.options.config!.ioMode!;
    const owner = spawn(process.execPath, [writer, root, ioMode], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acks = new Acknowledged(owner);
    await acks.until(owner, () => acks.numbers.length >= 300);
    const second = spawn(process.execPath, [writer, root, ioMode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    second.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => second.once('close', resolve));
    t.notEqual(code, 0, 'the second writer exits with an error');
    t.match(stderr, new RegExp(`EBUSY.*process ${owner.pid} has it open for writing`), 'EBUSY naming the owner');
    const closed = new Promise((resolve) => owner.once('close', resolve));
    owner.kill('SIGKILL');
    await closed;

    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());
    const wal = await Wal.open(new DirSegmentStore(await storage.openDirectory('wal')), { segmentSize: 64 * 1024 });
    const seen: number[] = [];
    for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
    t.ok(
      acks.numbers.every((i) => seen[i] === i),
      `all ${acks.numbers.length} acknowledged records are there, in order`,
    );
    t.ok(
      seen.every((value, i) => value === i),
      'and nothing else: no record of the refused writer',
    );
    await wal.close();
  },
  LOCAL_MODES,
);

/** A storage on a new 1 MiB tmpfs (closed when the test ends) and a 'wal' directory in it. */
async function smallDisk(t: test.Test, backend: Backend) {
  const root = mountTmpfs(t, 1024 * 1024);
  const storage = await openStorage(root, backend.options);
  t.teardown(() => storage.close());
  return { root, storage, dir: await storage.root.createDirectory('wal') };
}

/** Appends `chunk` bytes at a time to `filler` until an append fails; resolves with that failure. */
async function fillUp(filler: File, chunk: number): Promise<unknown> {
  try {
    for (;;) await filler.append(Buffer.alloc(chunk));
  } catch (error) {
    return error;
  }
}

eachBackend(
  'ENOSPC on a real disk: the append fails, earlier records stay readable, the log goes on after space frees',
  async (t, backend) => {
    const { storage, dir } = await smallDisk(t, backend);
    const filler = await storage.root.createFile('filler');
    const wal = await Wal.open(new DirSegmentStore(dir), { segmentSize: 8 * 1024 * 1024 });
    let written = 0;
    for (; written < 20; written++) await wal.append(record(written, 1000));
    const failure = await fillUp(filler, 64 * 1024);
    t.equal((failure as { code?: string }).code, 'ENOSPC', 'the disk is full');
    // larger than what is free plus what the segment has grown ahead of its records
    await rejection(t, wal.append(record(20, 256 * 1024)), 'ENOSPC', 'a WAL append on the full disk');
    const seen = [];
    for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
    t.deepEqual(
      seen,
      Array.from({ length: written }, (_, i) => i),
      'the earlier records are readable, nothing partial after them',
    );
    await filler.truncate(0);
    await wal.append(record(21, 1000));
    const after = [];
    for await (const entry of wal.read()) after.push(entry.payload.readUInt32LE(0));
    t.equal(after.at(-1), 21, 'appends work again once space frees');
    await wal.close();
    await filler.close();
  },
  LOCAL_MODES,
);

eachBackend(
  'ENOSPC part way through a batch written through the engine past the grown end: none of its records comes back after a crash',
  async (t, backend) => {
    const { root, storage, dir } = await smallDisk(t, backend);
    const filler = await storage.root.createFile('filler');
    // every batch through the IO engine, as any batch over the 512 KiB default is
    const wal = await Wal.open(new DirSegmentStore(dir), { sync: 'always', inlineWriteLimit: 0, preallocate: 'zeros', segmentSize: 4 * 1024 * 1024 });
    await wal.append(record(0, 59000)); // the segment is grown to 64 KiB past its header
    const start = wal.end.offset;
    for (const chunk of [64 * 1024, 4096]) {
      t.equal(((await fillUp(filler, chunk)) as { code?: string }).code, 'ENOSPC', `the disk is full (${chunk} B chunks)`);
    }
    await filler.truncate((await filler.size()) - 40 * 1024); // 40 KiB free: less than the next growth step and the batch
    const failed = Array.from({ length: 8 }, (_, i) => wal.append(record(1 + i, 8000)));
    for (const [i, promise] of failed.entries()) await rejection(t, promise, 'ENOSPC', `record ${i + 1} of the batch that finds the disk full`);
    // a batch that ends, with its mark, where the failed batch's second record began
    const next = await wal.append(record(100, 8000 - MARK_RECORD_SIZE));
    t.equal(next.offset, start, 'the next record goes where the failed batch began');
    // a crash now: the segment's file as it is
    const name = fs.readdirSync(path.join(root, 'wal')).find((n) => n.endsWith('.wal'))!;
    const crashed = new MemorySegmentStore();
    crashed.setBytes(1, fs.readFileSync(path.join(root, 'wal', name)));
    const again = await Wal.open(crashed);
    const seen = [];
    for await (const entry of again.read()) seen.push(entry.payload.readUInt32LE(0));
    t.deepEqual(seen, [0, 100], 'the acknowledged records, none of the rejected ones');
    await again.close();
    await wal.close();
    await filler.close();
  },
  LOCAL_MODES,
);

eachBackend(
  "ENOSPC under many concurrent appends (sync 'none'): every acknowledged record is whole at its position, the rest failed",
  async (t, backend) => {
    const { dir } = await smallDisk(t, backend);
    const wal = await Wal.open(new DirSegmentStore(dir), { sync: 'none', segmentSize: 8 * 1024 * 1024 });
    const outcomes = await Promise.allSettled(Array.from({ length: 600 }, (_, i) => wal.append(record(i, 3000))));
    const acknowledged = new Map<string, number>();
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') acknowledged.set(`${outcome.value.segment}:${outcome.value.offset}`, i);
    });
    const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
    t.ok(failed.length > 0 && failed.every((f) => (f as PromiseRejectedResult).reason.code === 'ENOSPC'), `${failed.length} appends failed with ENOSPC`);
    const seen = new Map<string, number>();
    for await (const entry of wal.read()) seen.set(`${entry.position.segment}:${entry.position.offset}`, entry.payload.readUInt32LE(0));
    t.deepEqual(seen, acknowledged, `the log holds exactly the ${acknowledged.size} acknowledged records, each at the position it was given`);
    await wal.close();
  },
  LOCAL_MODES,
);
