// The bucket's HEAD, ListObjectsV2, the GET of a whole object, an object's DELETE and CopyObject without the SDK (src/adapters/s3/direct-calls.ts),
// against a real Ceph radosgw: each answers what the SDK's command answers (keys that need encoding and
// escaping in XML, common prefixes, several pages), with no command through the SDK; what the store refuses
// (credentials, a missing bucket or object) still goes through the SDK, with its errors. And the commands a
// user runs (`persistfs backup`, `backup --list`, `restore` on worker threads), with an endpoint and the credentials in the
// environment, never load the SDK's client at all.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'tape';

import { type ListPage, ObjectStore } from '../../src/adapters/s3/object-store.js';
import { resolveS3Settings } from '../../src/adapters/s3/s3-settings.js';
import { readManifest } from '../../src/backup/manifest.js';
import { rejection } from '../helpers.js';
import { ceph, freshPrefix, sdkCommandsSent } from './ceph.js';

/** An object store on a fresh prefix of the test bucket, its commands through the SDK counted and its direct calls recorded. */
async function observedStore(t: test.Test, credentials?: { accessKeyId: string; secretAccessKey: string }, bucket?: string) {
  const cluster = await ceph();
  const prefix = freshPrefix('dc');
  const options = cluster.options(prefix);
  const store = new ObjectStore(
    resolveS3Settings(`s3://${bucket ?? cluster.bucket}/${prefix}`, {
      ...options,
      bucket: bucket ?? cluster.bucket,
      credentials: credentials ?? options.credentials,
    }),
  );
  const sent = sdkCommandsSent(store);
  const direct: string[] = [];
  store.onDirectCall = (command) => direct.push(command);
  const client = cluster.client();
  t.teardown(() => {
    store.close();
    client.destroy();
  });
  return { cluster, prefix, store, sent, direct, client };
}

async function pages(store: ObjectStore, prefix: string, delimiter: '/' | '', limit?: number): Promise<ListPage[]> {
  const found: ListPage[] = [];
  for await (const page of store.list(prefix, delimiter, limit)) found.push(page);
  return found;
}

test('object store: a listing answers what ListObjectsV2 does (names XML escapes, prefixes, pages), without the SDK', async (t) => {
  const { cluster, prefix, store, sent, direct, client } = await observedStore(t);
  const names = ['plain', 'a & b <c> "d" \'e\'', 'ünï çødé', 'with space+plus', 'dir/one', 'dir/two', 'other/x', "odd!'()*~%=?#;,"];
  for (const [n, name] of names.entries())
    await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}${name}`, Body: Buffer.alloc(10 + n, n) }));
  const sdkList = async (delimiter: string | undefined) => {
    const answer = await client.send(new ListObjectsV2Command({ Bucket: cluster.bucket, Prefix: prefix, Delimiter: delimiter }));
    return {
      objects: (answer.Contents ?? []).map((item) => ({ key: item.Key, size: item.Size, etag: item.ETag, lastModified: item.LastModified })),
      prefixes: (answer.CommonPrefixes ?? []).map((item) => item.Prefix),
    };
  };
  t.deepEqual(await pages(store, prefix, ''), [await sdkList(undefined)], 'every object below: as the SDK lists them (key, size, ETag, time)');
  t.deepEqual(await pages(store, prefix, '/'), [await sdkList('/')], "one level ('/'): the objects and the common prefixes as the SDK's");
  t.equal((await pages(store, prefix, '/'))[0]?.prefixes.length, 2, 'two common prefixes');
  const limited = await pages(store, prefix, '', 3);
  t.deepEqual(
    limited.flatMap((page) => page.objects.map((object) => object.key)),
    (await sdkList(undefined)).objects.slice(0, 3).map((object) => object.key),
    'a limit of 3: the first 3 keys',
  );
  t.equal(await store.anyUnder(`${prefix}dir/`), true, 'anyUnder a prefix with objects');
  t.equal(await store.anyUnder(`${prefix}none/`), false, 'anyUnder an empty prefix');
  t.deepEqual(sent, [], 'no command went through the SDK');
  t.ok(direct.length >= 6 && direct.every((command) => command === 'ListObjectsV2'), `the listings were direct (${direct.length})`);
});

test('object store: a listing of more than one page (continuation tokens), without the SDK', async (t) => {
  const { cluster, prefix, store, sent, client } = await observedStore(t);
  const count = 1005;
  for (let start = 0; start < count; start += 50)
    await Promise.all(
      Array.from({ length: Math.min(50, count - start) }, (_, i) =>
        client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}k${String(start + i).padStart(5, '0')}`, Body: 'x' })),
      ),
    );
  const found = await pages(store, prefix, '');
  t.deepEqual(
    found.map((page) => page.objects.length),
    [1000, 5],
    'two pages: 1,000 keys, then 5',
  );
  t.deepEqual(
    found.flatMap((page) => page.objects.map((object) => object.key)),
    Array.from({ length: count }, (_, i) => `${prefix}k${String(i).padStart(5, '0')}`),
    'every key once, in order',
  );
  t.deepEqual(sent, [], 'no command went through the SDK');
});

test("object store: the bucket's HEAD and a whole object's GET without the SDK; what the store refuses goes through it", async (t) => {
  const { cluster, prefix, store, sent, direct, client } = await observedStore(t);
  await store.checkBucket();
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}whole`, Body: 'the whole object' }));
  const chunks: Buffer[] = [];
  for await (const chunk of store.stream(`${prefix}whole`, 0, undefined)) chunks.push(chunk);
  t.equal(Buffer.concat(chunks).toString(), 'the whole object', 'the GET reads the whole object');
  t.deepEqual(direct, ['HeadBucket', 'GetObject'], 'both direct');
  t.deepEqual(sent, [], 'no command went through the SDK');
  // a missing object, through the SDK: the error a manifest's reader turns into "there is no backup"
  await rejection(t, readManifest(store, prefix, '2025-01-02T03-04-05.678Z'), 'ENOENT', 'a missing manifest');
  t.ok(sent.includes('GetObjectCommand'), "the missing object's GET went through the SDK");

  const refused = await observedStore(t, { accessKeyId: cluster.accessKeyId, secretAccessKey: 'not-the-secret' });
  await rejection(t, refused.store.checkBucket(), 'EACCES', "refused credentials: the bucket's HEAD");
  await rejection(t, pages(refused.store, refused.prefix, ''), 'EACCES', 'refused credentials: a listing');
  t.deepEqual(refused.sent, ['HeadBucketCommand', 'ListObjectsV2Command'], 'each went through the SDK');
  t.deepEqual(refused.direct, [], 'none answered direct');

  const missing = await observedStore(t, undefined, `${cluster.bucket}-missing`);
  await rejection(t, missing.store.checkBucket(), 'ENOENT', 'a missing bucket');
  await rejection(t, pages(missing.store, missing.prefix, ''), 'ENOENT', 'a listing of a missing bucket');
});

test("object store: an object's DELETE without the SDK (of a key there or not); refused credentials go through it", async (t) => {
  const { cluster, prefix, store, sent, direct, client } = await observedStore(t);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}gone soon/ünï`, Body: 'x' }));
  await store.delete(`${prefix}gone soon/ünï`);
  t.equal(await store.head(`${prefix}gone soon/ünï`), undefined, 'the object is gone');
  await store.delete(`${prefix}never there`);
  t.deepEqual(
    direct.filter((command) => command === 'DeleteObject'),
    ['DeleteObject', 'DeleteObject'],
    'both DELETEs direct (a key not there is a success too)',
  );
  t.notOk(sent.includes('DeleteObjectCommand'), 'none through the SDK');
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}kept`, Body: 'x' }));
  const refused = await observedStore(t, { accessKeyId: cluster.accessKeyId, secretAccessKey: 'not-the-secret' });
  await rejection(t, refused.store.delete(`${prefix}kept`), 'EACCES', 'refused credentials: the DELETE fails');
  t.deepEqual(refused.sent, ['DeleteObjectCommand'], 'through the SDK');
  t.notEqual(await store.head(`${prefix}kept`), undefined, 'and the object is still there');
});

test("object store: CopyObject without the SDK, keeping the source's metadata or replacing it; a copy of a key not there goes through the SDK", async (t) => {
  const { cluster, prefix, store, sent, direct, client } = await observedStore(t);
  const source = `${prefix}a dir/söurce (1)+x`;
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: source, Body: 'copy me', Metadata: { mode: '33188', mtime: '1700000000000' } }));
  const kept = await store.copy(source, `${prefix}copy kept`);
  const keptHead = await store.head(`${prefix}copy kept`);
  t.equal(keptHead?.size, 7, 'the copy is there, whole');
  t.equal(kept, keptHead?.etag, 'its ETag, as a HEAD answers it');
  t.deepEqual(keptHead?.metadata, { mode: '33188', mtime: '1700000000000' }, "with the source's metadata");
  const replaced = await store.copy(source, `${prefix}other dir/copy replaced`, { mode: '33261', uid: '0' });
  const replacedHead = await store.head(`${prefix}other dir/copy replaced`);
  t.equal(replaced, replacedHead?.etag, 'a copy with new metadata: its ETag');
  t.deepEqual(replacedHead?.metadata, { mode: '33261', uid: '0' }, 'and the new metadata only');
  const chunks: Buffer[] = [];
  for await (const chunk of store.stream(`${prefix}other dir/copy replaced`, 0, undefined)) chunks.push(chunk);
  t.equal(Buffer.concat(chunks).toString(), 'copy me', 'the same content');
  t.deepEqual(
    direct.filter((command) => command === 'CopyObject'),
    ['CopyObject', 'CopyObject'],
    'both copies direct',
  );
  t.notOk(sent.includes('CopyObjectCommand'), 'none through the SDK');
  await rejection(t, store.copy(`${prefix}never there`, `${prefix}copy of nothing`), 'ENOENT', 'a copy of a key not there');
  t.ok(sent.includes('CopyObjectCommand'), 'went through the SDK, for its error');
  t.equal(await store.head(`${prefix}copy of nothing`), undefined, 'and made nothing');
});

test('persistfs backup, backup --list and restore with an endpoint and the credentials in the environment: the SDK client is never loaded', async (t) => {
  const cluster = await ceph();
  const prefix = freshPrefix('nosdk');
  const url = `s3://${cluster.bucket}/${prefix}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-nosdk-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const source = path.join(work, 'source');
  fs.mkdirSync(path.join(source, 'd'), { recursive: true });
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(source, 'd', `f${i}`), Buffer.alloc(1000 + i, i));
  // told at the process's exit whether @aws-sdk/client-s3 is among the CommonJS modules loaded
  const hook = path.join(work, 'hook.mjs');
  fs.writeFileSync(
    hook,
    "import { createRequire } from 'node:module';\n" +
      'const cache = createRequire(import.meta.url).cache;\n' +
      "process.on('exit', () => process.stderr.write('client-s3 loaded: ' + Object.keys(cache).some((name) => name.includes('@aws-sdk/client-s3')) + '\\n'));\n",
  );
  const cli = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../mount/cli.js');
  const env = { ...process.env, AWS_ACCESS_KEY_ID: cluster.accessKeyId, AWS_SECRET_ACCESS_KEY: cluster.secretAccessKey };
  const run = (what: string, args: string[]) => {
    const result = spawnSync(process.execPath, ['--import', hook, cli, ...args, '--endpoint', cluster.endpoint], { env, encoding: 'utf8' });
    t.equal(result.status, 0, `${what}: exit status 0${result.status === 0 ? '' : ` (${result.stderr.trim()})`}`);
    const told = result.stderr.match(/client-s3 loaded: \w+/g) ?? [];
    t.ok(told.length > 0 && told.every((line) => line === 'client-s3 loaded: false'), `${what}: the SDK's client not loaded (${told.length} threads told)`);
    return result;
  };
  run('a full backup', ['backup', source, url]);
  fs.writeFileSync(path.join(source, 'd', 'new'), 'a new file');
  t.match(run('an incremental backup', ['backup', source, url]).stdout, /1 new blob/, 'the incremental sent the new file alone');
  t.match(run('backup --list', ['backup', '--list', url]).stdout, /21 files/, 'the list shows both backups');
  // on 2 worker threads (they fetch, check and write the files; the hook tells of the main thread)
  run('a restore', ['restore', url, path.join(work, 'r'), '--workers', '2']);
  t.equal(fs.readFileSync(path.join(work, 'r', 'd', 'new'), 'utf8'), 'a new file', 'restored');
  t.deepEqual(fs.readdirSync(path.join(work, 'r', 'd')).sort(), fs.readdirSync(path.join(source, 'd')).sort(), 'every file restored');
});
