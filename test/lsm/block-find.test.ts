// A point read's search of a data block (Block.find, the addon's sstBlockFind over the block's bytes)
// against the scan's decoding of the same block (seekEntry, visibleInGroup): the same entry for keys at
// either end of the block, between entries and outside it, for every version of a key, for deletions,
// keys with bytes above 0x7f, a key that is a prefix of another and keys too long for the addon's stack
// buffer; a block that does not hold together is EBADMSG with the message the scan's decoding gives.
import test from 'tape';

import { blockOf, keyAt, loadBlock, seekEntry, visibleInGroup } from '../../src/lsm/block.js';
import { encodeEntry, ENTRY_HEADER_SIZE } from '../../src/lsm/sst-format.js';
import { BACKENDS, prng } from '../helpers.js';
import { lsmEnv } from './lsm-helpers.js';

interface Entry {
  key: string;
  seq: number;
  value: Buffer | undefined;
}

/** A data block of `entries` (sorted by key, newest version first), as the SST builder lays it out. */
function encodeBlock(entries: readonly Entry[]): Buffer {
  let size = 4;
  for (const entry of entries) size += ENTRY_HEADER_SIZE + entry.key.length + (entry.value?.length ?? 0);
  const data = Buffer.alloc(size);
  let at = 0;
  for (const entry of entries) at = encodeEntry(data, at, entry.key, entry.seq, entry.value);
  data.writeUInt32LE(entries.length, at);
  return data;
}

/** The entry the scan's decoding finds for `key` at `version`: its offset, or -1. */
function reference(data: Buffer, key: string, version: number): number {
  const block = loadBlock(data, 'ref.sst', 0);
  const first = seekEntry(block, key);
  if (first >= block.count || keyAt(block, first) !== key) return -1;
  const e = visibleInGroup(block, first, version);
  return e < 0 ? -1 : block.offsets[e]!;
}

/** Keys of a group of versions: seqs newest first, a delete where `deleted` says. */
function group(key: string, seqs: number[], deleted: (seq: number) => boolean = () => false): Entry[] {
  return seqs.map((seq) => ({ key, seq, value: deleted(seq) ? undefined : Buffer.from(`${key}@${seq}`, 'latin1') }));
}

test('Block.find finds what the decoded search finds: ends of the block, gaps, every version, deletions', (t) => {
  const long = `d${'L'.repeat(299)}`;
  const entries = [
    ...group('b', [9, 4]),
    ...group('b\x00', [3]),
    ...group('ba', [12, 7, 2], (seq) => seq === 7),
    ...group('c\x7f', [5]),
    ...group('c\x80', [6]),
    ...group('c\xff', [8, 1]),
    ...group(long, [10]),
    ...group(`${long}x`, [11, 3]),
    ...group('z', [13]),
  ];
  const data = encodeBlock(entries);
  const block = blockOf(data, 'find.sst', 0);
  const probes = ['', 'a', 'b', 'b\x00', 'b\x00\x00', 'ba', 'bb', 'c', 'c\x7f', 'c\x80', 'c\x81', 'c\xff', long, `${long}x`, `${long}y`, 'y', 'z', 'zz'];
  let checked = 0;
  for (const key of probes) {
    for (let version = 0; version <= 14; version++) {
      const want = reference(data, key, version);
      const got = block.find(key, version);
      if (got !== want) t.fail(`${JSON.stringify(key)} at version ${version}: ${got}, the decoded search ${want}`);
      checked++;
    }
  }
  t.equal(block.decoded, false, `${checked} searches left the block's entries unwalked (no offsets, no key strings)`);
  t.equal(block.find('b', 100), 0, 'the first key of the block, newest version: offset 0');
  const last = data.length - 4 - (ENTRY_HEADER_SIZE + 1 + 'z@13'.length);
  t.equal(block.find('z', 13), last, 'the last key of the block');
  t.equal(block.find('z', 12), -1, 'the last key before its only version: none');
  t.equal(block.find('ba', 8), reference(data, 'ba', 8), 'a version that is a deletion is found (its kind says so)');
  t.equal(data[block.find('ba', 8) + 16], 0, 'and it is the delete');
  t.equal(block.find('ba', 1), -1, 'older than every version of the key: none');
  t.equal(block.find(`${long}x`, 5), reference(data, `${long}x`, 5), 'a 301-byte key (past the stack buffer), an older version');
  t.end();
});

test('Block.find agrees with the decoded search on random blocks and random probes', (t) => {
  const random = prng(15);
  let mismatches = 0;
  let probes = 0;
  for (let round = 0; round < 200; round++) {
    const keys = new Set<string>();
    const count = 1 + Math.floor(random() * 40);
    while (keys.size < count) {
      const length = Math.floor(random() * 6);
      keys.add(Array.from({ length }, () => String.fromCharCode(Math.floor(random() * 4) * 0x40 + Math.floor(random() * 3))).join(''));
    }
    const sorted = [...keys].sort();
    let seq = 1;
    const entries = sorted.flatMap((key) => {
      const seqs = Array.from({ length: 1 + Math.floor(random() * 3) }, () => (seq += 1 + Math.floor(random() * 3))).reverse();
      return group(key, seqs, () => random() < 0.2);
    });
    const data = encodeBlock(entries);
    const block = blockOf(data, 'random.sst', 0);
    for (let p = 0; p < 60; p++) {
      const key = random() < 0.5 ? sorted[Math.floor(random() * sorted.length)]! : `${sorted[Math.floor(random() * sorted.length)]!}\x01`;
      const version = Math.floor(random() * (seq + 2));
      if (block.find(key, version) !== reference(data, key, version)) mismatches++;
      probes++;
    }
  }
  t.equal(mismatches, 0, `${probes} probes over 200 random blocks, no mismatch`);
  t.end();
});

test('Block.find on a block that does not hold together: EBADMSG with what the decoding says, wherever the key is', (t) => {
  const data = encodeBlock([...group('a', [3]), ...group('m', [2]), ...group('z', [1])]);
  const cases: Array<[string, Buffer, RegExp]> = [];
  const longKey = Buffer.from(data);
  longKey.writeUInt32LE(4000, ENTRY_HEADER_SIZE + 1 + 3); // the second entry's key length runs past the end
  cases.push(['an entry runs past the block', longKey, /entry 2 runs past the block|the entries end at/]);
  const extra = Buffer.concat([data.subarray(0, data.length - 4), Buffer.alloc(3), data.subarray(data.length - 4)]);
  cases.push(['bytes left after the last entry', extra, /the entries end at \d+, not at \d+/]);
  const short = Buffer.from(data);
  short.writeUInt32LE(2, short.length - 4);
  cases.push(['a count that stops short of the bytes', short, /the entries end at/]);
  for (const [what, bytes, message] of cases) {
    const block = blockOf(bytes, 'bad.sst', 4096);
    for (const key of ['a', 'm', 'z', '0']) {
      try {
        block.find(key, 10);
        t.fail(`${what}: find(${key}) returned`);
      } catch (error) {
        const { code, message: text } = error as { code?: string; message: string };
        if (code !== 'EBADMSG' || !message.test(text) || !text.includes('bad.sst') || !text.includes('offset 4096')) {
          t.fail(`${what}: find(${key}) threw ${code} ${text}`);
        }
      }
    }
    t.pass(`${what}: EBADMSG naming the file and offset for a key before, inside and after the damage`);
  }
  t.end();
});

test('in the store: gets at the first and last key of each block, between blocks, deleted, and through a snapshot', async (t) => {
  const env = await lsmEnv(t, BACKENDS[0]!);
  const db = await env.open({ blockSize: 256, autoCompact: false, blockCacheSize: 1 << 20 });
  const key = (i: number): string => `k${String(i * 2).padStart(5, '0')}`;
  for (let i = 0; i < 600; i++) await db.put(key(i), `v1-${i}`);
  await db.flush();
  const snapshot = db.snapshot();
  for (let i = 0; i < 600; i += 3) await db.put(key(i), `v2-${i}`);
  for (let i = 1; i < 600; i += 7) await db.del(key(i));
  await db.flush();
  let wrong = 0;
  for (let i = 0; i < 600; i++) {
    const now = i % 7 === 1 ? undefined : i % 3 === 0 ? `v2-${i}` : `v1-${i}`;
    if ((await db.get(key(i)))?.toString() !== now) wrong++;
    if ((await snapshot.get(key(i)))?.toString() !== `v1-${i}`) wrong++;
    // the odd keys fall between two entries, or between two blocks
    if ((await db.get(`k${String(i * 2 + 1).padStart(5, '0')}`)) !== undefined) wrong++;
  }
  t.equal(wrong, 0, '600 keys over many 256-byte blocks in two SSTs: current, snapshot and absent reads all right');
  t.equal(await db.get('k'), undefined, 'a key before every SST');
  t.equal(await db.get('l'), undefined, 'a key after every SST');
  snapshot.release();
  t.end();
});
