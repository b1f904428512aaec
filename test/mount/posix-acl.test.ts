// POSIX ACLs through the kernel transport (FUSE_POSIX_ACL, mount/kernel/init.ts): the kernel checks a file's
// ACL for the caller, as on a local file system, and what the mount makes in a directory with a default ACL
// comes out as the backing file system makes it. Each case runs beside a reference directory on the backing
// file system itself, with the same commands, as nobody where the caller matters.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'tape';

import { withMount } from './mount-helper.js';

const KERNEL = ['--transport', 'kernel', '--allow-other'];

/** A reference directory on the backing's file system (world-searchable, as the mount is), removed after the test. */
function referenceDir(t: test.Test): { dir: string; sh(command: string, user?: string): { status: number | null; stdout: string } } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-acl-ref-'));
  fs.chmodSync(dir, 0o755);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    sh(command, user) {
      const argv = user === undefined ? ['sh', '-c', command] : ['su', user, '-s', '/bin/sh', '-c', command];
      const result = spawnSync(argv[0]!, argv.slice(1), { cwd: dir, encoding: 'utf8' });
      return { status: result.status, stdout: result.stdout };
    },
  };
}

test('POSIX ACLs: an ACL entry grants and denies the caller (mode bits alone would not), and chmod narrows it at once', async (t) => {
  const m = await withMount(t, 'io_uring', KERNEL);
  m.sh('echo secret > granted && chmod 600 granted && setfacl -m u:nobody:r granted');
  m.sh('echo public > denied && chmod 644 denied && setfacl -m u:nobody:--- denied');
  t.equal(m.sh('cat granted', { user: 'nobody' }), 'secret\n', 'u:nobody:r on a 600 file: nobody reads it');
  t.match(m.shFails('cat denied', { user: 'nobody' }), /Permission denied/, 'u:nobody:--- on a 644 file: nobody may not');
  t.match(m.shFails('echo more >> granted', { user: 'nobody' }), /Permission denied/, 'the grant is read only: no write');
  m.sh('chmod 600 granted');
  t.match(m.sh('getfacl -c granted'), /mask::---/, 'chmod 600 set the mask to the group bits (by the backing)');
  t.match(m.shFails('cat granted', { user: 'nobody' }), /Permission denied/, 'and the grant is masked at once (the kernel forgot its ACL)');
  m.sh('chmod 640 granted');
  t.equal(m.sh('cat granted', { user: 'nobody' }), 'secret\n', 'chmod 640: readable again');
  m.sh('setfacl -b denied');
  t.equal(m.sh('cat denied', { user: 'nobody' }), 'public\n', 'setfacl -b removed the ACL: the mode bits decide again');
});

test('POSIX ACLs: what is made in a directory with a default ACL comes out as the backing file system makes it, whatever the umask', async (t) => {
  const m = await withMount(t, 'io_uring', KERNEL);
  const ref = referenceDir(t);
  // umasks 002 and 077 in a directory with a default ACL (which alone decides there, as on Linux), and
  // umasks 0 and 027 beside it (which apply)
  const make =
    'mkdir shared && setfacl -d -m u:nobody:rwx,o::--- shared && ' +
    '(umask 002; echo x > shared/file; mkdir shared/dir; mkfifo shared/fifo; umask 077; echo z > shared/private; mkdir shared/privated; ' +
    'umask 0; echo y > open; mkdir opend; umask 027; echo w > masked; mkdir maskedd; mkfifo maskedp)';
  const look =
    "stat -c '%a %n' shared/file shared/dir shared/fifo shared/private shared/privated open opend masked maskedd maskedp && " +
    'getfacl -c shared/file shared/dir shared/private';
  m.sh(make);
  t.equal(ref.sh(make).status, 0, 'the same on the reference directory');
  const expected = ref.sh(look).stdout;
  t.match(expected, /660 shared\/file/, `the reference (${expected.split('\n')[0]})`);
  t.equal(m.sh(look), expected, "modes and ACLs as the backing's own: the default ACL decides, not the umask (no other:: bits)");
  t.match(expected, /660 shared\/private\n770 shared\/privated/, 'umask 077 does not narrow what the default ACL gives');
  t.equal(m.sh('cat shared/private', { user: 'nobody' }), 'z\n', 'so nobody reads a file made under umask 077 (its ACL entry, mask rw)');
  t.match(expected, /666 open\n777 opend\n640 masked\n750 maskedd\n640 maskedp/, 'beside it, the umask applies (CREATE, MKDIR, MKNOD)');
});

test('POSIX ACLs: setfacl by an owner outside the set-group-ID file group drops the bit; by root it stays', async (t) => {
  const m = await withMount(t, 'io_uring', KERNEL);
  const ref = referenceDir(t);
  const make = 'echo s > sg && chown nobody:root sg && chmod 2770 sg && echo r > rootsg && chmod 2770 rootsg && setfacl -m u:daemon:r rootsg';
  m.sh(make);
  t.equal(ref.sh(make).status, 0, 'made on the reference directory');
  m.sh('setfacl -m u:daemon:r sg', { user: 'nobody' });
  t.equal(ref.sh(`setfacl -m u:daemon:r ${ref.dir}/sg`, 'nobody').status, 0, 'set as nobody on the reference');
  const look = "stat -c '%a %n' sg rootsg";
  t.equal(m.sh(look), ref.sh(look).stdout, 'as the backing: 770 for nobody (not in group root), 2770 for root');
  t.equal(m.sh(look), '770 sg\n2770 rootsg\n', 'the modes');
});

test('POSIX ACLs: cp -a and tar --acls carry ACLs into the mount and out of it', async (t) => {
  const m = await withMount(t, 'io_uring', KERNEL);
  const ref = referenceDir(t);
  const make = 'mkdir tree && echo a > tree/f && chmod 640 tree/f && setfacl -m u:nobody:r,g:daemon:rw tree/f && setfacl -d -m u:nobody:rx tree';
  t.equal(ref.sh(make).status, 0, 'a tree with an access ACL and a default ACL, beside the mount');
  // getfacl -c: the ACLs of the directory, then of its file, without their names
  const acls = (tree: string) => m.sh(`getfacl -R -c ${tree}`);
  const original = acls(`${ref.dir}/tree`);
  t.match(original, /default:user:nobody:r-x[\s\S]*\nuser:nobody:r--/, 'the original has both');
  m.sh(`cp -a ${ref.dir}/tree copied`);
  t.equal(acls('copied'), original, 'cp -a into the mount: the same ACLs');
  m.sh(`tar --acls -cf ${ref.dir}/out.tar copied && mkdir ${ref.dir}/back && tar --acls -xf ${ref.dir}/out.tar -C ${ref.dir}/back`);
  t.equal(acls(`${ref.dir}/back/copied`), original, 'tar --acls out of the mount and back: the same ACLs');
  t.equal(m.sh('cat copied/f', { user: 'nobody' }), 'a\n', 'and the copy grants what the original does');
});

test('POSIX ACLs: --no-xattr serves none (setfacl is refused), and the mode bits alone decide', async (t) => {
  const m = await withMount(t, 'io_uring', [...KERNEL, '--no-xattr']);
  m.sh('echo secret > f && chmod 600 f');
  t.match(m.shFails('setfacl -m u:nobody:r f'), /Operation not supported/, 'setfacl: EOPNOTSUPP');
  t.match(m.shFails('cat f', { user: 'nobody' }), /Permission denied/, 'a 600 file stays unreadable to nobody');
});
