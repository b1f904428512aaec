// The fio validation (`make fio`): standard fio jobs (sequential and random reads and writes, a verify
// job, file create/stat/unlink) on a plain directory and through persistfs mounts with each transport
// (kernel, fuse-native; io_uring IO mode unless --modes says more), the kernel transport's variants (FUSE
// io_uring queues, passthrough, no writeback cache, no data path) and libfuse's passthrough_hp when --peer-hp gives it,
// in the same run, interleaved. Prints
// a row per target and job: its throughput, a mount's ratio to the plain directory next to those of two
// reference FUSE file systems, and the mount's CPU time per request; progress on
// stderr, everything as JSON in bench-results/. Exits non-zero when any run failed (the verify job
// included). Run with --help for the options.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { hideBin, yargs } from '../mount/yargs.js';

import { steps, type Steps } from '../mount/progress.js';
import { TRANSPORTS } from '../mount/run-mount.js';
import { printChartsOf } from './bench/charts.js';
import { fioVersion } from './bench/fio.js';
import { cpuIdleNote, machineInfo } from './bench/report.js';
import { fioArguments } from './fio/fio-runner.js';
import { FIO_JOBS, JOB_IDS, type FioJob } from './fio/jobs.js';
import { fioPlan, type FioStep } from './fio/plan.js';
import { isFailed, measuredRun, type RunContext, type RunResult } from './fio/measured-run.js';
import { REFERENCE_ATTRIBUTION, REFERENCE_RATIOS } from './fio/reference.js';
import { saveReport } from './bench/report.js';
import { formatLegend, formatTable } from './fio/report.js';
import { FULL, jobEnvironment, QUICK, type FioSettings } from './fio/settings.js';
import { summarize } from './fio/summary.js';
import { closeTargets, IO_MODES, KERNEL_VARIANT_NAMES, mountKinds, openTargets, type Target } from './fio/targets.js';
import { withUringSwitch } from './fio/uring-switch.js';
import { prepareWorkdir, removeWorkdir } from './fio/workdir.js';
import { refuseEmptyLists } from './list-options.js';

// dist/scripts/fio.js -> the repository
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const JOBS_DIR = path.join(REPO, 'scripts', 'fio', 'jobs');
const MOUNT_CLI = path.join(REPO, 'dist', 'mount', 'cli.js');

/** a 1-minute load average above this before anything starts means something else is running */
const BUSY_LOAD_AVERAGE = 0.5;

async function parseArguments() {
  return (
    yargs(hideBin(process.argv))
      .scriptName('fio')
      .usage('$0 [options]\n\nfio jobs on a plain directory and through persistfs mounts (each transport, in each IO mode asked for).')
      .option('dir', {
        type: 'string',
        default: path.join(REPO, 'fio-data'),
        describe:
          'work directory for the plain target, the mounts and their backing stores: new or empty, or one of an earlier run (emptied at the start, removed at the end)',
      })
      .option('rounds', { type: 'number', describe: `runs of every job on every target (default ${FULL.rounds}, ${QUICK.rounds} with --quick)` })
      .option('quick', { type: 'boolean', default: false, describe: 'one short round with small files: a smoke test, not numbers to quote' })
      .option('only', { type: 'string', array: true, choices: JOB_IDS, describe: 'run only these jobs' })
      .option('transports', { type: 'string', array: true, choices: TRANSPORTS, default: [...TRANSPORTS], describe: 'the transports to mount with' })
      // one IO mode by default: every mode is one more mount in every round of every job
      .option('modes', {
        type: 'string',
        array: true,
        choices: IO_MODES,
        default: ['io_uring'],
        describe: 'the IO modes to mount with (each with every transport)',
      })
      .option('kernel-variants', {
        type: 'string',
        array: true,
        choices: [...KERNEL_VARIANT_NAMES, 'none'],
        default: [...KERNEL_VARIANT_NAMES],
        describe:
          'rows of the kernel transport beside its default (none: the default row alone): uring (FUSE io_uring queues; switches enable_uring on for the run), passthrough (root), no-writeback (without the writeback cache), js (no native data path)',
      })
      .option('peer-hp', { type: 'string', describe: "libfuse's example/passthrough_hp, built (outside this repository): a row, and each mount's ratio to it" })
      .option('mount-arg', { type: 'string', array: true, default: [], describe: 'a flag for persistfs mount, e.g. --mount-arg=--no-xattr (repeatable)' })
      .option('keep', { type: 'boolean', default: false, describe: 'keep the work directory at the end' })
      .check((args) => {
        if (args.rounds !== undefined && (!Number.isInteger(args.rounds) || args.rounds < 1)) throw new Error('--rounds must be a positive integer');
        return refuseEmptyLists(hideBin(process.argv), ['only', 'transports', 'modes', 'kernel-variants', 'mount-arg']);
      })
      .strict()
      .help()
      .parseAsync()
  );
}

const formatResult = (run: RunResult, job: FioJob) => (isFailed(run) ? `FAILED: ${run.error}` : `${Math.round(run.throughput * 10) / 10} ${job.unit}`);

async function runJobs(plan: readonly FioStep<Target>[], context: RunContext, progress: Steps): Promise<RunResult[]> {
  const runs: RunResult[] = [];
  for (const step of plan) {
    progress.begin(step.label);
    const run = await measuredRun(step.job, step.target, step.round + 1, context);
    progress.end(formatResult(run, step.job));
    runs.push(run);
  }
  return runs;
}

async function main(): Promise<void> {
  const args = await parseArguments();
  const startedAt = new Date();
  const base = args.quick ? QUICK : FULL;
  const settings: FioSettings = { ...base, rounds: args.rounds ?? base.rounds };
  const workdir = path.resolve(args.dir);
  const jobs = FIO_JOBS.filter((job) => args.only === undefined || args.only.includes(job.id));
  const kinds = mountKinds(
    TRANSPORTS.filter((transport) => args.transports.includes(transport)),
    IO_MODES.filter((mode) => args.modes.includes(mode)),
    KERNEL_VARIANT_NAMES.filter((variant) => args['kernel-variants'].includes(variant)),
    args['peer-hp'] === undefined ? undefined : path.resolve(args['peer-hp']),
  );
  const fio = fioVersion();
  if (fio === undefined) throw new Error('fio is not installed (make deps installs it)');

  const notes: string[] = [];
  const context: RunContext = {
    settings,
    jobsDir: JOBS_DIR,
    workdir,
    note: (message) => {
      if (!notes.includes(message)) notes.push(message);
    },
  };

  // the figures assume an otherwise idle machine; on a shared one, say so next to them
  const [loadAtStart] = os.loadavg();
  if (loadAtStart > BUSY_LOAD_AVERAGE) {
    context.note(`the machine was busy when the run started (load average ${loadAtStart.toFixed(2)}): other work may have skewed the figures`);
  }

  await prepareWorkdir(workdir);
  // now, while the work directory exists (the machine info names its file system)
  const machine = machineInfo(workdir, fio);
  const idleNote = cpuIdleNote(machine.cpuIdle);
  if (idleNote !== undefined) context.note(idleNote);
  let runs: RunResult[] = [];
  const problems: string[] = [];
  try {
    process.stderr.write(`mounting ${kinds.map((kind) => kind.name).join('; ')} under ${workdir}\n`);
    const uring = args['kernel-variants'].includes('uring') && args.transports.includes('kernel');
    await withUringSwitch(uring, context.note, async () => {
      const targets = await openTargets(workdir, kinds, MOUNT_CLI, args['mount-arg']);
      const plan = fioPlan(jobs, targets, settings.rounds);
      const progress = steps({ title: 'fio', total: plan.length });
      try {
        runs = await runJobs(plan, context, progress);
      } finally {
        progress.stop();
        problems.push(...(await closeTargets(targets)));
      }
    });
  } finally {
    if (!args.keep) await removeWorkdir(workdir);
  }

  const summaries = summarize(jobs, kinds, runs);
  const failures = runs.filter(isFailed);
  console.log(formatTable(summaries));
  console.log();
  console.log(formatLegend(settings.rounds));
  for (const failure of failures) console.log(`FAILED: ${failure.job} on ${failure.target}, round ${failure.round}: ${failure.error}`);
  for (const problem of problems) console.log(`problem: ${problem}`);
  for (const message of notes) console.log(`note: ${message}`);

  const saved = await saveReport(
    path.join(REPO, 'bench-results'),
    startedAt,
    {
      startedAt: startedAt.toISOString(),
      machine,
      workdir,
      quick: args.quick,
      settings,
      mounts: kinds,
      mountArgs: args['mount-arg'],
      jobs: jobs.map((job) => ({
        ...job,
        // with the environment it ran with (FIO_DIR being each target's directory in turn)
        command: `fio ${fioArguments({ jobFile: path.join(JOBS_DIR, job.jobFile), section: job.section }).join(' ')}`,
      })),
      environment: jobEnvironment(settings, '<target directory>'),
      loadAverage: { start: loadAtStart, end: os.loadavg()[0] },
      reference: { attribution: REFERENCE_ATTRIBUTION, ratios: REFERENCE_RATIOS },
      summary: summaries,
      runs,
      problems,
      notes,
    },
    'fio',
  );
  console.log(`\nsaved ${path.relative(process.cwd(), saved) || saved}`);
  await printChartsOf(saved);
  if (failures.length > 0 || problems.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
