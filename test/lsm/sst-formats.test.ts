// SST format versions: a store written by an older build (test/lsm/fixtures/sst-v1-store, made by the
// build before format 2: 600 keys in four SSTs, every 7th deleted, every 5th rewritten, flushed and
// closed) opens and reads every key, read-only and read-write; its compactions write the current format,
// and old and new SSTs are read side by side until none of the old is left.
import fs from 'node:fs';
import path from 'node:path';

import test from 'tape';

import { parseTableName } from '../../src/lsm/file-names.js';
import { decodeFooter, FOOTER_SIZE, SST_FORMAT_VERSION } from '../../src/lsm/sst-format.js';
import { BACKENDS } from '../helpers.js';
import { lsmEnv, SMALL } from './lsm-helpers.js';

const FIXTURE = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../test/lsm/fixtures/sst-v1-store');
const key = (i: number): string => `key-${String(i).padStart(5, '0')}`;

/** What the fixture holds for key i (undefined: deleted). */
function expected(i: number): string | undefined {
  if (i % 5 === 0) return `v1 again ${i}`;
  if (i % 7 === 0) return undefined;
  return `v1 value ${i} `.repeat(3);
}

/** The format version in the footer of each SST of `dir`. */
function versions(dir: string): number[] {
  return fs
    .readdirSync(dir)
    .filter((name) => parseTableName(name) !== undefined)
    .map((name) => {
      const bytes = fs.readFileSync(path.join(dir, name));
      return decodeFooter(bytes.subarray(bytes.length - FOOTER_SIZE), name).version;
    });
}

for (const backend of BACKENDS.filter((b) => b.name !== 'memory')) {
  test(`SST formats (${backend.name}): a store of format 1 opens and reads every key; its compactions write format ${SST_FORMAT_VERSION}`, async (t) => {
    const env = await lsmEnv(t, backend);
    const dir = path.join(env.root, 'db');
    fs.cpSync(FIXTURE, dir, { recursive: true });
    t.deepEqual([...new Set(versions(dir))], [1], 'the fixture SSTs are format 1');
    const wrong = async (store: { get(key: string): Promise<Buffer | undefined> }) => {
      let count = 0;
      for (let i = 0; i < 600; i++) if ((await store.get(key(i)))?.toString() !== expected(i)) count++;
      return count;
    };
    const readOnly = await env.open({ readOnly: true });
    t.equal(await wrong(readOnly), 0, 'read-only: every key reads as written, deletions deleted');
    const entries: string[] = [];
    for await (const entry of readOnly.iterator({ values: false })) entries.push(entry.key.toString());
    const live = Array.from({ length: 600 }, (_, i) => i).filter((i) => expected(i) !== undefined);
    t.deepEqual(entries, live.map(key), `a scan sees the ${live.length} live keys in order`);
    await readOnly.close();
    const store = await env.open({ ...SMALL });
    for (let i = 600; i < 700; i++) await store.put(key(i), `new ${i}`);
    await store.compactAll();
    t.equal(await wrong(store), 0, 'after a compaction, every old key still reads');
    let fresh = 0;
    for (let i = 600; i < 700; i++) if ((await store.get(key(i)))?.toString() === `new ${i}`) fresh++;
    t.equal(fresh, 100, 'and the new ones');
    await store.close();
    t.deepEqual([...new Set(versions(dir))], [SST_FORMAT_VERSION], `every SST is format ${SST_FORMAT_VERSION} once compacted`);
  });
}
