// `persistfs mount --daemon`: the command starts the same mount in a new session of its own (the daemon),
// its stdout and stderr (the log) going to a file, and waits on a pipe until the daemon says it serves
// (exit 0) or why it could not (its one-line error on stderr, exit with its status). The daemon finds the
// pipe's descriptor in PERSISTFS_READY_FD, reports once, and closes it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

import { StorageError } from '../src/ground/errors.js';

const READY_FD = 'PERSISTFS_READY_FD';
const MOUNTED = 'mounted';
const FAILED = 'failed ';

/** In the daemon: where it reports to its starter. Taken out of the environment, so that nothing it starts inherits it. */
export interface ReadyChannel {
  mounted(): void;
  failed(message: string): void;
}

export function takeReadyChannel(): ReadyChannel | undefined {
  const fd = Number(process.env[READY_FD]);
  delete process.env[READY_FD];
  if (!Number.isInteger(fd) || fd < 3) return undefined;
  let open = true;
  const report = (line: string) => {
    if (!open) return;
    open = false;
    try {
      fs.writeSync(fd, `${line}\n`);
      fs.closeSync(fd);
    } catch {
      // the starter is gone (killed): nobody to tell
    }
  };
  return { mounted: () => report(MOUNTED), failed: (message) => report(`${FAILED}${message.split('\n')[0]}`) };
}

/**
 * Where a daemon's log goes unless --log-file says: as root /var/log/persistfs/<mount point>.log, else
 * $XDG_STATE_HOME/persistfs/<mount point>.log ($XDG_STATE_HOME: ~/.local/state), the mount point's path
 * with its slashes as dashes (/mnt/data: mnt-data.log; / is root.log).
 */
export function defaultLogFile(mountpoint: string): string {
  const name = path.resolve(mountpoint).slice(1).replaceAll('/', '-') || 'root';
  const dir =
    process.getuid?.() === 0 ? '/var/log/persistfs' : path.join(process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'persistfs');
  return path.join(dir, `${name}.log`);
}

export interface DaemonResult {
  pid: number;
  logFile: string;
}

/** A daemon that did not mount: its message, and the exit status to give. */
export class DaemonError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * Runs `argv` (this CLI's mount command, with the same arguments) as a daemon logging to `logFile`, and
 * resolves once it serves; rejects with a DaemonError (its message and exit status) when it does not.
 * `createDirectory`: make the log file's directory first (the default one); a directory given is not made.
 */
export async function startDaemon(argv: readonly string[], logFile: string, createDirectory: boolean): Promise<DaemonResult> {
  let log: number;
  try {
    if (createDirectory) fs.mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o750 });
    log = fs.openSync(logFile, 'a', 0o640);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw new StorageError(code, `${code}: cannot open the log file '${logFile}' (${(error as Error).message}); choose another with --log-file`, {
      path: logFile,
      cause: error,
    });
  }
  const child = spawn(process.execPath, argv, {
    detached: true, // a session of its own: the terminal's hangup and Ctrl-C do not reach it
    stdio: ['ignore', log, log, 'pipe'],
    env: { ...process.env, [READY_FD]: '3' },
  });
  fs.closeSync(log);
  const exited = new Promise<number>((resolve) => child.once('exit', (status, signal) => resolve(status ?? 128 + (os.constants.signals[signal!] ?? 0))));
  const report = await new Promise<string>((resolve) => {
    let text = '';
    const pipe = child.stdio[3] as Readable;
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk: string) => (text += chunk));
    pipe.once('end', () => resolve(text));
    pipe.once('error', () => resolve(text));
  });
  if (report.startsWith(MOUNTED)) {
    child.unref();
    return { pid: child.pid!, logFile };
  }
  const status = await exited;
  const message = report.startsWith(FAILED)
    ? report.slice(FAILED.length).trim()
    : `the mount process exited with status ${status} before it mounted; see its log: ${logFile}`;
  throw new DaemonError(message, status === 0 ? 1 : status);
}
