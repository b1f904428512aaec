#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in its own process with tape and prints one line
// per file, `[N/M] path  P passed, F failed  (Ts)`; after the line of a failing file, its failing
// assertions (their TAP lines, with the lines before them and their diagnostics). It ends with one line:
// `N passed, N failed`. The whole TAP output and stderr of every file go to test-results/tap.log (named at
// the start and at the end). On a terminal a progress bar with the ETA stays below the lines.
//
// A file that exits non-zero without a failing assertion (a crash) counts as one failure, and the end of
// its stderr is shown. With PJDFSTEST_DIR set (a built pjdfstest, outside this repository) and no file
// filter, pjdfstest runs after the files (scripts/pjdfstest.sh, its transport from TRANSPORT) and its
// subtests count too; with FSX or FSSTRESS set (a built fsx, fsstress), so do their runs' checks
// (scripts/fsx.sh, scripts/fsstress.sh). Arguments filter the files: a file runs when its path contains one of them. Exit
// status 1 when anything failed. PERSISTFS_TEST_DIR and PERSISTFS_TAP_LOG move the files and the log (the
// runner's own test uses them).
//
// A file that runs longer than PERSISTFS_TEST_FILE_TIMEOUT seconds (default 900; pjdfstest gets three times
// that) is stopped: SIGTERM to its process group, SIGKILL 15 s later, and counted as one failure that says
// so; FUSE mounts that appeared while it ran and are still there are then lazily unmounted, so one hung file
// costs its timeout, not the whole run. Each file runs in a process group of its own for that reason; an
// interrupt of the runner (SIGINT, SIGTERM) stops the running file's group too.
//
// The mount suite runs twice: through the default transport (kernel), then again through fuse-native
// (PERSISTFS_TEST_TRANSPORT=fuse-native), so both transports pass the same tests. The files that test the
// kernel transport itself (kernel-*.test.js) choose their transport and run once.
import { spawn } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';

import cliProgress from 'cli-progress';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const only = process.argv.slice(2);
// where the test files are and where the log goes: the repository's, unless the runner's own test moves them
const TEST_DIR = path.resolve(root, process.env.PERSISTFS_TEST_DIR ?? 'dist/test');
const LOG = path.resolve(root, process.env.PERSISTFS_TAP_LOG ?? 'test-results/tap.log');
const shownLog = path.relative(process.cwd(), LOG).startsWith('..') ? LOG : path.relative(process.cwd(), LOG);
/** lines of context shown before a failing assertion, and at most this many lines of a file's failures */
const CONTEXT = 3;
const MAX_SHOWN = 120;
/** seconds a test file may run before it is stopped */
const FILE_TIMEOUT_S = Number(process.env.PERSISTFS_TEST_FILE_TIMEOUT ?? 900);
if (!(FILE_TIMEOUT_S > 0)) {
  process.stderr.write(`PERSISTFS_TEST_FILE_TIMEOUT must be a positive number of seconds, not '${process.env.PERSISTFS_TEST_FILE_TIMEOUT}'\n`);
  process.exit(2);
}
/** after SIGTERM, how long a stopped file gets before SIGKILL */
const KILL_GRACE_MS = 15_000;

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return find(full);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

mkdirSync(path.dirname(LOG), { recursive: true });
const logFd = openSync(LOG, 'w');
const toLog = (text) => writeSync(logFd, text);

/** Where the lines go: a progress bar below them on a terminal, plain lines otherwise. */
function reporter(total) {
  if (!process.stdout.isTTY || process.env.CI) {
    return { running() {}, print: (text) => process.stdout.write(text), stop() {} };
  }
  const bars = new cliProgress.MultiBar(
    {
      stream: process.stdout,
      format: '{bar} {value}/{total} files | {duration_formatted} | ETA {eta_formatted} | {file}',
      clearOnComplete: true,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(total, 0, { file: '' });
  const stop = () => bars.stop();
  // the bar hides the cursor and turns line wrapping off: give them back when interrupted
  stopReport = stop;
  const width = Math.max(20, (process.stdout.columns ?? 100) - 75);
  return {
    running: (label) => bar.update({ file: label.length > width ? `...${label.slice(-(width - 3))}` : label }),
    print: (text) => {
      bars.log(text);
      bar.increment();
      bars.update();
    },
    stop,
  };
}

/** Splits a stream's chunks into lines, each given to `line` as it completes (the rest at `end`). */
function lines(stream, line) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop();
    for (const part of parts) line(part);
  });
  return () => {
    if (pending !== '') line(pending);
    pending = '';
  };
}

/** the process group of the file running now (its pid), stopped with the runner */
let runningGroup = 0;
/** gives the terminal back (the progress bar's), when interrupted */
let stopReport = () => {};
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
function interrupted() {
  stopReport();
  if (runningGroup !== 0) signalGroup(runningGroup, 'SIGTERM');
  process.stdout.write(`interrupted; the TAP so far is in ${shownLog}\n`);
  process.exit(130);
}
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);

/** the mountpoints of the FUSE mounts in the mount table now */
function fuseMounts() {
  try {
    return new Set(
      readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .map((line) => line.split(' '))
        .filter((fields) => fields[2]?.startsWith('fuse'))
        .map((fields) => fields[1].replace(/\\040/g, ' ')),
    );
  } catch {
    return new Set();
  }
}

/**
 * Runs `argv` in the repository, its stdout and stderr written to the log as they come; `count(line)`
 * reads each line of its stdout and says what it passed and failed. Resolves with those totals, the
 * stdout lines, the last lines of stderr and the exit status; a non-zero exit with no failure seen counts
 * as one, named by `what`.
 */
async function runCounted(what, argv, count, env = {}, timeoutS = FILE_TIMEOUT_S) {
  const started = Date.now();
  toLog(`# ---- ${what}\n`);
  const mountsBefore = fuseMounts();
  const child = spawn(argv[0], argv.slice(1), {
    cwd: root,
    env: { PERSISTFS_LOG_LEVEL: 'warn', ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  runningGroup = child.pid ?? 0;
  const result = { passed: 0, failed: 0, out: [], errTail: [], code: 0, crashed: false, seconds: 0 };
  let timedOut = false;
  let killer;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(child.pid, 'SIGTERM');
    killer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
  }, timeoutS * 1000);
  const endOut = lines(child.stdout, (line) => {
    toLog(`${line}\n`);
    result.out.push(line);
    const { passed = 0, failed = 0 } = count(line) ?? {};
    result.passed += passed;
    result.failed += failed;
  });
  const endErr = lines(child.stderr, (line) => {
    toLog(`${line}\n`);
    result.errTail.push(line);
    if (result.errTail.length > 40) result.errTail.shift();
  });
  result.code = await new Promise((resolve) => child.on('close', (status, signal) => resolve(signal ? 128 : status)));
  clearTimeout(timer);
  clearTimeout(killer);
  runningGroup = 0;
  endOut();
  endErr();
  if (timedOut) {
    // what it left mounted would hold its directories and whatever waits on them
    const left = [...fuseMounts()].filter((mountpoint) => !mountsBefore.has(mountpoint));
    for (const mountpoint of left) spawnSync('fusermount3', ['-uz', mountpoint], { stdio: 'ignore' });
    const line = `not ok - ${what} did not finish within ${timeoutS} s (PERSISTFS_TEST_FILE_TIMEOUT): stopped${left.length > 0 ? `; unmounted what it left: ${left.join(', ')}` : ''}`;
    toLog(`${line}\n`);
    result.out.push(line);
    result.failed++;
    result.crashed = true;
  } else if (result.code !== 0 && result.failed === 0) {
    const line = `not ok - ${what} exited with status ${result.code}`;
    toLog(`${line}\n`);
    result.out.push(line);
    result.failed++;
    result.crashed = true;
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}

function countTap(line) {
  if (/^ok \d+/.test(line)) return { passed: 1 };
  if (/^not ok \d+/.test(line) && !/# TODO/.test(line)) return { failed: 1 };
  return undefined;
}

/** The last line of scripts/pjdfstest.sh, fsx.sh or fsstress.sh: "<suite> (<transport> ...): N passed, N failed". */
function countOutsideSuite(line) {
  const match = /^(?:pjdfstest|fsx|fsstress) \(.*\): (\d+) passed, (\d+) failed$/.exec(line);
  return match ? { passed: Number(match[1]), failed: Number(match[2]) } : undefined;
}

const isFailure = (line) => (/^not ok\b/.test(line) && !/# TODO/.test(line)) || /^(?:pjdfstest|fsx|fsstress) \(.*\): \d+ passed, [1-9]\d* failed$/.test(line);

/**
 * The lines to show for a failed run: each failing TAP line with the CONTEXT lines before it and its
 * diagnostics (the indented YAML block after it); for a crash, the end of its stderr too.
 */
function failureDetails(result) {
  /** line number -> whether it is printed (a stack is passed over, not cut out) */
  const shown = new Map();
  result.out.forEach((line, i) => {
    if (!isFailure(line)) return;
    for (let j = Math.max(0, i - CONTEXT); j <= i; j++) shown.set(j, true);
    // its YAML diagnostics, less the stack (the `at:` line says where)
    let stackIndent = -1;
    for (let j = i + 1; j < result.out.length && /^\s/.test(result.out[j]); j++) {
      const indent = result.out[j].search(/\S/);
      if (stackIndent < 0 || indent <= stackIndent) stackIndent = /^\s*stack:/.test(result.out[j]) ? indent : -1;
      shown.set(j, stackIndent < 0);
    }
  });
  const out = [];
  let last = -1;
  for (const [i, print] of [...shown].sort(([a], [b]) => a - b)) {
    if (last >= 0 && i > last + 1) out.push('...');
    if (print) out.push(result.out[i]);
    last = i;
  }
  // a crash: why is likely at the end of its stderr
  if (result.crashed) out.push(`(exit status ${result.code}; the end of its stderr:)`, ...result.errTail.slice(-15));
  const cut = out.length > MAX_SHOWN ? [...out.slice(0, MAX_SHOWN), `... ${out.length - MAX_SHOWN} more lines in ${shownLog}`] : out;
  return cut.map((line) => `    ${line}\n`).join('');
}

const files = find(TEST_DIR)
  .filter((file) => only.length === 0 || only.some((pattern) => file.includes(pattern)))
  .sort();

const isMountTest = (file) => file.includes(`${path.sep}test${path.sep}mount${path.sep}`) && !path.basename(file).startsWith('kernel-');
const runs = [
  ...files.map((file) => ({ what: path.relative(root, file), argv: [process.execPath, file], count: countTap, env: {} })),
  ...(process.env.PERSISTFS_TEST_TRANSPORT
    ? []
    : files.filter(isMountTest).map((file) => ({
        what: `${path.relative(root, file)} [fuse-native]`,
        argv: [process.execPath, file],
        count: countTap,
        env: { PERSISTFS_TEST_TRANSPORT: 'fuse-native' },
      }))),
  ...(process.env.PJDFSTEST_DIR && only.length === 0
    ? [
        {
          what: `pjdfstest (${process.env.PJDFSTEST_DIR})`,
          argv: ['bash', path.join(root, 'scripts/pjdfstest.sh'), process.env.PJDFSTEST_DIR],
          count: countOutsideSuite,
          env: {},
          timeoutS: 3 * FILE_TIMEOUT_S,
        },
      ]
    : []),
  ...[
    ['fsx', process.env.FSX],
    ['fsstress', process.env.FSSTRESS],
  ].flatMap(([suite, binary]) =>
    binary && only.length === 0
      ? [
          {
            what: `${suite} (${binary})`,
            argv: ['bash', path.join(root, `scripts/${suite}.sh`), binary],
            count: countOutsideSuite,
            env: {},
            timeoutS: 3 * FILE_TIMEOUT_S,
          },
        ]
      : [],
  ),
];

process.stdout.write(`${runs.length} test runs; the full TAP and stderr of each go to ${shownLog}\n`);
let passed = 0;
let failed = 0;
const report = reporter(runs.length);
for (const [i, run] of runs.entries()) {
  report.running(run.what);
  const result = await runCounted(run.what, run.argv, run.count, run.env, run.timeoutS);
  passed += result.passed;
  failed += result.failed;
  const line = `[${i + 1}/${runs.length}] ${run.what}  ${result.passed} passed, ${result.failed} failed  (${result.seconds.toFixed(1)}s)\n`;
  report.print(result.failed > 0 ? line + failureDetails(result) : line);
}
report.stop();
if (files.length === 0) {
  const none = `not ok - no test files found under ${path.relative(root, TEST_DIR) || TEST_DIR}\n`;
  process.stdout.write(none);
  toLog(none);
  failed++;
}
toLog(`${passed} passed, ${failed} failed\n`);
process.stdout.write(`the full TAP and stderr of every file: ${shownLog}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
