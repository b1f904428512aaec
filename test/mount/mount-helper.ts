// Mounts for tests: `persistfs mount` in a child process on fresh temporary directories (the test process
// stays free to run blocking shell commands against it), always unmounted and removed at the end.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type test from 'tape';

import { DEFAULT_TRANSPORT } from '../../mount/run-mount.js';
import { tempDir } from '../helpers.js';

const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../mount/cli.js');

export interface TestMount {
  backing: string;
  mnt: string;
  child: ChildProcess;
  /** everything the mount process printed on stderr so far */
  log(): string;
  /** runs a shell command in the mount; returns stdout (throws with stderr on failure) */
  sh(command: string, options?: { user?: string }): string;
  /** runs a shell command expected to fail; returns its stderr */
  shFails(command: string, options?: { user?: string }): string;
}

function isMounted(dir: string): boolean {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === dir);
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * The transport of the mounts that do not choose one: PERSISTFS_TEST_TRANSPORT (kernel or fuse-native)
 * runs the whole mount suite through either; unset, the CLI's default.
 */
const TEST_TRANSPORT = process.env.PERSISTFS_TEST_TRANSPORT;
/** PERSISTFS_TEST_WRITEBACK=0: the kernel transport's mounts without the writeback cache (on by default) */
const TEST_NO_WRITEBACK = process.env.PERSISTFS_TEST_WRITEBACK === '0';
/** PERSISTFS_TEST_URING=1: the kernel transport's mounts with FUSE over io_uring (--fuse-uring on) */
const TEST_URING = process.env.PERSISTFS_TEST_URING === '1';

export function startMountProcess(backing: string, mnt: string, args: string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string } {
  const logLevel = args.includes('--log-level') ? [] : ['--log-level', 'warn'];
  const transport = TEST_TRANSPORT && !args.includes('--transport') ? ['--transport', TEST_TRANSPORT] : [];
  const kernel = (args.includes('--transport') ? args[args.indexOf('--transport') + 1] : (TEST_TRANSPORT ?? DEFAULT_TRANSPORT)) === 'kernel';
  const choosesWriteback = args.some((arg) => /^--(no-)?writeback-cache$/.test(arg) || arg === '--passthrough');
  if (TEST_NO_WRITEBACK && kernel && !choosesWriteback) transport.push('--no-writeback-cache');
  if (TEST_URING && kernel && !args.includes('--fuse-uring')) transport.push('--fuse-uring', 'on');
  const child = spawn(process.execPath, [CLI, 'mount', backing, mnt, ...logLevel, ...transport, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { child, log: () => stderr };
}

/**
 * Whether a live mount answers at `dir`: its stat works (a stale mount answers ENOTCONN) and gives another
 * device than its parent's (the bare directory has the parent's). One stat of `dir` decides, not the mount
 * table and a stat after it: the next mount's lazy unmount of a stale one can come between those two, and
 * the stat then finds the bare directory.
 */
function isLive(dir: string): boolean {
  try {
    return fs.statSync(dir).dev !== fs.statSync(path.dirname(dir)).dev;
  } catch {
    return false;
  }
}

export async function waitMounted(mnt: string, child: ChildProcess, log: () => string): Promise<void> {
  // generous: a mount process starting on a machine busy with other suites can take many seconds
  await until(() => isLive(mnt) || child.exitCode !== null, 'the mount', 60_000).catch((error: Error) => {
    throw new Error(`${error.message}; mount process said: ${log()}`);
  });
  if (child.exitCode !== null) throw new Error(`the mount process exited with ${child.exitCode}: ${log()}`);
}

/**
 * `data` (a backing directory) and `mnt` (an empty mount point) in a new temporary directory, 0755 so that
 * other users reach them, removed after the test; both owned by `owner` when given.
 */
const URING_PARAMETER = '/sys/module/fuse/parameters/enable_uring';

/**
 * Whether a mount started with `args` has the kernel's writeback cache: the kernel transport's default
 * (unless PERSISTFS_TEST_WRITEBACK=0 or the arguments say otherwise); fuse-native has none.
 */
export function writebackCacheOf(args: readonly string[]): boolean {
  const transport = args.includes('--transport') ? args[args.indexOf('--transport') + 1] : (TEST_TRANSPORT ?? DEFAULT_TRANSPORT);
  if (transport !== 'kernel') return false;
  if (args.includes('--writeback-cache')) return true;
  return !args.includes('--no-writeback-cache') && !args.includes('--passthrough') && !TEST_NO_WRITEBACK;
}

/**
 * Switches FUSE over io_uring on or off in the fuse module (root) for this test, and back to what it was
 * when the test ends; false where the kernel has no such switch (before 6.14).
 */
export function switchUring(t: test.Test, on: boolean): boolean {
  let before: string;
  try {
    before = fs.readFileSync(URING_PARAMETER, 'utf8').trim();
  } catch {
    return false;
  }
  fs.writeFileSync(URING_PARAMETER, on ? 'Y' : 'N');
  t.teardown(() => fs.writeFileSync(URING_PARAMETER, before));
  return true;
}

export function mountDirs(t: test.Test, owner?: number): { top: string; backing: string; mnt: string } {
  const top = tempDir(t);
  fs.chmodSync(top, 0o755);
  const backing = path.join(top, 'data');
  const mnt = path.join(top, 'mnt');
  for (const dir of [backing, mnt]) {
    fs.mkdirSync(dir);
    if (owner !== undefined) fs.chownSync(dir, owner, owner);
  }
  return { top, backing, mnt };
}

/**
 * One line of `persistfs stats --json` of the mount at `mnt` (a second's sample): its requests by kind, its
 * data path's counters, and the nodes its node table holds.
 */
export function statsOf(mnt: string): {
  ops: Record<string, { count: number; errors?: number }>;
  dataPath?: Record<string, number>;
  nodes?: number;
  madeAndClosed?: number;
} {
  const run = spawnSync(process.execPath, [CLI, 'stats', mnt, '--count', '1', '--json'], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(run.stdout.trim().split('\n')[0]!);
}

/** Stops a mount process (SIGTERM, then SIGKILL and a lazy unmount if it hangs). */
export async function stopMount(child: ChildProcess, mnt: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  if (isMounted(mnt)) execFileSync('fusermount', ['-uz', mnt]);
}

/** bash -c `command` in `cwd`, as `user` when given (runuser). */
function shell(cwd: string, command: string, user?: string): { status: number | null; stdout: string; stderr: string } {
  const argv = user ? ['runuser', '-u', user, '--', 'bash', '-c', command] : ['bash', '-c', command];
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A mount of fresh directories; `env`: variables added to the mount process's environment. */
export async function withMount(t: test.Test, ioMode: string, extraArgs: string[] = [], env?: NodeJS.ProcessEnv): Promise<TestMount> {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-mount-'));
  fs.chmodSync(top, 0o755);
  const backing = path.join(top, 'data');
  const mnt = path.join(top, 'mnt');
  fs.mkdirSync(backing);
  fs.mkdirSync(mnt);
  const { child, log } = startMountProcess(backing, mnt, ['--io-mode', ioMode, ...extraArgs], env);
  t.teardown(async () => {
    await stopMount(child, mnt);
    fs.rmSync(top, { recursive: true, force: true });
  });
  await waitMounted(mnt, child, log);
  // a command that ran after the mount went away ran in the bare mount point: say so, not what it did there
  const inMount = (command: string, user?: string) => {
    const result = shell(mnt, command, user);
    if (!isMounted(mnt)) throw new Error(`the mount at ${mnt} was gone after '${command}'; the mount's log:\n${log().slice(-4000)}`);
    return result;
  };
  return {
    backing,
    mnt,
    child,
    log,
    sh(command, options = {}) {
      const result = inMount(command, options.user);
      if (result.status !== 0) throw new Error(`'${command}' failed (${result.status}): ${result.stderr}`);
      return result.stdout;
    },
    shFails(command, options = {}) {
      const result = inMount(command, options.user);
      if (result.status === 0) throw new Error(`'${command}' succeeded, but it should have failed`);
      return result.stderr;
    },
  };
}
