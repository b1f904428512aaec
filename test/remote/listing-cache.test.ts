// The listing cache of the S3 and tiered adapters against a real Ceph radosgw, requests counted on the
// adapter's own client: lookups (negative ones too), listings and creations answered without a request
// once a directory's listing is cached; our own changes seen at once; another client's new names seen once
// the cache time has passed, and its new version of a file at the next open of a file not written here;
// the cat-after-write of the tiered adapter served from the local copies without a GET or HEAD.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import test from 'tape';

import type { S3Adapter } from '../../src/adapters/s3/s3-adapter.js';
import type { TieredAdapter } from '../../src/adapters/tiered/tiered-adapter.js';
import { Mode, openStorage, type Storage } from '../../src/index.js';
import { bytes, rejection } from '../helpers.js';
import { ceph, countCommands, freshPrefix, type Ceph } from './ceph.js';

interface Opened {
  storage: Storage;
  /** requests of the storage's own client, by command, since it opened */
  requests: Map<string, number>;
  client: S3Client;
  cluster: Ceph;
  prefix: string;
}

/** A storage ('s3' or 'tiered') on `prefix` with `dirCacheTime` (default: the adapter's), closed at the end. */
async function open(t: test.Test, adapter: 's3' | 'tiered', prefix: string, dirCacheTime?: number): Promise<Opened> {
  const cluster = await ceph();
  const cacheDir = adapter === 'tiered' ? fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-')) : undefined;
  const s3 = { ...cluster.options(prefix), ...(dirCacheTime === undefined ? {} : { dirCacheTime }) };
  const storage = await openStorage(`s3://${cluster.bucket}/${prefix}`, {
    adapter,
    s3,
    ...(cacheDir === undefined ? {} : { tiered: { cacheDir } }),
    config: { logLevel: 'silent' },
  });
  const remote = adapter === 's3' ? (storage.adapter as S3Adapter) : (storage.adapter as unknown as { remote: S3Adapter }).remote;
  const client = cluster.client();
  t.teardown(async () => {
    await storage.close();
    client.destroy();
    if (cacheDir !== undefined) fs.rmSync(cacheDir, { recursive: true, force: true });
  });
  return { storage, requests: countCommands(remote.store).sent, client, cluster, prefix };
}

/** The requests counted since `since` (a copy of the counts taken before). */
function sinceThen(requests: Map<string, number>, since: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, count] of requests) if (count !== (since.get(name) ?? 0)) out[name] = count - (since.get(name) ?? 0);
  return out;
}

test('listing cache, s3: once a directory is listed, lookups (negative ones too) and listings cost no request', async (t) => {
  const { storage, requests, client, cluster, prefix } = await open(t, 's3', freshPrefix('lc'));
  for (const name of ['a', 'b', 'c']) await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}d/${name}`, Body: name }));
  const dir = await storage.root.openDirectory('d');
  t.deepEqual((await dir.read()).map((entry) => entry.name).sort(), ['a', 'b', 'c'], 'the listing');
  t.equal((await dir.stat('a')).size, 1, 'a stat of a listed file (a HEAD for its metadata, kept)');
  const before = new Map(requests);
  t.deepEqual((await dir.read()).map((entry) => entry.name).sort(), ['a', 'b', 'c'], 'the listing again');
  t.equal((await dir.stat('a')).size, 1, 'the stat again');
  await rejection(t, dir.stat('missing'), 'ENOENT', 'a name the listing does not hold');
  await rejection(t, dir.openFile('missing'), 'ENOENT', 'an open of it');
  t.equal((await storage.stat('d')).kind, 'directory', 'the directory itself, from its parent listing');
  t.deepEqual(sinceThen(requests, before), {}, 'no request for any of it');
  await dir.close();
});

test('listing cache, s3: our own changes are seen at once, and a creation in a listed directory costs only its PUT', async (t) => {
  const { storage, requests } = await open(t, 's3', freshPrefix('lc'));
  await storage.root.read();
  const before = new Map(requests);
  const sub = await storage.root.createDirectory('sub');
  await (await sub.flushWrite('f', bytes('first'))).close();
  const file = await sub.createFile('g');
  await file.append(bytes('grown'));
  await file.close();
  await storage.root.setEntryPermission('sub', 0o700);
  t.deepEqual(sinceThen(requests, before), { PutObject: 5 }, "the marker, f, g made empty, g uploaded at close, sub's new mode: PUTs only");
  const again = new Map(requests);
  t.deepEqual((await sub.read()).map((entry) => entry.name).sort(), ['f', 'g'], 'both files listed');
  t.equal((await sub.stat('g')).size, 5, "g's size as uploaded");
  t.equal((await storage.stat('sub')).mode & 0o777, 0o700, "sub's new mode");
  const reader = await sub.openFile('f');
  t.equal(reader.opened.size, 5, 'an open of a file written here trusts our version');
  await reader.close();
  t.deepEqual(sinceThen(requests, again), {}, 'none of it asked the bucket');
  await sub.moveEntry('f', sub, 'h');
  await sub.deleteFile('g');
  t.deepEqual(
    (await sub.read()).map((entry) => entry.name),
    ['h'],
    'a rename and an unlink, seen at once',
  );
  await rejection(t, sub.stat('f'), 'ENOENT', 'the old name is gone');
  await sub.deleteFile('h');
  await sub.close();
  await storage.root.removeDirectory('sub');
  t.deepEqual(await storage.root.read(), [], 'the directory removed is gone from the listing');
});

test("listing cache: another client's changes show after the cache time; a new open of a file not written here sees its new version", async (t) => {
  const prefix = freshPrefix('lc');
  const long = await open(t, 's3', prefix);
  const short = await open(t, 's3', prefix, 300);
  const { client, cluster } = long;
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}theirs`, Body: 'version one' }));
  await (await long.storage.root.flushWrite('mine', bytes('ours'))).close();
  t.equal((await long.storage.stat('theirs')).size, 11, 'a name made elsewhere before the listing was read');
  await short.storage.stat('theirs');
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}new`, Body: 'new' }));
  await client.send(new DeleteObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}mine` }));
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}theirs`, Body: 'VERSION TWO!' }));
  await rejection(t, long.storage.stat('new'), 'ENOENT', 'within the cache time, a name made elsewhere is not seen (the negative entry holds)');
  t.deepEqual((await long.storage.root.read()).map((entry) => entry.name).sort(), ['mine', 'theirs'], 'nor a deletion made elsewhere');
  const reader = await long.storage.openFile('theirs');
  const buffer = Buffer.alloc(12);
  t.equal(await reader.read(0, buffer), 12, 'a new open of a file not written here asks the bucket');
  t.equal(buffer.toString(), 'VERSION TWO!', 'and reads the new version');
  await reader.close();
  t.equal((await long.storage.stat('theirs')).size, 12, 'its stat follows');
  await sleep(400);
  t.equal((await short.storage.stat('new')).size, 3, 'once the cache time has passed, the new name is seen (the negative entry expired)');
  t.deepEqual((await short.storage.root.read()).map((entry) => entry.name).sort(), ['new', 'theirs'], 'and the deletion');
});

test('listing cache, tiered: new files cost no request before their upload; reading them back after it, no GET nor HEAD', async (t) => {
  const { storage, requests } = await open(t, 'tiered', freshPrefix('lc'));
  const dir = await storage.root.createDirectory('small');
  const before = new Map(requests);
  for (let i = 0; i < 20; i++) {
    await rejection(t, dir.stat(`f${i}`), 'ENOENT', `f${i} is not there yet`);
    const file = await dir.createFile(`f${i}`);
    await file.append(bytes(`content ${i}`));
    await file.close();
  }
  const made = sinceThen(requests, before);
  t.equal((made.HeadObject ?? 0) + (made.ListObjectsV2 ?? 0), 0, `no lookup asked the bucket (${JSON.stringify(made)})`);
  await (storage.adapter as TieredAdapter).drained();
  const uploaded = new Map(requests);
  for (let i = 0; i < 20; i++) {
    t.equal((await dir.stat(`f${i}`)).size, `content ${i}`.length, `f${i}'s size`);
    const reader = await dir.openFile(`f${i}`, { access: Mode.Read });
    const buffer = Buffer.alloc(20);
    const n = await reader.read(0, buffer);
    await reader.close();
    if (buffer.subarray(0, n).toString() !== `content ${i}`) t.fail(`f${i} reads back wrong: ${buffer.subarray(0, n).toString()}`);
  }
  t.deepEqual(sinceThen(requests, uploaded), {}, 'reading the 20 files back after their upload asked the bucket nothing');
  await dir.close();
});

for (const adapter of ['s3', 'tiered'] as const) {
  test(`listing cache, ${adapter}: a directory renamed away after another was moved into it leaves no name behind (fsstress found it)`, async (t) => {
    const { storage } = await open(t, adapter, freshPrefix('lr'));
    const { root } = storage;
    await (await root.createDirectory('a')).close();
    const c = await root.createDirectory('c');
    await root.moveEntry('a', c, 'a2');
    await c.close();
    // c's listing holds a2 when c's marker goes; then a2's marker goes, a listing nobody read
    await root.moveEntry('c', root, 'd');
    t.deepEqual(
      (await root.read()).map((entry) => entry.name),
      ['d'],
      'the top lists d alone',
    );
    await rejection(t, root.stat('c'), 'ENOENT', 'c is gone');
    const d = await root.openDirectory('d');
    t.deepEqual(
      (await d.read()).map((entry) => entry.name),
      ['a2'],
      'd holds a2',
    );
    await d.close();
  });
}
