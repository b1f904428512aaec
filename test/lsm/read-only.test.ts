// A store opened read-only sees every write the WAL holds: those after the last flush, and those of a store
// that never flushed (its manifest names no WAL position yet, so the WAL is replayed from its start). A torn
// tail ends the replay and stays as it is.
import fs from 'node:fs';
import path from 'node:path';

import test from 'tape';

import { storageError } from '../../src/ground/errors.js';
import { Dir } from '../../src/index.js';
import { readManifest, writeManifest } from '../../src/lsm/manifest.js';
import type { Name } from '../../src/storage/names.js';
import { BACKENDS, eachBackend, freshStorage, LOCAL_MODES } from '../helpers.js';
import { WAL_DIR } from '../../src/lsm/file-names.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import { segmentName } from '../../src/wal/format.js';
import { entries, filesUnder, keysOf } from './lsm-helpers.js';

const key = (i: number): string => `k${String(i).padStart(5, '0')}`;
const tablesOf = async (dir: Dir): Promise<string[]> => (await dir.read()).map((entry) => String(entry.name)).filter((name) => name.endsWith('.sst'));

eachBackend('LSM read-only: a store that never flushed shows the writes of its WAL', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = await storage.createDirectory('db');
  const writer = await LsmStore.open(dir, { autoCompact: false });
  await writer.put('a', '1');
  await writer.write([
    { type: 'put', key: 'b', value: '2' },
    { type: 'del', key: 'a' },
    { type: 'put', key: 'c', value: '3' },
  ]);
  await writer.close();

  const reader = await LsmStore.open(dir, { readOnly: true });
  t.equal(await reader.get('a'), undefined, 'a deleted key stays deleted');
  t.equal((await reader.get('b'))?.toString(), '2', 'a written key is there');
  const keys: string[] = [];
  for await (const entry of reader.iterator({ values: false })) keys.push(entry.key.toString());
  t.same(keys, ['b', 'c'], 'an iterator sees the WAL writes');
  await reader.close();
});

eachBackend('LSM read-only: writes after a flush come from the WAL, older ones from SSTs', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = await storage.createDirectory('db');
  const writer = await LsmStore.open(dir, { autoCompact: false });
  await writer.put('flushed', 'old');
  await writer.flush();
  await writer.put('flushed', 'new');
  await writer.put('logged', 'yes');
  await writer.close();

  const reader = await LsmStore.open(dir, { readOnly: true });
  t.equal((await reader.get('flushed'))?.toString(), 'new', 'the WAL write overrides the SST one');
  t.equal((await reader.get('logged'))?.toString(), 'yes', 'a write only the WAL holds is there');
  await reader.close();
});

eachBackend(
  'LSM read-only: a torn tail (half a record at the end of the WAL) ends the replay: every whole record before it is seen, the log is not cut',
  async (t, backend) => {
    const { storage, root } = await freshStorage(t, backend);
    const dir = await storage.createDirectory('db');
    const segment = path.join(root, 'db', WAL_DIR, segmentName(1));
    const writer = await LsmStore.open(dir, { autoCompact: false });
    await writer.put('a', '1');
    await writer.write([
      { type: 'put', key: 'b', value: '2' },
      { type: 'put', key: 'c', value: '3' },
    ]);
    const whole = fs.statSync(segment).size;
    await writer.put('torn', 'x'.repeat(100));
    await writer.close();
    fs.truncateSync(segment, whole + Math.floor((fs.statSync(segment).size - whole) / 2));
    const before = filesUnder(path.join(root, 'db'));

    const reader = await LsmStore.open(dir, { readOnly: true });
    t.same(keysOf(await entries(reader.iterator())), ['a', 'b', 'c'], 'every whole record is there, the torn one is not');
    t.equal((await reader.get('c'))?.toString(), '3', 'the record just before the tear reads right');
    await reader.close();
    t.same(filesUnder(path.join(root, 'db')), before, 'the torn tail is left as it was');
  },
  LOCAL_MODES,
);

test('LSM read-only: an SST the writer deleted during the open (a compaction wrote a new manifest) makes the open read the store again; with the manifest unchanged, the error stands', async (t) => {
  const { storage } = await freshStorage(t, BACKENDS[0]!);
  const dir = await storage.createDirectory('db');
  const writer = await LsmStore.open(dir, { autoCompact: false });
  await writer.put('a', '1');
  await writer.flush();
  await writer.put('b', '2');
  await writer.close();

  const { openFile } = Dir.prototype;
  t.teardown(() => {
    Dir.prototype.openFile = openFile;
  });
  let failures = 0;
  let changeManifest = true;
  // the first SST opened is gone (ENOENT), as after a compaction the writer ran meanwhile, which wrote a new manifest
  Dir.prototype.openFile = async function (this: Dir, name: Name, ...rest: unknown[]) {
    if (typeof name === 'string' && name.endsWith('.sst') && failures === 0) {
      failures++;
      if (changeManifest) {
        const manifest = (await readManifest(dir))!;
        await writeManifest(dir, { ...manifest, nextFile: manifest.nextFile + 1 });
      }
      throw storageError('ENOENT', 'no such file (deleted by the writer)', { path: name });
    }
    return (openFile as (...args: unknown[]) => ReturnType<Dir['openFile']>).call(this, name, ...rest);
  } as Dir['openFile'];

  const reader = await LsmStore.open(dir, { readOnly: true });
  t.equal(failures, 1, 'the first open of an SST failed');
  t.deepEqual([(await reader.get('a'))?.toString(), (await reader.get('b'))?.toString()], ['1', '2'], 'the open read the store again: every key is there');
  await reader.close();

  failures = 0;
  changeManifest = false;
  const error = await LsmStore.open(dir, { readOnly: true }).then(
    async (opened) => {
      await opened.close();
      return undefined;
    },
    (e: unknown) => e as Error & { code?: string },
  );
  t.equal(error?.code, 'ENOENT', 'with the manifest unchanged, the missing SST is an error of the open');
});

test('LSM read-only: a writer that deletes SSTs faster than an open reads them does not starve the open (each attempt keeps the SSTs it opened)', async (t) => {
  const { storage } = await freshStorage(t, BACKENDS[0]!);
  const dir = await storage.createDirectory('db');
  const writer = await LsmStore.open(dir, { autoCompact: false });
  const TABLES = 12;
  for (let i = 1; i <= TABLES; i++) {
    await writer.put(key(i), `value ${i}`);
    await writer.flush();
  }
  await writer.close();
  t.equal((await readManifest(dir))!.levels.flat().length, TABLES, `${TABLES} SSTs`);

  const { openFile } = Dir.prototype;
  t.teardown(() => {
    Dir.prototype.openFile = openFile;
  });
  // the writer, as the open goes: after every third SST the reader opens, it drops the SST the reader would
  // open last (a new manifest without it, then the file deleted), as a compaction running beside it would
  let opens = 0;
  const dropped: string[] = [];
  Dir.prototype.openFile = async function (this: Dir, name: Name, ...rest: unknown[]) {
    const file = await (openFile as (...args: unknown[]) => ReturnType<Dir['openFile']>).call(this, name, ...rest);
    if (typeof name === 'string' && name.endsWith('.sst') && ++opens % 3 === 0) {
      const manifest = (await readManifest(dir))!;
      const last = manifest.levels.reduce((deepest, numbers, level) => (numbers.length > 0 ? level : deepest), 0);
      const gone = manifest.levels[last]!.at(-1)!;
      await writeManifest(dir, { ...manifest, levels: manifest.levels.map((numbers, level) => (level === last ? numbers.slice(0, -1) : numbers)) });
      const table = (await tablesOf(dir)).find((table) => Number.parseInt(table, 10) === gone)!;
      await dir.deleteFile(table);
      dropped.push(table);
    }
    return file;
  } as Dir['openFile'];

  const reader = await LsmStore.open(dir, { readOnly: true });
  Dir.prototype.openFile = openFile;
  const named = (await readManifest(dir))!.levels.flat().length;
  t.ok(dropped.length > 0 && named === TABLES - dropped.length, `the open ended on a manifest of ${named} SSTs, after the writer dropped ${dropped.length}`);
  t.ok(opens <= TABLES, `no SST was opened twice (${opens} opens)`);
  const found: number[] = [];
  for (let i = 1; i <= TABLES; i++) if ((await reader.get(key(i))) !== undefined) found.push(i);
  t.equal(found.length, named, 'the reader holds exactly the keys of the manifest it opened');
  await reader.close();
});

eachBackend(
  'LSM read-only beside its writer: reads are of the store as it was opened, after the writer compacted away every SST the reader opened',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = await storage.createDirectory('db');
    // small tables and levels: the rewrites below flush and compact many times
    const writer = await LsmStore.open(dir, { sync: 'none', memtableSize: 32 * 1024, tableFileSize: 32 * 1024, levelBaseBytes: 128 * 1024 });
    t.teardown(() => writer.close().catch(() => undefined));
    const value = (i: number, round: number) => `${round}:${i}:`.padEnd(300, 'v');
    const KEYS = 2000;
    for (let i = 0; i < KEYS; i++) await writer.put(key(i), value(i, 0));
    await writer.flush();
    await writer.del(key(0)); // in the WAL only
    const opened = await tablesOf(dir);
    // a block cache of one block: every read past the first goes to the tables' files
    const reader = await LsmStore.open(dir, { readOnly: true, blockCacheSize: 4096 });
    t.teardown(() => reader.close().catch(() => undefined));

    for (let round = 1; round <= 4; round++) for (let i = 0; i < KEYS; i++) await writer.put(key(i), value(i, round));
    await writer.flush();
    await writer.compactAll();
    const left = await tablesOf(dir);
    t.equal(
      opened.filter((name) => left.includes(name)).length,
      0,
      `every SST the reader opened (${opened.length}) is deleted by the writer's compactions (${left.length} now)`,
    );

    let wrong = 0;
    for (let i = 1; i < KEYS; i++) if ((await reader.get(key(i)))?.toString() !== value(i, 0)) wrong++;
    t.equal(wrong, 0, "every get answers the value the store had at the reader's open");
    t.equal(await reader.get(key(0)), undefined, 'the delete the WAL held still holds');
    const seen = await entries(reader.iterator());
    t.equal(seen.length, KEYS - 1, 'an iterator sees every key as at the open');
    t.ok(
      seen.every(([k, v], at) => k === key(at + 1) && v === value(at + 1, 0)),
      'with the values of the open',
    );
    t.equal((await writer.get(key(1)))?.toString(), value(1, 4), 'the writer reads its own writes');
  },
);
