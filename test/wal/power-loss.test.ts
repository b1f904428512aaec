// Format 4's marks: a power loss that lost unflushed pages in any order (a later page of a batch on disk,
// an earlier one not; the next batch's pages but not the last flush's; a segment's records but not the
// previous segment's seal) opens by default and keeps every acknowledged record; a record damaged before a
// mark that covers it is refused; logs of format 3 and before behave as they did.
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { openStorage } from '../../src/index.js';
import type { Logger } from '../../src/log.js';
import {
  encodeRecord,
  encodeSegmentHeader,
  MARK_RECORD_SIZE,
  RECORD_HEADER_SIZE,
  SEAL_RECORD_SIZE,
  sealRecord,
  sealRecords,
  segmentFormat,
  stageMark,
  type WalPosition,
} from '../../src/wal/format.js';
import { MemorySegmentStore } from '../../src/wal/segment-store.js';
import { verifyWal } from '../../src/wal/verify.js';
import { type SyncPolicy, Wal } from '../../src/wal/wal.js';
import { prng, rejection, tempDir } from '../helpers.js';
import { check, run } from './crash-steps.js';
import { closeMarkAt, record, withoutCloseMark } from './wal-helpers.js';

const PAGE = 64; // smaller than a batch: a batch's pages reach the disk or not one by one
const RANDOM_IMAGES = 6;

for (const [name, sync] of [
  ['always', 'always'],
  ['none', 'none'],
  ['batch', { batch: { intervalMs: 1, bytes: 300 } }],
] as Array<[string, SyncPolicy]>) {
  for (const [slow, pace] of [[0], [3], [3, 1]] as Array<[number, number?]>) {
    for (const segmentSize of [1024, 4096]) {
      const how = `${slow ? ', slow fsyncs and fdatasyncs' : ''}${pace ? ', writers not waiting for acknowledgements: batches written beside flushes' : ''}`;
      test(`power loss before each operation (sync ${name}, segments of ${segmentSize} B${how}), unflushed ${PAGE} B pages lost in any order: the log opens by default with every acknowledged record`, async (t) => {
        const options = { segmentSize, records: segmentSize === 1024 ? 40 : 80, slowFlush: slow, pace };
        const slowSync = slow;
        const full = await run(sync, Infinity, slowSync, options);
        const problems: string[] = [];
        let checked = 0;
        let cut = 0;
        for (let stopAt = 1; stopAt <= full.steps; stopAt++) {
          const stopped = await run(sync, stopAt, slowSync, options);
          const durable = sync === 'none' ? [] : stopped.acknowledged;
          const rng = prng(stopAt);
          const keeps: Array<[string, (segment: number, page: number) => boolean]> = [
            ['only the last unflushed page kept', (_segment, page) => page === lastChanged.get(_segment)],
            ['every unflushed page but the first kept', (segment, page) => page !== firstChanged.get(segment)],
            ...Array.from({ length: RANDOM_IMAGES }, (_, i): [string, (segment: number, page: number) => boolean] => {
              const drawn = new Map<string, boolean>(); // the same pages each time the image is made
              return [
                `random pages ${i}`,
                (segment, page) => {
                  const key = `${segment}:${page}`;
                  if (!drawn.has(key)) drawn.set(key, rng() < 0.5);
                  return drawn.get(key)!;
                },
              ];
            }),
          ];
          // the first and last page of each segment that differs from its durable bytes
          const firstChanged = new Map<number, number>();
          const lastChanged = new Map<number, number>();
          await stopped.store.pagesImage(PAGE, (segment, page) => {
            if (!firstChanged.has(segment)) firstChanged.set(segment, page);
            lastChanged.set(segment, page);
            return false;
          });
          for (const [kind, keep] of keeps) {
            const image = await stopped.store.pagesImage(PAGE, keep);
            const opened = await Wal.open(image, { segmentSize }).catch(() => undefined);
            if (opened?.recovery.unflushed) cut++;
            await opened?.close();
            const problem = await check(
              `stop before operation ${stopAt} of ${full.steps}, ${kind}`,
              await stopped.store.pagesImage(PAGE, keep),
              durable,
              segmentSize,
            );
            if (problem !== undefined) problems.push(problem);
            checked++;
          }
        }
        t.deepEqual(problems.slice(0, 3), [], `${checked} power-loss images, ${problems.length} with a problem`);
        t.ok(cut > 0, `good records after a bad one (or a lost segment tail), cut as unflushed, in ${cut} of them`);
      });
    }
  }
}

/** A logger that keeps what was logged at warn and error. */
function capture(): { logger: Logger; lines: Array<{ level: string; message: string; detail: object }> } {
  const lines: Array<{ level: string; message: string; detail: object }> = [];
  const at = (level: string) => (detail: object, message: string) => lines.push({ level, message, detail });
  const logger = { warn: at('warn'), error: at('error'), info: () => undefined, debug: () => undefined } as unknown as Logger;
  return { logger, lines };
}

/** Records `numbers` appended one at a time (each its own batch) under `sync`, and the log closed: the store and their positions. */
async function written(sync: SyncPolicy, numbers: number): Promise<{ store: MemorySegmentStore; positions: WalPosition[] }> {
  const store = new MemorySegmentStore();
  const wal = await Wal.open(store, { sync });
  const positions: WalPosition[] = [];
  for (let i = 0; i < numbers; i++) positions.push(await wal.append(record(i, 100)));
  await wal.close();
  return { store, positions };
}

async function numbersIn(wal: Wal): Promise<number[]> {
  const seen: number[] = [];
  for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
  return seen;
}

test("a record damaged before a mark that covers it (sync 'always': each fdatasync moves the mark) is refused; point-in-time cuts there", async (t) => {
  const { store, positions } = await written('always', 8);
  const bytes = store.bytes(1)!;
  bytes[positions[3]!.offset + RECORD_HEADER_SIZE + 10]! ^= 1;
  store.setBytes(1, bytes);
  const error = await rejection(t, Wal.open(store), 'EBADMSG', 'the default recovery');
  t.match(error?.message ?? '', new RegExp(`segment 1 offset ${positions[3]!.offset}: record fails its checksum`), 'naming where');
  t.match(
    error?.message ?? '',
    /a mark after it says every record before segment 1 offset \d+ was on disk: records the log had flushed are damaged/,
    'and the mark that proves it was durable',
  );
  const { logger, lines } = capture();
  const wal = await Wal.open(store, { recovery: 'point-in-time', logger });
  t.deepEqual(await numbersIn(wal), [0, 1, 2], "'point-in-time' keeps the records before it");
  t.ok(
    lines.some((line) => line.level === 'error' && /a mark says it was on disk/.test(line.message)),
    'and logs the cut as an error',
  );
  await wal.close();
});

test("a record damaged with no mark after it (sync 'none': nothing was ever flushed after it) is cut by default, logged at warn and reported", async (t) => {
  const { store, positions } = await written('none', 8);
  const bytes = withoutCloseMark(store.bytes(1)!); // as a crash before close() leaves it
  bytes[positions[3]!.offset + RECORD_HEADER_SIZE + 10]! ^= 1;
  store.setBytes(1, bytes);
  const { logger, lines } = capture();
  const wal = await Wal.open(store, { logger });
  t.deepEqual(await numbersIn(wal), [0, 1, 2], 'the records before it are kept');
  t.deepEqual(wal.recovery.unflushed, { position: positions[3], segments: [] }, 'wal.recovery says where the log was cut');
  t.equal(wal.recovery.dropped?.position.offset, positions[3]!.offset, 'and the bytes cut');
  t.ok(
    lines.some((line) => line.level === 'warn' && /never known to be on disk/.test(line.message)),
    'logged at warn',
  );
  await wal.append(record(3, 100));
  t.deepEqual(await numbersIn(wal), [0, 1, 2, 3], 'appends go on after the cut');
  await wal.close();
  const again = await Wal.open(store);
  t.deepEqual([await numbersIn(again), again.recovery.unflushed], [[0, 1, 2, 3], undefined], 'and the log opens clean');
  await again.close();
});

for (const sync of ['none', 'always'] as const) {
  test(`a cleanly closed log ends with a mark: damage to its last record is refused, not cut as a power loss's (sync '${sync}')`, async (t) => {
    const { store, positions } = await written(sync, 8);
    const bytes = store.bytes(1)!;
    bytes[positions[7]!.offset + RECORD_HEADER_SIZE + 10]! ^= 1;
    store.setBytes(1, bytes);
    const error = await rejection(t, Wal.open(store), 'EBADMSG', 'the default recovery');
    t.match(error?.message ?? '', /records the log had flushed are damaged/, 'saying the record was on disk');
  });
}

test('after a reopen the first batch is marked: damage to a record from before the reopen is refused', async (t) => {
  const { store, positions } = await written('none', 4);
  const wal = await Wal.open(store, { sync: 'none' });
  await wal.append(record(4, 100)); // the open made the log durable: this batch's mark says so
  await wal.close();
  const bytes = withoutCloseMark(store.bytes(1)!); // its mark alone
  t.equal(closeMarkAt(bytes), undefined, "the close's mark taken away");
  bytes[positions[2]!.offset + RECORD_HEADER_SIZE + 10]! ^= 1;
  store.setBytes(1, bytes);
  await rejection(t, Wal.open(store), 'EBADMSG', 'the default recovery');
});

/** A segment of format `version` holding `records` (record i numbered i); optionally a mark saying `mark` after them, then the seal record. */
function segmentOf(segment: number, version: number, numbers: number[], { mark, seal }: { mark?: WalPosition; seal?: boolean } = {}): Buffer {
  const { seed } = segmentFormat(version, segment);
  const parts = [encodeSegmentHeader(segment, version)];
  for (const i of numbers) {
    const bytes = Buffer.alloc(RECORD_HEADER_SIZE + 100);
    encodeRecord(bytes, 0, 1, record(i, 100), true, seed);
    parts.push(bytes);
  }
  if (mark) {
    const bytes = Buffer.alloc(MARK_RECORD_SIZE);
    stageMark(bytes, 0, mark);
    sealRecords(bytes, 0, MARK_RECORD_SIZE, seed);
    parts.push(bytes);
  }
  if (seal) parts.push(sealRecord(seed));
  return Buffer.concat(parts);
}

test('format 4, a segment whose tail (seal record included) was lost, records in the next one: cut there unless a mark says the tail was on disk', async (t) => {
  const one = segmentOf(1, 4, [0, 1, 2, 3]);
  const lostTail = one.length - 2 * (RECORD_HEADER_SIZE + 100); // records 2 and 3 and the seal lost: zeros
  const image = (mark?: WalPosition) => {
    const store = new MemorySegmentStore();
    store.setBytes(1, Buffer.concat([one.subarray(0, lostTail), Buffer.alloc(one.length - lostTail + SEAL_RECORD_SIZE)]));
    store.setBytes(2, segmentOf(2, 4, [4, 5], mark ? { mark } : {}));
    return store;
  };
  const { logger, lines } = capture();
  const wal = await Wal.open(image({ segment: 1, offset: lostTail }), { logger });
  t.deepEqual(await numbersIn(wal), [0, 1], "a mark up to where the records stop: segment 1's records kept, segment 2 cut");
  t.deepEqual(wal.recovery.unflushed, { position: { segment: 1, offset: lostTail }, segments: [2], mark: { segment: 1, offset: lostTail } }, 'reported');
  t.ok(
    lines.some((line) => line.level === 'warn' && /lost segment tail, never known to be on disk/.test(line.message)),
    'logged at warn',
  );
  await wal.close();
  const noMark = await Wal.open(image());
  t.deepEqual(await numbersIn(noMark), [0, 1], 'no mark at all: cut the same way');
  await noMark.close();
  const error = await rejection(t, Wal.open(image({ segment: 1, offset: lostTail + 1 })), 'EBADMSG', 'a mark past where the records stop');
  t.match(
    error?.message ?? '',
    new RegExp(`segment 1 offset ${lostTail}: the records stop here .*a mark after it says every record before segment 1 offset ${lostTail + 1}`),
    'says where and which mark',
  );
  const sealed = await rejection(t, Wal.open(image({ segment: 2, offset: 28 })), 'EBADMSG', "a mark of segment 1's seal (segment 2 offset 28)");
  t.match(sealed?.message ?? '', /records the log had flushed are damaged/, 'says so');
  const pit = await Wal.open(image({ segment: 2, offset: 28 }), { recovery: 'point-in-time' });
  t.deepEqual(await numbersIn(pit), [0, 1], "'point-in-time' cuts it all the same");
  await pit.close();
});

test('persistfs check judges a format 4 segment whose tail was lost before one holding records as recovery does: a warning unless a mark says the tail was on disk', async (t) => {
  const one = segmentOf(1, 4, [0, 1, 2, 3]);
  const lostTail = one.length - 2 * (RECORD_HEADER_SIZE + 100);
  const findings = async (mark?: WalPosition) => {
    const root = tempDir(t);
    fs.mkdirSync(path.join(root, 'wal'));
    fs.writeFileSync(
      path.join(root, 'wal', '0000000000000001.wal'),
      Buffer.concat([one.subarray(0, lostTail), Buffer.alloc(one.length - lostTail + SEAL_RECORD_SIZE)]),
    );
    fs.writeFileSync(path.join(root, 'wal', '0000000000000002.wal'), segmentOf(2, 4, [4, 5], mark ? { mark } : {}));
    const storage = await openStorage(root, { config: { logLevel: 'warn' } });
    try {
      const dir = await storage.openDirectory('wal');
      try {
        return (await verifyWal(dir)).findings;
      } finally {
        await dir.close();
      }
    } finally {
      await storage.close();
    }
  };
  const unmarked = await findings();
  t.deepEqual(
    unmarked.map((finding) => finding.severity),
    ['warning'],
    `no mark: a warning, no damage (${unmarked.map((f) => `${f.file}: ${f.problem}`).join('; ')})`,
  );
  t.match(unmarked[0]?.file ?? '', /0000000000000002\.wal$/, 'about the segment recovery removes');
  t.match(unmarked[0]?.problem ?? '', /no mark says was on disk.*recovery removes it/, 'saying why');
  const covered = await findings({ segment: 2, offset: 28 });
  t.ok(
    covered.some((finding) => finding.severity === 'damage' && /0000000000000001\.wal$/.test(finding.file)),
    "a mark of segment 1's seal: damage in segment 1, as recovery refuses it",
  );
});

test('format 3 logs behave as before: a bad record with good ones after it, or a segment not sealed before one holding records, is refused by default', async (t) => {
  const bad = new MemorySegmentStore();
  const one = segmentOf(1, 3, [0, 1, 2, 3]);
  one[28 + RECORD_HEADER_SIZE + 100 + RECORD_HEADER_SIZE + 10]! ^= 1; // record 1
  bad.setBytes(1, one);
  const error = await rejection(t, Wal.open(bad), 'EBADMSG', 'a bad record that good ones follow');
  t.match(error?.message ?? '', /record fails its checksum, and good records follow it '/, 'with the message of format 3');
  const pit = await Wal.open(bad, { recovery: 'point-in-time' });
  t.deepEqual(await numbersIn(pit), [0], "'point-in-time' cuts it");
  await pit.close();

  const unsealed = new MemorySegmentStore();
  unsealed.setBytes(1, segmentOf(1, 3, [0, 1]));
  unsealed.setBytes(2, segmentOf(2, 3, [2, 3]));
  const refused = await rejection(t, Wal.open(unsealed), 'EBADMSG', 'a segment not sealed before one holding records');
  t.match(refused?.message ?? '', /records between them may be lost/, 'with the message of format 3');
});
