// StorageBackend (seed 004): the same contract from the memory backend, the file backend (both IO modes,
// and the memory adapter) and the crash-simulating backend.
import fs from 'node:fs';
import path from 'node:path';

import test from 'tape';

import type { StorageBackend } from '../../src/backend/backend.js';
import { CrashingBackend } from '../../src/backend/crash-backend.js';
import { FileBackend } from '../../src/backend/file-backend.js';
import { MemoryBackend } from '../../src/backend/memory-backend.js';
import type { File } from '../../src/storage/file.js';
import { BACKENDS, freshStorage, rejection, tempDir } from '../helpers.js';

type Maker = (t: test.Test) => Promise<StorageBackend>;

const MAKERS: Array<[string, Maker]> = [
  ['memory', async () => new MemoryBackend()],
  ['crashing', async () => new CrashingBackend()],
  ...BACKENDS.map((backend): [string, Maker] => [
    `file on ${backend.name}`,
    async (t) => new FileBackend(await (await freshStorage(t, backend)).storage.root.createFile('store')),
  ]),
];

for (const [name, make] of MAKERS) {
  test(`backend contract [${name}]`, async (t) => {
    const store = await make(t);
    t.equal(await store.append(Buffer.from('hello')), 0, 'append returns the offset it wrote at');
    t.equal(await store.append([Buffer.from(' '), Buffer.from('world')]), 5, 'several buffers append as one');
    t.equal(store.size(), 11, 'size is where the next append lands');
    t.equal((await store.readAt(6, 5)).toString(), 'world', 'readAt returns exactly what was written there');
    t.equal((await store.readAt(11, 0)).length, 0, 'an empty read at the end');
    const error = await rejection(t, store.readAt(8, 4), 'EINVAL', 'a read past the end');
    t.match(error?.message ?? '', /4 bytes at offset 8 .*size 11/, 'the error names offset, length and size');
    await rejection(t, store.readAt(-1, 1), 'EINVAL', 'a negative offset');
    await store.flush();
    await store.sync();
    await store.truncate(5);
    t.equal(store.size(), 5, 'truncate shrinks');
    t.equal(await store.append(Buffer.from('!')), 5, 'and appends continue at the new end');
    await rejection(t, store.truncate(100), 'EINVAL', 'truncate never grows');
    await store.writeAt(1, Buffer.from('ab'));
    await store.writeAt(4, [Buffer.from('c'), Buffer.from('de')]);
    t.equal((await store.readAt(0, 7)).toString(), 'hablcde', 'writeAt writes in place, several buffers as one, and grows the store past its end');
    await store.allocate(7, 5);
    t.equal(store.size(), 12, 'allocate grows the store to the end of its range');
    t.ok((await store.readAt(7, 5)).equals(Buffer.alloc(5)), 'with zeros');
    await store.close();
    await rejection(t, store.append(Buffer.from('x')), 'EBADF', 'append after close');
  });
}

test('MemoryBackend.writeAtNow: written before it returns, past the end too; EBADF once closed', async (t) => {
  const store = new MemoryBackend();
  await store.append(Buffer.from('hello'));
  t.equal(store.writeAtNow(3, [Buffer.from('LO'), Buffer.from(' world')]), true, 'it takes the write');
  t.equal(store.snapshot().toString(), 'helLO world', 'in place and past the end, before any await');
  await store.close();
  t.throws(() => store.writeAtNow(0, [Buffer.from('x')]), /EBADF/, 'a closed store refuses it');
});

test('crashing backend: full disk, failed sync, and what a crash leaves', async (t) => {
  const store = new CrashingBackend(new MemoryBackend(), { failAfterBytes: 10 });
  await store.append(Buffer.from('12345'));
  await store.flush();
  await store.append(Buffer.from('678'));
  await rejection(t, store.append(Buffer.from('abcdef')), 'ENOSPC', 'an append past the limit fails');
  t.equal(store.size(), 10, 'after writing what fit, as a full disk does');
  t.equal(store.crashImage().toString(), '12345', 'a crash keeps only what was flushed');
  store.plan = { failSync: true };
  await rejection(t, store.sync(), 'EIO', 'a failing sync');
  t.equal(store.crashImage().toString(), '12345', 'a failed sync makes nothing durable');
  store.plan = {};
  await store.sync();
  t.equal(store.crashImage().toString(), '12345678ab', 'a successful sync does (the partial write included)');
});

for (const backend of BACKENDS) {
  test(`FileBackend.writeAtNow: a write on this thread where the file has a descriptor [${backend.name}]`, async (t) => {
    const store = new FileBackend(await (await freshStorage(t, backend)).storage.root.createFile('store'));
    await store.append(Buffer.from('hello'));
    const wrote = store.writeAtNow(3, [Buffer.from('LO'), Buffer.from(' world')]);
    if (!backend.local) {
      t.equal(wrote, false, 'no descriptor (memory adapter): it says so');
      t.equal((await store.readAt(0, 5)).toString(), 'hello', 'and writes nothing');
      await store.close();
      return;
    }
    t.equal(wrote, true, 'it wrote');
    t.equal(store.size(), 11, 'the size the file knows is raised past the old end');
    t.equal((await store.readAt(0, 11)).toString(), 'helLO world', 'in place and past the end, several buffers as one');
    t.throws(() => store.writeAtNow(-1, [Buffer.from('x')]), /EINVAL/, 'a negative offset');
    store.startWriteback(0, 11);
    await store.close();
    t.pass('close waits for the writeback started (the descriptor outlives it)');
    t.equal(store.writeAtNow(0, [Buffer.from('x')]), false, 'a closed file has no descriptor: nothing written');
  });
}

test('FileBackend.writeAtNow: a file whose storage counts its writes (a tiered copy) has each one counted, a failed one too', async (t) => {
  const at = path.join(tempDir(t), 'copy');
  fs.writeFileSync(at, 'hello');
  const writable = fs.openSync(at, 'r+');
  const readOnly = fs.openSync(at, 'r');
  t.teardown(() => {
    fs.closeSync(writable);
    fs.closeSync(readOnly);
  });
  const changeCell = new Uint32Array(1);
  const sizeCell = new Float64Array([5]);
  let fd = writable;
  const file = { alignment: 0, path: 'copy', nativeAccess: () => ({ fd, sizeCell, changeCell }) } as unknown as File;
  const store = new FileBackend(file);
  t.equal(store.writeAtNow(0, [Buffer.from('J')]), true, 'written on this thread');
  t.equal(store.writeAtNow(5, [Buffer.from('!')]), true, 'and past the end');
  t.equal(changeCell[0], 2, 'each write counted');
  t.equal(fs.readFileSync(at, 'utf8'), 'Jello!', 'the bytes');
  fd = readOnly;
  t.throws(() => store.writeAtNow(0, [Buffer.from('x')]), /EBADF/, 'a write that fails');
  t.equal(changeCell[0], 3, 'is counted too (part of it may have reached the file)');
});
