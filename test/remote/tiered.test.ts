// The tiered adapter against a real Ceph radosgw: the block cache (smaller than the data, reads stay
// right; an object changed behind our back, to another size or the same, is not served stale), write-back and write-through, and the
// faults: the gateway stopped while uploads are due, killed in the middle of a multipart upload, and our
// own process killed with uploads pending (they resume at the next open; nothing acknowledged is lost).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import test from 'tape';

import { metadataOf, newAttributes } from '../../src/adapters/s3/object-attributes.js';
import type { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { READ_WRITE, type DirNode, type FileNode } from '../../src/adapters/adapter.js';
import type { KeyLocks } from '../../src/adapters/tiered/key-locks.js';
import type { TieredAdapter, TieredOptions } from '../../src/adapters/tiered/tiered-adapter.js';
import { type File, Mode, openStorage, type Storage } from '../../src/index.js';
import { Acknowledged, bytes } from '../helpers.js';
import { ceph, countCommands, freshPrefix, objectBytes, type Ceph, type CommandCounts } from './ceph.js';
import { gate } from './tiered-kit.js';
import { recordsIn } from './upload-records.js';

interface Tiered {
  storage: Storage;
  adapter: TieredAdapter;
  client: S3Client;
  cluster: Ceph;
  prefix: string;
  cacheDir: string;
}

/** A tiered storage on a fresh prefix and cache directory; closed, and the directory removed, at the end. */
async function tiered(t: test.Test, options: Partial<TieredOptions> = {}, prefix = freshPrefix('tier'), cacheDir?: string): Promise<Tiered> {
  const cluster = await ceph();
  const dir = cacheDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
  const storage = await openStorage(`s3://${cluster.bucket}/${prefix}`, {
    adapter: 'tiered',
    s3: { ...cluster.options(prefix), maxAttempts: 1 },
    tiered: { cacheDir: dir, retryDelay: 100, maxRetryDelay: 1000, ...options },
    config: { logLevel: 'silent' },
  });
  const client = cluster.client();
  t.teardown(async () => {
    await storage.close();
    client.destroy();
    if (cacheDir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  });
  return { storage, adapter: storage.adapter as TieredAdapter, client, cluster, prefix, cacheDir: dir };
}

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Counts the S3 commands the adapter sends from now on. */
const commandsOf = (adapter: TieredAdapter): CommandCounts => countCommands((adapter as unknown as { remote: { store: ObjectStore } }).remote.store);

const KiB = 1024;

test('tiered: a sequential reader fetches the next blocks ahead, several GETs in flight; no block is fetched twice', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t, { blockSize: 64 * KiB, readAhead: 256 * KiB, fetchSize: 64 * KiB });
  const data = randomBytes(16 * 64 * KiB);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}seq`, Body: data }));
  const file = await storage.openFile('seq', { access: Mode.Read });
  const commands = commandsOf(adapter);
  const chunk = Buffer.alloc(16 * KiB);
  await file.read(0, chunk);
  await commands.settled();
  t.equal(commands.sent.get('GetObject'), 3, 'the first read of block 0 fetched it and the 2 blocks after it');
  const whole = Buffer.alloc(data.length);
  for (let at = 0; at < data.length; at += chunk.length) await file.read(at, whole.subarray(at, at + chunk.length));
  await commands.settled();
  t.equal(sha(whole), sha(data), 'the bytes are the object');
  t.equal(commands.sent.get('GetObject'), 16, 'one GET per block, none twice');
  t.ok((commands.maxInFlight.get('GetObject') ?? 0) > 1, `up to ${commands.maxInFlight.get('GetObject')} GETs in flight`);
  await file.close();
});

test('tiered: read-ahead fetches consecutive blocks by one GET, up to fetchSize', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t, { blockSize: 64 * KiB, readAhead: 512 * KiB, fetchSize: 256 * KiB });
  const data = randomBytes(32 * 64 * KiB + 5);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}grouped`, Body: data }));
  const file = await storage.openFile('grouped', { access: Mode.Read });
  const commands = commandsOf(adapter);
  const whole = Buffer.alloc(data.length);
  for (let at = 0; at < data.length; at += 16 * KiB) await file.read(at, whole.subarray(at, at + 16 * KiB));
  await commands.settled();
  await file.close();
  t.equal(sha(whole), sha(data), 'the bytes are the object');
  const gets = commands.sent.get('GetObject') ?? 0;
  t.ok(gets >= 9 && gets < 20, `33 blocks in ${gets} GETs (at most 4 blocks each)`);
});

test('tiered: random reads fetch only the blocks they read', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t, { blockSize: 64 * KiB, readAhead: 256 * KiB });
  const data = randomBytes(16 * 64 * KiB);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}rnd`, Body: data }));
  const file = await storage.openFile('rnd', { access: Mode.Read });
  const commands = commandsOf(adapter);
  let wrong = 0;
  for (const block of [10, 3, 7, 13, 5]) {
    const at = block * 64 * KiB + 1000;
    const buffer = Buffer.alloc(4 * KiB);
    await file.read(at, buffer);
    if (!buffer.equals(data.subarray(at, at + buffer.length))) wrong++;
  }
  await commands.settled();
  t.equal(wrong, 0, 'the bytes are right');
  t.equal(commands.sent.get('GetObject'), 5, 'five reads in five far-apart blocks: five GETs');
  await file.close();
});

test('tiered: native code may serve a cached object only as far as its blocks are held from 0 without a gap', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t, { blockSize: 64 * KiB, readAhead: 0 });
  const data = randomBytes(8 * 64 * KiB + 100);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}ready`, Body: data }));
  const file = await storage.openFile('ready', { access: Mode.Read });
  const commands = commandsOf(adapter);
  const access = file.nativeAccess();
  t.ok(access?.filling, 'a cached object not all here has a native access, for what is here');
  t.equal(access?.sizeCell[0], data.length, 'its size is the object size');
  const ready = () => access?.filling?.readyCell[0];
  t.equal(ready(), 0, 'nothing is ready before a read');
  const read = (block: number) => file.read(block * 64 * KiB, Buffer.alloc(64 * KiB));
  await read(3);
  t.equal(ready(), 0, 'block 3 held, not block 0: still nothing (a hole reads as zeros)');
  await read(0);
  await read(1);
  t.equal(ready(), 2 * 64 * KiB, 'blocks 0 and 1: two blocks');
  await read(2);
  t.equal(ready(), 4 * 64 * KiB, 'block 2 fills the gap to block 3: four blocks');
  for (const block of [4, 5, 6, 7, 8]) await read(block);
  t.equal(ready(), data.length, 'all of it: the object size');
  await commands.settled();
  t.equal(commands.sent.get('GetObject'), 9, 'one GET per block, read-ahead off');
  const local = Buffer.alloc(data.length);
  fs.readSync(access!.fd, local, 0, local.length, 0);
  t.ok(local.equals(data), 'the descriptor holds the object where it is ready');
  await file.close();
});

test('tiered: a block of a read-ahead GET serves as soon as it is written, before the rest of the GET has come', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t, { blockSize: 64 * KiB, readAhead: 128 * KiB, fetchSize: 1024 * KiB });
  const data = randomBytes(16 * 64 * KiB);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}streamed`, Body: data }));
  // the GETs' bodies, held back past the end of block 1 until the test lets them go
  const store = (adapter as unknown as { remote: { store: { stream: (...args: unknown[]) => AsyncGenerator<Buffer> } } }).remote.store;
  const stream = store.stream.bind(store);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  store.stream = async function* (key: unknown, offset: unknown, ...rest: unknown[]) {
    let at = offset as number;
    for await (const chunk of stream(key, offset, ...rest)) {
      const cut = Math.max(0, Math.min(chunk.length, 2 * 64 * KiB - at));
      // the part held back is copied: the first part's write gives the chunk's pooled memory back
      // (ObjectStore.giveBack), and another GET may fill it before the rest is yielded
      const after = cut < chunk.length ? Buffer.from(chunk.subarray(cut)) : undefined;
      if (cut > 0) yield chunk.subarray(0, cut);
      if (after !== undefined) {
        await released;
        yield after;
      }
      at += chunk.length;
    }
  };
  const file = await storage.openFile('streamed', { access: Mode.Read });
  const ready = () => file.nativeAccess()?.filling?.readyCell[0];
  await file.read(0, Buffer.alloc(64 * KiB));
  // block 0 was its own GET; its read fetched blocks 1-15 ahead by one GET
  const second = Buffer.alloc(64 * KiB);
  await file.read(64 * KiB, second);
  t.ok(second.equals(data.subarray(64 * KiB, 128 * KiB)), 'block 1 read while its GET is held back after it');
  t.equal(ready(), 64 * KiB, 'blocks 0 and 1 held, not the rest of the GET (ready: less the last block held, which read() serves)');
  release();
  const whole = Buffer.alloc(data.length);
  await file.read(0, whole);
  t.ok(whole.equals(data), 'then every byte');
  await file.close();
});

test('tiered: read-ahead with a cache smaller than the data: every byte right, the budget holds once closed', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t, { cacheSize: 64 * KiB, blockSize: 16 * KiB, readAhead: 64 * KiB });
  const objects = [randomBytes(1024 * KiB + 777), randomBytes(512 * KiB + 3)];
  for (const [n, data] of objects.entries()) await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}o${n}`, Body: data }));
  const commands = commandsOf(adapter);
  // a reader that stops early: its read-ahead lands after the close and is dropped
  const early = await storage.openFile('o0', { access: Mode.Read });
  await early.read(0, Buffer.alloc(100));
  await early.close();
  await commands.settled();
  const cache = (adapter as unknown as { tier: { cache: { bytes: number } } }).tier.cache;
  for (let pass = 0; pass < 2; pass++) {
    for (const [n, data] of objects.entries()) {
      const file = await storage.openFile(`o${n}`, { access: Mode.Read });
      const whole = Buffer.alloc(data.length);
      for (let at = 0; at < data.length; at += 10_000) await file.read(at, whole.subarray(at, at + 10_000));
      t.equal(sha(whole), sha(data), `pass ${pass + 1}: o${n} read sequentially is the object`);
      await file.close();
      await commands.settled();
      t.ok(cache.bytes <= 64 * KiB, `once closed, the cache holds ${cache.bytes} bytes, within 64 KiB`);
    }
  }
});

test('tiered: reading a file back after its upload costs no GET (the local copy became the cached version)', async (t) => {
  const { storage, adapter } = await tiered(t);
  const data = randomBytes(300 * KiB);
  const file = await storage.root.createFile('up');
  await file.writeAt(0, data);
  await file.close();
  await adapter.drained();
  const commands = commandsOf(adapter);
  const again = await storage.openFile('up', { access: Mode.Read });
  const whole = Buffer.alloc(data.length);
  await again.read(0, whole);
  await again.close();
  await commands.settled();
  t.ok(whole.equals(data), 'the bytes are the file');
  t.equal(commands.sent.get('GetObject') ?? 0, 0, 'no GET');
});

test('tiered: a warm open opens its cached file once (no create that fails first); a cold one makes it', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t);
  const data = randomBytes(200 * KiB);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}warm`, Body: data }));
  // the block cache's directory, its calls counted from here on
  const blocks = (adapter as unknown as { tier: { cache: { dir: Record<string, (...args: unknown[]) => Promise<unknown>> } } }).tier.cache.dir;
  const calls: string[] = [];
  for (const name of ['createFile', 'openFile']) {
    const original = blocks[name]!;
    blocks[name] = async (...args: unknown[]) => {
      try {
        const file = await original.apply(blocks, args);
        calls.push(`${name} ok`);
        return file;
      } catch (error) {
        calls.push(`${name} ${(error as { code?: string }).code}`);
        throw error;
      }
    };
  }
  const readAll = async () => {
    const file = await storage.openFile('warm', { access: Mode.Read });
    const whole = Buffer.alloc(data.length);
    await file.read(0, whole);
    await file.close();
    return whole;
  };
  t.ok((await readAll()).equals(data), 'cold: the bytes are the object');
  t.deepEqual(calls.splice(0), ['createFile ok'], 'cold: the cached file is made');
  t.ok((await readAll()).equals(data), 'warm: the bytes are the object');
  t.deepEqual(calls, ['openFile ok'], 'warm: the cached file is opened, once');
});

test('tiered: uploads run several at once, within uploadConcurrency, and all land', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t, { uploadConcurrency: 3 });
  const commands = commandsOf(adapter);
  const files = Array.from({ length: 12 }, (_, n) => randomBytes(64 * KiB + n));
  await Promise.all(
    files.map(async (data, n) => {
      const file = await storage.root.createFile(`u${n}`);
      await file.writeAt(0, data);
      await file.close();
    }),
  );
  await adapter.drained();
  const most = commands.maxInFlight.get('PutObject') ?? 0;
  t.ok(most > 1 && most <= 3, `${most} PUTs in flight at most (2 or 3)`);
  let wrong = 0;
  for (const [n, data] of files.entries()) if (!(await objectBytes(client, cluster.bucket, `${prefix}u${n}`))?.equals(data)) wrong++;
  t.equal(wrong, 0, 'all 12 objects are in the bucket, whole');
});

test('tiered: a cache smaller than the data serves every read right and stays within its budget', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t, { cacheSize: 64 * 1024, blockSize: 16 * 1024 });
  const data = randomBytes(1024 * 1024 + 777);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}big`, Body: data }));
  const file = await storage.openFile('big', { access: Mode.Read });
  let wrong = 0;
  for (let i = 0; i < 300; i++) {
    const at = Math.floor(Math.random() * data.length);
    const buffer = Buffer.alloc(Math.floor(Math.random() * 40_000) + 1);
    const got = await file.read(at, buffer);
    if (!buffer.subarray(0, got).equals(data.subarray(at, at + got)) || got !== Math.min(buffer.length, data.length - at)) wrong++;
  }
  t.equal(wrong, 0, '300 random reads, every one right');
  await file.close();
  const cache = (adapter as unknown as { tier: { cache: { bytes: number } } }).tier.cache;
  t.ok(cache.bytes > 0 && cache.bytes <= 64 * 1024, `once closed, the cache holds ${cache.bytes} bytes, within 64 KiB`);
  const whole = Buffer.alloc(data.length);
  const again = await storage.openFile('big', { access: Mode.Read });
  await again.read(0, whole);
  t.equal(sha(whole), sha(data), 'a whole read after evictions is the object');
  await again.close();
});

test('tiered: an object changed behind our back is not served from the cache', async (t) => {
  const { storage, client, cluster, prefix } = await tiered(t, { blockSize: 4096 });
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}v`, Body: 'version one' }));
  const first = await storage.openFile('v', { access: Mode.Read });
  const buffer = Buffer.alloc(11);
  await first.read(0, buffer);
  t.equal(buffer.toString(), 'version one', 'read (and cached)');
  await first.close();
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}v`, Body: 'VERSION TWO!' }));
  const second = await storage.openFile('v', { access: Mode.Read });
  const fresh = Buffer.alloc(12);
  await second.read(0, fresh);
  t.equal(fresh.toString(), 'VERSION TWO!', 'a new open sees the new ETag and reads the new version');
  await second.close();
});

test('tiered: an object changed behind our back to one of the same size is not served from the cache', async (t) => {
  // no read-ahead: a handle holds only the blocks it read
  const { storage, client, cluster, prefix } = await tiered(t, { blockSize: 4096, readAhead: 0 });
  const put = (name: string, body: Buffer) => client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}${name}`, Body: body }));
  const read = async (file: File, at: number, length: number) => {
    const buffer = Buffer.alloc(length);
    return buffer.subarray(0, await file.read(at, buffer));
  };
  const one = Buffer.alloc(3 * 4096, 1);
  const two = Buffer.alloc(3 * 4096, 2);

  // both there before the directory is first listed (a new name put later shows only after dirCacheTime)
  await put('closed', one);
  await put('open', one);
  // wholly cached, closed, then replaced
  const first = await storage.openFile('closed', { access: Mode.Read });
  t.ok((await read(first, 0, one.length)).equals(one), 'version one read (and cached)');
  await first.close();
  await put('closed', two);
  const second = await storage.openFile('closed', { access: Mode.Read });
  t.equal(await second.size(), one.length, 'the new version has the same size');
  t.ok((await read(second, 0, two.length)).equals(two), 'a new open reads the new version, not the cached bytes of the old one');
  await second.close();

  // replaced while a handle has its first block cached and open
  const old = await storage.openFile('open', { access: Mode.Read });
  t.ok((await read(old, 0, 4096)).equals(one.subarray(0, 4096)), 'the first block of version one read (and cached)');
  await put('open', two);
  const fresh = await storage.openFile('open', { access: Mode.Read });
  t.ok((await read(fresh, 0, two.length)).equals(two), 'a new open reads the new version, its first block too');
  await fresh.close();
  t.ok((await read(old, 0, 4096)).equals(one.subarray(0, 4096)), 'the handle opened before reads its own version of the block it has');
  const rest = await read(old, 4096, 4096).then(
    () => 'read',
    (error: { code?: string }) => error.code,
  );
  t.equal(rest, 'ESTALE', 'and fails ESTALE where it would read the new version (never a mix)');
  await old.close();
});

test('tiered: a file opened for writing and not written uploads nothing (a newer object is not overwritten)', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t);
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}o`, Body: 'original' }));
  const file = await storage.openFile('o');
  const buffer = Buffer.alloc(8);
  await file.read(0, buffer);
  t.equal(buffer.toString(), 'original', 'read through a handle open for writing');
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}o`, Body: 'changed elsewhere' }));
  await file.close();
  await adapter.drained();
  t.equal(adapter.pendingUploads, 0, 'no upload was due');
  t.equal((await objectBytes(client, cluster.bucket, `${prefix}o`))?.toString(), 'changed elsewhere', 'the newer object stays');
});

test('tiered: write-back uploads after close; write-through before close resolves', async (t) => {
  const back = await tiered(t);
  const file = await back.storage.root.createFile('wb');
  await file.writeAt(0, bytes('written back'));
  t.equal(await objectBytes(back.client, back.cluster.bucket, `${back.prefix}wb`), undefined, 'nothing in the bucket while the file is open');
  t.equal((await back.storage.stat('wb')).size, 12, 'stat sees the local copy');
  t.deepEqual(
    (await back.storage.root.read()).map((entry) => entry.name),
    ['wb'],
    'the file is listed before its upload',
  );
  await file.close();
  await back.adapter.drained();
  t.equal((await objectBytes(back.client, back.cluster.bucket, `${back.prefix}wb`))?.toString(), 'written back', 'uploaded after close');
  const head = await back.client.send(new HeadObjectCommand({ Bucket: back.cluster.bucket, Key: `${back.prefix}wb` }));
  t.equal(head.Metadata?.mode, String((await back.storage.stat('wb')).mode), 'with its mode');

  const through = await tiered(t, { writeMode: 'through' });
  const synced = await through.storage.root.createFile('wt');
  await synced.writeAt(0, bytes('first'));
  await synced.sync();
  t.equal(
    (await objectBytes(through.client, through.cluster.bucket, `${through.prefix}wt`))?.toString(),
    'first',
    'write-through: uploaded when sync resolves',
  );
  await synced.writeAt(0, bytes('FIRST, then more'));
  await synced.close();
  t.equal((await objectBytes(through.client, through.cluster.bucket, `${through.prefix}wt`))?.toString(), 'FIRST, then more', 'and when close resolves');
  t.equal(through.adapter.pendingUploads, 0, 'nothing left pending');
});

test('tiered write-through: one upload a change; a close after a sync, or of a file left as it was, sends nothing again', async (t) => {
  const { storage, adapter, client, cluster, prefix, cacheDir } = await tiered(t, { writeMode: 'through' });
  const object = async (name: string) => (await objectBytes(client, cluster.bucket, `${prefix}${name}`))?.toString();
  const commands = commandsOf(adapter);
  const puts = async () => {
    await commands.settled();
    return commands.sent.get('PutObject') ?? 0;
  };
  const file = await storage.root.createFile('once');
  await file.writeAt(0, bytes('written once'));
  await file.sync();
  t.equal(await puts(), 1, 'sync: one PUT');
  t.equal(await object('once'), 'written once', 'in the bucket when sync resolves');
  await file.sync();
  await file.flush();
  t.equal(await puts(), 1, 'another sync, and a flush (a close(2)), with nothing changed: no PUT');
  await file.close();
  t.equal(await puts(), 1, 'the last close: no PUT either');
  t.equal(adapter.pendingUploads, 0, 'nothing pending');
  t.deepEqual(recordsIn(cacheDir), [], 'no upload record left');
  const head = await client.send(new HeadObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}once` }));
  t.equal(head.Metadata?.['mtime-ns'], String((await storage.stat('once')).mtimeNs), "the object's mtime is the copy's");
  const gets = commands.sent.get('GetObject') ?? 0;
  const back = await storage.openFile('once', { access: Mode.Read });
  const read = Buffer.alloc(12);
  await back.read(0, read);
  await back.close();
  await commands.settled();
  t.equal(read.toString(), 'written once', 'reads back');
  t.equal(commands.sent.get('GetObject') ?? 0, gets, 'from the copy kept as cache (no GET)');

  const again = await storage.openFile('once', { access: Mode.ReadAndWrite });
  await again.sync();
  await again.flush();
  await again.close();
  t.equal(await puts(), 1, 'opened for writing, synced and closed, never changed: no PUT');

  const changed = await storage.openFile('once', { access: Mode.ReadAndWrite });
  await changed.sync();
  await changed.writeAt(0, bytes('WRITTEN'));
  await changed.flush();
  t.equal(await puts(), 2, 'a write after a sync: the next flush sends it');
  await changed.writeAt(12, bytes(', then more'));
  await changed.close();
  t.equal(await puts(), 3, 'and a write after that flush: the close sends it');
  t.equal(await object('once'), 'WRITTEN once, then more', 'the newest bytes are in the bucket');

  const moved = await storage.root.createFile('before');
  await moved.writeAt(0, bytes('moving'));
  await moved.sync();
  await storage.root.moveEntry('before', storage.root, 'after');
  await moved.close();
  t.equal(await puts(), 5, 'renamed after its sync: the close sends it under its new name');
  t.equal(await object('after'), 'moving', 'there');
  t.equal(await object('before'), undefined, 'and nothing under the old one');
});

test('tiered write-through: a write still running when a sync sends the copy is sent by the next sync (counted as it ends)', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t, { writeMode: 'through' });
  const file = await storage.root.createFile('inflight');
  await file.writeAt(0, bytes('aaaa'));
  await file.sync();
  const written = [...(adapter as unknown as { tier: { written: Map<string, { file: FileNode }> } }).tier.written.values()][0]!.file;
  // a file system whose clock ticks coarsely: the copy's times stay as they were, only the count tells
  const stat = written.stat.bind(written);
  const frozen = await stat();
  written.stat = async () => ({ ...(await stat()), ctimeNs: frozen.ctimeNs, mtimeNs: frozen.mtimeNs });
  const held = gate(written, 'write');
  const writing = file.writeAt(0, bytes('bbbb'));
  await held.entered;
  await file.sync();
  t.equal((await objectBytes(client, cluster.bucket, `${prefix}inflight`))?.toString(), 'aaaa', 'the sync during the write sent the copy without it');
  held.open();
  await writing;
  await file.sync();
  t.equal((await objectBytes(client, cluster.bucket, `${prefix}inflight`))?.toString(), 'bbbb', 'the next sync sends it');
  await file.close();
});

test('tiered: a chmod by name of a file open for writing, never written, reaches the bucket at its close', async (t) => {
  for (const writeMode of ['back', 'through'] as const) {
    const { storage, adapter, client, cluster, prefix } = await tiered(t, { writeMode });
    await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}m`, Body: 'mode', Metadata: metadataOf(newAttributes(0o644)) }));
    const file = await storage.openFile('m', { access: Mode.ReadAndWrite });
    await storage.root.setEntryPermission('m', 0o600);
    await file.close();
    await adapter.drained();
    const head = await client.send(new HeadObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}m` }));
    t.equal(head.Metadata?.mode, String(0o100600), `write-${writeMode}: the new mode is the object's`);
    t.equal((await storage.stat('m')).mode & 0o7777, 0o600, `write-${writeMode}: and stat's`);
  }
});

test('tiered: a new file costs nothing durable until its first sync or close; then its upload is recorded', async (t) => {
  const { storage, adapter, client, cluster, prefix, cacheDir } = await tiered(t);
  const records = () => fs.readdirSync(path.join(cacheDir, 'pending')).length;
  const file = await storage.root.createFile('lazy');
  await file.writeAt(0, bytes('not synced yet'));
  t.equal(records(), 0, 'created and written: no upload record yet');
  await file.sync();
  t.equal(records(), 1, 'after sync: its upload is recorded');
  await file.close();
  await adapter.drained();
  t.equal((await objectBytes(client, cluster.bucket, `${prefix}lazy`))?.toString(), 'not synced yet', 'uploaded after close');

  const dropped = await storage.root.createFile('dropped');
  await dropped.writeAt(0, bytes('gone'));
  await storage.root.deleteFile('dropped');
  await dropped.close();
  await adapter.drained();
  t.equal(records(), 0, 'a new file deleted while open leaves no record');
  const left = fs.readdirSync(path.join(cacheDir, 'staging')).filter((name) => fs.statSync(path.join(cacheDir, 'staging', name)).size > 0);
  t.deepEqual(left, [], 'nor its local copy (what staging/ holds is empty copies made ahead)');
  t.equal(await objectBytes(client, cluster.bucket, `${prefix}dropped`), undefined, 'nor an object');
});

test('tiered: a new file takes a local copy made ahead, with the times of its create; close() removes the copies left', async (t) => {
  const { storage, cacheDir } = await tiered(t);
  const staging = path.join(cacheDir, 'staging');
  await (await storage.root.createFile('first')).close();
  // the copies for the next creates are made while nothing waits for them
  let ahead = 0;
  for (let wait = 0; wait < 50 && ahead === 0; wait++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    ahead = fs.readdirSync(staging).length - 1;
  }
  t.ok(ahead > 0, `${ahead} empty copies wait in staging/ beside the first file's`);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const before = BigInt(Date.now() - 20) * 1_000_000n; // the file clock is coarse (a tick)
  const second = await storage.root.createFile('second');
  const stat = await second.stat();
  t.ok(stat.mtimeNs >= before && stat.ctimeNs >= before, 'a copy made a second earlier has the times of this create');
  await second.close();
  await storage.close();
  t.deepEqual(fs.readdirSync(staging), [], 'uploaded and closed: no copy left in staging/');
});

test('tiered: a new file stays visible while its last close records its upload (stat, listing, rmdir of its directory)', async (t) => {
  const { storage } = await tiered(t);
  await storage.root.createDirectory('dir');
  const dir = await storage.root.openDirectory('dir');
  let missing = 0;
  let listedWithout = 0;
  let removed = 0;
  for (let i = 0; i < 10; i++) {
    const file = await dir.createFile(`f${i}`);
    await file.writeAt(0, bytes('written, then closed'));
    let closed = false;
    const closing = file.close().then(() => (closed = true));
    // what another caller sees while the close syncs the copy and writes the record (git's stat after close)
    while (!closed) {
      const [stat, names, rmdir] = await Promise.allSettled([dir.stat(`f${i}`), dir.read(), storage.root.removeDirectory('dir')]);
      if (stat.status === 'rejected') missing++;
      if (names.status === 'fulfilled' && !names.value.some((entry) => entry.name === `f${i}`)) listedWithout++;
      if (rmdir.status === 'fulfilled') removed++;
      await new Promise((resolve) => setImmediate(resolve)); // the close's IO completes between rounds
    }
    await closing;
  }
  t.equal(missing, 0, 'stat found the file at every moment of its close');
  t.equal(listedWithout, 0, 'the listing named it at every moment');
  t.equal(removed, 0, 'its directory was never removed as empty');
  await dir.close();
});

test('tiered: a last close whose upload record cannot be written keeps the file (visible, readable) and records it later', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t);
  const uploads = (adapter as unknown as { tier: { uploads: { begin(...args: unknown[]): Promise<void> } } }).tier.uploads;
  const begin = uploads.begin.bind(uploads);
  // the record's write fails twice (a full disk), then succeeds
  let failures = 2;
  let recorded = false;
  uploads.begin = async (...args: unknown[]) => {
    if (failures-- > 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    await begin(...args);
    recorded = true;
  };
  const file = await storage.root.createFile('kept');
  await file.writeAt(0, bytes('precious bytes'));
  await file.close();
  t.pass('the close resolved (its record is tried again)');
  t.equal((await storage.root.stat('kept')).size, 14, 'the file is still there, its size whole');
  t.ok(
    (await storage.root.read()).some((entry) => entry.name === 'kept'),
    'and listed',
  );
  const deadline = Date.now() + 10_000;
  while (!recorded && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(recorded, 'the close was tried again until its record was written');
  await adapter.drained();
  t.equal((await objectBytes(client, cluster.bucket, `${prefix}kept`))?.toString(), 'precious bytes', 'and the file uploaded, every byte');
});

/** Holds the tiered adapter's turn of `key` (its operations on that name wait) until the returned function is called. */
function holdTurn(adapter: TieredAdapter, key: string): () => Promise<void> {
  const locks = (adapter as unknown as { tier: { locks: KeyLocks } }).tier.locks;
  let free!: () => void;
  const gate = new Promise<void>((resolve) => {
    free = resolve;
  });
  const held = locks.with([key], () => gate);
  return async () => {
    free();
    await held;
  };
}

test('tiered: a file opened again while its last handle waits to close stays open: its writes are kept and uploaded', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t);
  const root = storage.root.node;
  const first = await root.createFile('again', 0o644, READ_WRITE);
  await first.write([bytes('hello')], 0);
  // the open takes the name's turn before the close does (on the mount: dd closes, then sync FILE opens it,
  // its OPEN served before the RELEASE of dd's handle); the close used to close the copy under the new handle
  const release = holdTurn(adapter, `${prefix}again`);
  const opening = root.openFile('again', READ_WRITE);
  const closing = first.close();
  await release();
  const second = await opening;
  await closing;
  await second.write([bytes(' world')], 5);
  t.equal((await second.stat()).size, 11, 'the new handle writes to the copy');
  await second.close();
  await adapter.drained();
  t.equal((await objectBytes(client, cluster.bucket, `${prefix}again`))?.toString(), 'hello world', 'its close uploads every byte');
});

test("tiered: the last close of a file renamed while the close waited takes the new name's turn (an open of the new name then finds it)", async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t);
  const root = storage.root.node;
  const file = await root.createFile('a-old', 0o644, READ_WRITE);
  await file.write([bytes('renamed')], 0);
  // the rename holds the old name's turn and waits for the new one's; the close queues behind it on the old
  // name (cp's RELEASE, then mv), and an open of the new name behind it on the new one
  const release = holdTurn(adapter, `${prefix}b-new`);
  const renaming = root.rename('a-old', root, 'b-new', 'replace');
  const closing = file.close();
  await new Promise((resolve) => setImmediate(resolve));
  const opening = root.openFile('b-new', READ_WRITE);
  await release();
  await renaming;
  const again = await opening;
  await closing;
  await again.write([bytes(' then written')], 7);
  await again.close();
  await adapter.drained();
  t.equal((await objectBytes(client, cluster.bucket, `${prefix}b-new`))?.toString(), 'renamed then written', 'the new name has every byte');
  t.equal(await objectBytes(client, cluster.bucket, `${prefix}a-old`), undefined, 'the old name is not in the bucket');
});

test('tiered: an open of a file whose upload ends while the open runs reads it from the bucket (the copy went to the cache)', async (t) => {
  const { storage, adapter } = await tiered(t, { writeBackDelay: 600_000 });
  const file = await storage.root.createFile('pending');
  await file.writeAt(0, bytes('uploaded during the open'));
  await file.close();
  t.equal(adapter.pendingUploads, 1, 'its upload waits');
  // the open finds the upload pending, then the upload ends before the open reaches the copy (an upload
  // ends outside the key's turn): the copy is the cached version by then, not a copy waiting
  const tier = (adapter as unknown as { tier: { staging: DirNode; uploads: { startDelayed(): void } } }).tier;
  const openFile = tier.staging.openFile.bind(tier.staging);
  let raced = 0;
  tier.staging.openFile = async (name, flags) => {
    if (!flags.write && raced === 0) {
      raced++;
      tier.uploads.startDelayed();
      await adapter.drained();
    }
    return openFile(name, flags);
  };
  const reader = await storage.openFile('pending', { access: Mode.Read });
  const data = Buffer.alloc(24);
  await reader.read(0, data);
  await reader.close();
  t.equal(raced, 1, 'the upload ended during the open');
  t.equal(data.toString(), 'uploaded during the open', 'the open reads every byte');
});

test('tiered: with the gateway stopped, uploads wait and complete once it is back', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t);
  const files = Array.from({ length: 5 }, (_, n) => randomBytes(1000 + n));
  const open = [];
  for (const [n, data] of files.entries()) {
    const file = await storage.root.createFile(`w${n}`);
    await file.writeAt(0, data);
    open.push(file);
  }
  cluster.stopGateway();
  let gatewayDown = true;
  t.teardown(() => {
    if (gatewayDown) cluster.startGateway();
  });
  for (const file of open) await file.close();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal(adapter.pendingUploads, 5, 'five uploads pending while the gateway is down (after retries)');
  const readBack = await storage.openFile('w3');
  const local = Buffer.alloc(1003);
  await readBack.read(0, local);
  t.ok(local.equals(files[3]!), 'a pending file reads from its local copy');
  await readBack.close();
  cluster.startGateway();
  gatewayDown = false;
  await adapter.drained();
  for (const [n, data] of files.entries()) {
    const stored = await objectBytes(client, cluster.bucket, `${prefix}w${n}`);
    t.ok(stored?.equals(data), `w${n} reached the bucket whole`);
  }
});

test('tiered: radosgw killed in the middle of a multipart upload; the upload completes after it returns', async (t) => {
  const { storage, adapter, client, cluster, prefix } = await tiered(t);
  const data = randomBytes(48 * 1024 * 1024 + 5); // four parts: three of 16 MiB and one of 5 bytes
  // the parts after the first wait until the gateway is killed: the kill lands with part 1 stored and the others not
  let killed!: () => void;
  const gatewayKilled = new Promise<void>((resolve) => {
    killed = resolve;
  });
  const store = (adapter as unknown as { remote: { store: ObjectStore } }).remote.store;
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand' && (args.input as { PartNumber?: number }).PartNumber !== 1) await gatewayKilled;
      return next(args);
    },
    { step: 'initialize', name: 'holdPartsAfterTheFirst' },
  );
  const file = await storage.root.createFile('big');
  for (let at = 0; at < data.length; at += 8 * 1024 * 1024) await file.writeAt(at, data.subarray(at, at + 8 * 1024 * 1024));
  await file.close();
  // the bucket's multipart uploads of the key, and the parts stored of the first
  const key = `${prefix}big`;
  let parts = 0;
  for (const deadline = Date.now() + 30_000; parts === 0 && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: cluster.bucket, Prefix: key }));
    const uploadId = uploads.Uploads?.find((upload) => upload.Key === key)?.UploadId;
    if (uploadId === undefined) continue;
    parts = (await client.send(new ListPartsCommand({ Bucket: cluster.bucket, Key: key, UploadId: uploadId }))).Parts?.length ?? 0;
  }
  t.equal(parts, 1, 'when the gateway is killed, the multipart upload has 1 part of 4 stored');
  t.equal(await objectBytes(client, cluster.bucket, key), undefined, 'and the object is not there yet');
  cluster.stopGateway(true);
  let gatewayDown = true;
  t.teardown(() => {
    if (gatewayDown) cluster.startGateway();
  });
  killed();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.equal(adapter.pendingUploads, 1, 'the upload failed with the gateway and waits to be retried');
  cluster.startGateway();
  gatewayDown = false;
  await adapter.drained();
  const stored = await objectBytes(client, cluster.bucket, key);
  t.equal(stored?.length, data.length, 'the whole object is there');
  t.equal(sha(stored ?? Buffer.alloc(0)), sha(data), 'with every byte');
});

test('tiered: kill -9 with uploads pending; the next open resumes them and nothing acknowledged is lost', async (t) => {
  const cluster = await ceph();
  const prefix = freshPrefix('crash');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const writer = path.join(path.dirname(new URL(import.meta.url).pathname), 'tiered-writer.js');
  const child = spawn(process.execPath, [writer], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      ENDPOINT: cluster.endpoint,
      BUCKET: cluster.bucket,
      PREFIX: prefix,
      ACCESS: cluster.accessKeyId,
      SECRET: cluster.secretAccessKey,
      CACHE_DIR: cacheDir,
      SIZE: '20000',
      COUNT: '40',
    },
  });
  t.teardown(() => child.kill('SIGKILL'));
  const acked = new Acknowledged(child);
  await acked.until(child, () => acked.last >= -1 && acked.numbers.length > 0);
  cluster.stopGateway(true);
  let gatewayDown = true;
  t.teardown(() => {
    if (gatewayDown) cluster.startGateway();
  });
  await acked.until(child, () => acked.last >= 20);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const last = acked.last;
  const records = fs.readdirSync(path.join(cacheDir, 'pending')).length;
  // (closes racing the gateway's stop may have uploaded before it went)
  t.ok(records > 0, `the killed process left ${records} upload records (of ${last + 1} acknowledged files) pending`);
  cluster.startGateway();
  gatewayDown = false;
  const { adapter, client } = await tiered(t, {}, prefix, cacheDir);
  await adapter.drained();
  let missing = 0;
  for (let n = 0; n <= last; n++) {
    const stored = await objectBytes(client, cluster.bucket, `${prefix}f${n}`);
    if (stored === undefined || !stored.equals(Buffer.alloc(20000, n % 251))) missing++;
  }
  t.equal(missing, 0, `all ${last + 1} acknowledged files reached the bucket after the restart`);
  t.equal(fs.readdirSync(path.join(cacheDir, 'pending')).length, 0, 'no upload record is left');
});

const thisBoot = (): string => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

test('tiered: closes record their uploads as lines of one log, not a file each', async (t) => {
  // no upload runs (concurrency 0): the records stay to be read
  const { storage, prefix, cacheDir } = await tiered(t, { uploadConcurrency: 0, closeTimeout: 0 });
  for (let i = 0; i < 3; i++) {
    const file = await storage.root.createFile(`f${i}`);
    await file.writeAt(0, bytes(`file ${i}`));
    await file.close();
  }
  const names = fs.readdirSync(path.join(cacheDir, 'pending'));
  t.ok(names.length === 1 && names[0]!.endsWith('.log'), `pending/ holds ${names.join(', ')}: one log for the three closes`);
  const keys = recordsIn(cacheDir).map((record) => record.key);
  t.deepEqual(
    keys.sort(),
    [0, 1, 2].map((i) => `${prefix}f${i}`),
    'with the three records',
  );
});

test('tiered: a close records its upload for this boot; a sync records the copy size, kept by a later close', async (t) => {
  // no upload runs (concurrency 0): the records stay to be read
  const { storage, prefix, cacheDir } = await tiered(t, { uploadConcurrency: 0, closeTimeout: 0 });
  const closed = await storage.root.createFile('closed');
  await closed.writeAt(0, bytes('closed, never synced'));
  await closed.close();
  const [onlyClosed] = recordsIn(cacheDir);
  t.equal(onlyClosed?.key, `${prefix}closed`, 'a close records the upload');
  t.equal(onlyClosed?.boot, thisBoot(), 'with the boot that wrote it');
  t.equal(onlyClosed?.synced, undefined, 'and no synced content: it was never synced');

  const synced = await storage.root.createFile('synced');
  await synced.writeAt(0, bytes('synced content'));
  await synced.sync();
  const atSync = recordsIn(cacheDir).find((record) => record.key === `${prefix}synced`);
  t.deepEqual(atSync?.synced, { size: 14 }, 'sync() records the size of the copy');
  await synced.writeAt(0, bytes('SYNCED content, longer'));
  await synced.close();
  const atClose = recordsIn(cacheDir).find((record) => record.key === `${prefix}synced`);
  t.deepEqual(atClose?.synced, { size: 14 }, 'a close after more writes keeps the last sync (the durable content)');
  t.equal(fs.readFileSync(path.join(cacheDir, 'staging', String(atClose?.id)), 'utf8'), 'SYNCED content, longer', 'the copy has the newest bytes');
});

test("tiered: after the machine stopped, a record of an earlier boot uploads only a synced copy of its last sync's size", async (t) => {
  const cluster = await ceph();
  const prefix = freshPrefix('reboot');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(cacheDir, 'staging'));
  fs.mkdirSync(path.join(cacheDir, 'pending'));
  const client = cluster.client();
  t.teardown(() => client.destroy());
  // what an earlier process left: copies in staging/ and their records in pending/, as if written by it
  const leave = (name: string, copy: string, record: Record<string, unknown>) => {
    fs.writeFileSync(path.join(cacheDir, 'staging', name), copy);
    const stored = { id: name, key: `${prefix}${name}`, metadata: metadataOf(newAttributes(0o644)), ...record };
    fs.writeFileSync(path.join(cacheDir, 'pending', `${name}.json`), JSON.stringify(stored));
  };
  const sum = (content: string) => ({ size: Buffer.byteLength(content) });
  const other = 'a0000000-0000-4000-8000-000000000000';
  leave('closed-earlier-boot', 'maybe torn', { boot: other });
  leave('synced-earlier-boot', 'synced and whole', { boot: other, synced: sum('synced and whole') });
  leave('torn-earlier-boot', 'written again past it, torn', { boot: other, synced: sum('the synced content!') });
  leave('rewritten-earlier-boot', 'REWRITTEN in place', { boot: other, synced: sum('rewritten in place') });
  leave('closed-this-boot', 'closed, then kill -9', { boot: thisBoot() });
  leave('older-version', 'recorded by an earlier version', {});
  // the object a torn copy must not replace
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}torn-earlier-boot`, Body: 'the good object' }));

  const { adapter } = await tiered(t, {}, prefix, cacheDir);
  await adapter.drained();
  const object = async (name: string) => (await objectBytes(client, cluster.bucket, `${prefix}${name}`))?.toString();
  t.equal(await object('closed-earlier-boot'), undefined, 'closed, never synced, earlier boot: not uploaded');
  t.equal(await object('synced-earlier-boot'), 'synced and whole', 'synced, the copy of that size: uploaded');
  t.equal(await object('torn-earlier-boot'), 'the good object', "a copy not of its last sync's size does not replace the object");
  t.equal(
    await object('rewritten-earlier-boot'),
    'REWRITTEN in place',
    'one of that size, written again in place, uploads as the disk kept it (as a local file would be)',
  );
  t.equal(await object('closed-this-boot'), 'closed, then kill -9', 'closed in this boot (the process was killed): uploaded');
  t.equal(await object('older-version'), 'recorded by an earlier version', 'a record without a boot (always synced): uploaded');
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'pending')), [], 'no record is left');
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'staging')), [], 'nor a copy not uploaded');
});

test('tiered: a record that is not whole, or without its copy, is dropped at open', async (t) => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(cacheDir, 'staging'));
  fs.mkdirSync(path.join(cacheDir, 'pending'));
  // written at a close (no fsync), then the machine stopped: the rename reached the disk, not all the bytes
  fs.writeFileSync(path.join(cacheDir, 'staging', 'torn-record'), 'a copy');
  fs.writeFileSync(path.join(cacheDir, 'pending', 'torn-record.json'), '{"id":"torn-record","key":"x/to');
  // uploaded; the record's removal was not synced, the copy was already taken into the block cache
  fs.writeFileSync(
    path.join(cacheDir, 'pending', 'gone.json'),
    JSON.stringify({ id: 'gone', key: 'x/gone', metadata: metadataOf(newAttributes(0o644)), boot: thisBoot() }),
  );
  fs.writeFileSync(path.join(cacheDir, 'pending', 'gone-1.tmp'), '{"id":');
  const { adapter } = await tiered(t, {}, freshPrefix('dropped'), cacheDir);
  t.equal(adapter.pendingUploads, 0, 'the storage opens, with no upload to resume');
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'pending')), [], 'the records and a record being written are removed');
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'staging')), [], 'and the copy without a whole record');
});

test('tiered: with a write-back delay, a file deleted before its upload starts is never sent; close() starts the uploads waiting', async (t) => {
  const cluster = await ceph();
  const prefix = freshPrefix('delay');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const storage = await openStorage(`s3://${cluster.bucket}/${prefix}`, {
    adapter: 'tiered',
    s3: { ...cluster.options(prefix), maxAttempts: 1 },
    tiered: { cacheDir, writeBackDelay: 600_000 },
    config: { logLevel: 'silent' },
  });
  const adapter = storage.adapter as TieredAdapter;
  const commands = commandsOf(adapter);
  const temporary = await storage.root.createFile('temporary');
  await temporary.writeAt(0, bytes('deleted before its upload'));
  await temporary.close();
  await storage.root.deleteFile('temporary');
  const kept = await storage.root.createFile('kept');
  await kept.writeAt(0, bytes('uploaded when the storage closes'));
  await kept.close();
  t.equal(adapter.pendingUploads, 1, 'one upload waits');
  await storage.close();
  t.equal(commands.sent.get('PutObject') ?? 0, 1, 'one PUT in all: the deleted file was never sent');
  const client = cluster.client();
  t.equal((await objectBytes(client, cluster.bucket, `${prefix}kept`))?.toString(), 'uploaded when the storage closes', 'close() uploaded the file waiting');
  t.equal(await objectBytes(client, cluster.bucket, `${prefix}temporary`), undefined, 'and the deleted one is not in the bucket');
  client.destroy();
});
