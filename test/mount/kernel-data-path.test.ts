// The kernel transport's native data path (native/src/fuse/data-path.h): reads, writes, fsyncs, flushes,
// fstats and releases of open files answered without JavaScript, the storage's own idea of each file's size
// kept true by those writes (JavaScript's SEEK_DATA, copy_file_range and reads depend on it), released files
// closed in the storage, and the same results with the data path off; each over /dev/fuse and over FUSE
// io_uring queues (native/src/fuse/uring-queue.h; the test switches the fuse module's enable_uring on).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

import { tempDir } from '../helpers.js';
import { mountDirs, startMountProcess, statsOf, stopMount, switchUring, withMount } from './mount-helper.js';

// One Python script through the mount: each step prints one line, compared as a whole below.
const MIXED = String.raw`
import os, hashlib
fd = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b'a' * 100, 0)
os.pwrite(fd, b'z', 1048576)                       # past the end: the file grows to 1 MiB + 1
print('size after a write past the end', os.fstat(fd).st_size)
print('SEEK_DATA in the grown part', os.lseek(fd, 1048576, os.SEEK_DATA))
print('read across the hole', os.pread(fd, 4, 1048574) == b'\0\0z' and 'zeros then z')
os.fsync(fd); os.fdatasync(fd)
g = os.open('g', os.O_RDWR | os.O_CREAT, 0o644)
print('copy_file_range of the grown file', os.copy_file_range(fd, g, 2 * 1048576, 0, 0))
os.ftruncate(fd, 10)
print('size after truncate', os.fstat(fd).st_size)
os.pwrite(fd, b'tail', 20)
print('size after a write past the cut', os.fstat(fd).st_size, os.pread(fd, 30, 0))
os.close(fd); os.close(g)
print('g', os.stat('g').st_size, hashlib.sha256(open('g', 'rb').read()).hexdigest()[:12])
`;

const EXPECTED =
  'size after a write past the end 1048577\n' +
  'SEEK_DATA in the grown part 1048576\n' +
  'read across the hole zeros then z\n' +
  'copy_file_range of the grown file 1048577\n' +
  'size after truncate 10\n' +
  "size after a write past the cut 24 b'aaaaaaaaaa\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00tail'\n";

// how, mount arguments, whether the data path serves, whether the requests come through io_uring queues
const MODES: Array<[string, string[], boolean, boolean]> = [
  ['data path', ['--fuse-uring', 'off', '--no-writeback-cache'], true, false],
  ['data path, writeback cache', ['--fuse-uring', 'off', '--writeback-cache'], true, false],
  ['without the data path', ['--fuse-uring', 'off', '--no-writeback-cache', '--no-native-data-path'], false, false],
  ['data path, io_uring queues', ['--fuse-uring', 'on', '--no-writeback-cache'], true, true],
  ['data path, io_uring queues, writeback cache', ['--fuse-uring', 'on', '--writeback-cache'], true, true],
  ['io_uring queues without the data path', ['--fuse-uring', 'on', '--no-writeback-cache', '--no-native-data-path'], false, true],
  // the kernel reads and writes the backing files itself: neither the data path nor JavaScript sees them
  ['passthrough', ['--fuse-uring', 'off', '--passthrough'], false, false],
];

interface Counters {
  native: boolean;
  served: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  uringQueues: number;
  uringRequests: number;
  uringError: number;
}

for (const [how, args, native, uring] of MODES) {
  test(`kernel transport (${how}): mixed writes; the storage's size, the kernel's and the backing file's agree`, async (t) => {
    if (uring && !switchUring(t, true)) {
      t.skip('this kernel has no FUSE over io_uring');
      return;
    }
    const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--log-level', 'info', ...args]);
    const out = m.sh(`python3 - <<'EOF'\n${MIXED}\nEOF`);
    const [steps, g] = [out.slice(0, out.lastIndexOf('g ')), out.slice(out.lastIndexOf('g '))];
    t.equal(steps, EXPECTED, 'every step as POSIX says');
    const copy = Buffer.alloc(1048577);
    copy.fill('a', 0, 100);
    copy[1048576] = 'z'.charCodeAt(0);
    t.equal(g, `g 1048577 ${createHash('sha256').update(copy).digest('hex').slice(0, 12)}\n`, 'the copy holds the whole grown file');
    m.sh('head -c 5000000 /dev/urandom > /tmp/persistfs-dp.$$ && cp /tmp/persistfs-dp.$$ big && cmp big /tmp/persistfs-dp.$$ && rm /tmp/persistfs-dp.$$');
    t.equal(m.sh('sha256sum < big'), m.sh(`sha256sum < ${path.join(m.backing, 'big')}`), 'cp of 5 MB: the mount and the backing file hold the same bytes');
    t.equal(m.sh('stat -c %s f'), '24\n', 'stat by name agrees');
    await stopMount(m.child, m.mnt);
    t.equal(fs.statSync(path.join(m.backing, 'f')).size, 24, 'and the backing file');
    const counters = /"native":(\{.*?\})/.exec(m.log());
    const served = counters ? (JSON.parse(counters[1]!) as Counters) : undefined;
    if (uring) {
      t.ok(
        served && served.uringQueues > 0 && served.uringRequests > 20,
        `${served?.uringRequests} requests came through ${served?.uringQueues} io_uring queues`,
      );
      t.equal(served?.uringError, 0, 'and the kernel refused none of their commands');
    } else {
      t.equal(served?.uringRequests, 0, 'none came through io_uring queues');
    }
    if (native) {
      t.ok(served?.native && served.served > 10 && served.writes > 0, `the data path answered ${served?.served} requests, ${served?.writes} of them writes`);
      t.match(m.log(), /"storageWrites":0,/, 'no write went through JavaScript');
    } else if (args.includes('--passthrough')) {
      // it still answers directories' GETATTR
      t.ok(served?.writes === 0 && served.bytesRead === 0 && served.bytesWritten === 0, 'the data path read and wrote nothing');
    } else {
      t.equal(served?.served, 0, 'the data path answered nothing');
    }
    if (args.includes('--passthrough')) {
      t.match(m.log(), /"storageWrites":0,/, 'passthrough: no write reached the mount at all');
      t.doesNotMatch(m.log(), /passthrough refused/, 'and every file got its backing file');
    }
  });
}

test('kernel transport (data path): a RELEASE it answers closes the storage file', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel']);
  const fds = (): number => fs.readdirSync(`/proc/${m.child.pid}/fd`).length;
  m.sh('echo 0 > f0 && cat f0 > /dev/null');
  const before = fds();
  m.sh('for i in $(seq 1 300); do echo $i > f$i; cat f$i > /dev/null; done');
  let after = fds();
  for (let i = 0; i < 100 && after - before > 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    after = fds();
  }
  t.ok(after - before <= 10, `the mount process holds ${after} descriptors after 600 opens and closes (${before} before)`);
  t.equal(m.sh('cat f300'), '300\n', 'and the files are whole');
});

test('kernel transport: --fuse-uring on refuses to mount where FUSE over io_uring is switched off, saying how', async (t) => {
  switchUring(t, false);
  const { backing, mnt } = mountDirs(t);
  const { child, log } = startMountProcess(backing, mnt, ['--transport', 'kernel', '--fuse-uring', 'on']);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.notEqual(code, 0, 'the mount process fails');
  t.match(log(), /enable_uring/, 'naming the switch to turn on');
  t.deepEqual(fs.readdirSync(backing), [], 'and leaves nothing in the backing directory');
});

test('kernel transport, --passthrough: a file opened while it is held open without passthrough (set-user-ID then) is served, not failed (EIO)', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('passthrough needs root');
    return;
  }
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--passthrough']);
  m.sh('echo data > s && chmod 4755 s');
  // the first open is not passed through (set-user-ID); the kernel takes all opens of an inode one way
  t.equal(m.sh('exec 3<s; chmod 755 s; cat s; echo more >> s; exec 3<&-; cat s'), 'data\ndata\nmore\n', 'cat and an append while it is held');
  t.equal(m.sh('cat s'), 'data\nmore\n', 'and passed through once it is not');
});

test('kernel transport: --passthrough with --writeback-cache is refused (the kernel takes one or the other)', async (t) => {
  const { backing, mnt } = mountDirs(t);
  const { child, log } = startMountProcess(backing, mnt, ['--transport', 'kernel', '--passthrough', '--writeback-cache']);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.notEqual(code, 0, 'the mount process fails');
  t.match(log(), /--passthrough needs --transport kernel, root, and no --writeback-cache/, 'saying why');
});

// A create or an unlink in a directory makes the kernel forget the directory's attributes, and (under
// default_permissions) ask for them before the next lookup in it: the data path answers that GETATTR
// from the directory's descriptor once JavaScript has answered one (native/src/fuse/directory-table.h).
test('kernel transport (data path): GETATTR of a directory is answered natively after the first, and says what the backing directory says', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--debug', '--log-level', 'info']);
  m.sh('mkdir d && for i in $(seq 1 20); do touch d/f$i; done');
  const createsLogged = () => [...m.log().matchAll(/"op":"CREATE","unique":\d+,"node":(\d+)/g)];
  // the mount's log reaches this process through a pipe, read between the blocking shell commands
  for (let i = 0; i < 200 && createsLogged().length < 20; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  const creates = createsLogged();
  const dirNode = creates[0]?.[1];
  const asked = [...m.log().matchAll(/"op":"GETATTR","unique":\d+,"node":(\d+)/g)].filter((match) => match[1] === dirNode).length;
  t.equal(creates.length, 20, '20 creates in d');
  t.ok(asked <= 2, `the kernel asked for d's attributes after each create; JavaScript answered ${asked} of those`);

  const attributes = "stat -c '%i %h %a %u %g %s %Y'";
  const same = (name: string, what: string) => t.equal(m.sh(`${attributes} ${name}`), m.sh(`${attributes} ${path.join(m.backing, name)}`), what);
  m.sh('chmod 750 d && touch d/g');
  same('d', 'after a chmod and a create: the mount says what the backing directory says');
  // a directory renamed over another (whose node was answered natively too): the name shows the moved one
  m.sh('mkdir e && touch e/x e/x2 && rm e/x e/x2 && mv -T d e && touch e/y && rm e/f1');
  same('e', 'after a rename over an answered directory, a create and an unlink');
  t.equal(m.sh('ls e | wc -l'), '21\n', 'which holds the moved files');
  m.sh('mkdir -p e/sub && touch e/sub/z && rmdir e/sub 2>/dev/null; rm e/sub/z && rmdir e/sub');
  t.equal(m.sh('stat e/sub 2>&1 || true').includes('No such file'), true, 'a removed directory is gone');
});

test('kernel transport (data path): STATX (stat asking the birth time) of an attached directory is answered natively', async (t) => {
  // attributes kept no time at all: every stat asks the mount
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--attr-timeout', '0']);
  m.sh('mkdir d && touch d/f && ls d > /dev/null'); // OPENDIR attaches d
  const born = (name: string) => m.sh(`stat -c '%W' ${path.join(m.backing, name)}`);
  const statxToJs = () => statsOf(m.mnt).ops.statx?.count ?? 0;
  const before = statxToJs();
  for (let i = 0; i < 10; i++) t.equal(m.sh("stat -c '%W' d"), born('d'), i === 0 ? "d's birth time, the backing directory's" : `again (${i + 1})`);
  t.ok(statxToJs() - before <= 1, `JavaScript answered ${statxToJs() - before} of the 10 STATX of d (at most the first)`);
  // a file's STATX, by path, goes where its GETATTR goes: to JavaScript (the data path answers a file's
  // attributes only through a handle, which the kernel sends with GETATTR, never with STATX)
  t.equal(m.sh("stat -c '%W' d/f"), born('d/f'), "a file's birth time, by JavaScript");
});

// A create starts with a LOOKUP of a name that is not there: in a directory JavaScript attached, the data
// path answers it (ENOENT) from the backing directory; a name that is there, and the storage's own names at
// the root, still go to JavaScript.
test('kernel transport (data path): LOOKUP of an absent name in an attached directory is answered natively; present names go to JavaScript', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--debug', '--log-level', 'info']);
  m.sh('mkdir d && touch d/first && stat d >/dev/null');
  const requests = (op: string) => [...m.log().matchAll(new RegExp(`"op":"${op}","unique":\\d+,"node":(\\d+)`, 'g'))].map((match) => match[1]);
  const settle = async (op: string, count: number) => {
    for (let i = 0; i < 200 && requests(op).length < count; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  };
  await settle('CREATE', 1);
  const dirNode = requests('CREATE')[0];
  const lookupsInD = () => requests('LOOKUP').filter((node) => node === dirNode).length;
  const before = lookupsInD();
  m.sh('for i in $(seq 1 20); do touch d/n$i; done');
  await settle('CREATE', 21);
  t.equal(requests('CREATE').length, 21, '20 more creates in d');
  t.ok(lookupsInD() - before <= 1, `JavaScript saw ${lookupsInD() - before} of their 20 LOOKUPs (the absent names)`);

  t.equal(m.sh('stat d/missing 2>&1 || true').includes('No such file'), true, 'an absent name is ENOENT');
  fs.writeFileSync(path.join(m.backing, 'd', 'outside'), 'made beside the mount');
  t.equal(m.sh('cat d/outside'), 'made beside the mount', 'a name made in the backing directory meanwhile is found');
  m.sh('rm d/n3 && mv d/n4 d/n40');
  t.equal(m.sh('ls d/n3 d/n4 2>&1 | grep -c "No such file" || true'), '2\n', 'removed and renamed-away names are ENOENT');
  t.equal(m.sh('cat d/n40 && echo ok'), 'ok\n', 'the renamed-to name is there');
  // the storage's directory for its temporary files, taken away beside the mount: absent, still not ENOENT
  fs.rmSync(path.join(m.backing, '.persistfs-tmp'), { recursive: true, force: true });
  m.sh('stat . >/dev/null && touch d/n1');
  const own = m.sh('stat .persistfs-tmp .persistfs-lock 2>&1 || true');
  t.equal((own.match(/Invalid argument/g) ?? []).length, 2, `the storage's own names at the root are its to answer: ${own.trim()}`);
});

/** How many LOOKUPs the mount answered so far, natively or not (persistfs stats). */
const lookupsServed = (mnt: string): number => statsOf(mnt).ops.lookup?.count ?? 0;

test('persistfs stats --json shows the data path: what it served, and how its READs were answered', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel']);
  m.sh('head -c 4194304 /dev/urandom > big && sync');
  const before = statsOf(m.mnt).dataPath;
  t.equal(typeof before?.served, 'number', 'the data path counters are there');
  // O_DIRECT: READs reach the mount (not the kernel's cache of the mount), 256 KiB each; the backing
  // file's page cache holds them, so they are copied from it or spliced
  m.sh('dd if=big of=/dev/null bs=256k iflag=direct status=none');
  const after = statsOf(m.mnt).dataPath!;
  const reads = (c: Record<string, number>) => (c.cachedReads ?? 0) + (c.splicedReads ?? 0) + (c.spliceFallbacks ?? 0) + (c.spliceUncached ?? 0);
  t.ok(after.served! > before!.served!, `it served requests (${before!.served} -> ${after.served})`);
  t.ok(after.bytesRead! - before!.bytesRead! >= 4194304, 'the 4 MiB read went through it');
  t.ok(reads(after) > reads(before!), 'and its READs show how they were answered');
});

// The data path starts the writeback of a file written sequentially every MiB (data-path.cc kWritebackEvery),
// so its fsync finds the disk's work under way; random rewrites, which the page cache absorbs, start none.
test('kernel transport (data path): a sequential write starts its writeback before the fsync, random rewrites do not', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel']);
  const writebacks = () => statsOf(m.mnt).dataPath!.writebacks!;
  const start = writebacks();
  m.sh('dd if=/dev/urandom of=seq.bin bs=1M count=8 conv=fsync status=none');
  const afterSequential = writebacks();
  // one a MiB in order; WRITEs served out of order by the readers delay some (none before write-behind)
  t.ok(afterSequential - start >= 1 && afterSequential - start <= 8, `${afterSequential - start} writebacks started for 8 MiB written in order`);
  // 2,000 pages of 4 KiB rewritten at random places of the 8 MiB file, then fsynced
  m.sh(`python3 -c "
import os, random
fd = os.open('seq.bin', os.O_WRONLY)
rng = random.Random(7)
for _ in range(2000): os.pwrite(fd, os.urandom(4096), rng.randrange(2048) * 4096)
os.fsync(fd); os.close(fd)"`);
  t.equal(writebacks() - afterSequential, 0, 'none for 2,000 random rewrites of 4 KiB');
  t.equal(m.sh('stat -c %s seq.bin'), '8388608\n', 'the file kept its size');
  // a stream starts where an open first writes: 8 MiB written from 3 MiB on, O_DIRECT so that the WRITEs
  // come one at a time, in order (counted from 0, the first 3 MiB would be a hole nobody fills: none)
  const beforeAppend = writebacks();
  m.sh('dd if=/dev/urandom of=seq.bin bs=1M count=8 seek=3 oflag=direct conv=notrunc,fsync status=none');
  const appended = writebacks() - beforeAppend;
  t.ok(appended >= 6 && appended <= 8, `${appended} writebacks for 8 MiB written in order from 3 MiB on (one a MiB)`);
});

// A WRITE larger than the data path writes there and then is written by its reader's own pwrite, one at a time for
// an open handle (native/src/fuse/data-path.h, ThreadReads): the writeback cache's flushes of one file come as several
// at once, and O_DIRECT writers each send theirs (each through its own handle); every byte lands where it was written.
test("kernel transport (data path): large WRITEs are written by their readers, a handle's one at a time, every byte in place", async (t) => {
  // /dev/fuse readers (not the io_uring queues, which make test-uring would choose), with the writeback cache
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--fuse-uring', 'off', '--writeback-cache']);
  const source = path.join(m.backing, '..', 'source.bin');
  execFileSync('head', ['-c', String(48 << 20), '/dev/urandom'], { stdio: ['ignore', fs.openSync(source, 'w'), 'inherit'] });
  const threadWrites = () => statsOf(m.mnt).dataPath!.threadWrites!;
  const start = threadWrites();
  // through the writeback cache: the kernel flushes the dirty pages in WRITEs of up to 1 MiB
  m.sh(`dd if=${source} of=cached.bin bs=1M conv=fsync status=none`);
  const cached = threadWrites() - start;
  t.ok(cached >= 24, `${cached} of the 48 MiB's WRITEs written by the readers' pwrite`);
  // three O_DIRECT writers at once, each a third of one file, in 1 MiB WRITEs that land side by side
  m.sh(`for i in 0 1 2; do dd if=${source} of=direct.bin bs=1M skip=$((i * 16)) seek=$((i * 16)) count=16 oflag=direct conv=notrunc status=none & done; wait`);
  t.ok(threadWrites() - start - cached >= 24, `${threadWrites() - start - cached} of the O_DIRECT writers' 48 WRITEs too`);
  const sum = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const expected = sum(source);
  for (const name of ['cached.bin', 'direct.bin']) {
    t.equal(sum(path.join(m.mnt, name)), expected, `${name} reads back as written through the mount`);
    t.equal(sum(path.join(m.backing, name)), expected, `${name} is the same in the backing directory`);
  }
});

// A large WRITE keeps its reader until the handle's writes before it are done, so the kernel may send only as many
// background requests (the writeback cache's WRITEs, readahead) as leave two readers free (kernel-mount.ts
// maxBackground); the io_uring queues, a mount without the data path and one without the writeback cache keep 64.
// Read from the fuse control file system (mounted here for the test when it is not).
test('kernel transport: the kernel may have all but two of the readers busy with background requests', async (t) => {
  const control = '/sys/fs/fuse/connections';
  if (!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${control} `)) {
    execFileSync('mount', ['-t', 'fusectl', 'none', control]);
    t.teardown(() => {
      spawnSync('umount', [control]);
    });
  }
  const limitOf = (mnt: string) => {
    const dev = fs.statSync(mnt, { bigint: true }).dev;
    const minor = (dev & 0xffn) | ((dev >> 12n) & 0xfff00n); // Linux's dev_t: the minor's low 8 bits, then bits 20-31
    return Number(fs.readFileSync(path.join(control, String(minor), 'max_background'), 'utf8'));
  };
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--fuse-uring', 'off', '--writeback-cache']);
  const readers = statsOf(m.mnt).dataPath!.readers!;
  t.equal(limitOf(m.mnt), readers - 2, `${readers} readers: the kernel may send ${readers - 2} background requests at once`);
  const without = await withMount(t, 'io_uring', ['--transport', 'kernel', '--fuse-uring', 'off', '--writeback-cache', '--no-native-data-path']);
  t.equal(limitOf(without.mnt), 64, 'without the data path (no reader waits in a write): 64');
  const direct = await withMount(t, 'io_uring', ['--transport', 'kernel', '--fuse-uring', 'off', '--no-writeback-cache']);
  t.equal(limitOf(direct.mnt), 64, "without the writeback cache (WRITEs are the writers' own requests): 64");
});

// `ls -l` asks two attributes of every file (security.selinux, system.posix_acl_access), and the kernel asks
// security.capability before the first write of each open: an attribute JavaScript found absent is answered
// ENODATA by the data path after that (native/src/fuse/node-table.h, "Absent extended attributes"), until
// an attribute is set or removed through the mount.
test('kernel transport (data path): GETXATTR of an attribute found absent is answered natively; set, then removed, it is seen', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel']);
  m.sh('mkdir d && for i in $(seq 1 20); do echo $i > d/f$i; done && ls -l d > /dev/null');
  const served = () => statsOf(m.mnt).dataPath!.served!;
  const before = served();
  const listing = m.sh('ls -l d | wc -l');
  t.equal(listing, '21\n', 'ls -l lists the 20 files');
  t.ok(served() - before >= 40, `the data path answered ${served() - before} requests for 20 files, two GETXATTRs each`);
  // files never asked before: the data path lists their attributes itself (GETXATTR of a name seen absent
  // in d), and answers ENODATA when there are none; a file with one, and a symlink, are JavaScript's
  m.sh('mkdir e && for i in $(seq 1 20); do touch e/f$i; done');
  m.sh(`touch e/has && ln -s f1 e/link && python3 -c "import os; os.setxattr('e/has', 'user.x', b'v')"`);
  const first = served();
  t.equal(m.sh('ls -l e | wc -l'), '23\n', 'ls -l of 22 files never asked before');
  t.ok(served() - first >= 40, `the data path answered ${served() - first} requests: both GETXATTRs of every file (names seen absent in d)`);
  t.ok(statsOf(m.mnt).dataPath!.xattrLists! >= 20, 'listing the attributes of each file itself');
  const xattrOf = (file: string, name: string) =>
    m.sh(`python3 -c "import os\ntry: print(os.getxattr('${file}', '${name}', follow_symlinks=False))\nexcept OSError as e: print(e.errno)"`).trim();
  t.equal(xattrOf('e/has', 'user.x'), "b'v'", 'the file with an attribute: its value');
  t.equal(xattrOf('e/has', 'security.selinux'), '61', 'and ENODATA for another');
  t.equal(xattrOf('e/link', 'user.x'), '61', 'the symlink: ENODATA');
  const errnoOf = (file: string, name: string) => m.sh(`python3 -c "import os\ntry: os.getxattr('${file}', '${name}')\nexcept OSError as e: print(e.errno)"`);
  t.equal(
    errnoOf('e/f2', 'nonamespace'),
    errnoOf(path.join(m.backing, 'e', 'f2'), 'nonamespace'),
    'a name the backing file system does not keep: its answer (EOPNOTSUPP), not ENODATA',
  );
  const xattr = (code: string) => m.sh(`python3 -c "import os\n${code}"`);
  t.equal(xattr("try: os.getxattr('d/f1', 'user.mark')\nexcept OSError as e: print(e.errno == 61)"), 'True\n', 'user.mark: absent');
  t.equal(xattr("try: os.getxattr('d/f1', 'user.mark')\nexcept OSError as e: print(e.errno == 61)"), 'True\n', 'asked again: absent');
  xattr("os.setxattr('d/f1', 'user.mark', b'here')");
  t.equal(xattr("print(os.getxattr('d/f1', 'user.mark'))"), "b'here'\n", 'set through the mount: seen at once');
  t.equal(m.sh(`python3 -c "import os; print(os.getxattr('${path.join(m.backing, 'd', 'f1')}', 'user.mark'))"`), "b'here'\n", 'and in the backing file');
  xattr("os.removexattr('d/f1', 'user.mark')");
  t.equal(xattr("try: os.getxattr('d/f1', 'user.mark')\nexcept OSError as e: print(e.errno == 61)"), 'True\n', 'removed: absent again');
  // an attribute set is seen at once while the data path keeps listing the file's attributes: one thread
  // sets, reads back and removes an attribute while two others have them listed (a listing that crosses the
  // whole setxattr, which NoXattrsSince refuses to remember, is too narrow a window to be hit here)
  const race = m.sh(`python3 -c "
import os, threading, time
os.chdir('e')
stop = time.time() + 3
wrong = []
def lister():
    while time.time() < stop:
        try: os.getxattr('f2', 'security.selinux')
        except OSError: pass
threads = [threading.Thread(target=lister) for _ in range(2)]
for th in threads: th.start()
rounds = 0
while time.time() < stop:
    os.setxattr('f2', 'user.r', str(rounds).encode())
    try:
        if os.getxattr('f2', 'user.r') != str(rounds).encode(): wrong.append(rounds)
    except OSError: wrong.append(rounds)
    os.removexattr('f2', 'user.r')
    rounds += 1
for th in threads: th.join()
print(rounds, len(wrong))
"`);
  const [rounds, wrong] = race.trim().split(' ').map(Number);
  t.ok(rounds! > 100 && wrong === 0, `set, read back, removed ${rounds} times beside listings: ${wrong} reads wrong`);
  t.ok(statsOf(m.mnt).dataPath!.xattrLists! > 40, 'while the data path listed the attributes');
  // a file system mounted inside the backing directory may keep other namespaces than the one the absent
  // names were learned on (ramfs keeps none: EOPNOTSUPP for every name): its files are left to JavaScript
  const other = path.join(m.backing, 'other');
  fs.mkdirSync(other);
  execFileSync('mount', ['-t', 'ramfs', 'persistfs-test', other]);
  try {
    m.sh('for i in $(seq 1 10); do touch other/f$i; done');
    const lists = statsOf(m.mnt).dataPath!.xattrLists!;
    t.equal(m.sh('ls -l other | wc -l'), '11\n', 'ls -l of 10 files on another file system, mounted below');
    t.equal(statsOf(m.mnt).dataPath!.xattrLists! - lists, 0, 'the data path listed none of their attributes');
    const theirs = errnoOf(path.join(other, 'f1'), 'security.selinux');
    t.equal(theirs, '95\n', 'that file system keeps no security.selinux (EOPNOTSUPP), which the root answered ENODATA');
    t.equal(errnoOf('other/f1', 'security.selinux'), theirs, 'its answer through the mount');
    t.equal(errnoOf('other/f1', 'security.selinux'), theirs, 'and asked again');
  } finally {
    execFileSync('umount', ['-l', other]);
  }
});

// The answer to a LOOKUP of an absent name (the data path's, or JavaScript's) is an entry of node 0 with the entry timeout: the
// kernel keeps the absence (a negative dentry) for that long, so the open(O_CREAT) that follows a failed
// stat, and another stat of the name, ask the mount nothing; a create through the mount replaces it.
for (const [how, args] of [
  ['data path', []],
  ['without the data path', ['--no-native-data-path']],
]) {
  test(`kernel transport (${how}): the absence of a name it answered is kept for the entry timeout`, async (t) => {
    const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--entry-timeout', '60', ...args]);
    m.sh('mkdir d && touch d/first && stat d/first >/dev/null && touch d/second');
    const before = lookupsServed(m.mnt);
    const out = m.sh('for i in $(seq 1 20); do stat d/m$i 2>/dev/null; stat d/m$i 2>/dev/null; echo $i > d/m$i; done; cat d/m7; ls d | wc -l');
    const asked = lookupsServed(m.mnt) - before;
    t.equal(out, '7\n22\n', 'every name is absent, then made: each file reads back');
    // 20 when nothing evicts dentries; a drop_caches elsewhere on the machine (or memory pressure) during the
    // loop makes the kernel ask again for what it dropped (d, m7, the name in hand): 25 was seen beside
    // another process's fio runs that drop the dentry cache. Without the kept absence it is 60.
    t.ok(asked <= 30, `the kernel asked ${asked} LOOKUPs for 20 names, each stat-ed twice then created (60 without the cache)`);
  });
}

// With the writeback cache an unlink changes the file's ctime in the kernel's cache, which it writes back
// at once: a SETATTR of the unlinked file. Nothing can reach a file without a name or an open handle, so
// the data path answers that (ENOENT, as JavaScript would) once JavaScript reported the node removed.
test('kernel transport (data path, writeback cache): the SETATTR after an unlink is answered natively; an unlinked open file still works', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--writeback-cache', '--debug', '--log-level', 'info']);
  m.sh('for i in $(seq 1 10); do : > f$i; rm f$i; done; : > done');
  const logged = (op: string) => [...m.log().matchAll(new RegExp(`"op":"${op}","unique":\\d+,"node"`, 'g'))].length; // requests, not replies
  for (let i = 0; i < 200 && logged('CREATE') < 11; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  t.equal(statsOf(m.mnt).ops.unlink?.count, 10, '10 unlinks');
  t.equal(logged('SETATTR'), 0, 'JavaScript saw no SETATTR of the unlinked files');
  const open = `
import os, stat
fd = os.open('g', os.O_RDWR | os.O_CREAT, 0o644)
os.unlink('g')
os.write(fd, b'still here')
os.fchmod(fd, 0o600)
st = os.fstat(fd)
os.lseek(fd, 0, 0)
print(st.st_nlink, oct(stat.S_IMODE(st.st_mode)), st.st_size, os.read(fd, 100).decode())
os.close(fd)
print(os.path.exists('g'))
`;
  t.equal(
    m.sh(`python3 - <<'EOF'\n${open}\nEOF`),
    '0 0o600 10 still here\nFalse\n',
    'an unlinked open file: written, chmod-ed, stat-ed and read through its handle',
  );
});

// UNLINK of a name JavaScript gave a node, made by the data path (native/src/fuse/node-table.h, "Unlinks"):
// JavaScript is told after and its table follows (the name made again is a new file; the removed nodes are
// dropped); a file with another link, or one held open, stays reachable through its node; what the kernel
// refuses (a read-only directory for another user, a sticky one) is still refused; a name the mount did not
// know yet (made beside it) goes to JavaScript.
for (const [how, args, uring] of [
  ['data path, writeback cache', ['--fuse-uring', 'off', '--writeback-cache'], false],
  ['data path, io_uring queues', ['--fuse-uring', 'on', '--no-writeback-cache'], true],
] as Array<[string, string[], boolean]>) {
  test(`kernel transport (${how}): UNLINK of a known name is made by the data path; JavaScript's table follows`, async (t) => {
    if (uring && !switchUring(t, true)) {
      t.skip('this kernel has no FUSE over io_uring');
      return;
    }
    const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--allow-other', '--debug', '--log-level', 'info', ...args]);
    const unlinks = () => statsOf(m.mnt).dataPath?.unlinks ?? 0;
    const setattrs = () => [...m.log().matchAll(/"op":"SETATTR","unique":\d+,"node"/g)].length; // JavaScript's
    // a request JavaScript answers (MKDIR): once it is logged, so is every request JavaScript saw before it
    const mkdirs = () => [...m.log().matchAll(/"op":"MKDIR","unique"/g)].length;
    m.sh('mkdir d && for i in $(seq 1 30); do echo $i > d/f$i; done; mkdir marker');
    await until(() => mkdirs() === 2);
    const nodes = knownOf(m.mnt).nodes;
    const written = setattrs(); // the times the writeback cache sends at a close
    m.sh('for i in $(seq 1 30); do rm d/f$i; done; mkdir marker2');
    await until(() => mkdirs() === 3);
    t.equal(unlinks(), 30, 'the data path made the 30 unlinks');
    t.equal(setattrs() - written, 0, 'JavaScript saw none of the SETATTRs that follow them (the nodes were free: removed natively)');
    // the kernel may send an UNLINK before the RELEASE of the close just before it: such a node is held still
    m.sh('for i in $(seq 1 30); do echo x > d/g$i; rm d/g$i; done');
    t.equal(unlinks(), 60, 'and 30 more, each right after the close of a new file');
    t.equal(m.sh('ls -A d | wc -l; ls -A ../data/d | wc -l'), '0\n0\n', 'nothing left, through the mount and in the backing directory');
    await until(() => knownOf(m.mnt).nodes <= nodes - 29);
    t.ok(
      knownOf(m.mnt).nodes <= nodes - 29,
      `the node table let the removed files go (${nodes} nodes before, ${knownOf(m.mnt).nodes} after, a marker's included)`,
    );

    const again = m.sh('echo new > d/f1; cat d/f1; [ $(stat -c %i d/f1) = $(stat -c %i ../data/d/f1) ] && echo same inode');
    t.equal(again, 'new\nsame inode\n', 'the name made again is the new file, through the mount and beside it');

    const linked = m.sh('echo linked > d/h && ln d/h d/h2 && stat -c %h d/h2 && rm d/h && stat -c %h d/h2 && cat d/h2 && ls d');
    t.equal(linked, '2\n1\nlinked\nf1\nh2\n', 'a file with two names: one unlinked, the other still stats and reads');

    const open = `
import os
fd = os.open('d/o', os.O_RDWR | os.O_CREAT, 0o644)
os.unlink('d/o')
os.write(fd, b'held open')
st = os.stat('/proc/self/fd/%d' % fd)
os.lseek(fd, 0, 0)
print(st.st_nlink, st.st_size, os.read(fd, 100).decode(), os.path.exists('d/o'))
os.close(fd)
`;
    t.equal(m.sh(`python3 - <<'EOF'\n${open}\nEOF`), '0 9 held open False\n', 'a file held open and unlinked: stat by node, written and read');

    const before = unlinks();
    m.sh('mkdir -m 0755 ro && echo x > ro/f && chmod 0555 ro && mkdir -m 1777 sticky && echo y > sticky/root-file');
    const refused = m.shFails('rm -f ro/f', { user: 'nobody' }) + m.shFails('rm -f sticky/root-file', { user: 'nobody' });
    t.match(refused, /Permission denied[\s\S]*Operation not permitted/, 'another user: a read-only directory refuses (EACCES), a sticky one too (EPERM)');
    t.equal(m.sh('cat ro/f sticky/root-file'), 'x\ny\n', 'both files still there');
    t.equal(m.shFails('rm d/absent'), "rm: cannot remove 'd/absent': No such file or directory\n", 'an absent name: ENOENT');
    t.equal(unlinks(), before, 'none of those reached the data path as an unlink');
    m.sh('head -c 20000000 /dev/zero > d/big && ln d/big d/big2 && rm d/big');
    t.equal(unlinks(), before + 1, 'a large file with another name: made by the data path (no blocks freed)');
    m.sh('rm d/big2');
    t.equal(unlinks(), before + 1, 'its last name: left to JavaScript (the unlinkat frees 20 MB of blocks)');

    fs.writeFileSync(path.join(m.backing, 'd', 'beside'), 'made beside the mount');
    t.equal(m.sh('rm d/beside && ls d'), 'f1\nh2\n', 'a name made beside the mount is removed through it');

    // the reports of unlinks that left their file unreachable wait for JavaScript's next wake-up (its 10 ms
    // timer, or a request it must answer), through io_uring queues as through /dev/fuse readers
    m.sh('mkdir u && for i in $(seq 1 300); do : > u/f$i; done');
    const urgent = () => statsOf(m.mnt).dataPath?.urgentWakes ?? Number.NaN;
    const quiet = urgent();
    const madeBefore = unlinks();
    m.sh(`python3 -c 'import os\nfor i in range(1, 301): os.unlink("u/f%d" % i)'`);
    const woken = urgent() - quiet;
    t.equal(unlinks(), madeBefore + 300, 'the data path made the 300 unlinks of one process');
    t.ok(woken < 30, `JavaScript was asked to wake at once ${woken} times for them`);

    // the data path holds each file open (O_PATH) across its unlinkat and closes it after the reply
    const fds = (): number => fs.readdirSync(`/proc/${m.child.pid}/fd`).length;
    const settledFds = async (): Promise<number> => {
      let last = fds();
      for (let i = 0; i < 50; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const now = fds();
        if (now === last) break;
        last = now;
      }
      return last;
    };
    m.sh('mkfifo d/p && ln -s nowhere d/s && for i in $(seq 1 50); do echo $i > d/k$i; done');
    const held = await settledFds();
    const made = unlinks();
    m.sh('rm d/p d/s && for i in $(seq 1 50); do rm d/k$i; done');
    t.equal(unlinks(), made + 52, 'a FIFO, a symlink and 50 files: unlinked by the data path');
    const left = await settledFds();
    t.ok(left <= held + 5, `and no descriptor is left behind (${held} before the 52 unlinks, ${left} after)`);
    t.equal(m.sh('ls d; ls ../data/d'), 'f1\nh2\nf1\nh2\n', 'all 52 gone, through the mount and in the backing directory');
  });
}

// A file open for the data path has its attributes listed through that handle (flistxattr), not by its name:
// one open and unlinked still has them listed natively.
test('kernel transport (data path): GETXATTR of an open file with no name left is answered by listing through its handle', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel']);
  m.sh('mkdir d && echo x > d/seen');
  const lists = () => statsOf(m.mnt).dataPath?.xattrLists ?? 0;
  const learn = `
import os
try:
    os.getxattr('d/seen', 'user.none')
except OSError as e:
    print(e.errno)
`;
  t.equal(m.sh(`python3 - <<'EOF'\n${learn}\nEOF`), '61\n', 'user.none: absent (JavaScript learns the name)');
  const before = lists();
  const held = `
import os
fd = os.open('d/held', os.O_RDWR | os.O_CREAT, 0o644)
os.unlink('d/held')
try:
    os.getxattr('/proc/self/fd/%d' % fd, 'user.none')
except OSError as e:
    print(e.errno)
os.close(fd)
`;
  t.equal(m.sh(`python3 - <<'EOF'\n${held}\nEOF`), '61\n', 'the unlinked open file: ENODATA');
  t.equal(lists() - before, 1, 'the data path listed its attributes (through the handle: it has no name)');
});

// A read-only storage is never written by the data path, even through a mount remounted read-write (the
// kernel then sends UNLINK and CREATE): they go to JavaScript, whose storage refuses them (EROFS).
test('kernel transport (data path): a read-only mount remounted read-write still changes nothing', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--read-only']);
  const backing = m.backing;
  fs.mkdirSync(path.join(backing, 'd'));
  fs.writeFileSync(path.join(backing, 'd', 'f'), 'kept\n');
  m.sh('ls d > /dev/null && cat d/f > /dev/null');
  execFileSync('mount', ['-i', '-o', 'remount,rw', m.mnt]);
  t.match(m.shFails('rm d/f'), /Read-only file system/, 'rm: EROFS');
  t.match(m.shFails('echo new > d/g'), /Read-only file system/, 'a new file: EROFS');
  t.deepEqual(fs.readdirSync(path.join(backing, 'd')), ['f'], 'the backing directory as it was');
});

// A CREATE in an attached directory without a default ACL has its file made by the data path (openat and
// statx on its thread), JavaScript answering with that file (native/src/fuse/data-path.cc ServeCreate): the
// caller's umask applied, the file the caller's (chowned by JavaScript), written and read through the
// handle; a directory with a default ACL, and a mode the mount's own umask would cut, go to JavaScript whole.
for (const [how, args, uring] of [
  ['data path, writeback cache', ['--fuse-uring', 'off', '--writeback-cache'], false],
  ['data path, io_uring queues', ['--fuse-uring', 'on', '--no-writeback-cache'], true],
] as Array<[string, string[], boolean]>) {
  test(`kernel transport (${how}): a CREATE's file is made by the data path, JavaScript answering with it`, async (t) => {
    if (uring && !switchUring(t, true)) {
      t.skip('this kernel has no FUSE over io_uring');
      return;
    }
    const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--allow-other', ...args]);
    // made here: answered here (with a slot JavaScript gave) or by JavaScript
    const answered = () => statsOf(m.mnt).dataPath?.answeredCreates ?? 0;
    const creates = () => (statsOf(m.mnt).dataPath?.creates ?? 0) + answered();
    m.sh('mkdir -m 1777 d && ls d');
    const start = creates();
    const answeredStart = answered();
    m.sh('umask 022 && for i in $(seq 1 20); do echo $i > d/c$i; done');
    t.equal(creates() - start, 20, 'the data path made the 20 files');
    t.equal(answered() - answeredStart, 20, 'and answered their CREATEs');
    t.equal(m.sh('cat d/c7 d/c20; stat -c %a d/c1'), '7\n20\n644\n', 'their content, and the umask applied (0666 & ~022)');
    t.equal(
      m.sh('for i in $(seq 1 20); do [ $(stat -c %i d/c$i) = $(stat -c %i ../data/d/c$i) ] && echo same; done | wc -l'),
      '20\n',
      'each name is the backing file',
    );
    const handle = `
import os
fd = os.open('d/p', os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
os.write(fd, b'through the handle')
os.lseek(fd, 0, 0)
print(oct(os.fstat(fd).st_mode & 0o7777), os.read(fd, 100).decode())
os.fsync(fd)
os.close(fd)
try:
    os.open('d/p', os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
except FileExistsError:
    print('EEXIST')
`;
    t.equal(
      m.sh(`umask 077 && python3 - <<'EOF'\n${handle}\nEOF`),
      '0o600 through the handle\nEEXIST\n',
      'O_EXCL, mode 0640 under umask 077, written and read back',
    );
    t.equal(creates() - start, 21, 'made by the data path too');

    m.sh('umask 022 && echo mine > d/nobody-file', { user: 'nobody' });
    t.equal(m.sh('stat -c "%U %a" d/nobody-file ../data/d/nobody-file; cat d/nobody-file'), 'nobody 644\nnobody 644\nmine\n', "another user's file is theirs");
    t.equal(creates() - start, 22, 'made by the data path, chowned for the caller');
    t.equal(answered() - answeredStart, 22, 'answered there too');
    m.sh('mkdir -m 2777 g && chgrp daemon g');
    m.sh('umask 022 && echo x > g/f', { user: 'nobody' });
    t.equal(m.sh('stat -c "%U %G" g/f'), 'nobody daemon\n', "in a set-group-ID directory, the directory's group");

    const acl = spawnSync('setfacl', ['-d', '-m', 'u::rwx,g::rwx,o::rwx', path.join(m.mnt, 'd')], { encoding: 'utf8' });
    if (acl.status === 0) {
      const before = creates();
      m.sh('umask 022 && echo acl > d/with-acl');
      t.equal(m.sh('stat -c %a d/with-acl'), '666\n', 'a directory with a default ACL: the ACL, not the umask');
      t.equal(creates(), before, 'left to JavaScript');
      m.sh('setfacl -k d');
    } else t.comment(`no default ACLs here: ${acl.stderr.trim()}`);
    const before = creates();
    m.sh('umask 0 && echo wide > d/wide');
    t.equal(m.sh('stat -c %a d/wide ../data/d/wide'), '666\n666\n', "a mode the mount's own umask (022) would cut: exact");
    t.equal(creates(), before, 'left to JavaScript');
  });
}

// A CREATE the data path answers itself (data-path.cc AnswerCreate, mount/kernel/create-slots.ts): the kernel
// has the file open before JavaScript has taken it for the storage. Requests JavaScript serves on the new
// handle right after (a truncate through it, a rename, an unlink) wait for that, and the file's size as the
// storage knows it is the one the data path's writes left (a truncate and a write past the end after it);
// the storage's descriptors and the data path's own are all closed after the last close.
for (const [how, args, uring] of [
  ['data path, writeback cache', ['--fuse-uring', 'off', '--writeback-cache'], false],
  ['data path, io_uring queues', ['--fuse-uring', 'on', '--no-writeback-cache'], true],
] as Array<[string, string[], boolean]>) {
  test(`kernel transport (${how}): a CREATE answered by the data path is taken by the storage before anything else`, async (t) => {
    if (uring && !switchUring(t, true)) {
      t.skip('this kernel has no FUSE over io_uring');
      return;
    }
    const m = await withMount(t, 'io_uring', ['--transport', 'kernel', ...args]);
    const answered = () => statsOf(m.mnt).dataPath?.answeredCreates ?? 0;
    m.sh('mkdir d && ls d');
    const start = answered();
    const script = `
import os
for i in range(40):
    fd = os.open('d/t%d' % i, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b'a' * 5000)
    os.ftruncate(fd, 3000)
    os.pwrite(fd, b'tail', 6000)
    size = os.fstat(fd).st_size
    os.close(fd)
    if size != 6004: print('t%d: %d bytes' % (i, size))
print('done')
`;
    t.equal(m.sh(`python3 - <<'EOF'\n${script}\nEOF`), 'done\n', 'written, truncated through the new handle, written past the end: 6,004 bytes each');
    const expected = Buffer.concat([Buffer.alloc(3000, 'a'), Buffer.alloc(3000), Buffer.from('tail')]);
    const wrong = Array.from({ length: 40 }, (_, i) => `t${i}`).filter((name) => !fs.readFileSync(path.join(m.backing, 'd', name)).equals(expected));
    t.deepEqual(wrong, [], 'each backing file holds the write, the truncate and the write past the end');
    // read back through the mount from the backing file, not the page cache: as far as the storage's size
    t.equal(
      m.sh('echo 3 > /proc/sys/vm/drop_caches; for i in $(seq 0 39); do cmp d/t$i ../data/d/t$i || echo t$i; done; echo compared'),
      'compared\n',
      'each reads back whole through the mount, its page cache dropped',
    );
    t.ok(answered() - start >= 30, `the data path answered ${answered() - start} of the 40 CREATEs`);

    m.sh('for i in $(seq 1 30); do echo $i > d/r$i && mv d/r$i d/s$i && ln d/s$i d/l$i && rm d/s$i; done');
    t.deepEqual(
      fs
        .readdirSync(path.join(m.backing, 'd'))
        .filter((name) => /^[rsl]\d+$/.test(name))
        .sort(),
      Array.from({ length: 30 }, (_, i) => `l${i + 1}`).sort(),
      'created, renamed, linked and unlinked at once: the links are left',
    );
    t.equal(m.sh('cat d/l17'), '17\n', 'with their content');

    // nothing asks JavaScript anything after these (on the io_uring queues either: their releases wake it)
    const closedFirst = () => statsOf(m.mnt).madeAndClosed ?? 0;
    const closedBefore = closedFirst();
    m.sh('for i in $(seq 1 100); do : > d/e$i; done');
    const openInD = () =>
      fs.readdirSync(`/proc/${m.child.pid}/fd`).filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/${m.child.pid}/fd/${fd}`).startsWith(`${path.join(m.backing, 'd')}/`);
        } catch {
          return false;
        }
      }).length;
    let open = openInD();
    for (let i = 0; i < 100 && open > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      open = openInD();
    }
    t.equal(open, 0, 'no descriptor of a file in d is left open in the mount process after the closes');
    t.equal(m.sh('ls d | grep -c "^e"'), '100\n', '100 empty files');
    // a create and close both reported in one wake-up: JavaScript learns the node, the storage never takes
    // the file (operations.ts takeReleased); written ones keep their size and bytes
    t.ok(closedFirst() - closedBefore >= 50, `${closedFirst() - closedBefore} of the 100 were closed before JavaScript heard of them`);
    const writtenBefore = closedFirst();
    m.sh('for i in $(seq 1 50); do echo w$i > d/w$i; done');
    // with the writeback cache the kernel sends the written file's times (SETATTR, JavaScript's) before the
    // RELEASE, so JavaScript has taken the file by then; without it, most are closed first
    if (!args.includes('--writeback-cache')) t.ok(closedFirst() - writtenBefore >= 25, `${closedFirst() - writtenBefore} of 50 written files too`);
    t.equal(
      m.sh('for i in $(seq 1 50); do [ "$(stat -c %i.%s d/w$i)" = "$(stat -c %i.%s ../data/d/w$i)" ] && [ "$(cat d/w$i)" = w$i ] && echo ok; done | wc -l'),
      '50\n',
      'written and closed: each name the backing file, its size and its bytes',
    );
    t.equal(
      m.sh('echo 3 > /proc/sys/vm/drop_caches; cat d/w7 d/w50; : > d/w7; echo again >> d/w7; cat d/w7'),
      'w7\nw50\nagain\n',
      'read back cold, truncated and written again',
    );
    m.sh('cat d/w8 > /dev/null; printf "W8\\n" > ../data/d/w8');
    t.equal(m.sh('cat d/w8'), 'W8\n', 'an open after a same-size change beside the mount reads the new bytes');
    for (let i = 0; i < 100 && openInD() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    t.equal(openInD(), 0, 'no descriptor left after those either');
  });
}

// open(2) with O_CREAT of a name made beside the mount while the kernel keeps its absence (a LOOKUP said
// ENOENT within the entry timeout): the kernel sends CREATE, which finds the name taken and answers ESTALE;
// the kernel then looks the name up again and opens the file there, with its permission checks (O_TRUNC and
// O_APPEND honoured); with O_EXCL it is EEXIST.
test('kernel transport: O_CREAT of a name made beside the mount since the kernel learned it absent opens the file there', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--entry-timeout', '30', '--allow-other']);
  m.sh('mkdir -m 1777 e');
  const beside = (name: string) => fs.writeFileSync(path.join(m.backing, 'e', name), 'beside\n');
  const absent = (name: string) => m.shFails(`cat e/${name}`);
  absent('x');
  beside('x');
  t.equal(m.sh('echo through > e/x && cat e/x'), 'through\n', 'O_CREAT|O_TRUNC: the file there, truncated and written');
  absent('y');
  beside('y');
  t.equal(m.sh('echo more >> e/y && cat e/y'), 'beside\nmore\n', 'O_CREAT|O_APPEND: appended to');
  absent('z');
  beside('z');
  const excl = `
import os
try:
    os.open('e/z', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
except FileExistsError:
    print('EEXIST')
`;
  t.equal(m.sh(`python3 - <<'EOF'\n${excl}\nEOF`), 'EEXIST\n', 'O_CREAT|O_EXCL: EEXIST');
  t.equal(m.sh('cat e/z'), 'beside\n', 'and the file untouched');
  // another user: the open's permission checks stand (root's 0600 file is not theirs to write)
  m.shFails('cat e/private', { user: 'nobody' });
  beside('private');
  fs.chmodSync(path.join(m.backing, 'e', 'private'), 0o600);
  t.match(m.shFails('echo theirs > e/private', { user: 'nobody' }), /Permission denied/, "another user's O_CREAT of root's 0600 file: EACCES");
  t.equal(fs.readFileSync(path.join(m.backing, 'e', 'private'), 'utf8'), 'beside\n', 'the file untouched');
  m.shFails('cat e/dir', { user: 'nobody' });
  fs.mkdirSync(path.join(m.backing, 'e', 'dir'));
  t.match(m.shFails('echo x > e/dir'), /Is a directory/, 'a directory made there: EISDIR');
  t.equal(m.sh('[ $(stat -c %i e/x) = $(stat -c %i ../data/e/x) ] && echo same'), 'same\n', 'the name is the backing file');
});

// Large READs through the mount, each page checked: at offsets up to and past the end, the whole file, then
// read over and over while another descriptor truncates the file and writes the cut part back (every byte a
// read returns must be the file's at its offset; a read may end early). The mount's page cache dropped
// before each read (fadvise DONTNEED), so that the kernel asks the data path.
// Zeros: a read that overlaps a truncate (running when the read began, or begun during it) can return zeros
// past that truncate's cut, on any FUSE server: on libfuse's passthrough_hp too, with and without the
// writeback cache (scripts/zeros-race.c; BENCHMARKS.md "zeros"). The kernel sends SETATTR(size) and only
// after its reply sets i_size and drops the cached pages past the cut (fs/fuse/dir.c fuse_do_setattr); a READ
// the server answers in between, after its truncate, ends at the cut, and the kernel fills the rest of its pages
// with zeros (page_zeroing) without shrinking i_size (fs/fuse/file.c fuse_short_read: with the writeback
// cache a short read is a hole; without it FUSE_I_SIZE_UNSTABLE, set during the truncate, stops
// fuse_read_update_size), so the reader copies zeros up to the old size. So the rule checked: below the
// prefix that returned calls guarantee when the read begins (the file after the last pwrite that returned,
// or the cut of a truncate running) and the cut of any truncate begun during the read, every byte is the
// one written and the read is not short; past it, a read that overlapped a truncate may return zeros (counted
// on stderr); any other byte that differs is wrong.
const LARGE_READS = `
import os, hashlib, random, sys, threading
N = 6 * 1048576 + 12345
data = random.Random(11).randbytes(N)
def drop(fd): os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
fd = os.open('f', os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, data, 0)
os.fsync(fd)
for off in (0, 4096 * 7 + 5, N - 1048576 - 1, N - 300000, N - 4097, N - 1, N, N + 4096):
    drop(fd)
    got = os.pread(fd, 1048576, off)
    print(off - N, len(got), got == data[off:off + 1048576])
drop(fd)
h, off = hashlib.sha256(), 0
while chunk := os.pread(fd, 1048576, off):
    h.update(chunk)
    off += len(chunk)
print('whole', off, h.digest() == hashlib.sha256(data).digest())
# the writer's state (one thread at a time runs Python: each store is seen whole, in order)
w = {'started': 0, 'ended': 0, 'valid': N, 'cuts': {}}
stop, wrong, zeroed, reads = False, [], [0], [0]
def reader():
    r = os.open('f', os.O_RDONLY)
    while not stop:
        drop(r)
        off = 0
        while off < N:
            ended, started, valid = w['ended'], w['started'], w['valid']
            chunk = os.pread(r, 1048576, off)
            now = w['started']
            sure = max(0, min([valid] + [w['cuts'][k] for k in range(started + 1, now + 1)]) - off)
            racing = now != started or ended != started
            reads[0] += 1
            if len(chunk) < min(1048576, sure) or chunk[:sure] != data[off:off + min(len(chunk), sure)]:
                wrong.append((off, len(chunk), sure))
            elif chunk != data[off:off + len(chunk)]:
                if racing and all(a == b or a == 0 for a, b in zip(chunk[sure:], data[off + sure:off + len(chunk)])):
                    zeroed[0] += 1
                else:
                    wrong.append((off, len(chunk), sure))
            if not chunk:
                break
            off += len(chunk)
    os.close(r)
t = threading.Thread(target=reader)
t.start()
i = 0
while i < 40 or (reads[0] <= 40 and i < 400):  # 40 cuts, and more until the reader has read 40 times
    cut = N // 3 + i % 40 * 77777
    w['valid'] = cut
    w['cuts'][i + 1] = cut
    w['started'] = i + 1
    os.ftruncate(fd, cut)
    w['ended'] = i + 1
    os.pwrite(fd, data[cut:], cut)
    w['valid'] = N
    i += 1
stop = True
t.join()
print('reads while cut', reads[0] > 40, 'wrong', len(wrong))
print('reads', reads[0], 'cuts', i, 'zeroed', zeroed[0], 'wrong', wrong[:3], file=sys.stderr)
drop(fd)
print('after', os.fstat(fd).st_size, hashlib.sha256(os.pread(fd, 2 * N, 0)).digest() == hashlib.sha256(data).digest())
`;

const LARGE_EXPECTED = `-6303801 1048576 True
-6275124 1048576 True
-1048577 1048576 True
-300000 300000 True
-4097 4097 True
-1 1 True
0 0 True
4096 0 True
whole 6303801 True
reads while cut True wrong 0
after 6303801 True
`;

// The same rule with far more reads than the script above (a few thousand in 2 s, two readers in parallel,
// the page cache dropped before each 64 KiB read): scripts/zeros-race.c, compiled here. Zeros are only ever
// seen in reads that overlapped a truncate, past its cut (its comment says how each read is judged); with -x
// the cut file is first extended back to its full size, and zeros of that hole are legitimate.
const ZEROS_RACE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'scripts', 'zeros-race.c');
test('kernel transport (data path, writeback cache): reads racing a truncate and the rewrite of the cut part (scripts/zeros-race.c)', async (t) => {
  const bin = path.join(tempDir(t), 'zeros-race');
  const cc = spawnSync('cc', ['-O2', '-pthread', '-o', bin, ZEROS_RACE], { encoding: 'utf8' });
  t.equal(cc.status, 0, `the reproducer compiles ${cc.stderr}`);
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--writeback-cache']);
  for (const extend of [[], ['-x']]) {
    const run = spawnSync(bin, [path.join(m.mnt, 'f'), '-s', '2', '-d', '2', '-l', '65536', ...extend], { encoding: 'utf8', timeout: 60_000 });
    const count = (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(run.stdout)?.[1] ?? -1);
    const how = `${extend.length ? 'cut, extended, rewritten' : 'cut, rewritten'}: ${run.stdout.trim()} ${run.stderr.trim()}`;
    t.equal(run.status, 0, `nothing forbidden, wrong or stale (${how})`);
    t.ok(count('racing a truncate') > 20, 'reads overlapped truncates');
    if (!extend.length) t.equal(count('racing_write_zeros'), 0, 'no zeros in a read that no truncate overlapped');
  }
});

// PERSISTFS_SPLICE_READS (mount/kernel/kernel-mount.ts spliceReads): the copy path, the splice path, and the
// splice path's fallback (each spliced reply read back from its pipe and sent by copy)
const SPLICE_MODES: Array<[string, string, (c: Record<string, number>) => string | undefined]> = [
  ['off', 'by copy', (c) => (c.splicedReads === 0 && c.spliceFallbacks === 0 ? undefined : 'nothing spliced')],
  // a splice the file's cut made short falls back (README): the cuts here race the reads, so once in a while
  // one does (1 of 1,175 seen); a splice path that fell back for most would still fail
  ['', 'by splice', (c) => (c.splicedReads! > 20 && c.spliceFallbacks! * 20 <= c.splicedReads! ? undefined : 'READs spliced, almost none fell back')],
  ['drain', 'spliced, then read back and copied', (c) => (c.splicedReads === 0 && c.spliceFallbacks! > 20 ? undefined : 'every spliced READ fell back')],
];

for (const [knob, how, check] of SPLICE_MODES) {
  test(`kernel transport (data path): large READs ${how}, at the end, past it, and while the file is cut and grown again`, async (t) => {
    const before = process.env.PERSISTFS_SPLICE_READS;
    process.env.PERSISTFS_SPLICE_READS = knob;
    t.teardown(() => {
      if (before === undefined) delete process.env.PERSISTFS_SPLICE_READS;
      else process.env.PERSISTFS_SPLICE_READS = before;
    });
    const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--fuse-uring', 'off', '--log-level', 'info']);
    t.equal(m.sh(`python3 - <<'EOF'\n${LARGE_READS}\nEOF`), LARGE_EXPECTED, 'every byte read is the one written');
    await stopMount(m.child, m.mnt);
    const counters = /"native":(\{.*?\})/.exec(m.log());
    const native = counters ? (JSON.parse(counters[1]!) as Record<string, number>) : {};
    const summary = `spliced ${native.splicedReads}, fell back ${native.spliceFallbacks}, uncached ${native.spliceUncached}, pipes busy ${native.splicePipesBusy}`;
    t.equal(check(native), undefined, `${summary} (${how})`);
  });
}

// A name JavaScript gave a node (CREATE, LOOKUP, ...) in an attached directory is known to the data path:
// its next LOOKUPs (after the kernel dropped its dentries, or its inode and so the node) are answered
// natively with that node while the statx finds that inode (native/src/fuse/node-table.h, "Known names").
// The lookups it answers count: a FORGET drops a node only once its total is zero, so files stay reachable
// and a removed one is dropped in the end (no leak).
const dropCaches = 'sync; echo 2 > /proc/sys/vm/drop_caches';
/** `persistfs stats`' node count and known-lookup counter of the mount at `mnt`. */
function knownOf(mnt: string): { nodes: number; knownLookups: number; knownNames: number } {
  const stats = statsOf(mnt);
  return { nodes: stats.nodes ?? -1, knownLookups: stats.dataPath?.knownLookups ?? 0, knownNames: stats.dataPath?.knownNames ?? 0 };
}
async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !what(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
}
for (const [how, args, uring] of [
  ['data path', ['--fuse-uring', 'off'], false],
  ['data path, io_uring queues', ['--fuse-uring', 'on'], true],
] as Array<[string, string[], boolean]>) {
  test(`kernel transport (${how}): LOOKUPs of a name JavaScript gave a node are answered natively; the node's lookups all come back`, async (t) => {
    if (uring && !switchUring(t, true)) {
      t.skip('this kernel has no FUSE over io_uring');
      return;
    }
    const m = await withMount(t, 'io_uring', ['--transport', 'kernel', '--debug', '--log-level', 'info', ...args]);
    m.sh('mkdir d && echo kept > d/g && stat d >/dev/null');
    const base = knownOf(m.mnt);
    m.sh('echo one > d/f && stat d/f >/dev/null');
    const lookups = () => [...m.log().matchAll(/"op":"(LOOKUP|MKDIR)","unique":\d+,"node":(\d+)/g)].map((match) => match[1]);
    await until(() => lookups().includes('MKDIR'));
    const before = { ...knownOf(m.mnt), javascript: lookups().filter((op) => op === 'LOOKUP').length };
    const inodes = m.sh(`for i in $(seq 1 20); do ${dropCaches}; stat -c %i d/f; stat -c %i d/g; done | sort -u | wc -l; cat d/f d/g`);
    t.equal(inodes, '2\none\nkept\n', '20 rounds of stat of two files, dentries and inodes dropped before each: the same two files');
    m.sh('mkdir marker'); // a request JavaScript answers: once it is logged, so are the LOOKUPs before it
    await until(() => lookups().filter((op) => op === 'MKDIR').length >= 2);
    const after = knownOf(m.mnt);
    const javascript = lookups().filter((op) => op === 'LOOKUP').length - before.javascript;
    t.ok(after.knownLookups - before.knownLookups >= 40, `the data path answered ${after.knownLookups - before.knownLookups} LOOKUPs with a known node`);
    t.ok(javascript <= 2, `JavaScript saw ${javascript} of the 60 LOOKUPs (d, f and g, 20 times)`);

    // an open file stays reachable while its name is looked up natively and its inode dropped around it
    const held = m.sh(`python3 - <<'EOF'
import os, subprocess
fd = os.open('d/g', os.O_RDONLY)
for i in range(5):
    subprocess.run(['sh', '-c', '${dropCaches}'])
    os.stat('d/g')
print(os.pread(fd, 10, 0).decode().strip(), os.fstat(fd).st_nlink)
os.close(fd)
EOF`);
    t.equal(held, 'kept 1\n', 'a file held open through it reads and stats');

    m.sh(`rm d/f && ${dropCaches}`);
    await until(() => knownOf(m.mnt).nodes <= base.nodes + 1); // + marker
    t.equal(knownOf(m.mnt).nodes, base.nodes + 1, 'the removed file was dropped by the node table (the marker directory is the one more)');
    t.equal(
      m.sh('cat d/g; stat d/f 2>&1 || true').replace(/.*No such file.*\n/, 'ENOENT\n'),
      'kept\nENOENT\n',
      'the file still there reads; the removed one is absent',
    );
  });
}

// Names that change after the data path knew them: through the mount (rename, rename over, exchange,
// unlink and create again) and beside it (a file renamed over the name in the backing directory). Each
// LOOKUP after the change (the kernel's dentries dropped first) finds the file that is there now.
test('kernel transport (data path): known names renamed, replaced, exchanged, removed, or changed beside the mount name the file there now', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel']);
  const cat = (names: string) => m.sh(`${dropCaches}; cat ${names} | tr '\\n' ' '`);
  const inode = (name: string) => m.sh(`${dropCaches}; stat -c %i ${name}`).trim();
  m.sh('mkdir d && echo A > d/a && echo B > d/b && echo C > d/c');
  t.equal(cat('d/a d/b d/c'), 'A B C ', 'three files');
  const before = knownOf(m.mnt).knownLookups;
  t.equal(cat('d/a d/b d/c'), 'A B C ', 'looked up again (known)');
  t.ok(knownOf(m.mnt).knownLookups > before, 'answered with their nodes by the data path');
  m.sh('mv d/a d/x');
  t.equal(cat('d/x'), 'A ', 'a renamed: x is A');
  t.ok(m.sh(`${dropCaches}; stat d/a 2>&1 || true`).includes('No such file'), 'and a is absent');
  m.sh('mv d/b d/x');
  t.equal(cat('d/x'), 'B ', 'b renamed over x: x is B');
  m.sh(`python3 -c "import ctypes; libc = ctypes.CDLL(None, use_errno=True); assert libc.renameat2(-100, b'd/x', -100, b'd/c', 2) == 0, ctypes.get_errno()"`);
  t.equal(cat('d/x d/c'), 'C B ', 'x and c exchanged');
  m.sh('rm d/c && echo E > d/c');
  t.equal(cat('d/c'), 'E ', 'c removed and made again');
  fs.writeFileSync(path.join(m.backing, 'd', 'new'), 'F\n');
  fs.renameSync(path.join(m.backing, 'd', 'new'), path.join(m.backing, 'd', 'c'));
  t.equal(cat('d/c'), 'F ', 'c replaced beside the mount: the new file');
  t.equal(inode('d/c'), String(fs.statSync(path.join(m.backing, 'd', 'c')).ino), 'with its inode number');
  fs.rmSync(path.join(m.backing, 'd', 'x'));
  t.ok(m.sh(`${dropCaches}; stat d/x 2>&1 || true`).includes('No such file'), 'x removed beside the mount: absent');
  t.equal(m.sh('ls d | tr "\\n" " "'), 'c ', 'the directory holds what the backing directory holds');
});

// The page cache across opens: a file rewritten beside the mount (same size) is read anew at its next open;
// one written through the mount keeps its cache (no new READ for what the kernel holds).
test('kernel transport (data path): an open after a change beside the mount reads the new bytes, not the page cache', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel']);
  m.sh('mkdir d && printf AAAA > d/f');
  t.equal(m.sh('cat d/f'), 'AAAA', 'written and read through the mount (in the page cache)');
  const backing = path.join(m.backing, 'd', 'f');
  fs.writeFileSync(backing, 'BBBB'); // same size, beside the mount
  fs.utimesSync(backing, new Date(1_000_000), new Date(1_000_000)); // a time the mount has not seen, however coarse the clock
  t.equal(m.sh('cat d/f'), 'BBBB', 'the next open reads what the backing file holds');
  m.sh('printf CCCC > d/f');
  t.equal(m.sh('cat d/f'), 'CCCC', 'written through the mount: read as written');
});

// ext4 gives a new file the inode number of one just deleted: a file removed beside the mount and another made
// there at once can carry the removed one's number. The mount tells them apart by their birth times; taken as
// the node of the removed file, the new one would show its size and its open would look at the old path.
test('kernel transport (data path): a file made beside the mount with the inode number of one removed there is a new file', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'kernel']);
  const dir = path.join(m.backing, 'd');
  m.sh('mkdir d');
  let reused = '';
  for (let attempt = 0; attempt < 20 && !reused; attempt++) {
    const f = `f${attempt}`;
    m.sh(`printf "the removed file, longer than the new one" > d/${f} && stat d/${f} >/dev/null && cat d/${f} >/dev/null`);
    const removed = fs.statSync(path.join(dir, f)).ino;
    fs.rmSync(path.join(dir, f));
    fs.writeFileSync(path.join(dir, 'g'), 'new\n');
    if (fs.statSync(path.join(dir, 'g')).ino === removed) reused = f;
    else fs.rmSync(path.join(dir, 'g'));
  }
  if (!reused) {
    t.skip('the backing file system gave no inode number twice in 20 attempts');
    return;
  }
  t.equal(m.sh('stat -c %s d/g'), '4\n', `g made beside the mount with ${reused}'s inode number: its own size`);
  t.equal(m.sh('cat d/g'), 'new\n', 'and its own bytes');
  t.ok(m.sh(`${dropCaches}; cat d/${reused} 2>&1 || true`).includes('No such file'), `${reused}, removed beside the mount, is absent`);
  // the same name, the same inode number, another file: its bytes, not the page cache of the removed one
  m.sh('printf "the first h, longer than the second" > d/h && cat d/h >/dev/null');
  const first = fs.statSync(path.join(dir, 'h')).ino;
  fs.rmSync(path.join(dir, 'h'));
  fs.writeFileSync(path.join(dir, 'h'), 'second h\n');
  if (fs.statSync(path.join(dir, 'h')).ino === first) {
    t.equal(m.sh(`${dropCaches}; cat d/h`), 'second h\n', 'h made again beside the mount with its inode number: the new bytes');
    t.equal(m.sh('stat -c %s d/h'), '9\n', 'and the new size');
  }
});
