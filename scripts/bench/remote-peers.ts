// The mounts the remote section compares, each a child process in the foreground (scripts/fio/mount-process.ts):
// persistfs over S3 (the tiered adapter, write-back, the defaults), rclone mount with its full VFS cache,
// s3fs with its defaults, each on a bucket of its own under the same prefix; and persistfs on a plain local
// directory, the reference for warm reads. With BENCH_REMOTE_BASELINE set to another checkout (built), its
// persistfs runs too as the peer 'baseline', the same mount command from that checkout: a before/after
// comparison in one run.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { MountProcess } from '../fio/mount-process.js';
import { installed, RCLONE_REMOTE, type S3Endpoint, writeRcloneConfig } from './remote-ceph.js';

export type RemotePeerName = 'persistfs' | 'baseline' | 'rclone' | 's3fs';
export const REMOTE_PEER_NAMES: readonly RemotePeerName[] = ['persistfs', 'baseline', 'rclone', 's3fs'];
export const LOCAL_PEER = 'local mount';
export type RemoteRowPeer = RemotePeerName | typeof LOCAL_PEER;

/** the key prefix every peer's mount shows (in its own bucket) */
export const MOUNT_PREFIX = 'bench/';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../mount/cli.js');
const BASELINE = process.env.BENCH_REMOTE_BASELINE;
const BASELINE_CLI = BASELINE === undefined ? '' : path.resolve(BASELINE, 'dist/mount/cli.js');

export interface RemotePeer {
  readonly name: RemoteRowPeer;
  /** the peer's bucket; undefined for the local mount */
  readonly bucket: string | undefined;
  /** how the peer mounts, for the report */
  readonly command: string;
  /** a fresh mount on `mnt` (empty) with its cache, if it keeps one, in `cacheDir` (empty) */
  mount(mnt: string, cacheDir: string): Promise<MountProcess>;
}

/** The programs a peer needs that are missing, for the skip message. */
export function missingPeerProgram(name: RemotePeerName): string | undefined {
  if (name === 'baseline' && BASELINE === undefined) return 'BENCH_REMOTE_BASELINE (another checkout, built)';
  if (name === 'rclone' && !installed('rclone')) return 'rclone';
  if (name === 's3fs' && !installed('s3fs')) return 's3fs';
  return undefined;
}

const withoutSlash = (prefix: string) => prefix.replace(/\/$/, '');

/**
 * The S3 peers on `s3`, each on `buckets[name]`; their configuration files (rclone's remote, s3fs'
 * password file) are written into `workDir`. persistfs takes its credentials from the environment (set
 * here for the mount processes this one starts).
 */
export async function remotePeers(
  names: readonly RemotePeerName[],
  s3: S3Endpoint,
  buckets: Record<RemotePeerName, string>,
  workDir: string,
): Promise<RemotePeer[]> {
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  const rcloneConfig = path.join(workDir, 'rclone.conf');
  await writeRcloneConfig(s3, rcloneConfig);
  const s3fsPasswords = path.join(workDir, 's3fs-passwd');
  await writeFile(s3fsPasswords, `${s3.accessKeyId}:${s3.secretAccessKey}\n`, { mode: 0o600 });

  const persistfs = (cli: string) => (bucket: string, mnt: string, cacheDir: string) => [
    process.execPath,
    cli,
    'mount',
    `s3://${bucket}/${MOUNT_PREFIX}`,
    mnt,
    '--cache-dir',
    cacheDir,
    '--endpoint',
    s3.endpoint,
    '--log-level',
    'warn',
  ];
  const argv: Record<RemotePeerName, (bucket: string, mnt: string, cacheDir: string) => string[]> = {
    persistfs: persistfs(CLI),
    baseline: persistfs(BASELINE_CLI),
    // rclone 1.60 refuses to start when AWS_CA_BUNDLE is set (an http endpoint has no use for it)
    rclone: (bucket, mnt, cacheDir) => [
      'env',
      '-u',
      'AWS_CA_BUNDLE',
      'rclone',
      '--config',
      rcloneConfig,
      'mount',
      `${RCLONE_REMOTE}:${bucket}/${withoutSlash(MOUNT_PREFIX)}`,
      mnt,
      '--vfs-cache-mode',
      'full',
      '--cache-dir',
      cacheDir,
    ],
    // s3fs keeps no local cache by default (no use_cache): it reads through the kernel's page cache
    s3fs: (bucket, mnt) => [
      's3fs',
      `${bucket}:/${withoutSlash(MOUNT_PREFIX)}`,
      mnt,
      '-f',
      '-o',
      `passwd_file=${s3fsPasswords},url=${s3.endpoint},use_path_request_style`,
    ],
  };
  return names.map((name) => {
    const bucket = buckets[name];
    const command = argv[name];
    return {
      name,
      bucket,
      command: command(bucket, 'MNT', 'CACHE')
        .join(' ')
        .replace(process.execPath, 'node')
        .replace(CLI, 'dist/mount/cli.js')
        .replace(BASELINE_CLI, `${BASELINE}/dist/mount/cli.js`),
      mount: (mnt, cacheDir) => MountProcess.start(mnt, (resolved) => command(bucket, resolved, cacheDir)),
    };
  });
}

/** persistfs on the plain directory `backing` (the kernel transport's defaults), the reference for warm reads. */
export function localPeer(backing: string): RemotePeer {
  const command = (mnt: string) => [process.execPath, CLI, 'mount', backing, mnt, '--log-level', 'warn'];
  return {
    name: LOCAL_PEER,
    bucket: undefined,
    command: command('MNT').join(' ').replace(process.execPath, 'node').replace(CLI, 'dist/mount/cli.js'),
    mount: (mnt) => MountProcess.start(mnt, command),
  };
}
