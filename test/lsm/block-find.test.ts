// A point read's search of a data block (Block.find, the addon's sstBlockFind over the block's bytes)
// against the scan's decoding of the same block (seekEntry, visibleInGroup): the same entry for keys at
// either end of the block, between entries and outside it, for every version of a key, for deletions,
// keys with bytes above 0x7f, a key that is a prefix of another and keys too long for the addon's stack
// buffer; a block that does not hold together is EBADMSG with the message the scan's decoding gives.
import test from 'tape';

import { blockCost, blockOf, isDeleteIn, keyAt, loadBlock, seekEntry, visibleInGroup } from '../../src/lsm/block.js';
import { SstBuilder } from '../../src/lsm/sst-builder.js';
import { decodeFooter, decodeIndex, FOOTER_SIZE, KIND_DELETE, KIND_PUT, writeU64 } from '../../src/lsm/sst-format.js';
import { BACKENDS, prng } from '../helpers.js';
import { lsmEnv } from './lsm-helpers.js';

interface Entry {
  key: string;
  seq: number;
  value: Buffer | undefined;
}

const FORMATS = [1, 2] as const;

/**
 * A data block of `entries` (sorted by key, newest version first): format 2 as the SST builder writes it
 * (one block of a table), format 1 as builds before format 2 wrote it (fixed 17-byte headers, whole keys).
 */
function encodeBlock(entries: readonly Entry[], format: number): Buffer {
  if (format === 1) {
    const parts = entries.map(({ key, seq, value }) => {
      const header = Buffer.alloc(17);
      header.writeUInt32LE(key.length, 0);
      header.writeUInt32LE(value?.length ?? 0, 4);
      writeU64(header, seq, 8);
      header[16] = value === undefined ? KIND_DELETE : KIND_PUT;
      return Buffer.concat([header, Buffer.from(key, 'latin1'), value ?? Buffer.alloc(0)]);
    });
    const count = Buffer.alloc(4);
    count.writeUInt32LE(entries.length);
    return Buffer.concat([...parts, count]);
  }
  const builder = new SstBuilder(1 << 30, 0);
  for (const { key, seq, value } of entries) builder.add(key, seq, value);
  const table = Buffer.concat(builder.finish().buffers);
  const footer = decodeFooter(table.subarray(table.length - FOOTER_SIZE), 'built.sst');
  const index = decodeIndex(table.subarray(footer.index.offset, footer.index.offset + footer.index.length), 'built.sst');
  const only = index.handles[0]!;
  return Buffer.from(table.subarray(only.offset, only.offset + only.length));
}

/** The entry the scan's decoding finds for `key` at `version`: its offset, or -1. */
function reference(data: Buffer, key: string, version: number, format: number): number {
  const block = loadBlock(data, 'ref.sst', 0, format);
  const first = seekEntry(block, key);
  if (first >= block.count || keyAt(block, first) !== key) return -1;
  const e = visibleInGroup(block, first, version);
  return e < 0 ? -1 : block.offsets[e]!;
}

/** Keys of a group of versions: seqs newest first, a delete where `deleted` says. */
function group(key: string, seqs: number[], deleted: (seq: number) => boolean = () => false): Entry[] {
  return seqs.map((seq) => ({ key, seq, value: deleted(seq) ? undefined : Buffer.from(`${key}@${seq}`, 'latin1') }));
}

for (const format of FORMATS) {
  test(`Block.find finds what the decoded search finds, format ${format}: ends of the block, gaps, every version, deletions`, (t) => {
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
    const data = encodeBlock(entries, format);
    const block = blockOf(data, 'find.sst', 0, format);
    const probes = ['', 'a', 'b', 'b\x00', 'b\x00\x00', 'ba', 'bb', 'c', 'c\x7f', 'c\x80', 'c\x81', 'c\xff', long, `${long}x`, `${long}y`, 'y', 'z', 'zz'];
    let checked = 0;
    for (const key of probes) {
      for (let version = 0; version <= 14; version++) {
        const want = reference(data, key, version, format);
        const got = block.find(key, version);
        if (got !== want) t.fail(`${JSON.stringify(key)} at version ${version}: ${got}, the decoded search ${want}`);
        checked++;
      }
    }
    t.equal(block.decoded, false, `${checked} searches left the block's entries unwalked (no offsets, no key strings)`);
    const walked = loadBlock(data, 'find.sst', 0, format);
    t.deepEqual(
      Array.from({ length: walked.count }, (_, e) => keyAt(walked, e)),
      entries.map((entry) => entry.key),
      'the decoded keys are the keys written',
    );
    if (format === 2) t.ok(blockCost(walked) >= data.length + walked.keyBytes!.length, 'the cache counts a walked block with its keys put together');
    t.equal(block.find('b', 100), 0, 'the first key of the block, newest version: offset 0');
    t.equal(block.find('z', 13), walked.offsets[walked.count - 1], 'the last key of the block');
    t.equal(block.find('z', 12), -1, 'the last key before its only version: none');
    t.equal(block.find('ba', 8), reference(data, 'ba', 8, format), 'a version that is a deletion is found (its kind says so)');
    t.ok(isDeleteIn(block, block.find('ba', 8)), 'and it is the delete');
    t.equal(block.find('ba', 1), -1, 'older than every version of the key: none');
    t.equal(block.find(`${long}x`, 5), reference(data, `${long}x`, 5, format), 'a 301-byte key (past the stack buffer), an older version');
    t.end();
  });

  test(`Block.find agrees with the decoded search on random blocks and random probes, format ${format}`, (t) => {
    const random = prng(15);
    let mismatches = 0;
    let probes = 0;
    let wrongKeys = 0;
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
      const data = encodeBlock(entries, format);
      const block = blockOf(data, 'random.sst', 0, format);
      for (let p = 0; p < 60; p++) {
        const key = random() < 0.5 ? sorted[Math.floor(random() * sorted.length)]! : `${sorted[Math.floor(random() * sorted.length)]!}\x01`;
        const version = Math.floor(random() * (seq + 2));
        if (block.find(key, version) !== reference(data, key, version, format)) mismatches++;
        probes++;
      }
      // keys decoded in a random order (each put together from the entries before it)
      const walked = loadBlock(data, 'random.sst', 0, format);
      for (let p = 0; p < 20; p++) {
        const e = Math.floor(random() * entries.length);
        if (keyAt(walked, e) !== entries[e]!.key) wrongKeys++;
      }
    }
    t.equal(mismatches, 0, `${probes} probes over 200 random blocks, no mismatch`);
    t.equal(wrongKeys, 0, 'keys decoded out of order are the keys written');
    t.end();
  });

  test(`Block.find on a block that does not hold together, format ${format}: EBADMSG with what the decoding says, wherever the key is`, (t) => {
    const data = encodeBlock([...group('a', [3]), ...group('m', [2]), ...group('z', [1])], format);
    const second = loadBlock(data, 'good.sst', 0, format).offsets[1]!;
    const cases: Array<[string, Buffer, RegExp]> = [];
    const longKey = Buffer.from(data);
    // the second entry's key length runs past the end
    if (format === 1) longKey.writeUInt32LE(4000, second);
    else longKey[second + 1] = 0x7f;
    cases.push(['an entry runs past the block', longKey, /entry [12] runs past the block|the entries end at/]);
    const extra = Buffer.concat([data.subarray(0, data.length - 4), Buffer.alloc(3), data.subarray(data.length - 4)]);
    cases.push(['bytes left after the last entry', extra, /the entries end at \d+, not at \d+/]);
    const short = Buffer.from(data);
    short.writeUInt32LE(2, short.length - 4);
    cases.push(['a count that stops short of the bytes', short, /the entries end at/]);
    if (format === 2) {
      // 17 entries: the 17th (index 16) starts a restart, and may not share bytes with the key before
      const many = encodeBlock(Array.from({ length: 17 }, (_, n) => group(`key${String(n).padStart(2, '0')}`, [50 - n])).flat(), format);
      const restart = loadBlock(many, 'good.sst', 0, format).offsets[16]!;
      const sharing = Buffer.from(many);
      t.equal(sharing[restart], 0, 'the builder writes a restart every 16 entries');
      sharing[restart] = 3; // 'key16' would take 'key' from 'key15'
      cases.push(['a restart entry that shares bytes (keys put together could outgrow the block)', sharing, /entry 16 starts a restart but shares 3 bytes/]);
      const overShared = Buffer.from(data);
      overShared[second] = 5; // 'm' would share 5 bytes of the 1-byte key 'a'
      cases.push(['a key sharing more bytes than the key before it has', overShared, /entry 1 shares 5 bytes of a 1-byte key/]);
      const unended = Buffer.from(data);
      unended.fill(0xff, second, second + 9); // a varint of more than 8 bytes
      cases.push(['a varint that does not end', unended, /entry 1 runs past the block/]);
    }
    for (const [what, bytes, message] of cases) {
      const block = blockOf(bytes, 'bad.sst', 4096, format);
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
}

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
