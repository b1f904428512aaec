// The remote section's backup workload (issue 13): `persistfs backup` of an LSM checkpoint against `rclone
// copy` of the same files, on the same radosgw, each into a bucket of its own under a fresh prefix per
// round. A turn: the full backup of base/ into the empty prefix, a restore of it into an empty directory
// (persistfs restore; rclone copy back), then the incremental backup of next/ into the same prefix
// (persistfs sends the blobs it lacks; rclone copy skips files of the same size and mtime). Each command is
// timed by the shell around it (wall clock, the process start included, as a user runs it); the restored
// tree is checked (its files and bytes) before the figure counts. After the turn its objects are deleted
// and radosgw's garbage collected, so the memstore holds one turn's data at a time. With
// BENCH_REMOTE_BASELINE set to another checkout (built), its persistfs runs too as the peer 'baseline' (the
// same commands from that checkout): a before/after in the same run.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

import { type Checkpoints, treeSize, type TreeSize } from './backup-checkpoint.js';
import { MiB, removeQuietly, writeBack } from './data-files.js';
import { RCLONE_REMOTE, type S3Endpoint } from './remote-ceph.js';
import { timedShell } from './remote-workloads.js';

export type BackupPeerName = 'persistfs' | 'baseline' | 'rclone';
const BASELINE = process.env.BENCH_REMOTE_BASELINE;
const BASELINE_CLI = BASELINE === undefined ? '' : path.resolve(BASELINE, 'dist/mount/cli.js');
export const BACKUP_PEER_NAMES: readonly BackupPeerName[] = BASELINE === undefined ? ['persistfs', 'rclone'] : ['persistfs', 'baseline', 'rclone'];

export type BackupMetricId = 'backup-full' | 'restore' | 'backup-incremental';

/** What one turn measured: seconds per metric. */
export type BackupFigures = Partial<Record<BackupMetricId, number>>;

export interface BackupSettings {
  /** the first checkpoint's values */
  bytes: number;
  /** the values written between the two checkpoints */
  extraBytes: number;
}

export const BACKUP_FULL: BackupSettings = { bytes: 1024 * MiB, extraBytes: 32 * MiB };
export const BACKUP_QUICK: BackupSettings = { bytes: 64 * MiB, extraBytes: 4 * MiB };

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../mount/cli.js');

/** `text` quoted for bash. */
const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

export interface BackupPeer {
  name: BackupPeerName;
  bucket: string;
  /** the shell commands: back `source` up to `dest` (a prefix of the bucket, no slashes at its ends), restore `dest` into `target` */
  backup(source: string, dest: string): string;
  restore(dest: string, target: string): string;
}

/**
 * The two peers on `s3`, each on its bucket. persistfs takes its credentials from the environment (set here
 * for the shells this process starts); rclone reads `rcloneConfig`. Each command's stdout goes to `log`.
 */
export function backupPeers(s3: S3Endpoint, buckets: Record<BackupPeerName, string>, rcloneConfig: string, log: string): BackupPeer[] {
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  const logged = (argv: string[]) => `${argv.map(quote).join(' ')} >> ${quote(log)}`;
  const node = (args: string[], cli = CLI) => logged([process.execPath, cli, ...args, '--endpoint', s3.endpoint]);
  // rclone 1.60 refuses to start when AWS_CA_BUNDLE is set (an http endpoint has no use for it)
  const rclone = (args: string[]) => logged(['env', '-u', 'AWS_CA_BUNDLE', 'rclone', '--config', rcloneConfig, ...args]);
  const persistfs = (name: 'persistfs' | 'baseline', cli: string): BackupPeer => ({
    name,
    bucket: buckets[name],
    backup: (source, dest) => node(['backup', source, `s3://${buckets[name]}/${dest}/`], cli),
    restore: (dest, target) => node(['restore', `s3://${buckets[name]}/${dest}/`, target], cli),
  });
  return [
    persistfs('persistfs', CLI),
    ...(BASELINE === undefined ? [] : [persistfs('baseline', BASELINE_CLI)]),
    {
      name: 'rclone',
      bucket: buckets.rclone,
      backup: (source, dest) => rclone(['copy', source, `${RCLONE_REMOTE}:${buckets.rclone}/${dest}`]),
      restore: (dest, target) => rclone(['copy', `${RCLONE_REMOTE}:${buckets.rclone}/${dest}`, target]),
    },
  ];
}

/** The commands as the report shows them. */
export function describeCommands(peer: BackupPeer): string {
  const commands = `${peer.backup('SRC', 'rN')}; ${peer.restore('rN', 'DIR')}`;
  return (BASELINE === undefined ? commands : commands.replaceAll(quote(BASELINE_CLI), `${BASELINE}/dist/mount/cli.js`))
    .replaceAll(quote(process.execPath), 'node')
    .replaceAll(quote(CLI), 'dist/mount/cli.js')
    .replace(/ >> '[^']*'/g, '')
    .replaceAll("'", '');
}

/** Deletes every object under `prefix` (ListObjectsV2 pages, DeleteObjects each). */
export async function emptyPrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const keys = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
    if (keys.length === 0) return;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
}

export interface BackupTurnContext {
  round: number;
  checkpoints: Checkpoints;
  /** the files and bytes of base/, what a restore must give back */
  baseSize: TreeSize;
  workDir: string;
  progress(text: string): void;
}

const figure = (seconds: number) => `${seconds.toFixed(2)} s`;
const sameSize = (a: TreeSize, b: TreeSize) => a.files === b.files && a.bytes === b.bytes;

/** One peer's turn (see the top of the file), each figure put in `figures` as soon as it is measured. */
export async function backupTurn(peer: BackupPeer, context: BackupTurnContext, figures: BackupFigures): Promise<void> {
  const { checkpoints, workDir } = context;
  const dest = `r${context.round + 1}`;
  const target = path.join(workDir, `restored-${peer.name}`);
  const note = (id: BackupMetricId, seconds: number) => {
    figures[id] = seconds;
    context.progress(`${id} ${figure(seconds)}  `);
  };
  await removeQuietly(target);
  // no command pays for the writeback an earlier one left behind
  writeBack();
  note('backup-full', (await timedShell(workDir, peer.backup(checkpoints.base, dest))).seconds);
  writeBack();
  const restored = await timedShell(workDir, peer.restore(dest, target));
  const got = await treeSize(target);
  if (!sameSize(got, context.baseSize))
    throw new Error(`the restore gave ${got.files} files of ${got.bytes} bytes, not the checkpoint's ${context.baseSize.files} of ${context.baseSize.bytes}`);
  note('restore', restored.seconds);
  await removeQuietly(target);
  writeBack();
  note('backup-incremental', (await timedShell(workDir, peer.backup(checkpoints.next, dest))).seconds);
}
