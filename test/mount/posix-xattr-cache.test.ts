// The POSIX layer remembers attributes a path does not have (the kernel asks for security.capability and
// ACLs over and over); what changes a path's attributes or moves a directory must forget them, or a name
// that now has an attribute would still answer ENODATA. On a memory storage, without a mount.
import test from 'tape';

import { PosixFs } from '../../mount/posix-fs.js';
import { openStorage } from '../../src/index.js';

const code = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'no error',
    (error: { code?: string }) => error.code ?? 'no code',
  );

test('PosixFs: an absent attribute, once remembered, is forgotten by whatever can give the name one', async (t) => {
  const storage = await openStorage('/', { adapter: 'memory', config: { logLevel: 'warn' } });
  t.teardown(() => storage.close());
  const posix = new PosixFs(storage);
  const value = Buffer.from('v');

  // setxattr on one name forgets what another name (a hard link) remembered
  await posix.release(await posix.create('/f', 0o644));
  await posix.link('/f', '/g');
  t.equal(await code(posix.getxattr('/g', 'user.x')), 'ENODATA', 'absent, and remembered');
  await posix.setxattr('/f', 'user.x', value, 0);
  t.deepEqual(await posix.getxattr('/g', 'user.x'), value, 'set through the other name: seen');

  // a directory renamed over the place of another: the paths below it are new
  await posix.mkdir('/a', 0o755);
  await posix.mkdir('/a/d', 0o755);
  await posix.release(await posix.create('/a/d/f', 0o644));
  await posix.mkdir('/c', 0o755);
  await posix.mkdir('/c/d', 0o755);
  await posix.release(await posix.create('/c/d/f', 0o644));
  await posix.setxattr('/c/d/f', 'user.x', value, 0);
  t.equal(await code(posix.getxattr('/a/d/f', 'user.x')), 'ENODATA', 'a/d/f: absent, and remembered');
  await posix.rename('/a', '/z');
  t.equal(await code(posix.getxattr('/z/d/f', 'user.x')), 'ENODATA', 'moved: still absent under its new name');
  await posix.rename('/c', '/a');
  t.deepEqual(await posix.getxattr('/a/d/f', 'user.x'), value, 'a/d/f is now the other file: its attribute is seen');

  // a directory removed and made again, filled by a rename of a file into it
  await posix.unlink('/z/d/f');
  await posix.rmdir('/z/d');
  await posix.mkdir('/z/d', 0o755);
  t.equal(await code(posix.getxattr('/z/d', 'user.y')), 'ENODATA', 'z/d: absent, and remembered');
  await posix.rmdir('/z/d');
  await posix.rename('/a/d', '/z/d');
  t.deepEqual(await posix.getxattr('/z/d/f', 'user.x'), value, 'moved into the place of a removed directory: its attribute is seen');
  t.equal(await code(posix.getxattr('/z/d', 'user.y')), 'ENODATA', 'the directory itself has none');
});

test('PosixFs: an absence found out while the attribute was being set or the name moved is not remembered', async (t) => {
  const storage = await openStorage('/', { adapter: 'memory', config: { logLevel: 'warn' } });
  t.teardown(() => storage.close());
  const posix = new PosixFs(storage);
  const value = Buffer.from('v');
  await posix.release(await posix.create('/f', 0o644));
  const during = code(posix.getxattr('/f', 'user.x'));
  await posix.setxattr('/f', 'user.x', value, 0);
  t.ok(['ENODATA', 'no error'].includes(await during), 'a getxattr begun before the setxattr: before or after it');
  t.deepEqual(await posix.getxattr('/f', 'user.x'), value, 'the next one sees the attribute');

  await posix.release(await posix.create('/g', 0o644));
  await posix.release(await posix.create('/h', 0o644));
  await posix.setxattr('/h', 'user.x', value, 0);
  const racing = code(posix.getxattr('/g', 'user.x'));
  await posix.rename('/h', '/g');
  await racing;
  t.deepEqual(await posix.getxattr('/g', 'user.x'), value, 'a file renamed over a name being asked: its attribute is seen');
});
