// The crash machinery of the rotation and power-loss tests: a run of appends whose every operation is a
// step, stopped (as kill -9 or a power loss) before step n; and the images a crash leaves of the store.
import type { StorageBackend } from '../../src/backend/backend.js';
import { CrashingBackend } from '../../src/backend/crash-backend.js';
import type { MemoryBackend } from '../../src/backend/memory-backend.js';
import { SEGMENT_HEADER_SIZE } from '../../src/wal/format.js';
import { MemorySegmentStore, type SegmentStore } from '../../src/wal/segment-store.js';
import { Wal, type SyncPolicy } from '../../src/wal/wal.js';
import { record } from './wal-helpers.js';

export const SEGMENT = 1024;
export const RECORDS = 40; // about 5 rotations of 109-byte records
export const WRITERS = 6;

/** Counts the operations of a run; at operation `stopAt` the process stops: it and every later one never complete. */
export class Steps {
  count = 0;
  stopped = false;
  /** a segment's fsync takes `slowSync` ms, an fdatasync `slowFlush`, so that what may run beside them does */
  constructor(
    readonly stopAt: number,
    readonly slowSync: number,
    readonly slowFlush = 0,
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

export class StepBackend implements StorageBackend {
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
    return this.steps.step(() => this.inner.flush(), this.steps.slowFlush);
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
export class StepStore implements SegmentStore {
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

  /**
   * What a power loss leaves when the pages written since each segment's last flush or sync reach the disk
   * in any order: the durable bytes, and of the `page`-byte pages that differ from them, those `keep` says
   * (the others as they were durably: the old bytes, zeros past the durable end). The file keeps its
   * current size (zeros where nothing reached it), unless its header is not durable yet (then as 'power').
   * `keep(segment, page)`, page counted from the file start.
   */
  async pagesImage(page: number, keep: (segment: number, page: number) => boolean): Promise<MemorySegmentStore> {
    const survivor = new MemorySegmentStore();
    for (const segment of await this.memory.list()) {
      const crashing = ((await this.memory.open(segment)) as StepBackend).inner;
      const now = crashing.inner.snapshot();
      const durable = crashing.crashImage();
      if (durable.length < SEGMENT_HEADER_SIZE) {
        // a segment being begun (its header not yet durable): as the 'power' image (recovery begins it again)
        survivor.setBytes(segment, durable);
        continue;
      }
      const image = Buffer.alloc(Math.max(now.length, durable.length));
      durable.copy(image);
      for (let at = 0; at < now.length; at += page) {
        const end = Math.min(at + page, now.length);
        const changed = !now.subarray(at, end).equals(durable.subarray(at, end));
        if (changed && keep(segment, at / page)) now.copy(image, at, at, end);
      }
      survivor.setBytes(segment, image);
    }
    return survivor;
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

export interface Run {
  steps: number;
  acknowledged: number[];
  store: StepStore;
}

/**
 * Appends `records` numbered records from `writers` writers under `sync` (segments of `segmentSize`),
 * stopping at step `stopAt`; settles once all are acknowledged or the run stopped. With `pace`, a writer
 * appends every `pace` ms without waiting for its records' acknowledgements.
 */
export async function run(
  sync: SyncPolicy,
  stopAt: number,
  slowSync: number,
  { records = RECORDS, writers = WRITERS, segmentSize = SEGMENT, slowFlush = 0, pace = undefined as number | undefined } = {},
): Promise<Run> {
  const steps = new Steps(stopAt, slowSync, slowFlush);
  const store = new StepStore(steps);
  const acknowledged: number[] = [];
  const opening = Wal.open(store, { sync, segmentSize });
  const wal = await Promise.race([opening, new Promise<undefined>((resolve) => setTimeout(resolve, 200))]);
  if (wal === undefined) return { steps: steps.count, acknowledged, store };
  let next = 0;
  const writer = async () => {
    while (next < records) {
      const i = next++;
      if (pace === undefined) {
        await wal.append(record(i, 100));
        acknowledged.push(i);
        continue;
      }
      // a writer that does not wait for its acknowledgement: batches are written while flushes run
      wal.append(record(i, 100)).then(
        () => acknowledged.push(i),
        () => undefined,
      );
      await new Promise((resolve) => setTimeout(resolve, pace));
    }
  };
  const done = Promise.all(Array.from({ length: writers }, writer)).then(() => wal.close());
  // a stopped run never settles: give it time to do all it can before the stop
  if (stopAt === Infinity) await done;
  else await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 40 + 20 * Math.max(slowSync, slowFlush)))]);
  return { steps: steps.count, acknowledged, store };
}

/**
 * Opens `survivor` (default recovery): the problem, if any: refused, an acknowledged record (of
 * `mustHave`) missing, not 0..n-1 in order, or an append after recovery not read back.
 */
export async function check(label: string, survivor: MemorySegmentStore, mustHave: number[], segmentSize = SEGMENT): Promise<string | undefined> {
  let wal: Wal;
  try {
    wal = await Wal.open(survivor, { segmentSize });
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
  const again = await Wal.open(survivor, { segmentSize });
  const after: number[] = [];
  for await (const entry of again.read()) after.push(entry.payload.readUInt32LE(0));
  await again.close();
  if (after.length !== seen.length + 1 || after.at(-1) !== seen.length) return `${label}: an append after recovery is not read back (${after.join(',')})`;
  return undefined;
}
