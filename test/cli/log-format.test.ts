// The mount's log lines on stderr: JSON with --log-format json, and by default when stderr is not a
// terminal (here a pipe); human-readable with --log-format pretty or PERSISTFS_LOG_FORMAT=pretty, and by
// default on a terminal (a pty made by script(1)), there in colour.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';

import test from 'tape';

import { mountDirs, startMountProcess, stopMount, waitMounted } from '../mount/mount-helper.js';

const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../mount/cli.js');

/** The log lines a mount started with `args` (and `env` set meanwhile) wrote, from start to unmount. */
async function mountLog(t: test.Test, args: string[], env: Record<string, string> = {}): Promise<string[]> {
  const { backing, mnt } = mountDirs(t);
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  const { child, log } = startMountProcess(backing, mnt, ['--log-level', 'info', ...args]);
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  t.teardown(() => stopMount(child, mnt));
  await waitMounted(mnt, child, log);
  await stopMount(child, mnt);
  t.equal(child.exitCode, 0, 'the mount exits 0');
  // the CLI's own lines ("persistfs: serving ... at ...") are not log lines
  return log()
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('persistfs: '));
}

function parses(line: string): boolean {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
}

function checkJson(t: test.Test, lines: string[], what: string): void {
  t.ok(lines.length >= 2, `${what}: the mount logged (${lines.length} lines)`);
  t.deepEqual(
    lines.filter((line) => !parses(line)),
    [],
    `${what}: every log line parses as JSON`,
  );
  const mounted = lines.filter(parses).map((line) => JSON.parse(line) as { msg?: string; level?: number });
  t.ok(
    mounted.some((entry) => entry.msg === 'mounted' && entry.level === 30),
    `${what}: with the 'mounted' line at level 30 (info)`,
  );
}

function checkPretty(t: test.Test, lines: string[], what: string): void {
  t.ok(lines.length >= 2, `${what}: the mount logged (${lines.length} lines)`);
  t.deepEqual(lines.filter(parses), [], `${what}: no log line is JSON`);
  t.ok(
    lines.some((line) => /\bINFO\b/.test(line) && /mounted/.test(line)),
    `${what}: the 'mounted' line says its level in a word (INFO)`,
  );
  t.notOk(lines.join('\n').includes('\u001b['), `${what}: no colours when stderr is not a terminal`);
}

test('--log-format json: every log line of the mount is JSON', async (t) => {
  checkJson(t, await mountLog(t, ['--log-format', 'json']), '--log-format json');
});

test('--log-format pretty: the log lines are human-readable, not JSON', async (t) => {
  checkPretty(t, await mountLog(t, ['--log-format', 'pretty']), '--log-format pretty');
});

test('by default, with stderr not a terminal, the log lines are JSON', async (t) => {
  checkJson(t, await mountLog(t, []), 'default (stderr a pipe)');
});

test('PERSISTFS_LOG_FORMAT=pretty (configuration) chooses the format; --log-format overrides it', async (t) => {
  checkPretty(t, await mountLog(t, [], { PERSISTFS_LOG_FORMAT: 'pretty' }), 'PERSISTFS_LOG_FORMAT=pretty');
  checkJson(t, await mountLog(t, ['-o', 'log_format=json'], { PERSISTFS_LOG_FORMAT: 'pretty' }), 'PERSISTFS_LOG_FORMAT=pretty with -o log_format=json');
});

test('by default, with stderr a terminal, the log lines are human-readable and in colour', async (t) => {
  const { backing, mnt } = mountDirs(t);
  // script(1) runs the mount on a pty of its own and copies what it wrote to its stdout
  const child = spawn('script', ['-qfec', `${process.execPath} ${CLI} mount ${backing} ${mnt} --log-level info`, '/dev/null'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let said = '';
  child.stdout!.on('data', (chunk: Buffer) => (said += chunk.toString()));
  t.teardown(() => stopMount(child, mnt));
  await waitMounted(mnt, child, () => said);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  spawnSync(process.execPath, [CLI, 'unmount', mnt]);
  await exited;
  const lines = said
    .replaceAll('\r', '')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('persistfs: '));
  t.ok(said.includes('\u001b['), 'in colour on a terminal');
  const plain = lines.map((line) => stripVTControlCharacters(line));
  checkPretty(t, plain, 'default (stderr a terminal)');
});
