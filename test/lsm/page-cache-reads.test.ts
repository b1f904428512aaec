// Point reads of SST blocks the page cache holds: read on the JavaScript thread (preadv2 RWF_NOWAIT), so
// the get completes without waiting for the event loop, its block checked (CRC32C) as any block read
// from disk; a block the page cache does not hold still goes through the IO engine.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import test from 'tape';

import { eachBackend, LOCAL_MODES, rejection, type Backend } from '../helpers.js';
import { LsmIterator } from '../../src/lsm/iterator.js';
import type { Source } from '../../src/lsm/sources.js';
import { setMappedTablesLimit } from '../../src/lsm/table.js';
import { SyncStreak } from '../../src/ground/event-loop-turns.js';
import { lsmEnv, sstFiles, type LsmEnv } from './lsm-helpers.js';

const key = (i: number): string => `key${String(i).padStart(4, '0')}`;
const valueFor = (i: number): string => `value-${i}-`.padEnd(40, 'x');
const OPTIONS = { blockSize: 256, autoCompact: false };

/** Microtask turns only: no IO completion, timer or setImmediate can run meanwhile. */
async function microtasks(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await null;
}

/** A store of 300 keys in one SST of 256-byte blocks, closed; its directory's path. */
async function closedTable(t: test.Test, backend: Backend): Promise<{ env: LsmEnv; dir: string }> {
  const env = await lsmEnv(t, backend);
  const db = await env.open(OPTIONS);
  for (let i = 0; i < 300; i++) await db.put(key(i), valueFor(i));
  await db.flush();
  await db.close();
  return { env, dir: path.join(env.root, 'db') };
}

for (const mmapReads of [true, false]) {
  eachBackend(
    `a get of a block only the page cache holds completes within microtasks, with the right value (${mmapReads ? 'mapped' : 'preadv2'})`,
    async (t, backend) => {
      const { env, dir } = await closedTable(t, backend);
      for (const name of sstFiles(dir)) fs.readFileSync(path.join(dir, name)); // in the page cache for sure
      const db = await env.open({ ...OPTIONS, mmapReads }); // a new, empty block cache
      const got: Array<string | undefined> = [];
      for (let i = 0; i < 20; i++) {
        void db.get(key(i * 15)).then((value) => got.push(value?.toString()));
        await microtasks(50);
      }
      t.equal(got.length, 20, '20 gets of blocks not in the block cache each resolved before the event loop turned');
      t.deepEqual(
        got,
        Array.from({ length: 20 }, (_, i) => valueFor(i * 15)),
        'with their values',
      );
      const mapped = db.stats().mappedBlockReads;
      t.ok(mmapReads ? mapped >= 20 : mapped === 0, `blocks read through the mapping: ${mapped}`);
    },
    LOCAL_MODES,
  );
}

eachBackend(
  'a block read from the page cache is checked: a flipped byte is EBADMSG',
  async (t, backend) => {
    const { env, dir } = await closedTable(t, backend);
    const file = path.join(dir, sstFiles(dir)[0]!);
    const bytes = fs.readFileSync(file);
    bytes[100]! ^= 0x10; // inside the first data block
    fs.writeFileSync(file, bytes);
    const db = await env.open(OPTIONS);
    const error = await rejection(t, db.get(key(0)), 'EBADMSG', 'a get in the damaged block');
    t.equal(db.stats().mappedBlockReads, 1, 'the block was read through the mapping, where the checksum caught it');
    t.ok(error?.message.includes('checksum mismatch'), `the CRC32C caught it (${error?.message})`);
    t.equal((await db.get(key(299)))?.toString(), valueFor(299), 'a get in an intact block still reads');
  },
  LOCAL_MODES,
);

eachBackend(
  "with a small block cache, gets reuse dropped blocks' memory, and gets and scans mixed still read right",
  async (t, backend) => {
    const { env } = await closedTable(t, backend);
    // about 12 blocks of ~256 bytes: the 300 keys' ~60 blocks go through it many times
    // blocks read by preadv2 (a mapped block's memory is the page cache's, never reused)
    const db = await env.open({ ...OPTIONS, mmapReads: false, blockCacheSize: 12 * 256 + 12 * 40 * 6 });
    let wrong = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 300; i += 7) if ((await db.get(key((i * 13 + round) % 300)))?.toString() !== valueFor((i * 13 + round) % 300)) wrong++;
      // a scan holds its blocks while gets go on: their memory must not be reused under it
      const iterator = db.iterator({ gte: key(round * 40), limit: 60 });
      const seen: string[] = [];
      for (;;) {
        const entry = await iterator.next();
        if (entry === undefined) break;
        seen.push(`${entry.key.toString()}=${entry.value.toString()}`);
        // enough gets of other blocks between two steps to push the scan's block out of the cache
        for (let g = 0; g < 20; g++) {
          const i = (seen.length * 37 + g * 15) % 300;
          if ((await db.get(key(i)))?.toString() !== valueFor(i)) wrong++;
        }
      }
      await iterator.close();
      const want = Array.from({ length: 60 }, (_, j) => `${key(round * 40 + j)}=${valueFor(round * 40 + j)}`);
      if (seen.join() !== want.join()) wrong++;
    }
    t.equal(wrong, 0, 'every get and every scanned entry right over 5 rounds');
    t.ok(db.stats().blockCacheRecycled > 0, `blocks read into dropped blocks' memory: ${db.stats().blockCacheRecycled}`);
  },
  LOCAL_MODES,
);

/** Drops the page cache's pages of `files` (fsync, then POSIX_FADV_DONTNEED): they are read from the disk next. */
function dropPages(files: string[]): void {
  const program =
    'import os, sys\nfor p in sys.argv[1:]:\n    fd = os.open(p, os.O_RDONLY)\n    os.fsync(fd)\n    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\n    os.close(fd)';
  execFileSync('python3', ['-c', program, ...files]);
}

eachBackend(
  'mmapReads: a table not all in memory is read as without a mapping, and through it once it is',
  async (t, backend) => {
    const { env, dir } = await closedTable(t, backend);
    const files = sstFiles(dir).map((name) => path.join(dir, name));
    dropPages(files);
    const db = await env.open(OPTIONS);
    t.equal((await db.get(key(10)))?.toString(), valueFor(10), 'a get of a table whose pages were dropped');
    t.equal(db.stats().mappedBlockReads, 0, 'not through the mapping: its pages were not all in memory (the get would have waited for the disk)');
    for (const file of files) fs.readFileSync(file);
    await new Promise((resolve) => setTimeout(resolve, 150)); // past the time a residency look is good for
    t.equal((await db.get(key(200)))?.toString(), valueFor(200), 'once the file is in the page cache');
    t.equal(db.stats().mappedBlockReads, 1, 'read through the mapping');
  },
  LOCAL_MODES,
);

/** A store open on three SSTs of the 300 keys, written in three rounds (value + round: the newest ends in 2). */
async function threeTables(env: LsmEnv) {
  const db = await env.open(OPTIONS);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 300; i++) await db.put(key(i), `${valueFor(i)}${round}`);
    await db.flush();
  }
  return db;
}

eachBackend(
  'mmapReads: an SST a compaction deleted is mapped no longer (its space is freed at once)',
  async (t, backend) => {
    const env = await lsmEnv(t, backend);
    const db = await threeTables(env);
    const dir = path.join(env.root, 'db');
    const before = sstFiles(dir);
    const mapped = () =>
      fs
        .readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .filter((line) => line.includes(dir) && line.includes('.sst'));
    t.ok(mapped().length >= before.length, `the ${before.length} SSTs are mapped`);
    await db.compactAll();
    // at once, before their deletion's close and unlink: the pages of a replaced SST and of those replacing
    // it are not both counted in the process's RSS (the bench's peak RSS rose by ~40 MiB when they were)
    t.deepEqual(
      mapped().filter((line) => before.some((name) => line.endsWith(name) || line.endsWith(`${name} (deleted)`))),
      [],
      'the replaced SSTs are unmapped as soon as the compaction is installed',
    );
    // the replaced SSTs are deleted once no state holds them, in the background
    for (let wait = 0; wait < 100 && before.some((name) => sstFiles(dir).includes(name)); wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    const after = sstFiles(dir);
    const gone = before.filter((name) => !after.includes(name));
    t.ok(gone.length >= 3, `the compaction deleted ${gone.length} of the ${before.length} SSTs`);
    t.deepEqual(
      mapped().filter((line) => line.includes('(deleted)')),
      [],
      'no deleted SST is mapped',
    );
    t.equal((await db.get(key(7)))?.toString(), `${valueFor(7)}2`, 'the compacted store reads');
    await db.close();
  },
  LOCAL_MODES,
);

eachBackend(
  'mmapReads: tables past the process-wide limit of mappings are read without one',
  async (t, backend) => {
    const env = await lsmEnv(t, backend);
    await (await threeTables(env)).close();
    const dir = path.join(env.root, 'db');
    const before = setMappedTablesLimit(1);
    t.teardown(() => void setMappedTablesLimit(before));
    const db = await env.open(OPTIONS);
    t.equal(db.stats().mappedTables, 1, `one of the ${sstFiles(dir).length} SSTs is mapped`);
    for (const name of sstFiles(dir)) fs.readFileSync(path.join(dir, name));
    const got = await Promise.all(Array.from({ length: 300 }, (_, i) => db.get(key(i))));
    t.ok(
      got.every((value, i) => value?.toString() === `${valueFor(i)}2`),
      'every get reads the newest value, mapped or not',
    );
    await db.close();
    t.equal(db.stats().mappedTables, 0, 'none once the store is closed');
  },
  LOCAL_MODES,
);

test('an iterator closed while its next() reads a block releases its files when the call settles, not before', async (t) => {
  // one source whose seek waits for a block read the test completes: the call is under way until then
  let readDone!: () => void;
  const source: Source = {
    key: undefined,
    seq: 0,
    deleted: false,
    value: () => Buffer.from('held block'),
    seek() {
      return new Promise<void>((resolve) => {
        readDone = () => {
          source.key = 'k';
          source.seq = 1;
          resolve();
        };
      });
    },
    step() {
      source.key = undefined;
      return undefined;
    },
  };
  let released = 0;
  const iterator = new LsmIterator([source], 10, {}, () => released++, new SyncStreak(128));
  const pending = iterator.next();
  await iterator.close();
  t.equal(released, 0, 'close() during the call leaves the files held (a compaction could delete them, and a mapped block read zeros)');
  readDone();
  const entry = await pending;
  t.equal(entry?.value.toString(), 'held block', 'the call returns what it read');
  t.equal(released, 1, 'released once the call settled');
  await rejection(t, iterator.next(), 'EBADF', 'a next() after the close');
  await iterator.close();
  t.equal(released, 1, 'and released once only');
});

eachBackend(
  "mmapReads: a store of another user's files is read without mappings (mincore would say every page is in memory)",
  async (t, backend) => {
    const { env, dir } = await closedTable(t, backend);
    await env.storage.close(); // the child opens it read-only: a store has one writer or readers
    const root = path.dirname(dir);
    execFileSync('chmod', ['-R', 'a+rX', root]);
    fs.chmodSync(path.dirname(root), 0o755);
    const ioMode = backend.options.config?.ioMode ?? 'io_uring';
    const child = path.join(path.dirname(new URL(import.meta.url).pathname), 'mapped-reader-child.js');
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, child, root, String(ioMode), '300'], {
      encoding: 'utf8',
    });
    const stats = JSON.parse(out) as { found: number; mappedTables: number; mappedBlockReads: number };
    t.equal(stats.found, 300, 'nobody reads the 300 keys of root’s store');
    t.equal(stats.mappedTables, 0, 'without mapping its SSTs');
    t.equal(stats.mappedBlockReads, 0, 'no block read through a mapping');
  },
  LOCAL_MODES,
);
