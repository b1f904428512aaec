// The life of a mount: check the FUSE device and the paths (clearing a stale mount), open the storage,
// mount through the chosen transport (kernel: our own FUSE server, mount/kernel; fuse-native: libfuse 2),
// then serve in the foreground until SIGINT/SIGTERM or until the mount disappears (persistfs unmount,
// fusermount -u, umount); then unmount, let the operations in flight finish, close every handle and the
// storage, and exit. Nothing is created in the backing directory before the checks have passed.
import type { Config } from '../src/config/config.js';
import { StorageError } from '../src/ground/errors.js';
import type { S3Options } from '../src/adapters/s3/s3-settings.js';
import type { TieredOptions } from '../src/adapters/tiered/tiered-adapter.js';
import { openStorage, type StorageOptions } from '../src/storage/storage.js';
import type { Logger } from '../src/log.js';
import { FuseMount, type FuseMountOptions } from './fuse-glue.js';
import { KernelMount } from './kernel/kernel-mount.js';
import { checkFuseDevice, checkFuseUring, checkMountPaths, mountedType } from './mountpoint.js';
import { PosixFs } from './posix-fs.js';
import { serveStats, statsSocketPath, type StatsServer } from './stats.js';

import { DEFAULT_TRANSPORT, mountOptionsProblem, PASSTHROUGH_NEEDS, type Transport } from './transports.js';

export { DEFAULT_TRANSPORT, TRANSPORTS, type Transport } from './transports.js';
export { mountOptionsProblem } from './transports.js';

export interface RunMountOptions extends FuseMountOptions {
  transport?: Transport;
  backing: string;
  mountpoint: string;
  config: Config;
  logger: Logger;
  /**
   * For a backing given as s3://bucket/prefix: the bucket's settings and the local cache directory in front
   * of it (the tiered adapter); `backing` is then that URL.
   */
  remote?: { s3: S3Options; tiered: TieredOptions };
  /** called once the mount serves requests */
  onMounted?: (info: { backing: string; mountpoint: string; ioMode: string }) => void;
}

const WATCH_INTERVAL_MS = 500;

/** Mounts and serves; resolves once the mount is gone and everything is closed. */
export async function runMount(options: RunMountOptions): Promise<void> {
  const { logger } = options;
  const transport = options.transport ?? DEFAULT_TRANSPORT;
  const problem = mountOptionsProblem({ ...options, cacheDir: options.remote?.tiered.cacheDir });
  if (problem !== undefined) throw new StorageError('EINVAL', `EINVAL: ${problem}`);
  if (options.passthrough && process.getuid?.() !== 0) throw new StorageError('EINVAL', `EINVAL: ${PASSTHROUGH_NEEDS}`);
  // the writeback cache by default where there is one, and passthrough was not chosen instead
  options = { ...options, writebackCache: options.writebackCache ?? (transport === 'kernel' && !options.passthrough) };
  await checkFuseDevice();
  if (options.fuseUring === 'on') await checkFuseUring();
  const remote = options.backing.startsWith('s3://');
  // for a bucket, the local directory checked (exists, not inside the mount point) is its cache directory
  const paths = remote
    ? await checkMountPaths(options.remote!.tiered.cacheDir, options.mountpoint, 'the cache directory (--cache-dir)')
    : await checkMountPaths(options.backing, options.mountpoint);
  if (paths.clearedStale) logger.warn({ mountpoint: paths.mountpoint }, 'cleared a stale mount left by a process that died');
  const storageOptions: StorageOptions = { config: options.config, logger, enforcePermissions: false, readOnly: options.readOnly === true };
  if (remote) {
    Object.assign(storageOptions, { adapter: 'tiered', s3: options.remote!.s3, tiered: { ...options.remote!.tiered, cacheDir: paths.backing } });
    paths.backing = options.backing;
    // a bucket keeps no extended attributes: the mount serves none (ENOSYS), and the kernel then answers
    // every xattr call EOPNOTSUPP itself, as the adapter would, without asking (`ls -l` asks two of each file)
    options = { ...options, xattr: false };
  }
  const storage = await openStorage(paths.backing, storageOptions);
  const posix = new PosixFs(storage);
  // the kernel checks POSIX ACLs where the backing keeps them and the mount serves extended attributes
  const posixAcl = transport === 'kernel' && options.xattr === true && (await posix.keepsPosixAcls());
  const fuse =
    transport === 'kernel'
      ? // a bucket's inode numbers are its keys' hashes: a rename gives a file another one
        new KernelMount(paths.mountpoint, paths.backing, posix, { ...options, inodesFromNames: remote, posixAcl }, logger)
      : new FuseMount(paths.mountpoint, paths.backing, posix, options, logger);
  // persistfs stats: a snapshot on demand; a mount without one still serves. Made before the mount serves:
  // its socket is made under a narrowed umask, which no file made by the mount's threads may get
  let stats: StatsServer | undefined;
  try {
    stats = await serveStats(statsSocketPath(paths.mountpoint), () => fuse.statsSnapshot(), logger);
  } catch (error) {
    logger.warn({ err: error }, 'no stats socket: persistfs stats will not see this mount');
  }
  try {
    await fuse.mount();
  } catch (error) {
    await stats?.close();
    await storage.close();
    throw error;
  }
  logger.info({ backing: paths.backing, mountpoint: paths.mountpoint, ioMode: storage.ioMode, transport }, 'mounted');
  options.onMounted?.({ backing: paths.backing, mountpoint: paths.mountpoint, ioMode: storage.ioMode });

  const OUTSIDE = 'unmounted from outside';
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (reason: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(watch);
      // an unmount nobody here asked for is worth seeing at the default level (a test's mount that vanished)
      if (reason === OUTSIDE) logger.warn({ reason }, 'unmounting');
      else logger.info({ reason }, 'unmounting');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    if (fuse instanceof KernelMount) void fuse.ended.then(() => stop(OUTSIDE));
    // fuse-native does not tell when the kernel side goes away; the mount table does.
    const watch = setInterval(() => {
      mountedType(paths.mountpoint).then(
        (type) => type === undefined && stop(OUTSIDE),
        (error: unknown) => logger.warn({ err: error }, 'could not read the mount table'),
      );
    }, WATCH_INTERVAL_MS);
  });

  await stats?.close();
  await fuse.unmount();
  await posix.close();
  logger.info({ storageWrites: posix.writes.calls, bytes: posix.writes.bytes, largest: posix.writes.largest }, 'storage writes made');
  await storage.close();
  logger.info({ mountpoint: paths.mountpoint }, 'unmounted; storage closed');
}
