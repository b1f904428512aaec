// The test cluster (ceph.ts) is stopped when its test process is stopped by the runner's timeout (SIGTERM),
// by SIGINT, or exits with a test that never ended: Ceph's daemons run in sessions of their own, so the
// signal to the test's process group does not reach them, and a test process that died without stopping
// them left them running after the suite.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'tape';

import { alive } from '../../src/lsm/lock.js';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const SCRIPT = path.resolve(HERE, '../../../scripts/ceph-s3.sh');

/**
 * A test process of its own holding the cluster (ceph()): with HOLD=alive until it is stopped, with HOLD=drain
 * in a test that never ends (nothing keeps the event loop, so the process exits: tape's 'exit' listener
 * reports the test and exits at once, removing every other listener).
 */
const HOLDER = `
import test from 'tape';
import { ceph } from ${JSON.stringify(path.join(HERE, 'ceph.js'))};
test('hold the cluster', async () => {
  await ceph();
  console.log('cluster-up');
  if (process.env.HOLD === 'alive') setInterval(() => {}, 1000);
  await new Promise(() => {});
});
`;

/** The pids of the cluster's daemons under `dir` (their pid files). */
function daemons(dir: string): number[] {
  const run = path.join(dir, 'run');
  if (!fs.existsSync(run)) return [];
  return fs
    .readdirSync(run)
    .filter((name) => name.endsWith('.pid'))
    .map((name) => Number(fs.readFileSync(path.join(run, name), 'utf8').trim()));
}

/** Starts a holder under `dir`, waits for its cluster, ends it by `how`: the daemons that were running, and how the holder ended. */
async function holdThenEnd(t: test.Test, how: NodeJS.Signals | 'drain'): Promise<{ dir: string; pids: number[]; ended: NodeJS.Signals | number | null }> {
  // a cluster of its own: another state directory and other ports than the suite's
  const dir = path.join(os.tmpdir(), `persistfs-ceph-cleanup-${process.pid}-${how}`);
  const env = { ...process.env, CEPH_DIR: dir, RGW_PORT: '7483', MON_PORT: '3303', MON_V1_PORT: '6793', HOLD: how === 'drain' ? 'drain' : 'alive' };
  t.teardown(() => {
    execFileSync(SCRIPT, ['down'], { env, stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER], {
    cwd: path.resolve(HERE, '../../..'),
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const end = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  let pids: number[] = [];
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('cluster-up')) return;
      pids = daemons(dir); // read at once: with HOLD=drain the holder is about to exit
      resolve();
    });
    void end.then((ended) => (pids.length > 0 ? resolve() : reject(new Error(`the holder ended before its cluster was up (${ended})`))));
  });
  if (how !== 'drain') child.kill(how);
  return { dir, pids, ended: await end };
}

for (const how of ['SIGTERM', 'SIGINT', 'drain'] as const) {
  const name = how === 'drain' ? 'exits with a test that never ended' : `is stopped by ${how}`;
  test(`a test process that ${name} stops its Ceph cluster`, async (t) => {
    const { dir, pids, ended } = await holdThenEnd(t, how);
    t.equal(pids.length, 3, 'the monitor, the OSD and radosgw were running');
    t.equal(ended, how === 'drain' ? 1 : how, how === 'drain' ? 'the holder failed its test and exited' : `the holder ended by ${how} itself`);
    t.deepEqual(pids.filter(alive), [], 'no daemon of the cluster outlives the test process');
    t.notOk(fs.existsSync(dir), "the cluster's state directory is gone");
  });
}
