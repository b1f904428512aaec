// The LSM section of the benchmark: persistfs' LsmStore (io_uring and sync IO modes) against classic-level
// (LevelDB, compression off and on) on db_bench's workloads (lsm-workloads.ts). Each store runs every
// workload in a child process of its own (lsm-child.ts), one store after the other, on fresh databases
// in a directory of its own below the bench directory, removed afterwards.
import { fork } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { steps, type Steps } from '../../mount/progress.js';
import { removeQuietly } from './data-files.js';
import type { LsmChildProgress, LsmChildReply, LsmChildRequest, LsmPeerRun } from './lsm-child.js';
import { evaluateLsmTargets, type LsmTargetResult } from './lsm-report.js';
import { KV_PEER_DEFAULTS, type KvPeerName } from './lsm-stores.js';
import { KEY_BYTES, LSM_FULL, LSM_QUICK, lsmWorkloads, VALUE_BYTES, type LsmSettings } from './lsm-workloads.js';

export { LSM_FULL, LSM_QUICK };

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lsm-child.js');

export interface LsmSectionOptions {
  benchDir: string;
  settings: LsmSettings;
  peers: readonly KvPeerName[];
}

export interface LsmSectionResult {
  settings: LsmSettings;
  keyBytes: number;
  valueBytes: number;
  peers: Record<string, string>;
  workloads: { id: string; description: string; inFlight: number }[];
  runs: LsmPeerRun[];
  targets: LsmTargetResult[];
  /** 1-minute load average before the first store and after the last */
  loadBefore: number;
  loadAfter: number;
}

/** Forks the child, hands it the request, shows its progress, and resolves with its run (or rejects with its error). */
function runChild(request: LsmChildRequest, progress: Steps): Promise<LsmPeerRun> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let reply: LsmChildReply | undefined;
    child.on('message', (message: LsmChildReply | LsmChildProgress) => {
      if (!('step' in message)) reply = message;
      else if (message.step === 'begin') progress.begin(message.label);
      else if (message.step === 'detail') progress.detail(message.text);
      else progress.end(message.result);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (reply?.ok) resolve(reply.run);
      else if (reply) reject(new Error(`${request.peer}: ${reply.error}`));
      else reject(new Error(`${request.peer}: the child exited (${signal ?? code}) without a result`));
    });
    child.send(request);
  });
}

export async function runLsmSection(options: LsmSectionOptions): Promise<LsmSectionResult> {
  const loadBefore = os.loadavg()[0]!;
  const runs: LsmPeerRun[] = [];
  const progress = steps({ title: 'lsm', total: options.peers.length * lsmWorkloads(options.settings).length });
  try {
    for (const [index, peer] of options.peers.entries()) {
      const root = path.join(options.benchDir, `lsm-${peer.replace(/\W+/g, '-')}`);
      await removeQuietly(root);
      await mkdir(root, { recursive: true });
      try {
        runs.push(await runChild({ peer, root, settings: options.settings, position: `[${index + 1}/${options.peers.length}]` }, progress));
      } finally {
        await removeQuietly(root);
      }
    }
  } finally {
    progress.stop();
  }
  return {
    settings: options.settings,
    keyBytes: KEY_BYTES,
    valueBytes: VALUE_BYTES,
    peers: Object.fromEntries(options.peers.map((peer) => [peer, KV_PEER_DEFAULTS[peer]])),
    workloads: lsmWorkloads(options.settings).map(({ id, description, inFlight }) => ({ id, description, inFlight })),
    runs,
    targets: evaluateLsmTargets(runs),
    loadBefore,
    loadAfter: os.loadavg()[0]!,
  };
}

/** What a reader of the LSM tables needs to know to read them right. */
export function lsmNotes(settings: LsmSettings): string[] {
  return [
    `LSM: ${settings.keys.toLocaleString('en-US')} keys of ${KEY_BYTES} B with ${VALUE_BYTES} B values (half compressible); readrandom ${settings.reads.toLocaleString('en-US')} gets, seekrandom ${settings.seeks.toLocaleString('en-US')} seeks each reading ${settings.seekNexts} entries with one nextv; same seeded key sequences for every store`,
    'LSM: each store runs alone in its own child process, one after the other; the reads run on the database fillrandom (1 in flight) made, still open, without waiting for compaction (as db_bench); every fill starts on a new database',
    'LSM: ours/classic-level compares LsmStore io_uring with classic-level without compression (LsmStore does not compress)',
  ];
}
