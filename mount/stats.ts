// What a mount did, for `persistfs stats` (mount/stats-command.ts): per operation a count, errors, bytes
// and a latency histogram (log2 buckets of microseconds), kept in typed arrays made once, so that recording
// a request allocates nothing. The mount process serves a snapshot of them, with the native data path's
// counters merged in, to whoever connects to its unix socket (statsSocketPath: one per mount point, mode
// 0600, removed at unmount); one JSON object per connection, then the socket closes.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import type { Logger } from '../src/log.js';

/** Bucket 0: under 1 us; bucket i: from 2^(i-1) to 2^i us; the last one anything longer. */
export const LATENCY_BUCKETS = 32;
const MAX_OPS = 64;

export interface OpSnapshot {
  count: number;
  errors: number;
  bytes: number;
  latency: number[];
}

export interface StatsSnapshot {
  /** the format of this object */
  version: 1;
  pid: number;
  transport: string;
  mountpoint: string;
  /** milliseconds since the mount process started (performance.now()) */
  now: number;
  /** requests being answered in JavaScript right now */
  inflight: number;
  /** by operation (lower case: lookup, read, write, ...), those seen at least once */
  ops: Record<string, OpSnapshot>;
  /**
   * kernel transport: how the native data path answered, totals since the mount (served, forwarded to
   * JavaScript, cachedReads, splicedReads, spliceFallbacks, ...: session.counters() in src/io/native.ts)
   */
  dataPath?: Record<string, number>;
  /** kernel transport: the nodes the node table holds (the kernel's, and those it forgot that are kept) */
  nodes?: number;
  /** kernel transport: files the data path made that were closed before JavaScript heard of them (never taken by the storage) */
  madeAndClosed?: number;
}

/** The numbers among a data path's counters (its latencies and flags left out). */
export function dataPathTotals(counters: object): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const [name, value] of Object.entries(counters)) if (typeof value === 'number') totals[name] = value;
  return totals;
}

/** The data path's counters, as session.counters() gives them (the parts merged here). */
export interface NativeCounters {
  bytesRead: number;
  bytesWritten: number;
  ops: Record<string, { errors: number; latency: number[] }>;
}

/** Counters of a mount's operations; slots are named once (slot()), then recorded by number. */
export class OpStats {
  private readonly names: string[] = [];
  private readonly slots = new Map<string, number>();
  private readonly count = new Float64Array(MAX_OPS);
  private readonly errors = new Float64Array(MAX_OPS);
  private readonly bytes = new Float64Array(MAX_OPS);
  private readonly latency = new Float64Array(MAX_OPS * LATENCY_BUCKETS);

  /** The slot of operation `name` (lower-cased); the last one is shared once MAX_OPS are named. */
  slot(name: string): number {
    const key = name.toLowerCase();
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = Math.min(this.names.length, MAX_OPS - 1);
      if (this.names.length < MAX_OPS) this.names.push(key);
      this.slots.set(key, slot);
    }
    return slot;
  }

  /** A request of `slot` answered: started at `start` (now()), failed or not, `bytes` moved. */
  record(slot: number, start: number, failed: boolean, bytes: number): void {
    this.count[slot]!++;
    if (failed) this.errors[slot]!++;
    this.bytes[slot]! += bytes;
    this.latency[slot * LATENCY_BUCKETS + latencyBucket((performance.now() - start) * 1000)]!++;
  }

  /** The counters of the operations seen, with the native data path's merged into theirs. */
  snapshot(native?: NativeCounters): Record<string, OpSnapshot> {
    const ops: Record<string, OpSnapshot> = {};
    for (const [slot, name] of this.names.entries()) {
      if (this.count[slot] === 0) continue;
      const start = slot * LATENCY_BUCKETS;
      ops[name] = {
        count: this.count[slot]!,
        errors: this.errors[slot]!,
        bytes: this.bytes[slot]!,
        latency: Array.from(this.latency.subarray(start, start + LATENCY_BUCKETS)),
      };
    }
    if (native) {
      for (const [name, counters] of Object.entries(native.ops)) {
        const count = counters.latency.reduce((sum, n) => sum + n, 0);
        if (count === 0) continue;
        const op = ops[name] ?? { count: 0, errors: 0, bytes: 0, latency: new Array<number>(LATENCY_BUCKETS).fill(0) };
        ops[name] = op;
        op.count += count;
        op.errors += counters.errors;
        for (let b = 0; b < LATENCY_BUCKETS; b++) op.latency[b]! += counters.latency[b] ?? 0;
        if (name === 'read') op.bytes += native.bytesRead;
        if (name === 'write') op.bytes += native.bytesWritten;
      }
    }
    return ops;
  }
}

/** The bucket of a latency of `us` microseconds. */
export function latencyBucket(us: number): number {
  return us < 1 ? 0 : us >= 2 ** 30 ? LATENCY_BUCKETS - 1 : 32 - Math.clz32(us);
}

/** The upper bound in microseconds of bucket `b`. */
export const bucketLimitUs = (b: number): number => 2 ** b;

/** Where the stats socket of the mount at `mountpoint` (a real path) is: one per mount point and user. */
export function statsSocketPath(mountpoint: string, uid = process.getuid?.() ?? 0): string {
  const name = `${createHash('sha1').update(mountpoint).digest('hex')}.sock`;
  if (uid === 0) return path.join('/run/persistfs', name);
  const runtime = process.env.XDG_RUNTIME_DIR;
  return path.join(runtime ? path.join(runtime, 'persistfs') : path.join(os.tmpdir(), `persistfs-${uid}`), name);
}

export interface StatsServer {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * Serves `snapshot()` at `socketPath` (its directory made 0700, the socket 0600): one JSON object and a
 * newline to each connection. A socket left there by a process that died is replaced.
 */
export async function serveStats(socketPath: string, snapshot: () => StatsSnapshot, logger: Logger): Promise<StatsServer> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  fs.rmSync(socketPath, { force: true });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // a client gone early: nothing to do
    try {
      socket.end(`${JSON.stringify(snapshot())}\n`);
    } catch (error) {
      logger.warn({ err: error }, 'could not take a stats snapshot');
      socket.destroy();
    }
  });
  server.on('error', (error) => logger.warn({ err: error, path: socketPath }, 'the stats socket failed'));
  const umask = process.umask(0o177); // made 0600, with no moment of being wider
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  server.unref();
  return {
    path: socketPath,
    close: async () => {
      for (const socket of sockets) socket.destroy(); // a client that does not read holds no unmount up
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(socketPath, { force: true });
    },
  };
}
