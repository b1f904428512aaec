// The mount exercised with the Unix tools people use (and SQLite), in both IO modes, each on its own fresh mount.
import path from 'node:path';
import test from 'tape';

import { tempDir } from '../helpers.js';
import { withMount } from './mount-helper.js';

const MODES = ['io_uring', 'sync'];

for (const ioMode of MODES) {
  test(`cp -r of a tree, sha256sum equal both ways [${ioMode}]`, async (t) => {
    const src = tempDir(t, 'persistfs-cp-src-');
    const back = path.join(tempDir(t, 'persistfs-cp-back-'), 'tree');
    const m = await withMount(t, ioMode);
    m.sh(`mkdir -p ${src}/tree/empty-dir ${src}/tree/sub; : > ${src}/tree/empty; printf x > ${src}/tree/one;
          head -c 4096 /dev/urandom > ${src}/tree/sub/4k; head -c 131073 /dev/urandom > ${src}/tree/sub/128k+1;
          head -c 67108864 /dev/urandom > ${src}/tree/64m`);
    m.sh(`cp -r ${src}/tree ./tree`);
    const sums = (dir: string) => m.sh(`cd ${dir} && find . -type f | sort | xargs sha256sum`);
    t.equal(sums('tree'), sums(`${src}/tree`), 'into the mount: every file has the same sha256');
    t.equal(m.sh('ls -A tree/empty-dir'), '', 'the empty directory came along');
    t.equal(m.sh('stat -c %s tree/empty tree/one tree/sub/4k tree/sub/128k+1 tree/64m'), '0\n1\n4096\n131073\n67108864\n', 'sizes');
    m.sh(`cp -r tree ${back}`);
    t.equal(sums(back), sums(`${src}/tree`), 'out of the mount: the same sha256 again');
    t.equal(m.sh(`cmp ${m.backing}/tree/64m ${src}/tree/64m && echo same`), 'same\n', 'the backing store holds the same bytes');
  });

  test(`dd, cat, truncate, mv, rm -rf, mkdir -p, ls -la [${ioMode}]`, async (t) => {
    const m = await withMount(t, ioMode);
    m.sh('printf 0123456789 > f');
    m.sh('printf AB | dd of=f bs=1 seek=3 conv=notrunc status=none');
    t.equal(m.sh('cat f'), '012AB56789', 'dd seek with conv=notrunc writes in place');
    m.sh('printf Z | dd of=f bs=1 seek=12 conv=notrunc status=none');
    t.equal(m.sh('od -An -c f | tr -s " "'), ' 0 1 2 A B 5 6 7 8 9 \\0 \\0 Z\n', 'dd past the end leaves a hole of zeros');
    m.sh('truncate -s 4 f');
    t.equal(m.sh('cat f'), '012A', 'truncate -s down');
    m.sh('truncate -s 10000 f');
    t.equal(m.sh('stat -c %s f'), '10000\n', 'truncate -s up');
    t.equal(m.sh('tail -c 3 f | od -An -tx1'), ' 00 00 00\n', 'with zeros');
    m.sh('mkdir -p a/b/c && echo one > a/b/c/x && mkdir other');
    m.sh('mv a/b/c/x a/b/c/y');
    m.sh('mv a/b/c/y other/');
    t.equal(m.sh('cat other/y'), 'one\n', 'mv inside and across directories');
    m.sh('echo two > other/z && mv other/z other/y');
    t.equal(m.sh('cat other/y; ls other'), 'two\ny\n', 'mv onto an existing file replaces it');
    m.sh('mv a renamed');
    t.equal(m.sh('ls renamed/b'), 'c\n', 'mv of a directory');
    const listing = m.sh('ls -la');
    t.match(listing, /^d.* \.$/m, 'ls -la shows .');
    t.match(listing, /^-rw-r--r-- 1 root root +10000 .* f$/m, 'ls -la shows the file with mode, owner, size');
    m.sh('rm -rf renamed other');
    t.equal(m.sh('ls'), 'f\n', 'rm -rf removes whole trees');
  });

  test(`chmod, chown, touch -d, ln -s, readlink, ln [${ioMode}]`, async (t) => {
    const m = await withMount(t, ioMode);
    m.sh('echo data > f && mkdir d');
    m.sh('chmod 640 f && chmod 711 d');
    t.equal(m.sh('stat -c %a f d'), '640\n711\n', 'chmod seen by stat');
    m.sh('chown nobody:nogroup f');
    t.equal(m.sh('stat -c %U:%G f'), 'nobody:nogroup\n', 'chown seen by stat');
    t.equal(m.sh(`stat -c %U:%G ${m.backing}/f`), 'nobody:nogroup\n', 'and in the backing store');
    m.sh('touch -d "2001-02-03 04:05:06" f');
    t.equal(m.sh('date -u -r f +%FT%T'), m.sh('TZ=UTC date -u -d "@$(date -d "2001-02-03 04:05:06" +%s)" +%FT%T'), 'touch -d sets the time');
    m.sh('ln -s f link && ln -s ../outside dangling');
    t.equal(m.sh('readlink link dangling'), 'f\n../outside\n', 'ln -s and readlink');
    t.equal(m.sh('cat link'), 'data\n', 'reading through a symlink');
    m.sh('ln f hard');
    t.equal(m.sh('stat -c %h hard; cat hard'), '2\ndata\n', 'ln makes a hard link');
    t.equal(m.sh('stat -c %i hard'), m.sh('stat -c %i f'), 'one inode for both names');
  });

  test(`tar round trip and git in the mount [${ioMode}]`, async (t) => {
    const m = await withMount(t, ioMode);
    m.sh('mkdir -p src/deep/er && seq 1 100000 > src/numbers && echo hi > src/deep/er/hi && ln -s numbers src/link');
    m.sh('tar cf archive.tar src && mkdir out && tar xf archive.tar -C out');
    t.equal(
      m.sh('cd out/src && find . | sort && sha256sum numbers deep/er/hi && readlink link'),
      m.sh('cd src && find . | sort && sha256sum numbers deep/er/hi && readlink link'),
      'tar c then x gives the same tree',
    );
    m.sh(
      'git init -q repo && cd repo && git config user.email t@example.com && git config user.name Test && ' +
        'seq 1 1000 > file && git add file && git commit -qm first && echo more >> file && git commit -qam second',
    );
    t.equal(m.sh('cd repo && git log --format=%s'), 'second\nfirst\n', 'git init, add, commit and log');
    t.equal(m.sh('cd repo && git fsck --strict 2>&1 && git status --porcelain'), '', 'git fsck finds the repository sound');
  });

  test(`sqlite: a database in rollback-journal and WAL modes, two writers at once, integrity_check ok [${ioMode}]`, async (t) => {
    const m = await withMount(t, ioMode);
    // each writer: 300 small transactions; WAL mode shares its index through a mmap'ed -shm file and
    // serialises writers by POSIX locks, both through the mount
    const writer = (db: string, id: number) =>
      `python3 -c "
import sqlite3
c = sqlite3.connect('${db}', timeout=60)
for i in range(300):
    with c:
        c.execute('insert into t (w, v) values (?, ?)', (${id}, 'x' * (i % 300)))
c.close()"`;
    for (const mode of ['delete', 'wal']) {
      const db = `${mode}.db`;
      m.sh(
        `python3 -c "import sqlite3; c = sqlite3.connect('${db}'); c.execute('pragma journal_mode=${mode}'); c.execute('create table t (k integer primary key, w, v)'); c.commit()"`,
      );
      m.sh(`${writer(db, 1)} & ${writer(db, 2)} & wait`);
      const check = `python3 -c "import sqlite3; c = sqlite3.connect('${db}'); print(c.execute('pragma journal_mode').fetchone()[0], c.execute('select count(*), count(distinct w) from t').fetchone(), c.execute('pragma integrity_check').fetchone()[0])"`;
      t.equal(m.sh(check), `${mode} (600, 2) ok\n`, `${mode}: both writers' 600 rows, the database intact`);
    }
  });

  test(`8 parallel writers to 8 files [${ioMode}]`, async (t) => {
    const m = await withMount(t, ioMode);
    m.sh(
      'for i in 1 2 3 4 5 6 7 8; do (for j in $(seq 1 200); do echo "writer $i line $j"; done > w$i; ' +
        'head -c 3000000 /dev/zero | tr "\\0" "$i" >> w$i) & done; wait',
    );
    for (let i = 1; i <= 8; i++) {
      const expected = m.sh(`(for j in $(seq 1 200); do echo "writer ${i} line $j"; done; head -c 3000000 /dev/zero | tr "\\0" "${i}") | sha256sum`);
      t.equal(m.sh(`sha256sum < w${i}`), expected, `file ${i} has exactly its writer's data`);
    }
  });
}

test('touch without a date sets the time to now (UTIME_NOW through the binding)', async (t) => {
  const m = await withMount(t, 'io_uring');
  m.sh('echo x > f && touch -d "2001-02-03" f && touch f');
  const age = Number(m.sh('echo $(( $(date +%s) - $(stat -c %Y f) ))'));
  t.ok(age >= 0 && age < 60, `the modification time is now (${age} s ago)`);
});

test('open(2) with O_RDONLY | O_TRUNC empties the file, as a local file system does', async (t) => {
  const m = await withMount(t, 'io_uring');
  m.sh('printf hello > f');
  m.sh(`python3 -c "import os; os.close(os.open('f', os.O_RDONLY | os.O_TRUNC))"`);
  t.equal(m.sh('stat -c %s f').trim(), '0', 'emptied by the read-only open (it was EBADF, the file left as it was)');
  m.sh('printf again >> f');
  t.equal(m.sh('cat f'), 'again', 'and written after it');
});

test('large writes reach the storage in 128 KiB requests, not 4 KiB ones (big_writes, fuse-native)', async (t) => {
  const m = await withMount(t, 'io_uring', ['--debug', '--transport', 'fuse-native']);
  m.sh('dd if=/dev/zero of=big bs=1M count=4 status=none && sync big');
  // the debug output reaches this process through a pipe, after the shell command returned
  for (let i = 0; i < 200 && (m.log().match(/write\[\d+\] \d+ bytes to/g) ?? []).length < 32; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const sizes = [...m.log().matchAll(/write\[\d+\] (\d+) bytes to/g)].map((match) => Number(match[1]));
  t.ok(sizes.length > 0, `libfuse reported ${sizes.length} write requests`);
  t.ok(
    sizes.every((size) => size === 131072),
    `every write request is 128 KiB (${[...new Set(sizes)].join(', ')})`,
  );
  t.equal(m.sh('stat -c %s big'), '4194304\n', 'and the file is whole');
});

test('extended attributes through the mount: setfattr, getfattr, removal', async (t) => {
  const m = await withMount(t, 'io_uring');
  m.sh('echo x > f && mkdir d');
  m.sh('setfattr -n user.kind -v segment f && setfattr -n user.owner -v ingest d');
  t.equal(m.sh('getfattr --only-values -n user.kind f'), 'segment', 'a file attribute set and read back');
  t.equal(m.sh('getfattr --only-values -n user.owner d'), 'ingest', 'a directory attribute');
  t.equal(m.sh(`getfattr --only-values -n user.kind ${m.backing}/f`), 'segment', 'kept by the backing store');
  t.match(m.sh('getfattr -d f'), /user\.kind="segment"/, 'listed');
  m.sh('setfattr -x user.kind f');
  t.match(m.shFails('getfattr -n user.kind f'), /No such attribute/, 'removed: ENODATA as the shell reports it');
});

test('--no-xattr: extended attributes are not served (EOPNOTSUPP), everything else works', async (t) => {
  const m = await withMount(t, 'io_uring', ['--no-xattr']);
  m.sh('echo x > f');
  t.match(m.shFails('setfattr -n user.kind -v segment f'), /Operation not supported/, 'setfattr: EOPNOTSUPP');
  m.sh('dd if=/dev/zero of=f bs=4k count=100 status=none');
  t.equal(m.sh('stat -c %s f'), '409600\n', 'writes work');
});

test('xattrs: a list longer than the caller buffer is ERANGE, not a crash; hard links share attributes', async (t) => {
  const m = await withMount(t, 'io_uring');
  m.sh('echo x > f && for i in $(seq 1 40); do setfattr -n user.attribute-number-$i -v $i f; done');
  const result = m.sh(`python3 -c "
import os, errno
try:
    os.listxattr('f')
    print('listed')
except OSError as e:
    print(errno.errorcode[e.errno])
print(len(os.listxattr('f')))"`);
  t.match(result, /^(listed|ERANGE)\n40\n$/, `listxattr answers (${result.trim().replace('\n', ', ')}) and the mount is alive`);
  m.sh('echo y > a && ln a b');
  t.match(m.shFails('getfattr -n user.k b'), /No such attribute/, 'b has no attribute yet');
  m.sh('setfattr -n user.k -v 1 a');
  t.equal(m.sh('getfattr --only-values -n user.k b'), '1', 'set through a, seen through b at once');
});

test('a file rewritten through one hard link reads new through the other once attributes expire (fuse-native gives each name its own node)', async (t) => {
  const m = await withMount(t, 'io_uring', ['--attr-timeout', '0.2']);
  m.sh('echo one > a && ln a b && cat b > /dev/null');
  // the same size: only the modification time tells the other name's cached pages from the file's
  m.sh('sleep 0.05 && echo two > a');
  // the other name's cached attributes may stay for the attribute timeout, its pages not beyond
  m.sh('sleep 0.5');
  t.equal(m.sh('cat b'), 'two\n', 'the other name reads what was written');
});
