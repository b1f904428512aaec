// open(2) with O_TMPFILE through the mount (FUSE_TMPFILE, then FUSE_LINK of a node without a name): a file
// with no name, written, then named by linkat(2) of /proc/self/fd/N, as open(2) documents. The steps are a
// small Python program (ctypes for linkat with AT_SYMLINK_FOLLOW; os.link does not follow the magic link).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'tape';

import { withMount, type TestMount } from './mount-helper.js';

const KERNEL = ['--transport', 'kernel', '--allow-other'];

/**
 * argv: directory, mode (octal), text, then names to link the file as, in turn. O_EXCL when EXCL is set.
 * Prints what it saw as JSON: the file before any link (from fstat), the directory's names then, each
 * link's errno (0: linked), and the file after (one more byte written after the links).
 */
const PROGRAM = `
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
directory, mode, text, *links = sys.argv[1:]
flags = os.O_TMPFILE | os.O_RDWR | (os.O_EXCL if os.environ.get("EXCL") else 0)
try:
    fd = os.open(directory, flags, int(mode, 8))
except OSError as e:
    print(json.dumps({"error": e.errno}))
    sys.exit(0)
os.write(fd, text.encode())
os.fsync(fd)
st = os.fstat(fd)
out = {"before": {"nlink": st.st_nlink, "mode": st.st_mode & 0o7777, "uid": st.st_uid, "size": st.st_size}}
out["listed"] = sorted(os.listdir(directory))
out["links"] = []
for name in links:
    ok = libc.linkat(-100, ("/proc/self/fd/%d" % fd).encode(), -100, name.encode(), 0x400) == 0
    out["links"].append(0 if ok else ctypes.get_errno())
os.write(fd, b"+")
st = os.fstat(fd)
out["after"] = {"nlink": st.st_nlink, "ino": st.st_ino, "size": st.st_size}
os.close(fd)
print(json.dumps(out))
`;

interface Made {
  error?: number;
  before?: { nlink: number; mode: number; uid: number; size: number };
  listed?: string[];
  links?: number[];
  after?: { nlink: number; ino: number; size: number };
}

/** The program in a file the test removes; `run` makes a file without a name with it, in `cwd` (the mount by default). */
function tmpfileProgram(t: test.Test, m: TestMount) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-tmpfile-'));
  fs.chmodSync(dir, 0o755);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const program = path.join(dir, 'tmpfile.py');
  fs.writeFileSync(program, PROGRAM, { mode: 0o644 });
  return (args: string[], options: { user?: string; umask?: string; excl?: boolean } = {}): Made => {
    const quoted = args.map((arg) => `'${arg}'`).join(' ');
    const env = options.excl ? 'EXCL=1 ' : '';
    return JSON.parse(m.sh(`umask ${options.umask ?? '022'}; ${env}python3 ${program} ${quoted}`, { user: options.user })) as Made;
  };
}

/** The backing's names, without the storage's own. */
const backingNames = (dir: string): string[] =>
  fs
    .readdirSync(dir)
    .filter((name) => !name.startsWith('.persistfs-'))
    .sort();

for (const ioMode of ['io_uring', 'sync']) {
  test(`O_TMPFILE: a file without a name, written, then named by linkat, appears whole (${ioMode})`, async (t) => {
    const m = await withMount(t, ioMode, KERNEL);
    const run = tmpfileProgram(t, m);
    m.sh('echo old > present');
    const made = run(['.', '0666', 'whole content', 'named']);
    t.deepEqual(made.before, { nlink: 0, mode: 0o644, uid: 0, size: 13 }, 'made with no link, its mode under umask 022, written');
    t.deepEqual(made.listed, ['present'], 'the directory does not list it');
    t.deepEqual(made.links, [0], 'linkat named it');
    t.equal(made.after?.nlink, 1, 'one link after');
    t.equal(m.sh('cat named'), 'whole content+', 'the name reads what was written before and after it was named');
    t.equal(Number(m.sh('stat -c %i named')), made.after?.ino, 'the same inode through the mount');
    t.equal(fs.readFileSync(path.join(m.backing, 'named'), 'utf8'), 'whole content+', 'and on the backing');
    t.equal(fs.statSync(path.join(m.backing, 'named')).mode & 0o7777, 0o644, 'with its mode');

    const unnamed = run(['.', '0600', 'never named']);
    t.equal(unnamed.before?.nlink, 0, 'another, never named');
    t.deepEqual(backingNames(m.backing), ['named', 'present'], 'closed without a name: nothing is left on the backing');
    t.deepEqual(m.sh('ls').trim().split('\n'), ['named', 'present'], 'nor in the mount');

    const exclusive = run(['.', '0600', 'x', 'exclusive'], { excl: true });
    t.deepEqual(exclusive.links, [2], 'O_TMPFILE | O_EXCL: linkat refuses it (ENOENT), as on a local file system');

    m.sh('mkdir sub');
    const twice = run(['sub', '0640', 'two names', 'sub/one', 'two', 'present']);
    t.deepEqual(twice.links, [0, 0, 17], 'named in its directory, then another, then EEXIST for a name that is taken');
    t.equal(twice.after?.nlink, 2, 'two links');
    t.equal(m.sh('cat sub/one two'), 'two names+two names+', 'both names read it');
    t.equal(m.sh('cat present'), 'old\n', 'the taken name kept its file');
    m.sh('rm sub/one two');
    t.deepEqual(backingNames(path.join(m.backing, 'sub')), [], 'rm of both names');
  });
}

test('O_TMPFILE: the caller owns the file, its umask applies, and a default ACL decides as on the backing', async (t) => {
  const m = await withMount(t, 'io_uring', KERNEL);
  const run = tmpfileProgram(t, m);
  m.sh('mkdir -m 1777 pub');
  const nobody = Number(m.sh('id -u nobody'));
  const mine = run(['pub', '0666', 'by nobody', 'pub/mine'], { user: 'nobody', umask: '077' });
  t.deepEqual(mine.before, { nlink: 0, mode: 0o600, uid: nobody, size: 9 }, "nobody's, umask 077 applied");
  t.deepEqual(mine.links, [0], 'nobody names it');
  const backing = fs.statSync(path.join(m.backing, 'pub/mine'));
  t.deepEqual([backing.uid, backing.mode & 0o7777], [nobody, 0o600], 'owned by nobody on the backing, mode 600');

  // the same steps in a directory with a default ACL, in the mount and on the backing's file system itself
  const reference = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-tmpfile-ref-'));
  t.teardown(() => fs.rmSync(reference, { recursive: true, force: true }));
  fs.chmodSync(reference, 0o755);
  const make = 'mkdir acl && setfacl -d -m u:nobody:rwx,o::--- acl';
  m.sh(make);
  m.sh(`cd ${reference} && ${make}`);
  run(['acl', '0666', 'acl', 'acl/file'], { umask: '077' });
  run([`${reference}/acl`, '0666', 'acl', `${reference}/acl/file`], { umask: '077' });
  const look = "stat -c '%a' file && getfacl -c file";
  const expected = m.sh(`cd ${reference}/acl && ${look}`);
  t.match(expected, /^660\n/, `the reference: ${expected.split('\n')[0]}`);
  t.equal(m.sh(`cd acl && ${look}`), expected, 'mode and ACL as the backing gives them: the default ACL, not the umask');
});

test('O_TMPFILE through fuse-native: EOPNOTSUPP (libfuse 2 has no TMPFILE), so callers fall back', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'fuse-native']);
  const run = tmpfileProgram(t, m);
  t.deepEqual(run(['.', '0600', 'x', 'named']), { error: 95 }, 'open(O_TMPFILE): EOPNOTSUPP');
  t.equal(m.sh('ls'), '', 'nothing made');
});

/** fsetxattr, fgetxattr, flistxattr and fremovexattr on a file without a name, then the name it gets. */
const XATTRS = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
out = []
fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o644)
os.setxattr(fd, "user.kept", b"through the handle")
os.setxattr(fd, "user.gone", b"x")
out.append(os.getxattr(fd, "user.kept").decode())
os.removexattr(fd, "user.gone")
out.append(",".join(sorted(a for a in os.listxattr(fd) if a.startswith("user."))))
libc.linkat(-100, ("/proc/self/fd/%d" % fd).encode(), -100, b"named", 0x400)
os.close(fd)
fd = os.open("doomed", os.O_RDWR | os.O_CREAT, 0o644)
os.unlink("doomed")
os.setxattr(fd, "user.late", b"after unlink")
out.append(os.getxattr(fd, "user.late").decode())
os.close(fd)
print("|".join(out))
`;

test('O_TMPFILE and unlinked files: extended attributes through the open handle (fsetxattr, fgetxattr, flistxattr, fremovexattr)', async (t) => {
  const m = await withMount(t, 'io_uring', KERNEL);
  const program = path.join(m.backing, '..', 'xattrs.py');
  fs.writeFileSync(program, XATTRS);
  t.equal(m.sh(`python3 ${program}`), 'through the handle|user.kept|after unlink\n', 'set, read, removed and listed on files without a name');
  t.equal(m.sh('getfattr --only-values -n user.kept named'), 'through the handle', 'the attribute set before the name came is the named file’s');
  t.equal(
    fs
      .readdirSync(m.backing)
      .filter((name) => !name.startsWith('.persistfs-'))
      .join(),
    'named',
    'the unlinked file is gone',
  );
});
