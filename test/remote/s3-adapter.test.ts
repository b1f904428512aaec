// The S3 adapter against a real Ceph radosgw: how names map to objects (checked with a client of our own),
// ranged and streamed reads, multipart uploads, a change behind our back, what S3 cannot keep, and the
// errors for a missing bucket, refused credentials and an unreachable endpoint.
import { randomBytes } from 'node:crypto';

import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import test from 'tape';

import type { S3Adapter } from '../../src/adapters/s3/s3-adapter.js';
import { openStorage, type Storage } from '../../src/index.js';
import { bytes, rejection, tempDir } from '../helpers.js';
import { ceph, freshPrefix } from './ceph.js';
import { s3Proxy } from './s3-proxy.js';

/** A store on a fresh prefix of the test bucket; through `endpoint` (a proxy) when given. */
async function s3Storage(t: test.Test, endpoint?: string): Promise<{ storage: Storage; client: S3Client; bucket: string; prefix: string }> {
  const cluster = await ceph();
  const prefix = freshPrefix('s3');
  const s3 = { ...cluster.options(prefix), ...(endpoint === undefined ? {} : { endpoint }) };
  const storage = await openStorage(`s3://${cluster.bucket}/${prefix}`, { adapter: 's3', s3, config: { logLevel: 'warn' } });
  const client = cluster.client();
  t.teardown(async () => {
    await storage.close();
    client.destroy();
  });
  return { storage, client, bucket: cluster.bucket, prefix };
}

async function keys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const answer = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (answer.Contents ?? []).map((item) => item.Key!.slice(prefix.length)).sort();
}

async function content(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await answer.Body!.transformToByteArray());
}

test('s3: a directory is a marker object, a file an object; an empty directory stays visible', async (t) => {
  const { storage, client, bucket, prefix } = await s3Storage(t);
  const direct: string[] = [];
  (storage.adapter as S3Adapter).store.onDirectPut = (key, phase) => phase === 'sent' && direct.push(key);
  const logs = await storage.root.createDirectory('logs');
  await (await logs.flushWrite('a.log', bytes('alpha'))).close();
  await storage.root.createDirectory('empty');
  t.deepEqual(await keys(client, bucket, prefix), ['empty/', 'logs/', 'logs/a.log'], 'one object per file and per directory');
  t.equal((await content(client, bucket, `${prefix}logs/a.log`)).toString(), 'alpha', 'the object holds the bytes');
  t.deepEqual(
    (await storage.root.read()).map((entry) => [entry.name, entry.kind]).sort(),
    [
      ['empty', 'directory'],
      ['logs', 'directory'],
    ],
    'the empty directory is listed',
  );
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}logs/a.log` }));
  t.equal(head.Metadata?.mode, String((await storage.stat('logs/a.log')).mode), 'the mode (with its type bits, as s3fs keeps it) is object metadata');
  t.ok(/^\d{10}$/.test(head.Metadata?.mtime ?? ''), `mtime in whole seconds, as s3fs and rclone read it (${head.Metadata?.mtime})`);
  await storage.root.setEntryPermission('empty', 0o700);
  const marker = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}empty/` }));
  t.equal(marker.Metadata?.mode, String(0o40700), "a directory's mode on its marker");
  t.equal(head.Metadata?.['mtime-ns'], String((await storage.stat('logs/a.log')).mtimeNs), 'the mtime to the nanosecond');
  t.deepEqual(
    direct.sort(),
    ['empty/', 'empty/', 'logs/', 'logs/a.log'].map((key) => `${prefix}${key}`),
    'each of these PUTs went without the SDK, its metadata in signed headers (direct-put.ts)',
  );
});

test('s3: objects other tools wrote: default modes, and a prefix without a marker is a directory', async (t) => {
  const { storage, client, bucket, prefix } = await s3Storage(t);
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}outside/deep/file.txt`, Body: 'from elsewhere' }));
  // s3fs keeps the whole st_mode and whole seconds; rclone seconds with a fraction
  await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: `${prefix}by-s3fs`, Body: 'x', Metadata: { mode: String(0o100640), mtime: '1700000000', uid: '7', gid: '8' } }),
  );
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}by-rclone`, Body: 'x', Metadata: { mtime: '1700000000.25' } }));
  const s3fs = await storage.stat('by-s3fs');
  t.deepEqual([s3fs.mode & 0o7777, s3fs.uid, s3fs.gid, s3fs.mtimeNs], [0o640, 7, 8, 1_700_000_000_000_000_000n], "s3fs's mode, owner and mtime");
  t.equal((await storage.stat('by-rclone')).mtimeNs, 1_700_000_000_250_000_000n, "rclone's mtime with its fraction");
  const stat = await storage.stat('outside');
  t.equal(stat.kind, 'directory', 'a prefix with objects under it is a directory');
  const file = await storage.openFile('outside/deep/file.txt');
  t.equal((await file.stat()).mode & 0o777, 0o644, 'an object without our metadata reads as 0644');
  const buffer = Buffer.alloc(14);
  await file.read(0, buffer);
  t.equal(buffer.toString(), 'from elsewhere', 'and its bytes');
  await file.close();
});

test('s3: reads are ranged GETs; a stream is one GET; a large file goes up in parts', async (t) => {
  const proxy = await s3Proxy(t, (await ceph()).endpoint);
  const { storage, client, bucket, prefix } = await s3Storage(t, proxy.endpoint);
  /** the GETs of the object since `from` (an index of proxy.exchanges) */
  const gets = (from: number) => proxy.exchanges.slice(from).filter((exchange) => exchange.request.startsWith('GET ') && exchange.request.includes('/big'));
  const data = randomBytes(40 * 1024 * 1024 + 123); // above the multipart threshold (16 MiB)
  const file = await storage.root.createFile('big');
  for (let at = 0; at < data.length; at += 4 * 1024 * 1024) await file.writeAt(at, data.subarray(at, at + 4 * 1024 * 1024));
  await file.sync();
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}big` }));
  t.equal(head.ContentLength, data.length, 'sync stored the whole file');
  t.ok(/-\d+"?$/.test(head.ETag ?? ''), `as a multipart upload (ETag ${head.ETag})`);
  await file.close();
  const reader = await storage.openFile('big');
  const middle = Buffer.alloc(1000);
  let from = proxy.exchanges.length;
  t.equal(await reader.read(25_000_000, middle), 1000, 'a ranged read');
  t.ok(middle.equals(data.subarray(25_000_000, 25_001_000)), 'of the right bytes');
  t.deepEqual(
    gets(from).map(({ range, answered }) => ({ range, answered })),
    [{ range: 'bytes=25000000-25000999', answered: 1000 }],
    'one GET of those bytes alone',
  );
  const tail = Buffer.alloc(500);
  from = proxy.exchanges.length;
  t.equal(await reader.read(data.length - 100, tail), 100, 'short at the end');
  t.ok(
    gets(from).length === 1 && gets(from)[0]!.range?.startsWith(`bytes=${data.length - 100}-`) && gets(from)[0]!.answered === 100,
    `one GET from the offset, 100 bytes answered (${JSON.stringify(gets(from))})`,
  );
  const chunks: Buffer[] = [];
  from = proxy.exchanges.length;
  for await (const chunk of reader.stream(1_000_000, 1024 * 1024)) chunks.push(chunk);
  t.equal(gets(from).length, 1, 'the stream is one GET');
  t.ok(gets(from)[0]?.range?.startsWith('bytes=1000000-'), `from the offset (${gets(from)[0]?.range})`);
  t.ok(
    chunks.slice(0, -1).every((chunk) => chunk.length === 1024 * 1024),
    'the stream is cut into the chunks asked',
  );
  t.ok(Buffer.concat(chunks).equals(data.subarray(1_000_000)), 'the stream from an offset is the rest of the file');
  await reader.close();
});

test('s3: writes are staged and uploaded at sync and close; readers elsewhere see old or new', async (t) => {
  const { storage, client, bucket, prefix } = await s3Storage(t);
  const file = await storage.root.createFile('f');
  await file.append(bytes('first'));
  t.equal((await content(client, bucket, `${prefix}f`)).length, 0, 'not uploaded before sync (the empty object made by create)');
  t.equal((await storage.stat('f')).size, 5, 'stat by name sees the open file');
  await file.sync();
  t.equal((await content(client, bucket, `${prefix}f`)).toString(), 'first', 'sync uploads');
  await file.writeAt(0, bytes('FIRST second'));
  await file.close();
  t.equal((await content(client, bucket, `${prefix}f`)).toString(), 'FIRST second', 'close uploads what is left');
});

test('s3: an object changed behind our back is ESTALE, never a mix of versions', async (t) => {
  const { storage, client, bucket, prefix } = await s3Storage(t);
  await (await storage.root.flushWrite('v', bytes('version one'))).close();
  const reader = await storage.openFile('v');
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}v`, Body: 'VERSION TWO' }));
  await rejection(t, reader.read(0, Buffer.alloc(11)), 'ESTALE', 'reading the version opened after it changed');
  await reader.close();
  const again = await storage.openFile('v');
  const buffer = Buffer.alloc(11);
  await again.read(0, buffer);
  t.equal(buffer.toString(), 'VERSION TWO', 'a new open reads the new version');
  await again.close();
});

test('s3: what an object store cannot keep is EOPNOTSUPP and changes nothing', async (t) => {
  const { storage, client, bucket, prefix } = await s3Storage(t);
  const root = storage.root;
  await (await root.flushWrite('a', bytes('A'))).close();
  await (await root.flushWrite('b', bytes('B'))).close();
  await rejection(t, root.symlink('a', 'link'), 'EOPNOTSUPP', 'a symlink');
  await rejection(t, root.link('a', root, 'hard'), 'EOPNOTSUPP', 'a hard link');
  await rejection(t, root.makeNode('fifo', 'fifo'), 'EOPNOTSUPP', 'a FIFO');
  await rejection(t, root.setEntryXattr('a', 'user.k', bytes('v')), 'EOPNOTSUPP', 'an extended attribute');
  await rejection(t, root.moveEntry('a', root, 'b', { exchange: true }), 'EOPNOTSUPP', 'an atomic exchange');
  t.deepEqual(await keys(client, bucket, prefix), ['a', 'b'], 'nothing was made or moved');
  t.equal((await content(client, bucket, `${prefix}a`)).toString(), 'A', 'nor changed');
});

test('s3: a directory rename moves every object under it; open handles follow', async (t) => {
  const { storage, client, bucket, prefix } = await s3Storage(t);
  const dir = await storage.root.createDirectory('d');
  const sub = await dir.createDirectory('sub');
  await (await sub.flushWrite('x', bytes('x'))).close();
  const open = await dir.createFile('open');
  await open.append(bytes('written before the rename'));
  await dir.rename('moved');
  await open.close();
  t.deepEqual(await keys(client, bucket, prefix), ['moved/', 'moved/open', 'moved/sub/', 'moved/sub/x'], 'every object moved');
  t.equal((await content(client, bucket, `${prefix}moved/open`)).toString(), 'written before the rename', 'the open file uploaded to its new name');
  t.deepEqual(
    (await sub.read()).map((entry) => entry.name),
    ['x'],
    'a directory handle inside follows',
  );
});

test('s3: a missing bucket, refused credentials and an unreachable endpoint are clear errors', async (t) => {
  const cluster = await ceph();
  const missing = await rejection(
    t,
    openStorage('s3://no-such-bucket-here/x', { adapter: 's3', s3: { ...cluster.options(), bucket: 'no-such-bucket-here' } }),
    'ENOENT',
    'a missing bucket',
  );
  t.match(missing?.message ?? '', /bucket 'no-such-bucket-here' does not exist/, `the message names it: ${missing?.message}`);
  const refused = await rejection(
    t,
    openStorage(`s3://${cluster.bucket}/x`, { adapter: 's3', s3: { ...cluster.options(), credentials: { accessKeyId: 'WRONG', secretAccessKey: 'WRONG' } } }),
    'EACCES',
    'unknown credentials',
  );
  t.match(refused?.message ?? '', /credentials/, `the message says what to check: ${refused?.message}`);
  // no credentials anywhere the SDK looks (options, environment, ~/.aws; the instance metadata service off)
  const saved = { ...process.env };
  const restore = () => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  };
  t.teardown(restore);
  for (const name of Object.keys(process.env))
    if (/^AWS_(ACCESS_KEY|SECRET|SESSION|PROFILE|CONFIG|SHARED|CONTAINER|WEB_IDENTITY|ROLE)/.test(name)) delete process.env[name];
  process.env.HOME = tempDir(t);
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  const { credentials, ...anonymous } = cluster.options();
  t.ok(credentials, 'the cluster has credentials, left out here');
  const none = await rejection(t, openStorage(`s3://${cluster.bucket}/x`, { adapter: 's3', s3: anonymous }), 'EACCES', 'no credentials at all');
  t.match(none?.message ?? '', /no credentials .* AWS_ACCESS_KEY_ID/, `the message says where to give them: ${none?.message}`);
  restore();
  const down = await rejection(
    t,
    openStorage(`s3://${cluster.bucket}/x`, { adapter: 's3', s3: { ...cluster.options(), endpoint: 'http://127.0.0.1:9', maxAttempts: 1 } }),
    'EIO',
    'an endpoint nobody listens on',
  );
  t.match(down?.message ?? '', /cannot be reached/, `the message says so: ${down?.message}`);
  await rejection(t, openStorage('/not/an/s3/url', { adapter: 's3' }), 'EINVAL', 'a root without a bucket');
});
