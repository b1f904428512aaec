// Corruption on disk: a byte flipped in a data block, the index, the filter, the properties or the footer
// of an SST, a cut SST, a missing SST, a corrupt MANIFEST, a damaged WAL segment. Reads and opens fail with
// a clear error (EBADMSG naming the file and where), never with wrong data; what is intact still reads.
import fs from 'node:fs';
import path from 'node:path';

import { MANIFEST_NAME, WAL_DIR } from '../../src/lsm/file-names.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import { decodeFooter, decodeIndex, FOOTER_SIZE } from '../../src/lsm/sst-format.js';
import {
  encodeRecord,
  encodeSegmentHeader,
  MARK_RECORD_SIZE,
  RECORD_HEADER_SIZE,
  SEGMENT_HEADER_SIZE,
  sealRecords,
  segmentName,
  stageMark,
} from '../../src/wal/format.js';
import { eachBackend, LOCAL_MODES, rejection } from '../helpers.js';
import { entries, filesUnder, lsmEnv, sstFiles, type LsmEnv } from './lsm-helpers.js';

const key = (i: number): string => `key${String(i).padStart(4, '0')}`;
const valueFor = (i: number): string => `value-${i}-`.padEnd(40, String.fromCharCode(97 + (i % 26)));
const OPTIONS = { blockSize: 512, autoCompact: false };

/** A store with one SST of 300 keys in many blocks, closed; returns the SST's path and layout. */
async function oneTable(env: LsmEnv) {
  const db = await env.open(OPTIONS);
  for (let i = 0; i < 300; i++) await db.put(key(i), valueFor(i));
  await db.flush();
  await db.close();
  const dir = path.join(env.root, 'db');
  const files = sstFiles(dir);
  const file = path.join(dir, files[0]!);
  const bytes = fs.readFileSync(file);
  const footer = decodeFooter(bytes.subarray(bytes.length - FOOTER_SIZE), files[0]!);
  const index = decodeIndex(bytes.subarray(footer.index.offset, footer.index.offset + footer.index.length), files[0]!);
  return { files, name: files[0]!, file, size: bytes.length, footer, index };
}

function flip(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, offset);
    byte[0] ^= 0x10;
    fs.writeSync(fd, byte, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** The error `promise` rejects with (EBADMSG expected), or a failure. */
async function badMessage(
  t: Parameters<Parameters<typeof eachBackend>[1]>[0],
  promise: Promise<unknown>,
  what: string,
  name: string,
  offset?: number,
): Promise<void> {
  const error = await rejection(t, promise, 'EBADMSG', what);
  if (!error) return;
  t.ok(error.message.includes(name), `${what}: the error names the file (${error.message})`);
  if (offset !== undefined) t.ok(error.message.includes(`offset ${offset}`), `${what}: and the offset ${offset}`);
}

eachBackend(
  'a flipped byte in a data block: reads of that block are EBADMSG (file and offset), the other blocks read right',
  async (t, backend) => {
    const env = await lsmEnv(t, backend);
    const { name, file, index } = await oneTable(env);
    t.ok(index.handles.length >= 10, `the table has ${index.handles.length} data blocks`);
    const b = Math.floor(index.handles.length / 2);
    const handle = index.handles[b]!;
    flip(file, handle.offset + 30); // inside the first entry's key or value
    const db = await env.open(OPTIONS);
    const inBlock = Buffer.from(index.firstKeys[b]!, 'latin1').toString();
    await badMessage(t, db.get(inBlock), `get of ${inBlock} in the corrupt block`, name, handle.offset);
    await badMessage(t, db.get(inBlock), 'the same get again (nothing wrong was cached)', name, handle.offset);
    await badMessage(t, entries(db.iterator()), 'a full scan over the corrupt block', name, handle.offset);
    await badMessage(t, entries(db.iterator({ reverse: true })), 'a reverse scan over it', name, handle.offset);
    const before = Buffer.from(index.lastKeys[b - 1]!, 'latin1').toString();
    const after = Buffer.from(index.firstKeys[b + 1]!, 'latin1').toString();
    t.equal((await db.get(before))?.toString(), valueFor(Number(before.slice(3))), 'a key in the block before reads right');
    t.equal((await db.get(after))?.toString(), valueFor(Number(after.slice(3))), 'a key in the block after reads right');
    const head = await entries(db.iterator({ lte: before }));
    t.equal(head.length, Number(before.slice(3)) + 1, 'a scan that stops before the corrupt block reads everything right');
    t.ok(
      head.every(([k, v]) => v === valueFor(Number(k.slice(3)))),
      'with the right values',
    );
    await badMessage(t, db.compactAll(), 'a compaction reading the corrupt block', name, handle.offset);
    t.ok(sstFiles(path.join(env.root, 'db')).includes(name), 'the corrupt SST is not deleted by the failed compaction');
    t.equal((await db.get(after))?.toString(), valueFor(Number(after.slice(3))), 'reads of intact blocks go on after it');
  },
  LOCAL_MODES,
);

eachBackend(
  'a flipped byte in the index, filter, properties or footer: the open is EBADMSG naming the file',
  async (t, backend) => {
    for (const part of ['index', 'filter', 'properties', 'footer magic', 'footer handles', 'footer crc'] as const) {
      const env = await lsmEnv(t, backend);
      const { name, file, footer, size } = await oneTable(env);
      const where: Record<typeof part, [number, number | undefined]> = {
        index: [footer.index.offset + 5, footer.index.offset],
        filter: [footer.filter.offset + 1, footer.filter.offset],
        properties: [footer.properties.offset + 3, footer.properties.offset],
        'footer magic': [size - FOOTER_SIZE + 2, size - FOOTER_SIZE],
        'footer handles': [size - FOOTER_SIZE + 20, size - FOOTER_SIZE],
        'footer crc': [size - 2, size - FOOTER_SIZE],
      };
      const [at, offset] = where[part];
      flip(file, at);
      await badMessage(t, LsmStore.open(env.dir, OPTIONS), `open with a corrupt ${part}`, name, offset);
      await badMessage(t, LsmStore.open(env.dir, { ...OPTIONS, readOnly: true }), `readOnly open with a corrupt ${part}`, name, offset);
      t.ok(sstFiles(path.join(env.root, 'db')).includes(name), `${part}: the refused open deleted nothing`);
    }
  },
  LOCAL_MODES,
);

eachBackend(
  'a cut SST is EBADMSG; a missing SST is refused naming it; the store is not changed by the refused opens',
  async (t, backend) => {
    const env = await lsmEnv(t, backend);
    const { name, file, size } = await oneTable(env);
    const saved = fs.readFileSync(file);
    fs.truncateSync(file, size - 10);
    await badMessage(t, LsmStore.open(env.dir, OPTIONS), 'open with an SST cut by 10 bytes', name);
    fs.truncateSync(file, 20);
    await badMessage(t, LsmStore.open(env.dir, OPTIONS), 'open with an SST of 20 bytes', name);
    fs.rmSync(file);
    const error = await LsmStore.open(env.dir, OPTIONS).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    t.ok(error && ['ENOENT', 'EBADMSG'].includes(error.code!), `open with the SST missing is refused (${error?.code}: ${error?.message})`);
    t.ok(error?.message.includes(name) || (error as { path?: string } | undefined)?.path?.includes(name), 'naming the missing file');
    fs.writeFileSync(file, saved);
    const db = await env.open(OPTIONS);
    t.equal((await entries(db.iterator())).length, 300, 'with the file back, the store opens with all its data');
  },
  LOCAL_MODES,
);

eachBackend(
  'a corrupt MANIFEST is refused clearly (EBADMSG naming it), never opened as an empty store',
  async (t, backend) => {
    const env = await lsmEnv(t, backend);
    await oneTable(env);
    const manifest = path.join(env.root, 'db', MANIFEST_NAME);
    const good = fs.readFileSync(manifest);
    const cases: Array<[string, Buffer]> = [
      ['a flipped byte in the JSON', Buffer.from(good.toString().replace('"levels":[[', '"levels":[[9'))],
      ['a flipped byte in the checksum', Buffer.from(good.toString().replace(/^(\S+ )(.)/, (_, head: string, c: string) => head + (c === '0' ? '1' : '0')))],
      ['a bad header', Buffer.concat([Buffer.from('X'), good.subarray(1)])],
      ['cut in half', good.subarray(0, Math.floor(good.length / 2))],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [what, bytes] of cases) {
      fs.writeFileSync(manifest, bytes);
      await badMessage(t, LsmStore.open(env.dir, OPTIONS), `MANIFEST ${what}`, MANIFEST_NAME);
      await badMessage(t, LsmStore.open(env.dir, { ...OPTIONS, readOnly: true }), `MANIFEST ${what} (readOnly)`, MANIFEST_NAME);
      t.equal(fs.readFileSync(manifest).length, bytes.length, `MANIFEST ${what}: the refused open did not rewrite it`);
      t.equal(sstFiles(path.join(env.root, 'db')).length, 1, `MANIFEST ${what}: and deleted no SST`);
    }
    fs.writeFileSync(manifest, good);
    const db = await env.open(OPTIONS);
    t.equal((await entries(db.iterator())).length, 300, 'the good MANIFEST back: everything is there');
  },
  LOCAL_MODES,
);

eachBackend(
  'a damaged WAL segment header, or a bad record in a segment that another follows: the readOnly open is EBADMSG naming the segment, and changes nothing',
  async (t, backend) => {
    const env = await lsmEnv(t, backend);
    const db = await env.open(OPTIONS);
    await db.put('first', 'FIRST-VALUE');
    await db.put('second', 'SECOND-VALUE');
    await db.close();
    const dir = path.join(env.root, 'db');
    const segment = path.join(dir, WAL_DIR, segmentName(1));
    const good = fs.readFileSync(segment);
    const refused = async (what: string, why: RegExp) => {
      const before = filesUnder(dir);
      const error = await rejection(t, LsmStore.open(env.dir, { ...OPTIONS, readOnly: true }), 'EBADMSG', `readOnly open with ${what}`);
      t.match(error?.message ?? '', why, `${what}: the error says where and why (${error?.message})`);
      t.equal((error as { path?: string } | undefined)?.path, segmentName(1), `${what}: and names the segment`);
      t.same(filesUnder(dir), before, `${what}: the refused open changed nothing on disk`);
    };

    flip(segment, 2); // in the magic
    await refused('a damaged segment header', /WAL corruption at segment 1 offset 0: bad magic/);

    fs.writeFileSync(segment, good);
    flip(segment, good.indexOf('SECOND-VALUE')); // the last record: a torn tail, were it not for the segment after it
    // segment 2 holds a record (one holding none would be the segment made ahead: segment 1 would end the log),
    // and the mark of segment 1's seal (format 4): segment 1 was on disk, so its bad record is damage
    const second = Buffer.alloc(SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE + 4 + MARK_RECORD_SIZE);
    encodeSegmentHeader(2).copy(second);
    encodeRecord(second, SEGMENT_HEADER_SIZE, 1, Buffer.from('next'), true, 2);
    stageMark(second, SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE + 4, { segment: 2, offset: SEGMENT_HEADER_SIZE });
    sealRecords(second, SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE + 4, second.length, 2);
    fs.writeFileSync(path.join(dir, WAL_DIR, segmentName(2)), second);
    await refused(
      'a bad record in segment 1 of 2',
      /WAL corruption at segment 1 offset \d+: the records stop here \(record fails its checksum\) without the seal record, and segment 2 holds records, and a mark after it says every record before segment 2 offset 28 was on disk/,
    );
  },
  LOCAL_MODES,
);

eachBackend(
  'a refused open keeps nothing open: the tables it opened and the WAL segment it read are closed again',
  async (t, backend) => {
    const env = await lsmEnv(t, backend);
    await oneTable(env);
    const db = await env.open(OPTIONS);
    await db.put('a', 'A-VALUE');
    await db.put('b', 'B-VALUE');
    await db.put('c', 'C-VALUE');
    await db.close();
    // reopened, the log is made durable and the next write's batch carries a mark saying so (WAL format 4):
    // damage before it is damage to flushed writes, refused (without the mark it would be cut, as a power loss's)
    const again = await env.open(OPTIONS);
    await again.put('d', 'D-VALUE');
    await again.close();
    const walDir = path.join(env.root, 'db', WAL_DIR);
    const last = fs
      .readdirSync(walDir)
      .filter((name) => name.endsWith('.wal'))
      .sort()
      .at(-1)!;
    const segment = path.join(walDir, last);
    flip(segment, fs.readFileSync(segment).indexOf('B-VALUE')); // a bad record with a good one after it
    const descriptors = () => fs.readdirSync('/proc/self/fd').length;
    const before = descriptors();
    for (let i = 0; i < 5; i++) {
      await LsmStore.open(env.dir, OPTIONS).then(
        () => t.fail('a store with a bad record before a good one opened'),
        (error: { code?: string }) => t.equal(error.code, 'EBADMSG', `open ${i + 1} is refused (EBADMSG)`),
      );
    }
    t.equal(descriptors(), before, 'five refused opens left no descriptor open');
  },
  LOCAL_MODES,
);
