// The tree a backup lists (src/backup/source-tree.ts), without a bucket: the order of its items (a directory,
// then what is in it, names sorted), what each says (kind, size, mode, mtime, a link's target), what is left
// out, and its errors, over directories larger than the slice of entries whose lstats go out together.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'tape';

import { listTree } from '../../src/backup/source-tree.js';
import { rejection, tempDir } from '../helpers.js';

/** Every path under `root` in the order a depth-first walk with sorted names meets them (root first, as ''). */
function walk(root: string, at = ''): string[] {
  const names = fs.readdirSync(path.join(root, at)).sort();
  const paths = at === '' ? [''] : [];
  for (const name of names) {
    const child = at === '' ? name : `${at}/${name}`;
    paths.push(child);
    if (fs.lstatSync(path.join(root, child)).isDirectory()) paths.push(...walk(root, child));
  }
  return paths;
}

test('source tree: directories larger than one slice of lstats list in walk order, each item as lstat has it', async (t) => {
  const root = tempDir(t);
  // 300 files at the root and 130 in a nested directory (more than a slice each), directories among the
  // files so that a directory's contents come between its siblings
  for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(root, `f${String(i).padStart(3, '0')}`), 'x'.repeat(i));
  fs.mkdirSync(path.join(root, 'f150-dir/inner'), { recursive: true });
  for (let i = 0; i < 130; i++) fs.writeFileSync(path.join(root, 'f150-dir', `g${i}`), String(i));
  fs.writeFileSync(path.join(root, 'f150-dir/inner/last'), 'z');
  fs.symlinkSync('f001', path.join(root, 'link'));
  fs.chmodSync(path.join(root, 'f007'), 0o751);
  execFileSync('mkfifo', [path.join(root, 'pipe')]);

  const tree = await listTree(root);
  const paths = tree.items.map((item) => item.entry.path);
  t.deepEqual(
    paths,
    walk(root).filter((p) => p !== 'pipe'),
    'every item, in the order of a depth-first walk with sorted names',
  );
  t.deepEqual(tree.skipped, ['pipe'], 'the FIFO is left out, and named');
  for (const item of tree.items) {
    const stat = fs.lstatSync(item.location, { bigint: true });
    const { entry } = item;
    if (String(stat.mtimeNs) !== entry.mtimeNs || item.location.toString() !== path.join(root, entry.path).replace(/\/$/, '')) {
      t.fail(`${entry.path}: location or mtime differs from its lstat`);
      return;
    }
    if (entry.kind === 'file' && (entry.size !== Number(stat.size) || entry.mode !== (Number(stat.mode) & 0o7777))) {
      t.fail(`${entry.path}: size or mode differs from its lstat`);
      return;
    }
  }
  t.pass('each location, mtime, and each file size and mode as lstat gives them');
  const f007 = tree.items.find((item) => item.entry.path === 'f007')!.entry;
  t.equal(f007.kind === 'file' && f007.mode, 0o751, 'a mode that is not the default');
  const link = tree.items.find((item) => item.entry.path === 'link')!.entry;
  t.equal(link.kind === 'symlink' && link.target, 'f001', "a link's target, not followed");
});

test('source tree: an entry that cannot be lstat-ed fails the listing naming it; a missing root is ENOENT', async (t) => {
  // a temporary directory of its own: the long name is removed before the rest (whole, the paths are too long for rmSync)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-test-'));
  // a directory whose path is short enough to read but whose entry's is longer than PATH_MAX (4,096): its
  // readdir works and the lstat of its entry fails (ENAMETOOLONG), among more siblings than one slice
  const level = 'd'.repeat(200);
  // the deepest directory's path at most 4,090 bytes (its 's150' fits under PATH_MAX), its entry's (a '/' and
  // 255 bytes more) always over it, whatever the temporary directory's length
  const levels = Math.floor((4095 - root.length - '/s150'.length) / (level.length + 1));
  const deepRelative = Array.from({ length: levels }, () => level).join('/');
  const name = 'n'.repeat(255);
  const shell = (script: string) => execFileSync('bash', ['-c', script], { cwd: root });
  // made and removed through relative paths (cd a level at a time): whole, these paths are too long for a system call
  t.teardown(() => {
    shell(`for i in $(seq ${levels}); do cd ${level} || break; done; rm -f ${name}`);
    fs.rmSync(root, { recursive: true, force: true });
  });
  shell(`set -e; for i in $(seq ${levels}); do mkdir ${level}; cd ${level}; done; for i in $(seq 150); do : > s$i; done; : > ${name}`);
  const error = await rejection(t, listTree(root), 'ENAMETOOLONG', 'an entry whose path is too long');
  t.ok(error?.message.includes(`${deepRelative}/${name}`), 'the message names the entry by its path in the tree');

  const missing = await rejection(t, listTree(path.join(root, 'absent')), 'ENOENT', 'a missing root');
  t.ok(missing?.message.includes('absent'), `the message names the root: ${missing?.message}`);
});
