// The compaction thread (compactionThread, the default): the same files and the same answers as merging
// on the main thread, corrupt inputs fail the compaction with the EBADMSG Table gives, close() drops a
// running merge at once, and an idle open store lets its process exit.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { fromJobError, toJobError } from '../../src/lsm/compaction-job.js';
import type { LsmStore } from '../../src/lsm/lsm-store.js';
import { decodeFooter, decodeIndex, FOOTER_SIZE } from '../../src/lsm/sst-format.js';
import { storageError } from '../../src/ground/errors.js';
import { Dir } from '../../src/storage/dir.js';
import { File } from '../../src/storage/file.js';
import { BACKENDS, eachBackend, LOCAL_MODES, prng, rejection, tempDir } from '../helpers.js';
import { entries, lsmEnv, SMALL, sstFiles } from './lsm-helpers.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** A seeded workload of puts and deletes over few keys (so versions pile up), a snapshot taken halfway. */
async function workload(db: LsmStore, seed: number): Promise<number> {
  const random = prng(seed);
  let snapshotVersion = 0;
  for (let i = 0; i < 4000; i++) {
    const key = `k${Math.floor(random() * 600)}`;
    if (random() < 0.15) await db.del(key);
    else await db.put(key, `v${i}-`.padEnd(8 + Math.floor(random() * 60), 'abcdefgh'[i % 8]!));
    if (i === 2000) snapshotVersion = db.snapshot().version;
    if (i % 1000 === 999) {
      await db.flush(); // every flush done: what compact() picks does not depend on timing
      await db.compact();
    }
  }
  return snapshotVersion;
}

eachBackend('the same workload compacts to the same content, files and dropped versions with and without the thread', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const results = [];
  for (const compactionThread of [true, false]) {
    const dir = await env.mkdir(`db-${compactionThread}`);
    const db = await env.open({ ...SMALL, autoCompact: false, compactionThread }, dir);
    const snapshotVersion = await workload(db, 7);
    await db.compactAll();
    const stats = db.stats();
    const latest = await entries(db.iterator());
    const atSnapshot = await entries(db.iterator({ version: snapshotVersion }));
    // the compactions' inputs are deleted in the background; close() waits for that, so the directory
    // then holds just the SSTs the store names, whatever the timing
    await db.close();
    const where = path.join(env.root, `db-${compactionThread}`);
    results.push({
      latest,
      atSnapshot,
      levels: stats.levels,
      compactions: stats.compactions,
      droppedVersions: stats.droppedVersions,
      threadCompactions: stats.threadCompactions,
      files: backend.local ? sstFiles(where).map((name) => [name, fs.readFileSync(path.join(where, name)).toString('hex')]) : [],
    });
  }
  const [thread, main] = results as [(typeof results)[0], (typeof results)[0]];
  t.ok(
    thread.threadCompactions > 0 && thread.threadCompactions <= thread.compactions,
    `the thread merged ${thread.threadCompactions} of ${thread.compactions} compactions`,
  );
  t.equal(main.threadCompactions, 0, 'compactionThread: false merges nothing on a thread');
  t.ok(thread.latest.length > 100, `the workload leaves ${thread.latest.length} keys`);
  t.deepEqual(thread.latest, main.latest, 'the same latest content');
  t.deepEqual(thread.atSnapshot, main.atSnapshot, 'the same content at the open snapshot');
  t.ok(thread.droppedVersions > 0, `versions were dropped (${thread.droppedVersions}) with the snapshot open`);
  t.equal(thread.droppedVersions, main.droppedVersions, 'the same number of dropped versions');
  t.equal(thread.compactions, main.compactions, 'the same number of compactions');
  t.deepEqual(thread.levels, main.levels, 'the same files and bytes per level');
  if (backend.local) {
    const named = thread.levels.reduce((sum, level) => sum + level.files, 0);
    t.equal(thread.files.length, named, `the closed directory holds the ${named} SSTs the store names`);
    const differ = thread.files.filter(([name, hex], i) => main.files[i]?.[0] !== name || main.files[i]?.[1] !== hex).map(([name]) => name);
    t.ok(
      thread.files.length > 0 && thread.files.length === main.files.length && differ.length === 0,
      `byte-identical SSTs (${thread.files.length}; differing: ${differ.join(' ') || 'none'})`,
    );
  }
});

function flip(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset]! ^= 0x10;
  fs.writeFileSync(file, bytes);
}

eachBackend(
  'a corrupt input SST fails compactAll with EBADMSG naming the file and the block; the file is kept',
  async (t, backend) => {
    const env = await lsmEnv(t, backend);
    const db = await env.open({ blockSize: 512, autoCompact: false });
    for (let i = 0; i < 300; i++) await db.put(`key${String(i).padStart(4, '0')}`, `value-${i}-`.padEnd(40, 'v'));
    await db.flush();
    for (let i = 0; i < 300; i += 7) await db.put(`key${String(i).padStart(4, '0')}`, 'newer');
    await db.flush();
    // the store has opened both SSTs (their index is in memory); the compaction reads them again, whole
    const dir = path.join(env.root, 'db');
    const [name] = sstFiles(dir) as [string];
    const file = path.join(dir, name);
    const bytes = fs.readFileSync(file);
    const footer = decodeFooter(bytes.subarray(bytes.length - FOOTER_SIZE), name);
    const index = decodeIndex(bytes.subarray(footer.index.offset, footer.index.offset + footer.index.length), name);
    const block = index.handles[3]!;
    flip(file, block.offset + 20);
    let error = await rejection(t, db.compactAll(), 'EBADMSG', 'compactAll over a corrupt data block');
    t.ok(error?.message.includes(name) && error.message.includes(`offset ${block.offset}`), `it names the file and the block (${error?.message})`);
    flip(file, block.offset + 20);
    flip(file, footer.index.offset + 2);
    error = await rejection(t, db.compactAll(), 'EBADMSG', 'compactAll over a corrupt index (checked by the thread: the store holds the index read at open)');
    t.ok(error?.message.includes(name) && error.message.includes(`offset ${footer.index.offset}`), `it names the file and the index block (${error?.message})`);
    t.ok(sstFiles(dir).includes(name), 'the corrupt SST is not deleted');
    t.equal(db.stats().compactions, 0, 'nothing was installed');
    t.equal((await db.get('key0007'))?.toString(), 'newer', 'reads go on');
    flip(file, footer.index.offset + 2);
    await db.compactAll();
    t.equal(db.stats().threadCompactions, 1, 'repaired, the file compacts on the thread');
    t.equal((await entries(db.iterator())).length, 300, 'with every key');
  },
  LOCAL_MODES,
);

eachBackend(
  'an error of the thread arrives as the same StorageError, anything else as EIO',
  async (t) => {
    const original = storageError('EBADMSG', 'SST 000001.sst is corrupt (block at offset 40): checksum mismatch', { path: '000001.sst' });
    const back = fromJobError(structuredClone(toJobError(original)));
    t.equal(back.name, 'StorageError');
    t.equal(back.code, 'EBADMSG');
    t.equal(back.message, original.message, 'the same message');
    t.equal(back.path, '000001.sst', 'and path');
    const bug = fromJobError(structuredClone(toJobError(new TypeError('x is undefined'))));
    t.equal(bug.code, 'EIO', 'a bug in the thread: EIO');
    t.ok(bug.message.includes('TypeError: x is undefined'), `saying what failed (${bug.message})`);
  },
  BACKENDS.slice(0, 1),
);

eachBackend(
  'close() during a long compaction on the thread returns at once; the store reopens with all its data',
  async (t, backend) => {
    const env = await lsmEnv(t, backend);
    const options = { memtableSize: 1024 * 1024, autoCompact: false, l0StopWrites: 1000, l0CompactionTrigger: 1000 };
    const db = await env.open(options);
    const value = (i: number) => `value-${i}-`.padEnd(24, 'w');
    const count = 400_000;
    for (let i = 0; i < count; i += 1000) {
      await db.write(
        Array.from({ length: 1000 }, (_, j) => ({ type: 'put' as const, key: `key${String(((i + j) * 7919) % count).padStart(7, '0')}`, value: value(i + j) })),
      );
    }
    await db.flush();
    const level0 = db.stats().levels[0]!.files;
    await db.close();
    // how long the whole compaction takes, on a copy of the store
    const copy = path.join(env.root, 'copy');
    fs.cpSync(path.join(env.root, 'db'), copy, { recursive: true });
    const reference = await env.open(options, await env.storage.root.openDirectory('copy'));
    let started = performance.now();
    await reference.compactAll();
    const full = performance.now() - started;
    t.equal(reference.stats().threadCompactions, 1, `the reference compaction of ${level0} level-0 files ran on the thread in ${full.toFixed(0)} ms`);
    await reference.close();

    const again = await env.open(options);
    const compaction = again.compactAll();
    await new Promise((resolve) => setTimeout(resolve, full / 4));
    started = performance.now();
    await again.close();
    const closing = performance.now() - started;
    t.ok(closing < full / 2, `close() took ${closing.toFixed(0)} ms (the compaction takes ${full.toFixed(0)} ms)`);
    await compaction.then(
      () => t.pass('the abandoned compactAll resolves'),
      (error: unknown) => t.fail(`the abandoned compactAll rejected: ${String(error)}`),
    );
    const reopened = await env.open(options);
    const stats = reopened.stats();
    t.equal(stats.levels[0]!.files, level0, 'nothing of the abandoned compaction was installed');
    t.equal(stats.levels[1]!.files, 0, 'level 1 is still empty');
    const all = await entries(reopened.iterator());
    t.equal(all.length, count, 'every key is there');
    t.ok(
      all.every(([key, v], i) => key === `key${String(i).padStart(7, '0')}` && v.startsWith('value-')),
      'in order, with values',
    );
    t.equal(sstFiles(path.join(env.root, 'db')).length, level0, 'no file of the abandoned compaction is left');
  },
  LOCAL_MODES.slice(0, 1),
);

eachBackend(
  'a process with an open, idle store (its compaction thread started) exits by itself',
  async (t, backend) => {
    const root = tempDir(t, 'persistfs-lsm-exit-');
    const ioMode = backend.name.endsWith('io_uring') ? 'io_uring' : 'sync';
    const child = spawn(process.execPath, [path.join(HERE, 'idle-exit-child.js'), root, ioMode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    t.equal(signal, null, 'the child was not killed (it exited within 30 s)');
    t.equal(code, 0, 'exit status 0');
    const stats = JSON.parse(out.trim() || '{}') as { threadCompactions?: number };
    t.ok((stats.threadCompactions ?? 0) > 0, `compactions ran on the thread before (${stats.threadCompactions})`);
  },
  LOCAL_MODES,
);

eachBackend('the thread streams a compaction: inputs read a chunk at a time, each output written as soon as it is built', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ autoCompact: false, memtableSize: 4 << 20, tableFileSize: 256 * 1024 });
  // two level-0 tables of ~1.5 MiB over the same keys: the merge reads both whole and writes ~6 outputs
  const value = (round: number, i: number) => `${round}-${i}-`.padEnd(96, 'v');
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 12_000; i += 500) {
      await db.write(
        Array.from({ length: 500 }, (_, j) => ({ type: 'put' as const, key: `key${String(i + j).padStart(6, '0')}`, value: value(round, i + j) })),
      );
    }
    await db.flush();
  }
  const inputBytes = db.stats().levels[0]!.bytes;
  t.ok(inputBytes > 2 * 1024 * 1024, `the inputs hold ${inputBytes} bytes`);
  // what the main thread does during the compaction, in order: the SST reads (their sizes) and the writes
  const events: Array<{ read: number } | { wrote: string }> = [];
  const read = File.prototype.read;
  const flushWrite = Dir.prototype.flushWrite;
  t.teardown(() => {
    File.prototype.read = read;
    Dir.prototype.flushWrite = flushWrite;
  });
  File.prototype.read = function (this: File, offset: number, buffer: Uint8Array) {
    if (this.path.endsWith('.sst')) events.push({ read: buffer.length });
    return read.call(this, offset, buffer);
  };
  Dir.prototype.flushWrite = function (this: Dir, name: string, ...rest: unknown[]) {
    events.push({ wrote: name });
    return (flushWrite as (...args: unknown[]) => ReturnType<Dir['flushWrite']>).call(this, name, ...rest);
  } as Dir['flushWrite'];
  await db.compactAll();
  File.prototype.read = read;
  Dir.prototype.flushWrite = flushWrite;
  t.equal(db.stats().threadCompactions, 1, 'merged on the thread');
  const reads = events.flatMap((event) => ('read' in event ? [event.read] : []));
  const largest = Math.max(...reads);
  t.ok(largest <= 256 * 1024, `no read of an input is larger than a chunk (largest ${largest} bytes, ${reads.length} reads)`);
  const firstOutput = events.findIndex((event) => 'wrote' in event && event.wrote.endsWith('.sst'));
  const lastChunk = events.reduce((last, event, i) => ('read' in event && event.read > 64 * 1024 ? i : last), -1);
  t.ok(
    firstOutput >= 0 && firstOutput < lastChunk,
    `the first output is written (event ${firstOutput}) before the inputs' last chunk is read (event ${lastChunk})`,
  );
  t.ok(db.stats().levels[1]!.files > 4, `${db.stats().levels[1]!.files} outputs`);
  const all = await entries(db.iterator());
  t.equal(all.length, 12_000, 'every key is there');
  t.ok(
    all.every(([key, v], i) => key === `key${String(i).padStart(6, '0')}` && v === value(1, i)),
    'each with its newest value',
  );
});
