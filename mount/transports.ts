// The FUSE transports a mount can use, by name: apart from run-mount.ts so that the command line can
// offer them, and check how its options go together, without loading the mount's code (the backup and
// check commands never load it).
export type Transport = 'kernel' | 'fuse-native';
export const TRANSPORTS: readonly Transport[] = ['fuse-native', 'kernel'];
/** Our own FUSE server; fuse-native (libfuse 2) stays as the second transport (README, "Transports"). */
export const DEFAULT_TRANSPORT: Transport = 'kernel';

/**
 * Why an s3:// mount serves its files without FUSE passthrough: its uploads follow what it sees of a file
 * (RELEASE, FSYNC, sizes), and with passthrough it would see too little (BENCHMARKS.md, "Session 29").
 */
export const PASSTHROUGH_NOT_ON_S3 =
  "--passthrough is not offered on s3://: the kernel would write a file's local copy without the mount (a memory map's writes after close would never be uploaded, and a writer could be handed a reader's older copy); the mount's native data path serves s3:// files";

export const PASSTHROUGH_NEEDS = '--passthrough needs --transport kernel, root, and no --writeback-cache (the kernel takes one or the other)';

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
  if (remote && options.passthrough) return PASSTHROUGH_NOT_ON_S3;
  if (remote && options.cacheDir === undefined) return 'mounting s3://bucket/prefix needs --cache-dir (a local directory in front of the bucket)';
  if (!remote && options.cacheDir !== undefined) return '--cache-dir is for an s3://bucket/prefix backing; a local backing directory needs none';
  return undefined;
}
