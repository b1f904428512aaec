// `persistfs mount s3://bucket/prefix MNT --cache-dir DIR` against a real Ceph radosgw, used with Unix
// tools: what they write reaches the bucket when files close, what others put in the bucket reads
// through the mount, and the usual tools (cp, dd, mv, rm, chmod, truncate, tar, sha256sum, git) work.
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import test from 'tape';

import { startMountProcess, statsOf, stopMount, waitMounted } from '../mount/mount-helper.js';
import { ceph, freshPrefix, objectBytes, type Ceph } from './ceph.js';
import { s3Proxy } from './s3-proxy.js';
import { recordsIn } from './upload-records.js';

interface S3Mount {
  cluster: Ceph;
  client: S3Client;
  prefix: string;
  mnt: string;
  cacheDir: string;
  sh(command: string): string;
  /** sh() without blocking this process (whose event loop may serve the mount: a proxy) */
  run(command: string): Promise<string>;
  stop(): Promise<void>;
  /** kill -9 of the mount process; its mountpoint is then detached (fusermount -uz) */
  kill(): Promise<void>;
  /** what the mount process wrote to stderr (its log) */
  log(): string;
}

const runFile = promisify(execFile);

async function s3Mount(t: test.Test, extra: string[] = [], prefix = freshPrefix('mnt'), cache?: string, endpoint?: string): Promise<S3Mount> {
  const cluster = await ceph();
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-s3mount-'));
  const mnt = path.join(top, 'mnt');
  const cacheDir = cache ?? path.join(top, 'cache');
  fs.mkdirSync(mnt);
  fs.mkdirSync(cacheDir, { recursive: true });
  // the mount process takes its credentials where the AWS tools do
  process.env.AWS_ACCESS_KEY_ID = cluster.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = cluster.secretAccessKey;
  const { child, log } = startMountProcess(`s3://${cluster.bucket}/${prefix}`, mnt, [
    '--cache-dir',
    cacheDir,
    '--endpoint',
    endpoint ?? cluster.endpoint,
    ...extra,
  ]);
  const client = cluster.client();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopMount(child, mnt);
  };
  const kill = async () => {
    if (stopped) return;
    stopped = true;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    await stopMount(child, mnt);
  };
  t.teardown(async () => {
    await stop();
    client.destroy();
    fs.rmSync(top, { recursive: true, force: true });
  });
  await waitMounted(mnt, child, log);
  return {
    cluster,
    client,
    prefix,
    mnt,
    cacheDir,
    stop,
    kill,
    log,
    sh(command) {
      const result = spawnSync('bash', ['-c', command], { cwd: mnt, encoding: 'utf8', timeout: 120_000 });
      if (result.status !== 0) throw new Error(`'${command}' failed (${result.status}): ${result.stderr}\nmount log: ${log()}`);
      return result.stdout;
    },
    async run(command) {
      try {
        return (await runFile('bash', ['-c', command], { cwd: mnt, encoding: 'utf8', timeout: 120_000 })).stdout;
      } catch (error) {
        throw new Error(`'${command}' failed: ${(error as Error).message}\nmount log: ${log()}`);
      }
    },
  };
}

/** The object once it holds `expected` (uploads follow close), or what it holds after 15 s. */
async function uploaded(client: S3Client, bucket: string, key: string, expected: Buffer): Promise<Buffer | undefined> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const content = await objectBytes(client, bucket, key);
    if (content?.equals(expected) || Date.now() > deadline) return content;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('s3 mount: files written with Unix tools reach the bucket when they close', async (t) => {
  const m = await s3Mount(t);
  m.sh('mkdir -p logs/2026 && echo "hello from the mount" > logs/2026/hello.txt');
  const hello = await uploaded(m.client, m.cluster.bucket, `${m.prefix}logs/2026/hello.txt`, Buffer.from('hello from the mount\n'));
  t.equal(hello?.toString(), 'hello from the mount\n', 'echo > file: uploaded after close');
  m.sh('dd if=/dev/urandom of=data.bin bs=1M count=24 status=none && sync data.bin');
  const local = m.sh('sha256sum < data.bin').split(' ')[0];
  const stored = await uploaded(m.client, m.cluster.bucket, `${m.prefix}data.bin`, fs.readFileSync(path.join(m.mnt, 'data.bin')));
  t.equal(stored?.length, 24 * 1024 * 1024, 'dd of 24 MiB: the object has every byte');
  m.sh('cp data.bin copy.bin && mv copy.bin logs/moved.bin && chmod 640 logs/moved.bin && truncate -s 1000 logs/moved.bin');
  t.equal(m.sh('stat -c "%s %a" logs/moved.bin').trim(), '1000 640', 'cp, mv, chmod, truncate');
  const moved = await uploaded(m.client, m.cluster.bucket, `${m.prefix}logs/moved.bin`, fs.readFileSync(path.join(m.mnt, 'data.bin')).subarray(0, 1000));
  t.equal(moved?.length, 1000, 'the moved, truncated copy is in the bucket');
  const head = await m.client.send(new HeadObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}logs/moved.bin` }));
  t.equal(Number(head.Metadata?.mode) & 0o7777, 0o640, 'with its mode');
  t.equal(await objectBytes(m.client, m.cluster.bucket, `${m.prefix}copy.bin`), undefined, 'the old name is gone from the bucket');
  m.sh('tar cf /tmp/persistfs-s3mount.tar logs && mkdir restored && tar xf /tmp/persistfs-s3mount.tar -C restored && rm /tmp/persistfs-s3mount.tar');
  t.equal(m.sh('cat restored/logs/2026/hello.txt'), 'hello from the mount\n', 'tar out of the mount and back into it');
  m.sh('rm -r restored data.bin');
  t.deepEqual(m.sh('ls').trim().split('\n'), ['logs'], 'rm -r and rm');
  t.equal(m.sh('sha256sum < logs/moved.bin').length > 0, true, 'sha256sum reads');
  t.ok(local && local.length === 64, 'sha256sum of the 24 MiB file');
});

test('s3 mount: with --write-through a file is in the bucket when its close(2) returns; write-back uploads it after', async (t) => {
  // the mount's requests seen on their way to radosgw: its PUTs counted
  const proxy = await s3Proxy(t, (await ceph()).endpoint);
  const through = await s3Mount(t, ['--write-through'], undefined, undefined, proxy.endpoint);
  const puts = (name: string) =>
    proxy.seen.filter((request) => request.startsWith('PUT ') && request.split('?')[0]!.endsWith(`/${through.prefix}${name}`)).length;
  const object = (m: S3Mount, name: string) => objectBytes(m.client, m.cluster.bucket, `${m.prefix}${name}`);
  // written by this process: the bucket is asked as soon as close resolves
  const small = randomBytes(5000);
  await fs.promises.writeFile(path.join(through.mnt, 'small.bin'), small);
  t.ok((await object(through, 'small.bin'))?.equals(small), 'a small file: in the bucket when close returned');
  const large = randomBytes(20 * 1024 * 1024 + 3);
  const written = () => statsOf(through.mnt).dataPath?.bytesWritten ?? 0;
  const before = written();
  const handle = await fs.promises.open(path.join(through.mnt, 'large.bin'), 'w');
  await handle.write(large);
  await handle.close();
  t.ok((await object(through, 'large.bin'))?.equals(large), 'a 20 MiB file (a multipart upload): in the bucket when close returned');
  t.ok(written() - before >= large.length, `its writes were served by the native data path (${written() - before} bytes)`);
  await through.run('echo "through the shell" > shell.txt');
  t.equal((await object(through, 'shell.txt'))?.toString(), 'through the shell\n', 'echo > file: in the bucket when the shell is done');
  // the kernel sends the RELEASE after close(2) has returned: what it does is done once the mount is idle
  const settled = () => new Promise((resolve) => setTimeout(resolve, 500));
  await settled();
  t.equal(puts('small.bin'), 1, 'the small file was sent once (its RELEASE did not send it again)');
  await through.run('exec 3<>small.bin && exec 3>&-; cat small.bin > /dev/null');
  await settled();
  t.equal(puts('small.bin'), 1, 'opened for writing and closed unchanged: not sent again');
  await through.run('printf X | dd of=small.bin bs=1 seek=10 conv=notrunc status=none');
  small[10] = 'X'.charCodeAt(0);
  t.ok((await object(through, 'small.bin'))?.equals(small), 'one byte changed in place: in the bucket when dd is done');
  await settled();
  t.equal(puts('small.bin'), 2, 'sent once more');
  await through.stop();

  // write-back (the default, uploads a second after the last close): not yet there when close returns, there later
  const back = await s3Mount(t);
  const later = randomBytes(5000);
  await fs.promises.writeFile(path.join(back.mnt, 'later.bin'), later);
  t.equal(await object(back, 'later.bin'), undefined, 'write-back: not in the bucket when close returned');
  t.ok((await uploaded(back.client, back.cluster.bucket, `${back.prefix}later.bin`, later))?.equals(later), 'write-back: uploaded after');
});

test('s3 mount: a bucket keeps no extended attributes (EOPNOTSUPP from the kernel, which asks the mount once) nor birth times', async (t) => {
  const m = await s3Mount(t);
  m.sh('mkdir d && for i in $(seq 1 20); do echo $i > d/f$i; done');
  const errnoOf = (call: string) => m.sh(`python3 -c "import os\ntry: ${call}\nexcept OSError as e: print(e.errno)"`).trim();
  t.equal(errnoOf("os.getxattr('d/f1', 'user.mark')"), '95', 'getxattr: EOPNOTSUPP');
  t.equal(errnoOf("os.setxattr('d/f1', 'user.mark', b'x')"), '95', 'setxattr: EOPNOTSUPP');
  t.equal(errnoOf("os.listxattr('d/f1')"), '95', 'listxattr: EOPNOTSUPP (as a file system without attributes, vfat say)');
  const asked = () => statsOf(m.mnt).ops.getxattr?.count ?? 0;
  const before = asked();
  t.ok(before <= 1, `GETXATTRs counted by the mount: ${before} (it serves none: ENOSYS)`);
  t.equal(m.sh('ls -l d | wc -l'), '21\n', 'ls -l of 20 files');
  t.equal(asked(), before, 'asked the mount no GETXATTR');
  // an object's birth would be its last PUT: no STATX (ENOSYS once), so statx(2) says the birth time is unknown
  t.equal(m.sh("stat -c '%W' d/f1 d/f2 d"), '0\n0\n0\n', 'no birth times');
  const statx = statsOf(m.mnt).ops.statx?.count ?? 0;
  t.ok(statx <= 1, `STATXs counted by the mount: ${statx} (it serves none: ENOSYS)`);
  // nor files without a name: TMPFILE is ENOSYS, which the kernel turns into EOPNOTSUPP (callers fall back)
  t.equal(errnoOf("os.open('d', os.O_TMPFILE | os.O_RDWR, 0o600)"), '95', 'open(O_TMPFILE): EOPNOTSUPP');
});

test('s3 mount: objects put by others read through the mount; git works on it', async (t) => {
  const m = await s3Mount(t);
  await m.client.send(new PutObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}shared/report.csv`, Body: 'a,b\n1,2\n' }));
  t.equal(m.sh('cat shared/report.csv'), 'a,b\n1,2\n', 'an object written by another client');
  t.equal(m.sh('ls shared').trim(), 'report.csv', 'listed under its prefix');
  m.sh(
    'git init -q repo && cd repo && git config user.email t@example.com && git config user.name t && echo one > f && git add f && git commit -qm one && echo two >> f && git commit -qam two',
  );
  t.equal(m.sh('cd repo && git log --format=%s').trim(), 'two\none', 'git init, add, commit and log on the mount');
  t.equal(m.sh('cd repo && git status --porcelain').trim(), '', 'a clean work tree');
});

test('s3 mount: a file opened with O_TRUNC over an object is emptied without being fetched, keeping its mode; an append still fetches it', async (t) => {
  const proxy = await s3Proxy(t, (await ceph()).endpoint);
  const m = await s3Mount(t, [], undefined, undefined, proxy.endpoint);
  const old = randomBytes(3 * 1024 * 1024 + 17);
  const put = (name: string) => m.client.send(new PutObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}${name}`, Body: old }));
  await put('over.bin');
  await put('append.bin');
  await put('dd.bin');
  await put('empty.bin');
  await put('read-only.bin');
  await m.run('chmod 640 over.bin');
  /** bytes of `name`'s content answered to GETs since `from` (an index of proxy.exchanges) */
  const fetched = (name: string, from: number) =>
    proxy.exchanges
      .slice(from)
      .filter(({ request }) => request.startsWith('GET ') && request.split('?')[0]!.endsWith(`/${m.prefix}${name}`))
      .reduce((sum, { answered }) => sum + answered, 0);
  const object = (name: string) => objectBytes(m.client, m.cluster.bucket, `${m.prefix}${name}`);
  let from = proxy.exchanges.length;
  await m.run("printf 'new' > over.bin");
  t.equal(fetched('over.bin', from), 0, 'a shell redirection over the object fetched none of it');
  t.equal(await m.run('cat over.bin'), 'new', 'the file holds what was written');
  from = proxy.exchanges.length;
  await m.run('dd if=/dev/zero of=dd.bin bs=4k count=2 status=none');
  t.equal(fetched('dd.bin', from), 0, 'dd over the object (O_TRUNC) fetched none of it');
  from = proxy.exchanges.length;
  await m.run(': > empty.bin');
  await m.run(`python3 -c "import os; os.close(os.open('read-only.bin', os.O_RDONLY | os.O_TRUNC))"`);
  t.equal(fetched('empty.bin', from) + fetched('read-only.bin', from), 0, '`: >` and a read-only O_TRUNC open fetched none of theirs');
  from = proxy.exchanges.length;
  await m.run("printf 'tail' >> append.bin");
  t.equal(fetched('append.bin', from), old.length, 'an append (no O_TRUNC) fetched the object whole');
  await m.stop();
  t.equal((await object('over.bin'))?.toString(), 'new', 'uploaded: the new content alone');
  const head = await m.client.send(new HeadObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}over.bin` }));
  t.equal(Number(head.Metadata?.mode), 0o100640, 'with the mode it had before it was emptied');
  t.equal((await object('empty.bin'))?.length, 0, 'uploaded: the object emptied though nothing was written');
  t.equal((await object('read-only.bin'))?.length, 0, 'uploaded: the object emptied by the read-only O_TRUNC open');
  t.ok((await object('dd.bin'))?.equals(Buffer.alloc(8192)), "uploaded: dd's 8 KiB of zeros alone");
  t.ok((await object('append.bin'))?.equals(Buffer.concat([old, Buffer.from('tail')])), 'uploaded: the old content and the append');
});

test('s3 mount: an open file keeps its own mode and inode number when the kernel asks for its attributes by handle', async (t) => {
  const m = await s3Mount(t);
  m.sh('echo one > f && chmod 640 f');
  const before = m.sh('stat -c "0o100%a %i" f').trim();
  // once the attributes expired (1 s), a write(2) with the writeback cache, and lseek(SEEK_END), ask for
  // them by the open handle (GETATTR with its fh); fstat then says what that answer was
  const seen = m
    .sh(`python3 -c "
import os, time
def show(fd): s = os.fstat(fd); print(oct(s.st_mode), s.st_ino)
fd = os.open('f', os.O_RDWR)
show(fd)
time.sleep(1.2)
os.write(fd, b'x')
show(fd)
time.sleep(1.2)
os.lseek(fd, 0, os.SEEK_END)
show(fd)
os.close(fd)
fd = os.open('f', os.O_RDONLY)
time.sleep(1.2)
os.lseek(fd, 0, os.SEEK_END)
show(fd)
"`)
    .trim()
    .split('\n');
  t.deepEqual(seen, [before, before, before, before], `open for writing, written, at its end, and open for reading: ${before} each time`);
  t.equal(m.sh('stat -c "0o100%a %i %s" f').trim(), `${before} 4`, 'and by name after the close');
});

test('s3 mount: a write by another user removes the set-user-ID bit the file has (not its local copy)', async (t) => {
  const m = await s3Mount(t, ['--allow-other']);
  fs.chmodSync(path.dirname(m.mnt), 0o755);
  // the kernel asks it of a write by a user without CAP_FSETID; a file open for writing has its copy's mode
  m.sh('echo one > s && chmod 4777 s && exec 3<>s && setpriv --reuid=65534 --regid=65534 --clear-groups bash -c "echo two >> s" && exec 3>&-');
  t.equal(m.sh('cat s'), 'one\ntwo\n', "the other user's write");
  t.equal(m.sh('stat -c %a s').trim(), '777', 'removed the set-user-ID bit');
});

test("s3 mount without the writeback cache: another user's writes stay on the data path unless the file has a set-user-ID bit", async (t) => {
  const m = await s3Mount(t, ['--allow-other', '--no-writeback-cache']);
  fs.chmodSync(path.dirname(m.mnt), 0o755);
  // the kernel flags every write of a user without CAP_FSETID as one that may have to remove privilege bits
  const asNobody = (command: string) => m.sh(`setpriv --reuid=65534 --regid=65534 --clear-groups bash -c '${command}'`);
  const native = () => statsOf(m.mnt).dataPath?.bytesWritten ?? 0;
  m.sh('echo one > plain && chmod 666 plain && echo one > s && chmod 4777 s && exec 3<>plain 4<>s');
  const before = native();
  asNobody('head -c 100000 /dev/zero >> plain');
  t.ok(native() - before >= 100_000, `a file without the bit: written by the data path (${native() - before} bytes)`);
  const then = native();
  asNobody('echo two >> s');
  t.equal(native() - then, 0, 'a file with it: written by JavaScript');
  t.equal(m.sh('stat -c %a s').trim(), '777', 'which removed the bit');
  m.sh('chmod 4777 s');
  asNobody('echo three >> s');
  t.equal(m.sh('stat -c %a s; cat s'), '777\none\ntwo\nthree\n', 'set again by chmod, removed again by the next write');
});

test('s3 mount: an fsync records the upload durably before it returns (the data path leaves it to the storage)', async (t) => {
  const m = await s3Mount(t);
  const records = () => recordsIn(m.cacheDir) as Array<{ key: string; synced?: { size: number } }>;
  const fd = fs.openSync(path.join(m.mnt, 'synced.bin'), 'w');
  try {
    fs.writeSync(fd, Buffer.alloc(100_000, 7));
    t.deepEqual(records(), [], 'no record before the fsync');
    fs.fsyncSync(fd);
    const after = records();
    t.equal(after.length, 1, 'one record once fsync returned, the file still open');
    t.equal(after[0]?.synced?.size, 100_000, 'with the size synced (what a restart after a power cut checks)');
    fs.writeSync(fd, Buffer.alloc(50_000, 8), 0, 50_000, 100_000);
    fs.fdatasyncSync(fd);
    t.equal(records()[0]?.synced?.size, 150_000, 'fdatasync too');
  } finally {
    fs.closeSync(fd);
  }
});

test('s3 mount: a large file written starts the writeback of its local copy before its fsync', async (t) => {
  const m = await s3Mount(t, ['--log-level', 'info']);
  m.sh('dd if=/dev/urandom of=big.bin bs=1M count=8 conv=fsync status=none && head -c 100000 /dev/urandom > small.bin');
  await m.stop();
  const native = /"native":\{"native":true,.*?"bytesWritten":(\d+),.*?"writebacks":(\d+)/.exec(m.log());
  t.ok(native, 'the mount logged its data path counters');
  t.ok(Number(native?.[1]) >= 8 * 2 ** 20, 'the 8 MiB went through the data path');
  // one every MiB written in order to a copy (data-path.cc kWritebackEvery), fewer when the readers serve
  // WRITEs out of order (a late one fills the hole it left, and one writeback then covers several MiB);
  // the 100 KB file starts none
  t.ok(Number(native?.[2]) >= 1 && Number(native?.[2]) <= 8, `${native?.[2]} writebacks started for 8 MiB`);
});

test('s3 mount: a cold read is served by the data path as its blocks arrive, every byte right', async (t) => {
  const m = await s3Mount(t, ['--log-level', 'info']);
  const data = randomBytes(24 * 2 ** 20 + 5);
  await m.client.send(new PutObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}cold.bin`, Body: data }));
  await m.client.send(new PutObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}holes.bin`, Body: data }));
  const sum = createHash('sha256').update(data).digest('hex');
  t.equal(m.sh('sha256sum < cold.bin').split(' ')[0], sum, 'cat of a cold object: its bytes');
  // blocks far apart first: the reads from 0 after them must not take their gaps for bytes
  m.sh('for mib in 20 7 13; do dd if=holes.bin of=/dev/null bs=64k skip=$((mib * 16)) count=1 status=none; done');
  t.equal(m.sh('sha256sum < holes.bin').split(' ')[0], sum, 'read from 0 after blocks far apart: its bytes');
  await m.stop();
  const native = /"native":\{"native":true,.*?"bytesRead":(\d+),/.exec(m.log());
  t.ok(native, 'the mount logged its data path counters');
  // the rest went to read(): what was not there yet, and the last block held (read-ahead sees those reads)
  t.ok(Number(native?.[1]) >= data.length / 2, `${native?.[1]} bytes read by the data path (of ${2 * data.length} read)`);
});

test('s3 mount: the size of a file still being fetched is the object size (lseek SEEK_END, no attribute caching)', async (t) => {
  const m = await s3Mount(t, ['--attr-timeout', '0', '--no-writeback-cache']);
  const data = randomBytes(24 * 2 ** 20);
  await m.client.send(new PutObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}partial.bin`, Body: data }));
  // one handle reads the first MiB (the object's local file then holds a part of it), seeks to the end (the
  // kernel asks for the size of the open handle: GETATTR with its fh), then reads on from the first MiB
  const script =
    'open(F, "<", $ARGV[0]) or die; sysread(F, $b, 1 << 20); $end = sysseek(F, 0, 2); sysseek(F, 1 << 20, 0); $n = 1 << 20; while (($r = sysread(F, $b, 1 << 20)) > 0) { $n += $r } print "$end $n"';
  t.equal(m.sh(`perl -e '${script}' partial.bin`), `${data.length} ${data.length}`, 'the end is the object size, and every byte reads');
});

test('s3 mount: a file open for reading, renamed (or its directory) before a byte was read: its descriptor reads it whole', async (t) => {
  const m = await s3Mount(t);
  const data = randomBytes(8 * 2 ** 20 + 3);
  const sum = createHash('sha256').update(data).digest('hex');
  await m.client.send(new PutObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}moving.bin`, Body: data }));
  await m.client.send(new PutObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}d/in.bin`, Body: data }));
  t.equal(m.sh('exec 3< moving.bin && mv moving.bin moved.bin && sha256sum <&3').split(' ')[0], sum, 'mv of the file: the open descriptor reads its bytes');
  t.equal(m.sh('exec 3< d/in.bin && mv d e && sha256sum <&3').split(' ')[0], sum, 'mv of its directory: the open descriptor reads its bytes');
  t.equal(m.sh('ls; ls e').trim().split('\n').join(' '), 'e moved.bin in.bin', 'the names are the new ones');
});

test('s3 mount: a renamed file (or one in a renamed directory) is the same node: no ESTALE at its next open or stat; a file made later at its old name is another file', async (t) => {
  const m = await s3Mount(t);
  m.sh('echo one > a && mkdir d && echo two > d/f && cat a d/f > /dev/null');
  const errors = () => {
    const ops = statsOf(m.mnt).ops;
    return (ops.open?.errors ?? 0) + (ops.getattr?.errors ?? 0) + (ops.lookup?.errors ?? 0);
  };
  const before = errors();
  // inode numbers come from keys here: a rename gives the file another, which the mount follows
  const inoA = m.sh('stat -c %i a').trim();
  t.equal(m.sh('mv a b && cat b && stat -c %s b'), 'one\n4\n', 'the renamed file reads and stats');
  t.equal(m.sh('mv d e && cat e/f && stat -c %s e/f'), 'two\n4\n', 'a file of a renamed directory reads and stats');
  t.equal(errors(), before, 'no request failed (an ESTALE made the kernel look the name up again)');
  // the old names again: new files, not the renamed ones under another name
  m.sh('echo three > a && mkdir d && echo four > d/f');
  t.equal(m.sh('cat a b d/f e/f'), 'three\none\nfour\ntwo\n', 'old names and new names hold their own bytes');
  t.equal(m.sh('stat -c %h a b d/f e/f'), '1\n1\n1\n1\n', 'one link each');
  const inos = m.sh('stat -c %i a b d/f e/f').trim().split('\n');
  t.equal(new Set(inos).size, 4, `four inode numbers (${inos.join(' ')})`);
  t.equal(inos[0], inoA, "the new 'a' has the number the old one had (made from its key)");
});

test("s3 mount: the GETATTR of a bucket's directory after each create is the data path's; a chmod or a rename of it shows at once", async (t) => {
  const m = await s3Mount(t);
  const given = () => statsOf(m.mnt).dataPath?.givenAttributes ?? 0;
  m.sh('mkdir d && stat d > /dev/null');
  const before = given();
  // each create makes the kernel forget d's attributes, and ask for them before the next lookup in it
  m.sh('for i in $(seq 20); do echo x > d/f$i; done');
  t.ok(given() - before >= 15, `the data path answered ${given() - before} GETATTRs of d with the reply JavaScript gave`);
  // a change of d's attributes through the mount takes the given reply back: the GETATTR after the next
  // create (within the attribute timeout) sees the new mode, not the one given before
  t.equal(m.sh('stat -c %a d && echo y > d/g && chmod 711 d && echo y > d/h && stat -c %a d'), '755\n711\n', 'the new mode at once');
  // a rename changes the directory's key, so its inode number: the one a fresh mount gives it
  const renamed = m.sh('stat d > /dev/null && echo z > d/i && mv d e && echo z > e/j && stat -c "%a %i" e').trim();
  await m.stop();
  // a directory without a marker (a key below it put by another tool) goes with its last entry: once that
  // is removed through the mount, its GETATTR (the kernel asks after the unlink) finds it gone
  await m.client.send(new PutObjectCommand({ Bucket: m.cluster.bucket, Key: `${m.prefix}bare/f`, Body: 'x' }));
  const again = await s3Mount(t, [], m.prefix);
  t.equal(again.sh('stat -c "%a %i" e').trim(), renamed, `after the rename: mode and number as a fresh mount sees them (${renamed})`);
  // the create makes the kernel forget its attributes: the stat after it is a GETATTR, whose reply is given
  again.sh('stat bare > /dev/null && touch bare/g && stat bare > /dev/null');
  t.equal(again.sh('rm bare/f bare/g; stat bare > /dev/null 2>&1 && echo there || echo gone').trim(), 'gone', 'after its last files went: gone');
});

test('s3 mount: unmount waits for the uploads due; a remount of the same cache serves them', async (t) => {
  const m = await s3Mount(t);
  m.sh('for i in $(seq 1 20); do head -c 5000 /dev/urandom > f$i; done');
  const sums = m.sh('sha256sum f*');
  await m.stop();
  const pending = fs.readdirSync(path.join(m.cacheDir, 'pending'));
  t.deepEqual(pending, [], 'no upload left pending after unmount');
  let missing = 0;
  for (let i = 1; i <= 20; i++) if ((await objectBytes(m.client, m.cluster.bucket, `${m.prefix}f${i}`))?.length !== 5000) missing++;
  t.equal(missing, 0, 'all 20 files are in the bucket');
  const again = await s3Mount(t, [], m.prefix);
  t.equal(again.sh('sha256sum f*'), sums, 'a new mount of the prefix reads the same bytes');
});

test('s3 mount: kill -9 of the mount with uploads due; the next mount of its cache uploads the files closed and those synced', async (t) => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-s3cache-'));
  t.teardown(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
  const m = await s3Mount(t, [], freshPrefix('killed'), cacheDir);
  m.sh('mkdir d && ls d'); // the listing of d is cached: new names in it need no request
  let gatewayDown = true;
  m.cluster.stopGateway();
  t.teardown(() => {
    if (gatewayDown) m.cluster.startGateway();
  });
  // with the gateway away no upload can finish before the kill
  m.sh('head -c 5000 /dev/urandom > d/closed && dd if=/dev/urandom of=d/synced bs=64k count=40 conv=fsync status=none');
  const closed = fs.readFileSync(path.join(m.mnt, 'd/closed'));
  const synced = fs.readFileSync(path.join(m.mnt, 'd/synced'));
  // the kernel sends a file's RELEASE, where its upload is recorded, after close(2) returned: wait for it
  const records = () => recordsIn(cacheDir).length;
  for (const deadline = Date.now() + 10_000; records() < 2 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
  await m.kill();
  t.equal(records(), 2, 'two uploads recorded when the mount died');
  m.cluster.startGateway();
  gatewayDown = false;
  const again = await s3Mount(t, [], m.prefix, cacheDir);
  t.ok(
    (await uploaded(again.client, again.cluster.bucket, `${m.prefix}d/closed`, closed))?.equals(closed),
    'the file only closed is uploaded by the next mount',
  );
  t.ok((await uploaded(again.client, again.cluster.bucket, `${m.prefix}d/synced`, synced))?.equals(synced), 'the file synced too');
  t.equal(Number(again.sh('cat d/closed d/synced | wc -c')), closed.length + synced.length, 'and both read back');
});
