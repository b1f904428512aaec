#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in its own process with tape, shows its TAP
// output, and ends with one line: `N passed, N failed`. A file that exits non-zero without a failing
// assertion (a crash) counts as one failure. Exit status 1 when anything failed.
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

const files = find(path.join(root, 'dist/test'))
  .filter((file) => only.length === 0 || only.some((pattern) => file.includes(pattern)))
  .sort();

const isMountTest = (file) => file.includes(`${path.sep}test${path.sep}mount${path.sep}`) && !path.basename(file).startsWith('kernel-');
const runs = [
  ...files.map((file) => ({ file, env: {}, label: '' })),
  ...(process.env.PERSISTFS_TEST_TRANSPORT
    ? []
    : files.filter(isMountTest).map((file) => ({ file, env: { PERSISTFS_TEST_TRANSPORT: 'fuse-native' }, label: ' [fuse-native]' }))),
];

let passed = 0;
let failed = 0;
for (const { file, env, label } of runs) {
  const relative = path.relative(root, file) + label;
  console.log(`# ---- ${relative}`);
  const child = spawn(process.execPath, [file], {
    cwd: root,
    env: { PERSISTFS_LOG_LEVEL: 'warn', ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let filePassed = 0;
  let fileFailed = 0;
  let pending = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      if (/^ok \d+/.test(line)) filePassed++;
      else if (/^not ok \d+/.test(line) && !/# TODO/.test(line)) fileFailed++;
    }
  });
  const code = await new Promise((resolve) => child.on('close', (status, signal) => resolve(signal ? 128 : status)));
  if (code !== 0 && fileFailed === 0) {
    console.log(`not ok - ${relative} exited with status ${code}`);
    fileFailed++;
  }
  passed += filePassed;
  failed += fileFailed;
}
if (files.length === 0) {
  console.log('not ok - no test files found under dist/test');
  failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
