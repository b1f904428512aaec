// Where the jobs run: the plain backing directory, and persistfs mounts of each kind (transport and IO
// mode), every one on fresh directories of its own under the work directory, so that no target finds
// another's files in the page cache or on disk.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import type { Transport } from '../../mount/run-mount.js';
import { MountProcess } from './mount-process.js';

export type IoMode = 'io_uring' | 'sync';
export const IO_MODES: readonly IoMode[] = ['io_uring', 'sync'];

/** How a mount serves: the FUSE transport (`persistfs mount --transport`) and the storage's IO mode. */
export interface MountKind {
  transport: Transport;
  ioMode: IoMode;
}

export type MountName = `${Transport} ${IoMode}`;
export type TargetName = 'backing' | MountName;

export interface Target {
  name: TargetName;
  /** the directory fio works in */
  dir: string;
  /** the mount serving `dir`; none for the plain backing directory */
  mount?: MountProcess;
}

export const mountTargetName = (kind: MountKind): MountName => `${kind.transport} ${kind.ioMode}`;

/** Every transport in every IO mode. */
export const mountKinds = (transports: readonly Transport[], modes: readonly IoMode[]): MountKind[] =>
  transports.flatMap((transport) => modes.map((ioMode) => ({ transport, ioMode })));

/**
 * Makes <workdir>/backing for the plain runs and, for each kind of mount, <workdir>/store-<transport>-<mode>
 * mounted at <workdir>/mnt-<transport>-<mode>. On an error, whatever was already mounted is stopped again.
 */
export async function openTargets(workdir: string, kinds: readonly MountKind[], cli: string, mountArgs: readonly string[]): Promise<Target[]> {
  const backing = path.join(workdir, 'backing');
  await mkdir(backing, { recursive: true });
  const targets: Target[] = [{ name: 'backing', dir: backing }];
  try {
    for (const kind of kinds) {
      const suffix = `${kind.transport}-${kind.ioMode}`;
      const store = path.join(workdir, `store-${suffix}`);
      const mountpoint = path.join(workdir, `mnt-${suffix}`);
      await mkdir(store, { recursive: true });
      await mkdir(mountpoint, { recursive: true });
      const mount = await MountProcess.start({ cli, backing: store, mountpoint, ...kind, extraArgs: mountArgs });
      targets.push({ name: mountTargetName(kind), dir: mount.mountpoint, mount });
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
