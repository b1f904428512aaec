// The backup rounds of the remote section: the checkpoints made (or found) under the bench directory, a
// bucket per peer, then every round each peer's turn (backup-workloads.ts) in rotated order, its objects
// deleted after it; medians, ratio and target (backup-report.ts).
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type { S3Client } from '@aws-sdk/client-s3';

import { ensureCheckpoints, treeSize, type TreeSize } from './backup-checkpoint.js';
import { type BackupRow, type BackupTargetResult, type BackupTurn, backupRows, evaluateBackupTargets } from './backup-report.js';
import { BACKUP_PEER_NAMES, type BackupPeerName, type BackupSettings, backupPeers, backupTurn, describeCommands, emptyPrefix } from './backup-workloads.js';
import { rotated } from './peers.js';
import { type RunningCeph, writeRcloneConfig } from './remote-ceph.js';
import { createBucket } from './remote-workloads.js';

export interface BackupSectionResult {
  settings: BackupSettings;
  base: TreeSize;
  next: TreeSize;
  peers: { name: BackupPeerName; command: string; bucket: string }[];
  turns: BackupTurn[];
  rows: BackupRow[];
  targets: BackupTargetResult[];
  notes: string[];
  /** 1-minute load average before the first round and after the last */
  loadBefore: number;
  loadAfter: number;
}

export interface BackupRoundsOptions {
  benchDir: string;
  /** an empty directory of the section's, removed after it */
  workDir: string;
  ceph: RunningCeph;
  client: S3Client;
  rounds: number;
  settings: BackupSettings;
  progress(text: string): void;
}

export function backupNotes(rounds: number): string[] {
  return [
    `backup: medians of ${rounds} round${rounds === 1 ? '' : 's'}; each round, in rotated order, each peer backs the first checkpoint up into an empty prefix of its bucket, restores it into an empty directory, then backs the second checkpoint up into the same prefix; the prefix is emptied after the turn`,
    "backup: ratios are speeds (> 1.00x: persistfs faster; for the row in seconds, rclone's time over persistfs'); times are wall clock around each command, its process start included",
    'backup: persistfs checks every blob it sends (a PUT signed with its sha256, which the store checks; a HEAD after a multipart upload) and writes a manifest last; its restore checks each sha256 and fsyncs every file and directory; rclone copy checks MD5s on upload and download and fsyncs nothing',
  ];
}

export async function runBackupRounds(options: BackupRoundsOptions): Promise<BackupSectionResult> {
  const { ceph, client, progress, settings } = options;
  const checkpoints = await ensureCheckpoints(options.benchDir, settings.bytes, settings.extraBytes, progress);
  const base = await treeSize(checkpoints.base);
  const next = await treeSize(checkpoints.next);
  const workDir = options.workDir;
  await mkdir(workDir, { recursive: true });
  const run = randomBytes(3).toString('hex');
  const buckets = Object.fromEntries(BACKUP_PEER_NAMES.map((name) => [name, `bench-backup-${name}-${run}`])) as Record<BackupPeerName, string>;
  for (const name of BACKUP_PEER_NAMES) await createBucket(client, buckets[name]);
  const rcloneConfig = path.join(workDir, 'rclone.conf');
  await writeRcloneConfig(ceph, rcloneConfig);
  const peers = backupPeers(ceph, buckets, rcloneConfig, path.join(workDir, 'commands.log'));

  const loadBefore = os.loadavg()[0]!;
  const turns: BackupTurn[] = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const peer of rotated(peers, round)) {
      progress(`[backup round ${round + 1}/${options.rounds}] ${peer.name.padEnd(9)}  `);
      const turn: BackupTurn = { round, peer: peer.name, figures: {} };
      try {
        await backupTurn(peer, { round, checkpoints, baseSize: base, workDir, progress }, turn.figures);
      } catch (error) {
        turn.error = error instanceof Error ? error.message : String(error);
        progress(`FAILED: ${turn.error}`);
      } finally {
        // the memstore keeps one turn's objects at a time
        await emptyPrefix(client, peer.bucket, `r${round + 1}/`);
        ceph.collectGarbage();
      }
      progress('\n');
      turns.push(turn);
    }
  }
  const rows = backupRows(turns, BACKUP_PEER_NAMES, base);
  const notes = backupNotes(options.rounds);
  for (const turn of turns) if (turn.error) notes.push(`backup: round ${turn.round + 1}, ${turn.peer} failed: ${turn.error}`);
  return {
    settings,
    base,
    next,
    peers: peers.map((peer) => ({ name: peer.name, command: describeCommands(peer), bucket: peer.bucket })),
    turns,
    rows,
    targets: evaluateBackupTargets(rows),
    notes,
    loadBefore,
    loadAfter: os.loadavg()[0]!,
  };
}
