// Where the jobs run: the plain backing directory, and persistfs mounts in each IO mode, every one on
// fresh directories of its own under the work directory, so that no target finds another's files in
// the page cache or on disk.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { MountProcess } from './mount-process.js';

export type IoMode = 'io_uring' | 'sync';
export const IO_MODES: readonly IoMode[] = ['io_uring', 'sync'];

export type TargetName = 'backing' | `mount[${IoMode}]`;

export interface Target {
  name: TargetName;
  /** the directory fio works in */
  dir: string;
  /** the mount serving `dir`; none for the plain backing directory */
  mount?: MountProcess;
}

export const mountTargetName = (mode: IoMode): TargetName => `mount[${mode}]`;

/**
 * Makes <workdir>/backing for the plain runs and, for each mode, <workdir>/store-<mode> mounted at
 * <workdir>/mnt-<mode>. On an error, whatever was already mounted is stopped again.
 */
export async function openTargets(workdir: string, modes: readonly IoMode[], cli: string, mountArgs: readonly string[]): Promise<Target[]> {
  const backing = path.join(workdir, 'backing');
  await mkdir(backing, { recursive: true });
  const targets: Target[] = [{ name: 'backing', dir: backing }];
  try {
    for (const mode of modes) {
      const store = path.join(workdir, `store-${mode}`);
      const mountpoint = path.join(workdir, `mnt-${mode}`);
      await mkdir(store, { recursive: true });
      await mkdir(mountpoint, { recursive: true });
      const mount = await MountProcess.start({ cli, backing: store, mountpoint, ioMode: mode, extraArgs: mountArgs });
      targets.push({ name: mountTargetName(mode), dir: mount.mountpoint, mount });
    }
  } catch (error) {
    await closeTargets(targets);
    throw error;
  }
  return targets;
}

/** Stops every mount; resolves with a message for each that did not end cleanly. */
export async function closeTargets(targets: readonly Target[]): Promise<string[]> {
  const problems: string[] = [];
  for (const target of targets) {
    if (!target.mount) continue;
    try {
      const status = await target.mount.stop();
      const log = target.mount.log();
      if (status !== 'exit code 0') problems.push(`${target.name}: the mount process ended with ${status}${log ? `: ${log}` : ''}`);
    } catch (error) {
      problems.push(`${target.name}: stopping the mount failed: ${String(error)}`);
    }
  }
  return problems;
}
