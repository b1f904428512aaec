// The test runner (scripts/run-tests.mjs, what `make test` runs): one line per test file, `[N/M] path  P
// passed, F failed  (Ts)`, the failing assertions of a failing file under its line, a crash (a non-zero
// exit with no failing assertion) counted as one failure with the end of its stderr, the whole TAP and
// stderr in the log, and a last line `N passed, N failed` with exit status 1 when anything failed. It runs
// here over three small files of its own (PERSISTFS_TEST_DIR), its log in a temporary directory.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import test from 'tape';

import { tempDir } from '../helpers.js';

const RUNNER = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../scripts/run-tests.mjs');

const FILES = {
  'a/pass.test.js': "console.log('TAP version 13\\nok 1 one\\nok 2 two\\nok 3 three\\n1..3');",
  'b/fail.test.js':
    "console.log('TAP version 13\\nok 1 fine\\nnot ok 2 the sum is right\\n  ---\\n    expected: 4\\n    actual:   5\\n  ...\\nnot ok 3 skipped for now # TODO later\\n1..3'); process.exitCode = 1;",
  'c/crash.test.js': "console.log('TAP version 13\\nok 1 started'); console.error('a stack trace line'); process.exit(3);",
};

function runRunner(t: test.Test, files: Record<string, string>, args: string[] = [], env: Record<string, string> = {}) {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'tests'));
  for (const [name, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, 'tests', name)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'tests', name), body);
  }
  const log = path.join(dir, 'tap.log');
  const run = spawnSync(process.execPath, [RUNNER, ...args], {
    timeout: 120_000,
    encoding: 'utf8',
    env: {
      ...process.env,
      CI: '1',
      PERSISTFS_TEST_DIR: path.join(dir, 'tests'),
      PERSISTFS_TAP_LOG: log,
      PERSISTFS_TEST_TRANSPORT: 'kernel',
      PJDFSTEST_DIR: '',
      ...env,
    },
  });
  return { run, lines: run.stdout.trimEnd().split('\n'), log: fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '' };
}

test('one line per file, failures and crashes shown under their line, the TAP in the log, the total last', (t) => {
  const { run, lines, log } = runRunner(t, FILES);
  t.equal(run.status, 1, 'exit status 1: something failed');
  t.match(lines[0] ?? '', /^3 test runs; the full TAP and stderr of each go to .*tap\.log$/, 'the first line says how many files and where the log is');
  const fileLines = lines.filter((line) => line.startsWith('['));
  t.equal(fileLines.length, 3, 'one line per file');
  t.match(fileLines[0] ?? '', /^\[1\/3\] .*a\/pass\.test\.js {2}3 passed, 0 failed {2}\(\d+\.\ds\)$/, 'a passing file');
  t.match(fileLines[1] ?? '', /^\[2\/3\] .*b\/fail\.test\.js {2}1 passed, 1 failed /, 'a failing file; the TODO is not a failure');
  t.match(fileLines[2] ?? '', /^\[3\/3\] .*c\/crash\.test\.js {2}1 passed, 1 failed /, 'a crash is one failure');
  const after = (fileLine: string) => lines.slice(lines.indexOf(fileLine) + 1, lines.indexOf(fileLine) + 8).join('\n');
  t.match(after(fileLines[1]!), /not ok 2 the sum is right[\s\S]*expected: 4[\s\S]*actual: {3}5/, 'the failing assertion and its diagnostics follow its line');
  t.match(
    after(fileLines[2]!),
    /exited with status 3[\s\S]*\(exit status 3; the end of its stderr:\)\n\s+a stack trace line/,
    'the crash: its status and the end of its stderr',
  );
  t.equal(lines.at(-1), '5 passed, 2 failed', 'the last line: the totals');
  for (const text of ['ok 3 three', 'actual:   5', 'a stack trace line', '5 passed, 2 failed']) t.ok(log.includes(text), `the log keeps '${text}'`);
  t.end();
});

test('all passing: exit status 0; arguments filter the files; no files at all is a failure', (t) => {
  const passing = runRunner(t, FILES, ['pass.test']);
  t.equal(passing.run.status, 0, 'exit status 0');
  t.equal(passing.lines.filter((line) => line.startsWith('[')).length, 1, 'only the file the argument names ran');
  t.equal(passing.lines.at(-1), '3 passed, 0 failed');

  const none = runRunner(t, {});
  t.equal(none.run.status, 1, 'no test files: exit status 1');
  t.ok(
    none.lines.some((line) => /^not ok - no test files found under /.test(line)),
    'and it says so',
  );
  t.equal(none.lines.at(-1), '0 passed, 1 failed');
  t.end();
});

test('a file that runs past PERSISTFS_TEST_FILE_TIMEOUT is stopped with its children and counted as a failure', (t) => {
  const dir = tempDir(t);
  const pidFile = path.join(dir, 'grandchild.pid');
  // the hung file starts a child of its own (as a mount test starts a mount) and never ends
  const hung = `const { spawn } = require('node:child_process'); const fs = require('node:fs');
const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
fs.writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
console.log('TAP version 13\\nok 1 started'); setInterval(() => {}, 1000);`;
  const started = Date.now();
  const { run, lines } = runRunner(t, { 'a/hung.test.js': hung, 'b/pass.test.js': FILES['a/pass.test.js']! }, [], { PERSISTFS_TEST_FILE_TIMEOUT: '2' });
  t.ok(Date.now() - started < 30_000, 'the run ended soon after the timeout');
  t.equal(run.status, 1, 'exit status 1');
  const fileLines = lines.filter((line) => line.startsWith('['));
  t.match(fileLines[0] ?? '', /hung\.test\.js {2}1 passed, 1 failed/, 'the hung file: what it passed, and one failure');
  t.ok(
    lines.some((line) => /not ok - .*hung\.test\.js did not finish within 2 s \(PERSISTFS_TEST_FILE_TIMEOUT\): stopped/.test(line)),
    'which says it timed out',
  );
  t.match(fileLines[1] ?? '', /pass\.test\.js {2}3 passed, 0 failed/, 'the next file still ran');
  t.equal(lines.at(-1), '4 passed, 1 failed');
  const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
  // gone, or a zombie nobody reaps (its parent died; in a container no init may reap it)
  let alive = true;
  try {
    alive = !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${grandchild}/stat`, 'utf8'));
  } catch {
    alive = false;
  }
  t.notOk(alive, "the hung file's own child was stopped too (its process group)");
  if (alive) process.kill(grandchild, 'SIGKILL');
  t.end();
});
