// persistfs check: a healthy WAL, LSM store and flatfs datastore pass (exit 0); a flipped byte in a WAL
// record, in an SST data block, a damaged MANIFEST and a segment missing in the middle are each reported
// with the file and offset, exit 1; a directory that is none of them is exit 3. The check changes nothing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

import { DirSegmentStore, FlatfsDatastore, LsmStore, openStorage, Wal } from '../../src/index.js';
import { tempDir } from '../helpers.js';
import { closeMarkAt, versionOneSegment } from '../wal/wal-helpers.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = path.join(repo, 'dist', 'mount', 'cli.js');

function check(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'check', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PERSISTFS_LOG_LEVEL: 'warn' } });
}

/** A store made in `root/name` by `fill`, through a storage on `root` closed after. */
async function make(root: string, name: string, fill: (dir: Awaited<ReturnType<Awaited<ReturnType<typeof openStorage>>['createDirectory']>>) => Promise<void>) {
  const storage = await openStorage(root, { config: { logLevel: 'warn' } });
  try {
    const dir = await storage.createDirectory(name);
    try {
      await fill(dir);
    } finally {
      await dir.close();
    }
  } finally {
    await storage.close();
  }
  return path.join(root, name);
}

/**
 * A WAL of three 4 KiB segments, 100 records of 100 bytes, closed: close() ends it with a mark that every
 * record is on disk, so damage to any of them is damage, not a power loss's unflushed writes.
 */
const makeWal = (root: string) =>
  make(root, 'wal', async (dir) => {
    const wal = await Wal.open(new DirSegmentStore(dir), { segmentSize: 4096, sync: 'none' });
    for (let i = 0; i < 100; i++) await wal.append(Buffer.alloc(100, i));
    await wal.close();
  });

/** An LSM store with six SSTs of 1 KiB blocks and a WAL. */
const makeLsm = (root: string) =>
  make(root, 'db', async (dir) => {
    const db = await LsmStore.open(dir, { memtableSize: 64 * 1024, blockSize: 1024, compactionThread: false, autoCompact: false });
    for (let i = 0; i < 3000; i++) await db.put(`key${String(i).padStart(5, '0')}`, Buffer.alloc(50, i % 256));
    await db.close();
  });

const makeFlatfs = (root: string) =>
  make(root, 'ff', async (dir) => {
    const store = await FlatfsDatastore.open(dir);
    for (let i = 0; i < 20; i++) await store.put(`/k${i}`, Buffer.from(`value ${i}`));
    await store.close();
  });

function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0xff;
    fs.writeSync(fd, byte, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every file under `dir` with its bytes, to see that the check changed nothing (the storage's own hidden lock file aside). */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name === '.persistfs-lock') continue;
    const full = path.join(entry.parentPath, entry.name);
    files.set(path.relative(dir, full), fs.readFileSync(full).toString('base64'));
  }
  return files;
}

test('persistfs check: a healthy WAL, LSM store and flatfs datastore are sound (exit 0), found by their files, and unchanged', async (t) => {
  const root = tempDir(t);
  for (const [dir, kind, counted] of [
    [await makeWal(root), 'a WAL directory', /3 segments; 100 records/],
    [await makeLsm(root), 'an LSM store', /the MANIFEST; \d+ SSTs \(\d+ data blocks, \d+ entries/],
    [await makeFlatfs(root), 'a flatfs datastore', /flatfs\.shard \(next-to-last\/2\); \d+ shards?; 20 keys/],
  ] as Array<[string, string, RegExp]>) {
    const before = snapshot(dir);
    const run = check(dir);
    t.equal(run.status, 0, `${kind}: exit status 0 (${run.stderr.trim()})`);
    t.match(run.stdout, new RegExp(`: ${kind} \\(it has `), `${kind}: told by its files`);
    t.match(run.stdout, counted, `${kind}: says what it checked`);
    t.match(run.stdout, /: sound\n$/, `${kind}: sound`);
    t.deepEqual(snapshot(dir), before, `${kind}: no file changed`);
  }
  t.end();
});

test('persistfs check: a flipped byte in a WAL record is damage naming the segment and the record, exit 1', async (t) => {
  const dir = await makeWal(tempDir(t));
  // the first record of segment 2 (28: after the segment header), with good records after it
  flipByte(path.join(dir, '0000000000000002.wal'), 28 + 20);
  const run = check(dir);
  t.equal(run.status, 1, 'exit status 1');
  t.match(
    run.stdout,
    /damaged: \S+\/wal\/0000000000000002\.wal at offset 28: record fails its CRC32C, and good records follow it/,
    'names the segment and the offset',
  );
  t.match(run.stdout, /DAMAGED: 1 problem in 1 file\n$/, 'ends saying it is damaged');
  t.end();
});

test('persistfs check: a flipped byte in the last record of a closed log is damage too (close() marked it on disk), exit 1', async (t) => {
  const dir = await makeWal(tempDir(t));
  const last = path.join(dir, '0000000000000003.wal');
  const lastRecord = closeMarkAt(fs.readFileSync(last))! - (9 + 100);
  flipByte(last, lastRecord + 20);
  const run = check(dir);
  t.equal(run.status, 1, `exit status 1 (${run.stdout.trim()})`);
  t.match(
    run.stdout,
    new RegExp(`damaged: \\S+/wal/0000000000000003\\.wal at offset ${lastRecord}: record fails its CRC32C`),
    'names the segment and the offset',
  );
  t.end();
});

test('persistfs check: an old version 1 segment and a last segment written in place (zeros after its records) are sound; a torn record in the zeros is a torn-tail warning', async (t) => {
  const root = tempDir(t);
  const dir = path.join(root, 'wal');
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, '0000000000000001.wal'),
    versionOneSegment(
      1,
      Array.from({ length: 5 }, (_, i) => Buffer.alloc(100, i)),
    ),
  );
  let tail = 0;
  const storage = await openStorage(root, { config: { logLevel: 'warn' } });
  try {
    const wal = await Wal.open(new DirSegmentStore(await storage.openDirectory('wal')), { sync: 'always' });
    for (let i = 0; i < 10; i++) await wal.append(Buffer.alloc(100, i));
    tail = wal.end.offset;
    await wal.close();
  } finally {
    await storage.close();
  }
  const last = path.join(dir, '0000000000000002.wal');
  t.ok(fs.statSync(last).size > tail, 'the last segment runs on past its records (preallocated zeros)');
  const sound = check(dir);
  t.equal(sound.status, 0, `exit status 0 (${sound.stderr.trim()})`);
  t.match(sound.stdout, /2 segments; 15 records/, 'reads the records of both versions');
  t.match(sound.stdout, /: sound\n$/, 'sound, with no warning for the zeros');
  const file = fs.readFileSync(last);
  file.copy(file, tail, tail - 109, tail - 109 + 50); // half of the last record again, in the zeros
  fs.writeFileSync(last, file);
  const torn = check(dir);
  t.equal(torn.status, 0, 'a torn tail is exit status 0');
  t.match(torn.stdout, new RegExp(`warning: \\S+0000000000000002\\.wal at offset ${tail}: torn tail`), 'a warning at the tail');
  t.end();
});

test('persistfs check: a segment missing in the middle is damage naming it, exit 1', async (t) => {
  const dir = await makeWal(tempDir(t));
  fs.unlinkSync(path.join(dir, '0000000000000002.wal'));
  const run = check(dir, '--kind', 'wal');
  t.equal(run.status, 1, 'exit status 1');
  t.match(
    run.stdout,
    /damaged: \S+\/0000000000000002\.wal at offset 0: missing: segment 2 is not there, between 0000000000000001\.wal and 0000000000000003\.wal/,
    'names the missing segment',
  );
  t.end();
});

test('persistfs check: a flipped byte in an SST data block is damage naming the SST and the block offset, exit 1', async (t) => {
  const dir = await makeLsm(tempDir(t));
  const sst = fs.readdirSync(dir).find((name) => name.endsWith('.sst'))!;
  flipByte(path.join(dir, sst), 1500); // in the second data block (blocks are about 1 KiB)
  const run = check(dir);
  t.equal(run.status, 1, 'exit status 1');
  const line = run.stdout.split('\n').find((l) => l.startsWith('damaged:')) ?? '';
  t.match(
    line,
    new RegExp(`^damaged: \\S+/${sst.replace('.', '\\.')} at offset (\\d+): data block 2 of \\d+: checksum mismatch$`),
    `names ${sst} and its block`,
  );
  const offset = Number(/at offset (\d+)/.exec(line)?.[1]);
  t.ok(offset <= 1500 && offset > 900, `the offset is the damaged block's start (${offset})`);
  t.equal(run.stdout.split('\n').filter((l) => l.startsWith('damaged:')).length, 1, 'and nothing else is reported');
  t.end();
});

test('persistfs check: a damaged MANIFEST is damage naming it; the SSTs and the WAL are checked all the same, exit 1', async (t) => {
  const dir = await makeLsm(tempDir(t));
  const manifest = path.join(dir, 'MANIFEST');
  flipByte(manifest, fs.statSync(manifest).size - 10);
  const run = check(dir);
  t.equal(run.status, 1, 'exit status 1');
  t.match(run.stdout, /damaged: \S+\/MANIFEST at offset 0: checksum mismatch/, 'names the MANIFEST');
  t.match(run.stdout, /checked: no readable MANIFEST; \d+ SSTs \(\d+ data blocks, \d+ entries.*WAL: .*3000 records/, 'and still checks every SST and the WAL');
  t.end();
});

test('persistfs check: a directory that holds none of the three, or none at all, cannot be checked: exit 3', (t) => {
  const root = tempDir(t);
  fs.writeFileSync(path.join(root, 'notes.txt'), 'hello');
  const none = check(root);
  t.equal(none.status, 3, 'none of the three: exit status 3');
  t.match(none.stderr, /EINVAL: .*found no MANIFEST .*name what it is with --kind wal\|lsm\|flatfs/, 'and says how to name the kind');
  const missing = check(path.join(root, 'nowhere'));
  t.equal(missing.status, 3, 'a missing directory: exit status 3');
  t.match(missing.stderr, /ENOENT/, 'with the errno name');
  t.end();
});
