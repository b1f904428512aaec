// The rotation (format version 3): the next segment is made ahead while the current one fills, a seal
// record ends the current one, the log switches, and the old segment is cut and fsynced in the
// background. Here the process stops (kill -9) or the machine loses power before each single operation
// of a run of rotations, in turn: every record acknowledged before the stop is there after recovery, the
// log reads 0..n-1 in order with nothing after a gap, strict recovery opens it, and appends go on.
import test from 'tape';

import type { StorageBackend } from '../../src/backend/backend.js';
import { CrashingBackend } from '../../src/backend/crash-backend.js';
import type { MemoryBackend } from '../../src/backend/memory-backend.js';
import { MemorySegmentStore, type SegmentStore } from '../../src/wal/segment-store.js';
import { Wal, type SyncPolicy } from '../../src/wal/wal.js';
import { record } from './wal-helpers.js';

const SEGMENT = 1024;
const RECORDS = 40; // about 5 rotations of 109-byte records
const WRITERS = 6;

/** Counts the operations of a run; at operation `stopAt` the process stops: it and every later one never complete. */
class Steps {
  count = 0;
  stopped = false;
  /** a segment's fsync takes this long (ms), so that what may run beside a seal does */
  constructor(
    readonly stopAt: number,
    readonly slowSync: number,
  ) {}

  async step<T>(run: () => Promise<T>, slow = 0): Promise<T> {
    if (this.stopped || ++this.count === this.stopAt) {
      this.stopped = true;
      return new Promise<T>(() => undefined);
    }
    if (slow > 0) await new Promise((resolve) => setTimeout(resolve, slow));
    if (this.stopped) return new Promise<T>(() => undefined);
    return run();
  }
}

class StepBackend implements StorageBackend {
  constructor(
    readonly inner: CrashingBackend,
    private readonly steps: Steps,
  ) {}
  readAt(offset: number, length: number): Promise<Buffer> {
    return this.inner.readAt(offset, length);
  }
  append(data: Uint8Array | readonly Uint8Array[]): Promise<number> {
    return this.steps.step(() => this.inner.append(data));
  }
  writeAt(offset: number, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    return this.steps.step(() => this.inner.writeAt(offset, data));
  }
  allocate(offset: number, length: number): Promise<void> {
    return this.steps.step(() => this.inner.allocate(offset, length));
  }
  flush(): Promise<void> {
    return this.steps.step(() => this.inner.flush());
  }
  size(): number {
    return this.inner.size();
  }
  sync(): Promise<void> {
    return this.steps.step(() => this.inner.sync(), this.steps.slowSync);
  }
  truncate(newSize: number): Promise<void> {
    return this.steps.step(() => this.inner.truncate(newSize));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A memory segment store whose operations are steps; a creation is durable once the directory is synced after it. */
class StepStore implements SegmentStore {
  readonly memory: MemorySegmentStore;
  /** segments created and not yet made durable in the directory (a power loss may lose them) */
  readonly undurable = new Set<number>();

  constructor(private readonly steps: Steps) {
    this.memory = new MemorySegmentStore((memory: MemoryBackend) => new StepBackend(new CrashingBackend(memory), steps));
  }
  list(): Promise<number[]> {
    return this.memory.list();
  }
  create(segment: number): Promise<StorageBackend> {
    return this.steps.step(async () => {
      const backend = await this.memory.create(segment);
      this.undurable.add(segment);
      return backend;
    });
  }
  open(segment: number): Promise<StorageBackend> {
    return this.memory.open(segment);
  }
  remove(segment: number): Promise<void> {
    return this.steps.step(() => this.memory.remove(segment));
  }
  sync(): Promise<void> {
    return this.steps.step(async () => this.undurable.clear());
  }
  writeCheckpoint(data: Buffer): Promise<void> {
    return this.steps.step(() => this.memory.writeCheckpoint(data));
  }
  readCheckpoint(): Promise<Buffer | undefined> {
    return this.memory.readCheckpoint();
  }

  /** What the crash leaves: 'kill' (every completed write, as the page cache keeps them), 'power' (what was made durable), 'power, entries lost' (and segments not yet durable in the directory gone). */
  async image(kind: 'kill' | 'power' | 'power, entries lost'): Promise<MemorySegmentStore> {
    const survivor = new MemorySegmentStore();
    for (const segment of await this.memory.list()) {
      if (kind === 'power, entries lost' && this.undurable.has(segment)) continue;
      const crashing = ((await this.memory.open(segment)) as StepBackend).inner;
      survivor.setBytes(segment, kind === 'kill' ? crashing.inner.snapshot() : crashing.crashImage());
    }
    return survivor;
  }
}

interface Run {
  steps: number;
  acknowledged: number[];
  store: StepStore;
}

/** Appends RECORDS numbered records from WRITERS writers under `sync`, stopping at step `stopAt`; settles once all are acknowledged or the run stopped. */
async function run(sync: SyncPolicy, stopAt: number, slowSync: number): Promise<Run> {
  const steps = new Steps(stopAt, slowSync);
  const store = new StepStore(steps);
  const acknowledged: number[] = [];
  const opening = Wal.open(store, { sync, segmentSize: SEGMENT });
  const wal = await Promise.race([opening, new Promise<undefined>((resolve) => setTimeout(resolve, 200))]);
  if (wal === undefined) return { steps: steps.count, acknowledged, store };
  let next = 0;
  const writer = async () => {
    while (next < RECORDS) {
      const i = next++;
      await wal.append(record(i, 100));
      acknowledged.push(i);
    }
  };
  const done = Promise.all(Array.from({ length: WRITERS }, writer)).then(() => wal.close());
  // a stopped run never settles: give it time to do all it can before the stop
  if (stopAt === Infinity) await done;
  else await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 40 + 20 * slowSync))]);
  return { steps: steps.count, acknowledged, store };
}

async function check(label: string, survivor: MemorySegmentStore, mustHave: number[]): Promise<string | undefined> {
  let wal: Wal;
  try {
    wal = await Wal.open(survivor, { segmentSize: SEGMENT });
  } catch (error) {
    return `${label}: recovery refused the log: ${(error as Error).message}`;
  }
  const seen: number[] = [];
  for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
  const missing = mustHave.filter((i) => seen[i] !== i);
  if (missing.length > 0) return `${label}: acknowledged records missing: ${missing.join(', ')} (log: ${seen.join(',')})`;
  if (!seen.every((n, i) => n === i)) return `${label}: the log is not 0..n-1 in order: ${seen.join(',')}`;
  await wal.append(record(seen.length, 100));
  await wal.close();
  const again = await Wal.open(survivor, { segmentSize: SEGMENT });
  const after: number[] = [];
  for await (const entry of again.read()) after.push(entry.payload.readUInt32LE(0));
  await again.close();
  if (after.length !== seen.length + 1 || after.at(-1) !== seen.length) return `${label}: an append after recovery is not read back (${after.join(',')})`;
  return undefined;
}

for (const [name, sync] of [
  ['always', 'always'],
  ['none', 'none'],
  ['batch', { batch: { intervalMs: 1, bytes: 300 } }],
] as Array<[string, SyncPolicy]>) {
  for (const slowSync of [0, 3]) {
    test(`a crash before each operation of ${RECORDS} records' rotations (sync ${name}${slowSync ? ', slow segment fsyncs' : ''}): acknowledged records survive, the log opens, in order, no gap`, async (t) => {
      const full = await run(sync, Infinity, slowSync);
      t.equal(full.acknowledged.length, RECORDS, `the whole run: ${full.steps} operations, ${(await full.store.list()).length} segments`);
      const problems: string[] = [];
      let checked = 0;
      for (let stopAt = 1; stopAt <= full.steps; stopAt++) {
        const stopped = await run(sync, stopAt, slowSync);
        const durable = sync === 'none' ? [] : stopped.acknowledged;
        for (const kind of ['kill', 'power', 'power, entries lost'] as const) {
          const problem = await check(
            `stop before operation ${stopAt} of ${full.steps}, ${kind}`,
            await stopped.store.image(kind),
            kind === 'kill' ? stopped.acknowledged : durable,
          );
          if (problem !== undefined) problems.push(problem);
          checked++;
        }
      }
      t.deepEqual(problems.slice(0, 5), [], `${checked} crash images, ${problems.length} with a problem`);
    });
  }
}
