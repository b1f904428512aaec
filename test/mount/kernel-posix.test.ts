// POSIX semantics that the kernel transport owes its callers beyond the Unix tools: the attributes of a
// file with several names (one node per inode), set-user-ID and set-group-ID removal on writes by
// unprivileged users (HANDLE_KILLPRIV_V2), set-group-ID directories, and utimensat's UTIME_NOW/UTIME_OMIT
// with nanosecond times. Each runs through real tools, as root and as `nobody` with --allow-other.
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { withMount } from './mount-helper.js';

const MODES: Array<[string, string[]]> = [
  [' (writeback cache)', ['--transport', 'kernel', '--allow-other', '--writeback-cache']],
  [' (no writeback cache)', ['--transport', 'kernel', '--allow-other', '--no-writeback-cache']],
  [' (passthrough)', ['--transport', 'kernel', '--allow-other', '--passthrough']],
];

for (const [how, args] of MODES) {
  test(`kernel posix${how}: the names of a hard-linked file share its attributes and its data at once`, async (t) => {
    const m = await withMount(t, 'io_uring', args);
    m.sh('echo one > f && stat f > /dev/null && mkdir d && ln f d/g');
    t.equal(m.sh('stat -c %h f d/g'), '2\n2\n', 'nlink 2 through both names right after ln (no stale cache)');
    t.equal(m.sh('stat -c %i f') === m.sh('stat -c %i d/g'), true, 'one inode number');
    m.sh('chmod 600 d/g');
    t.equal(m.sh('stat -c %a f'), '600\n', 'a chmod through one name shows through the other');
    m.sh('cat f > /dev/null && echo two > d/g');
    t.equal(m.sh('cat f'), 'two\n', 'a write through one name is read through the other (one page cache)');
    m.sh('rm d/g');
    t.equal(m.sh('stat -c %h f'), '1\n', 'nlink back to 1 after rm of the other name');
    m.sh(`ln f h && python3 -c "import os; os.rename('h', 'f')"`);
    t.equal(m.sh('stat -c %h f && ls'), '2\nd\nf\nh\n', 'mv of a name onto another name of the same file changes nothing');
    m.sh('exec 3< f; rm f h; cat <&3 > out; exec 3<&-');
    t.equal(m.sh('cat out && ls'), 'two\nd\nout\n', 'read through a descriptor after every name went');
  });

  test(`kernel posix${how}: a write, truncate or O_TRUNC open by another user removes set-user-ID and set-group-ID`, async (t) => {
    const m = await withMount(t, 'io_uring', args);
    const mode = (name: string): string => m.sh(`stat -c %a ${name}`).trim();
    m.sh('for f in w t o r k; do echo x > $f; chown nobody $f; chmod 6777 $f; done && echo x > l && chown nobody l && chmod 2767 l');
    m.sh('echo more >> w', { user: 'nobody' });
    t.equal(mode('w'), '777', 'write by nobody: both bits gone');
    m.sh('truncate -s 1 t', { user: 'nobody' });
    t.equal(mode('t'), '777', 'truncate by nobody: both bits gone');
    m.sh('echo new > o', { user: 'nobody' });
    t.equal(mode('o'), '777', 'O_TRUNC open by nobody: both bits gone');
    m.sh('echo more >> r');
    t.equal(mode('r'), '6777', 'a write by root (CAP_FSETID) keeps them');
    m.sh('echo more >> l', { user: 'nobody' });
    t.equal(mode('l'), '2767', 'set-group-ID without group-execute (a locking mark) stays');
    m.sh('chmod 4777 w && echo again >> w', { user: 'nobody' });
    t.equal(mode('w'), '777', 'set again with chmod, removed again by the next write');
    m.sh('chown root k');
    t.equal(mode('k'), '777', 'a chown removes them (done by the backing file system)');
    t.equal(fs.statSync(path.join(m.backing, 'w')).mode & 0o7777, 0o777, 'in the backing store too');
  });

  test(`kernel posix${how}: entries made in a set-group-ID directory take its group; directories inherit the bit`, async (t) => {
    const m = await withMount(t, 'io_uring', args);
    m.sh('mkdir sg && chgrp daemon sg && chmod 2777 sg && mkdir plain && chmod 777 plain');
    m.sh('touch sg/f plain/f && mkdir sg/d plain/d && ln -s x sg/l && mkfifo sg/p', { user: 'nobody' });
    t.equal(m.sh("stat -c '%U:%G' sg/f sg/d sg/p"), 'nobody:daemon\n'.repeat(3), 'file, directory, fifo: the owner is the caller, the group the directory’s');
    t.equal(m.sh("stat -c '%U:%G' plain/f plain/d"), 'nobody:nogroup\n'.repeat(2), 'elsewhere, the caller’s group');
    t.equal(m.sh('stat -c %A sg/d').trim(), 'drwxr-sr-x', 'a directory made in a set-group-ID directory is set-group-ID');
    t.equal(m.sh("stat -c '%U:%G' sg/l"), 'nobody:daemon\n', 'symlink too');
  });

  test(`kernel posix${how}: utimensat with nanosecond times, UTIME_NOW and UTIME_OMIT`, async (t) => {
    const m = await withMount(t, 'io_uring', args);
    m.sh('touch f && touch -d "2001-02-03 04:05:06.123456789 UTC" f');
    t.equal(m.sh('TZ=UTC stat -c "%x|%y" f'), '2001-02-03 04:05:06.123456789 +0000|2001-02-03 04:05:06.123456789 +0000\n', 'both times to the nanosecond');
    m.sh('touch -a -d "1999-12-31 23:59:59.000000001 UTC" f');
    t.equal(m.sh('TZ=UTC stat -c "%x|%y" f'), '1999-12-31 23:59:59.000000001 +0000|2001-02-03 04:05:06.123456789 +0000\n', 'atime set, mtime UTIME_OMIT kept');
    m.sh('touch -m -d "1960-06-01 00:00:00.5 UTC" f');
    t.equal(m.sh('TZ=UTC stat -c "%x|%y" f'), '1999-12-31 23:59:59.000000001 +0000|1960-06-01 00:00:00.500000000 +0000\n', 'mtime before 1970, atime kept');
    const before = Date.now() / 1000 - 5;
    m.sh('chmod 666 f');
    m.sh('touch f', { user: 'nobody' });
    const [atime, mtime] = m.sh('stat -c "%X %Y" f').trim().split(' ').map(Number);
    t.ok(atime! >= before && mtime! >= before, 'UTIME_NOW by a user with write permission sets both to now');
    t.match(m.shFails('touch -d 2000-01-01 f', { user: 'nobody' }), /Operation not permitted/, 'an explicit time needs ownership (EPERM)');
    m.sh(`python3 -c "import os; os.utime('f', ns=(5, 1_700_000_000_999_999_999))"`);
    t.equal(m.sh('TZ=UTC stat -c "%x|%y" f'), '1970-01-01 00:00:00.000000005 +0000|2023-11-14 22:13:20.999999999 +0000\n', 'os.utime with ns');
  });
}
