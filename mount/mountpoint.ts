// Checks made before mounting, so that a bad mount changes nothing, and the handling of stale mounts (a
// FUSE mount whose process died answers ENOTCONN): cleared with fusermount, or reported with the command.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import { deviceNumber } from '../src/io/statx.js';
import { describe, storageError, StorageError } from '../src/ground/errors.js';

const run = promisify(execFile);

/** The FUSE subtype persistfs mounts with: the mount table then shows their type as fuse.persistfs. */
export const FUSE_SUBTYPE = 'persistfs';
export const MOUNT_TYPE = `fuse.${FUSE_SUBTYPE}`;

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Whether `dir` (an absolute, resolved path) is a mount point now, and of which file system type. */
export async function mountedType(dir: string): Promise<string | undefined> {
  const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
  let type: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator > 0 && unescapeMountinfo(fields[4] ?? '') === dir) type = fields[separator + 1];
  }
  return type;
}

async function statOrCode(dir: string): Promise<{ isDirectory(): boolean } | string> {
  try {
    return await fs.stat(dir);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

/** Lazily unmounts a FUSE mount; the error says the command to run when that fails. */
export async function clearMount(dir: string, lazy = true): Promise<void> {
  try {
    await run('fusermount', [lazy ? '-uz' : '-u', dir]);
  } catch (error) {
    throw storageError('EBUSY', `could not unmount (${(error as Error).message.trim()}); run: fusermount -uz '${dir}'`, { path: dir });
  }
}

/**
 * Unmounts the persistfs mount at `dir` (a live or a stale one); EINVAL, changing nothing, when nothing or
 * something else is mounted there: persistfs unmounts its own mounts only.
 */
export async function unmountPersistfs(given: string, lazy: boolean): Promise<void> {
  // a mount made through a symlink is in the mount table under the symlink's target
  const dir = await fs.realpath(given).catch(() => given);
  const type = await mountedType(dir);
  if (type === undefined) throw storageError('EINVAL', 'nothing is mounted at', { path: dir });
  if (type !== MOUNT_TYPE) {
    throw storageError('EINVAL', `not a persistfs mount (it is ${type}), so persistfs leaves it alone; unmount it with umount`, { path: dir });
  }
  await clearMount(dir, lazy);
}

/** A stale persistfs mount at `dir` is cleared (and logged by the caller); anything else mounted there is EBUSY. */
export async function clearStale(dir: string): Promise<boolean> {
  const status = await statOrCode(dir);
  const type = await mountedType(dir);
  if (status === 'ENOTCONN' && type === MOUNT_TYPE) {
    await clearMount(dir);
    return true;
  }
  if (type !== undefined) {
    throw storageError('EBUSY', `something (${type}) is already mounted at`, { path: dir, hint: 'unmount it first (persistfs unmount, or umount)' });
  }
  return false;
}

const FUSE_DEVICE = '/dev/fuse';

/**
 * Checks that the FUSE device opens for reading and writing and is the FUSE device (character 10:229), as
 * libfuse needs it to mount; throws a StorageError saying what to do. Checked before the storage opens,
 * so that a mount that cannot succeed leaves nothing behind.
 */
export async function checkFuseDevice(): Promise<void> {
  let device: fs.FileHandle;
  try {
    device = await fs.open(FUSE_DEVICE, 'r+');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    const hint =
      code === 'ENOENT' || code === 'ENXIO' || code === 'ENODEV'
        ? 'load the fuse kernel module (modprobe fuse), or give the container the device'
        : 'mount as root, or as a user allowed to open it';
    const message = `${code}: cannot open ${FUSE_DEVICE} (${describe(code)}), so nothing can be mounted; ${hint}`;
    throw new StorageError(code, message, { path: FUSE_DEVICE, syscall: 'open', cause: error });
  }
  try {
    const stat = await device.stat();
    if (!stat.isCharacterDevice() || stat.rdev !== deviceNumber(10, 229)) {
      throw storageError('ENODEV', `${FUSE_DEVICE} is not the FUSE device (character device 10:229), so nothing can be mounted`);
    }
  } finally {
    await device.close();
  }
}

/** The fuse module's switch for FUSE over io_uring (kernel 6.14+): Y, N, or absent on older kernels. */
export const FUSE_URING_PARAMETER = '/sys/module/fuse/parameters/enable_uring';

/** --fuse-uring on: the kernel must offer FUSE over io_uring; otherwise a StorageError saying how. */
export async function checkFuseUring(): Promise<void> {
  const value = await fs.readFile(FUSE_URING_PARAMETER, 'utf8').catch(() => undefined);
  if (value === undefined) {
    throw storageError(
      'EOPNOTSUPP',
      `--fuse-uring on: this kernel has no FUSE over io_uring (${FUSE_URING_PARAMETER} is missing; it needs Linux 6.14 or later); use --fuse-uring auto or off`,
    );
  }
  if (value.trim() !== 'Y') {
    throw storageError(
      'EOPNOTSUPP',
      `--fuse-uring on: FUSE over io_uring is switched off; as root: echo Y > ${FUSE_URING_PARAMETER} (or use --fuse-uring auto or off)`,
    );
  }
}

export interface MountPaths {
  backing: string;
  mountpoint: string;
  clearedStale: boolean;
}

/**
 * Resolves and checks the backing directory (named `backingName` in the errors: a bucket's cache directory
 * is checked here too) and the mount point; throws a StorageError saying what to do.
 */
export async function checkMountPaths(backingArg: string, mountpointArg: string, backingName = 'the backing directory'): Promise<MountPaths> {
  const mountpoint = path.resolve(mountpointArg);
  const backing = path.resolve(backingArg);
  // through a symlink, what is mounted there is in the mount table under the symlink's target
  const clearedStale = await clearStale(await fs.realpath(mountpoint).catch(() => mountpoint));

  const fail = (code: string, what: string, where: string): StorageError => storageError(code, what, { path: where });
  const backingStatus = await statOrCode(backing);
  if (backingStatus === 'ENOENT') throw fail('ENOENT', `${backingName} does not exist; create it first`, backing);
  if (typeof backingStatus === 'string') throw fail(backingStatus, `cannot use ${backingName}`, backing);
  if (!backingStatus.isDirectory()) throw fail('ENOTDIR', `cannot use it as ${backingName}`, backing);

  const mountStatus = await statOrCode(mountpoint);
  if (mountStatus === 'ENOENT') throw fail('ENOENT', 'the mount point does not exist; create it with mkdir -p', mountpoint);
  if (typeof mountStatus === 'string') throw fail(mountStatus, 'cannot use the mount point', mountpoint);
  if (!mountStatus.isDirectory()) throw fail('ENOTDIR', 'the mount point must be a directory', mountpoint);
  if ((await fs.readdir(mountpoint)).length > 0) throw fail('ENOTEMPTY', 'the mount point must be empty', mountpoint);

  const realBacking = await fs.realpath(backing);
  const realMount = await fs.realpath(mountpoint);
  // the mount point is empty, so the backing directory can only be inside it by being it
  if (realBacking === realMount) throw fail('EINVAL', `${backingName} and the mount point are one directory; mount on another`, realMount);
  if (realMount.startsWith(`${realBacking}/`)) {
    throw fail('EINVAL', `the mount point is inside ${backingName} '${realBacking}'; choose one outside it`, mountpoint);
  }
  return { backing: realBacking, mountpoint: realMount, clearedStale };
}
