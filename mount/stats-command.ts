// persistfs stats <mountpoint>: a live view of a running mount, one line a second, like iostat. Each
// second it asks the mount process for its counters (mount/stats.ts, over the mount's unix socket) and
// prints what changed since the second before: requests per second by operation (the busiest ones, with
// the p50 and p99 of their latencies), bytes read and written per second, errors, and requests in flight.
// --json prints one JSON object a line instead, with every operation and its totals since the mount.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { MOUNT_TYPE, mountedType } from './mountpoint.js';
import { bucketLimitUs, LATENCY_BUCKETS, type OpSnapshot, type StatsSnapshot, statsSocketPath } from './stats.js';

export interface StatsCommandOptions {
  /** lines to print before exiting; undefined: until interrupted */
  count?: number;
  json: boolean;
  /** seconds between lines */
  interval?: number;
}

class StatsError extends Error {}

/** The snapshot the mount process serves at `socketPath`. */
export function fetchSnapshot(socketPath: string): Promise<StatsSnapshot> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(socketPath);
    socket.setTimeout(5000, () => socket.destroy(new Error('the mount did not answer within 5 s')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatsSnapshot);
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** The latency (upper bound of its bucket, microseconds) under which a fraction `q` of `buckets` lies; null when empty. */
export function percentileUs(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let b = 0; b < buckets.length; b++) {
    seen += buckets[b]!;
    if (seen >= q * total) return bucketLimitUs(b);
  }
  return bucketLimitUs(buckets.length - 1);
}

const EMPTY: OpSnapshot = { count: 0, errors: 0, bytes: 0, latency: new Array<number>(LATENCY_BUCKETS).fill(0) };

interface OpLine {
  perSecond: number;
  errorsPerSecond: number;
  bytesPerSecond: number;
  /** over this interval (null: none in it) */
  p50Us: number | null;
  p99Us: number | null;
  /** since the mount */
  count: number;
  errors: number;
  bytes: number;
  totalP50Us: number | null;
  totalP99Us: number | null;
}

export interface StatsLine {
  time: string;
  seconds: number;
  opsPerSecond: number;
  readBytesPerSecond: number;
  writeBytesPerSecond: number;
  errorsPerSecond: number;
  inflight: number;
  ops: Record<string, OpLine>;
  /** kernel transport: the data path's counters, totals since the mount (some are levels: uringQueues, largestWrite) */
  dataPath?: Record<string, number>;
  /** kernel transport: the nodes the mount's node table holds now */
  nodes?: number;
  /** kernel transport: files the data path made that were closed before JavaScript heard of them, since the mount */
  madeAndClosed?: number;
}

/** What changed from `before` to `after`, per second. */
export function statsLine(before: StatsSnapshot, after: StatsSnapshot): StatsLine {
  const seconds = Math.max((after.now - before.now) / 1000, 0.001);
  const rate = (n: number) => Math.round((n / seconds) * 100) / 100;
  const ops: Record<string, OpLine> = {};
  let count = 0;
  let errors = 0;
  for (const [name, now] of Object.entries(after.ops)) {
    const then = before.ops[name] ?? EMPTY;
    const latency = now.latency.map((n, b) => n - (then.latency[b] ?? 0));
    count += now.count - then.count;
    errors += now.errors - then.errors;
    ops[name] = {
      perSecond: rate(now.count - then.count),
      errorsPerSecond: rate(now.errors - then.errors),
      bytesPerSecond: rate(now.bytes - then.bytes),
      p50Us: percentileUs(latency, 0.5),
      p99Us: percentileUs(latency, 0.99),
      count: now.count,
      errors: now.errors,
      bytes: now.bytes,
      totalP50Us: percentileUs(now.latency, 0.5),
      totalP99Us: percentileUs(now.latency, 0.99),
    };
  }
  return {
    time: new Date().toISOString(),
    seconds: Math.round(seconds * 1000) / 1000,
    opsPerSecond: rate(count),
    readBytesPerSecond: ops.read?.bytesPerSecond ?? 0,
    writeBytesPerSecond: ops.write?.bytesPerSecond ?? 0,
    errorsPerSecond: rate(errors),
    inflight: after.inflight,
    ops,
    ...(after.dataPath ? { dataPath: after.dataPath } : {}),
    ...(after.nodes !== undefined ? { nodes: after.nodes } : {}),
    ...(after.madeAndClosed !== undefined ? { madeAndClosed: after.madeAndClosed } : {}),
  };
}

const HEADER = `${'time'.padEnd(8)} ${'ops/s'.padStart(8)} ${'read MB/s'.padStart(9)} ${'write MB/s'.padStart(10)} ${'err/s'.padStart(6)} ${'inflight'.padStart(8)}  busiest: ops/s p50/p99`;
const BUSIEST = 4;

/** A latency in the unit that suits it: 512us, 4.1ms, 66ms, 1.0s. */
export function latencyText(us: number | null): string {
  if (us === null) return '-';
  if (us < 1000) return `${us}us`;
  if (us < 10_000) return `${(us / 1000).toFixed(1)}ms`;
  if (us < 1_000_000) return `${Math.round(us / 1000)}ms`;
  return `${(us / 1e6).toFixed(1)}s`;
}
const mb = (bytes: number): string => (bytes / 1e6).toFixed(2);

/** One line of the table under HEADER. */
export function formatLine(line: StatsLine): string {
  const busiest = Object.entries(line.ops)
    .filter(([, op]) => op.perSecond > 0)
    .sort(([, a], [, b]) => b.perSecond - a.perSecond)
    .slice(0, BUSIEST)
    .map(([name, op]) => `${name} ${Math.round(op.perSecond)} ${latencyText(op.p50Us)}/${latencyText(op.p99Us)}`);
  return [
    line.time.slice(11, 19),
    String(Math.round(line.opsPerSecond)).padStart(8),
    mb(line.readBytesPerSecond).padStart(9),
    mb(line.writeBytesPerSecond).padStart(10),
    String(Math.round(line.errorsPerSecond)).padStart(6),
    String(line.inflight).padStart(8),
    ` ${busiest.join('  ') || '-'}`,
  ].join(' ');
}

/** The mount's stats socket, or a StatsError saying why there is none. */
async function socketOf(mountpointArg: string): Promise<string> {
  let mountpoint = path.resolve(mountpointArg);
  try {
    mountpoint = fs.realpathSync(mountpoint);
  } catch {
    // missing, or a stale mount (ENOTCONN): the mount table decides below
  }
  const type = await mountedType(mountpoint);
  if (type !== MOUNT_TYPE) throw new StatsError(`${mountpoint} is not a persistfs mount${type === undefined ? '' : ` (it is ${type})`}`);
  return statsSocketPath(mountpoint);
}

/** Runs the command; the exit status. */
export async function runStats(mountpointArg: string, options: StatsCommandOptions): Promise<number> {
  const interval = (options.interval ?? 1) * 1000;
  try {
    const socketPath = await socketOf(mountpointArg);
    let before: StatsSnapshot;
    try {
      before = await fetchSnapshot(socketPath);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        throw new StatsError(
          `${path.resolve(mountpointArg)} has no stats socket (${socketPath}): its mount process is from an older persistfs, runs as another user, or died`,
        );
      }
      throw error;
    }
    let next = Date.now() + interval;
    for (let printed = 0; options.count === undefined || printed < options.count; printed++) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
      next += interval;
      let after: StatsSnapshot;
      try {
        after = await fetchSnapshot(socketPath);
      } catch {
        throw new StatsError(`the mount at ${path.resolve(mountpointArg)} is gone`);
      }
      const line = statsLine(before, after);
      before = after;
      if (options.json) process.stdout.write(`${JSON.stringify(line)}\n`);
      else {
        if (printed % 20 === 0) process.stdout.write(`${HEADER}\n`);
        process.stdout.write(`${formatLine(line)}\n`);
      }
    }
    return 0;
  } catch (error) {
    process.stderr.write(`persistfs: ${(error as Error).message}\n`);
    return 1;
  }
}
