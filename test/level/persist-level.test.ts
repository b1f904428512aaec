// PersistLevel beyond abstract-level's suite: what is on disk survives a reopen, level-style use with the
// utf8 and json encodings, the open errors (missing, existing, open twice) and the Level codes the store's
// errors map to, clear() as of its start, and explicit snapshots across flushes and compaction.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'tape';

import { PersistLevel, type PersistLevelOptions } from '../../src/level/persist-level.js';
import { type LevelError, toLevelError } from '../../src/level/errors.js';
import { storageError } from '../../src/ground/errors.js';

type Options = PersistLevelOptions<string, string>;

/** A location in a fresh temporary directory; the databases opened on it are closed and the directory removed when the test ends. */
function fixture(t: test.Test): { location: string; db: (options?: Options) => PersistLevel } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persist-level-'));
  const location = path.join(dir, 'db');
  const opened: PersistLevel[] = [];
  t.teardown(async () => {
    for (const db of opened) await db.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });
  return {
    location,
    db: (options: Options = {}) => {
      const db = new PersistLevel(location, options);
      opened.push(db);
      return db;
    },
  };
}

/** What `promise` rejects with (a failed assertion when it resolves). */
async function failure(t: test.Test, promise: Promise<unknown>): Promise<{ code?: string; cause?: { code?: string; message?: string } }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; cause?: { code?: string; message?: string } };
  }
  t.fail('expected a rejection');
  return {};
}

const TINY: Options['lsm'] = { memtableSize: 256, blockSize: 128, l0CompactionTrigger: 2 };

for (const [name, lsm] of [
  ['in the WAL', {}],
  ['in SSTs', TINY],
] as const) {
  test(`data survives close and reopen (${name})`, async (t) => {
    const { db } = fixture(t);
    const first = db({ lsm });
    const batch = Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `key-${String(i).padStart(3, '0')}`, value: `value-${i}` }));
    await first.batch(batch);
    await first.del('key-007');
    await first.close();

    // the same instance reopens, and so does a new one on the location
    await first.open();
    t.equal(await first.get('key-199'), 'value-199', 'the same instance reads after reopening');
    await first.close();
    const second = db({ lsm });
    t.equal(await second.get('key-000'), 'value-0', 'a new instance reads the first key');
    t.equal(await second.get('key-007'), undefined, 'the deleted key stays deleted');
    const keys = await second.keys().all();
    t.equal(keys.length, 199, 'every other key is there');
    t.same(keys.slice(0, 8), ['key-000', 'key-001', 'key-002', 'key-003', 'key-004', 'key-005', 'key-006', 'key-008'], 'in order');
    if (name === 'in SSTs')
      t.ok(
        second.store.stats().levels.some((level) => level.files > 0),
        'the data was flushed to SSTs',
      );
  });
}

test('level-style use: utf8 and json encodings, iterators, sublevels', async (t) => {
  const { db: open } = fixture(t);
  const db = open({ valueEncoding: 'json' });
  await db.put('alice', { age: 31, tags: ['admin'] } as unknown as string);
  await db.put('bob', { age: 27, tags: [] } as unknown as string);
  await db.put('carol', { age: 45, tags: ['ops'] } as unknown as string);
  t.same(await db.get('alice'), { age: 31, tags: ['admin'] }, 'a json value comes back as an object');
  t.equal(await db.get('alice', { valueEncoding: 'utf8' }), '{"age":31,"tags":["admin"]}', 'and as its utf8 text');

  const entries: Array<[string, unknown]> = [];
  for await (const entry of db.iterator({ gt: 'alice', reverse: true })) entries.push(entry);
  t.same(
    entries,
    [
      ['carol', { age: 45, tags: ['ops'] }],
      ['bob', { age: 27, tags: [] }],
    ],
    'for await over a reverse range',
  );
  t.same(
    await db.values({ lte: 'bob' }).all(),
    [
      { age: 31, tags: ['admin'] },
      { age: 27, tags: [] },
    ],
    'values() of a range',
  );

  const users = db.sublevel<string, { age: number }>('users', { valueEncoding: 'json' });
  await users.batch([
    { type: 'put', key: 'dave', value: { age: 52 } },
    { type: 'put', key: 'erin', value: { age: 19 } },
  ]);
  t.same(await users.keys().all(), ['dave', 'erin'], 'a sublevel sees its own keys');
  t.same(await users.getMany(['erin', 'nobody']), [{ age: 19 }, undefined], 'getMany in a sublevel');
  t.same(await db.keys({ keyEncoding: 'utf8' }).all(), ['!users!dave', '!users!erin', 'alice', 'bob', 'carol'], 'the parent sees them prefixed, in byte order');

  const it = db.keys();
  it.seek('b');
  t.equal(await it.next(), 'bob', 'seek lands on the first key at or after the target');
  await it.close();

  await db.clear({ gte: 'b', lt: 'c' });
  t.same(await db.keys({ gte: 'a' }).all(), ['alice', 'carol'], 'clear() of a range');
  t.ok(await db.has('carol'), 'has()');
  t.same(await db.hasMany(['bob', 'carol']), [false, true], 'hasMany()');
});

test('open errors: a missing database, an existing one, one open twice in this process', async (t) => {
  const { db, location } = fixture(t);
  let error = await failure(t, db({ createIfMissing: false }).open());
  t.equal(error.code, 'LEVEL_DATABASE_NOT_OPEN', 'createIfMissing: false on a missing location');
  t.equal(error.cause?.code, 'ENOENT', 'caused by ENOENT');
  t.notOk(fs.existsSync(location), 'nothing was created');
  error = await failure(t, db({ lsm: { readOnly: true } }).open());
  t.equal(error.cause?.code, 'ENOENT', 'readOnly on a missing location');
  t.notOk(fs.existsSync(location), 'creates nothing either');

  fs.mkdirSync(location);
  error = await failure(t, db({ createIfMissing: false }).open());
  t.equal(error.cause?.code, 'ENOENT', 'an empty directory holds no database either');

  const first = db();
  await first.open();
  error = await failure(t, db().open());
  t.equal(error.code, 'LEVEL_DATABASE_NOT_OPEN', 'a second handle on an open location does not open');
  t.equal(error.cause?.code, 'LEVEL_LOCKED', 'caused by LEVEL_LOCKED');
  await first.close();

  error = await failure(t, db({ errorIfExists: true }).open());
  t.equal(error.cause?.code, 'EEXIST', 'errorIfExists on an existing database');
  t.match(error.cause?.message ?? '', /already exists/, 'says so');

  const again = db();
  await again.open();
  t.equal(again.status, 'open', 'once closed, the location opens again');
});

test("the store's errors carry Level codes", async (t) => {
  const { db } = fixture(t);
  const writer = db();
  await writer.put('k', 'v');
  await writer.close();

  const reader = db({ lsm: { readOnly: true } });
  t.equal(await reader.get('k'), 'v', 'a read-only database reads');
  const error = await failure(t, reader.put('k', 'w'));
  t.equal(error.code, 'LEVEL_READONLY', 'a write to a read-only database is LEVEL_READONLY');
  t.equal(error.cause?.code, 'EROFS', 'caused by EROFS');

  const corrupt = toLevelError(storageError('EBADMSG', 'a block checksum does not match')) as LevelError;
  t.equal(corrupt.code, 'LEVEL_CORRUPTION', 'EBADMSG is LEVEL_CORRUPTION');
  t.equal((toLevelError(storageError('ENOSPC', 'write')) as LevelError).code, 'LEVEL_IO_ERROR', 'ENOSPC is LEVEL_IO_ERROR');
  const invalid = storageError('EINVAL', 'a misuse');
  t.equal(toLevelError(invalid), invalid, 'EINVAL stays a StorageError');
});

test('clear() deletes the keys the range holds when it is called, in several writes', async (t) => {
  const { db: open } = fixture(t);
  const db = open();
  await db.batch(Array.from({ length: 2500 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(4, '0')}`, value: 'x' })));
  await db.put('l', 'outside the range');
  const cleared = db.clear({ gte: 'k0000', lt: 'k9' });
  const written = db.put('k0500+', 'written after clear() was called');
  await Promise.all([cleared, written]);
  t.same(await db.keys().all(), ['k0500+', 'l'], 'every key of the range is gone but the one written after clear() was called');
  t.equal(await db.get('k0500+'), 'written after clear() was called', 'with its value');
});

test('an explicit snapshot reads its version across overwrites, flushes and compaction', async (t) => {
  const { db: open } = fixture(t);
  const db = open({ lsm: { ...TINY, autoCompact: false } });
  const keys = Array.from({ length: 100 }, (_, i) => `key-${String(i).padStart(3, '0')}`);
  await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'old' })));
  const snapshot = db.snapshot();
  await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'new' })));
  await db.del(keys[0]!);
  await db.store.compactAll();

  t.equal(await db.get(keys[0]!, { snapshot }), 'old', 'a key deleted since reads its old value');
  t.same(await db.getMany([keys[1]!, keys[99]!], { snapshot }), ['old', 'old'], 'getMany reads as of the snapshot');
  t.same(new Set(await db.values({ snapshot }).all()), new Set(['old']), 'an iterator reads as of the snapshot');
  t.equal((await db.keys({ snapshot }).all()).length, 100, 'with every key');
  t.equal(await db.get(keys[1]!), 'new', 'reads without it see the newest');
  t.equal(await db.get(keys[0]!), undefined, 'and the delete');
  await snapshot.close();
  t.equal(db.store.stats().snapshots, 0, 'closing it releases the LSM snapshot');
});
