// The remote section of the benchmark (issue 13): persistfs mount s3:// (the tiered adapter, write-back)
// against rclone mount (--vfs-cache-mode full) and s3fs on the same Ceph radosgw, started for the section
// and stopped after it; and persistfs on a local directory as the reference for warm reads. Every round
// mounts each peer afresh in rotated order and runs the workloads of remote-workloads.ts on it.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type { S3Client } from '@aws-sdk/client-s3';

import { steps, type Steps } from '../../mount/progress.js';
import { type BackupSectionResult, runBackupRounds } from './backup-section.js';
import type { BackupSettings } from './backup-workloads.js';
import { dataFile, ensureDataFile, removeQuietly, writeBack } from './data-files.js';
import { rotated } from './peers.js';
import { installed, missingCephPrograms, startCeph } from './remote-ceph.js';
import {
  LOCAL_PEER,
  localPeer,
  MOUNT_PREFIX,
  missingPeerProgram,
  REMOTE_PEER_NAMES,
  remotePeers,
  type RemotePeer,
  type RemotePeerName,
  type RemoteRowPeer,
} from './remote-peers.js';
import { evaluateRemoteTargets, remoteNotes, remoteRows, type RemoteRow, type RemoteTargetResult, type RemoteTurn } from './remote-report.js';
import { COLD_FILE, createBucket, LIST_DIR, localTurn, putObjects, remoteTurn, s3Client, type RemoteSettings } from './remote-workloads.js';

export { REMOTE_FULL, REMOTE_QUICK } from './remote-workloads.js';
export { BACKUP_FULL, BACKUP_QUICK } from './backup-workloads.js';

export const REMOTE_PARTS = ['mounts', 'backup'] as const;
export type RemotePart = (typeof REMOTE_PARTS)[number];

export interface RemoteSectionOptions {
  repo: string;
  benchDir: string;
  settings: RemoteSettings;
  /** the parts to run: the mounts' workloads (1-4), the backup's (5) */
  parts: readonly RemotePart[];
  backupSettings: BackupSettings;
  /** writes progress text (no newline added) */
  progress(text: string): void;
}

export interface RemoteSectionResult {
  settings: RemoteSettings;
  /** why the section did not run, when it did not */
  skipped?: string;
  endpoint?: string;
  peers: { name: RemoteRowPeer; command: string; bucket: string | undefined }[];
  versions: Record<string, string>;
  turns: RemoteTurn[];
  rows: RemoteRow[];
  targets: RemoteTargetResult[];
  /** the backup workload, when it ran */
  backup?: BackupSectionResult;
  notes: string[];
  /** 1-minute load average before the first round and after the last */
  loadBefore: number;
  loadAfter: number;
}

function versionOf(argv: string[]): string {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, AWS_CA_BUNDLE: '' } });
  return result.status === 0 ? (result.stdout.split('\n')[0] ?? '').trim() : 'unknown';
}

/** Each S3 peer's bucket, with what it reads: the cold object and the directory to list. */
async function prepareBuckets(
  client: S3Client,
  names: readonly RemotePeerName[],
  coldFile: Buffer,
  settings: RemoteSettings,
  progress: (text: string) => void,
): Promise<Record<RemotePeerName, string>> {
  const run = randomBytes(3).toString('hex');
  const buckets = Object.fromEntries(REMOTE_PEER_NAMES.map((name) => [name, `bench-${name}-${run}`])) as Record<RemotePeerName, string>;
  const listed = Array.from({ length: settings.listObjects }, (_, index) => `${MOUNT_PREFIX}${LIST_DIR}/o${String(index).padStart(5, '0')}`);
  for (const name of names) {
    const started = Date.now();
    progress(`[remote] bucket ${buckets[name]}: ${COLD_FILE} and ${settings.listObjects.toLocaleString('en-US')} objects in ${LIST_DIR}  `);
    await createBucket(client, buckets[name]);
    await putObjects(client, buckets[name], [`${MOUNT_PREFIX}${COLD_FILE}`], coldFile, 1);
    await putObjects(client, buckets[name], listed, Buffer.from('listed\n'), 64);
    progress(`${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return buckets;
}

/** the mount points mounted now, for an interrupted run to unmount */
const liveMounts = new Set<string>();

export async function runRemoteSection(options: RemoteSectionOptions): Promise<RemoteSectionResult> {
  const { settings, progress } = options;
  const runsMounts = options.parts.includes('mounts');
  const notes = runsMounts ? remoteNotes(settings) : [];
  const empty: RemoteSectionResult = { settings, peers: [], versions: {}, turns: [], rows: [], targets: [], notes, loadBefore: 0, loadAfter: 0 };
  const missing = missingCephPrograms();
  if (missing.length > 0) {
    const skipped = `remote: skipped, Ceph is not installed (missing ${missing.join(', ')}; make deps installs ceph-mon, ceph-osd, radosgw and curl)`;
    return { ...empty, skipped };
  }
  const names = REMOTE_PEER_NAMES.filter((name) => {
    const program = missingPeerProgram(name);
    if (program !== undefined && runsMounts && name !== 'baseline') notes.push(`remote: ${name} skipped, ${program} is not installed (make deps installs it)`);
    return program === undefined;
  });

  const runsBackup = options.parts.includes('backup') && installed('rclone');
  if (options.parts.includes('backup') && !runsBackup) notes.push('backup: skipped, rclone is not installed (make deps installs it)');

  const workDir = path.join(options.benchDir, 'remote');
  await removeQuietly(workDir);
  await mkdir(path.join(workDir, 'local', path.dirname(COLD_FILE)), { recursive: true });
  // kept for later runs, like the storage section's data files
  const source = dataFile(options.benchDir, `remote-src-${settings.bigBytes}.dat`, settings.bigBytes);
  const cold = dataFile(options.benchDir, `remote-cold-${settings.bigBytes}.dat`, settings.bigBytes);
  if (runsMounts) {
    for (const file of [source, cold]) await ensureDataFile(file, (message) => progress(`${message}\n`));
    await copyFile(cold.path, path.join(workDir, 'local', COLD_FILE));
  }

  progress('[remote] starting Ceph (scripts/ceph-s3.sh up)\n');
  // interrupted (SIGINT, SIGTERM): the mounts of the turn under way go first (their processes then exit)
  const ceph = startCeph(options.repo, () => {
    for (const mountpoint of liveMounts) spawnSync('fusermount', ['-uz', mountpoint]);
  });
  let client: S3Client | undefined;
  try {
    client = s3Client(ceph);
    const versions: Record<string, string> = { node: process.version };
    if (names.includes('rclone')) versions.rclone = versionOf(['env', '-u', 'AWS_CA_BUNDLE', 'rclone', 'version']);
    if (names.includes('s3fs')) versions.s3fs = versionOf(['s3fs', '--version']);
    versions.radosgw = versionOf(['radosgw', '--version']);

    const loadBefore = os.loadavg()[0]!;
    let peers: RemotePeer[] = [];
    const turns: RemoteTurn[] = [];
    if (runsMounts) {
      const buckets = await prepareBuckets(client, names, await readFile(cold.path), settings, progress);
      peers = [...(await remotePeers(names, ceph, buckets, workDir)), localPeer(path.join(workDir, 'local'))];
      // The section's first turn runs slower whoever takes it (its cold cat 1.5-2x its later rounds: rclone's
      // when rclone went first, BENCHMARKS.md "Session 36"): one turn of the first S3 peer, in a directory of
      // its own and not counted, takes that before round 1.
      const warm = peers.find((peer) => peer.bucket !== undefined);
      const bar = steps({ title: 'remote', total: settings.rounds * peers.length + (warm === undefined ? 0 : 1) });
      try {
        if (warm !== undefined) {
          const warmUp = await runTurn(warm, settings.rounds, { client, workDir, sourceFile: source.path }, settings, bar, 'warm-up (not counted)');
          notes.push(
            `remote: one turn of ${warm.name} before round 1, not counted (the section's first turn runs slower whoever takes it)${warmUp.error ? `; it failed: ${warmUp.error}` : ''}`,
          );
        }
        for (let round = 0; round < settings.rounds; round++) {
          for (const peer of rotated(peers, round)) {
            turns.push(await runTurn(peer, round, { client, workDir, sourceFile: source.path }, settings, bar));
          }
        }
      } finally {
        bar.stop();
      }
    }
    const backup = runsBackup
      ? await runBackupRounds({
          benchDir: options.benchDir,
          workDir: path.join(workDir, 'backup'),
          ceph,
          client,
          rounds: settings.rounds,
          settings: options.backupSettings,
          progress,
        })
      : undefined;
    const rowPeers: RemoteRowPeer[] = [...names, LOCAL_PEER];
    const rows = runsMounts ? remoteRows(turns, rowPeers, settings) : [];
    for (const turn of turns) if (turn.error) notes.push(`remote: round ${turn.round + 1}, ${turn.peer} failed: ${turn.error}`);
    return {
      settings,
      endpoint: ceph.endpoint,
      peers: peers.map(({ name, command, bucket }) => ({ name, command, bucket })),
      versions,
      turns,
      rows,
      targets: runsMounts ? evaluateRemoteTargets(rows, settings) : [],
      ...(backup === undefined ? {} : { backup }),
      notes,
      loadBefore,
      loadAfter: os.loadavg()[0]!,
    };
  } finally {
    client?.destroy();
    progress('[remote] stopping Ceph (scripts/ceph-s3.sh down)\n');
    ceph.stop();
    await removeQuietly(workDir);
  }
}

/** One peer's turn: a fresh mount with an empty cache directory, the workloads, the unmount. */
async function runTurn(
  peer: RemotePeer,
  round: number,
  where: { client: S3Client; workDir: string; sourceFile: string },
  settings: RemoteSettings,
  bar: Steps,
  label = `round ${round + 1}/${settings.rounds}`,
): Promise<RemoteTurn> {
  const { client, workDir, sourceFile } = where;
  const slug = peer.name.replace(/\W+/g, '-');
  const mnt = path.join(workDir, `mnt-${slug}`);
  const cacheDir = path.join(workDir, `cache-${slug}`);
  await removeQuietly(cacheDir);
  await mkdir(mnt, { recursive: true });
  await mkdir(cacheDir, { recursive: true });
  // no turn pays for the writeback an earlier one left behind
  writeBack();
  bar.begin(`${label}  ${peer.name}`);
  // the figures as they are measured: on the bar, then the step's line
  let shown = '';
  const progress = (text: string) => {
    shown += text;
    bar.detail(shown);
  };
  const turn: RemoteTurn = { round, peer: peer.name, figures: {} };
  try {
    const mount = await peer.mount(mnt, cacheDir);
    liveMounts.add(mount.mountpoint);
    try {
      try {
        if (peer.bucket === undefined) await localTurn({ mnt: mount.mountpoint, progress }, turn.figures);
        else
          await remoteTurn(
            {
              settings,
              round,
              mnt: mount.mountpoint,
              sourceFile,
              scratchFile: path.join(workDir, 'ls.out'),
              client,
              bucket: peer.bucket,
              prefix: MOUNT_PREFIX,
              progress,
            },
            turn.figures,
          );
      } catch (error) {
        // what the mount said (warnings and errors) belongs with the failure
        const said = mount.log();
        throw said === '' ? error : new Error(`${error instanceof Error ? error.message : String(error)}; the mount said: ${said}`);
      }
    } finally {
      const status = await mount.stop();
      liveMounts.delete(mount.mountpoint);
      // 143: rclone's answer to SIGTERM
      if (status !== 'exit code 0' && status !== 'exit code 143') progress(`(the mount ended with ${status}) `);
    }
  } catch (error) {
    turn.error = error instanceof Error ? error.message : String(error);
    progress(`FAILED: ${turn.error}`);
  } finally {
    await removeQuietly(cacheDir);
  }
  bar.end(shown.trimEnd());
  return turn;
}
