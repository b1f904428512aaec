// Nothing escapes the storage root: '..', absolute paths, symlinks placed inside the root that point
// outside, and a symlink swapped in while operations run. Nothing outside is read or changed.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { openStorage } from '../../src/index.js';
import { eachBackend, LOCAL_MODES, rejection, tempDir } from '../helpers.js';

function outsideWorld(t: Parameters<typeof tempDir>[0]) {
  const outside = tempDir(t, 'persistfs-outside-');
  fs.writeFileSync(path.join(outside, 'secret'), 'outside secret');
  return outside;
}

eachBackend(
  'symlinks and paths that lead outside the root fail, nothing outside is touched',
  async (t, backend) => {
    const root = tempDir(t);
    const outside = outsideWorld(t);
    fs.symlinkSync(outside, path.join(root, 'abs-dir'));
    fs.symlinkSync(path.relative(root, outside), path.join(root, 'rel-dir'));
    fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'abs-file'));
    fs.writeFileSync(path.join(root, 'inside'), 'inside data');
    fs.symlinkSync('inside', path.join(root, 'good-link'));
    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());

    await rejection(t, storage.openDirectory('abs-dir'), 'EXDEV', 'an absolute symlink to a directory outside');
    await rejection(t, storage.openDirectory('rel-dir'), 'EXDEV', 'a relative symlink climbing out');
    await rejection(t, storage.openFile('abs-file'), 'EXDEV', 'a symlink to a file outside');
    await rejection(t, storage.openFile('abs-dir/secret'), 'EXDEV', 'a path through a symlink outside');
    await rejection(t, storage.createFile('rel-dir/new'), 'EXDEV', 'creating through a symlink outside');
    await rejection(t, storage.flushWrite('abs-dir/new', Buffer.from('x')), 'EXDEV', 'flushWrite through a symlink outside');
    await rejection(t, storage.openFile('../secret'), 'EXDEV', "a '..' path");
    await rejection(t, storage.openFile('/etc/passwd'), 'ENOENT', 'an absolute path is taken below the root');

    const good = await storage.openFile('good-link');
    const data = Buffer.alloc(11);
    await good.read(0, data);
    t.equal(data.toString(), 'inside data', 'a symlink that stays inside works');
    await good.close();

    await storage.root.deleteFile('abs-file');
    t.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'outside secret', 'deleting a symlink leaves its target');
    await storage.root.symlink('/etc', 'etc-link');
    await rejection(t, storage.root.openDirectory('etc-link'), 'EXDEV', 'a symlink made through the API cannot be used to leave');
    t.deepEqual(fs.readdirSync(outside), ['secret'], 'nothing was created outside');
  },
  LOCAL_MODES,
);

eachBackend(
  'a symlink swapped in during operations never lets a read or write out',
  async (t, backend) => {
    const root = tempDir(t);
    const outside = outsideWorld(t);
    fs.writeFileSync(path.join(root, 'target'), 'inside!');
    fs.symlinkSync('target', path.join(root, 'swing'));
    // A shell swaps `swing` between a link inside and a link outside, atomically, as fast as it can.
    const swapper = spawn(
      'bash',
      [
        '-c',
        `cd '${root}'; end=$((SECONDS+20)); while [ $SECONDS -lt $end ]; do ln -sfn '${outside}/secret' a && mv -T a swing; ln -sfn target b && mv -T b swing; done`,
      ],
      { stdio: 'ignore', detached: true },
    );
    // its own process group: killing the group also stops an ln or mv it is running
    const stopSwapper = () => {
      try {
        process.kill(-swapper.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    t.teardown(stopSwapper);
    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());

    const seen = new Map<string, number>();
    const buffer = Buffer.alloc(32);
    // At least 400 tries, and on until both states of the link were met (a busy machine may leave the
    // swapper unscheduled for a while), within the 20 s the swapper runs.
    const deadline = Date.now() + 15_000;
    const bothSeen = () => seen.has('inside!') && (seen.has('EXDEV') || seen.has('ENOENT'));
    for (let i = 0; i < 400 || (!bothSeen() && Date.now() < deadline); i++) {
      let outcome: string;
      try {
        const file = await storage.openFile('swing', { access: undefined });
        const n = await file.read(0, buffer);
        await file.writeAt(0, Buffer.from('inside!')).catch(() => undefined);
        await file.close();
        outcome = buffer.subarray(0, n).toString();
      } catch (error) {
        outcome = (error as { code: string }).code;
      }
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
    }
    const exited = new Promise((resolve) => swapper.once('exit', resolve));
    stopSwapper();
    await exited; // before the teardown removes the directory it writes in
    t.notOk(seen.has('outside secret'), `the outside file was never read (outcomes: ${JSON.stringify([...seen])})`);
    t.ok(seen.has('inside!'), 'the inside target was read while the link pointed there');
    t.ok(
      [...seen.keys()].every((k) => ['inside!', 'EXDEV', 'ENOENT'].includes(k)),
      'every failure is EXDEV or ENOENT',
    );
    t.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'outside secret', 'the outside file is unchanged');
  },
  LOCAL_MODES,
);

eachBackend(
  'delete of a directory opened through a symlink removes nothing; a FIFO cannot hang an open',
  async (t, backend) => {
    const root = tempDir(t);
    fs.mkdirSync(path.join(root, 'data'));
    fs.writeFileSync(path.join(root, 'data', 'keep'), 'kept');
    fs.symlinkSync('data', path.join(root, 'alias'));
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());
    const alias = await storage.openDirectory('alias');
    await rejection(t, alias.delete(), 'ENOTDIR', 'deleting through the symlink');
    t.deepEqual(fs.readdirSync(path.join(root, 'data')), ['keep'], 'the target directory is untouched');
    await rejection(t, storage.openFile('pipe'), 'EINVAL', 'opening a FIFO fails at once');
  },
  LOCAL_MODES,
);
