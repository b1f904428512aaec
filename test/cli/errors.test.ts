// The command line's errors as a user meets them (issue 14): each is one line on stderr that names every
// path once, and what it names is the thing that is wrong (the cache directory, not "the backing
// directory"). Nothing here mounts: every case fails before the mount.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

import { tempDir } from '../helpers.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = path.join(repo, 'dist', 'mount', 'cli.js');

function persistfs(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PERSISTFS_LOG_LEVEL: 'warn' } });
}

const occurrences = (text: string, what: string) => text.split(what).length - 1;

test('an error is one line naming each path once, for every command', (t) => {
  const dir = tempDir(t);
  const [backing, mnt, full, file, link] = ['backing', 'mnt', 'full', 'file', 'link'].map((name) => path.join(dir, name)) as [
    string,
    string,
    string,
    string,
    string,
  ];
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  fs.mkdirSync(full);
  fs.writeFileSync(path.join(full, 'x'), 'x');
  fs.writeFileSync(file, 'not JSON');
  fs.symlinkSync(mnt, link);
  const missing = path.join(dir, 'missing');
  for (const [args, said, paths] of [
    [['mount', missing, mnt], /the backing directory does not exist/, [missing]],
    [['mount', backing, missing], /the mount point does not exist/, [missing]],
    [['mount', backing, full], /the mount point must be empty/, [full]],
    [['mount', file, mnt], /ENOTDIR.*backing directory/, [file]],
    [['mount', mnt, mnt], /the backing directory and the mount point are one directory/, [mnt]],
    [['mount', link, mnt], /the backing directory and the mount point are one directory/, [mnt]],
    [['mount', backing, mnt, '--config', missing], /ENOENT.*cannot read the configuration file/, [missing]],
    [['mount', backing, mnt, '--config', file], /EINVAL.*the configuration file is not JSON/, [file]],
    [['mount', 's3://bucket/prefix', mnt, '--cache-dir', missing], /ENOENT.*the cache directory \(--cache-dir\) does not exist/, [missing]],
    [['unmount', mnt], /nothing is mounted at/, [mnt]],
    [['stats', mnt, '--count', '1'], /is not a persistfs mount/, [mnt]],
    [['check', missing], /^persistfs: ENOENT: no such file or directory, cannot open the directory '[^']*'\n$/, [missing]],
    [['check', file], /^persistfs: ENOTDIR: not a directory, cannot open the directory '[^']*'\n$/, [file]],
    [['check', backing], /name what it is with --kind/, [backing]],
    [['backup', missing, 's3://bucket/prefix', '--endpoint', 'http://127.0.0.1:9'], /ENOENT/, [missing]],
    [['backup', file, 's3://bucket/prefix', '--endpoint', 'http://127.0.0.1:9'], /ENOTDIR/, [file]],
  ] as Array<[string[], RegExp, string[]]>) {
    const run = persistfs(...args);
    const what = args.join(' ').replaceAll(dir, '<dir>');
    t.notEqual(run.status, 0, `${what}: fails (${run.status})`);
    t.equal(run.stderr.trim().split('\n').length, 1, `${what}: one line`);
    t.match(run.stderr, said, `${what}: says what is wrong`);
    for (const named of paths) t.equal(occurrences(run.stderr, named), 1, `${what}: names ${named.replace(dir, '<dir>')} once (${run.stderr.trim()})`);
  }
  t.end();
});
