// A CPU profile of one LSM workload on one store: runs the LSM section's workloads in order up to the
// chosen one (the reads need fillrandom's database), with the V8 profiler on for that workload alone,
// saves the .cpuprofile (open it in Chrome DevTools) and prints the functions with the most self time.
//   node dist/scripts/bench/lsm-profile.js --workload fillrandom [--peer 'lsm io_uring'] [--keys 200000]
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { Session, type Profiler } from 'node:inspector/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { hideBin, yargs } from '../../mount/yargs.js';

import { formatNumber, formatTextTable } from './report.js';
import { KV_PEER_NAMES, openKvPeer, type KvPeerName, type KvStore } from './lsm-stores.js';
import { LSM_QUICK, lsmWorkloads } from './lsm-workloads.js';

// dist/scripts/bench/lsm-profile.js -> the repository
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const WORKLOAD_IDS = lsmWorkloads(LSM_QUICK).map((workload) => workload.id);

async function parseArguments() {
  return yargs(hideBin(process.argv))
    .scriptName('lsm-profile')
    .usage('$0 --workload ID [options]\n\nA CPU profile of one LSM bench workload on one store.')
    .option('workload', { type: 'string', choices: WORKLOAD_IDS, demandOption: true, describe: 'the workload to profile' })
    .option('peer', { type: 'string', choices: KV_PEER_NAMES, default: 'lsm io_uring', describe: 'the store' })
    .option('keys', { type: 'number', default: 200_000, describe: 'keys per fill; reads and seeks scale with it' })
    .option('dir', { type: 'string', default: path.join(REPO, 'bench-data', 'lsm-profile'), describe: 'scratch directory, removed after' })
    .option('out', { type: 'string', default: path.join(REPO, 'bench-results'), describe: 'where the .cpuprofile goes' })
    .option('top', { type: 'number', default: 30, describe: 'functions listed' })
    .strict()
    .help()
    .parseAsync();
}

interface SelfTime {
  name: string;
  where: string;
  micros: number;
}

/** Self time per function (summed over the profile's nodes), most first. */
function selfTimes(profile: Profiler.Profile): { total: number; functions: SelfTime[] } {
  const byNode = new Map<number, Profiler.ProfileNode>(profile.nodes.map((node) => [node.id, node]));
  const micros = new Map<number, number>();
  const deltas = profile.timeDeltas ?? [];
  for (const [index, id] of (profile.samples ?? []).entries()) micros.set(id, (micros.get(id) ?? 0) + (deltas[index] ?? 0));
  const functions = new Map<string, SelfTime>();
  let total = 0;
  for (const [id, time] of micros) {
    const frame = byNode.get(id)!.callFrame;
    const where = frame.url === '' ? '' : `${path.basename(frame.url)}:${frame.lineNumber + 1}`;
    const name = frame.functionName || '(anonymous)';
    const key = `${name} ${where}`;
    const entry = functions.get(key) ?? { name, where, micros: 0 };
    entry.micros += time;
    functions.set(key, entry);
    total += time;
  }
  return { total, functions: [...functions.values()].sort((a, b) => b.micros - a.micros) };
}

async function main(): Promise<void> {
  const args = await parseArguments();
  const peerName = args.peer as KvPeerName;
  const settings = { ...LSM_QUICK, keys: args.keys, reads: args.keys, seeks: Math.ceil(args.keys / 5) };
  await rm(args.dir, { recursive: true, force: true });
  await mkdir(args.dir, { recursive: true });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  const peer = await openKvPeer(peerName, args.dir);
  let reads: KvStore | undefined;
  try {
    for (const workload of lsmWorkloads(settings)) {
      // only the fills the chosen workload needs: itself, or fillrandom for the reads
      const target = workload.id === args.workload;
      if (workload.kind === 'fill' && !target && !(workload.id === 'fillrandom' && !args.workload.startsWith('fill'))) continue;
      const store = workload.kind === 'fill' ? await peer.create(`${workload.id}.db`) : reads!;
      if (target) await session.post('Profiler.start');
      const measured = await workload.run(store, settings, () => undefined);
      process.stderr.write(`${workload.id}: ${formatNumber(measured.ops / measured.seconds, 0)} ops/s${target ? ' (profiled)' : ''}\n`);
      if (workload.kind === 'fill') reads = store;
      if (target) {
        const { profile } = await session.post('Profiler.stop');
        const file = path.join(args.out, `lsm-${args.workload}-${peerName.replace(/\W+/g, '-')}.cpuprofile`);
        await mkdir(args.out, { recursive: true });
        await writeFile(file, JSON.stringify(profile));
        const { total, functions } = selfTimes(profile);
        const rows = functions
          .slice(0, args.top)
          .map((fn) => [fn.name, fn.where, formatNumber((fn.micros / total) * 100, 1), formatNumber(fn.micros / 1000, 0)]);
        console.log(formatTextTable(['function', 'where', 'self %', 'self ms'], rows, 2));
        console.log(`\nsaved ${path.relative(process.cwd(), file) || file}`);
        break;
      }
    }
  } finally {
    await reads?.close();
    await peer.close();
    session.disconnect();
    await rm(args.dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
