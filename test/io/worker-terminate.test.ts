// The addon is loaded by worker threads too (the LSM's compaction thread checksums and searches blocks with
// it), and close() terminates such a worker wherever it is. An addon call that throws while its worker is
// being terminated must not abort the whole process: node-addon-api then cannot hand the error to
// JavaScript and, unless built with NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS, throws a C++ exception nothing
// catches (`terminate called after throwing an instance of 'Napi::Error'`, seen once in the compaction
// thread's close test on a loaded machine). The workers run in a child process, so an abort fails the test
// instead of the run.
import { spawnSync } from 'node:child_process';
import test from 'tape';

const NATIVE = new URL('../../src/io/native.js', import.meta.url).href;

// each worker calls the addon in a loop, a good call and one it refuses; the parent terminates it at once
const CHILD = `
import { Worker } from 'node:worker_threads';
const code = \`
import { parentPort } from 'node:worker_threads';
const { native } = await import(${JSON.stringify(NATIVE)});
const buffer = Buffer.alloc(4096);
parentPort.postMessage('ready');
for (;;) {
  native.crc32c(buffer, 0);
  try { native.crc32c('not bytes', 0); } catch {}
}\`;
for (let i = 0; i < ROUNDS; i++) {
  const worker = new Worker(code, { eval: true, execArgv: ['--input-type=module'] });
  await new Promise((resolve) => worker.once('message', resolve));
  await new Promise((resolve) => setTimeout(resolve, i % 3));
  await worker.terminate();
}
console.log('terminated ' + ROUNDS + ' workers');
`;

test('terminating a worker in the middle of addon calls that throw does not abort the process', (t) => {
  const rounds = 100;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD.replace(/ROUNDS/g, String(rounds))], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  t.equal(child.signal, null, `the process was not killed by a signal (${child.signal ?? 'none'}; stderr: ${child.stderr.trim().slice(-200)})`);
  t.equal(child.status, 0, 'it exits 0');
  t.equal(child.stdout.trim(), `terminated ${rounds} workers`, 'every worker was terminated and the process went on');
  t.end();
});
