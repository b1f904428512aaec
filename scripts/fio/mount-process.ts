// A FUSE mount served by a child process in the foreground (`persistfs mount`, or the peer) for as long as
// the run needs it. In its own process, the mount never waits on this one, which runs fio and sync against it and
// may block while doing so; and its CPU time can be read apart from fio's.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, realpathSync, statSync } from 'node:fs';

import { fetchSnapshot } from '../../mount/stats-command.js';
import { statsSocketPath } from '../../mount/stats.js';
import { processCpuTime, type CpuTime } from './process-cpu.js';

const MOUNT_TIMEOUT_MS = 15_000;
/** after SIGTERM, the mount finishes its requests, unmounts and closes the storage; it gets this long */
const STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 25;
/** the end of the mount's stderr kept for error messages */
const LOG_TAIL_CHARS = 4000;

/** The mount points in this process' mount table; the kernel writes spaces and the like as octal escapes. */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
}

const isMounted = (dir: string) => mountPoints().includes(dir);

/** Mounted and answering: a mount whose process died stays in the table but fails every call (ENOTCONN). */
function isServing(dir: string): boolean {
  if (!isMounted(dir)) return false;
  try {
    statSync(dir);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class MountProcess {
  private stderrTail = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly mountpoint: string,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-LOG_TAIL_CHARS);
    });
    // a failed spawn: start() then times out with this as the reason, instead of the 'error' event crashing
    child.once('error', (error) => {
      this.stderrTail += `${error.message}\n`;
    });
  }

  /**
   * Runs `command(mountpoint)` (the program and its arguments, given the resolved mount point) and
   * resolves once the mount serves requests; rejects (with nothing left mounted) if it does not.
   */
  static async start(mountpointGiven: string, command: (mountpoint: string) => string[]): Promise<MountProcess> {
    // the mount table holds the resolved path
    const mountpoint = realpathSync(mountpointGiven);
    const [program, ...args] = command(mountpoint);
    const child = spawn(program!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const mount = new MountProcess(child, mountpoint);
    try {
      const deadline = Date.now() + MOUNT_TIMEOUT_MS;
      while (!isServing(mountpoint)) {
        if (!mount.running) throw new Error(`the mount process exited (${mount.exitStatus()}): ${mount.log()}`);
        if (Date.now() > deadline) throw new Error(`${mountpoint} was not mounted within ${MOUNT_TIMEOUT_MS / 1000} s: ${mount.log()}`);
        await sleep(POLL_MS);
      }
    } catch (error) {
      await mount.stop();
      throw error;
    }
    return mount;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('the mount process has no pid (it did not start)');
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The end of what the mount printed on stderr (warnings and errors only, at --log-level warn). */
  log(): string {
    return this.stderrTail.trim();
  }

  /** Throws unless the mount process is alive and its mount answers. */
  checkServing(): void {
    if (!this.running) throw new Error(`the mount process exited (${this.exitStatus()}): ${this.log()}`);
    if (!isServing(this.mountpoint)) throw new Error(`${this.mountpoint} no longer answers: ${this.log()}`);
  }

  cpuTime(): CpuTime {
    return processCpuTime(this.pid);
  }

  /**
   * A persistfs kernel mount's data path counters (persistfs stats) and `requests`, every FUSE request it
   * answered (natively or in JavaScript); undefined for another mount (the peer, fuse-native).
   */
  async dataPath(): Promise<Record<string, number> | undefined> {
    try {
      const snapshot = await fetchSnapshot(statsSocketPath(this.mountpoint));
      if (snapshot.dataPath === undefined) return undefined;
      return { ...snapshot.dataPath, requests: Object.values(snapshot.ops).reduce((sum, op) => sum + op.count, 0) };
    } catch {
      return undefined;
    }
  }

  /**
   * SIGTERM, and waits for the process to unmount and exit; SIGKILL if it hangs. Whatever happened, the
   * mount point is left unmounted (lazily, if the process could not). Resolves with how the process
   * ended, which is 'exit code 0' when all went well.
   */
  async stop(): Promise<string> {
    try {
      if (this.running) {
        const exited = new Promise((resolve) => this.child.once('exit', resolve));
        this.child.kill('SIGTERM');
        const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
    } finally {
      if (isMounted(this.mountpoint)) execFileSync('fusermount', ['-uz', this.mountpoint]);
    }
    return this.exitStatus();
  }

  private exitStatus(): string {
    return this.child.signalCode !== null ? `signal ${this.child.signalCode}` : `exit code ${this.child.exitCode}`;
  }
}
