// Where the jobs run: the plain backing directory, persistfs mounts of each kind (transport, IO mode and
// options), and a peer FUSE file system (libfuse's passthrough_hp) when its binary is given, every one on
// fresh directories of its own under the work directory, so that no target finds another's files in the
// page cache or on disk.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import type { Transport } from '../../mount/run-mount.js';
import { MountProcess } from './mount-process.js';

export type IoMode = 'io_uring' | 'sync';
export const IO_MODES: readonly IoMode[] = ['io_uring', 'sync'];

/**
 * The kernel transport's variants beside its default row (the default mount: data path, writeback cache;
 * with --fuse-uring off, the default where the fuse module's enable_uring is off): FUSE io_uring queues,
 * passthrough, no writeback cache, and JavaScript answering every request (the data path off), so that
 * each step's gain shows.
 */
export const KERNEL_VARIANTS = {
  uring: { label: 'io_uring queues', args: ['--fuse-uring', 'on'] },
  passthrough: { label: 'passthrough', args: ['--fuse-uring', 'off', '--passthrough'] },
  'no-writeback': { label: 'no writeback cache', args: ['--fuse-uring', 'off', '--no-writeback-cache'] },
  js: { label: 'no data path', args: ['--fuse-uring', 'off', '--no-native-data-path'] },
} as const;
export type KernelVariant = keyof typeof KERNEL_VARIANTS;
export const KERNEL_VARIANT_NAMES = Object.keys(KERNEL_VARIANTS) as KernelVariant[];

/** A mounted file system to run the jobs on: persistfs (a transport, an IO mode, flags) or the peer. */
export interface MountKind {
  /** the row's name */
  name: string;
  transport: Transport | 'passthrough_hp';
  ioMode?: IoMode;
  /** the flags after `persistfs mount <backing> <mountpoint>`, or the peer's */
  args: readonly string[];
}

export type TargetName = string;

export interface Target {
  name: TargetName;
  /** the directory fio works in */
  dir: string;
  /** the mount serving `dir`; none for the plain backing directory */
  mount?: MountProcess;
}

/** Every transport in every IO mode; the kernel transport's variants in the first mode; the peer last. */
export function mountKinds(
  transports: readonly Transport[],
  modes: readonly IoMode[],
  variants: readonly KernelVariant[],
  peerHp: string | undefined,
): MountKind[] {
  const kinds = transports.flatMap((transport) =>
    modes.map((ioMode): MountKind => ({ name: `${transport} ${ioMode}`, transport, ioMode, args: transport === 'kernel' ? ['--fuse-uring', 'off'] : [] })),
  );
  if (transports.includes('kernel') && modes.length > 0) {
    for (const variant of variants) {
      const { label, args } = KERNEL_VARIANTS[variant];
      kinds.push({ name: `kernel ${modes[0]}, ${label}`, transport: 'kernel', ioMode: modes[0], args });
    }
  }
  if (peerHp !== undefined) kinds.push({ name: 'passthrough_hp', transport: 'passthrough_hp', args: [peerHp] });
  return kinds;
}

/** The command that mounts `kind` of `backing` on `mountpoint` and serves it in the foreground. */
function mountCommand(kind: MountKind, cli: string, backing: string, mountpoint: string, extraArgs: readonly string[]): string[] {
  if (kind.transport === 'passthrough_hp') return [kind.args[0]!, '--foreground', backing, mountpoint];
  return [
    process.execPath,
    cli,
    'mount',
    backing,
    mountpoint,
    '--transport',
    kind.transport,
    '--io-mode',
    kind.ioMode!,
    '--log-level',
    'warn',
    ...kind.args,
    ...extraArgs,
  ];
}

/**
 * Makes <workdir>/backing for the plain runs and, for each kind of mount, <workdir>/store-<n> mounted at
 * <workdir>/mnt-<n>. On an error, whatever was already mounted is stopped again.
 */
export async function openTargets(workdir: string, kinds: readonly MountKind[], cli: string, mountArgs: readonly string[]): Promise<Target[]> {
  const backing = path.join(workdir, 'backing');
  await mkdir(backing, { recursive: true });
  const targets: Target[] = [{ name: 'backing', dir: backing }];
  try {
    for (const [index, kind] of kinds.entries()) {
      const store = path.join(workdir, `store-${index}`);
      const mountpoint = path.join(workdir, `mnt-${index}`);
      await mkdir(store, { recursive: true });
      await mkdir(mountpoint, { recursive: true });
      const extra = kind.transport === 'passthrough_hp' ? [] : mountArgs;
      const mount = await MountProcess.start(mountpoint, (resolved) => mountCommand(kind, cli, store, resolved, extra));
      targets.push({ name: kind.name, dir: mount.mountpoint, mount });
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
      // the peer is not ours to judge: libfuse's examples exit 1 when a signal ends their loop
      if (status !== 'exit code 0' && target.name !== 'passthrough_hp')
        problems.push(`${target.name}: the mount process ended with ${status}${log ? `: ${log}` : ''}`);
    } catch (error) {
      problems.push(`${target.name}: stopping the mount failed: ${String(error)}`);
    }
  }
  return problems;
}
