// LSM store: versions stay unique across reopen, reads of unwritten versions are refused, one process
// opens a store at a time, and sequential writes move down the levels without being rewritten.
import test from 'tape';

import { LsmStore, openStorage, type Storage } from '../../src/index.js';
import { rejection, tempDir } from '../helpers.js';

async function storageFor(t: test.Test): Promise<Storage> {
  const storage = await openStorage(tempDir(t), { config: { logLevel: 'warn' } });
  t.teardown(() => storage.close());
  return storage;
}

test('a version is never given twice, even after compaction dropped the newest writes', async (t) => {
  const storage = await storageFor(t);
  const dir = await storage.createDirectory('db');
  let db = await LsmStore.open(dir);
  await db.put('a', '1');
  await db.put('b', '2');
  const last = await db.del('b');
  await db.compactAll(); // the delete of 'b' is at the bottom: dropped with the value it hid
  t.equal(
    db.stats().levels.reduce((n, level) => n + level.files, 0),
    1,
    'one SST left',
  );
  await db.close();
  db = await LsmStore.open(dir);
  t.equal(db.version, last, 'the reopened store is at the last version given');
  t.ok((await db.put('c', '3')) > last, 'the next write gets a newer version');
  await db.close();
});

test('a read as of a version not yet written is EINVAL; a negative one too', async (t) => {
  const storage = await storageFor(t);
  const db = await LsmStore.open(await storage.createDirectory('db'));
  t.teardown(() => db.close());
  const v = await db.put('k', 'v');
  t.equal((await db.get('k', { version: v }))?.toString(), 'v', 'the latest version reads');
  await rejection(t, db.get('k', { version: v + 1 }), 'EINVAL', 'a version after the latest');
  await rejection(t, db.get('k', { version: -1 }), 'EINVAL', 'a negative version');
  t.throws(() => db.iterator({ version: v + 5 }), /EINVAL/, 'an iterator as of a future version');
  await db.close(); // before the storage (its teardown runs first): the write is not fsynced yet
});

test('one process at a time: a second open is EBUSY until the first closes', async (t) => {
  const storage = await storageFor(t);
  const dir = await storage.createDirectory('db');
  const first = await LsmStore.open(dir);
  const error = await rejection(t, LsmStore.open(dir), 'EBUSY', 'opening it again');
  t.match(error?.message ?? '', /open in this process already/, 'the message says where it is open');
  await first.put('k', 'v');
  await first.close();
  const second = await LsmStore.open(dir);
  t.equal((await second.get('k'))?.toString(), 'v', 'opens once the first closed');
  await second.close();
  const readOnly = await LsmStore.open(dir, { readOnly: true });
  const writer = await LsmStore.open(dir);
  t.pass('a read-only open takes no lock');
  await Promise.all([readOnly.close(), writer.close()]);
});

test('sequential keys move down the levels without compaction rewriting them', async (t) => {
  const storage = await storageFor(t);
  const db = await LsmStore.open(await storage.createDirectory('db'), { memtableSize: 32 * 1024, tableFileSize: 32 * 1024, levelBaseBytes: 128 * 1024 });
  t.teardown(() => db.close());
  const value = Buffer.alloc(50, 1);
  for (let i = 0; i < 20000; i += 100) {
    await db.write(Array.from({ length: 100 }, (_, j) => ({ type: 'put' as const, key: `k${String(i + j).padStart(8, '0')}`, value })));
  }
  await db.flush();
  await db.compact();
  const stats = db.stats();
  t.ok(
    stats.levels.slice(1).some((level) => level.files > 0),
    'files reached deeper levels',
  );
  t.equal(stats.compactionBytes, 0, 'by moves only: no byte rewritten');
  let n = 0;
  for await (const entry of db.iterator()) {
    if (entry.key.toString() !== `k${String(n).padStart(8, '0')}`) break;
    n++;
  }
  t.equal(n, 20000, 'every key there, in order');
  await db.close(); // before the storage (its teardown runs first)
});
