// The tiered adapter's interleavings and failures that a real radosgw leaves to chance, forced: background
// work (a last close recording its upload, a write-through PUT, an upload finishing) held at one point while
// another operation on the same name runs, and the local disk or the bucket failing one call.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { pino } from 'pino';
import test from 'tape';

import { READ_WRITE, type DirNode, type FileNode } from '../../src/adapters/adapter.js';
import type { ObjectStore } from '../../src/adapters/s3/object-store.js';
import type { TieredAdapter, TieredOptions } from '../../src/adapters/tiered/tiered-adapter.js';
import { Mode, openStorage, type Storage } from '../../src/index.js';
import { bytes } from '../helpers.js';
import { ceph, freshPrefix } from './ceph.js';
import { gate, tieredOnCeph } from './tiered-kit.js';
import { recordsIn } from './upload-records.js';

const tiered = (t: test.Test, options: Partial<TieredOptions> = {}) => tieredOnCeph(t, 'race', options);

interface TierInternals {
  store: ObjectStore;
  staging: DirNode;
  uploads: { startDelayed(): void };
  cache: { bytes: number };
  spares: { take(): Promise<unknown> };
  /** keys open for writing, each with its local copy */
  written: Map<string, { file: FileNode }>;
}

const tierOf = (adapter: TieredAdapter): TierInternals => (adapter as unknown as { tier: TierInternals }).tier;

/** Makes the next call of `object[method]` fail with `code` (later calls pass). */
function failOnce(object: object, method: string, code: string): { failed: () => boolean } {
  const target = object as Record<string, (...args: unknown[]) => unknown>;
  const original = target[method]!.bind(object);
  let failed = false;
  target[method] = async (...args: unknown[]) => {
    if (!failed) {
      failed = true;
      throw Object.assign(new Error(`${method} failed (${code}, forced by the test)`), { code });
    }
    return original(...args);
  };
  return { failed: () => failed };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or 'timeout' after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test('tiered: a directory renamed while the last close of a file in it records its upload: the file uploads under the new name', async (t) => {
  const { storage, adapter, object } = await tiered(t);
  const root = storage.root.node;
  await root.mkdir('d', 0o755);
  const dir = await root.openDir('d');
  const file = await dir.createFile('f', 0o644, READ_WRITE);
  await file.write([bytes('moved with its directory')], 0);
  // the close's record held (on the mount: cp's RELEASE still running when mv renames the directory)
  const held = gate(tierOf(adapter).uploads, 'begin');
  const closing = file.close();
  await held.entered;
  const renaming = root.rename('d', root, 'e', 'replace');
  await settle(300); // the rename goes as far as it can meanwhile
  held.open();
  await Promise.all([closing, renaming]);
  await adapter.drained();
  t.equal(await object('e/f'), 'moved with its directory', 'the file is in the bucket under the new directory');
  t.equal(await object('d/f'), undefined, 'and not under the old one');
  t.equal((await storage.stat('e/f')).size, 24, 'stat finds it under the new name');
  await dir.close();
});

test('tiered: write-through, a rename while a sync uploads the file: the old name does not come back', async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeMode: 'through' });
  const root = storage.root.node;
  const file = await root.createFile('a', 0o644, READ_WRITE);
  await file.write([bytes('synced, then renamed')], 0);
  // the sync's PUT held (an fsync in one thread, mv of the file in another)
  const held = gate(tierOf(adapter).store, 'put');
  const syncing = file.sync(false);
  await held.entered;
  const renaming = root.rename('a', root, 'b', 'replace');
  await settle(300);
  held.open();
  await Promise.all([syncing, renaming]);
  await file.close();
  t.equal(await object('b'), 'synced, then renamed', 'the new name has the file');
  t.equal(await object('a'), undefined, 'the old name is not in the bucket');
});

test('tiered: an unlink whose DELETE fails leaves the file as it was (its newer local bytes too)', async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeBackDelay: 600_000 });
  const first = await storage.root.createFile('u');
  await first.writeAt(0, bytes('version one'));
  await first.close();
  tierOf(adapter).uploads.startDelayed();
  await adapter.drained();
  t.equal(await object('u'), 'version one', 'the first version is in the bucket');
  const second = await storage.openFile('u');
  await second.writeAt(0, bytes('VERSION TWO, synced'));
  await second.sync();
  await second.close();
  const fault = failOnce(tierOf(adapter).store, 'delete', 'EIO');
  const unlinked = await storage.root.deleteFile('u').then(
    () => 'done',
    (error: { code?: string }) => error.code,
  );
  t.ok(fault.failed(), 'the DELETE failed');
  t.equal(unlinked, 'EIO', 'the unlink failed with EIO');
  t.equal((await storage.root.stat('u')).size, 19, 'the file is still there, with the size of its newer version');
  const reader = await storage.openFile('u', { access: Mode.Read });
  const data = Buffer.alloc(19);
  await reader.read(0, data);
  await reader.close();
  t.equal(data.toString(), 'VERSION TWO, synced', 'and its synced bytes');
  tierOf(adapter).uploads.startDelayed();
  t.notEqual(await within(adapter.drained(), 5000), 'timeout', 'its upload still runs');
  t.equal(await object('u'), 'VERSION TWO, synced', 'and brings the newer version to the bucket');
});

test('tiered: an operation that holds a waiting upload and fails (chmod, an open for writing) leaves the upload to run', async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeBackDelay: 600_000 });
  const tier = tierOf(adapter);
  for (const name of ['c', 'o']) {
    const file = await storage.root.createFile(name);
    await file.writeAt(0, bytes(`file ${name}`));
    await file.close();
  }
  // chmod of a file waiting for its upload: its record cannot be written again (a full disk)
  failOnce(tier.uploads, 'update', 'ENOSPC');
  const chmod = await storage.root.node.chmodEntry('c', 0o600).then(
    () => 'done',
    (error: { code?: string }) => error.code,
  );
  t.equal(chmod, 'ENOSPC', 'the chmod failed with ENOSPC');
  // an open for writing of a file waiting for its upload: its copy cannot be opened (out of descriptors)
  failOnce(tier.staging, 'openFile', 'EMFILE');
  const open = await storage.openFile('o').then(
    () => 'done',
    (error: { code?: string }) => error.code,
  );
  t.equal(open, 'EMFILE', 'the open failed with EMFILE');
  tier.uploads.startDelayed();
  t.notEqual(await within(adapter.drained(), 5000), 'timeout', 'both uploads ran');
  t.equal(await object('c'), 'file c', 'the first file is in the bucket');
  t.equal(await object('o'), 'file o', 'and the second');
});

test('tiered: a close log whose removal fails: the write-through close resolves, and the closes after it record their uploads', async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeMode: 'through' });
  const pendingDir = (tierOf(adapter).uploads as unknown as { pendingDir: DirNode }).pendingDir;
  const file = await storage.root.createFile('w');
  await file.writeAt(0, bytes('written through'));
  // the close log's removal once its last record is done fails (EIO)
  const fault = failOnce(pendingDir, 'unlink', 'EIO');
  t.notEqual(await within(file.close(), 5000), 'timeout', 'the close resolved');
  t.ok(fault.failed(), 'the removal failed');
  t.equal(await object('w'), 'written through', 'the file is in the bucket');
  // the log's file is still there: the next close's record goes into it
  const next = await storage.root.createFile('x');
  await next.writeAt(0, bytes('closed after it'));
  t.notEqual(await within(next.close(), 5000), 'timeout', 'the next close resolved');
  t.equal(await object('x'), 'closed after it', 'its upload was recorded, and ran');
});

test('tiered: a reader of a copy waiting for upload, opened as the upload ends, keeps its bytes when the cache evicts', async (t) => {
  const KiB = 1024;
  const { storage, adapter, put } = await tiered(t, { writeBackDelay: 600_000, cacheSize: 64 * KiB, blockSize: 16 * KiB, readAhead: 0 });
  const tier = tierOf(adapter);
  // put before the directory is listed (a name made behind the adapter's back shows after dirCacheTime)
  await put('q', Buffer.alloc(128 * KiB, 'q'));
  const data = Buffer.alloc(48 * KiB, 'p');
  const file = await storage.root.createFile('p');
  await file.writeAt(0, data);
  await file.close();
  // the open of the copy has its descriptor when the upload ends (and takes the copy into the cache)
  const openFile = tier.staging.openFile.bind(tier.staging);
  let raced = 0;
  tier.staging.openFile = async (name, flags) => {
    const opened = await openFile(name, flags);
    if (!flags.write && raced === 0) {
      raced++;
      tier.uploads.startDelayed();
      await adapter.drained();
    }
    return opened;
  };
  const reader = await storage.openFile('p', { access: Mode.Read });
  t.equal(raced, 1, 'the upload ended while the copy was being opened');
  // another object read whole: the cache (64 KiB) evicts the blocks of the first
  const other = await storage.openFile('q', { access: Mode.Read });
  await other.read(0, Buffer.alloc(128 * KiB));
  await other.close();
  const read = Buffer.alloc(data.length);
  await reader.read(0, read);
  await reader.close();
  t.ok(read.equals(data), `the reader read its bytes (${read.filter((byte) => byte === 0).length} zero bytes)`);
});

test('tiered: close() of the storage as an upload ends waits for its record to go and its copy to reach the cache', async (t) => {
  const cluster = await ceph();
  const prefix = freshPrefix('race');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const storage = await openStorage(`s3://${cluster.bucket}/${prefix}`, {
    adapter: 'tiered',
    s3: { ...cluster.options(prefix), maxAttempts: 1 },
    tiered: { cacheDir },
    config: { logLevel: 'silent' },
  });
  t.teardown(() => storage.close());
  const tier = tierOf(storage.adapter as TieredAdapter) as unknown as TierInternals & { uploaded: (...args: unknown[]) => Promise<void> };
  // the upload's PUT is done; taking its copy into the cache is held
  const held = gate(tier, 'uploaded');
  const file = await storage.root.createFile('last');
  await file.writeAt(0, bytes('uploaded as the storage closes'));
  await file.close();
  await held.entered;
  let closed = false;
  const closing = storage.close().then(() => (closed = true));
  await settle(300);
  t.notOk(closed, 'close() waits for the upload that is ending');
  held.open();
  await closing;
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'staging')), [], 'its copy went into the cache (no copy left in staging/ for the next open to upload again)');
  t.deepEqual(fs.readdirSync(path.join(cacheDir, 'pending')), [], 'and no record is left');
});

test('tiered: flushWrite does not fail when its upload ends before its handle opens the copy', async (t) => {
  const { storage, adapter, object } = await tiered(t);
  const tier = tierOf(adapter);
  // the second read-only open of a copy (of the upload and of the handle, whichever comes second) waits
  // until the uploads are done, 500 ms at most
  const openFile = tier.staging.openFile.bind(tier.staging);
  const opens = new Map<string, number>();
  tier.staging.openFile = async (name, flags) => {
    if (!flags.write) {
      opens.set(name, (opens.get(name) ?? 0) + 1);
      if (opens.get(name) === 2) await within(adapter.drained(), 500);
    }
    return openFile(name, flags);
  };
  const written = await storage.root.node.flushWrite('fw', [bytes('written whole')], 0o644, READ_WRITE).then(
    async (file) => {
      const data = Buffer.alloc(13);
      await file.read(data, 0);
      await file.close();
      return data.toString();
    },
    (error: { code?: string }) => error.code,
  );
  t.equal(written, 'written whole', 'the flushWrite resolved with a handle reading its bytes');
  await adapter.drained();
  t.equal(await object('fw'), 'written whole', 'and the file is in the bucket');
});

test("tiered: a file renamed over one whose upload is running: the target gets the file's content, not its own old one back", async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeBackDelay: 600_000 });
  const tier = tierOf(adapter);
  const source = await storage.root.createFile('source');
  await source.writeAt(0, bytes('the content that replaces'));
  await source.close();
  tier.uploads.startDelayed();
  await adapter.drained();
  const target = await storage.root.createFile('target');
  await target.writeAt(0, bytes('replaced'));
  await target.close();
  // the target's PUT held (its write-back upload under way when mv source target comes)
  const held = gate(tier.store, 'put');
  tier.uploads.startDelayed();
  await held.entered;
  const renaming = storage.root.node.rename('source', storage.root.node, 'target', 'replace');
  await settle(300);
  held.open();
  await renaming;
  await adapter.drained();
  t.equal(await object('target'), 'the content that replaces', "the target has the renamed file's content");
  t.equal(await object('source'), undefined, 'the old name is gone');
  const reader = await storage.openFile('target', { access: Mode.Read });
  const data = Buffer.alloc(25);
  await reader.read(0, data);
  await reader.close();
  t.equal(data.toString(), 'the content that replaces', 'and reads so');
});

test('tiered: a rename checks the kinds of files not uploaded yet as the bucket checks those it has (EISDIR, ENOTDIR, ENOTEMPTY)', async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeBackDelay: 600_000 });
  const root = storage.root.node;
  const code = (promise: Promise<unknown>) =>
    promise.then(
      () => 'done',
      (error: { code?: string }) => error.code,
    );
  await root.mkdir('dir', 0o755);
  await root.mkdir('full', 0o755);
  const local = async (dir: DirNode, name: string) => {
    const file = await dir.createFile(name, 0o644, READ_WRITE);
    await file.write([bytes(`file ${name}`)], 0);
    await file.close();
  };
  await local(root, 'file');
  const full = await root.openDir('full');
  await local(full, 'inside');
  t.equal(await code(root.rename('file', root, 'dir', 'replace')), 'EISDIR', 'a file not uploaded yet over a directory: EISDIR');
  t.equal(await code(root.rename('dir', root, 'file', 'replace')), 'ENOTDIR', 'a directory over a file not uploaded yet: ENOTDIR');
  t.equal(await code(root.rename('dir', root, 'full', 'replace')), 'ENOTEMPTY', 'a directory over one holding only files not uploaded yet: ENOTEMPTY');
  tierOf(adapter).uploads.startDelayed();
  await adapter.drained();
  t.equal(await object('file'), 'file file', 'the file is whole and uploaded');
  t.equal(await object('full/inside'), 'file inside', 'and the one in the directory');
  t.equal((await root.stat('dir')).kind, 'directory', 'the directory is still one');
  await full.close();
});

test('tiered: a rename whose upload record cannot be written again (ENOSPC) still sends the upload to the new name', async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeBackDelay: 600_000 });
  const tier = tierOf(adapter);
  const first = await storage.root.createFile('a');
  await first.writeAt(0, bytes('version one'));
  await first.close();
  tier.uploads.startDelayed();
  await adapter.drained();
  const second = await storage.openFile('a');
  await second.writeAt(0, bytes('VERSION TWO'));
  await second.close();
  // the record of the waiting upload cannot be written under its new name (a full disk)
  failOnce(tier.uploads, 'update', 'ENOSPC');
  const renamed = await storage.root.node.rename('a', storage.root.node, 'b', 'replace').then(
    () => 'done',
    (error: { code?: string }) => error.code,
  );
  t.equal(renamed, 'done', 'the rename resolved (the bucket had moved the object)');
  tier.uploads.startDelayed();
  await adapter.drained();
  t.equal(await object('b'), 'VERSION TWO', 'the new name has the newer version');
  t.equal(await object('a'), undefined, 'the old name did not come back');
});

/** Resolves with `probe()` once it is not undefined (every 50 ms), or undefined after `ms`. */
async function eventually<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() > deadline) return value;
    await settle(50);
  }
}

/** Creates `name` in `storage`, writes it, makes its copy's next `method` fail (EIO), closes it: 'done' or the close's error code. */
async function closeFailing(storage: Storage, adapter: TieredAdapter, prefix: string, name: string, method: 'stat' | 'close'): Promise<string | undefined> {
  const file = await storage.root.createFile(name);
  await file.writeAt(0, bytes(`file ${name}, its ${method} fails`));
  failOnce(tierOf(adapter).written.get(`${prefix}${name}`)!.file, method, 'EIO');
  return file.close().then(
    () => 'done',
    (error: { code?: string }) => error.code,
  );
}

test("tiered: a last close whose copy's fstat fails (before its record) keeps the file and uploads it later", async (t) => {
  const { storage, adapter, object, prefix } = await tiered(t);
  t.equal(await closeFailing(storage, adapter, prefix, 's', 'stat'), 'done', 'the close resolved (it is tried again)');
  t.equal((await storage.root.stat('s')).size, 22, 'the file is still there, its size whole');
  t.equal(await eventually(() => object('s'), 5000), 'file s, its stat fails', 'and it uploaded once the close was tried again');
});

test("tiered: a last close whose copy's close fails (after its record) still queues its upload", async (t) => {
  const { storage, adapter, object, prefix } = await tiered(t);
  t.equal(await closeFailing(storage, adapter, prefix, 'c', 'close'), 'done', 'the close resolved');
  t.notEqual(await within(adapter.drained(), 5000), 'timeout', 'its upload ran');
  t.equal(await object('c'), 'file c, its close fails', 'and the file is in the bucket');
});

test('tiered: write-through, a last close whose upload record cannot be written (ENOSPC) resolves with the object in the bucket', async (t) => {
  // retries far off: what the close did, not a retry after it, is looked at
  const { storage, adapter, object, cacheDir } = await tiered(t, { writeMode: 'through', retryDelay: 60_000, maxRetryDelay: 60_000 });
  const uploads = tierOf(adapter).uploads;
  // a file closed without a sync: its record's first write fails
  const file = await storage.root.createFile('w');
  await file.writeAt(0, bytes('written through'));
  failOnce(uploads, 'begin', 'ENOSPC');
  t.notEqual(await within(file.close(), 5000), 'timeout', 'the close resolved');
  t.equal(await object('w'), 'written through', 'with the file in the bucket');
  // a file synced (recorded), written again: its record's rewrite at close fails
  const synced = await storage.root.createFile('v');
  await synced.writeAt(0, bytes('one'));
  await synced.sync();
  await synced.writeAt(3, bytes(', two'));
  failOnce(uploads, 'update', 'ENOSPC');
  t.notEqual(await within(synced.close(), 5000), 'timeout', 'the close of the synced file resolved');
  t.equal(await object('v'), 'one, two', 'with its last bytes in the bucket');
  t.equal(adapter.pendingUploads, 0, 'no upload is left pending');
  t.deepEqual(recordsIn(cacheDir), [], 'nor any record');
  t.equal((await storage.root.stat('w')).size, 15, 'stat sees the uploaded file');
});

test('tiered: write-through, a last close whose record and PUT both fail rejects, keeps the file and uploads it later', async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeMode: 'through' });
  const tier = tierOf(adapter);
  const file = await storage.root.createFile('w');
  await file.writeAt(0, bytes('written through, later'));
  failOnce(tier.uploads, 'begin', 'ENOSPC');
  failOnce(tier.store, 'put', 'EIO');
  const closed = await file.close().then(
    () => 'done',
    (error: { code?: string }) => error.code,
  );
  t.equal(closed, 'EIO', 'the close failed with the PUT error (the object is not in the bucket)');
  t.equal((await storage.root.stat('w')).size, 22, 'the file is still there');
  t.equal(await eventually(() => object('w'), 5000), 'written through, later', 'and uploaded once its close was tried again');
});

test('tiered: flushWrite over a file whose upload is running: the old version is not left in the block cache', async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeBackDelay: 600_000 });
  const tier = tierOf(adapter);
  const file = await storage.root.createFile('a');
  await file.writeAt(0, Buffer.alloc(64 * 1024, 'o'));
  await file.close();
  // the old version's PUT held: its upload is running when the flushWrite replaces it
  const held = gate(tier.store, 'put');
  tier.uploads.startDelayed();
  await held.entered;
  const flushing = storage.root.node.flushWrite('a', [bytes('the new version')], 0o644, READ_WRITE);
  await settle(300);
  held.open();
  await (await flushing).close();
  t.equal(tier.cache.bytes, 0, 'no cached block of the old version (the new one waits for its upload)');
  tier.uploads.startDelayed();
  await adapter.drained();
  t.equal(await object('a'), 'the new version', 'the bucket has the new version');
});

/** Writes and syncs `content` as a new version of `name`, its upload left waiting (a long write-back delay). */
async function syncedVersion(storage: Storage, name: string, content: string): Promise<void> {
  const file = await storage.openFile(name).catch(() => storage.root.createFile(name));
  await file.writeAt(0, bytes(content));
  await file.sync();
  await file.close();
}

/** The whole content of `name`, read through `storage`. */
async function readAll(storage: Storage, name: string): Promise<string> {
  const reader = await storage.openFile(name, { access: Mode.Read });
  const data = Buffer.alloc((await storage.root.stat(name)).size);
  await reader.read(0, data);
  await reader.close();
  return data.toString();
}

test('tiered: flushWrite whose upload record cannot be written (ENOSPC) keeps the synced version it was to replace', async (t) => {
  const { storage, adapter, object } = await tiered(t, { writeBackDelay: 600_000 });
  const tier = tierOf(adapter);
  await syncedVersion(storage, 'a', 'version one');
  tier.uploads.startDelayed();
  await adapter.drained();
  await syncedVersion(storage, 'a', 'VERSION TWO, synced');
  // the new version's record cannot be written (a full disk)
  const pendingDir = (tier.uploads as unknown as { pendingDir: DirNode }).pendingDir;
  failOnce(pendingDir, 'flushWrite', 'ENOSPC');
  const written = await storage.root.node.flushWrite('a', [bytes('version three')], 0o644, READ_WRITE).then(
    () => 'done',
    (error: { code?: string }) => error.code,
  );
  t.equal(written, 'ENOSPC', 'the flushWrite failed with ENOSPC');
  t.equal(await readAll(storage, 'a'), 'VERSION TWO, synced', 'the file still reads as its synced version');
  tier.uploads.startDelayed();
  await adapter.drained();
  t.equal(await object('a'), 'VERSION TWO, synced', 'which reaches the bucket');
});

test('tiered: a stop between the record of a flushWrite and the removal of the version it replaces: the next open uploads the new version only', async (t) => {
  const { storage, adapter, object, prefix, cacheDir } = await tiered(t, { writeBackDelay: 600_000 });
  const tier = tierOf(adapter);
  await syncedVersion(storage, 'a', 'the synced version');
  // the cache directory as a stop would leave it while the older local state of the key is dropped
  const stopped = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-'));
  t.teardown(() => fs.rmSync(stopped, { recursive: true, force: true }));
  const held = gate(tier, 'dropLocal' in tier ? 'dropLocal' : 'drop');
  const flushing = storage.root.node.flushWrite('a', [bytes('the version written whole')], 0o644, READ_WRITE);
  await held.entered;
  fs.cpSync(cacheDir, stopped, { recursive: true });
  held.open();
  await (await flushing).close();
  // the next open of that directory (the first storage's upload waits for its delay)
  const cluster = await ceph();
  const logged: string[] = [];
  const next = await openStorage(`s3://${cluster.bucket}/${prefix}`, {
    adapter: 'tiered',
    s3: { ...cluster.options(prefix), maxAttempts: 1 },
    tiered: { cacheDir: stopped },
    logger: pino({ level: 'info' }, { write: (line: string) => logged.push(line) }),
  });
  t.teardown(() => next.close());
  t.ok(
    logged.some((line) => line.includes('replaced by a newer one')),
    'the next open dropped the record of the replaced version',
  );
  t.equal(await readAll(next, 'a'), 'the version written whole', 'the file reads as the version written last');
  await (next.adapter as TieredAdapter).drained();
  t.equal(await object('a'), 'the version written whole', 'which is what the bucket has');
  t.deepEqual(recordsIn(stopped), [], 'and no record is left');
});

/** Writes `content` into the handle `file` and closes it. */
async function writeAndClose(file: FileNode, content: string): Promise<void> {
  await file.write([bytes(content)], 0);
  await file.close();
}

test('tiered: a create inside a directory, under way when the directory is renamed: the file uploads under the new name', async (t) => {
  const { storage, adapter, object } = await tiered(t);
  const root = storage.root.node;
  await root.mkdir('d', 0o755);
  const dir = await root.openDir('d');
  // the create has its key and waits for its new copy (on the mount: cp's CREATE, mv's RENAME of the directory)
  const spare = gate(tierOf(adapter).spares, 'take');
  const creating = dir.createFile('g', 0o644, READ_WRITE);
  await spare.entered;
  const renaming = root.rename('d', root, 'e', 'replace');
  await settle(300); // the rename goes as far as it can meanwhile
  spare.open();
  await writeAndClose(await creating, 'created as its directory moved');
  await renaming;
  await adapter.drained();
  t.equal(await object('e/g'), 'created as its directory moved', 'the file is in the bucket under the new directory');
  t.equal(await object('d/g'), undefined, 'and not under the old one');
  t.equal((await storage.stat('e/g')).size, 30, 'stat finds it under the new name');
  await dir.close();
});

test('tiered: a create inside a directory, starting while the directory is renamed: the file uploads under the new name', async (t) => {
  const { storage, adapter, object } = await tiered(t);
  const tier = tierOf(adapter);
  const root = storage.root.node;
  await root.mkdir('d', 0o755);
  const dir = await root.openDir('d');
  // the rename copying the directory's objects (its turns taken) when the create comes; the create then
  // slow to get its copy
  const copying = gate(tier.store, 'copy');
  const spare = gate(tier.spares, 'take');
  const renaming = root.rename('d', root, 'e', 'replace');
  await copying.entered;
  const creating = dir.createFile('g', 0o644, READ_WRITE);
  await settle(300);
  copying.open();
  await renaming;
  spare.open();
  await writeAndClose(await creating, 'created as its directory moved');
  await adapter.drained();
  t.equal(await object('e/g'), 'created as its directory moved', 'the file is in the bucket under the new directory');
  t.equal(await object('d/g'), undefined, 'and not under the old one');
  t.deepEqual((await root.list()).map((entry) => entry.name).sort(), ['e'], 'the old directory did not come back');
  await dir.close();
});
