// persistfs backup / restore against a real Ceph radosgw: a tree (nested directories, an empty file, a
// 40 MiB file, odd names, a symbolic link, modes and mtimes) goes up and comes back identical; a second
// backup sends only what changed; an older backup restores by id; a damaged blob fails the restore naming
// the file; a non-empty target is refused; a missing bucket, refused credentials and an unreachable
// endpoint are clear errors; an LSM store (closed, or a checkpoint of an open one) comes back whole; the
// progress is plain lines off a terminal and a bar on one (a pty from script(1)).
import { spawn } from 'node:child_process';
import crypto, { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import test from 'tape';

import { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { resolveS3Settings } from '../../src/adapters/s3/s3-settings.js';
import { runBackup } from '../../src/backup/backup.js';
import { BlobStore } from '../../src/backup/blob-store.js';
import { hashFile } from '../../src/backup/content-hash.js';
import { type FileEntry, readManifest } from '../../src/backup/manifest.js';
import { runRestore } from '../../src/backup/restore.js';
import { LsmStore, openStorage } from '../../src/index.js';
import { rejection, tempDir } from '../helpers.js';
import { remote } from './backup-kit.js';
import type { Ceph } from './ceph.js';
import { s3Proxy } from './s3-proxy.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = path.join(repo, 'dist', 'mount', 'cli.js');
const MiB = 1024 * 1024;

/** Runs the persistfs CLI with the cluster's credentials in the environment (not blocking the event loop). */
function cli(cluster: Ceph, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string; seconds: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: cluster.accessKeyId, AWS_SECRET_ACCESS_KEY: cluster.secretAccessKey, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr, seconds: (performance.now() - started) / 1000 })));
}

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Runs the persistfs CLI on a terminal (a pty from script(1), 200 columns wide): what it wrote there, stdout and stderr together. */
function cliOnTerminal(cluster: Ceph, args: string[]): Promise<{ status: number | null; output: string }> {
  const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;
  const command = `stty cols 200 rows 50; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}`;
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, AWS_ACCESS_KEY_ID: cluster.accessKeyId, AWS_SECRET_ACCESS_KEY: cluster.secretAccessKey },
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, output })));
}

/**
 * An endpoint passing every request on to `endpoint`, each PUT and GET of a blob held `delayMs` first: a
 * backup or restore of a few small files then takes seconds. Closed when the test ends.
 */
async function slowBlobs(t: test.Test, endpoint: string, delayMs: number): Promise<string> {
  const slow = (request: http.IncomingMessage) => (request.method === 'PUT' || request.method === 'GET') && (request.url ?? '').includes('/blobs/');
  return (await s3Proxy(t, endpoint, (request) => (slow(request) ? delayMs : 0))).endpoint;
}

/** Sets the mtime of `at` (a file, directory or link) to `seconds` plus `ns` nanoseconds, not following links. */
function setMtime(at: string | Buffer, seconds: number, ns: number): void {
  fs.lutimesSync(at, seconds, seconds + ns / 1e9);
}

/**
 * A tree with nested directories, an empty file, a 40 MiB file, odd names (spaces, a newline, non-ASCII, a
 * byte that is not UTF-8, a leading dash, a dot file), a symbolic link, modes other than the default, and
 * mtimes in the past with nanoseconds. Resolves with the total size of its files.
 */
function makeTree(root: string): number {
  const write = (name: string | Buffer, data: Uint8Array, mode = 0o644) => {
    const at = Buffer.concat([Buffer.from(`${root}/`), Buffer.from(name)]);
    fs.writeFileSync(at, data, { mode });
    fs.chmodSync(at, mode);
    return data.length;
  };
  fs.mkdirSync(path.join(root, 'a/b/c'), { recursive: true });
  fs.mkdirSync(path.join(root, 'empty dir'));
  let total = 0;
  total += write('a/b/c/deep.txt', Buffer.from('deep inside\n'));
  total += write('a/empty', Buffer.alloc(0));
  total += write('a/b/big.bin', randomBytes(40 * MiB + 12_345));
  total += write('with space.txt', Buffer.from('spaces'), 0o600);
  total += write('new\nline', Buffer.from('a newline in the name'));
  total += write('ünïcødé ☃.txt', Buffer.from('snowman'), 0o444);
  total += write(Buffer.from([0x6e, 0x6f, 0x74, 0xff, 0x75, 0x74, 0x66]), Buffer.from('not utf-8'));
  total += write('-rf', Buffer.from('a leading dash'), 0o755);
  total += write('.hidden', Buffer.from('dot file'), 0o640);
  fs.symlinkSync('a/b/c/deep.txt', path.join(root, 'link'));
  fs.chmodSync(path.join(root, 'a/b'), 0o750);
  fs.chmodSync(path.join(root, 'empty dir'), 0o700);
  // mtimes last, deepest first (making entries changes a directory's mtime)
  let second = 1_500_000_000;
  for (const at of tree(root).reverse()) setMtime(at.location, second++, 123_456_789);
  return total;
}

interface Seen {
  path: string;
  kind: string;
  mode: number;
  size: number;
  /** the content's sha256, or a link's target */
  content: string;
  mtimeNs: bigint;
  location: Buffer;
}

/** Everything in the tree at `root` (the root itself as ''), sorted by path, names as bytes in hex where not UTF-8. */
function tree(root: string): Seen[] {
  const seen: Seen[] = [];
  const visit = (at: Buffer, name: string) => {
    const stat = fs.lstatSync(at, { bigint: true });
    const kind = stat.isDirectory() ? 'directory' : stat.isSymbolicLink() ? 'symlink' : stat.isFile() ? 'file' : 'other';
    const content = kind === 'file' ? sha(fs.readFileSync(at)) : kind === 'symlink' ? fs.readlinkSync(at, 'utf8') : '';
    seen.push({
      path: name,
      kind,
      mode: Number(stat.mode & 0o7777n),
      size: kind === 'file' ? Number(stat.size) : 0,
      content,
      mtimeNs: stat.mtimeNs,
      location: at,
    });
    if (kind === 'directory') {
      for (const child of fs.readdirSync(at, { encoding: 'buffer' }) as Buffer[]) {
        const label = child.toString('utf8').includes('\ufffd') ? `hex:${child.toString('hex')}` : child.toString('utf8');
        visit(Buffer.concat([at, Buffer.from('/'), child]), name === '' ? label : `${name}/${label}`);
      }
    }
  };
  visit(Buffer.from(root), '');
  return seen.sort((a, b) => a.path.localeCompare(b.path));
}

/** Checks that `restored` is `original`: the same entries, kinds, modes, sizes, contents, and mtimes to the microsecond. */
function sameTree(t: test.Test, original: string, restored: string): void {
  const before = tree(original);
  const after = tree(restored);
  const strip = (entries: Seen[]) => entries.map(({ mtimeNs: _, location: __, ...rest }) => rest);
  t.deepEqual(strip(after), strip(before), `the same ${before.length} entries: paths, kinds, modes, sizes, contents (sha256) and link targets`);
  let worst = 0n;
  for (const [i, entry] of before.entries()) {
    const other = after[i];
    if (other === undefined) continue;
    const off = entry.mtimeNs > other.mtimeNs ? entry.mtimeNs - other.mtimeNs : other.mtimeNs - entry.mtimeNs;
    if (off > worst) worst = off;
  }
  t.ok(worst < 1000n, `every mtime (files, links, directories, the root) within a microsecond (worst: ${worst} ns)`);
}

async function keys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let token: string | undefined;
  do {
    const answer = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const item of answer.Contents ?? []) found.push(item.Key!.slice(prefix.length));
    token = answer.NextContinuationToken;
  } while (token !== undefined);
  return found.sort();
}

test('backup: a tree (nested, an empty file, 40 MiB, odd names, a link) goes up and restores byte-identical, with modes and mtimes', async (t) => {
  const { cluster, prefix, url, client } = await remote(t);
  const source = tempDir(t);
  const total = makeTree(source);
  const endpoint = ['--endpoint', cluster.endpoint];
  const up = await cli(cluster, ['backup', source, url, ...endpoint]);
  t.equal(up.status, 0, `backup exits 0 (${up.stderr.trim() || 'no stderr'})`);
  t.comment(up.stdout.trim());
  t.comment(`backing up ${(total / MiB).toFixed(1)} MiB took ${up.seconds.toFixed(1)} s (the whole command)`);
  t.match(
    up.stdout,
    new RegExp(`: 9 files \\(40\\.0 MiB\\), ${total} bytes sent in 9 new blobs, 0 bytes skipped as already there, [\\d.]+ s\\n$`),
    'the summary line',
  );
  const objects = await keys(client, cluster.bucket, prefix);
  t.equal(objects.filter((key) => key.startsWith('blobs/')).length, 9, 'a blob per content');
  t.equal(objects.filter((key) => key.startsWith('backups/')).length, 1, 'and one manifest');
  const bigSha = sha(fs.readFileSync(path.join(source, 'a/b/big.bin')));
  const head = await client.send(new HeadObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}blobs/${bigSha}` }));
  t.ok(/-3"?$/.test(head.ETag ?? ''), `the 40 MiB file went up as a multipart upload of 3 parts (ETag ${head.ETag})`);

  const listed = await cli(cluster, ['backup', '--list', url, ...endpoint]);
  t.equal(listed.status, 0, 'backup --list exits 0');
  t.match(
    listed.stdout,
    new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.\\d{3}Z  9 files, ${total} bytes \\(40\\.0 MiB\\)  of ${source}\\n$`),
    `one backup listed: ${listed.stdout.trim()}`,
  );

  const target = path.join(tempDir(t), 'new', 'restored');
  const down = await cli(cluster, ['restore', url, target, ...endpoint]);
  t.equal(down.status, 0, `restore exits 0 (${down.stderr.trim() || 'no stderr'})`);
  t.comment(`${down.stdout.trim()} (restoring took ${down.seconds.toFixed(1)} s, the whole command)`);
  t.match(down.stdout, new RegExp(`: 9 files, ${total} bytes, every file's sha256 checked, [\\d.]+ s\\n$`), 'the summary line');
  sameTree(t, source, target);
  t.deepEqual(
    fs.readdirSync(path.join(target, 'a')).filter((name) => name.startsWith('.persistfs-restore')),
    [],
    'no temporary file left',
  );
});

test('backup: a second backup after one file changed sends only that file', async (t) => {
  const { cluster, prefix, store, client } = await remote(t);
  const source = tempDir(t);
  fs.mkdirSync(path.join(source, 'd'));
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(source, 'd', `f${i}`), randomBytes(100_000 + i));
  fs.writeFileSync(path.join(source, 'same-as-f0'), fs.readFileSync(path.join(source, 'd', 'f0')));
  const first = await runBackup({ source, store, prefix });
  t.equal(first.blobsSent, 20, 'the first backup sends 20 blobs (two files with one content: one blob)');
  t.equal(first.bytesSkipped, 100_000, 'the second copy of a content is skipped');
  const blobsBefore = (await keys(client, cluster.bucket, `${prefix}blobs/`)).length;
  fs.writeFileSync(path.join(source, 'd', 'f7'), randomBytes(54_321));
  const second = await runBackup({ source, store, prefix });
  t.equal(second.blobsSent, 1, 'the second backup sends one blob');
  t.equal(second.bytesSent, 54_321, "the changed file's bytes, no more");
  t.equal(second.bytesSkipped, second.bytes - 54_321, 'everything else skipped as already there');
  const after = await keys(client, cluster.bucket, prefix);
  t.equal(after.filter((key) => key.startsWith('blobs/')).length, blobsBefore + 1, 'one object more under blobs/');
  t.equal(after.filter((key) => key.startsWith('backups/')).length, 2, 'and a second manifest');
  t.notEqual(second.id, first.id, `a new id (${first.id}, ${second.id})`);
});

test('backup: a blob that arrives other than it was hashed (the file changed between) fails the backup naming the file, and is deleted', async (t) => {
  const { cluster, prefix, store, client } = await remote(t);
  const source = tempDir(t);
  const blobs = new BlobStore(store, prefix);
  await blobs.load();
  const big = path.join(source, 'big');
  fs.writeFileSync(big, randomBytes(17 * MiB)); // streamed from disk as a multipart upload
  const bigHash = await hashFile(big);
  fs.writeFileSync(big, randomBytes(17 * MiB));
  const failed = await rejection(
    t,
    blobs.ensure(bigHash, Buffer.from(big), 'dir/big', () => undefined),
    'EIO',
    'a multipart upload whose ETag is not the hashed one',
  );
  t.match(failed?.message ?? '', /other bytes than were sent for 'dir\/big'.*run the backup again/, `names the file: ${failed?.message}`);
  const gone = await client.send(new HeadObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}blobs/${bigHash.sha256}` })).catch(() => undefined);
  t.equal(gone, undefined, 'the wrong blob is deleted');
  const small = path.join(source, 'small');
  fs.writeFileSync(small, 'before');
  const smallHash = await hashFile(small);
  fs.writeFileSync(small, 'after!');
  await rejection(
    t,
    blobs.ensure(smallHash, Buffer.from(small), 'small', () => undefined),
    'EAGAIN',
    'a small file read again for sending with another content',
  );
});

test('backup: restore takes the newest backup, or an older one by --backup <id>', async (t) => {
  const { cluster, prefix, url, store } = await remote(t);
  const source = tempDir(t);
  fs.writeFileSync(path.join(source, 'note'), 'version one');
  fs.writeFileSync(path.join(source, 'gone-later'), 'only in the first');
  const first = await runBackup({ source, store, prefix });
  fs.writeFileSync(path.join(source, 'note'), 'version two!');
  fs.rmSync(path.join(source, 'gone-later'));
  const second = await runBackup({ source, store, prefix });
  const newest = path.join(tempDir(t), 'newest');
  const restored = await runRestore({ store, prefix, target: newest });
  t.equal(restored.id, second.id, 'by default the newest');
  t.deepEqual(fs.readdirSync(newest), ['note'], 'with its files');
  t.equal(fs.readFileSync(path.join(newest, 'note'), 'utf8'), 'version two!', 'and their content');
  const older = path.join(tempDir(t), 'older');
  const byId = await cli(cluster, ['restore', url, older, '--backup', first.id, '--endpoint', cluster.endpoint]);
  t.equal(byId.status, 0, `restore --backup ${first.id} exits 0 (${byId.stderr.trim() || 'no stderr'})`);
  t.deepEqual(fs.readdirSync(older).sort(), ['gone-later', 'note'], 'the older backup has the file deleted since');
  t.equal(fs.readFileSync(path.join(older, 'note'), 'utf8'), 'version one', 'and the older content');
  const none = await cli(cluster, ['restore', url, path.join(tempDir(t), 'x'), '--backup', '2001-02-03T04-05-06.789Z', '--endpoint', cluster.endpoint]);
  t.equal(none.status, 2, 'a backup id that is not there: ENOENT (exit status 2)');
  t.match(none.stderr, /^persistfs: ENOENT: .*there is no backup '2001-02-03T04-05-06\.789Z'.*persistfs backup --list/, `named: ${none.stderr.trim()}`);
});

test('backup: a damaged blob makes restore fail naming the file, and leaves nothing of it', async (t) => {
  const { cluster, prefix, url, store, client } = await remote(t);
  const source = tempDir(t);
  fs.mkdirSync(path.join(source, 'logs'));
  fs.writeFileSync(path.join(source, 'logs', 'day 1.log'), 'the real content, ok');
  fs.writeFileSync(path.join(source, 'other'), 'fine');
  await runBackup({ source, store, prefix });
  const damaged = sha(Buffer.from('the real content, ok'));
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}blobs/${damaged}`, Body: 'the real content, OK' }));
  const target = path.join(tempDir(t), 'out');
  const failed = await cli(cluster, ['restore', url, target, '--endpoint', cluster.endpoint]);
  t.equal(failed.status, 74, 'restore exits with EBADMSG (74)');
  t.match(
    failed.stderr,
    /^persistfs: EBADMSG: .*the restored 'logs\/day 1\.log' is not what was backed up .*sha256/,
    `the error names the file: ${failed.stderr.trim()}`,
  );
  t.equal(failed.stderr.trim().split('\n').length, 1, 'in one line');
  t.deepEqual(fs.existsSync(path.join(target, 'logs')) ? fs.readdirSync(path.join(target, 'logs')) : [], [], 'neither the file nor a temporary one is left');
  const again = await runBackup({ source, store, prefix });
  t.equal(again.blobsSent, 1, 'the next backup sees the damaged blob (its ETag is not the content’s) and sends it again');
  const repaired = path.join(tempDir(t), 'repaired');
  await runRestore({ store, prefix, target: repaired });
  t.equal(fs.readFileSync(path.join(repaired, 'logs', 'day 1.log'), 'utf8'), 'the real content, ok', 'after which it restores');
});

test('backup: restore into a non-empty directory is refused (ENOTEMPTY) and changes nothing; --force restores there', async (t) => {
  const { cluster, prefix, url, store } = await remote(t);
  const source = tempDir(t);
  fs.writeFileSync(path.join(source, 'f'), 'from the backup');
  await runBackup({ source, store, prefix });
  const target = tempDir(t);
  fs.writeFileSync(path.join(target, 'mine'), 'do not touch');
  const refused = await cli(cluster, ['restore', url, target, '--endpoint', cluster.endpoint]);
  t.equal(refused.status, 39, 'exit status ENOTEMPTY (39)');
  t.match(refused.stderr, /^persistfs: ENOTEMPTY: .*--force/, `says what to do: ${refused.stderr.trim()}`);
  t.deepEqual(fs.readdirSync(target), ['mine'], 'nothing written');
  await rejection(t, runRestore({ store, prefix, target }), 'ENOTEMPTY', 'through the library too');
  const forced = await cli(cluster, ['restore', url, target, '--force', '--endpoint', cluster.endpoint]);
  t.equal(forced.status, 0, 'with --force it restores');
  t.deepEqual(fs.readdirSync(target).sort(), ['f', 'mine'], 'beside what was there');
});

test('backup: a missing bucket, refused credentials and an unreachable endpoint are clear errors; usage errors are one line', async (t) => {
  const { cluster, prefix } = await remote(t);
  const source = tempDir(t);
  fs.writeFileSync(path.join(source, 'f'), 'x');
  const endpoint = ['--endpoint', cluster.endpoint];
  const missing = await cli(cluster, ['backup', source, 's3://no-such-bucket-here/p', ...endpoint]);
  t.equal(missing.status, 2, 'a missing bucket: ENOENT (2)');
  t.match(missing.stderr, /^persistfs: ENOENT: .*the bucket 'no-such-bucket-here' does not exist.*create it first/, missing.stderr.trim());
  const restoreMissing = await cli(cluster, ['restore', 's3://no-such-bucket-here/p', path.join(source, 'x'), ...endpoint]);
  t.match(restoreMissing.stderr, /the bucket 'no-such-bucket-here' does not exist/, 'restore says so too');
  const refused = await cli(cluster, ['backup', source, `s3://${cluster.bucket}/${prefix}`, ...endpoint], {
    AWS_ACCESS_KEY_ID: 'WRONG',
    AWS_SECRET_ACCESS_KEY: 'WRONG',
  });
  t.equal(refused.status, 13, 'refused credentials: EACCES (13)');
  t.match(refused.stderr, /^persistfs: EACCES: .*AWS_ACCESS_KEY_ID/, refused.stderr.trim());
  const down = await cli(cluster, ['backup', '--list', `s3://${cluster.bucket}/${prefix}`, '--endpoint', 'http://127.0.0.1:9']);
  t.equal(down.status, 5, 'an unreachable endpoint: EIO (5)');
  t.match(down.stderr, /^persistfs: EIO: .*cannot be reached.*check the endpoint/, down.stderr.trim());
  for (const args of [
    ['backup', source],
    ['backup', `s3://${cluster.bucket}/x`, source],
    ['restore', source, source],
    ['backup', source, 's3://b/p', '--concurrency', '0'],
  ]) {
    const usage = await cli(cluster, args);
    t.equal(usage.status, 2, `${args.join(' ')}: a usage error (2)`);
    t.match(
      usage.stderr,
      new RegExp(`^persistfs: [^\\n]+\\nsee persistfs ${args[0]} --help\\n$`),
      `one line and where to read more: ${usage.stderr.split('\n')[0]}`,
    );
  }
  const notDir = await cli(cluster, ['backup', path.join(source, 'f'), `s3://${cluster.bucket}/${prefix}`, ...endpoint]);
  t.equal(notDir.status, 20, 'backing up a file, not a directory: ENOTDIR (20)');
});

test('backup: an LSM store, closed, restores and opens with every key; an open one is refused; a checkpoint of it backs up', async (t) => {
  const { prefix, store } = await remote(t);
  const root = tempDir(t);
  const storage = await openStorage(root, { config: { logLevel: 'warn' } });
  t.teardown(() => storage.close());
  const dir = await storage.createDirectory('db');
  const db = await LsmStore.open(dir, { memtableSize: 64 * 1024, compactionThread: false });
  const value = (i: number) => `value ${i} ${'x'.repeat(i % 200)}`;
  for (let i = 0; i < 5000; i++) await db.put(`key${String(i).padStart(5, '0')}`, value(i));
  await rejection(t, runBackup({ source: path.join(root, 'db'), store, prefix }), 'EBUSY', 'backing up a store open in a live process');
  await db.checkpoint(await storage.createDirectory('checkpoint'));
  const fromCheckpoint = await runBackup({ source: path.join(root, 'checkpoint'), store, prefix });
  t.ok(fromCheckpoint.files > 1, `a checkpoint of the open store backs up (${fromCheckpoint.files} files)`);
  for (let i = 5000; i < 5100; i++) await db.put(`key${String(i).padStart(5, '0')}`, value(i)); // in the WAL only, at close
  await db.close();
  await dir.close();
  const names = fs.readdirSync(path.join(root, 'db'));
  t.ok(names.some((name) => name.endsWith('.sst')) && names.includes('wal'), `the store has SSTs and a WAL (${names.length} entries)`);
  const result = await runBackup({ source: path.join(root, 'db'), store, prefix });
  t.ok(result.bytesSkipped > 0, `the SSTs the checkpoint shares are not sent again (${result.bytesSkipped} bytes skipped, ${result.bytesSent} sent)`);
  const restoredRoot = tempDir(t);
  t.equal((await runRestore({ store, prefix, target: path.join(restoredRoot, 'db') })).id, result.id, 'the newest backup is the closed store');
  await runRestore({ store, prefix, target: path.join(restoredRoot, 'checkpoint'), backupId: fromCheckpoint.id });
  const again = await openStorage(restoredRoot, { config: { logLevel: 'warn' } });
  t.teardown(() => again.close());
  const restoredDir = await again.openDirectory('db');
  const restored = await LsmStore.open(restoredDir, { compactionThread: false });
  let right = 0;
  for (let i = 0; i < 5100; i++) if ((await restored.get(`key${String(i).padStart(5, '0')}`))?.toString() === value(i)) right++;
  t.equal(right, 5100, 'the restored store opens with every key, those only in its WAL too');
  await restored.close();
  await restoredDir.close();
  const checkpointDir = await again.openDirectory('checkpoint');
  const checkpoint = await LsmStore.open(checkpointDir, { readOnly: true, compactionThread: false });
  let inCheckpoint = 0;
  for (let i = 0; i < 5100; i++) if ((await checkpoint.get(`key${String(i).padStart(5, '0')}`)) !== undefined) inCheckpoint++;
  t.equal(inCheckpoint, 5000, 'the restored checkpoint opens (read-only) with the keys written before it');
  await checkpoint.close();
  await checkpointDir.close();
});

interface SeenRequest {
  command: string;
  key: string | undefined;
  contentSha256: string | undefined;
  expect: string | undefined;
}

/** Records the commands `store` sends (their names), the payload hash each request was signed with and its Expect header. */
function recordRequests(store: ObjectStore): SeenRequest[] {
  const seen: SeenRequest[] = [];
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
      seen.push({
        command: context.commandName ?? '',
        key: (args.input as { Key?: string }).Key,
        contentSha256: headers['x-amz-content-sha256'],
        expect: headers.Expect ?? headers.expect,
      });
      return next(args);
    },
    { step: 'deserialize', name: 'recordRequests' },
  );
  store.onDirectHead = (key) => seen.push({ command: 'HeadObjectCommand', key, contentSha256: undefined, expect: undefined });
  store.onDirectPut = (key, phase, headers) => {
    if (phase === 'sent')
      seen.push({ command: 'PutObjectCommand', key, contentSha256: headers['x-amz-content-sha256'], expect: headers.Expect ?? headers.expect });
  };
  return seen;
}

test('backup: a small file is read once and goes up in one PUT signed with its sha256 (no HEAD after it)', async (t) => {
  const { prefix, store } = await remote(t);
  const source = tempDir(t);
  const contents = Array.from({ length: 5 }, (_, i) => randomBytes(50_000 + i));
  for (const [i, bytes] of contents.entries()) fs.writeFileSync(path.join(source, `f${i}`), bytes);
  const seen = recordRequests(store);
  const result = await runBackup({ source, store, prefix });
  t.equal(result.blobsSent, 5, 'five blobs sent');
  const puts = seen.filter((request) => request.command === 'PutObjectCommand' && request.key?.includes('/blobs/'));
  t.equal(puts.length, 5, 'one PUT each');
  t.deepEqual(
    puts.map((put) => put.contentSha256).sort(),
    contents.map((bytes) => sha(bytes)).sort(),
    "each signed with its content's sha256 (the store checks the body against it)",
  );
  const heads = seen.filter((request) => request.command === 'HeadObjectCommand');
  t.deepEqual(
    heads.map((head) => head.key),
    [`${prefix}backups/${result.id}.json`],
    'the only HEAD is the one that finds the id free: no blob is HEADed after its PUT',
  );
});

test('backup: the object store refuses a PUT whose body is not the sha256 it is signed with (EIO), and stores nothing', async (t) => {
  const { cluster, prefix, store, client } = await remote(t);
  const body = Buffer.from('what is sent');
  await rejection(t, store.put(`${prefix}wrong`, body, body.length, {}, sha(Buffer.from('what was hashed'))), 'EIO', 'a body other than the hashed one');
  const gone = await client.send(new HeadObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}wrong` })).catch(() => undefined);
  t.equal(gone, undefined, 'no object');
  t.ok((await store.put(`${prefix}right`, body, body.length, {}, sha(body))).length > 0, 'the right sha256 is taken');
});

test('backup: a file the newest backup has with the same path, size and mtime is not read again; a new mtime, a damaged blob or rehash reads it', async (t) => {
  const { cluster, prefix, store, client } = await remote(t);
  const source = tempDir(t);
  for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(source, `f${i}`), randomBytes(30_000 + i));
  const first = await runBackup({ source, store, prefix });
  t.equal(first.filesUnread, 0, 'the first backup reads every file');
  const second = await runBackup({ source, store, prefix });
  t.equal(second.filesUnread, 6, 'the second reads none');
  t.equal(second.bytesSkipped, second.bytes, 'and sends nothing');
  // the same size, a new content and mtime: read
  fs.writeFileSync(path.join(source, 'f2'), randomBytes(30_002));
  // the same size and mtime, its blob damaged in the store: read and sent again
  const f4 = fs.readFileSync(path.join(source, 'f4'));
  await client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: `${prefix}blobs/${sha(f4)}`, Body: randomBytes(f4.length) }));
  const third = await runBackup({ source, store, prefix });
  t.equal(third.filesUnread, 4, 'the third reads the changed file and the one whose blob is damaged');
  t.equal(third.blobsSent, 2, 'and sends both');
  const restored = path.join(tempDir(t), 'out');
  await runRestore({ store, prefix, target: restored });
  t.ok(
    [0, 1, 2, 3, 4, 5].every((i) => fs.readFileSync(path.join(restored, `f${i}`)).equals(fs.readFileSync(path.join(source, `f${i}`)))),
    'the newest backup restores every file as it is now',
  );
  const rehashed = await runBackup({ source, store, prefix, rehash: true });
  t.equal(rehashed.filesUnread, 0, 'rehash reads every file');
  t.equal(rehashed.blobsSent, 0, 'and finds every blob there');
});

/** Counts the bytes hashed with `algorithm` through node:crypto's createHash until the test ends. */
function countHashed(t: test.Test, algorithm: string): { bytes: number } {
  const counted = { bytes: 0 };
  const original = crypto.createHash;
  crypto.createHash = ((name: string, options?: crypto.HashOptions) => {
    const hash = original(name, options);
    if (name !== algorithm) return hash;
    const update = hash.update.bind(hash) as (data: Uint8Array) => crypto.Hash;
    hash.update = ((data: Uint8Array) => {
      counted.bytes += data.length;
      return update(data);
    }) as typeof hash.update;
    return hash;
  }) as typeof crypto.createHash;
  syncBuiltinESMExports(); // the modules that imported createHash by name see the wrapper
  t.teardown(() => {
    crypto.createHash = original;
    syncBuiltinESMExports();
  });
  return counted;
}

test('backup: a new small blob is not MD5-hashed (its signed sha256 proves it); one already there is, to check its ETag', async (t) => {
  const { prefix, store } = await remote(t);
  const source = tempDir(t);
  for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(source, `f${i}`), randomBytes(40_000 + i));
  const md5 = countHashed(t, 'md5');
  const first = await runBackup({ source, store, prefix });
  t.equal(first.blobsSent, 5, 'five blobs sent');
  t.equal(md5.bytes, 0, 'no byte of them MD5-hashed');
  const manifest = await readManifest(store, prefix, first.id);
  const files = manifest.entries.filter((entry): entry is FileEntry => entry.kind === 'file');
  t.ok(
    files.every((entry) => entry.etags?.length === 1 && /^"[0-9a-f]{32}"$/.test(entry.etags[0]!)),
    `each file's ETag, as the PUT answered, is in the manifest (${files[0]?.etags?.join(' ')})`,
  );
  const again = await runBackup({ source, store, prefix });
  t.equal(again.filesUnread, 5, 'the next backup finds them by those ETags, unread');
  const rehashed = await runBackup({ source, store, prefix, rehash: true });
  t.equal(rehashed.blobsSent, 0, 'rehash finds every blob there');
  t.ok(md5.bytes >= rehashed.bytes, `checking each by its MD5 (${md5.bytes} bytes MD5-hashed, of ${rehashed.bytes})`);
});

test('backup: a store whose PUT answers an ETag that is not the MD5 (as SSE-KMS stores do) takes the backup, and the next one finds the blobs', async (t) => {
  const { prefix, store, cluster } = await remote(t);
  const source = tempDir(t);
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(source, `f${i}`), randomBytes(20_000 + i));
  // the ETag each PUT answers, direct (direct-put.ts) or through the SDK
  const { put } = store;
  store.put = async (...args) => {
    await put.apply(store, args);
    return `"${randomBytes(16).toString('hex')}-kms"`;
  };
  const first = await runBackup({ source, store, prefix });
  t.equal(first.blobsSent, 3, 'the backup goes up (it used to fail: the ETag was not the MD5 computed)');
  const plain = new ObjectStore(resolveS3Settings(`s3://${cluster.bucket}/${prefix}`, cluster.options(prefix)));
  t.teardown(() => plain.close());
  const second = await runBackup({ source, store: plain, prefix });
  t.equal(second.blobsSent, 0, 'the next backup sends nothing (the blobs are there, checked by their MD5)');
  const restored = path.join(tempDir(t), 'out');
  await runRestore({ store: plain, prefix, target: restored });
  t.ok(
    [0, 1, 2].every((i) => fs.readFileSync(path.join(restored, `f${i}`)).equals(fs.readFileSync(path.join(source, `f${i}`)))),
    'and it restores',
  );
});

test('backup: a blob PUT goes without Expect: 100-continue (no round trip for the go-ahead before the body)', async (t) => {
  const { prefix, store } = await remote(t);
  const source = tempDir(t);
  fs.writeFileSync(path.join(source, 'three-mib'), randomBytes(3 * MiB)); // the SDK asks for 100-continue from 2 MiB on by default
  const seen = recordRequests(store);
  const result = await runBackup({ source, store, prefix });
  t.equal(result.blobsSent, 1, 'the blob is sent');
  const puts = seen.filter((request) => request.command === 'PutObjectCommand' && request.key?.includes('/blobs/'));
  t.equal(puts.length, 1, 'in one PUT');
  t.equal(puts[0]?.expect, undefined, 'with no Expect header');
});

test("backup: requests that need no other's answer go together: the bucket's HEAD with the listings, the id's HEAD with the uploads", async (t) => {
  const { prefix, store } = await remote(t);
  const source = tempDir(t);
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(source, `f${i}`), randomBytes(100_000 + i));
  // what the store is asked and when its answers come, in order
  const events: string[] = [];
  const { checkBucket, list, head, put } = store;
  store.checkBucket = () => {
    events.push('bucket asked');
    return checkBucket.call(store).finally(() => events.push('bucket answered'));
  };
  store.list = (under, ...rest) => {
    events.push(`list ${under}`);
    return list.call(store, under, ...rest);
  };
  store.head = (key) => {
    events.push(`head ${key}`);
    return head.call(store, key);
  };
  store.put = (key, ...rest) => put.call(store, key, ...rest).finally(() => events.push(`put ${key} answered`));
  const result = await runBackup({ source, store, prefix });
  t.equal(result.blobsSent, 3, 'three blobs sent');
  t.ok(events.indexOf(`list ${prefix}blobs/`) < events.indexOf('bucket answered'), "blobs/ is listed without waiting for the bucket's HEAD");
  t.ok(events.indexOf(`list ${prefix}backups/`) < events.indexOf('bucket answered'), 'and so is backups/');
  const lastBlob = Math.max(...events.map((event, at) => (event.startsWith(`put ${prefix}blobs/`) ? at : -1)));
  t.ok(events.indexOf(`head ${prefix}backups/${result.id}.json`) < lastBlob, "the id's HEAD goes before the last blob is up");
});

test('backup: progress off a terminal is a plain line every 5 s (bytes, rate, ETA); on a terminal a bar with bytes, rate and ETA', async (t) => {
  const plain = await remote(t, 'progress-plain');
  const { cluster } = plain;
  const onTerminal = await remote(t, 'progress-tty');
  // 700 ms a blob, one file at a time: 10 files take 7 s (plain lines come every 5 s), 3 files 2 s
  const endpoint = ['--endpoint', await slowBlobs(t, cluster.endpoint, 700), '--concurrency', '1'];
  const tree = (files: number) => {
    const dir = tempDir(t);
    for (let n = 0; n < files; n++) fs.writeFileSync(path.join(dir, `f${n}`), randomBytes(512 * 1024));
    return dir;
  };
  const escapes = (text: string) => text.includes('\u001b[');
  const amounts = '\\d+\\.\\d MiB of \\d+\\.\\d MiB';

  const up = await cli(cluster, ['backup', tree(10), plain.url, ...endpoint]);
  t.equal(up.status, 0, `backup exits 0 (${up.stderr.trim() || 'no stderr'})`);
  const upLines = up.stderr.split('\n').filter((line) => line !== '');
  t.ok(upLines.length > 0, `off a terminal: ${upLines.length} progress line(s) on stderr`);
  for (const line of upLines)
    t.match(line, new RegExp(`^persistfs backup: \\d+% backed up \\(${amounts}, \\d+\\.\\d MiB/s\\), ETA \\d+s \\(f\\d+\\)$`), `a plain line: ${line}`);
  t.notOk(escapes(up.stderr), 'no terminal control sequences');
  const down = await cli(cluster, ['restore', plain.url, path.join(tempDir(t), 'out'), ...endpoint]);
  t.equal(down.status, 0, `restore exits 0 (${down.stderr.trim() || 'no stderr'})`);
  const downLines = down.stderr.split('\n').filter((line) => line !== '');
  t.ok(downLines.length > 0, `off a terminal: ${downLines.length} progress line(s) on stderr`);
  for (const line of downLines)
    t.match(line, new RegExp(`^persistfs restore: \\d+% restored \\(${amounts}, \\d+\\.\\d MiB/s\\), ETA \\d+s \\(f\\d+\\)$`), `a plain line: ${line}`);
  t.notOk(escapes(down.stderr), 'no terminal control sequences');

  // a bar: its percentage, bytes done of the total, the rate (not 0 once bytes went) and the ETA, then the file
  const bar = (doing: string) => new RegExp(`${doing} [\u2588\u2591]+ \\d+% \\| ${amounts} \\| (?!0\\.0 )\\d+\\.\\d MiB/s \\| ETA \\d+s \\| f\\d`);
  const upTty = await cliOnTerminal(cluster, ['backup', tree(3), onTerminal.url, ...endpoint]);
  t.equal(upTty.status, 0, 'backup on a terminal exits 0');
  t.match(upTty.output, bar('backing up'), 'on a terminal: a bar with bytes, rate and ETA');
  t.doesNotMatch(upTty.output, /persistfs backup: \d+% backed up/, 'and no plain lines');
  t.match(upTty.output, /persistfs backup: \S+ of .* 3 files \(1\.5 MiB\)/, 'the summary line');
  const downTty = await cliOnTerminal(cluster, ['restore', onTerminal.url, path.join(tempDir(t), 'out'), ...endpoint]);
  t.equal(downTty.status, 0, 'restore on a terminal exits 0');
  t.match(downTty.output, bar('restoring'), 'on a terminal: a bar with bytes, rate and ETA');
  t.doesNotMatch(downTty.output, /persistfs restore: \d+% restored/, 'and no plain lines');
  t.match(downTty.output, /persistfs restore: \S+ from .* 3 files, 1572864 bytes/, 'the summary line');
});
