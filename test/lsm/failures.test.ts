// LSM store under failures and awkward timing: a manifest write that fails, a write that waits for a
// stall while its caller reuses its buffers, a checkpoint that sees a newer compaction horizon, a rejected
// iterator, close() with writes in flight or obsolete SSTs being deleted, a LOCK left by a process with our
// pid, close() twice.
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { FileBackend } from '../../src/backend/file-backend.js';
import { storageError } from '../../src/ground/errors.js';
import { Dir, LsmStore } from '../../src/index.js';
import { LOCK_NAME, MANIFEST_NAME, parseTableName, WAL_DIR } from '../../src/lsm/file-names.js';
import { segmentName } from '../../src/wal/format.js';
import { BACKENDS, rejection } from '../helpers.js';
import { type LsmEnv, lsmEnv, sstFiles } from './lsm-helpers.js';
import { withoutCloseMark } from '../wal/wal-helpers.js';

const LOCAL = BACKENDS[0]!;
const bulk = (tag: string, n: number, value = 'v') => Array.from({ length: n }, (_, i) => ({ type: 'put' as const, key: `${tag}${i}`, value }));

test('a failed manifest write during a flush loses no acknowledged write, even with a compaction running beside it', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open({ autoCompact: false, l0CompactionTrigger: 2, memtableSize: 64 << 20, compactionThread: false });
  for (let round = 0; round < 2; round++) {
    await db.write(bulk('big', 60000, `r${round}`));
    await db.flush();
  }
  await db.put('important', 'acknowledged');
  const flushWrite = Dir.prototype.flushWrite;
  let failManifest = false;
  t.teardown(() => {
    Dir.prototype.flushWrite = flushWrite;
  });
  Dir.prototype.flushWrite = function (this: Dir, name: string, ...rest: unknown[]) {
    if (name === MANIFEST_NAME && failManifest) {
      failManifest = false;
      return Promise.reject(Object.assign(new Error('EIO: injected manifest write failure'), { code: 'EIO' }));
    }
    return (flushWrite as (...args: unknown[]) => ReturnType<Dir['flushWrite']>).call(this, name, ...rest);
  } as Dir['flushWrite'];
  const compacting = db.compact().catch((error: { code?: string }) => error.code);
  await new Promise((resolve) => setTimeout(resolve, 5));
  failManifest = true;
  t.equal(await db.flush().catch((error: { code?: string }) => error.code), 'EIO', 'the flush fails with the manifest write');
  await compacting;
  Dir.prototype.flushWrite = flushWrite;
  await rejection(t, db.put('after', 'x'), 'EIO', 'writes are refused until a reopen');
  await db.close().catch(() => undefined);
  // the SST the failed flush wrote was never installed: closed with the failure, not left open
  const openSsts = fs
    .readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((target) => target.startsWith(env.root) && target.includes('.sst'));
  t.deepEqual(openSsts, [], 'no SST of the closed store is still open');
  const reopened = await env.open();
  t.equal((await reopened.get('important'))?.toString(), 'acknowledged', 'the acknowledged write is there after reopen');
  t.equal((await reopened.get('big59999'))?.toString(), 'r1', 'and the flushed data');
});

test('a write that waits for a stall stores the bytes it was given, not what its buffer holds later', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open({ memtableSize: 1 << 20, autoCompact: false });
  await db.write(bulk('a', 20000, 'x'.repeat(40)));
  await db.write(bulk('b', 20000, 'x'.repeat(40)));
  const buffer = Buffer.from('value-1');
  const first = db.put('k1', buffer);
  buffer.write('value-2');
  const second = db.put('k2', buffer);
  buffer.write('value-3');
  await Promise.all([first, second]);
  t.equal((await db.get('k1'))?.toString(), 'value-1', 'the first put keeps its bytes');
  t.equal((await db.get('k2'))?.toString(), 'value-2', 'the second too');
});

test('a checkpoint taken while a compaction runs opens at a version its reads accept', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open({ autoCompact: false, l0CompactionTrigger: 2, memtableSize: 64 << 20, compactionThread: false });
  await db.put('a', '1');
  await db.flush();
  await db.put('a', '2');
  await db.flush();
  await db.write(bulk('m', 100000));
  const target = await env.mkdir('backup');
  const checkpoint = db.checkpoint(target);
  await db.put('c', 'later');
  await db.compact(); // its horizon counts 'c', newer than anything in the checkpoint
  await checkpoint;
  const backup = await env.open({ readOnly: true }, target);
  t.equal((await backup.get('a', { version: backup.version }))?.toString(), '2', 'a read as of its version is not ESTALE');
  const snapshot = backup.snapshot();
  t.equal((await snapshot.get('m99999'))?.toString(), 'v', 'nor is a snapshot read');
  snapshot.release();
  t.equal(await backup.get('c'), undefined, 'the later write is not in it');
});

test('an iterator refused for a bad bound pins nothing: obsolete SSTs are still deleted', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open({ autoCompact: false, memtableSize: 64 << 20, compactionThread: false });
  for (let i = 0; i < 5; i++) {
    await db.write(bulk(`r${i}-`, 100));
    await db.flush();
  }
  t.throws(() => db.iterator({ gte: null as unknown as string }), /EINVAL/, 'a null bound is EINVAL');
  await db.compactAll();
  // obsolete files are deleted in the background once nothing holds them
  const dir = path.join(env.root, 'db');
  for (let i = 0; i < 100 && sstFiles(dir).length > 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(sstFiles(dir).length, 1, 'only the compacted SST is left on disk');
});

test('close() waits for the deletion of obsolete SSTs: the closed directory holds only what the manifest names', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open({ autoCompact: false, memtableSize: 64 << 20 });
  for (let i = 0; i < 5; i++) {
    await db.write(bulk(`r${i}-`, 100));
    await db.flush();
  }
  // a slow disk: each SST's unlink is still under way when close() starts
  const deleteFile = Dir.prototype.deleteFile;
  t.teardown(() => {
    Dir.prototype.deleteFile = deleteFile;
  });
  Dir.prototype.deleteFile = async function (this: Dir, name: string) {
    if (parseTableName(name) !== undefined) await new Promise((resolve) => setTimeout(resolve, 300));
    return deleteFile.call(this, name);
  };
  await db.compactAll();
  const live = db.stats().levels.reduce((sum, level) => sum + level.files, 0);
  await db.close();
  t.equal(live, 1, 'the store names one SST');
  t.equal(sstFiles(path.join(env.root, 'db')).length, live, 'and when close() resolves, it is the only one in its directory');
});

test('close() with writes in flight: every write settles, no flush starts, nothing is left unnamed', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open({ memtableSize: 64 * 1024 });
  const writes = Array.from({ length: 2000 }, (_, i) =>
    db.put(`k${i}`, 'x'.repeat(100)).then(
      () => 'ok',
      (error: { code?: string }) => error.code,
    ),
  );
  await db.close();
  const outcomes = await Promise.all(writes);
  t.ok(
    outcomes.every((outcome) => outcome === 'ok' || outcome === 'EBADF'),
    'each write resolved or was refused',
  );
  const named = fs.readFileSync(path.join(env.root, 'db', MANIFEST_NAME), 'utf8');
  const unnamed = sstFiles(path.join(env.root, 'db')).filter((name) => !named.includes(`${parseTableName(name)}`));
  t.deepEqual(unnamed, [], 'no SST the manifest does not name');
  const reopened = await env.open();
  const acknowledged = outcomes.map((outcome, i) => (outcome === 'ok' ? i : -1)).filter((i) => i >= 0);
  let missing = 0;
  for (const i of acknowledged) if ((await reopened.get(`k${i}`)) === undefined) missing++;
  t.equal(missing, 0, `all ${acknowledged.length} acknowledged writes are there after reopen`);
});

test('a LOCK naming our pid but another process (a restart that got the same pid) is taken over', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const first = await env.open();
  await first.close();
  fs.writeFileSync(path.join(env.root, 'db', LOCK_NAME), `${process.pid} another-process\n`);
  const db = await env.open();
  t.pass('opened');
  await rejection(t, LsmStore.open(env.dir), 'EBUSY', 'while this process holds it, a second open is EBUSY');
  await db.close();
  t.notOk(fs.existsSync(path.join(env.root, 'db', LOCK_NAME)), 'close removes the LOCK');
});

test('close() twice: the second waits for the first', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open();
  await db.put('k', 'v');
  const first = db.close();
  await db.close();
  t.notOk(fs.existsSync(path.join(env.root, 'db', LOCK_NAME)), 'the LOCK is gone when the second close resolves');
  await first;
});

test('close(): a failed close of the WAL directory still unlocks the store and closes its versions, then reports the failure', async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open();
  await db.put('k', 'v');
  const close = Dir.prototype.close;
  t.teardown(() => {
    Dir.prototype.close = close;
  });
  Dir.prototype.close = function (this: Dir) {
    if (this.path.endsWith(WAL_DIR)) {
      Dir.prototype.close = close;
      return close.call(this).then(() => Promise.reject(storageError('EIO', 'injected close failure of the WAL directory')));
    }
    return close.call(this);
  };
  await rejection(t, db.close(), 'EIO', 'close() reports the failure');
  t.notOk(fs.existsSync(path.join(env.root, 'db', LOCK_NAME)), 'the LOCK is removed all the same');
  const reopened = await env.open();
  t.equal((await reopened.get('k'))?.toString(), 'v', 'the store reopens in this process with its data');
  await reopened.close();
});

/** A store with 'first', 'second' and 'third' written (sync 'none': nothing flushed), closed. */
async function threeWrites(t: test.Test): Promise<LsmEnv> {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open();
  await db.put('first', 'FIRST-VALUE');
  await db.put('second', 'SECOND-VALUE');
  await db.put('third', 'THIRD-VALUE');
  await db.close();
  return env;
}

/**
 * Flips one bit of the first byte of `text` in the store's first WAL segment; `crashed`: the mark the WAL's
 * close() wrote zeroed too, as a crash before the close would have left the log.
 */
function flipInWal(env: LsmEnv, text: string, crashed = false): void {
  const segment = path.join(env.root, 'db', WAL_DIR, segmentName(1));
  const bytes = crashed ? withoutCloseMark(fs.readFileSync(segment)) : fs.readFileSync(segment);
  bytes[bytes.indexOf(text)]! ^= 0x20;
  fs.writeFileSync(segment, bytes);
}

test('a WAL with a flushed record damaged (a mark after it covers it): strict open refuses saying what to do; point-in-time keeps what precedes it', async (t) => {
  const env = await threeWrites(t);
  // closed, the log ends with a mark saying every record is on disk (WAL format 4); reopened, the log is
  // made durable, and the next write's batch carries a mark saying so
  const again = await env.open();
  await again.put('fourth', 'FOURTH-VALUE');
  await again.close();
  flipInWal(env, 'SECOND-VALUE'); // damage to a record the log had flushed
  const error = await rejection(t, LsmStore.open(env.dir), 'EBADMSG', 'the default (strict) open');
  t.match(error?.message ?? '', /records the log had flushed are damaged/, 'the message says the damaged record was on disk');
  t.match(error?.message ?? '', /walRecovery: 'point-in-time'/, 'and how to open it anyway');
  const recovered = await env.open({ walRecovery: 'point-in-time' });
  t.equal((await recovered.get('first'))?.toString(), 'FIRST-VALUE', 'the write before the bad record is kept');
  t.equal(await recovered.get('second'), undefined, 'the bad record is dropped');
  t.equal(await recovered.get('third'), undefined, 'and what follows it');
  t.equal(await recovered.get('fourth'), undefined, 'the later writes too');
  await recovered.close();
  await rejection(t, env.open({ walRecovery: 'maybe' as 'strict' }), 'EINVAL', 'an unknown walRecovery');
});

test("a WAL with a record damaged that was never flushed (sync 'none', no mark after it): the default open cuts there, as after a power loss", async (t) => {
  const env = await threeWrites(t);
  flipInWal(env, 'SECOND-VALUE', true); // as if a power loss left this page out, the next one in
  const recovered = await env.open();
  t.equal((await recovered.get('first'))?.toString(), 'FIRST-VALUE', 'the write before the bad record is kept');
  t.equal(await recovered.get('second'), undefined, 'the bad record is dropped');
  t.equal(await recovered.get('third'), undefined, 'and what follows it');
  await recovered.close();
});

test('a small write reaches the WAL file on the calling thread by default; walInlineWriteLimit 0 leaves it to the IO engine', async (t) => {
  const env = await lsmEnv(t, BACKENDS[0]!);
  const segment = path.join(env.root, 'db', WAL_DIR, segmentName(1));
  const db = await env.open();
  const before = fs.statSync(segment).size;
  const written = db.put('inline', 'INLINE-VALUE');
  t.ok(fs.statSync(segment).size > before, 'the record is in the file when put() returns (before the promise settles)');
  await written;
  await db.close();
  const other = await env.open({ walInlineWriteLimit: 0 });
  const size = fs.statSync(segment).size;
  // the engine may start the write on a pool thread at once (buffered files): which path the WAL takes is
  // what is looked at, not whether the bytes are there yet
  const paths = { inline: 0, engine: 0 };
  const { writeAtNow, writeAt } = FileBackend.prototype;
  t.teardown(() => Object.assign(FileBackend.prototype, { writeAtNow, writeAt }));
  FileBackend.prototype.writeAtNow = function (this: FileBackend, ...args: Parameters<typeof writeAtNow>) {
    paths.inline++;
    return writeAtNow.apply(this, args);
  };
  FileBackend.prototype.writeAt = function (this: FileBackend, ...args: Parameters<typeof writeAt>) {
    paths.engine++;
    return writeAt.apply(this, args);
  };
  await other.put('queued', 'QUEUED-VALUE');
  Object.assign(FileBackend.prototype, { writeAtNow, writeAt });
  t.deepEqual(paths, { inline: 0, engine: 1 }, 'walInlineWriteLimit 0: the record is written through the IO engine, not on the calling thread');
  t.ok(fs.statSync(segment).size > size, 'and is in the file when put() settles');
  await other.close();
  const reopened = await env.open();
  t.equal((await reopened.get('inline'))?.toString(), 'INLINE-VALUE', 'the inline write is replayed');
  t.equal((await reopened.get('queued'))?.toString(), 'QUEUED-VALUE', 'and the one through the engine');
  await rejection(t, env.open({ walInlineWriteLimit: -1 }), 'EINVAL', 'a negative walInlineWriteLimit');
});

test("sync 'none': after a failed WAL fdatasync, close() rejects rather than report the acknowledged writes durable", async (t) => {
  const env = await lsmEnv(t, LOCAL);
  const db = await env.open();
  await db.put('written', 'acknowledged once written (sync none)');
  const flush = FileBackend.prototype.flush;
  t.teardown(() => {
    FileBackend.prototype.flush = flush;
  });
  FileBackend.prototype.flush = () => Promise.reject(storageError('EIO', 'injected fdatasync failure', { syscall: 'fdatasync' }));
  await rejection(t, db.sync(), 'EIO', 'sync() reports the failed fdatasync');
  FileBackend.prototype.flush = flush;
  await rejection(t, db.put('later', 'x'), 'EIO', 'later writes are refused');
  await rejection(t, db.close(), 'EIO', 'close() does not say the acknowledged write is durable');
  const reopened = await env.open();
  t.equal((await reopened.get('written'))?.toString(), 'acknowledged once written (sync none)', 'no crash here: the reopened store has the write');
});

test("a storage closed before the store: close() resolves under sync 'always', rejects under 'none' with writes never fsynced", async (t) => {
  for (const sync of ['always', 'none'] as const) {
    const env = await lsmEnv(t, LOCAL);
    const db = await env.open({ sync });
    await db.put('written', 'value');
    await env.storage.close(); // closes the WAL's file: its last fsync cannot run
    if (sync === 'always') {
      await db.close();
      t.pass("sync 'always': every acknowledged write was fdatasynced, close() resolves");
    } else {
      await rejection(t, db.close(), 'EBADF', "sync 'none': close() does not say the write is durable");
    }
  }
});
