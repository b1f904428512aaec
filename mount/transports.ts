// The FUSE transports a mount can use, by name: apart from run-mount.ts so that the command line can
// offer them, and check how its options go together, without loading the mount's code (the backup and
// check commands never load it).
export type Transport = 'kernel' | 'fuse-native';
export const TRANSPORTS: readonly Transport[] = ['fuse-native', 'kernel'];
/** Our own FUSE server; fuse-native (libfuse 2) stays as the second transport (README, "Transports"). */
export const DEFAULT_TRANSPORT: Transport = 'kernel';

export const PASSTHROUGH_NEEDS = '--passthrough needs --transport kernel, root, and no --writeback-cache (the kernel takes one or the other)';

/**
 * FUSE passthrough, as a mount takes it: 'on' (asked for: the kernel reads and writes open files' backing
 * files itself), 'prefer' (the same where the kernel offers it at INIT, else the writeback cache), 'off'.
 */
export type PassthroughMode = 'on' | 'prefer' | 'off';

/**
 * Passthrough and the writeback cache for these options. Unless chosen, an s3:// mount served by the kernel
 * transport as root prefers passthrough: its open files are whole local copies in the cache directory, and
 * with passthrough dd's writes reach them in one copy (the writeback cache makes two more, through the
 * kernel's page cache and the mount) and reads of cached files are local reads. A local mount keeps the
 * writeback cache unless passthrough is asked for.
 */
export function cacheModes(options: { transport?: Transport; writebackCache?: boolean; passthrough?: boolean; backing: string; root: boolean }): {
  passthrough: PassthroughMode;
  writebackCache: boolean;
} {
  const kernel = (options.transport ?? DEFAULT_TRANSPORT) === 'kernel';
  const passthrough: PassthroughMode =
    options.passthrough === true
      ? 'on'
      : options.passthrough === undefined && kernel && options.root && options.writebackCache !== true && options.backing.startsWith('s3://')
        ? 'prefer'
        : 'off';
  // with 'prefer', the writeback cache is what the mount falls back on where the kernel has no passthrough
  return { passthrough, writebackCache: options.writebackCache ?? (kernel && passthrough !== 'on') };
}

/**
 * What is wrong with these options taken together, found before anything is touched (the command line
 * says it as a usage error), or undefined. `cacheDir`: the local directory in front of a bucket, if given.
 */
export function mountOptionsProblem(options: {
  transport?: Transport;
  writebackCache?: boolean;
  passthrough?: boolean;
  fuseUring?: string;
  backing: string;
  cacheDir: string | undefined;
}): string | undefined {
  const kernel = (options.transport ?? DEFAULT_TRANSPORT) === 'kernel';
  if (options.writebackCache === true && !kernel) return '--writeback-cache needs --transport kernel (libfuse 2 has no writeback cache)';
  if (options.passthrough && (!kernel || options.writebackCache === true)) return PASSTHROUGH_NEEDS;
  if (options.fuseUring === 'on' && !kernel) return '--fuse-uring on needs --transport kernel';
  const remote = options.backing.startsWith('s3://');
  if (remote && options.cacheDir === undefined) return 'mounting s3://bucket/prefix needs --cache-dir (a local directory in front of the bucket)';
  if (!remote && options.cacheDir !== undefined) return '--cache-dir is for an s3://bucket/prefix backing; a local backing directory needs none';
  return undefined;
}
