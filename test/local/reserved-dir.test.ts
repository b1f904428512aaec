// The root's temporary directory belongs to persistfs: it is never reached through a symlink, and anything
// at its name that is not a directory of this user's is refused with a clear error, nothing removed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { openStorage } from '../../src/index.js';
import { eachBackend, LOCAL_MODES, rejection, tempDir } from '../helpers.js';

eachBackend(
  'a symlinked .persistfs-tmp is refused and its target is left whole',
  async (t, backend) => {
    const root = tempDir(t);
    fs.mkdirSync(path.join(root, 'keepme'));
    fs.writeFileSync(path.join(root, 'keepme', 'file1'), 'p');
    fs.symlinkSync('keepme', path.join(root, '.persistfs-tmp'));
    const error = await rejection(t, openStorage(root, backend.options), 'EEXIST', 'open with a symlink for the temporary directory');
    t.match(error?.message ?? '', /\.persistfs-tmp' at the root is a symlink or not a directory; .*move it away/, 'the message says what to do');
    t.deepEqual(fs.readdirSync(path.join(root, 'keepme')), ['file1'], 'the link target still holds its file');

    const outside = tempDir(t);
    fs.writeFileSync(path.join(outside, 'precious'), 'p');
    fs.unlinkSync(path.join(root, '.persistfs-tmp'));
    fs.symlinkSync(outside, path.join(root, '.persistfs-tmp'));
    await rejection(t, openStorage(root, backend.options), 'EEXIST', 'a symlink out of the root');
    t.deepEqual(fs.readdirSync(outside), ['precious'], 'nothing outside is touched');
    await (await openStorage(root, { ...backend.options, readOnly: true })).close();
    t.pass('a read-only open does not need the temporary directory');
  },
  LOCAL_MODES,
);

eachBackend(
  'a .persistfs-tmp that is a file, or a directory of another user, is refused and left as it is',
  async (t, backend) => {
    const root = tempDir(t);
    fs.writeFileSync(path.join(root, '.persistfs-tmp'), 'not ours');
    await rejection(t, openStorage(root, backend.options), 'EEXIST', 'a regular file');
    t.equal(fs.readFileSync(path.join(root, '.persistfs-tmp'), 'utf8'), 'not ours', 'the file is as it was');
    fs.unlinkSync(path.join(root, '.persistfs-tmp'));

    fs.mkdirSync(path.join(root, '.persistfs-tmp'));
    fs.writeFileSync(path.join(root, '.persistfs-tmp', 'theirs'), 'x');
    execFileSync('chown', ['-R', 'nobody', path.join(root, '.persistfs-tmp')]);
    const error = await rejection(t, openStorage(root, backend.options), 'EEXIST', "another user's directory");
    t.match(error?.message ?? '', /owned by uid \d+, not by this user/, 'the message names the owner');
    t.deepEqual(fs.readdirSync(path.join(root, '.persistfs-tmp')), ['theirs'], 'nothing removed');
    t.ok(fs.existsSync(path.join(root, '.persistfs-lock')), 'the lock file may stay');
    await rejection(t, openStorage(root, backend.options), 'EEXIST', 'and the lock was released: the next open fails the same way');
  },
  LOCAL_MODES,
);

eachBackend(
  'the lock file is never followed or mistaken: a symlink or a directory there is refused',
  async (t, backend) => {
    const root = tempDir(t);
    const outside = tempDir(t);
    fs.writeFileSync(path.join(outside, 'victim'), 'keep');
    fs.symlinkSync(path.join(outside, 'victim'), path.join(root, '.persistfs-lock'));
    await rejection(t, openStorage(root, backend.options), 'ELOOP', 'a symlinked lock file');
    t.equal(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'keep', 'its target is not truncated');
    fs.unlinkSync(path.join(root, '.persistfs-lock'));
    fs.mkdirSync(path.join(root, '.persistfs-lock'));
    await rejection(t, openStorage(root, backend.options), 'EISDIR', 'a directory');
  },
  LOCAL_MODES,
);
