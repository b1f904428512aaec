// One store's turn at every LSM workload, in a process of its own (forked by lsm-section.ts), so that the
// memory figures belong to that store alone. Takes an LsmChildRequest over IPC, runs the workloads in
// order on fresh databases below the request's root, and answers with an LsmChildReply. Its progress goes
// to the parent as LsmChildProgress messages (the parent draws the section's bar or lines).
import { readFileSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { writeBack } from './data-files.js';
import { openKvPeer, type KvPeerName, type KvStore } from './lsm-stores.js';
import { lsmWorkloads, type LsmSettings, type LsmWorkloadId } from './lsm-workloads.js';
import { cpuSecondsSince } from './workers.js';

export interface LsmChildRequest {
  peer: KvPeerName;
  /** an empty directory of this child's own */
  root: string;
  settings: LsmSettings;
  /** the progress prefix, e.g. "[1/4]" */
  position: string;
}

export interface MemorySample {
  rssMiB: number;
  heapUsedMiB: number;
  /** C++ objects bound to JavaScript ones, Buffers included */
  externalMiB: number;
  /**
   * of rssMiB, the pages of mapped files (RssFile in /proc/self/status: the page cache's own pages, mapped
   * SSTs among them), which the kernel takes back under memory pressure without writing anything
   */
  fileRssMiB: number;
}

export interface LsmWorkloadResult {
  workload: LsmWorkloadId;
  inFlight: number;
  ops: number;
  seconds: number;
  opsPerSecond: number;
  /** this store's process's CPU time per operation (its threads included: LevelDB's, the thread pool, io-wq) */
  cpuUsPerOp: number;
  found: number | undefined;
  /** after the workload */
  memory: MemorySample;
}

export interface LsmPeerRun {
  peer: KvPeerName;
  results: LsmWorkloadResult[];
  /** once the modules are loaded, before any store is open */
  memoryAtStart: MemorySample;
  /** after the store is closed */
  memoryAtEnd: MemorySample;
  /** the process's peak resident set (getrusage ru_maxrss) */
  maxRssMiB: number;
  /** the largest anonymous resident set sampled (without mapped files' pages), every 100 ms */
  maxAnonRssMiB: number;
  /** the files of fillrandom's database once it was filled (before the reads) */
  dbBytesAfterFill: number;
  /** the store's own counters after the reads (LsmStore.stats(), or LevelDB's leveldb.stats) */
  storeStats: object | undefined;
  /** 1-minute load average before and after this store's run */
  loadBefore: number;
  loadAfter: number;
}

export type LsmChildReply = { ok: true; run: LsmPeerRun } | { ok: false; error: string };
/** a workload starts, has done so many operations, or ended: for the parent's Steps */
export type LsmChildProgress = { step: 'begin'; label: string } | { step: 'detail'; text: string } | { step: 'end'; result: string };

const MiB = 1024 * 1024;
const toMiB = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

/** A field of /proc/self/status in kB (RssFile, RssAnon), 0 where the kernel has none. */
const statusKiB = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);

export function memorySample(): MemorySample {
  const usage = process.memoryUsage();
  return { rssMiB: toMiB(usage.rss), heapUsedMiB: toMiB(usage.heapUsed), externalMiB: toMiB(usage.external), fileRssMiB: toMiB(statusKiB('RssFile') * 1024) };
}

/** The largest anonymous resident set (RssAnon: memory the kernel cannot take back without swap) seen, every 100 ms. */
function anonPeak(): { stop(): number } {
  let peak = statusKiB('RssAnon');
  const timer = setInterval(() => (peak = Math.max(peak, statusKiB('RssAnon'))), 100);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return toMiB(Math.max(peak, statusKiB('RssAnon')) * 1024);
    },
  };
}

const unlessGone = (error: NodeJS.ErrnoException): undefined => {
  if (error.code !== 'ENOENT') throw error;
  return undefined;
};

async function bytesBelow(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name);
    // a compaction still running may delete an SST between the listing and its stat
    total += entry.isDirectory() ? await bytesBelow(child) : ((await stat(child).catch(unlessGone))?.size ?? 0);
  }
  return total;
}

const progress = (message: LsmChildProgress) => process.send!(message);
const rate = (opsPerSecond: number) => `${Math.round(opsPerSecond).toLocaleString('en-US')} ops/s`;

async function runPeer(request: LsmChildRequest): Promise<LsmPeerRun> {
  const { settings } = request;
  const loadBefore = os.loadavg()[0]!;
  const memoryAtStart = memorySample();
  const anon = anonPeak();
  const peer = await openKvPeer(request.peer, request.root);
  const results: LsmWorkloadResult[] = [];
  let reads: KvStore | undefined;
  let dbBytesAfterFill = 0;
  let storeStats: object | undefined;
  try {
    for (const workload of lsmWorkloads(settings)) {
      // no workload pays for the writeback an earlier one left behind
      writeBack();
      const name = `${workload.id}.db`;
      const store = workload.kind === 'fill' ? await peer.create(name) : reads!;
      progress({ step: 'begin', label: `${request.position} ${request.peer.padEnd(20)}  ${workload.id}` });
      const cpu = process.cpuUsage();
      const measured = await workload.run(store, settings, (done) => progress({ step: 'detail', text: `${done.toLocaleString('en-US')} ops` }));
      const cpuSeconds = cpuSecondsSince(cpu);
      const found = measured.found === undefined ? '' : `, found ${measured.found.toLocaleString('en-US')}`;
      progress({ step: 'end', result: `${rate(measured.ops / measured.seconds)}${found}` });
      results.push({
        workload: workload.id,
        inFlight: workload.inFlight,
        ops: measured.ops,
        seconds: measured.seconds,
        opsPerSecond: measured.ops / measured.seconds,
        cpuUsPerOp: (cpuSeconds / measured.ops) * 1e6,
        found: measured.found,
        memory: memorySample(),
      });
      if (workload.id === 'fillrandom') {
        reads = store;
        dbBytesAfterFill = await bytesBelow(path.join(request.root, name));
      } else if (workload.kind === 'fill') {
        await store.close();
        await rm(path.join(request.root, name), { recursive: true, force: true });
      }
    }
    storeStats = reads?.stats();
  } finally {
    await reads?.close();
    await peer.close();
  }
  return {
    peer: request.peer,
    results,
    memoryAtStart,
    memoryAtEnd: memorySample(),
    maxRssMiB: toMiB(process.resourceUsage().maxRSS * 1024),
    maxAnonRssMiB: anon.stop(),
    dbBytesAfterFill,
    storeStats,
    loadBefore,
    loadAfter: os.loadavg()[0]!,
  };
}

process.once('message', (request: LsmChildRequest) => {
  runPeer(request).then(
    (run) => process.send!({ ok: true, run } satisfies LsmChildReply, () => process.exit(0)),
    (error: unknown) => {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.send!({ ok: false, error: message } satisfies LsmChildReply, () => process.exit(1));
    },
  );
});
