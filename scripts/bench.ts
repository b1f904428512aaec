// The benchmark (`make bench`): persistfs in its io_uring and sync IO modes against node:fs/promises,
// doing the same work on the same files in the same run, with fio as the ceiling for random reads (the
// storage section), persistfs' WAL against a naive node:fs log (the WAL section), and persistfs' LSM store
// against classic-level (LevelDB) on db_bench's workloads (the LSM section); and persistfs mount s3://
// against rclone mount and s3fs on a Ceph radosgw it starts itself, with backup and restore against rclone
// (the remote section: about 15 minutes; `--section storage wal lsm` leaves it out).
// Prints a table per section and the targets' verdicts on stdout, progress on stderr, and saves everything
// as JSON in bench-results/. Run with --help for the options.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { hideBin, yargs } from '../mount/yargs.js';

import { steps, type Steps } from '../mount/progress.js';
import { printChartsOf } from './bench/charts.js';
import { dataFile, ensureDataFile, GiB, MiB, removeQuietly, writeBack } from './bench/data-files.js';
import { combinedFio, fioVersion, runFio, type FioResult } from './bench/fio.js';
import { openPeer, PEER_NAMES, rotated, type Peer, type PeerName } from './bench/peers.js';
import {
  cpuIdleNote,
  evaluateTargets,
  formatTable,
  formatTargets,
  machineInfo,
  resultRow,
  saveReport,
  type ResultRow,
  type TargetResult,
} from './bench/report.js';
import { formatLsmMemoryTable, formatLsmTable, formatLsmTargets, lsmFoundMismatches } from './bench/lsm-report.js';
import { LSM_FULL, LSM_QUICK, lsmNotes, runLsmSection, type LsmSectionResult } from './bench/lsm-section.js';
import { KV_PEER_NAMES } from './bench/lsm-stores.js';
import { formatBackupTable } from './bench/backup-report.js';
import { formatRemoteTables } from './bench/remote-report.js';
import { BACKUP_FULL, BACKUP_QUICK, REMOTE_FULL, REMOTE_PARTS, REMOTE_QUICK, runRemoteSection, type RemoteSectionResult } from './bench/remote-section.js';
import { formatWalTable, formatWalTargets } from './bench/wal-report.js';
import { runWalSection, WAL_FULL, WAL_NOTES, WAL_POLICIES, WAL_QUICK, type WalSectionResult } from './bench/wal-section.js';
import { addMeasurements, NOTHING_MEASURED, type Measurement } from './bench/workers.js';
import {
  allWorkloads,
  FULL,
  QUICK,
  WORKLOAD_IDS,
  type BenchFiles,
  type Settings,
  type Workload,
  type WorkloadContext,
  type WorkloadId,
} from './bench/workloads.js';
import { refuseEmptyLists } from './list-options.js';

// dist/scripts/bench.js -> the repository
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** persistfs' own directory in every storage root, made when a storage opens */
const STORAGE_TMP_DIR = '.persistfs-tmp';
const SECTIONS = ['storage', 'wal', 'lsm', 'remote'] as const;
type Section = (typeof SECTIONS)[number];
/** every section; the remote one takes about 15 minutes and starts a Ceph cluster of its own */
const DEFAULT_SECTIONS: readonly Section[] = SECTIONS;

const say = (message: string) => process.stderr.write(`${message}\n`);
const stepLabel = (position: string, workload: Workload, job: string) => `${position} ${workload.id.padEnd(28)}  ${job}`;
const formatRate = (opsPerSecond: number) => `${Math.round(opsPerSecond).toLocaleString('en-US')} ops/s`;

async function parseArguments() {
  return yargs(hideBin(process.argv))
    .scriptName('bench')
    .usage(
      '$0 [options]\n\npersistfs (io_uring and sync IO modes) against node:fs/promises, with fio as the ceiling;\nits WAL against a naive log; its LSM store against classic-level (LevelDB);\npersistfs mount s3:// against rclone and s3fs, backup and restore against rclone, on a Ceph radosgw.',
    )
    .option('dir', {
      type: 'string',
      default: path.join(REPO, 'bench-data'),
      describe: 'where the data files live (the big ones are kept for later runs)',
    })
    .option('quick', { type: 'boolean', default: false, describe: 'short runs: a smoke test, not numbers to quote' })
    .option('section', {
      type: 'string',
      array: true,
      choices: SECTIONS,
      describe: 'run only these sections (default: all four, or storage alone when --only is given)',
    })
    .option('only', { type: 'string', array: true, choices: WORKLOAD_IDS, describe: 'run only these storage workloads' })
    .option('remote', {
      type: 'string',
      array: true,
      choices: REMOTE_PARTS,
      default: [...REMOTE_PARTS],
      describe: "the remote section's parts: the mounts (workloads 1-4) and the backup of an LSM checkpoint (workload 5)",
    })
    .option('wal-sync', {
      type: 'string',
      array: true,
      choices: WAL_POLICIES,
      default: [...WAL_POLICIES],
      describe: "the WAL section's sync policies (--wal-sync none: only the 'none' rows)",
    })
    .option('lsm-peers', {
      type: 'string',
      array: true,
      choices: KV_PEER_NAMES,
      default: [...KV_PEER_NAMES],
      describe: 'the stores the LSM section runs (quote the names with a space)',
    })
    .option('fio', { type: 'boolean', default: true, describe: 'run fio as the ceiling (--no-fio to skip)' })
    .option('clean', { type: 'boolean', default: false, describe: 'delete the big data files at the end' })
    .check(() => refuseEmptyLists(hideBin(process.argv), ['section', 'only', 'remote', 'wal-sync', 'lsm-peers']))
    .strict()
    .help()
    .parseAsync();
}

/** Who takes turns at a workload: the peers, and fio when it is the workload's ceiling. */
type Member = Peer | 'fio';

/**
 * `settings.rounds` raised to a multiple of the members taking turns: the order is rotated every round, so
 * every member then takes every place equally often and drift within a workload (the host's cache filling
 * under O_DIRECT reads, writeback) lands on all of them alike.
 */
function roundsFor(settings: Settings, members: number): number {
  // one round (--quick) stays one: no order to balance
  return settings.rounds === 1 ? 1 : Math.ceil(settings.rounds / members) * members;
}

async function runWorkload(
  workload: Workload,
  position: string,
  peers: readonly Peer[],
  context: WorkloadContext,
  withFio: boolean,
  order: number,
  progress: Steps,
): Promise<{ rows: ResultRow[]; fio: FioResult | undefined }> {
  const members: Member[] = workload.fio && withFio ? [...peers, 'fio'] : [...peers];
  const rounds = roundsFor(context.settings, members.length);
  const turnContext: WorkloadContext = { ...context, settings: { ...context.settings, rounds } };
  const totals = new Map<PeerName, Measurement>();
  const fioRuns: FioResult[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const member of rotated(members, order + round)) {
        writeBack();
        await workload.prepare(turnContext);
        if (member === 'fio') {
          const seconds = context.settings.fioSeconds / rounds;
          progress.begin(stepLabel(position, workload, `round ${round + 1}/${rounds}  fio, ${seconds.toFixed(1)} s`));
          const run = await runFio(context.files[workload.fio!.file], workload.fio!.direct, seconds, round);
          progress.end(formatRate(run.iops));
          fioRuns.push(run);
          continue;
        }
        progress.begin(stepLabel(position, workload, `round ${round + 1}/${rounds}  ${member.name}`));
        const measured = await workload.turn(member, round, turnContext);
        progress.end(formatRate(measured.ops / measured.seconds));
        totals.set(member.name, addMeasurements(totals.get(member.name) ?? NOTHING_MEASURED, measured));
      }
    }
  } finally {
    await workload.cleanup?.(turnContext);
  }
  const rows = PEER_NAMES.map((peer) => resultRow(workload.id, peer, totals.get(peer)!, workload.bytesPerOp));
  const fio = fioRuns.length > 0 ? combinedFio(fioRuns) : undefined;
  if (fio) rows.push(resultRow(workload.id, 'fio', { ops: fio.iops * fio.seconds, seconds: fio.seconds, cpuSeconds: fio.cpuSeconds }, workload.bytesPerOp));
  return { rows, fio };
}

/** The storage section's steps: every workload's turns, each peer in each round, and its fio run if any. */
function storageSteps(workloads: readonly Pick<Workload, 'fio'>[], peers: number, settings: Settings, withFio: boolean): number {
  return workloads.reduce((steps, workload) => {
    const members = peers + (workload.fio && withFio ? 1 : 0);
    return steps + members * roundsFor(settings, members);
  }, 0);
}

interface StorageSectionResult {
  workloads: Workload[];
  rows: ResultRow[];
  fioRuns: Record<string, FioResult>;
  targets: TargetResult[];
}

async function runStorageSection(
  dir: string,
  settings: Settings,
  only: readonly WorkloadId[] | undefined,
  fio: string | undefined,
  clean: boolean,
  note: (message: string) => void,
): Promise<StorageSectionResult> {
  const files: BenchFiles = { warm: dataFile(dir, 'rand-256m.dat', 256 * MiB), cold: dataFile(dir, 'rand-2g.dat', 2 * GiB) };
  const workloads = allWorkloads().filter((workload) => only === undefined || only.includes(workload.id));

  for (const which of new Set(workloads.map((workload) => workload.file))) {
    if (which !== undefined) await ensureDataFile(files[which], say);
  }
  const context: WorkloadContext = { dir, files, settings, note };
  const rows: ResultRow[] = [];
  const fioRuns: Record<string, FioResult> = {};
  const peers: Peer[] = [];
  const progress = steps({ title: 'storage', total: storageSteps(workloads, PEER_NAMES.length, settings, fio !== undefined) });
  try {
    for (const name of PEER_NAMES) peers.push(await openPeer(name, dir));
    for (const [index, workload] of workloads.entries()) {
      const position = `[${index + 1}/${workloads.length}]`;
      const result = await runWorkload(workload, position, peers, context, fio !== undefined, index, progress);
      rows.push(...result.rows);
      if (result.fio) fioRuns[workload.id] = result.fio;
    }
  } finally {
    progress.stop();
    for (const peer of peers) await peer.close();
    if (clean) {
      for (const file of Object.values(files)) await removeQuietly(file.path);
      await removeQuietly(path.join(dir, STORAGE_TMP_DIR));
    }
  }
  return { workloads, rows, fioRuns, targets: evaluateTargets(rows) };
}

function printStorageSection(storage: StorageSectionResult): void {
  console.log(formatTable(storage.rows));
  console.log();
  console.log(formatTargets(storage.targets));
}

function printLsmSection(lsm: LsmSectionResult): void {
  console.log(formatLsmTable(lsm.runs));
  console.log();
  console.log(formatLsmMemoryTable(lsm.runs));
  console.log();
  console.log(formatLsmTargets(lsm.targets));
}

function printRemoteSection(remote: RemoteSectionResult): void {
  if (remote.skipped) {
    console.log(remote.skipped);
    return;
  }
  if (remote.rows.length > 0) {
    console.log(formatRemoteTables(remote.rows, [...new Set(remote.rows.map((row) => row.peer))], remote.settings));
    console.log();
    console.log(formatTargets(remote.targets));
  }
  const { backup } = remote;
  if (backup) {
    if (remote.rows.length > 0) console.log();
    console.log(formatBackupTable(backup.rows, [...new Set(backup.rows.map((row) => row.peer))], backup.base, backup.next));
    console.log();
    console.log(formatTargets(backup.targets));
  }
}

function printWalSection(wal: WalSectionResult): void {
  console.log(formatWalTable(wal.results));
  console.log();
  console.log(formatWalTargets(wal.targets));
}

async function main(): Promise<void> {
  const args = await parseArguments();
  const startedAt = new Date();
  const settings = args.quick ? QUICK : FULL;
  const sections: readonly Section[] = args.section ?? (args.only === undefined ? DEFAULT_SECTIONS : ['storage']);
  const dir = path.resolve(args.dir);
  await mkdir(dir, { recursive: true });

  const notes: string[] = [];
  const note = (message: string) => {
    if (!notes.includes(message)) notes.push(message);
  };
  const runsStorage = sections.includes('storage');
  const fio = runsStorage && args.fio ? fioVersion() : undefined;
  if (runsStorage && args.fio && fio === undefined) note('fio is not installed: no ceiling, and the fio targets are skipped');

  const storage = runsStorage ? await runStorageSection(dir, settings, args.only, fio, args.clean, note) : undefined;
  const wal = sections.includes('wal')
    ? await runWalSection({
        benchDir: dir,
        settings: args.quick ? WAL_QUICK : WAL_FULL,
        policies: WAL_POLICIES.filter((policy) => args['wal-sync'].includes(policy)),
      })
    : undefined;
  if (wal) WAL_NOTES.forEach(note);
  const lsmSettings = args.quick ? LSM_QUICK : LSM_FULL;
  const lsm = sections.includes('lsm')
    ? await runLsmSection({
        benchDir: dir,
        settings: lsmSettings,
        peers: KV_PEER_NAMES.filter((peer) => args['lsm-peers'].includes(peer)),
      })
    : undefined;
  if (lsm) {
    lsmNotes(lsmSettings).forEach(note);
    lsmFoundMismatches(lsm.runs).forEach(note);
    note(
      `LSM: 1-minute load average ${lsm.loadBefore.toFixed(2)} before the section, ${lsm.loadAfter.toFixed(2)} after (other work on the machine shows here)`,
    );
  }

  const remote = sections.includes('remote')
    ? await runRemoteSection({
        repo: REPO,
        benchDir: dir,
        settings: args.quick ? REMOTE_QUICK : REMOTE_FULL,
        parts: args.remote,
        backupSettings: args.quick ? BACKUP_QUICK : BACKUP_FULL,
        progress: (text) => process.stderr.write(text),
      })
    : undefined;
  if (remote && !remote.skipped) {
    remote.notes.forEach(note);
    note(`remote: 1-minute load average ${remote.loadBefore.toFixed(2)} before the first round, ${remote.loadAfter.toFixed(2)} after the last`);
    if (remote.backup) {
      remote.backup.notes.forEach(note);
      for (const peer of remote.backup.peers) note(`backup: ${peer.name}: ${peer.command}`);
      note(`backup: 1-minute load average ${remote.backup.loadBefore.toFixed(2)} before the first round, ${remote.backup.loadAfter.toFixed(2)} after the last`);
    }
  }

  const machine = machineInfo(dir, fio);
  const idleNote = cpuIdleNote(machine.cpuIdle);
  if (idleNote !== undefined) note(idleNote);

  if (storage) printStorageSection(storage);
  if (storage && wal) console.log();
  if (wal) printWalSection(wal);
  if ((storage || wal) && lsm) console.log();
  if (lsm) printLsmSection(lsm);
  if ((storage || wal || lsm) && remote) console.log();
  if (remote) printRemoteSection(remote);
  for (const message of notes) console.log(`note: ${message}`);

  const saved = await saveReport(path.join(REPO, 'bench-results'), startedAt, {
    startedAt: startedAt.toISOString(),
    machine,
    benchDir: dir,
    quick: args.quick,
    sections,
    settings: storage ? settings : undefined,
    workloads: (storage?.workloads ?? []).map(({ id, description, bytesPerOp }) => ({ id, description, bytesPerOp })),
    results: storage?.rows ?? [],
    fio: storage?.fioRuns ?? {},
    targets: storage?.targets ?? [],
    wal,
    lsm,
    remote,
    notes,
  });
  console.log(`\nsaved ${path.relative(process.cwd(), saved) || saved}`);
  await printChartsOf(saved);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
