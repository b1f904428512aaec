// The CPU time a process has used so far, from /proc/<pid>/stat: user and system time of all its threads
// (libfuse's, libuv's pool and io_uring's workers included), which is where a mount spends its time.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface CpuTime {
  /** seconds in user space: JavaScript, the addon, libfuse */
  user: number;
  /** seconds in the kernel on the process' behalf: FUSE device reads and writes, the backing file system */
  system: number;
}

let clockTicksPerSecond: number | undefined;

/** The kernel's unit for the times in /proc/<pid>/stat (USER_HZ; 100 on Linux almost everywhere). */
function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (!Number.isInteger(value) || value <= 0) throw new Error(`getconf CLK_TCK printed ${value}`);
    clockTicksPerSecond = value;
  }
  return clockTicksPerSecond;
}

/** utime and stime of `pid` so far. */
export function processCpuTime(pid: number): CpuTime {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may itself hold spaces and ')'; the fields after
  // the last ')' start with field 3 (state), so utime (field 14) and stime (field 15) are at 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unexpected /proc/${pid}/stat: ${stat}`);
  return { user: utime / clockTicks(), system: stime / clockTicks() };
}
