// MVCC: snapshots read one version while writes, flushes and compactions go on; compaction keeps what open
// snapshots need and drops the rest once they are released (older reads are ESTALE, never wrong);
// checkpoints open read-only with the content of their moment.
import { WAL_DIR } from '../../src/lsm/file-names.js';
import type { Snapshot } from '../../src/lsm/lsm-store.js';
import { eachBackend, rejection } from '../helpers.js';
import { entries, levelsSorted, lsmEnv, SMALL } from './lsm-helpers.js';

const str = (value: Buffer | undefined): string | undefined => value?.toString();
const key = (i: number): string => `key${String(i).padStart(4, '0')}`;

eachBackend('snapshots stay consistent while writes, flushes and compactions go on', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: true });
  for (let i = 0; i < 200; i++) await db.put(key(i), `gen0-${i}`);
  const snaps: Array<{ snap: Snapshot; gen: number; version: number }> = [];
  snaps.push({ snap: db.snapshot(), gen: 0, version: db.version });
  for (let gen = 1; gen <= 5; gen++) {
    // each generation rewrites every key and deletes some
    for (let i = 0; i < 200; i++) {
      if (i % 7 === gen) await db.del(key(i));
      else await db.put(key(i), `gen${gen}-${i}`.padEnd(60, '.'));
    }
    snaps.push({ snap: db.snapshot(), gen, version: db.version });
    if (gen === 3) await db.flush();
  }
  await db.compact();
  const stats = db.stats();
  t.ok(stats.compactions > 0, `compactions ran meanwhile (${stats.compactions})`);
  t.equal(stats.snapshots, 6, '6 snapshots open');
  const expect = (gen: number, i: number): string | undefined => (gen === 0 ? `gen0-${i}` : i % 7 === gen ? undefined : `gen${gen}-${i}`.padEnd(60, '.'));
  for (const { snap, gen, version } of snaps) {
    t.equal(snap.version, version, `snapshot ${gen} has its version`);
    let wrong = 0;
    for (let i = 0; i < 200; i++) if (str(await snap.get(key(i))) !== expect(gen, i)) wrong++;
    t.equal(wrong, 0, `snapshot of generation ${gen}: every get as of its version`);
    const listed = await entries(snap.iterator());
    const want = Array.from({ length: 200 }, (_, i) => [key(i), expect(gen, i)]).filter(([, v]) => v !== undefined);
    t.deepEqual(listed, want, `snapshot of generation ${gen}: its iterator`);
    const reversed = await entries(snap.iterator({ reverse: true, gte: key(50), lt: key(60) }));
    t.deepEqual(reversed, want.filter(([k]) => k! >= key(50) && k! < key(60)).reverse(), `snapshot of generation ${gen}: a reverse range`);
    t.equal(await snap.has(key(gen)), expect(gen, gen) !== undefined, `snapshot ${gen}: has`);
  }
  t.equal(levelsSorted(db), undefined, 'levels >= 1 hold disjoint sorted files');
  for (const { snap } of snaps) snap.release();
  const released = snaps[0]!.snap;
  await rejection(t, released.get(key(1)), 'EBADF', 'get on a released snapshot');
  t.throws(() => released.iterator(), /released/, 'iterator on a released snapshot throws');
  t.equal(db.stats().snapshots, 0, 'every snapshot released');
});

eachBackend('compactAll keeps the versions an open snapshot needs; after release it drops them and older reads are ESTALE', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: false });
  const v1 = await db.put('a', 'a1');
  await db.put('b', 'b1');
  const v3 = await db.put('a', 'a2');
  const snap = db.snapshot();
  const v4 = await db.put('a', 'a3');
  const v5 = await db.del('b');
  await db.put('c', 'c1');
  await db.compactAll();
  t.equal(str(await snap.get('a')), 'a2', 'the snapshot reads a2 after compactAll');
  t.equal(str(await snap.get('b')), 'b1', 'and b1 (deleted after it)');
  t.equal(await snap.get('c'), undefined, 'and no c');
  t.equal(str(await db.get('a', { version: v4 })), 'a3', 'a read at a version above the snapshot');
  t.equal(await db.get('b', { version: v5 }), undefined, 'b at its delete');
  t.equal(str(await db.get('a')), 'a3', 'latest a');
  // below the snapshot: what compaction dropped is refused, never answered wrongly
  const below: { value?: string | undefined; code?: string | undefined } = await db.get('a', { version: v1 }).then(
    (value) => ({ value: str(value) }),
    (error: { code?: string }) => ({ code: error.code }),
  );
  t.ok(below.code === 'ESTALE' || below.value === 'a1', `a read below the snapshot is ESTALE or right (${JSON.stringify(below)})`);

  snap.release();
  await db.compactAll();
  t.equal(str(await db.get('a')), 'a3', 'after release and compactAll: latest a');
  t.equal(await db.get('b'), undefined, 'b deleted');
  await rejection(t, db.get('a', { version: v3 }), 'ESTALE', 'a read at the released snapshot version');
  t.throws(() => db.iterator({ version: v1 }), /ESTALE|older than/, 'an iterator below the horizon throws');
  t.equal(str(await db.get('c', { version: db.version })), 'c1', 'a read at the latest version is fine');
  // the dropped versions are gone from the files: only live versions remain
  await db.close();
  const again = await env.open({ ...SMALL, autoCompact: false });
  await rejection(t, again.get('a', { version: v3 }), 'ESTALE', 'the horizon survives a reopen');
  t.deepEqual(
    await entries(again.iterator()),
    [
      ['a', 'a3'],
      ['c', 'c1'],
    ],
    'content after reopen',
  );
});

eachBackend('reads at old versions stay right across background compaction with a snapshot pinned', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: true });
  const history = new Map<number, Map<string, string | undefined>>(); // version -> key -> value at it
  const current = new Map<string, string | undefined>();
  const snap = db.snapshot(); // pins version 0: every version is kept
  let checks = 0;
  for (let round = 0; round < 600; round++) {
    const k = key(round % 37);
    let v: number;
    if (round % 5 === 4) {
      v = await db.del(k);
      current.set(k, undefined);
    } else {
      v = await db.put(k, `r${round}`.padEnd(40, '#'));
      current.set(k, `r${round}`.padEnd(40, '#'));
    }
    if (round % 50 === 0) history.set(v, new Map(current));
  }
  await db.compact();
  t.ok(db.stats().compactions > 0, 'compactions ran');
  for (const [version, content] of history) {
    for (const [k, value] of content) {
      if (str(await db.get(k, { version })) !== value) t.fail(`${k} at version ${version}`);
      checks++;
    }
  }
  t.pass(`${checks} reads at old versions checked`);
  snap.release();
});

eachBackend('checkpoint: opens readOnly with the same content; later source writes do not show; writes EROFS', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: false });
  for (let i = 0; i < 150; i++) await db.put(key(i), `v${i}`.repeat(5));
  await db.flush();
  await db.compactAll();
  for (let i = 0; i < 150; i += 3) await db.del(key(i));
  for (let i = 150; i < 170; i++) await db.put(key(i), 'memtable'); // not flushed yet: the checkpoint flushes
  const content = await entries(db.iterator());
  const version = db.version;
  const target = await env.mkdir('backup');
  await db.checkpoint(target);

  // the source goes on: writes, a flush and a compaction that replaces (and deletes) the files it linked
  for (let i = 0; i < 170; i++) await db.put(key(i), 'after');
  await db.compactAll();
  const notEmpty = await env.mkdir('not-empty');
  await (await notEmpty.createFile('x')).close();
  await rejection(t, db.checkpoint(notEmpty), 'ENOTEMPTY', 'a checkpoint into a non-empty directory');

  const copy = await env.open({ readOnly: true }, target);
  t.equal(copy.version, version, 'the checkpoint is at the version of its moment');
  t.deepEqual(await entries(copy.iterator()), content, 'the checkpoint holds the content of its moment');
  t.equal(str(await copy.get(key(1))), 'v1'.repeat(5), 'a point read');
  t.equal(await copy.get(key(0)), undefined, 'a deleted key');
  t.equal(str(await copy.get(key(160))), 'memtable', 'a write that was only in the memtable');
  await rejection(t, copy.put('x', 'y'), 'EROFS', 'put on the checkpoint');
  await rejection(t, copy.write([{ type: 'del', key: key(1) }]), 'EROFS', 'write on the checkpoint');
  await rejection(t, copy.flush(), 'EROFS', 'flush on the checkpoint');
  await copy.close();
  t.ok(
    (await target.read()).every((entry) => entry.name !== WAL_DIR),
    'opening the checkpoint readOnly made no WAL there',
  );
  t.equal(str(await db.get(key(1))), 'after', 'the source has its later writes');
  await db.close();
  const copy2 = await env.open({ readOnly: true }, target);
  t.deepEqual(await entries(copy2.iterator()), content, 'the checkpoint is unchanged after the source closed');
});

eachBackend('compact() and compactAll() while writes flush and background compactions run: levels stay sorted, nothing lost', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ ...SMALL, autoCompact: true });
  const model = new Map<string, string>();
  let next = 0;
  const writer = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const n = next++;
      const k = key((n * 7) % 300);
      await db.put(k, `w${n}`.padEnd(80, '-'));
      model.set(k, `w${n}`.padEnd(80, '-'));
    }
  };
  let problems = 0;
  for (let round = 0; round < 12; round++) {
    await Promise.all([writer(150), writer(150), round % 2 === 0 ? db.compactAll() : db.compact(), writer(100).then(() => db.compact())]);
    const shape = levelsSorted(db);
    if (shape !== undefined && problems++ < 3) t.fail(`round ${round}: ${shape}`);
  }
  t.equal(problems, 0, 'levels >= 1 stayed sorted runs of disjoint files');
  await db.compactAll();
  const want = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  t.deepEqual(await entries(db.iterator()), want, 'the content is every last write');
  await db.close();
  const again = await env.open({ ...SMALL, autoCompact: true });
  t.deepEqual(await entries(again.iterator()), want, 'and after a reopen');
});
