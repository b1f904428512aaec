// The mount inherits the store's owner rule (a second mount of a served backing directory is refused), and
// names that are not UTF-8 are never aliased: fuse-native hands them to us decoded with U+FFFD, so the
// fuse-native transport refuses them with EINVAL instead of reaching another file (see README); the kernel
// transport keeps them as bytes (kernel-transport.test.ts).
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { tempDir } from '../helpers.js';
import { startMountProcess, stopMount, withMount } from './mount-helper.js';

test('a second mount of a backing directory that is already served is refused with a clear message', async (t) => {
  const m = await withMount(t, 'io_uring');
  m.sh('echo kept > f');
  const other = path.join(tempDir(t), 'mnt2');
  fs.mkdirSync(other);
  const { child, log } = startMountProcess(m.backing, other, []);
  t.teardown(() => stopMount(child, other));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.notEqual(code, 0, 'the second mount fails');
  t.match(log(), new RegExp(`process ${m.child.pid} has it open for writing`), 'naming the process that serves it');
  t.match(log(), /EBUSY/, 'as EBUSY');
  t.equal(m.sh('cat f'), 'kept\n', 'the first mount still serves');
});

test('names that are not UTF-8 are refused through fuse-native, never aliased', async (t) => {
  const m = await withMount(t, 'io_uring', ['--transport', 'fuse-native']);
  t.match(m.shFails("echo FF > $'\\xff'"), /Invalid argument/, 'creating \\xff is EINVAL');
  t.match(m.shFails("echo FE > $'\\xfe'"), /Invalid argument/, 'creating \\xfe is EINVAL');
  t.equal(m.sh('ls -A'), '', 'nothing was created');
  t.match(m.shFails("ln -s $'tgt\\xff' link"), /Invalid argument/, 'a symlink target with such bytes is EINVAL');
  t.match(m.shFails("echo x > $'a\\xef\\xbf\\xbd'"), /Invalid argument/, 'a name holding U+FFFD itself is refused too (the documented limit)');

  fs.writeFileSync(Buffer.from(`${path.join(m.backing, 'raw')}\xfd`, 'latin1'), 'made outside');
  fs.writeFileSync(path.join(m.backing, 'plain'), 'plain');
  t.match(m.sh('ls'), /raw\uFFFD\nplain|plain\nraw\uFFFD/u, 'a backing name that is not UTF-8 is listed (shown with U+FFFD)');
  t.match(m.shFails("cat $'raw\\xfd'"), /Invalid argument/, 'using it is EINVAL, not another file');
  t.equal(m.sh('cat plain'), 'plain', 'other files are served');
  t.ok(fs.existsSync(Buffer.from(`${path.join(m.backing, 'raw')}\xfd`, 'latin1')), 'the backing file is untouched');
});
