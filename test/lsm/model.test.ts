// Randomized model test: thousands of random operations (puts, deletes, batches, reads at the latest and at
// old versions, range scans both ways with random bounds and limits, snapshots, flushes, compactions, close
// and reopen) against the store with tiny memtables and tables, and against a plain in-memory model of
// every key's versions; they must agree at every step. The seed is printed; LSM_SEED=<n> replays one run,
// LSM_MODEL_OPS=<n> changes the number of operations.
import type { Snapshot } from '../../src/lsm/lsm-store.js';
import type { LsmStore } from '../../src/lsm/lsm-store.js';
import type { RangeOptions, WriteOp } from '../../src/lsm/types.js';
import { BACKENDS, eachBackend, prng } from '../helpers.js';
import { entries, levelsSorted, lsmEnv, SMALL } from './lsm-helpers.js';

const OPS = Number(process.env.LSM_MODEL_OPS ?? 3000);
const BASE_SEED = process.env.LSM_SEED !== undefined ? Number(process.env.LSM_SEED) : Math.floor(Math.random() * 2 ** 31);

type History = Array<[number, string | undefined]>; // [version, value or undefined for a delete], oldest first

class Model {
  readonly keys = new Map<string, History>();
  version = 0;

  apply(ops: Array<{ key: string; value: string | undefined }>): number {
    for (const op of ops) {
      this.version++;
      let history = this.keys.get(op.key);
      if (!history) {
        history = [];
        this.keys.set(op.key, history);
      }
      history.push([this.version, op.value]);
    }
    return this.version;
  }

  get(key: string, version = this.version): string | undefined {
    const history = this.keys.get(key) ?? [];
    for (let i = history.length - 1; i >= 0; i--) if (history[i]![0] <= version) return history[i]![1];
    return undefined;
  }

  scan(options: RangeOptions & { gt?: string; gte?: string; lt?: string; lte?: string }, version = this.version): Array<[string, string]> {
    let list = [...this.keys.keys()]
      .sort()
      .filter((k) => (options.gt === undefined || k > options.gt) && (options.gte === undefined || k >= options.gte))
      .filter((k) => (options.lt === undefined || k < options.lt) && (options.lte === undefined || k <= options.lte))
      .map((k): [string, string | undefined] => [k, this.get(k, version)])
      .filter((pair): pair is [string, string] => pair[1] !== undefined);
    if (options.reverse) list = list.reverse();
    if (options.limit !== undefined && options.limit >= 0) list = list.slice(0, options.limit);
    return list;
  }
}

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

for (const [index, backend] of BACKENDS.entries()) {
  const seed = (BASE_SEED + index) >>> 0;
  eachBackend(
    `model: ${OPS} random operations agree with an in-memory model (seed ${seed})`,
    async (t) => {
      console.log(`# model seed ${seed} on ${backend.name} (replay with LSM_SEED=${BASE_SEED})`);
      const random = prng(seed);
      const int = (n: number) => Math.floor(random() * n);
      const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
      const keySpace = [
        ...Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`),
        ...Array.from({ length: 8 }, (_, i) => `\x00${String.fromCharCode(i * 31)}`),
        ...Array.from({ length: 8 }, (_, i) => `\xff${String.fromCharCode(255 - i)}`),
        '',
      ];
      const boundSpace = [...keySpace, 'k', 'k1', 'k25x', 'a', 'z', '\x00', '\xff', '\xff\xff\xff'];
      const value = () => {
        const length = pick([0, 1, 10, 50, 100, 200, 400]);
        return String.fromCharCode(97 + int(26)).repeat(length) + (length ? String(int(1000)) : '');
      };
      const options = { ...SMALL, autoCompact: true, bloomBitsPerKey: pick([0, 4, 10]), blockCacheSize: pick([0, 64 * 1024]) };
      const env = await lsmEnv(t, backend);
      let db: LsmStore = await env.open(options);
      const model = new Model();
      const snapshots: Array<{ snap: Snapshot; version: number }> = [];
      let floor = 0; // reads at versions >= floor must be right; below, ESTALE or right
      let failures = 0;
      const counts: Record<string, number> = {};
      const fail = (what: string) => {
        failures++;
        if (failures <= 10) t.fail(`step: ${what}`);
      };
      const raiseFloor = () => {
        const oldest = Math.min(model.version, ...snapshots.map((s) => s.version));
        floor = Math.max(floor, oldest);
      };
      const checkAll = async (when: string) => {
        if (db.version !== model.version) fail(`${when}: store version ${db.version}, model ${model.version}`);
        const got = await entries(db.iterator());
        const want = model.scan({});
        if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${when}: full scan differs (${got.length} vs ${want.length} entries)`);
      };
      const readAt = async (key: string, version: number, snap?: Snapshot) => {
        const want = model.get(key, version);
        try {
          const got = await (snap ? snap.get(latin1(key)) : db.get(latin1(key), { version }));
          const text = got?.toString('latin1');
          if (text !== want)
            fail(
              `get ${JSON.stringify(key)} at ${version}${snap ? ' (snapshot)' : ''}: ${JSON.stringify(text?.slice(0, 20))}, model ${JSON.stringify(want?.slice(0, 20))}`,
            );
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (!(code === 'ESTALE' && version < floor && !snap)) fail(`get ${JSON.stringify(key)} at ${version}: ${String(error)} (floor ${floor})`);
        }
      };

      for (let step = 0; step < OPS; step++) {
        const roll = int(100);
        let op: string;
        if (roll < 30) {
          op = 'put';
          const key = pick(keySpace);
          const v = value();
          const version = await db.put(latin1(key), latin1(v));
          if (version !== model.apply([{ key, value: v }])) fail(`put returned ${version}, model ${model.version}`);
          await readAt(key, model.version);
        } else if (roll < 40) {
          op = 'del';
          const key = pick(keySpace);
          const version = await db.del(latin1(key));
          if (version !== model.apply([{ key, value: undefined }])) fail(`del returned ${version}, model ${model.version}`);
          await readAt(key, model.version);
        } else if (roll < 47) {
          op = 'batch';
          const ops = Array.from({ length: 1 + int(8) }, () => ({ key: pick(keySpace), value: int(3) === 0 ? undefined : value() }));
          const writeOps: WriteOp[] = ops.map((o) =>
            o.value === undefined ? { type: 'del', key: latin1(o.key) } : { type: 'put', key: latin1(o.key), value: latin1(o.value) },
          );
          const version = await db.write(writeOps);
          if (version !== model.apply(ops)) fail(`batch returned ${version}, model ${model.version}`);
        } else if (roll < 50) {
          op = 'concurrent puts';
          const ops = Array.from({ length: 2 + int(20) }, () => ({ key: pick(keySpace), value: value() }));
          const versions = await Promise.all(ops.map((o) => db.put(latin1(o.key), latin1(o.value))));
          // concurrent writes get versions in call order
          const first = model.version + 1;
          model.apply(ops);
          if (versions.some((v, i) => v !== first + i)) fail(`concurrent puts got versions ${versions.join(',')}, expected from ${first}`);
        } else if (roll < 62) {
          op = 'get';
          await readAt(pick(keySpace), model.version);
        } else if (roll < 68) {
          op = 'get old';
          const version = floor + int(model.version - floor + 1);
          await readAt(pick(keySpace), int(4) === 0 ? int(model.version + 1) : version);
        } else if (roll < 72) {
          op = 'snapshot read';
          if (snapshots.length > 0) {
            const { snap, version } = pick(snapshots);
            await readAt(pick(keySpace), version, snap);
          }
        } else if (roll < 82) {
          op = 'scan';
          const range: RangeOptions & { gt?: string; gte?: string; lt?: string; lte?: string } = {};
          const lower = int(3);
          if (lower === 1) range.gt = pick(boundSpace);
          if (lower === 2) range.gte = pick(boundSpace);
          const upper = int(3);
          if (upper === 1) range.lt = pick(boundSpace);
          if (upper === 2) range.lte = pick(boundSpace);
          if (int(2)) range.reverse = true;
          if (int(3) === 0) range.limit = int(10);
          const bytesRange: RangeOptions = { ...range };
          for (const side of ['gt', 'gte', 'lt', 'lte'] as const) if (range[side] !== undefined) bytesRange[side] = latin1(range[side]!);
          let version = model.version;
          let snap: Snapshot | undefined;
          const which = int(4);
          if (which === 1) version = floor + int(model.version - floor + 1);
          if (which === 2 && snapshots.length > 0) ({ snap, version } = pick(snapshots));
          const iterator = snap ? snap.iterator(bytesRange) : db.iterator({ ...bytesRange, version });
          const got = await entries(iterator);
          const want = model.scan(range, version);
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            fail(
              `scan ${JSON.stringify(range)} at ${version}${snap ? ' (snapshot)' : ''}: ${JSON.stringify(got.map(([k]) => k))} vs model ${JSON.stringify(want.map(([k]) => k))}`,
            );
          }
        } else if (roll < 86) {
          op = 'snapshot';
          if (snapshots.length < 4) snapshots.push({ snap: db.snapshot(), version: model.version });
        } else if (roll < 90) {
          op = 'release';
          if (snapshots.length > 0) snapshots.splice(int(snapshots.length), 1)[0]!.snap.release();
        } else if (roll < 93) {
          op = 'flush';
          await db.flush();
        } else if (roll < 96) {
          op = 'compact';
          await db.compact();
        } else if (roll < 98) {
          op = 'compactAll';
          await db.compactAll();
        } else {
          op = 'reopen';
          for (const { snap } of snapshots.splice(0)) snap.release();
          await db.close();
          db = await env.open(options);
          await checkAll(`after reopen at step ${step}`);
        }
        counts[op] = (counts[op] ?? 0) + 1;
        raiseFloor();
        const shape = levelsSorted(db);
        if (shape !== undefined) fail(`after ${op} at step ${step}: ${shape}`);
        if (step % 250 === 0) await checkAll(`step ${step}`);
        if (failures > 10) break;
      }
      await checkAll('the end');
      for (const { snap } of snapshots.splice(0)) snap.release();
      await db.close();
      db = await env.open(options);
      await checkAll('after the last reopen');
      t.equal(
        failures,
        0,
        `no disagreement (seed ${seed}); ops: ${JSON.stringify(counts)}; stats: ${JSON.stringify({ ...db.stats(), levels: db.stats().levels.map((l) => l.files) })}`,
      );
    },
    [backend],
  );
}
