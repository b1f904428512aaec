// Handles of the tiered adapter whose file was renamed while they were open (the file itself, or a
// directory above it): what is done through the handle afterwards (fchmod, futimens, fstat, reads, close)
// is done to the file under its new name, never to the old name (issue 13: a read-only handle kept the key
// it was opened with).
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import test from 'tape';

import { READ_ONLY, READ_WRITE, type FileNode } from '../../src/adapters/adapter.js';
import type { TieredOptions } from '../../src/adapters/tiered/tiered-adapter.js';
import { bytes } from '../helpers.js';
import { gate, tieredOnCeph } from './tiered-kit.js';

const KiB = 1024;

/** A tiered storage on a fresh prefix and cache directory (tiered-kit.ts), with what these tests reach inside it. */
async function tiered(t: test.Test, options: Partial<TieredOptions> = {}) {
  const { storage, adapter, object, put, client, bucket, prefix } = await tieredOnCeph(t, 'moved', options);
  // the same bytes as a multipart upload (parts of 5 MiB): another ETag, as some stores give a copy
  const putInParts = async (name: string, body: Buffer) => {
    const where = { Bucket: bucket, Key: `${prefix}${name}` };
    const { UploadId } = await client.send(new CreateMultipartUploadCommand(where));
    const parts = [];
    for (let at = 0, n = 1; at < body.length; at += 5 * 2 ** 20, n++) {
      const part = await client.send(new UploadPartCommand({ ...where, UploadId, PartNumber: n, Body: body.subarray(at, at + 5 * 2 ** 20) }));
      parts.push({ ETag: part.ETag, PartNumber: n });
    }
    await client.send(new CompleteMultipartUploadCommand({ ...where, UploadId, MultipartUpload: { Parts: parts } }));
  };
  const uploads = (adapter as unknown as { tier: { uploads: { startDelayed(): void } } }).tier.uploads;
  const store = (adapter as unknown as { tier: { store: object } }).tier.store;
  return { storage, adapter, object, put, putInParts, uploads, store };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 'done', or the error code `promise` rejects with. */
const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => 'done',
    (error: { code?: string }) => error.code ?? String(error),
  );

/** The whole of `file` (of `size` bytes), or the read's error code. */
async function readWhole(file: FileNode, size: number): Promise<Buffer | string> {
  const data = Buffer.alloc(size);
  try {
    let at = 0;
    while (at < size) {
      const n = await file.read(data.subarray(at), at);
      if (n === 0) break;
      at += n;
    }
    return data;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

test('tiered: a read-only handle on a remote object, the file renamed: fchmod, futimens, fstat and reads act on the new name', async (t) => {
  const { storage, object, put } = await tiered(t, { blockSize: 16 * KiB, readAhead: 0 });
  const root = storage.root.node;
  const data = Buffer.alloc(48 * KiB);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  await put('a', data);
  // opened before any block is fetched: the reads after the rename fetch them
  const handle = await root.openFile('a', READ_ONLY);
  await root.rename('a', root, 'b', 'replace');
  t.equal(await outcome(handle.chmod(0o600)), 'done', 'fchmod through the handle resolved');
  t.equal((await root.stat('b')).mode & 0o7777, 0o600, 'and changed the mode of the file under its new name');
  t.equal(await outcome(handle.utimes('omit', 1_000_000_000_000_000_000n)), 'done', 'futimens through the handle resolved');
  t.equal((await root.stat('b')).mtimeNs, 1_000_000_000_000_000_000n, 'and changed its mtime');
  const fstat = await handle.stat();
  const stat = await root.stat('b');
  t.deepEqual([fstat.ino, fstat.mode, fstat.mtimeNs], [stat.ino, stat.mode, stat.mtimeNs], 'fstat agrees with stat of the new name (inode, mode, mtime)');
  const read = await readWhole(handle, data.length);
  t.ok(Buffer.isBuffer(read) && read.equals(data), `the handle reads the file's bytes (${Buffer.isBuffer(read) ? 'other bytes' : read})`);
  await handle.close();
  t.equal(await object('a'), undefined, 'the old name did not come back');
  t.equal((await object('b'))?.length, data.length, 'the new name has the file');
});

test('tiered: fchmod and a read through a read-only handle while its file is being renamed: they wait for the rename and act on the new name', async (t) => {
  const { storage, adapter, put } = await tiered(t, { blockSize: 16 * KiB, readAhead: 0 });
  const root = storage.root.node;
  const data = Buffer.alloc(48 * KiB);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 253;
  await put('a', data);
  const handle = await root.openFile('a', READ_ONLY);
  // the rename held after the bucket's part (the object copied to b and deleted from a), before the
  // adapter's keys move
  const held = gate((adapter as unknown as { tier: object }).tier, 'moved');
  const renaming = root.rename('a', root, 'b', 'replace');
  await held.entered;
  const chmod = outcome(handle.chmod(0o600));
  const read = readWhole(handle, data.length);
  await settle(300);
  held.open();
  await renaming;
  t.equal(await chmod, 'done', 'fchmod through the handle resolved');
  t.equal((await root.stat('b')).mode & 0o7777, 0o600, 'and changed the mode of the file under its new name');
  const bytesRead = await read;
  t.ok(
    Buffer.isBuffer(bytesRead) && bytesRead.equals(data),
    `the read resolved with the file's bytes (${Buffer.isBuffer(bytesRead) ? 'other bytes' : bytesRead})`,
  );
  await handle.close();
});

test('tiered: a read-only handle on a file waiting for its upload, its directory renamed: fchmod, futimens and fstat act on the new name, which uploads with them', async (t) => {
  const { storage, adapter, object, uploads } = await tiered(t, { writeBackDelay: 600_000 });
  const root = storage.root.node;
  await root.mkdir('d', 0o755);
  const dir = await root.openDir('d');
  const file = await dir.createFile('f', 0o644, READ_WRITE);
  await file.write([bytes('waiting for its upload')], 0);
  await file.close();
  const handle = await dir.openFile('f', READ_ONLY);
  await root.rename('d', root, 'e', 'replace');
  t.equal(await outcome(handle.chmod(0o600)), 'done', 'fchmod through the handle resolved');
  t.equal((await storage.stat('e/f')).mode & 0o7777, 0o600, 'and changed the mode of the file under its new name');
  t.equal(await outcome(handle.utimes('omit', 1_000_000_000_000_000_000n)), 'done', 'futimens through the handle resolved');
  const fstat = await handle.stat();
  const stat = await storage.stat('e/f');
  t.deepEqual([fstat.ino, fstat.mode], [stat.ino, stat.mode], 'fstat agrees with stat of the new name (inode, mode)');
  t.equal(String(await readWhole(handle, 22)), 'waiting for its upload', 'the handle reads its bytes');
  await handle.close();
  uploads.startDelayed();
  await adapter.drained();
  t.equal(await object('e/f'), 'waiting for its upload', 'the file uploaded under the new name');
  t.equal(await object('d/f'), undefined, 'nothing under the old one');
  const remote = await storage.stat('e/f');
  t.deepEqual([remote.mode & 0o7777, remote.mtimeNs], [0o600, 1_000_000_000_000_000_000n], 'with the mode and mtime set through the handle');
  await dir.close();
});

test('tiered: a read-only handle on a file whose upload is running when the file is renamed: fchmod acts on the new name', async (t) => {
  const { storage, adapter, object, uploads, store } = await tiered(t, { writeBackDelay: 600_000 });
  const root = storage.root.node;
  const file = await root.createFile('p', 0o644, READ_WRITE);
  await file.write([bytes('uploading as it is renamed')], 0);
  await file.close();
  const handle = await root.openFile('p', READ_ONLY);
  // its PUT held: the upload is under way when mv p r comes
  const held = gate(store, 'put');
  uploads.startDelayed();
  await held.entered;
  const renaming = root.rename('p', root, 'r', 'replace');
  await settle(300);
  held.open();
  await renaming;
  await adapter.drained();
  t.equal(await outcome(handle.chmod(0o600)), 'done', 'fchmod through the handle resolved');
  t.equal((await root.stat('r')).mode & 0o7777, 0o600, 'and changed the mode of the file under its new name');
  t.equal((await handle.stat()).ino, (await root.stat('r')).ino, 'fstat has the inode of the new name');
  t.equal(String(await readWhole(handle, 26)), 'uploading as it is renamed', 'the handle reads its bytes');
  await handle.close();
  t.equal(await object('p'), undefined, 'the old name did not come back');
  t.equal(await object('r'), 'uploading as it is renamed', 'the new name has the file');
});

test('tiered: a reader of a copy waiting for upload, the file renamed: the upload under the new name leaves the copy out of the cache (the reader keeps its bytes)', async (t) => {
  const { storage, adapter, put, uploads } = await tiered(t, { writeBackDelay: 600_000, cacheSize: 64 * KiB, blockSize: 16 * KiB, readAhead: 0 });
  const root = storage.root.node;
  await put('q', Buffer.alloc(128 * KiB, 'q'));
  const data = Buffer.alloc(48 * KiB, 'p');
  const file = await root.createFile('p', 0o644, READ_WRITE);
  await file.write([data], 0);
  await file.close();
  const reader = await root.openFile('p', READ_ONLY);
  await root.rename('p', root, 'r', 'replace');
  uploads.startDelayed();
  await adapter.drained();
  // another object read whole: the cache (64 KiB) evicts what it can
  const other = await root.openFile('q', READ_ONLY);
  await readWhole(other, 128 * KiB);
  await other.close();
  const read = await readWhole(reader, data.length);
  await reader.close();
  t.ok(
    Buffer.isBuffer(read) && read.equals(data),
    `the reader read its bytes (${Buffer.isBuffer(read) ? `${read.filter((byte) => byte === 0).length} zero bytes` : read})`,
  );
});

test('tiered: a read-write handle, its directory renamed: fchmod, fstat, fsync and close act on the new name', async (t) => {
  const { storage, adapter, object } = await tiered(t);
  const root = storage.root.node;
  await root.mkdir('d', 0o755);
  const dir = await root.openDir('d');
  const file = await dir.createFile('w', 0o644, READ_WRITE);
  await file.write([bytes('written as it moved')], 0);
  await root.rename('d', root, 'e', 'replace');
  t.equal(await outcome(file.chmod(0o600)), 'done', 'fchmod through the handle resolved');
  t.equal((await storage.stat('e/w')).mode & 0o7777, 0o600, 'and changed the mode of the file under its new name');
  t.equal((await file.stat()).ino, (await storage.stat('e/w')).ino, 'fstat has the inode of the new name');
  t.equal(await outcome(file.sync(false)), 'done', 'fsync resolved');
  await file.close();
  await adapter.drained();
  t.equal(await object('e/w'), 'written as it moved', 'the file uploaded under the new name');
  t.equal(await object('d/w'), undefined, 'nothing under the old one');
  await dir.close();
});

test('tiered: a read-only handle whose file was replaced by a rename over it: fchmod through it leaves the file now at that name alone', async (t) => {
  const { storage, put } = await tiered(t, { blockSize: 16 * KiB, readAhead: 0 });
  const root = storage.root.node;
  await put('a', Buffer.alloc(32 * KiB, 'a'));
  await put('b', Buffer.alloc(32 * KiB, 'b'));
  const handle = await root.openFile('b', READ_ONLY);
  await root.rename('a', root, 'b', 'replace');
  t.equal(await outcome(handle.chmod(0o600)), 'done', 'fchmod through the handle resolved (as on a file unlinked while open)');
  t.equal((await root.stat('b')).mode & 0o7777, 0o644, 'the file renamed over it kept its mode');
  t.equal((await handle.stat()).mode & 0o7777, 0o600, 'fstat through the handle shows the new mode');
  t.equal(await outcome(handle.utimes('omit', 1_000_000_000_000_000_000n)), 'done', 'futimens through the handle resolved');
  t.notEqual((await root.stat('b')).mtimeNs, 1_000_000_000_000_000_000n, 'the file renamed over it kept its mtime');
  t.equal(await readWhole(handle, 32 * KiB), 'ESTALE', 'a read of blocks not fetched yet fails with ESTALE (its object is gone from the bucket)');
  await handle.close();
});

test('tiered: a read-only handle on a file waiting for its upload, the file unlinked and made again: fchmod through it leaves the new file alone', async (t) => {
  const { storage, adapter, uploads } = await tiered(t, { writeBackDelay: 600_000 });
  const root = storage.root.node;
  const file = await root.createFile('u', 0o644, READ_WRITE);
  await file.write([bytes('the first file')], 0);
  await file.close();
  const handle = await root.openFile('u', READ_ONLY);
  await root.unlink('u');
  const again = await root.createFile('u', 0o644, READ_WRITE);
  await again.write([bytes('the second file')], 0);
  await again.close();
  t.equal(await outcome(handle.chmod(0o600)), 'done', 'fchmod through the handle resolved (as on a file unlinked while open)');
  t.equal((await root.stat('u')).mode & 0o7777, 0o644, 'the new file kept its mode');
  t.equal(String(await readWhole(handle, 14)), 'the first file', 'the handle reads the bytes of the file it opened');
  await handle.close();
  uploads.startDelayed();
  await adapter.drained();
  t.equal((await root.stat('u')).mode & 0o7777, 0o644, 'and uploaded with it');
});

/** The error of a read of `size` bytes at 0 through `file`: its code and message ('done' when it read). */
async function readFailure(file: FileNode, size: number): Promise<{ code: string; message: string }> {
  return file.read(Buffer.alloc(size), 0).then(
    () => ({ code: 'done', message: '' }),
    (error: { code?: string; message?: string }) => ({ code: error.code ?? '', message: error.message ?? '' }),
  );
}

test('tiered: a read-only handle whose file was renamed, or removed, and whose bytes are not all read: a read the bucket cannot serve says why (ESTALE)', async (t) => {
  const { storage, put, putInParts } = await tiered(t, { readAhead: 0 });
  const root = storage.root.node;
  const data = Buffer.alloc(6 * 2 ** 20, 'm');
  await put('m', data);
  await put('r', Buffer.alloc(64 * KiB, 'r'));
  const moved = await root.openFile('m', READ_ONLY);
  const removed = await root.openFile('r', READ_ONLY);
  await root.rename('m', root, 'n', 'replace');
  // the same bytes under the new name with another ETag, as a store that gives a copy a new one has them
  await putInParts('n', data);
  const renamed = await readFailure(moved, 4096);
  t.equal(renamed.code, 'ESTALE', 'a read through the renamed handle fails with ESTALE');
  t.match(renamed.message, /renamed since this handle opened it/, `saying the file was renamed since the handle opened it (${renamed.message})`);
  await root.unlink('r');
  const gone = await readFailure(removed, 4096);
  t.equal(gone.code, 'ESTALE', 'a read through the handle of the file unlinked fails with ESTALE');
  t.match(gone.message, /deleted or replaced since this handle opened it/, `saying the file was deleted or replaced since (${gone.message})`);
  await moved.close();
  await removed.close();
});
