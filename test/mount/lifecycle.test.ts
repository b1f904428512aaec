// The life of a mount: SIGTERM and SIGINT unmount cleanly and close the storage; `persistfs unmount` from
// another shell does the same; unmounting what is not mounted is a clear error.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { mountTmpfs, tempDir } from '../helpers.js';
import { startMountProcess, stopMount, waitMounted } from './mount-helper.js';

const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../mount/cli.js');

function mountedAt(dir: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir} `);
}

for (const [how, stop] of [
  ['SIGTERM', (child: { kill(s: string): void }) => child.kill('SIGTERM')],
  ['SIGINT', (child: { kill(s: string): void }) => child.kill('SIGINT')],
  ['persistfs unmount', (_child: unknown, mnt: string) => spawnSync(process.execPath, [CLI, 'unmount', mnt])],
] as const) {
  test(`${how} unmounts cleanly and closes the storage`, async (t) => {
    const top = tempDir(t);
    const backing = path.join(top, 'data');
    const mnt = path.join(top, 'mnt');
    fs.mkdirSync(backing);
    fs.mkdirSync(mnt);
    const { child, log } = startMountProcess(backing, mnt, ['--log-level', 'info']);
    t.teardown(() => stopMount(child, mnt));
    await waitMounted(mnt, child, log);
    for (let i = 0; i < 200 && !log().includes('persistfs unmount'); i++) await new Promise((r) => setTimeout(r, 25));
    t.match(log(), /serving .* at .*\n.*stop with Ctrl-C, or from another shell: persistfs unmount/, 'says where it serves and how to stop');
    fs.writeFileSync(path.join(mnt, 'kept'), 'written before the stop');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    stop(child as never, mnt);
    t.equal(await exited, 0, 'the process exits with status 0');
    t.notOk(mountedAt(mnt), 'nothing is left mounted');
    t.match(log(), /storage closed/, 'after closing the storage');
    t.equal(fs.readFileSync(path.join(backing, 'kept'), 'utf8'), 'written before the stop', 'the data is in the backing store');
  });
}

test('unmount of a directory with nothing mounted is a clear error', (t) => {
  const dir = tempDir(t);
  const result = spawnSync(process.execPath, [CLI, 'unmount', dir], { encoding: 'utf8' });
  t.notEqual(result.status, 0, 'fails');
  t.match(result.stderr, /nothing is mounted at/, 'and says why');
  t.end();
});

test('unmount refuses what is not a persistfs mount (a tmpfs stays mounted)', (t) => {
  const dir = mountTmpfs(t, 1 << 20);
  fs.writeFileSync(path.join(dir, 'kept'), 'x');
  const result = spawnSync(process.execPath, [CLI, 'unmount', dir], { encoding: 'utf8' });
  t.notEqual(result.status, 0, 'fails');
  t.match(result.stderr, /^persistfs: EINVAL: .*not a persistfs mount \(it is tmpfs\).*\n$/, `and says why, on one line (${result.stderr.trim()})`);
  t.ok(mountedAt(dir), 'the tmpfs is still mounted');
  t.equal(fs.readFileSync(path.join(dir, 'kept'), 'utf8'), 'x', 'with its file');
  const lazy = spawnSync(process.execPath, [CLI, 'unmount', '--lazy', dir], { encoding: 'utf8' });
  t.notEqual(lazy.status, 0, '--lazy is refused too');
  t.ok(mountedAt(dir), 'the tmpfs is still mounted');
  t.end();
});
