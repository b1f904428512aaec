// Point reads of SST blocks the page cache holds: read on the JavaScript thread (preadv2 RWF_NOWAIT), so
// the get completes without waiting for the event loop, its block checked (CRC32C) as any block read
// from disk; a block the page cache does not hold still goes through the IO engine.
import fs from 'node:fs';
import path from 'node:path';

import type test from 'tape';

import { eachBackend, LOCAL_MODES, rejection, type Backend } from '../helpers.js';
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

eachBackend(
  'a get of a block only the page cache holds completes within microtasks, with the right value',
  async (t, backend) => {
    const { env, dir } = await closedTable(t, backend);
    for (const name of sstFiles(dir)) fs.readFileSync(path.join(dir, name)); // in the page cache for sure
    const db = await env.open(OPTIONS); // a new, empty block cache
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
  },
  LOCAL_MODES,
);

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
    const db = await env.open({ ...OPTIONS, blockCacheSize: 12 * 256 + 12 * 40 * 6 });
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
