// persistfs restore on worker threads (src/backup/restore-workers.ts), against a real Ceph radosgw: a blob
// that is damaged (caught by the SHA-256) or missing fails the restore with the very error the
// single-thread path gives (code, message, path), leaves no temporary, and leaves no thread running; the
// threads did the work (the process had more threads during the restore); an interruption (an abort, or
// SIGINT to the command) stops the files under way: EINTR (exit status 130 for SIGINT), no temporary,
// every file there whole, not all of them there.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import test from 'tape';

import type { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { runBackup } from '../../src/backup/backup.js';
import type { FileEntry } from '../../src/backup/manifest.js';
import { chooseManifest, runRestore } from '../../src/backup/restore.js';
import { restoreFile } from '../../src/backup/restore-file.js';
import { RestoreWorkers } from '../../src/backup/restore-workers.js';
import { StorageError } from '../../src/ground/errors.js';
import { tempDir } from '../helpers.js';
import { remote } from './backup-kit.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = path.join(repo, 'dist', 'mount', 'cli.js');
const MiB = 1024 * 1024;

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The threads of this process now. */
const threads = (): number => fs.readdirSync('/proc/self/task').length;

/** The temporaries of a restore left anywhere under `root`. */
const temporaries = (root: string): string[] =>
  fs.existsSync(root) ? (fs.readdirSync(root, { recursive: true }) as string[]).filter((name) => path.basename(name).startsWith('.persistfs-restore')) : [];

/** Waits until the worker threads a settled restore ended are gone (terminate resolves as each one exits). */
async function threadsBackTo(count: number): Promise<number> {
  for (let i = 0; i < 50 && threads() > count; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return threads();
}

/** A prefix holding a backup of `files` random files of `size` bytes (f00, f01, ...) and a small 'logs/day 1.log'. */
async function backedUp(t: test.Test, files: number, size: number) {
  const { cluster, prefix, url, store, client } = await remote(t, 'restorepar');
  const source = tempDir(t);
  fs.mkdirSync(path.join(source, 'logs'));
  fs.writeFileSync(path.join(source, 'logs', 'day 1.log'), 'the real content, ok');
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(source, `f${String(i).padStart(2, '0')}`), randomBytes(size));
  await runBackup({ source, store, prefix });
  return { cluster, prefix, url, store, client, source, small: sha(Buffer.from('the real content, ok')) };
}

/** Restores with `workers` threads into a new directory; resolves with the error and the most threads seen while it ran. */
async function failedRestore(store: ObjectStore, prefix: string, target: string, workers: number): Promise<{ error: unknown; most: number }> {
  let most = threads();
  const error = await runRestore({
    store,
    prefix,
    target,
    workers,
    onProgress: () => {
      most = Math.max(most, threads());
    },
  }).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  return { error, most };
}

for (const damage of ['damaged', 'missing'] as const) {
  test(`restore on worker threads: a ${damage} blob fails it with the single-thread path's error, and leaves no temporary and no thread`, async (t) => {
    const { cluster, prefix, store, client, small } = await backedUp(t, 6, MiB);
    const key = `${prefix}blobs/${small}`;
    if (damage === 'damaged') await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: key, Body: 'the real content, OK' }));
    else await client.send(new DeleteObjectCommand({ Bucket: cluster.bucket, Key: key }));
    const before = threads();
    const root = tempDir(t);
    const single = await failedRestore(store, prefix, path.join(root, 'single'), 0);
    const spread = await failedRestore(store, prefix, path.join(root, 'spread'), 2);
    t.ok(spread.most >= before + 2, `the worker threads ran (threads: ${before} before, ${spread.most} during the restore)`);
    t.ok(single.error instanceof StorageError && spread.error instanceof StorageError, 'both fail with a StorageError');
    const parts = (error: unknown) => {
      const failure = error as StorageError;
      return { code: failure.code, errno: failure.errno, message: failure.message, path: failure.path, syscall: failure.syscall };
    };
    t.deepEqual(parts(spread.error), parts(single.error), `the same error on worker threads: ${(spread.error as Error).message}`);
    const expected =
      damage === 'damaged' ? /^EBADMSG: .*the restored 'logs\/day 1\.log' is not what was backed up/ : /^ENOENT: .*'logs\/day 1\.log' is missing/;
    t.match((spread.error as Error).message, expected, 'which names the file');
    t.deepEqual(temporaries(path.join(root, 'spread')), [], 'no temporary is left');
    t.ok(!fs.existsSync(path.join(root, 'spread', 'logs', 'day 1.log')), 'nor the file');
    t.equal(await threadsBackTo(before), before, 'and no thread is left running');
  });
}

test("restore: a file's written content is told before the file is sealed and in place (the next GET may start), on this thread and on a worker", async (t) => {
  const { store, prefix, source } = await backedUp(t, 2, MiB);
  const entry = (await chooseManifest(store, prefix, undefined)).entries.find((e): e is FileEntry => e.kind === 'file' && e.path === 'f00');
  if (entry === undefined) throw new Error('f00 is not in the manifest');
  const target = tempDir(t);
  const here = path.join(target, 'here');
  let hereAtWritten: boolean | undefined;
  await restoreFile(store, prefix, entry, Buffer.from(here), () => {}, { onWritten: () => (hereAtWritten = fs.existsSync(here)) });
  t.equal(hereAtWritten, false, 'on this thread: told while the file is not in place yet');
  t.ok(fs.readFileSync(here).equals(fs.readFileSync(path.join(source, 'f00'))), 'then placed, whole');
  const workers = new RestoreWorkers(store, prefix, 1);
  try {
    const there = path.join(target, 'there');
    let thereAtWritten: boolean | undefined;
    await workers.restore(
      entry,
      Buffer.from(there),
      () => {},
      () => (thereAtWritten = fs.existsSync(there)),
    );
    t.equal(thereAtWritten, false, 'on a worker thread: told (a message) while the file is not in place yet');
    t.ok(fs.readFileSync(there).equals(fs.readFileSync(path.join(source, 'f00'))), 'then placed, whole');
  } finally {
    await workers.close();
  }
});

for (const workers of [0, 2]) {
  test(`restore (${workers} worker threads): a file that cannot be put in place after its content was written fails the restore with that error, no temporary, no thread left`, async (t) => {
    const { store, prefix, source } = await backedUp(t, 6, MiB);
    const before = threads();
    const target = path.join(tempDir(t), 'out');
    fs.mkdirSync(path.join(target, 'f03', 'in the way'), { recursive: true });
    const error = await runRestore({ store, prefix, target, workers, concurrency: 2, force: true }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    t.ok(error instanceof StorageError && error.code === 'EISDIR', `EISDIR (${(error as Error)?.message})`);
    t.match((error as Error).message, /'f03'/, 'naming the file');
    const there = fs.readdirSync(target).filter((name) => /^f0[0-5]$/.test(name) && fs.statSync(path.join(target, name)).isFile());
    t.ok(
      there.every((name) => fs.readFileSync(path.join(target, name)).equals(fs.readFileSync(path.join(source, name)))),
      `each file there is whole (${there.length})`,
    );
    t.deepEqual(temporaries(target), [], 'no temporary is left');
    t.equal(await threadsBackTo(before), before, 'no thread is left running');
  });
}

test('restore on worker threads: an abort stops it with EINTR; the files there are whole, the rest not there, no temporary, no thread left', async (t) => {
  const { store, prefix, source } = await backedUp(t, 24, 4 * MiB);
  const before = threads();
  const target = path.join(tempDir(t), 'out');
  const stopper = new AbortController();
  const placed = () => fs.readdirSync(target).filter((name) => name.startsWith('f'));
  let atAbort: string[] = [];
  const error = await runRestore({
    store,
    prefix,
    target,
    workers: 2,
    concurrency: 2,
    signal: stopper.signal,
    onProgress: (done) => {
      if (done < 6 * MiB || stopper.signal.aborted) return;
      // once the abort returns nothing more is placed (a rename under way was waited for: restore-stops.ts)
      stopper.abort('SIGINT');
      atAbort = placed();
    },
  }).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  t.ok(error instanceof StorageError && error.code === 'EINTR', `EINTR (${(error as Error)?.message})`);
  t.match((error as Error).message, /stopped by SIGINT/, 'saying what stopped it');
  const there = placed();
  t.deepEqual(there, atAbort, `the files under way were stopped: none was placed after the abort (${there.length} of 24 there)`);
  t.ok(
    there.every((name) => fs.readFileSync(path.join(target, name)).equals(fs.readFileSync(path.join(source, name)))),
    'each file there is whole',
  );
  t.deepEqual(temporaries(target), [], 'no temporary is left');
  t.equal(await threadsBackTo(before), before, 'no thread is left running');
});

test('restore: SIGINT to the command stops it: exit status 130, one EINTR line, no temporary, the files there whole', async (t) => {
  const { cluster, url, source } = await backedUp(t, 40, 4 * MiB);
  const target = path.join(tempDir(t), 'out');
  const child = spawn(process.execPath, [CLI, 'restore', url, target, '--concurrency', '2', '--endpoint', cluster.endpoint], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: cluster.accessKeyId, AWS_SECRET_ACCESS_KEY: cluster.secretAccessKey },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const closed = new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
  // SIGINT once the first file is under way (its temporary there)
  const started = performance.now();
  while (temporaries(target).length === 0 && child.exitCode === null && performance.now() - started < 30_000)
    await new Promise((resolve) => setTimeout(resolve, 2));
  child.kill('SIGINT');
  const status = await closed;
  t.equal(status, 130, 'exit status 130 (128 + SIGINT)');
  const lines = stderr.split('\n').filter((line) => line.startsWith('persistfs: '));
  t.equal(lines.length, 1, 'one error line');
  t.match(lines[0] ?? '', /^persistfs: EINTR: .*the restore was stopped by SIGINT/, `saying so: ${lines[0]}`);
  const there = fs.readdirSync(target).filter((name) => name.startsWith('f'));
  t.ok(there.length < 40, `not every file was restored (${there.length} of 40)`);
  t.ok(
    there.every((name) => fs.readFileSync(path.join(target, name)).equals(fs.readFileSync(path.join(source, name)))),
    'each file there is whole',
  );
  t.deepEqual(temporaries(target), [], 'no temporary is left');
});
