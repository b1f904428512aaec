// The LSM store's operations and error paths on every backend: point reads and writes, versions, batches,
// reads as of a version, iterators (bounds, reverse, limit, seek, concurrent writes), binary keys, large
// values, bad input (refused, changing nothing), closed and read-only stores, reopen (WAL and SSTs), stats.
import { LsmStore } from '../../src/lsm/lsm-store.js';
import type { WriteOp } from '../../src/lsm/types.js';
import { eachBackend, rejection } from '../helpers.js';
import { entries, keysOf, lsmEnv, SMALL } from './lsm-helpers.js';

const MiB = 1024 * 1024;
const str = (value: Buffer | undefined): string | undefined => value?.toString();

eachBackend('put, get, del, has; every write is the next version', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open();
  t.equal(db.version, 0, 'a new store is at version 0');
  t.equal(await db.get('a'), undefined, 'an absent key is undefined');
  t.equal(await db.has('a'), false, 'and has() is false');
  t.equal(await db.put('a', '1'), 1, 'the first put is version 1');
  t.equal(await db.put('b', Buffer.from('2')), 2, 'the next is version 2');
  t.equal(await db.put(new Uint8Array([99]), new Uint8Array([51])), 3, 'Uint8Array key and value');
  t.equal(str(await db.get('a')), '1', 'get a');
  t.equal(str(await db.get(Buffer.from('b'))), '2', 'get b by a Buffer key');
  t.equal(str(await db.get('c')), '3', 'get c');
  t.equal(await db.has('b'), true, 'has b');
  const entry = await db.getEntry('b');
  t.deepEqual(
    entry && { key: entry.key.toString(), value: entry.value.toString(), version: entry.version },
    { key: 'b', value: '2', version: 2 },
    'getEntry: key, value, version',
  );
  t.equal(await db.del('b'), 4, 'a delete is version 4');
  t.equal(await db.get('b'), undefined, 'b is gone');
  t.equal(await db.has('b'), false, 'has b is false');
  t.equal(await db.getEntry('b'), undefined, 'getEntry of a deleted key is undefined');
  t.equal(await db.del('never'), 5, 'deleting an absent key is a version too');
  t.equal(await db.put('a', '1bis'), 6, 'an update is a new version');
  t.equal(str(await db.get('a')), '1bis', 'the update is read');
  t.equal(db.version, 6, 'store.version is the last');
  // concurrent writes: distinct consecutive versions
  const versions = await Promise.all(Array.from({ length: 50 }, (_, i) => db.put(`k${i}`, `v${i}`)));
  t.deepEqual(
    [...versions].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => 7 + i),
    '50 concurrent puts get versions 7..56, one each',
  );
  for (let i = 0; i < 50; i++) {
    const got = await db.getEntry(`k${i}`);
    if (got?.version !== versions[i] || got.value.toString() !== `v${i}`) t.fail(`k${i} has the version its put returned`);
  }
  // a value returned by get is a copy: changing it changes nothing stored
  const value = (await db.get('a'))!;
  value.fill(0);
  t.equal(str(await db.get('a')), '1bis', 'changing a returned value does not change the store');
  const input = Buffer.from('mutable');
  await db.put('m', input);
  input.fill(120);
  t.equal(str(await db.get('m')), 'mutable', 'changing a buffer after put does not change the store');
});

eachBackend('write(ops) is atomic with consecutive versions; get at a version before and after an update and a delete', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open();
  const v1 = await db.put('x', 'old');
  const last = await db.write([
    { type: 'put', key: 'x', value: 'new' },
    { type: 'put', key: 'y', value: 'y1' },
    { type: 'del', key: 'x' },
    { type: 'put', key: 'z', value: 'z1' },
  ]);
  t.equal(last, v1 + 4, 'write resolves with the version of its last op (ops get consecutive versions)');
  t.equal(str(await db.get('x', { version: v1 })), 'old', 'x at v1: old');
  t.equal(str(await db.get('x', { version: v1 + 1 })), 'new', 'x at v1+1: new');
  t.equal(await db.get('x', { version: v1 + 3 }), undefined, 'x at v1+3: deleted');
  t.equal(await db.get('y', { version: v1 + 1 }), undefined, 'y at v1+1: not yet');
  t.equal(str(await db.get('y', { version: v1 + 2 })), 'y1', 'y at v1+2');
  t.equal((await db.getEntry('z'))?.version, v1 + 4, 'z has the last version');
  t.equal(await db.get('x'), undefined, 'x now: deleted');
  t.equal(await db.get('x', { version: 0 }), undefined, 'x at version 0: absent');
  t.equal(await db.write([]), db.version, 'an empty write changes nothing and resolves with the current version');

  // the same after a flush (SSTs) and after a compaction with no snapshot... version reads still work after flush
  await db.flush();
  t.equal(str(await db.get('x', { version: v1 })), 'old', 'after flush: x at v1 is old');
  t.equal(str(await db.get('x', { version: v1 + 1 })), 'new', 'after flush: x at v1+1 is new');
  t.equal(await db.get('x', { version: v1 + 3 }), undefined, 'after flush: x at v1+3 deleted');

  // a batch is seen whole by concurrent readers: never half of it
  const seen = new Set<string>();
  let stop = false;
  const reader = (async () => {
    while (!stop) {
      const v = db.version;
      const [a, b] = await Promise.all([db.get('pa', { version: v }), db.get('pb', { version: v })]);
      seen.add(`${str(a)}/${str(b)}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  for (let i = 0; i < 200; i++) {
    await db.write([
      { type: 'put', key: 'pa', value: String(i) },
      { type: 'put', key: 'pb', value: String(i) },
    ]);
  }
  stop = true;
  await reader;
  const torn = [...seen].filter((pair) => pair !== 'undefined/undefined' && pair.split('/')[0] !== pair.split('/')[1]);
  t.deepEqual(torn, [], `readers never see half a batch (${seen.size} states seen)`);
});

eachBackend('iterators: forward, reverse, bounds, limit, keys/values false, over memtable and SSTs', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: false });
  const all = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`);
  // spread the keys over two levels, level 0 and the memtable, with deletes and updates in between
  for (const key of all.filter((_, i) => i % 3 === 0)) await db.put(key, `${key}-a`);
  await db.flush();
  await db.compactAll();
  for (const key of all.filter((_, i) => i % 3 === 1)) await db.put(key, `${key}-a`);
  await db.flush();
  for (const key of all.filter((_, i) => i % 3 === 2)) await db.put(key, `${key}-a`);
  await db.del('k05');
  await db.put('k06', 'k06-b');
  await db.del('k07');
  await db.flush();
  await db.del('k00');
  await db.put('k09', 'k09-c');
  const stats = db.stats();
  t.ok(
    stats.levels[0]!.files >= 1 && stats.levels.slice(1).some((l) => l.files > 0) && stats.memtableBytes > 0,
    'data in the memtable, level 0 and a deeper level',
  );

  const live = all.filter((k) => !['k00', 'k05', 'k07'].includes(k));
  const valueFor = (k: string) => (k === 'k06' ? 'k06-b' : k === 'k09' ? 'k09-c' : `${k}-a`);
  t.deepEqual(
    await entries(db.iterator()),
    live.map((k) => [k, valueFor(k)]),
    'forward: every live key in order with its newest value',
  );
  t.deepEqual(
    await entries(db.iterator({ reverse: true })),
    [...live].reverse().map((k) => [k, valueFor(k)]),
    'reverse',
  );

  const cases: Array<[string, Parameters<LsmStore['iterator']>[0], (k: string) => boolean]> = [
    ['gte k10', { gte: 'k10' }, (k) => k >= 'k10'],
    ['gt k10', { gt: 'k10' }, (k) => k > 'k10'],
    ['lt k10', { lt: 'k10' }, (k) => k < 'k10'],
    ['lte k10', { lte: 'k10' }, (k) => k <= 'k10'],
    ['gte k05 lt k20 (k05 deleted)', { gte: 'k05', lt: 'k20' }, (k) => k >= 'k05' && k < 'k20'],
    ['gt k05 lte k20', { gt: 'k05', lte: 'k20' }, (k) => k > 'k05' && k <= 'k20'],
    ['gt k051 lt k099 (bounds between keys)', { gt: 'k051', lt: 'k099' }, (k) => k > 'k051' && k < 'k099'],
    ['gte a lte z (bounds outside)', { gte: 'a', lte: 'z' }, () => true],
    ['gte z (above every key)', { gte: 'z' }, () => false],
    ['lt a (below every key)', { lt: 'a' }, () => false],
    ['gt k10 lt k10 (empty)', { gt: 'k10', lt: 'k10' }, () => false],
    ['gte k30 lte k10 (inverted)', { gte: 'k30', lte: 'k10' }, () => false],
    ['gte k10 lte k10 (one key)', { gte: 'k10', lte: 'k10' }, (k) => k === 'k10'],
  ];
  for (const [name, options, want] of cases) {
    const expected = live.filter(want);
    t.deepEqual(keysOf(await entries(db.iterator(options))), expected, `${name}: forward`);
    t.deepEqual(keysOf(await entries(db.iterator({ ...options, reverse: true }))), [...expected].reverse(), `${name}: reverse`);
    t.deepEqual(keysOf(await entries(db.iterator({ ...options, limit: 3 }))), expected.slice(0, 3), `${name}: limit 3`);
    t.deepEqual(keysOf(await entries(db.iterator({ ...options, limit: 3, reverse: true }))), [...expected].reverse().slice(0, 3), `${name}: reverse limit 3`);
  }
  t.deepEqual(await entries(db.iterator({ limit: 0 })), [], 'limit 0: nothing');
  t.equal((await entries(db.iterator({ limit: -1 }))).length, live.length, 'limit -1: everything');
  t.equal((await entries(db.iterator({ limit: Infinity }))).length, live.length, 'limit Infinity: everything');
  // a tighter inclusive bound beside a looser exclusive one: the tighter wins
  t.deepEqual(
    keysOf(await entries(db.iterator({ gt: 'k10', gte: 'k20', lt: 'k30', lte: 'k25' }))),
    live.filter((k) => k >= 'k20' && k <= 'k25'),
    'gt+gte and lt+lte: the tighter bound of each side wins',
  );

  const noValues = await entries(db.iterator({ values: false, limit: 2 }));
  t.deepEqual(
    noValues,
    [
      [live[0]!, ''],
      [live[1]!, ''],
    ],
    'values: false gives empty values',
  );
  const noKeys = await entries(db.iterator({ keys: false, limit: 2 }));
  t.deepEqual(
    noKeys,
    [
      ['', valueFor(live[0]!)],
      ['', valueFor(live[1]!)],
    ],
    'keys: false gives empty keys',
  );
  const it = db.iterator({ gte: 'k09', limit: 1 });
  const first = await it.next();
  t.equal(first?.version, 45, 'an entry carries its version'); // k09-c is the 45th write
  await it.close();

  // for await closes the iterator; nextv
  const seen: string[] = [];
  for await (const entry of db.iterator({ lt: 'k04' })) seen.push(entry.key.toString());
  t.deepEqual(
    seen,
    live.filter((k) => k < 'k04'),
    'for await over an iterator',
  );
  const iv = db.iterator();
  t.deepEqual(
    (await iv.nextv(5)).map((e) => e.key.toString()),
    live.slice(0, 5),
    'nextv(5)',
  );
  t.deepEqual(
    (await iv.nextv(1000)).map((e) => e.key.toString()),
    live.slice(5),
    'nextv: the rest',
  );
  t.deepEqual(await iv.nextv(3), [], 'nextv at the end: empty');
  await iv.close();
  await rejection(t, iv.next(), 'EBADF', 'next on a closed iterator');
  t.equal(db.stats().snapshots, 0, 'no snapshot left open');
});

eachBackend('iterator seek: forward and reverse, inside and outside the range', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: false });
  const keys = ['b', 'd', 'f', 'h', 'j', 'l'];
  for (const key of keys.slice(0, 3)) await db.put(key, key);
  await db.flush();
  for (const key of keys.slice(3)) await db.put(key, key);
  const next = async (it: ReturnType<LsmStore['iterator']>) => (await it.next())?.key.toString();

  const it = db.iterator({ gte: 'c', lt: 'k' });
  t.equal(await next(it), 'd', 'first in range');
  it.seek('g');
  t.equal(await next(it), 'h', 'seek g (between keys) -> h');
  it.seek('d');
  t.equal(await next(it), 'd', 'seek back to d');
  t.equal(await next(it), 'f', 'then on to f');
  it.seek('a');
  t.equal(await next(it), 'd', 'seek below the range -> the first in range');
  it.seek('z');
  t.equal(await next(it), undefined, 'seek above the range -> end');
  it.seek('f');
  t.equal(await next(it), 'f', 'seek after reaching the end works again');
  await it.close();
  t.throws(() => it.seek('a'), /closed/, 'seek on a closed iterator throws');

  const rev = db.iterator({ gt: 'c', lte: 'j', reverse: true });
  t.equal(await next(rev), 'j', 'reverse: first is j');
  rev.seek('g');
  t.equal(await next(rev), 'f', 'reverse seek g -> f');
  t.equal(await next(rev), 'd', 'then d');
  rev.seek('z');
  t.equal(await next(rev), 'j', 'reverse seek above the range -> the last in range');
  rev.seek('h');
  t.equal(await next(rev), 'h', 'reverse seek onto a key -> that key');
  rev.seek('a');
  t.equal(await next(rev), undefined, 'reverse seek below the range -> end');
  await rev.close();

  const whole = db.iterator();
  whole.seek('e');
  t.equal(await next(whole), 'f', 'seek before the first next');
  await whole.close();
});

eachBackend('an iterator sees its version only while writes, flushes and deletes go on', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: true });
  for (let i = 0; i < 100; i += 2) await db.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
  const expected = Array.from({ length: 50 }, (_, i) => `k${String(i * 2).padStart(3, '0')}`);
  const it = db.iterator();
  const rev = db.iterator({ reverse: true });
  const got: string[] = [];
  const gotRev: string[] = [];
  for (let i = 0; i < 50; i++) {
    got.push((await it.next())!.key.toString());
    gotRev.push((await rev.next())!.key.toString());
    // writes in between: new keys, updates, deletes, and enough volume to flush and compact
    await db.put(`k${String(i * 2 + 1).padStart(3, '0')}`, 'new');
    await db.put(`k${String(i * 2).padStart(3, '0')}`, 'updated');
    await db.del(`k${String(98 - i * 2).padStart(3, '0')}`);
    await db.put(`filler${i}`, Buffer.alloc(300, i));
  }
  t.equal(await it.next(), undefined, 'forward: the end after its 50 keys');
  t.equal(await rev.next(), undefined, 'reverse: the end after its 50 keys');
  t.deepEqual(got, expected, 'the forward iterator saw exactly the keys of its version');
  t.deepEqual(gotRev, [...expected].reverse(), 'the reverse iterator too');
  t.ok(db.stats().flushBytes > 0, 'flushes happened meanwhile');
  await it.close();
  await rev.close();
  const vals = await entries(db.iterator({ gte: 'k', lt: 'k010' }));
  t.deepEqual(
    vals,
    ['k001', 'k003', 'k005', 'k007', 'k009'].map((k) => [k, 'new']),
    'a new iterator sees the writes (the even keys were all deleted)',
  );
});

eachBackend('binary keys (0x00, 0xff), empty key and empty value, 1 MiB values', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: false });
  const keys = [
    Buffer.from([0x00]),
    Buffer.from([0x00, 0x00]),
    Buffer.from([0x00, 0xff]),
    Buffer.from([0x01]),
    Buffer.from([0x7f, 0x80]),
    Buffer.from([0xc3, 0xa9]), // UTF-8 é: bytewise order, not code points
    Buffer.from([0xfe, 0xff, 0x00]),
    Buffer.from([0xff]),
    Buffer.from([0xff, 0xff]),
  ];
  const shuffled = [...keys].reverse();
  for (const [i, key] of shuffled.entries()) await db.put(key, i % 2 === 0 ? Buffer.alloc(0) : Buffer.from([0xff, 0x00, i]));
  await db.put(Buffer.alloc(0), 'the empty key');
  const check = async (when: string) => {
    const list = await entries(db.iterator());
    t.deepEqual(
      list.map(([k]) => Buffer.from(k, 'latin1').toString('hex')),
      ['', ...keys.map((k) => k.toString('hex'))],
      `${when}: keys in bytewise order`,
    );
    for (const [i, key] of shuffled.entries()) {
      const value = await db.get(key);
      const want = i % 2 === 0 ? Buffer.alloc(0) : Buffer.from([0xff, 0x00, i]);
      if (!value?.equals(want)) t.fail(`${when}: ${key.toString('hex')} has its value`);
    }
    t.equal(await db.has(Buffer.from([0x00])), true, `${when}: an empty value is present (has)`);
    t.equal((await db.get(Buffer.from([0x00])))?.length, 0, `${when}: and reads as an empty buffer`);
    t.equal(str(await db.get(Buffer.alloc(0))), 'the empty key', `${when}: the empty key`);
    t.equal(await db.get(Buffer.from([0x00, 0x01])), undefined, `${when}: a key between others is absent`);
    t.deepEqual(
      keysOf(await entries(db.iterator({ gt: Buffer.from([0x00]), lt: Buffer.from([0x01]) }))).map((k) => Buffer.from(k, 'latin1').toString('hex')),
      ['0000', '00ff'],
      `${when}: a range between binary bounds`,
    );
    t.deepEqual(
      keysOf(await entries(db.iterator({ gte: Buffer.from([0xff]), reverse: true }))).map((k) => Buffer.from(k, 'latin1').toString('hex')),
      ['ffff', 'ff'],
      `${when}: reverse from 0xff`,
    );
  };
  await check('memtable');
  await db.flush();
  await check('SST');
  await db.compactAll();
  await check('compacted');

  const big = Buffer.alloc(MiB);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  await db.put('big', big);
  await db.put('big2', Buffer.alloc(MiB + 17, 7));
  t.ok((await db.get('big'))?.equals(big), '1 MiB value from the memtable');
  await db.flush();
  t.ok((await db.get('big'))?.equals(big), '1 MiB value from an SST');
  t.equal((await db.get('big2'))?.length, MiB + 17, 'a second large value');
  await db.close();
  const again = await env.open({ ...SMALL, autoCompact: false });
  t.ok((await again.get('big'))?.equals(big), '1 MiB value after reopen');
  t.equal(str(await again.get(Buffer.alloc(0))), 'the empty key', 'the empty key after reopen');
});

eachBackend('bad input is refused and changes nothing; closed store EBADF; readOnly EROFS', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open();
  await db.put('a', '1');
  const bad = async (promise: Promise<unknown>, code: string, what: string) => {
    await rejection(t, promise, code, what);
  };
  await bad(db.put(undefined as unknown as string, 'x'), 'EINVAL', 'put undefined key');
  await bad(db.put(null as unknown as string, 'x'), 'EINVAL', 'put null key');
  await bad(db.put(42 as unknown as string, 'x'), 'EINVAL', 'put number key');
  await bad(db.put({} as unknown as string, 'x'), 'EINVAL', 'put object key');
  await bad(db.put('k', undefined as unknown as string), 'EINVAL', 'put undefined value');
  await bad(db.put('k', 7 as unknown as string), 'EINVAL', 'put number value');
  await bad(db.del(null as unknown as string), 'EINVAL', 'del null key');
  await bad(db.write([{ type: 'put', key: 'ok', value: 'ok' }, { type: 'nope', key: 'x' } as unknown as WriteOp]), 'EINVAL', 'a bad op type (after a good op)');
  await bad(db.write([{ type: 'put', key: 'ok', value: 'ok' }, null as unknown as WriteOp]), 'EINVAL', 'a null op');
  await bad(db.write([{ type: 'put', key: 'ok', value: 'ok' }, { type: 'put', key: 'x' } as unknown as WriteOp]), 'EINVAL', 'a put without a value');
  await bad(db.write('ops' as unknown as WriteOp[]), 'EINVAL', 'ops not an array');
  await bad(db.get('a', { version: -1 }), 'EINVAL', 'get at version -1');
  await bad(db.get('a', { version: 1.5 }), 'EINVAL', 'get at version 1.5');
  await bad(db.get('a', { version: NaN }), 'EINVAL', 'get at version NaN');
  await bad(db.get(null as unknown as string), 'EINVAL', 'get null key');
  await bad(db.has(5 as unknown as string), 'EINVAL', 'has number key');
  t.throws(() => db.iterator({ version: -3 }), /non-negative/, 'iterator at version -3 throws');
  t.throws(() => db.iterator({ gt: 5 as unknown as string }), /must be a string/, 'iterator with a number bound throws');
  t.throws(() => db.iterator({ limit: 'x' as unknown as number }), /limit/, 'iterator with a string limit throws');
  t.equal(db.version, 1, 'nothing was written: the version is still 1');
  t.equal(await db.get('ok'), undefined, 'no op of a refused batch was applied');
  t.equal(db.stats().snapshots, 0, 'no snapshot left');

  // bad options
  await bad(LsmStore.open(env.dir, { memtableSize: 0 }), 'EINVAL', 'memtableSize 0');
  await bad(LsmStore.open(env.dir, { sync: 'sometimes' as 'always' }), 'EINVAL', "sync 'sometimes'");
  await bad(LsmStore.open(env.dir, { bogus: 1 } as never), 'EINVAL', 'an unknown option');
  await bad(LsmStore.open(env.dir, { blockSize: '4k' as unknown as number }), 'EINVAL', 'a string blockSize');
  const empty = await env.mkdir('empty');
  await bad(LsmStore.open(empty, { createIfMissing: false }), 'ENOENT', 'createIfMissing false on an empty directory');
  await bad(LsmStore.open(empty, { readOnly: true }), 'ENOENT', 'readOnly on an empty directory');
  t.deepEqual(await empty.read(), [], 'refused opens leave the directory empty');

  await db.close();
  await db.close(); // twice is fine
  await bad(db.put('a', '2'), 'EBADF', 'put on a closed store');
  await bad(db.del('a'), 'EBADF', 'del on a closed store');
  await bad(db.write([{ type: 'put', key: 'a', value: '2' }]), 'EBADF', 'write on a closed store');
  await bad(db.get('a'), 'EBADF', 'get on a closed store');
  await bad(db.flush(), 'EBADF', 'flush on a closed store');
  await bad(db.compact(), 'EBADF', 'compact on a closed store');
  await bad(db.sync(), 'EBADF', 'sync on a closed store');
  t.throws(() => db.iterator(), /closed/, 'iterator on a closed store throws');
  t.throws(() => db.snapshot(), /closed/, 'snapshot on a closed store throws');

  await bad(LsmStore.open(env.dir, { errorIfExists: true }), 'EEXIST', 'errorIfExists on an existing store');
  const ro = await env.open({ readOnly: true });
  t.equal(str(await ro.get('a')), '1', 'readOnly reads (from the WAL)');
  await bad(ro.put('a', '2'), 'EROFS', 'put on a readOnly store');
  await bad(ro.del('a'), 'EROFS', 'del on a readOnly store');
  await bad(ro.write([{ type: 'del', key: 'a' }]), 'EROFS', 'write on a readOnly store');
  await bad(ro.flush(), 'EROFS', 'flush on a readOnly store');
  await bad(ro.compactAll(), 'EROFS', 'compactAll on a readOnly store');
  t.equal(str(await ro.get('a')), '1', 'still 1');
  await ro.close();
  const rw = await env.open();
  t.equal(str(await rw.get('a')), '1', 'reopened for writing: a is 1');
  t.equal(rw.version, 1, 'at version 1');
});

eachBackend('reopen keeps everything: after close (WAL replay), after flush (SSTs), after compaction, versions go on', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const options = { ...SMALL, autoCompact: false };
  let db = await env.open(options);
  const model = new Map<string, string>();
  let version = 0;
  const put = async (key: string, value: string) => {
    version = await db.put(key, value);
    model.set(key, value);
  };
  const check = async (when: string) => {
    t.equal(db.version, version, `${when}: the version is ${version}`);
    t.deepEqual(
      await entries(db.iterator()),
      [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      `${when}: the same content`,
    );
  };
  for (let i = 0; i < 30; i++) await put(`a${i}`, `x${i}`);
  const before = version;
  await put('a3', 'changed');
  await db.close();
  db = await env.open(options);
  await check('reopen after close (WAL only)');
  t.equal(str(await db.get('a3', { version: before })), 'x3', 'an old version is readable after replay');

  for (let i = 0; i < 100; i++) await put(`b${i}`, 'y'.repeat(i));
  await db.flush();
  t.ok(db.stats().levels[0]!.files > 0, 'flushed to level 0');
  await db.close();
  db = await env.open(options);
  await check('reopen after flush');

  await db.del('a0');
  model.delete('a0');
  version = db.version;
  await db.compactAll();
  await db.close();
  db = await env.open(options);
  await check('reopen after compactAll');
  await put('after', 'reopen');
  t.equal(version, db.version, 'a new write after reopen gets the next version');
});

eachBackend('versions never go back after deletes are compacted away and the store reopens', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const options = { ...SMALL, autoCompact: false };
  let db = await env.open(options);
  await db.put('a', '1');
  await db.put('b', '2');
  const v = await db.del('b');
  await db.compactAll(); // drops b's versions: the tombstone is at the bottom
  await db.close();
  db = await env.open(options);
  t.equal(db.version, v, `the version after reopen is still ${v}`);
  const next = await db.put('c', '3');
  t.equal(next, v + 1, 'the next write gets the next version, not an old one');
  t.equal(str(await db.get('c', { version: next })), '3', 'and reads at its version work');

  // everything deleted and compacted: the store is empty but its version stays
  for (const key of ['a', 'c']) await db.del(key);
  const last = db.version;
  await db.compactAll();
  await db.close();
  db = await env.open(options);
  t.equal(db.version, last, 'an emptied store keeps its version after reopen');
  t.deepEqual(await entries(db.iterator()), [], 'and is empty');
});

eachBackend('stats: versions, memtable, levels, bytes, compactions, snapshots', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: false });
  let stats = db.stats();
  t.equal(stats.version, 0, 'version 0');
  t.equal(stats.memtableBytes, 0, 'an empty memtable');
  t.equal(stats.levels.length, 7, '7 levels');
  t.ok(
    stats.levels.every((l) => l.files === 0 && l.bytes === 0),
    'no files',
  );
  for (let i = 0; i < 20; i++) await db.put(`k${i}`, 'v'.repeat(100));
  stats = db.stats();
  t.equal(stats.version, 20, 'version 20');
  t.ok(stats.memtableBytes >= 20 * 100, 'the memtable counts its bytes');
  t.ok(stats.userBytes >= 20 * 100, 'user bytes counted');
  await db.flush();
  stats = db.stats();
  t.equal(stats.memtableBytes, 0, 'flushed: an empty memtable');
  t.equal(stats.immutableMemtables, 0, 'no frozen memtable left');
  t.ok(stats.levels[0]!.files >= 1 && stats.levels[0]!.bytes > 0, 'files in level 0');
  t.ok(stats.flushBytes >= stats.levels[0]!.bytes, 'flush bytes counted');
  await db.compactAll();
  stats = db.stats();
  t.equal(stats.levels[0]!.files, 0, 'compactAll empties level 0');
  t.ok(stats.compactions >= 1 && stats.compactionBytes > 0, 'a compaction counted');
  const snap = db.snapshot();
  t.equal(db.stats().snapshots, 1, 'one snapshot');
  snap.release();
  snap.release();
  t.equal(db.stats().snapshots, 0, 'released (twice is fine)');
  await db.get('k1');
  stats = db.stats();
  // a block read through the SST's mapping is not cached (mmapReads); one read by preadv2 or the ring is
  t.ok(stats.mappedBlockReads > 0 || stats.blockCacheBytes > 0, 'the block read was counted: read through the mapping, or cached');
});

eachBackend('per-write sync, store sync, sync always', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ sync: 'always' });
  t.equal(await db.put('a', '1'), 1, 'a put with sync always');
  await db.close();
  const db2 = await env.open();
  t.equal(await db2.put('b', '2', { sync: true }), 2, 'a put with { sync: true }');
  await db2.sync();
  t.equal(str(await db2.get('a')), '1', 'a survived');
});

eachBackend('reads answered from memory in a loop let the event loop run now and then', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const store = await env.open();
  for (let i = 0; i < 1000; i++) await store.put(`k${String(i).padStart(4, '0')}`, `v${i}`);
  // whether the event loop went round (timers, I/O callbacks, then setImmediate's) during the loop
  const readsUntilTurn = async (read: () => Promise<unknown>, most: number): Promise<number> => {
    let turned = false;
    const immediate = setImmediate(() => (turned = true));
    let reads = 0;
    while (!turned && reads < most) {
      await read();
      reads++;
    }
    clearImmediate(immediate);
    return turned ? reads : -1;
  };
  const gets = await readsUntilTurn(() => store.get('k0500'), 100_000);
  t.ok(gets > 0 && gets <= 1_000, `the event loop runs during a loop of cached gets (after ${gets}; -1: never, in 100,000)`);
  const iterator = store.iterator();
  const nexts = await readsUntilTurn(() => iterator.next(), 1000);
  t.ok(nexts > 0 && nexts < 1000, `and during a loop of next() over the memtable (after ${nexts}; -1: never, in 1,000)`);
  await iterator.close();
  t.equal((await entries(store.iterator())).length, 1000, 'the reads still see everything');
});
