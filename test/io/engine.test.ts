// The IO engines on their own: batching into one submit, parking when the ring is full, close with work in
// flight, errors as StorageErrors, and a process with an idle engine that still exits by itself.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { createEngine } from '../../src/io/create-engine.js';
import { WINDOW } from '../../src/io/direct-pacing.js';
import { AT, O, SEEK, type IoEngine } from '../../src/io/engine.js';
import { decodeStatx, STATX_SIZE } from '../../src/io/statx.js';
import { UringEngine } from '../../src/io/uring-engine.js';
import { loadConfig } from '../../src/index.js';
import { alignedBuffer } from '../../src/storage/aligned.js';
import { openDirect, tempDir } from '../helpers.js';

async function withFile(t: test.Test, engine: IoEngine, size: number): Promise<number> {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'f'), Buffer.alloc(size, 1));
  const dirfd = fs.openSync(dir, 'r');
  t.teardown(() => fs.closeSync(dirfd));
  return engine.openat(dirfd, 'f', O.RDWR, 0);
}

/** A 1 MiB file of ones opened O_DIRECT by `engine` (undefined, the test skipped, where the file system refuses it), its directory's descriptor; both closed, and the engine, at the test's end. */
async function directFile(t: test.Test, engine: UringEngine): Promise<{ dirfd: number; direct: number } | undefined> {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'f'), Buffer.alloc(1 << 20, 1));
  const dirfd = fs.openSync(dir, 'r');
  t.teardown(() => fs.closeSync(dirfd));
  t.teardown(() => engine.close());
  const direct = await openDirect(t, engine, dirfd, 'f');
  return direct === undefined ? undefined : { dirfd, direct };
}

test('io_uring: concurrent requests go down in batches (fewer submits than requests)', async (t) => {
  const engine = new UringEngine({ queueDepth: 64, submitThreshold: 32 });
  const fd = await withFile(t, engine, 1 << 20);
  const before = engine.counters();
  await Promise.all(Array.from({ length: 64 }, (_, i) => engine.read(fd, Buffer.alloc(4096), 0, 4096, i * 4096)));
  const after = engine.counters();
  t.equal(after.submitted - before.submitted, 64, '64 requests were submitted');
  t.ok(after.submits - before.submits <= 2, `in ${after.submits - before.submits} io_uring_enter calls`);
  await engine.closeFd(fd);
  await engine.close();
});

test('io_uring, batched pacing: a read or write of an O_DIRECT descriptor is submitted at once into an idle ring (the device starts on it), the rest in a batch; buffered ones in a batch', async (t) => {
  const engine = new UringEngine({ queueDepth: 64, submitThreshold: 32, directPacing: 'batched' });
  const opened = await directFile(t, engine);
  if (opened === undefined) return;
  const { dirfd, direct } = opened;
  const buffered = await engine.openat(dirfd, 'f', O.RDONLY, 0);
  const block = () => alignedBuffer(4096); // O_DIRECT: memory aligned to 4 KiB
  const submitsOf = async (work: () => Promise<unknown>) => {
    const before = engine.counters();
    await work();
    const after = engine.counters();
    return { submits: after.submits - before.submits, submitted: after.submitted - before.submitted };
  };
  const reads = (fd: number) => Promise.all(Array.from({ length: 16 }, (_, i) => engine.read(fd, block(), 0, 4096, i * 4096)));
  const start = engine.counters().submits;
  const first = engine.read(direct, block(), 0, 4096, 0);
  t.equal(engine.counters().submits - start, 1, 'O_DIRECT: a read into the idle ring is submitted at once, before the tick ends');
  const more = Array.from({ length: 15 }, (_, i) => engine.read(direct, block(), 0, 4096, (i + 1) * 4096));
  t.equal(engine.counters().submits - start, 1, 'the 15 asked after it in the same tick, one in the kernel, wait for the end of the tick');
  await Promise.all([first, ...more]);
  t.equal(engine.counters().submits - start, 2, 'and go in one io_uring_enter');
  t.deepEqual(await submitsOf(() => reads(direct)), { submits: 2, submitted: 16 }, 'O_DIRECT: 16 reads asked in one tick, 2 io_uring_enter calls');
  const writes = () => Promise.all(Array.from({ length: 8 }, (_, i) => engine.write(direct, block().fill(2), 0, 4096, i * 4096)));
  t.deepEqual(await submitsOf(writes), { submits: 2, submitted: 8 }, 'O_DIRECT writes too');
  const cached = await submitsOf(() => reads(buffered));
  t.equal(cached.submitted, 16, 'a buffered descriptor: 16 reads submitted');
  t.ok(cached.submits <= 2, `in ${cached.submits} io_uring_enter calls`);
  const check = Buffer.alloc(4096);
  await engine.read(buffered, check, 0, 4096, 7 * 4096);
  t.ok(
    check.every((byte) => byte === 2),
    'what the O_DIRECT writes wrote is read back',
  );
  await engine.closeFd(direct);
  await engine.closeFd(buffered);
  await engine.close();
});

test('io_uring, eager pacing: each read or write of an O_DIRECT descriptor is submitted at once, busy ring or not; buffered ones in a batch', async (t) => {
  const engine = new UringEngine({ queueDepth: 64, submitThreshold: 32, directPacing: 'eager' });
  const opened = await directFile(t, engine);
  if (opened === undefined) return;
  const { dirfd, direct } = opened;
  const buffered = await engine.openat(dirfd, 'f', O.RDONLY, 0);
  const start = engine.counters();
  const reads = Array.from({ length: 16 }, (_, i) => engine.read(direct, alignedBuffer(4096), 0, 4096, i * 4096));
  t.equal(engine.counters().submits - start.submits, 16, 'O_DIRECT: 16 reads asked in one tick, 16 io_uring_enter calls before the tick ends');
  const writes = Array.from({ length: 8 }, (_, i) => engine.write(direct, alignedBuffer(4096).fill(3), 0, 4096, (16 + i) * 4096));
  t.equal(engine.counters().submits - start.submits, 24, 'O_DIRECT writes too');
  const cached = Array.from({ length: 16 }, (_, i) => engine.read(buffered, Buffer.alloc(4096), 0, 4096, i * 4096));
  t.equal(engine.counters().submits - start.submits, 24, 'a buffered descriptor: its reads wait for the end of the tick');
  await Promise.all([...reads, ...writes, ...cached]);
  t.equal(engine.counters().submitted - start.submitted, 40, 'all 40 went to the kernel');
  await engine.closeFd(direct);
  await engine.closeFd(buffered);
  await engine.close();
});

test('io_uring, adaptive pacing (the default): eager first, batched once a window of O_DIRECT completions has measured eager', async (t) => {
  const engine = new UringEngine({ queueDepth: 64, submitThreshold: 32 });
  const opened = await directFile(t, engine);
  if (opened === undefined) return;
  const { direct } = opened;
  t.equal(engine.counters().directEager, true, 'eager at first');
  const block = alignedBuffer(4096);
  for (let round = 0; round < WINDOW / 32 - 1; round++) {
    await Promise.all(Array.from({ length: 32 }, (_, i) => engine.read(direct, block, 0, 4096, i * 4096)));
  }
  t.equal(engine.counters().directEager, true, `eager until ${WINDOW} completions`);
  await Promise.all(Array.from({ length: 32 }, (_, i) => engine.read(direct, block, 0, 4096, i * 4096)));
  t.equal(engine.counters().directEager, false, 'then batched, to measure it');
  await engine.closeFd(direct);
  await engine.close();
});

test('io_uring: the statx of an open descriptor is made at once, without the ring (no io-wq worker)', async (t) => {
  const engine = new UringEngine({ queueDepth: 8, submitThreshold: 8 });
  const fd = await withFile(t, engine, 12345);
  const before = engine.counters();
  const stat = await engine.statx(fd, '');
  const after = engine.counters();
  t.equal(stat.size, 12345, 'the size of the open file');
  t.equal(after.submitted - before.submitted, 0, 'nothing submitted to the ring');
  t.equal(after.poolCalls, 0, 'nor to the thread pool');
  await engine.closeFd(fd);
  const error = await engine.statx(fd, '').catch((e: unknown) => e);
  t.equal((error as { code?: string }).code, 'EBADF', 'a closed descriptor: EBADF');
  await engine.close();
});

test('io_uring: the statx of a name the dentry cache has is made at once; one it has not goes through the ring', async (t) => {
  const engine = new UringEngine({ queueDepth: 8, submitThreshold: 1 });
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'f'), Buffer.alloc(4321));
  fs.symlinkSync('f', path.join(dir, 'link'));
  const dirfd = fs.openSync(dir, 'r');
  t.teardown(() => fs.closeSync(dirfd));
  const submitted = () => engine.counters().submitted;
  const before = submitted();
  t.equal((await engine.statx(dirfd, 'f')).size, 4321, 'the size of a file just written');
  t.equal((await engine.statx(dirfd, 'link')).mode & 0o170000, 0o120000, 'a symlink is not followed');
  t.equal(submitted() - before, 0, 'nothing submitted to the ring');
  t.equal(engine.counters().poolCalls, 0, 'nor to the thread pool');
  // a name never looked up is not in the dentry cache: the kernel's answer then, which the cache keeps
  const code = async (name: string) => ((await engine.statx(dirfd, name).catch((e: unknown) => e)) as { code?: string }).code;
  t.equal(await code('never-seen'), 'ENOENT', 'an absent name: ENOENT');
  t.equal(submitted() - before, 1, 'asked through the ring');
  t.equal(await code('never-seen'), 'ENOENT', 'again: ENOENT');
  t.equal(submitted() - before, 1, 'from the cache this time');
  t.equal(await code('f/x'), 'ENOTDIR', "other errors are the kernel's statx's");
  t.equal(submitted() - before, 2, 'through the ring');
  await engine.close();
});

test('io_uring: more requests than ring slots wait their turn and all complete', async (t) => {
  const engine = new UringEngine({ queueDepth: 4, submitThreshold: 2 });
  const fd = await withFile(t, engine, 1 << 20);
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => engine.read(fd, Buffer.alloc(512), 0, 512, (i % 256) * 512)));
  t.ok(
    results.every((n) => n === 512),
    '200 reads through 4 slots',
  );
  t.equal(engine.counters().parked, 0, 'nothing left parked');
  await engine.closeFd(fd);
  await engine.close();
});

for (const ioMode of ['io_uring', 'sync'] as const) {
  test(`${ioMode}: close waits for requests in flight, then refuses new ones with EBADF`, async (t) => {
    const engine = createEngine({ ioMode, queueDepth: 32, submitThreshold: 8 });
    const fd = await withFile(t, engine, 1 << 20);
    const inflight = Array.from({ length: 32 }, (_, i) => engine.write(fd, Buffer.alloc(4096, 2), 0, 4096, i * 4096));
    const fsync = engine.fsync(fd, true);
    const closing = engine.close();
    const written = await Promise.all(inflight);
    await fsync;
    await closing;
    t.ok(
      written.every((n) => n === 4096),
      'every request in flight completed',
    );
    try {
      await engine.read(fd, Buffer.alloc(1), 0, 1, 0);
      t.fail('a read after close succeeded');
    } catch (error) {
      t.equal((error as { code: string }).code, 'EBADF', 'a request after close is EBADF');
    }
    fs.closeSync(fd);
  });

  for (const kind of ['openat', 'createFile'] as const) {
    test(`${ioMode}: ${kind} calls in flight when the engine closes fail with EBADF, their descriptors closed before the close resolves`, async (t) => {
      const dir = tempDir(t);
      for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(dir, `f${i}`), 'x');
      const dirfd = fs.openSync(dir, 'r');
      t.teardown(() => fs.closeSync(dirfd));
      const descriptors = () => fs.readdirSync('/proc/self/fd').length;
      const before = descriptors(); // the engine's own (its ring's) are closed by its close too
      const engine = createEngine({ ioMode, queueDepth: 32, submitThreshold: 8 });
      const opens = Array.from({ length: 8 }, (_, i) =>
        kind === 'openat'
          ? engine.openat(dirfd, `f${i}`, O.RDONLY | O.CLOEXEC, 0)
          : engine.createFile(dirfd, `new${i}`, O.RDWR | O.CLOEXEC, 0o644, 0o022).then(({ fd }) => fd),
      );
      const settled = Promise.allSettled(opens);
      // each late descriptor's close made 50 ms late: a close() that did not wait for them would resolve first
      const realClose = fs.close;
      fs.close = ((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
        setTimeout(() => realClose(fd, callback), 50);
      }) as typeof fs.close;
      t.teardown(() => {
        fs.close = realClose;
      });
      await engine.close();
      fs.close = realClose;
      t.equal(descriptors(), before, 'when the close resolves, no descriptor an open gave is left open');
      const outcomes = await settled;
      const errors = outcomes.map((outcome) => (outcome.status === 'rejected' ? (outcome.reason as { code?: string; name?: string }) : undefined));
      t.ok(
        errors.every((error) => error?.code === 'EBADF' && error.name === 'StorageError'),
        `every open fails with EBADF, a StorageError (${errors.map((error) => error?.code ?? 'resolved').join(' ')})`,
      );
      t.ok((errors[0] as Error | undefined)?.message.includes('closed while this open was in flight'), 'the message says why');
      t.equal(descriptors(), before, 'and none is open after');
    });
  }

  test(`${ioMode}: a second close while the first waits for a request waits for it too`, async (t) => {
    const engine = createEngine({ ioMode, queueDepth: 8, submitThreshold: 8 });
    const fd = await withFile(t, engine, 1 << 20);
    await engine.ftruncate(fd, 3 << 20);
    // what the copy has written when a close resolves: the 1 MiB copied to 2 MiB ends with 1s
    const copiedTail = () => {
      const tail = Buffer.alloc(4);
      fs.readSync(fd, tail, 0, 4, (3 << 20) - 4);
      return [...tail];
    };
    const copying = engine.copyFileRange(fd, 0, fd, 2 << 20, 1 << 20);
    const first = engine.close().then(copiedTail);
    const second = engine.close().then(copiedTail);
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('timed out'), 10_000).unref());
    t.deepEqual(await Promise.race([second, timeout]), [1, 1, 1, 1], 'the second close resolved once the copy had finished');
    t.deepEqual(await Promise.race([first, timeout]), [1, 1, 1, 1], 'and so did the first');
    t.equal(await copying, 1 << 20, 'the copy completed');
    await engine.close();
    t.pass('a close after the end resolves at once');
    fs.closeSync(fd);
  });

  test(`${ioMode}: lseek finds holes, copy_file_range copies, and close waits for both (thread pool calls)`, async (t) => {
    const engine = createEngine({ ioMode, queueDepth: 8, submitThreshold: 8 });
    const fd = await withFile(t, engine, 1 << 20);
    await engine.ftruncate(fd, 3 << 20);
    t.equal(await engine.lseek(fd, 0, SEEK.HOLE), 1 << 20, 'SEEK_HOLE: where the data ends');
    t.equal(await engine.lseek(fd, 100, SEEK.DATA), 100, 'SEEK_DATA inside the data');
    await engine.lseek(fd, 1 << 20, SEEK.DATA).then(
      () => t.fail('SEEK_DATA in the hole that runs to the end succeeded'),
      (error: { code?: string }) => t.equal(error.code, 'ENXIO', 'SEEK_DATA in the hole that runs to the end: ENXIO'),
    );
    const copying = engine.copyFileRange(fd, 0, fd, 2 << 20, 1 << 20);
    const closing = engine.close();
    t.equal(await copying, 1 << 20, 'a copy in flight at close completes');
    await closing;
    const copied = Buffer.alloc(4);
    fs.readSync(fd, copied, 0, 4, (3 << 20) - 4);
    t.deepEqual([...copied], [1, 1, 1, 1], 'the data is at its new offset');
    fs.closeSync(fd);
  });

  test(`${ioMode}: createFile makes a new file with its exact permission and its statx in one pool call; a failure leaves no file`, async (t) => {
    const engine = createEngine({ ioMode, queueDepth: 8, submitThreshold: 8 });
    t.teardown(() => engine.close());
    const dir = tempDir(t);
    const dirfd = fs.openSync(dir, 'r');
    t.teardown(() => fs.closeSync(dirfd));
    const umask = process.umask(0o022);
    t.teardown(() => process.umask(umask));
    const ring = () => (engine instanceof UringEngine ? engine.counters().submitted : 0);
    const before = ring();
    const { fd, stat } = await engine.createFile(dirfd, 'f', O.RDWR | O.CLOEXEC, 0o666, 0o022);
    t.equal(ring(), before, 'nothing went on the ring');
    const fromFs = fs.fstatSync(fd, { bigint: true });
    t.equal(fs.statSync(path.join(dir, 'f')).mode & 0o7777, 0o666, 'the permission asked for, exactly: the umask took nothing');
    t.deepEqual([stat.ino, stat.mode, stat.size], [fromFs.ino, Number(fromFs.mode), 0], 'the statx is the new file’s, taken after the chmod');
    t.equal(await engine.write(fd, Buffer.from('new'), 0, 3, 0), 3, 'the descriptor is open for writing');
    await engine.closeFd(fd);
    const { fd: plain } = await engine.createFile(dirfd, 'g', O.RDWR, 0o640, 0o022);
    t.equal(fs.statSync(path.join(dir, 'g')).mode & 0o7777, 0o640, 'a mode the umask takes nothing of stays as asked');
    await engine.closeFd(plain);
    const refused = async (what: string, call: () => Promise<unknown>, code: string, syscall = 'openat2') => {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e as { code?: string; name?: string; syscall?: string },
      );
      t.equal(error?.code, code, `${what}: ${code}`);
      t.equal(error?.name, 'StorageError', `${what}: a StorageError`);
      t.equal(error?.syscall, syscall, `${what}: the step that failed named (${syscall})`);
    };
    await refused('a name taken', () => engine.createFile(dirfd, 'f', O.RDWR, 0o666, 0o022), 'EEXIST');
    t.equal(fs.readFileSync(path.join(dir, 'f'), 'utf8'), 'new', 'the file of that name is untouched');
    await refused('a name outside the directory', () => engine.createFile(dirfd, '../escaped', O.RDWR, 0o666, 0o022), 'EXDEV');
    // an O_PATH descriptor opens beneath it but has no attributes to read: the file is made, then the
    // default ACL cannot be asked (EBADF), and the file is removed again
    const pathOnly = fs.openSync(dir, O.PATH | O.DIRECTORY);
    t.teardown(() => fs.closeSync(pathOnly));
    await refused('a failure after the open', () => engine.createFile(pathOnly, 'h', O.RDWR, 0o666, 0o022), 'EBADF', 'getxattr of the default ACL');
    t.deepEqual(fs.readdirSync(dir).sort(), ['f', 'g'], 'and no file was left by it');
    if (engine instanceof UringEngine) {
      const direct = await engine.createFile(dirfd, 'd', O.RDWR | O.DIRECT, 0o644, 0o022).catch(() => undefined);
      if (direct !== undefined) {
        const submitted = ring();
        await engine.write(direct.fd, alignedBuffer(4096), 0, 4096, 0);
        t.equal(ring(), submitted + 1, 'a file made O_DIRECT has its writes on the ring, as one opened so');
        await engine.closeFd(direct.fd);
      }
    }
  });

  test(`${ioMode}: kernel errors come back as StorageErrors with the code`, async (t) => {
    const engine = createEngine({ ioMode, queueDepth: 8, submitThreshold: 8 });
    t.teardown(() => engine.close());
    const dir = tempDir(t);
    const dirfd = fs.openSync(dir, 'r');
    t.teardown(() => fs.closeSync(dirfd));
    for (const [what, call, code] of [
      ['open of a missing file', () => engine.openat(dirfd, 'missing', O.RDONLY, 0), 'ENOENT'],
      ['read of a bad descriptor', () => engine.read(987654, Buffer.alloc(1), 0, 1, 0), 'EBADF'],
      ['rmdir of a missing directory', () => engine.unlinkat(dirfd, 'missing', AT.REMOVEDIR), 'ENOENT'],
      ['open beneath the root through an absolute path', () => engine.openat(dirfd, '/etc/passwd', O.RDONLY, 0), 'EXDEV'],
    ] as const) {
      try {
        await call();
        t.fail(`${what} succeeded`);
      } catch (error) {
        t.equal((error as { code: string }).code, code, `${what}: ${code}`);
        t.equal((error as Error).name, 'StorageError', `${what}: a StorageError`);
      }
    }
  });
}

test('a process whose engine is open and idle exits by itself', (t) => {
  const dist = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const script = `
    import { openStorage } from '${dist}/src/index.js';
    const storage = await openStorage(process.argv[1], { config: { ioMode: 'io_uring', logLevel: 'warn' } });
    const file = await storage.root.createFile('x');
    await file.append(Buffer.from('data'));
    console.log('done');`;
  const root = tempDir(t);
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, root], { timeout: 10_000, encoding: 'utf8' });
  t.equal(child.stdout.trim(), 'done', 'the work finished');
  t.equal(child.status, 0, 'and the process exited on its own, with status 0');
  t.end();
});

test('configuration: defaults, file, environment, overrides, and clear errors', (t) => {
  t.equal(loadConfig({ env: {} }).ioMode, 'auto', 'ioMode defaults to auto');
  const dir = tempDir(t);
  const file = path.join(dir, 'persistfs.json');
  fs.writeFileSync(file, JSON.stringify({ ioMode: 'sync', queueDepth: 64 }));
  const fromFile = loadConfig({ file, env: {} });
  t.deepEqual([fromFile.ioMode, fromFile.queueDepth], ['sync', 64], 'a file sets values');
  const fromEnv = loadConfig({ file, env: { PERSISTFS_IO_MODE: 'io_uring' } });
  t.equal(fromEnv.ioMode, 'io_uring', 'the environment overrides the file');
  t.equal(loadConfig({ file, env: { PERSISTFS_IO_MODE: 'io_uring' }, overrides: { ioMode: 'sync' } }).ioMode, 'sync', 'overrides win');
  t.throws(
    () => loadConfig({ env: { PERSISTFS_IO_MODE: 'fast' } }),
    /ioMode="fast" from the environment: expected auto \| io_uring \| sync/,
    'a bad mode is named',
  );
  t.throws(() => loadConfig({ env: {}, overrides: { queueDepth: 0 } }), /queueDepth=0/, 'a bad depth is named');
  fs.writeFileSync(file, '{"iomode": "sync"}');
  t.throws(() => loadConfig({ file, env: {} }), /unknown configuration key 'iomode'/, 'a misspelt key is named');
  t.end();
});

/**
 * A program that runs its arguments with io_uring_setup refused (EPERM) by a seccomp filter: the kernel
 * refusing rings to this one process only. (The io_uring_disabled sysctl would refuse them to every
 * unprivileged process on the machine, tests running beside this one included.)
 */
const DENY_IO_URING_C = `
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  struct sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = { sizeof filter / sizeof filter[0], filter };
  if (argc < 2) return 2;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program)) { perror("seccomp"); return 126; }
  execvp(argv[1], argv + 1);
  perror("exec");
  return 127;
}
`;

test('auto mode falls back to sync, saying why, when the kernel refuses io_uring', (t) => {
  const dist = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const root = tempDir(t);
  const deny = path.join(root, 'deny-io-uring');
  fs.writeFileSync(`${deny}.c`, DENY_IO_URING_C);
  const cc = spawnSync('cc', ['-O', '-o', deny, `${deny}.c`], { encoding: 'utf8' });
  t.equal(cc.status, 0, `the seccomp wrapper compiles ${cc.stderr}`);
  const store = path.join(root, 'store');
  fs.mkdirSync(store);
  const open = (ioMode: string, refused: boolean) =>
    spawnSync(
      refused ? deny : process.execPath,
      [
        ...(refused ? [process.execPath] : []),
        '--input-type=module',
        '-e',
        `import { openStorage } from '${dist}/src/index.js';
         try { const s = await openStorage(process.argv[1], { config: { ioMode: '${ioMode}', logLevel: 'warn' } });
               console.log(s.ioMode); await s.close(); } catch (e) { console.log(e.code); }`,
        store,
      ],
      { timeout: 10_000, encoding: 'utf8' },
    );
  const auto = open('auto', true);
  const forced = open('io_uring', true);
  t.equal(auto.stdout.trim(), 'sync', 'auto ends up in the sync mode');
  t.match(auto.stderr, /io_uring is not available here.*using the sync IO mode/, 'and logs a warning saying why');
  t.equal(forced.stdout.trim(), 'EPERM', 'ioMode io_uring fails with the kernel code instead');
  t.equal(open('auto', false).stdout.trim(), 'io_uring', 'without the filter, auto picks io_uring');
  t.end();
});

// The mount tells a file from one deleted before it by its birth time (ext4 gives the new file the old one's
// inode number): every stat of the engines carries it, and 0n where the file system keeps none.
for (const ioMode of ['io_uring', 'sync'] as const) {
  test(`${ioMode}: a stat carries the file's birth time, by name and of an open descriptor`, async (t) => {
    const engine = createEngine({ ioMode, queueDepth: 8, submitThreshold: 8 });
    const fd = await withFile(t, engine, 10);
    const dir = path.dirname(fs.readlinkSync(`/proc/self/fd/${fd}`));
    const dirfd = fs.openSync(dir, 'r');
    const born = fs.statSync(path.join(dir, 'f'), { bigint: true }).birthtimeNs;
    if (born === 0n) t.comment('this file system keeps no birth times: 0n expected');
    t.equal((await engine.statx(dirfd, 'f')).birthtimeNs, born, 'by name');
    t.equal((await engine.statx(fd, '')).birthtimeNs, born, 'of the open descriptor');
    await engine.closeFd(fd);
    fs.closeSync(dirfd);
    await engine.close();
  });
}

test('statx: a birth time the file system did not fill in (no STATX_BTIME in stx_mask) is 0n', (t) => {
  const buffer = new Uint8Array(STATX_SIZE);
  const view = new DataView(buffer.buffer);
  view.setBigInt64(80, 1_764_000_000n, true); // stx_btime.tv_sec: whatever the kernel left there
  view.setUint32(0, 0x7ff, true); // STATX_BASIC_STATS alone
  t.equal(decodeStatx(buffer).birthtimeNs, 0n, 'unknown: 0n');
  view.setUint32(0, 0x7ff | 0x800, true); // with STATX_BTIME
  t.equal(decodeStatx(buffer).birthtimeNs, 1_764_000_000_000_000_000n, 'known: the time in ns');
  t.end();
});
