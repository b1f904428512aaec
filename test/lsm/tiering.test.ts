// The LSM store's tiering rule: the SSTs of the deeper levels live in another directory (the remote tier),
// the upper levels stay local; every key reads back, across a reopen, and a checkpoint holds them all.
// The remote tier is a directory on the memory adapter, then a tiered storage on a real Ceph radosgw.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'tape';

import { parseTableName } from '../../src/lsm/file-names.js';
import { openStorage, type Dir, type LsmStore } from '../../src/index.js';
import { BACKENDS, freshStorage } from '../helpers.js';
import { ceph, freshPrefix } from '../remote/ceph.js';
import { lsmEnv, SMALL } from './lsm-helpers.js';

const LOCAL = BACKENDS[0]!;
const MEMORY = BACKENDS.find((backend) => backend.name === 'memory')!;
const key = (n: number): string => `key-${String(n).padStart(6, '0')}`;
const value = (n: number): string => `value ${n} `.repeat(8);

async function tables(dir: Dir): Promise<number[]> {
  return (await dir.read()).map((entry) => parseTableName(String(entry.name))).filter((n): n is number => n !== undefined);
}

async function fill(store: LsmStore, count: number): Promise<void> {
  for (let n = 0; n < count; n++) await store.put(key(n), value(n));
  await store.compactAll();
}

async function missing(store: LsmStore, count: number): Promise<number> {
  let wrong = 0;
  for (let n = 0; n < count; n++) if ((await store.get(key(n)))?.toString() !== value(n)) wrong++;
  return wrong;
}

test('LSM tiering: levels from fromLevel on are written to the remote directory; every key reads back, after a reopen too', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const remote = (await freshStorage(t, MEMORY)).storage.root;
  const store = await env.open({ ...SMALL, tiering: { dir: remote, fromLevel: 1 } });
  await fill(store, 3000);
  const stats = store.stats();
  const deep = stats.levels.filter((level) => level.level >= 1).reduce((sum, level) => sum + level.files, 0);
  t.ok(deep > 0, `${deep} SSTs in levels 1 and deeper`);
  t.equal((await tables(remote)).length, deep, 'all of them in the remote directory');
  t.equal((await tables(env.dir)).length, stats.levels[0]!.files, 'only level 0 stays local');
  t.equal(await missing(store, 3000), 0, 'every key reads back');
  await store.close();
  const again = await env.open({ ...SMALL, tiering: { dir: remote, fromLevel: 1 } });
  t.equal(await missing(again, 3000), 0, 'and after a reopen (tables found in the remote directory)');
  for (let n = 3000; n < 4000; n++) await again.put(key(n), value(n));
  await again.compactAll();
  t.equal(await missing(again, 4000), 0, 'compactions keep working across the two directories');
  const checkpoint = await env.mkdir('checkpoint');
  await again.checkpoint(checkpoint);
  const copy = await env.open({ readOnly: true }, checkpoint);
  t.equal(await missing(copy, 4000), 0, 'a checkpoint holds every table (the remote ones copied)');
});

// Two stores given one tiering directory would each take the other's SSTs for leftovers of a crash (and
// delete them at open), and number their tables over each other's: the directory belongs to the first.
test('LSM tiering: a tiering directory belongs to one store; another is refused (EBUSY) and deletes nothing', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const remote = (await freshStorage(t, MEMORY)).storage.root;
  const first = await env.open({ ...SMALL, tiering: { dir: remote, fromLevel: 1 } });
  await fill(first, 3000);
  await first.close();
  const held = (await tables(remote)).length;
  t.ok(held > 0, `the first store keeps ${held} SSTs in the tiering directory`);
  const other = await env.mkdir('other');
  await env.open({ ...SMALL, tiering: { dir: remote, fromLevel: 1 } }, other).then(
    () => t.fail('a second store opened on the first one tiering directory'),
    (error: { code?: string; message?: string }) => {
      t.equal(error.code, 'EBUSY', 'the second store is refused: EBUSY');
      t.ok(/another LSM store/.test(error.message ?? ''), `saying whose it is (${error.message})`);
    },
  );
  t.equal((await tables(remote)).length, held, 'none of the first store SSTs was deleted');
  t.equal((await tables(other)).length, 0, 'the refused store made no table');
  const again = await env.open({ ...SMALL, tiering: { dir: remote, fromLevel: 1 } });
  t.equal(await missing(again, 3000), 0, 'the first store reopens with every key');
  await again.close();
  const reopened = await env.open({ ...SMALL, tiering: { dir: remote, fromLevel: 1 } }, other).catch((error: Error) => error);
  t.ok(reopened instanceof Error, 'the second store is refused again at its next open');
});

test('LSM tiering: a bad tiering option is EINVAL', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  for (const fromLevel of [0, 1.5, 99]) {
    await env.open({ tiering: { dir: env.dir, fromLevel } }).then(
      () => t.fail(`fromLevel ${fromLevel} accepted`),
      (error: { code?: string }) => t.equal(error.code, 'EINVAL', `fromLevel ${fromLevel}: EINVAL`),
    );
  }
});

test('LSM tiering on S3: the deeper levels in a bucket behind the local cache', async (t) => {
  const cluster = await ceph();
  const prefix = freshPrefix('lsm');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
  const tiered = await openStorage(`s3://${cluster.bucket}/${prefix}`, {
    adapter: 'tiered',
    s3: cluster.options(prefix),
    tiered: { cacheDir, blockSize: 64 * 1024 },
    config: { logLevel: 'warn' },
  });
  t.teardown(async () => {
    await tiered.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });
  const env = await lsmEnv(t, LOCAL);
  const remote = await tiered.root.createDirectory('sst');
  const store = await env.open({ ...SMALL, tiering: { dir: remote, fromLevel: 1 } });
  await fill(store, 2000);
  t.equal(await missing(store, 2000), 0, 'every key reads back');
  await store.close();
  await (tiered.adapter as unknown as { drained(): Promise<void> }).drained();
  const client = cluster.client();
  t.teardown(() => client.destroy());
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const listed = await client.send(new ListObjectsV2Command({ Bucket: cluster.bucket, Prefix: `${prefix}sst/` }));
  const objects = (listed.Contents ?? []).filter((item) => item.Key!.endsWith('.sst'));
  t.ok(objects.length > 0, `${objects.length} SSTs are objects in the bucket`);
  const again = await env.open({ ...SMALL, tiering: { dir: remote, fromLevel: 1 } });
  t.equal(await missing(again, 2000), 0, 'a reopen reads them through the cache');
});

// A table of the remote tier opened from an empty cache is a local copy with holes where blocks have not
// been fetched yet: a block read must fetch them, never take the zeros of a hole (whose CRC32C would fail).
test('LSM tiering on S3: tables read from a cold cache, their copies still filling, give every key', async (t) => {
  const cluster = await ceph();
  const prefix = freshPrefix('lsmcold');
  const open = async (cacheDir: string) =>
    openStorage(`s3://${cluster.bucket}/${prefix}`, {
      adapter: 'tiered',
      s3: cluster.options(prefix),
      tiered: { cacheDir, blockSize: 4096, readAhead: 0 },
      config: { logLevel: 'warn' },
    });
  const cacheDirs: string[] = [];
  const storages: { close(): Promise<void> }[] = [];
  t.teardown(async () => {
    for (const storage of storages) await storage.close();
    for (const dir of cacheDirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  const fresh = async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
    cacheDirs.push(dir);
    const storage = await open(dir);
    storages.push(storage);
    return storage;
  };
  const env = await lsmEnv(t, LOCAL);
  const first = await fresh();
  const store = await env.open({ ...SMALL, tiering: { dir: await first.root.createDirectory('sst'), fromLevel: 1 } });
  await fill(store, 2000);
  await store.close();
  await (first.adapter as unknown as { drained(): Promise<void> }).drained();
  for (const mmapReads of [true, false]) {
    const cold = await fresh();
    const again = await env.open({ ...SMALL, mmapReads, tiering: { dir: await cold.root.openDirectory('sst'), fromLevel: 1 } });
    const errors: string[] = [];
    let wrong = 0;
    for (let n = 0; n < 2000; n++) {
      const got = await again.get(key(n)).catch((error: { code?: string }) => {
        errors.push(String(error.code));
        return undefined;
      });
      if (got?.toString() !== value(n)) wrong++;
    }
    t.deepEqual([...new Set(errors)], [], `mmapReads ${mmapReads}: no read failed`);
    t.equal(wrong, 0, `mmapReads ${mmapReads}: every key reads back from tables fetched block by block`);
    await again.close();
  }
});
