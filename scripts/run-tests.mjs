#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in its own process with tape, shows its TAP
// output, and ends with one line: `N passed, N failed`. A file that exits non-zero without a failing
// assertion (a crash) counts as one failure. With PJDFSTEST_DIR set (a built pjdfstest, outside this
// repository) and no file filter, pjdfstest runs after the files (scripts/pjdfstest.sh, its transport
// from TRANSPORT) and its subtests count too. Exit status 1 when anything failed.
//
// The mount suite runs twice: through the default transport (kernel), then again through fuse-native
// (PERSISTFS_TEST_TRANSPORT=fuse-native), so both transports pass the same tests. The files that test the
// kernel transport itself (kernel-*.test.js) choose their transport and run once.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const only = process.argv.slice(2);

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return find(full);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

/**
 * Runs `argv` in the repository, its output shown as it comes; `count(line)` reads each line of its stdout
 * and says what it passed and failed. Resolves with those totals; a non-zero exit with no failure seen
 * counts as one, named by `what`.
 */
async function runCounted(what, argv, count, env = {}) {
  const child = spawn(argv[0], argv.slice(1), {
    cwd: root,
    env: { PERSISTFS_LOG_LEVEL: 'warn', ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const totals = { passed: 0, failed: 0 };
  let pending = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      const { passed = 0, failed = 0 } = count(line) ?? {};
      totals.passed += passed;
      totals.failed += failed;
    }
  });
  const code = await new Promise((resolve) => child.on('close', (status, signal) => resolve(signal ? 128 : status)));
  if (code !== 0 && totals.failed === 0) {
    console.log(`not ok - ${what} exited with status ${code}`);
    totals.failed++;
  }
  return totals;
}

function countTap(line) {
  if (/^ok \d+/.test(line)) return { passed: 1 };
  if (/^not ok \d+/.test(line) && !/# TODO/.test(line)) return { failed: 1 };
  return undefined;
}

/** scripts/pjdfstest.sh ends with "pjdfstest (<transport> transport): N passed, N failed" */
function countPjdfstest(line) {
  const match = /^pjdfstest \(.*\): (\d+) passed, (\d+) failed$/.exec(line);
  return match ? { passed: Number(match[1]), failed: Number(match[2]) } : undefined;
}

const files = find(path.join(root, 'dist/test'))
  .filter((file) => only.length === 0 || only.some((pattern) => file.includes(pattern)))
  .sort();

let passed = 0;
let failed = 0;
const add = (totals) => {
  passed += totals.passed;
  failed += totals.failed;
};
const isMountTest = (file) => file.includes(`${path.sep}test${path.sep}mount${path.sep}`) && !path.basename(file).startsWith('kernel-');
const runs = [
  ...files.map((file) => ({ file, env: {}, label: '' })),
  ...(process.env.PERSISTFS_TEST_TRANSPORT
    ? []
    : files.filter(isMountTest).map((file) => ({ file, env: { PERSISTFS_TEST_TRANSPORT: 'fuse-native' }, label: ' [fuse-native]' }))),
];
for (const { file, env, label } of runs) {
  const relative = path.relative(root, file) + label;
  console.log(`# ---- ${relative}`);
  add(await runCounted(relative, [process.execPath, file], countTap, env));
}
if (files.length === 0) {
  console.log('not ok - no test files found under dist/test');
  failed++;
}
if (process.env.PJDFSTEST_DIR && only.length === 0) {
  console.log(`# ---- pjdfstest (${process.env.PJDFSTEST_DIR})`);
  add(await runCounted('scripts/pjdfstest.sh', ['bash', path.join(root, 'scripts/pjdfstest.sh'), process.env.PJDFSTEST_DIR], countPjdfstest));
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
