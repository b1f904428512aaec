// `persistfs mount` modes: read-only (-o ro, --read-only), in the background (--daemon: exit status says
// whether it mounted), and -f (the foreground, the default). Real mounts, used with real tools.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';

import { openStorage } from '../../src/storage/storage.js';
import { startMountProcess, stopMount, waitMounted } from '../mount/mount-helper.js';
import { alive } from '../../src/lsm/lock.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = path.join(repo, 'dist', 'mount', 'cli.js');

function persistfs(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
}

/**
 * `data` and `mnt` in a new temporary directory; when the test ends (pass or fail), the cleanups given to
 * `atEnd` run, last first (stopping mounts and daemons), then the directory is removed.
 */
function scratch(t: test.Test): { top: string; backing: string; mnt: string; atEnd: (cleanup: () => unknown) => void } {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cli-'));
  const backing = path.join(top, 'data');
  const mnt = path.join(top, 'mnt');
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  const cleanups: Array<() => unknown> = [];
  t.teardown(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    fs.rmSync(top, { recursive: true, force: true });
  });
  return { top, backing, mnt, atEnd: (cleanup) => cleanups.push(cleanup) };
}

function sh(cwd: string, command: string) {
  return spawnSync('bash', ['-c', command], { cwd, encoding: 'utf8', timeout: 60_000 });
}

/** The mount's options as the mount table has them (findmnt), or undefined when nothing is mounted there. */
function mountOptions(mnt: string): { source: string; type: string; options: string[] } | undefined {
  const run = spawnSync('findmnt', ['-n', '-o', 'SOURCE,FSTYPE,OPTIONS', '--mountpoint', mnt], { encoding: 'utf8' });
  if (run.status !== 0) return undefined;
  const [source = '', type = '', options = ''] = run.stdout.trim().split(/\s+/);
  return { source, type, options: options.split(',') };
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

for (const readOnly of [['-o', 'ro'], ['--read-only']]) {
  test(`${readOnly.join(' ')}: a read-only mount on a read-only storage; cat works, every change is EROFS`, async (t) => {
    const { backing, mnt, atEnd } = scratch(t);
    fs.writeFileSync(path.join(backing, 'file'), 'kept\n');
    const { child, log } = startMountProcess(backing, mnt, readOnly);
    atEnd(() => stopMount(child, mnt));
    await waitMounted(mnt, child, log);

    const table = mountOptions(mnt);
    t.ok(table?.options.includes('ro'), `the mount table says ro (${table?.options.join(',')})`);
    t.equal(sh(mnt, 'cat file').stdout, 'kept\n', 'cat reads the file');
    t.equal(sh(mnt, 'ls').stdout, 'file\n', 'ls lists it');
    for (const command of ['echo changed > file', 'echo new > other', 'mkdir dir', 'rm file', 'touch file', 'chmod 600 file', 'mv file moved']) {
      const run = sh(mnt, command);
      t.ok(run.status !== 0 && /Read-only file system/.test(run.stderr), `${command}: fails, EROFS (${run.stderr.trim()})`);
    }
    t.equal(fs.readFileSync(path.join(backing, 'file'), 'utf8'), 'kept\n', 'the backing file is unchanged');
    t.deepEqual(fs.readdirSync(backing).sort(), ['.persistfs-lock', 'file'], 'and nothing was added to the backing directory');
    // a read-only storage holds its lock shared: another reader opens it beside the mount (a writer could not)
    const reader = await openStorage(backing, { readOnly: true, config: { logLevel: 'warn' } });
    t.pass('the storage is open read-only: another read-only open of it succeeds while mounted');
    await reader.close();
  });
}

test('--daemon: returns once the mount is live, exit 0; logs to --log-file; unmount ends the daemon', async (t) => {
  const { top, backing, mnt, atEnd } = scratch(t);
  const logFile = path.join(top, 'daemon.log');
  let pid: number | undefined;
  atEnd(() => {
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGTERM');
    if (mountOptions(mnt)) spawnSync('fusermount', ['-uz', mnt]);
  });
  const run = persistfs('mount', backing, mnt, '--daemon', '--log-file', logFile, '--log-level', 'info');
  // checked at once: the command returned only after the mount was live
  const live = mountOptions(mnt);
  t.equal(run.status, 0, `exit status 0${run.status === 0 ? '' : `: ${run.stderr}`}`);
  t.equal(live?.type, 'fuse.persistfs', 'the mount is live when the command returns');
  t.equal(live?.source, backing, 'and the mount table shows the backing directory as its source');
  pid = Number(/\(pid (\d+),/.exec(run.stderr)?.[1]);
  t.ok(Number.isInteger(pid) && alive(pid), `it says the daemon's pid, which serves in the background (${run.stderr.trim()})`);
  t.ok(run.stderr.startsWith(`persistfs: serving ${backing} at ${mnt} in the background`), 'it names the backing directory and the mount point');
  t.equal(sh(mnt, `mountpoint -q ${mnt} && echo through > file && cat file`).stdout, 'through\n', 'the mount works');
  t.match(fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '', /"msg":"mounted"/, 'the daemon logs to the --log-file');
  const daemonLog = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  t.match(daemonLog, /stop with persistfs unmount /, 'its log says how to stop it');
  t.doesNotMatch(daemonLog, /Ctrl-C/, 'and not with Ctrl-C: a daemon has no terminal');

  t.equal(persistfs('unmount', mnt).status, 0, 'persistfs unmount: exit status 0');
  t.ok(await until(() => !alive(pid!)), 'the daemon exits');
  t.match(fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '', /unmounted; storage closed/, 'having closed the storage (its log says)');
  t.equal(
    fs.existsSync(path.join(backing, 'file')) && fs.readFileSync(path.join(backing, 'file'), 'utf8'),
    'through\n',
    'what was written is in the backing directory',
  );
});

test('--daemon: a mount that fails exits non-zero with its error on stderr, leaving no daemon and no mount', async (t) => {
  const { top, backing, mnt, atEnd } = scratch(t);
  const logFile = path.join(top, 'daemon.log');
  // the backing store is held by another owner: the daemon's openStorage fails with EBUSY
  const holder = await openStorage(backing, { config: { logLevel: 'warn' } });
  atEnd(async () => {
    await holder.close();
    if (mountOptions(mnt)) spawnSync('fusermount', ['-uz', mnt]);
  });
  const run = persistfs('mount', backing, mnt, '--daemon', '--log-file', logFile);
  t.equal(run.status, 16, 'exit status EBUSY (16)');
  const lines = run.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line on stderr (${run.stderr.trim()})`);
  t.match(lines[0] ?? '', /^persistfs: EBUSY.*process \d+ has it open/, 'the error, naming the holder');
  t.equal(mountOptions(mnt), undefined, 'nothing is mounted');
  t.match(fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '', /EBUSY/, 'the daemon logged it too');

  const missing = persistfs('mount', backing, path.join(top, 'nowhere'), '--daemon', '--log-file', logFile);
  t.equal(missing.status, 2, 'a missing mount point: exit status ENOENT (2)');
  t.match(missing.stderr, /^persistfs: ENOENT.*the mount point does not exist/, 'with the error');
});

test('-f (the foreground, the default) is accepted; -f with --daemon, or --log-file alone, is a usage error', async (t) => {
  const { backing, mnt, atEnd } = scratch(t);
  const { child, log } = startMountProcess(backing, mnt, ['-f']);
  atEnd(() => stopMount(child, mnt));
  await waitMounted(mnt, child, log);
  t.equal(child.exitCode, null, '-f: the command itself serves the mount, in the foreground');
  t.equal(sh(mnt, 'echo x > file && cat file').stdout, 'x\n', 'and the mount works');
  await stopMount(child, mnt);
  t.equal(child.exitCode, 0, 'SIGTERM unmounts it, exit status 0');

  for (const [args, said] of [
    [['-f', '--daemon'], /mutually exclusive/],
    [['--log-file', '/tmp/x.log'], /--log-file needs --daemon/],
  ] as Array<[string[], RegExp]>) {
    const run = persistfs('mount', backing, mnt, ...args);
    const lines = run.stderr.trim().split('\n');
    t.equal(run.status, 2, `${args.join(' ')}: exit status 2`);
    t.match(lines[0] ?? '', said, `${args.join(' ')}: says what is wrong`);
    t.deepEqual(lines.slice(1), ['see persistfs mount --help'], `${args.join(' ')}: and where to read more`);
  }
});
