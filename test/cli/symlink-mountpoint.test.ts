// A mount point given through a symlink: the mount works, `persistfs unmount` of the symlink finds it (the
// mount table has the target), and a second mount there, directly or through the symlink, is refused
// with the path said once.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import test from 'tape';

import { tempDir } from '../helpers.js';
import { startMountProcess, stopMount, waitMounted } from '../mount/mount-helper.js';

const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../mount/cli.js');

const mounted = (dir: string): boolean =>
  fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === dir);

test('a mount point reached through a symlink: unmount by the symlink, a second mount refused naming it once', async (t) => {
  const top = tempDir(t);
  const backing = path.join(top, 'data');
  const mnt = path.join(top, 'mnt');
  const link = path.join(top, 'link');
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  fs.symlinkSync(mnt, link);
  const { child, log } = startMountProcess(backing, link, []);
  t.teardown(() => stopMount(child, mnt));
  await waitMounted(mnt, child, log);
  t.ok(mounted(fs.realpathSync(mnt)), 'mounted at the target of the symlink');

  const second = spawnSync(process.execPath, [CLI, 'mount', backing, mnt], { encoding: 'utf8' });
  const said = second.stderr.trim();
  t.notEqual(second.status, 0, `a second mount there fails: ${said}`);
  t.equal(said.split(fs.realpathSync(mnt)).length - 1, 1, 'the message names the mount point once');

  // the same through the symlink, with another backing directory (the store's lock does not refuse it):
  // EBUSY for what is mounted there, not a second mount stacked on the first
  const other = path.join(top, 'other');
  fs.mkdirSync(other);
  const logFile = path.join(top, 'daemon.log');
  const viaLink = spawnSync(process.execPath, [CLI, 'mount', other, link, '--daemon', '--log-file', logFile], { encoding: 'utf8', timeout: 60_000 });
  if (viaLink.status === 0) spawnSync(process.execPath, [CLI, 'unmount', link], { encoding: 'utf8' }); // the stacked one
  const saidViaLink = viaLink.stderr.trim();
  t.equal(viaLink.status, 16, `a second mount through the symlink fails with EBUSY: ${saidViaLink}`);
  t.match(saidViaLink, /EBUSY.*something \(fuse\.persistfs\) is already mounted at/, 'saying what is mounted there');
  t.equal(saidViaLink.split(fs.realpathSync(mnt)).length - 1, 1, 'naming the mount point once');

  const unmount = spawnSync(process.execPath, [CLI, 'unmount', link], { encoding: 'utf8' });
  t.equal(unmount.status, 0, `persistfs unmount of the symlink succeeds ${unmount.stderr.trim()}`);
  if (unmount.status === 0) {
    const exited = new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  }
  t.notOk(mounted(fs.realpathSync(mnt)), 'and the mount is gone');
});
