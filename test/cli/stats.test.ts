// `persistfs stats <mountpoint>`: a live view of a running mount (mount/stats.ts, mount/stats-command.ts).
// Real mounts through both transports, used with Unix tools; then the command's JSON lines must show those
// operations, their bytes and latencies. Without a mount, or without its socket: one line, exit 1.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import test from 'tape';

import { latencyText, percentileUs } from '../../mount/stats-command.js';
import { latencyBucket, statsSocketPath } from '../../mount/stats.js';
import { stopMount, withMount } from '../mount/mount-helper.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'mount', 'cli.js');

function persistfs(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
}

interface Line {
  seconds: number;
  opsPerSecond: number;
  readBytesPerSecond: number;
  writeBytesPerSecond: number;
  errorsPerSecond: number;
  inflight: number;
  ops: Record<string, { perSecond: number; count: number; errors: number; bytes: number; totalP50Us: number | null; totalP99Us: number | null }>;
}

const lines = (stdout: string): Line[] =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Line);

test('stats: latency buckets, percentiles and their text', (t) => {
  t.equal(latencyBucket(0.4), 0, 'under 1 us: bucket 0');
  t.equal(latencyBucket(1), 1, '1 us: bucket 1 (up to 2 us)');
  t.equal(latencyBucket(1000), 10, '1 ms: bucket 10 (up to 1024 us)');
  t.equal(latencyBucket(1e12), 31, 'anything longer: the last bucket');
  const buckets = new Array<number>(32).fill(0);
  t.equal(percentileUs(buckets, 0.5), null, 'no requests: no percentile');
  buckets[3] = 98;
  buckets[12] = 2;
  t.equal(percentileUs(buckets, 0.5), 8, 'p50: the bucket of most');
  t.equal(percentileUs(buckets, 0.99), 4096, 'p99: the slow ones');
  t.deepEqual([latencyText(8), latencyText(4096), latencyText(65536), latencyText(2 ** 21)], ['8us', '4.1ms', '66ms', '2.1s']);
  t.end();
});

test('stats: a path that is not a persistfs mount is one line and exit 1', (t) => {
  for (const dir of ['/not-a-mount', '/tmp']) {
    const run = persistfs('stats', dir);
    t.equal(run.status, 1, `${dir}: exit 1`);
    t.equal(run.stderr, `persistfs: ${dir} is not a persistfs mount\n`, `${dir}: one line`);
    t.equal(run.stdout, '', `${dir}: nothing printed`);
  }
  t.end();
});

for (const transport of ['kernel', 'fuse-native']) {
  test(`stats (${transport}): the operations done show, with bytes and latencies; the socket goes at unmount`, async (t) => {
    const m = await withMount(t, 'io_uring', ['--transport', transport]);
    const socket = statsSocketPath(fs.realpathSync(m.mnt));
    t.equal(fs.statSync(socket).mode & 0o777, 0o600, 'the socket is 0600');
    m.sh('mkdir d && dd if=/dev/urandom of=d/big bs=64k count=32 conv=fsync status=none && ls -l d >/dev/null');
    // O_DIRECT: the reads reach the mount, not the page cache the writes left
    m.sh('dd if=d/big of=/dev/null bs=64k iflag=direct status=none && cat d/big > /dev/null && rm d/big && ls d/missing 2>/dev/null || true');

    const run = persistfs('stats', m.mnt, '--count', '2', '--json');
    t.equal(run.status, 0, `exit 0 ${run.stderr}`);
    const got = lines(run.stdout);
    t.equal(got.length, 2, '--count 2: two lines');
    const last = got[1]!;
    t.ok(last.seconds > 0.5 && last.seconds < 3, `about a second apart (${last.seconds} s)`);
    // libfuse 2 looks names up with getattr
    const lookup = transport === 'kernel' ? 'lookup' : 'getattr';
    for (const op of ['mkdir', 'create', 'write', 'read', 'unlink', lookup]) {
      t.ok((last.ops[op]?.count ?? 0) > 0, `${op}: counted (${last.ops[op]?.count})`);
    }
    t.ok(last.ops.write!.bytes >= 2 * 1024 * 1024, `2 MiB written (${last.ops.write!.bytes})`);
    t.ok(last.ops.read!.bytes >= 2 * 1024 * 1024, `2 MiB read (${last.ops.read!.bytes})`);
    t.ok((last.ops[lookup]?.errors ?? 0) > 0, `the failed ${lookup} counted as an error`);
    for (const [name, op] of Object.entries(last.ops)) {
      if (op.count === 0) continue;
      t.ok(op.totalP50Us !== null && op.totalP99Us !== null && op.totalP50Us <= op.totalP99Us, `${name}: p50 ${op.totalP50Us} us <= p99 ${op.totalP99Us} us`);
    }

    // while it watches: the rates of that second. Busy first, and watched once it has written a file, so
    // that a loaded machine's slow start of either cannot leave the watcher's seconds idle.
    const busy = spawn('bash', ['-c', 'i=0; while :; do dd if=/dev/zero of=f$i bs=64k count=4 conv=fsync status=none; i=$((i+1)); done'], {
      cwd: m.mnt,
    });
    const busyEnded = new Promise((resolve) => busy.on('exit', resolve));
    for (let waited = 0; !fs.existsSync(path.join(m.mnt, 'f1')) && waited < 30_000; waited += 50) await delay(50);
    const watcher = spawn(process.execPath, [CLI, 'stats', m.mnt, '--count', '2', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    watcher.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => watcher.on('exit', resolve));
    const status = await exited;
    busy.kill();
    await busyEnded;
    t.equal(status, 0, 'the watcher exits 0');
    const watched = lines(out);
    t.ok(
      watched.some((line) => line.opsPerSecond > 0 && line.writeBytesPerSecond > 0 && (line.ops.create?.perSecond ?? 0) > 0),
      `ops/s, write B/s and creates/s while busy (${watched.map((line) => `${line.opsPerSecond} ops/s ${line.writeBytesPerSecond} B/s`).join(', ')})`,
    );

    const human = persistfs('stats', m.mnt, '--count', '1');
    t.equal(human.status, 0, 'the table: exit 0');
    t.match(human.stdout, /^time +ops\/s +read MB\/s +write MB\/s +err\/s +inflight +busiest/, 'the table: a header');
    t.equal(human.stdout.trim().split('\n').length, 2, 'the table: a header and one line');

    // a reader that stops after the first line (persistfs stats --json | head -1): the next line's write
    // fails with EPIPE, and the command ends there, quietly (it once died on an unhandled 'error' event)
    const endless = spawn(process.execPath, [CLI, 'stats', m.mnt, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let complaint = '';
    endless.stderr.on('data', (chunk: Buffer) => (complaint += chunk.toString()));
    const ended = new Promise<number | null>((resolve) => endless.on('exit', resolve));
    await new Promise((resolve) => endless.stdout.once('data', resolve));
    endless.stdout.destroy();
    const guard = setTimeout(() => endless.kill('SIGKILL'), 15_000);
    t.equal(await ended, 0, 'stats with its reader gone: exit 0');
    clearTimeout(guard);
    t.equal(complaint, '', 'stats with its reader gone: nothing said');

    await stopMount(m.child, m.mnt);
    t.notOk(fs.existsSync(socket), 'after unmount the socket is gone');
    const after = persistfs('stats', m.mnt);
    t.equal(after.status, 1, 'after unmount: exit 1');
    t.match(after.stderr, /is not a persistfs mount\n$/, 'after unmount: not a persistfs mount');
  });
}

test('stats: a persistfs mount without its socket is one line and exit 1', async (t) => {
  const m = await withMount(t, 'io_uring');
  const socket = statsSocketPath(fs.realpathSync(m.mnt));
  fs.rmSync(socket);
  const run = persistfs('stats', m.mnt, '--count', '1');
  t.equal(run.status, 1, 'exit 1');
  t.equal(run.stderr.split('\n').length, 2, `one line: ${run.stderr.trim()}`);
  t.match(run.stderr, /has no stats socket/, 'says there is no stats socket');
});
