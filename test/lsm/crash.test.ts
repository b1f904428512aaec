// kill -9 a process writing to the LSM store with tiny memtables (flushes and compactions run all the
// time), at random moments once compactions have run, for a few rounds on the same store; after each kill
// the store opens, and each writer's keys are exactly what a prefix of its writes leaves, a prefix holding
// every write it acknowledged (and at most the one it had in flight): nothing acknowledged is lost, no
// batch is half there, no value is damaged. With sync 'always' and the default 'none', on both IO modes.
import { spawn } from 'node:child_process';
import path from 'node:path';

import { openStorage } from '../../src/index.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import { Acknowledged, eachBackend, LOCAL_MODES } from '../helpers.js';
import { stateAfter, WRITER } from './crash-ops.js';
import { sleep } from './lsm-helpers.js';
import { tempDir } from '../helpers.js';

const writerScript = path.join(path.dirname(new URL(import.meta.url).pathname), 'lsm-writer.js');
const ROUNDS = 3;
const WRITERS = 4;

for (const sync of ['none', 'always'] as const) {
  eachBackend(
    `kill -9 during writes, flushes and compactions (sync '${sync}'): every acknowledged write survives, batches whole`,
    async (t, backend) => {
      const root = tempDir(t, 'persistfs-lsm-crash-');
      const ioMode = backend.options.config!.ioMode!;
      /** per writer: the last write j its state holds (settled by an earlier round's check) */
      const settled = new Map<number, number>();
      let totalCompactions = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const first = (round + 1) * 10;
        const child = spawn(process.execPath, [writerScript, root, ioMode, sync, String(first), String(WRITERS)], { stdio: ['ignore', 'pipe', 'inherit'] });
        const acks = new Acknowledged(child);
        const compactions = () => Math.max(0, ...acks.numbers.filter((n) => n < 0).map((n) => -n));
        const writes = () => acks.numbers.filter((n) => n >= 0).length;
        const wantCompactions = 1 + Math.floor(Math.random() * 3);
        const wantWrites = 200 + Math.floor(Math.random() * 1500);
        const closed = new Promise((resolve) => child.once('close', resolve));
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        await Promise.race([acks.until(child, () => compactions() >= wantCompactions && writes() >= wantWrites).catch(() => undefined), sleep(10_000), exited]);
        t.equal(child.exitCode, null, `round ${round}: the writer is still running when it is killed`);
        await sleep(Math.random() * 40); // somewhere in a flush, a compaction, or between
        child.kill('SIGKILL');
        await closed;
        totalCompactions += compactions();

        const last = new Map<number, number>();
        for (let w = first; w < first + WRITERS; w++) last.set(w, -1);
        for (const n of acks.numbers) {
          if (n < 0) continue;
          const w = Math.floor(n / WRITER);
          last.set(w, Math.max(last.get(w)!, n % WRITER));
        }

        const storage = await openStorage(root, backend.options);
        try {
          const dir = await storage.root.openDirectory('db');
          const db = await LsmStore.open(dir, { autoCompact: false });
          try {
            const content = new Map<number, Map<string, string>>();
            let malformed = 0;
            for await (const entry of db.iterator()) {
              const key = entry.key.toString();
              const w = Number(/^w(\d{3})\//.exec(key)?.[1] ?? NaN);
              if (!Number.isInteger(w)) malformed++;
              if (!content.has(w)) content.set(w, new Map());
              content.get(w)!.set(key, entry.value.toString());
            }
            t.equal(malformed, 0, `round ${round}: every key is one a writer wrote`);
            const writersSeen = [...settled.keys(), ...last.keys()];
            t.deepEqual(
              [...content.keys()].filter((w) => !writersSeen.includes(w)),
              [],
              `round ${round}: no keys of unknown writers`,
            );
            let pointReads = 0;
            for (const w of writersSeen) {
              const have = content.get(w) ?? new Map<string, string>();
              const candidates = settled.has(w) ? [settled.get(w)!] : [last.get(w)!, last.get(w)! + 1];
              const match = candidates.find((n) => sameMap(stateAfter(w, n), have));
              if (match === undefined) {
                const acked = stateAfter(w, candidates[0]!);
                const missing = [...acked.keys()].filter((k) => !have.has(k));
                const wrong = [...acked.keys()].filter((k) => have.has(k) && have.get(k) !== acked.get(k));
                t.fail(
                  `round ${round}, writer ${w}: its keys are no prefix of its writes holding write ${candidates[0]} (acknowledged); missing ${JSON.stringify(missing.slice(0, 5))}, different ${JSON.stringify(wrong.slice(0, 5))}, extra ${JSON.stringify([...have.keys()].filter((k) => !acked.has(k)).slice(0, 5))}`,
                );
                continue;
              }
              settled.set(w, match);
              for (const [key, value] of have) {
                if ((await db.get(key))?.toString() !== value) t.fail(`round ${round}: point read of ${key} disagrees with the scan`);
                pointReads++;
              }
            }
            t.pass(
              `round ${round}: every writer's keys are the prefix of its writes with all it acknowledged (${writes()} acknowledged, ${compactions()} compactions seen, ${pointReads} point reads)`,
            );
          } finally {
            await db.close();
          }
        } finally {
          await storage.close();
        }
      }
      t.ok(totalCompactions > 0, `compactions ran before the kills (${totalCompactions})`);
      // the store goes on after the last crash
      const storage = await openStorage(root, backend.options);
      const db = await LsmStore.open(await storage.root.openDirectory('db'));
      const version = await db.put('after', 'the crashes');
      await db.close();
      const again = await LsmStore.open(await storage.root.openDirectory('db'), { readOnly: true });
      t.equal((await again.getEntry('after'))?.version, version, 'a write after the crashes survives a reopen');
      await again.close();
      await storage.close();
    },
    LOCAL_MODES,
  );
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}
