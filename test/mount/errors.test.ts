// The errors a user meets in the mount, with the errno the shell reports, and the mount's own refusals
// (bad mount points, a backing directory inside the mount point), which change nothing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { mountDirs, startMountProcess, withMount, writebackCacheOf } from './mount-helper.js';

const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../mount/cli.js');

for (const ioMode of ['io_uring', 'sync']) {
  test(`ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, ENAMETOOLONG, EACCES as the shell reports them [${ioMode}]`, async (t) => {
    const m = await withMount(t, ioMode, ['--allow-other']);
    m.sh('mkdir d && echo x > d/f && echo secret > private && chmod 600 private && chmod 755 .');
    t.match(m.shFails('cat missing'), /No such file or directory/, 'ENOENT: cat of a missing file');
    t.match(m.shFails('mkdir d'), /File exists/, 'EEXIST: mkdir of an existing directory');
    t.match(m.shFails('ln -s x d/f'), /File exists/, 'EEXIST: ln -s onto an existing name');
    t.match(m.shFails('cat d/f/x'), /Not a directory/, 'ENOTDIR: a path through a file');
    t.match(m.shFails('echo y > d'), /Is a directory/, 'EISDIR: writing to a directory');
    t.match(m.shFails('rmdir d'), /Directory not empty/, 'ENOTEMPTY: rmdir of a non-empty directory');
    t.match(m.shFails(`touch ${'n'.repeat(256)}`), /File name too long/, 'ENAMETOOLONG: a 256-byte name');
    t.match(m.shFails('cat private', { user: 'nobody' }), /Permission denied/, 'EACCES: another user reading a 0600 file');
    t.match(m.shFails('touch d/new', { user: 'nobody' }), /Permission denied/, "EACCES: another user creating in root's 0755 directory");
    t.equal(m.sh('cat private'), 'secret\n', 'the owner still reads it');
    t.equal(m.sh('ls d'), 'f\n', 'the failures changed nothing');
  });
}

test('mounting refuses bad paths with a clear error and changes nothing', async (t) => {
  const { top, backing, mnt } = mountDirs(t);
  const attempt = async (b: string, m: string) => {
    const { child, log } = startMountProcess(b, m, []);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { code, message: log() };
  };
  const missingBacking = await attempt(path.join(top, 'nope'), mnt);
  t.notEqual(missingBacking.code, 0, 'a missing backing directory fails');
  t.match(missingBacking.message, /ENOENT.*backing directory does not exist/, 'and says so');
  const missingMnt = await attempt(backing, path.join(top, 'nomnt'));
  t.match(missingMnt.message, /ENOENT.*mount point does not exist; create it with mkdir -p/, 'a missing mount point');
  fs.writeFileSync(path.join(mnt, 'something'), 'x');
  t.match((await attempt(backing, mnt)).message, /ENOTEMPTY.*mount point must be empty/, 'a non-empty mount point');
  fs.rmSync(path.join(mnt, 'something'));
  const itself = await attempt(mnt, mnt);
  t.match(itself.message, /EINVAL.*the backing directory and the mount point are one directory/, 'the mount point as its own backing directory');
  t.equal(itself.message.split(mnt).length, 2, 'naming it once');
  const nested = path.join(backing, 'mnt');
  fs.mkdirSync(nested);
  t.match((await attempt(backing, nested)).message, /EINVAL.*mount point is inside the backing directory/, 'a mount point inside the backing directory');
  t.deepEqual(fs.readdirSync(backing), ['mnt'], 'nothing was written to the backing directory');
});

test('a write past the largest file size is EFBIG: at the write(2), or at fsync and close with the writeback cache', async (t) => {
  const m = await withMount(t, 'io_uring');
  const writeback = writebackCacheOf([]);
  m.sh('printf 0123456789 > f');
  const outcome = m.sh(`python3 -c "
import errno, os
fd = os.open('f', os.O_WRONLY)
out = []
for offset in (2**62, 2**53):
    try:
        os.pwrite(fd, b'x', offset)
        out.append('written')
    except OSError as e:
        out.append(errno.errorcode[e.errno])
try:
    os.fsync(fd)
    out.append('synced')
except OSError as e:
    out.append('fsync ' + errno.errorcode[e.errno])
os.ftruncate(fd, 10)
os.close(fd)
print(' '.join(out))"`);
  // the writeback cache takes the writes into the kernel's page cache (whose size limit is 2^63 - 1); the
  // storage refuses them when they are written back, and fsync reports it
  t.equal(
    outcome,
    writeback ? 'written written fsync EFBIG\n' : 'EFBIG EFBIG synced\n',
    writeback ? 'pwrite at 2^62 and 2^53 cached, fsync: EFBIG' : 'os.pwrite at 2^62 and at 2^53: EFBIG',
  );
  const dd = m.shFails(`dd if=/dev/zero of=f bs=1 count=1 seek=${2 ** 62} conv=notrunc status=none`);
  // at close the kernel reports a failed writeback as EIO (a mapping keeps only EIO and ENOSPC)
  if (writeback) t.match(dd, /closing output file 'f': Input\/output error/, 'dd seek=2^62: the error at close, as EIO');
  else t.match(dd, /File too large/, 'dd seek=2^62: File too large');
  m.sh('truncate -s 10 f'); // with the writeback cache the kernel's size is 2^62 + 1 until cut back
  t.equal(m.sh('stat -c %s f; cat f'), '10\n0123456789', 'the file is unchanged');
});

/** Runs `persistfs mount` (or `argv` before it, e.g. runuser) to its exit; its status and stderr. */
function runCli(argv: string[], options: { timeout?: number } = {}): { status: number | null; stderr: string } {
  const result = spawnSync(argv[0]!, [...argv.slice(1)], { encoding: 'utf8', timeout: options.timeout ?? 30_000 });
  return { status: result.status, stderr: result.stderr };
}

test('--attr-timeout and --entry-timeout must be non-negative numbers of seconds: a usage error otherwise', (t) => {
  const { backing, mnt } = mountDirs(t);
  for (const args of [['--attr-timeout', 'abc'], ['--entry-timeout', '-3'], ['--attr-timeout=-0.5'], ['--entry-timeout', 'Infinity'], ['--attr-timeout', '']]) {
    const { status, stderr } = runCli([process.execPath, CLI, 'mount', backing, mnt, ...args], { timeout: 10_000 });
    t.equal(status, 2, `${args.join(' ')}: exit status 2, a usage error`);
    t.match(
      stderr,
      new RegExp(`^persistfs: ${args[0]!.split('=')[0]} must be a non-negative number of seconds, got '.*'\\nsee persistfs mount --help\\n$`),
      `${args.join(' ')}: one clear line and where to read more (${stderr.trim()})`,
    );
  }
  t.deepEqual(fs.readdirSync(backing), [], 'nothing was written to the backing directory');
  t.end();
});

test('a mount that cannot use /dev/fuse fails first, with a clear message, and leaves the backing directory as it was', (t) => {
  const { backing, mnt } = mountDirs(t, 65534);
  const asNobody = runCli(['runuser', '-u', 'nobody', '--', process.execPath, CLI, 'mount', backing, mnt]);
  t.notEqual(asNobody.status, 0, 'a user who may not open /dev/fuse: fails');
  t.match(asNobody.stderr, /EACCES.*\/dev\/fuse/, `and says /dev/fuse cannot be opened (${asNobody.stderr.trim()})`);
  t.deepEqual(fs.readdirSync(backing), [], 'nothing was created in the backing directory');
  const notFuse = runCli([
    'unshare',
    '-m',
    'bash',
    '-c',
    `mount --bind /dev/null /dev/fuse && exec "$@"`,
    'mount',
    process.execPath,
    CLI,
    'mount',
    backing,
    mnt,
  ]);
  t.notEqual(notFuse.status, 0, 'a /dev/fuse that is not the FUSE device (/dev/null bound over it): fails');
  t.match(notFuse.stderr, /\/dev\/fuse is not the FUSE device/, `and says so (${notFuse.stderr.trim()})`);
  t.deepEqual(fs.readdirSync(backing), [], 'nothing was created in the backing directory');
  t.end();
});
