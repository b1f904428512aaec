// The create job's earlier files are set aside, not removed (scripts/fio/measured-run.ts setAside, issue
// 11): removing them just before the run freed 2,000 inodes that ext4 without a journal then scans past on
// every create, which measured the disk's recent deletions instead of the target.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { FIO_JOBS, METADATA_DIR, SET_ASIDE_DIR } from '../../scripts/fio/jobs.js';
import { setAside } from '../../scripts/fio/measured-run.js';
import { tempDir } from '../helpers.js';

test('setAside: the directory moves, with the same inodes, below set-aside; a second run finds nothing to move', async (t) => {
  const dir = tempDir(t);
  const meta = path.join(dir, METADATA_DIR);
  mkdirSync(meta);
  for (let i = 0; i < 3; i += 1) writeFileSync(path.join(meta, `meta.${i}`), '');
  const inode = statSync(path.join(meta, 'meta.1')).ino;

  await setAside(dir, METADATA_DIR);
  t.false(existsSync(meta), 'the job starts without its directory (fio makes the files again)');
  const aside = readdirSync(path.join(dir, SET_ASIDE_DIR));
  t.equal(aside.length, 1, 'one directory set aside');
  const moved = path.join(dir, SET_ASIDE_DIR, aside[0]!, METADATA_DIR);
  t.deepEqual(readdirSync(moved).sort(), ['meta.0', 'meta.1', 'meta.2'], 'its files are all there');
  t.equal(statSync(path.join(moved, 'meta.1')).ino, inode, 'renamed, not copied: no inode was freed');

  mkdirSync(meta);
  writeFileSync(path.join(meta, 'meta.0'), '');
  await setAside(dir, METADATA_DIR);
  await setAside(dir, METADATA_DIR);
  t.equal(readdirSync(path.join(dir, SET_ASIDE_DIR)).length, 2, 'a second set aside beside the first; nothing to move is no error');
});

test('FIO_JOBS: create sets its directory aside and removes nothing that many inodes hang on', (t) => {
  const create = FIO_JOBS.find((job) => job.id === 'create');
  t.deepEqual(create?.setAsideBefore, [METADATA_DIR]);
  t.deepEqual(create?.removeBefore, []);
  t.end();
});
