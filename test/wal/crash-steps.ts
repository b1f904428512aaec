// The crash machinery of the rotation and power-loss tests: a run of appends whose every operation is a
// step, stopped (as kill -9 or a power loss) before step n; and the images a crash leaves of the store.
import type { StorageBackend } from '../../src/backend/backend.js';
import { CrashingBackend } from '../../src/backend/crash-backend.js';
import type { MemoryBackend } from '../../src/backend/memory-backend.js';
import { SEGMENT_HEADER_SIZE } from '../../src/wal/format.js';
import { MemorySegmentStore, type SegmentStore, type SpareShelf } from '../../src/wal/segment-store.js';
import { Wal, type SyncPolicy, type WalPosition } from '../../src/wal/wal.js';
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

/** A rename of the spares (WalOptions.recycle) not yet made durable in the directory: a power loss may undo it. */
interface SpareRename {
  /** 'retire': segment `segment` became spare `segment`; 'reuse': spare `spare` became segment `segment` */
  kind: 'retire' | 'reuse';
  segment: number;
  spare: number;
}

/**
 * A memory segment store whose operations are steps; a creation, and a rename to or from a spare, is
 * durable once the directory is synced after it.
 */
export class StepStore implements SegmentStore {
  readonly memory: MemorySegmentStore;
  /** segments created and not yet made durable in the directory (a power loss may lose them) */
  readonly undurable = new Set<number>();
  /** renames to and from spares since the directory was last synced, in order */
  readonly renames: SpareRename[] = [];
  /** how many segments were written over spares */
  reuses = 0;
  readonly spares: SpareShelf;

  constructor(private readonly steps: Steps) {
    this.memory = new MemorySegmentStore((memory: MemoryBackend) => new StepBackend(new CrashingBackend(memory), steps));
    const shelf = this.memory.spares;
    this.spares = {
      list: () => shelf.list(),
      retire: (segment) =>
        steps.step(async () => {
          await shelf.retire(segment);
          this.renames.push({ kind: 'retire', segment, spare: segment });
        }),
      open: (spare) => shelf.open(spare),
      reuse: (spare, segment) =>
        steps.step(async () => {
          await shelf.reuse(spare, segment);
          this.renames.push({ kind: 'reuse', segment, spare });
          this.reuses++;
        }),
      remove: (spare) => steps.step(() => shelf.remove(spare)),
    };
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
    return this.steps.step(async () => {
      this.undurable.clear();
      this.renames.length = 0;
    });
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
    await this.sparesInto(survivor, 'power');
    return survivor;
  }

  /** The checkpoint, and the spares as `kind` of crash leaves them: what they hold ('kill'), or what of it was made durable. */
  private async sparesInto(survivor: MemorySegmentStore, kind: 'kill' | 'power'): Promise<void> {
    const checkpoint = await this.memory.readCheckpoint();
    if (checkpoint !== undefined) await survivor.writeCheckpoint(checkpoint);
    for (const spare of await this.memory.spares.list()) {
      const crashing = ((await this.memory.spares.open(spare)) as StepBackend).inner;
      survivor.setSpareBytes(spare, kind === 'kill' ? crashing.inner.snapshot() : crashing.crashImage());
    }
  }

  /** What the crash leaves: 'kill' (every completed write, as the page cache keeps them), 'power' (what was made durable), 'power, entries lost' (and segments not yet durable in the directory gone). */
  async image(kind: 'kill' | 'power' | 'power, entries lost'): Promise<MemorySegmentStore> {
    const survivor = new MemorySegmentStore();
    for (const segment of await this.memory.list()) {
      if (kind === 'power, entries lost' && this.undurable.has(segment)) continue;
      const crashing = ((await this.memory.open(segment)) as StepBackend).inner;
      survivor.setBytes(segment, kind === 'kill' ? crashing.inner.snapshot() : crashing.crashImage());
    }
    await this.sparesInto(survivor, kind === 'kill' ? 'kill' : 'power');
    if (kind === 'power, entries lost') {
      // the renames the directory had not made durable are undone, the last first
      for (const { kind: rename, segment, spare } of [...this.renames].reverse()) {
        if (rename === 'retire') await survivor.spares.reuse(spare, segment);
        else await survivor.spares.retire(segment).then(() => renameSpare(survivor, segment, spare));
      }
    }
    return survivor;
  }
}

export interface Run {
  steps: number;
  acknowledged: number[];
  store: StepStore;
  /** with checkpoints: the record of the last truncateBefore begun (a crash may leave the log beginning at it) */
  checkpointed?: number;
}

/** Spare `from` of `store` renamed to spare `to` (undoing a reuse: the file goes back under the spare's name). */
async function renameSpare(store: MemorySegmentStore, from: number, to: number): Promise<void> {
  if (from === to) return;
  const bytes = store.spareBytes(from)!;
  await store.spares.remove(from);
  store.setSpareBytes(to, bytes);
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
  { records = RECORDS, writers = WRITERS, segmentSize = SEGMENT, slowFlush = 0, pace = undefined as number | undefined, recycle = 0, checkpointEvery = 0 } = {},
): Promise<Run> {
  const steps = new Steps(stopAt, slowSync, slowFlush);
  const store = new StepStore(steps);
  const acknowledged: number[] = [];
  const opening = Wal.open(store, { sync, segmentSize, recycle });
  const wal = await Promise.race([opening, new Promise<undefined>((resolve) => setTimeout(resolve, 200))]);
  const result: Run = { steps: steps.count, acknowledged, store };
  if (wal === undefined) return result;
  let next = 0;
  // checkpoints one at a time, each at a record just acknowledged (as a store does after a flush)
  let checkpoints = Promise.resolve();
  const checkpoint = (i: number, position: WalPosition): Promise<void> => {
    checkpoints = checkpoints.then(() => {
      result.checkpointed = i;
      return wal.truncateBefore(position).then(
        () => undefined,
        () => undefined,
      );
    });
    return checkpoints;
  };
  const writer = async () => {
    while (next < records) {
      const i = next++;
      if (pace === undefined) {
        const position = await wal.append(record(i, 100));
        acknowledged.push(i);
        // the writer that reached a checkpoint's record waits for it (the others go on)
        if (checkpointEvery > 0 && i > 0 && i % checkpointEvery === 0) await checkpoint(i, position);
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
  const done = Promise.all(Array.from({ length: writers }, writer))
    .then(() => checkpoints)
    .then(() => wal.close());
  // a stopped run never settles: give it time to do all it can before the stop
  if (stopAt === Infinity) await done;
  else await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 40 + 20 * Math.max(slowSync, slowFlush)))]);
  result.steps = steps.count;
  return result;
}

/**
 * Opens `survivor` (default recovery): the problem, if any: refused, an acknowledged record (of
 * `mustHave`) missing, not 0..n-1 in order, or an append after recovery not read back.
 */
export async function check(
  label: string,
  survivor: MemorySegmentStore,
  mustHave: number[],
  segmentSize = SEGMENT,
  { recycle = 0, checkpointed = undefined as number | undefined } = {},
): Promise<string | undefined> {
  let wal: Wal;
  try {
    wal = await Wal.open(survivor, { segmentSize, recycle });
  } catch (error) {
    return `${label}: recovery refused the log: ${(error as Error).message}`;
  }
  const seen: number[] = [];
  for await (const entry of wal.read()) seen.push(entry.payload.readUInt32LE(0));
  // with checkpoints, the log may begin later than record 0, but never after the last checkpoint's record
  const first = checkpointed === undefined ? 0 : (seen[0] ?? 0);
  if (checkpointed !== undefined && first > checkpointed) return `${label}: the log begins at ${first}, after the checkpoint's record ${checkpointed}`;
  const missing = mustHave.filter((i) => i >= first && seen[i - first] !== i);
  if (missing.length > 0) return `${label}: acknowledged records missing: ${missing.join(', ')} (log: ${seen.join(',')})`;
  if (!seen.every((n, i) => n === first + i)) return `${label}: the log is not ${first}..n-1 in order: ${seen.join(',')}`;
  const next = first + seen.length;
  await wal.append(record(next, 100));
  await wal.close();
  const again = await Wal.open(survivor, { segmentSize, recycle });
  const after: number[] = [];
  for await (const entry of again.read()) after.push(entry.payload.readUInt32LE(0));
  await again.close();
  if (after.length !== seen.length + 1 || after.at(-1) !== next) return `${label}: an append after recovery is not read back (${after.join(',')})`;
  return undefined;
}
