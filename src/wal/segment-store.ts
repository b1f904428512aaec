// Where the WAL's segments live: a directory of the storage API (DirSegmentStore: each segment a File
// behind a FileBackend, so the WAL runs on io_uring or the sync IO mode), or memory for tests
// (MemorySegmentStore, whose backends the tests may wrap to fail or crash on purpose).
import { FileBackend } from '../backend/file-backend.js';
import type { StorageBackend } from '../backend/backend.js';
import { MemoryBackend } from '../backend/memory-backend.js';
import { storageError } from '../ground/errors.js';
import type { Dir } from '../storage/dir.js';
import { CHECKPOINT_NAME, parseSegmentName, parseSpareName, segmentName, spareName } from './format.js';

export interface SegmentStore {
  /** The segment numbers present, ascending. */
  list(): Promise<number[]>;
  create(segment: number): Promise<StorageBackend>;
  open(segment: number): Promise<StorageBackend>;
  remove(segment: number): Promise<void>;
  /** Makes creations and removals durable (directory fsync). */
  sync(): Promise<void>;
  /** Replaces the checkpoint record atomically and durably. */
  writeCheckpoint(data: Buffer): Promise<void>;
  readCheckpoint(): Promise<Buffer | undefined>;
  /** Where the store keeps spares (WalOptions.recycle); a store without it only deletes segments. */
  readonly spares?: SpareShelf;
}

/**
 * Spares: segments the log no longer needs (before its checkpoint), kept under a name of their own to be
 * written over as a later segment. Each is known by the number it had as a segment. Renames are made
 * durable by the store's sync().
 */
export interface SpareShelf {
  /** The spares kept, ascending. */
  list(): Promise<number[]>;
  /** Renames segment `segment` to a spare. */
  retire(segment: number): Promise<void>;
  /** Opens spare `spare` to be written over. */
  open(spare: number): Promise<StorageBackend>;
  /** Renames spare `spare` to segment `segment` (which must not exist). */
  reuse(spare: number, segment: number): Promise<void>;
  remove(spare: number): Promise<void>;
}

export class DirSegmentStore implements SegmentStore {
  readonly spares: SpareShelf;

  constructor(private readonly dir: Dir) {
    this.spares = {
      list: async () => numbersOf(await dir.read(), parseSpareName),
      retire: (segment) => dir.moveEntry(segmentName(segment), dir, spareName(segment)),
      open: async (spare) => new FileBackend(await dir.openFile(spareName(spare))),
      reuse: (spare, segment) => dir.moveEntry(spareName(spare), dir, segmentName(segment)),
      remove: (spare) => dir.deleteFile(spareName(spare)),
    };
  }

  async list(): Promise<number[]> {
    return numbersOf(await this.dir.read(), parseSegmentName);
  }

  async create(segment: number): Promise<StorageBackend> {
    return new FileBackend(await this.dir.createFile(segmentName(segment)));
  }

  async open(segment: number): Promise<StorageBackend> {
    return new FileBackend(await this.dir.openFile(segmentName(segment)));
  }

  remove(segment: number): Promise<void> {
    return this.dir.deleteFile(segmentName(segment));
  }

  sync(): Promise<void> {
    return this.dir.sync();
  }

  async writeCheckpoint(data: Buffer): Promise<void> {
    await (await this.dir.flushWrite(CHECKPOINT_NAME, data)).close();
  }

  readCheckpoint(): Promise<Buffer | undefined> {
    return this.dir.readFileIfExists(CHECKPOINT_NAME);
  }
}

/** The numbers of the entries whose names `parse` reads, ascending. */
function numbersOf(entries: ReadonlyArray<{ name: string | Buffer }>, parse: (name: string) => number | undefined): number[] {
  const numbers = entries.map((entry) => (typeof entry.name === 'string' ? parse(entry.name) : undefined)).filter((n): n is number => n !== undefined);
  return numbers.sort((a, b) => a - b);
}

interface MemorySegment {
  memory: MemoryBackend;
  backend: StorageBackend;
}

export class MemorySegmentStore implements SegmentStore {
  private readonly segments = new Map<number, MemorySegment>();
  /** the spares, by the number each had as a segment */
  private readonly spareSegments = new Map<number, MemorySegment>();
  private checkpoint: Buffer | undefined;
  readonly spares: SpareShelf;

  /** `wrap` lets a test put every segment behind a failing or crashing backend. */
  constructor(private readonly wrap: (memory: MemoryBackend, segment: number) => StorageBackend = (memory) => memory) {
    const move = (from: Map<number, MemorySegment>, fromKey: number, to: Map<number, MemorySegment>, toKey: number, name: string) => {
      const entry = from.get(fromKey);
      if (!entry) throw storageError('ENOENT', 'no such file', { path: name });
      if (to.has(toKey)) throw storageError('EEXIST', 'the name is taken', { path: name });
      from.delete(fromKey);
      to.set(toKey, entry);
    };
    this.spares = {
      list: async () => [...this.spareSegments.keys()].sort((a, b) => a - b),
      retire: async (segment) => move(this.segments, segment, this.spareSegments, segment, segmentName(segment)),
      open: async (spare) => this.reopened(this.spareSegments, spare, spareName(spare)),
      reuse: async (spare, segment) => move(this.spareSegments, spare, this.segments, segment, segmentName(segment)),
      remove: async (spare) => {
        if (!this.spareSegments.delete(spare)) throw storageError('ENOENT', 'no such spare', { path: spareName(spare) });
      },
    };
  }

  /** The backend of entry `key` of `map`; one closed by an earlier user comes back as a fresh one on the same bytes. */
  private reopened(map: Map<number, MemorySegment>, key: number, name: string): StorageBackend {
    const entry = map.get(key);
    if (!entry) throw storageError('ENOENT', 'no such segment', { path: name });
    if (entry.memory.isClosed) {
      entry.memory = new MemoryBackend(entry.memory.snapshot());
      entry.backend = this.wrap(entry.memory, key);
    }
    return entry.backend;
  }

  async list(): Promise<number[]> {
    return [...this.segments.keys()].sort((a, b) => a - b);
  }

  async create(segment: number): Promise<StorageBackend> {
    if (this.segments.has(segment)) throw storageError('EEXIST', 'segment exists', { path: segmentName(segment) });
    const memory = new MemoryBackend();
    const backend = this.wrap(memory, segment);
    this.segments.set(segment, { memory, backend });
    return backend;
  }

  /** The segment's backend; one closed by an earlier user comes back as a fresh one on the same bytes. */
  async open(segment: number): Promise<StorageBackend> {
    return this.reopened(this.segments, segment, segmentName(segment));
  }

  async remove(segment: number): Promise<void> {
    if (!this.segments.delete(segment)) throw storageError('ENOENT', 'no such segment', { path: segmentName(segment) });
  }

  async sync(): Promise<void> {}

  async writeCheckpoint(data: Buffer): Promise<void> {
    this.checkpoint = Buffer.from(data);
  }

  async readCheckpoint(): Promise<Buffer | undefined> {
    return this.checkpoint;
  }

  /** What a crash leaves: each segment as `image` makes it (its bytes, or what its backend made durable). */
  crash(image: (segment: MemorySegment) => Buffer = ({ memory }) => memory.snapshot()): MemorySegmentStore {
    const survivor = new MemorySegmentStore(this.wrap);
    for (const [number, entry] of this.segments) {
      const memory = new MemoryBackend(image(entry));
      survivor.segments.set(number, { memory, backend: survivor.wrap(memory, number) });
    }
    for (const [number, entry] of this.spareSegments) {
      const memory = new MemoryBackend(image(entry));
      survivor.spareSegments.set(number, { memory, backend: survivor.wrap(memory, number) });
    }
    survivor.checkpoint = this.checkpoint;
    return survivor;
  }

  /** The raw bytes of a segment (tests that cut or corrupt a log). */
  bytes(segment: number): Buffer | undefined {
    return this.segments.get(segment)?.memory.snapshot();
  }

  /** Replaces a segment's bytes (tests that cut or corrupt a log). */
  setBytes(segment: number, data: Buffer): void {
    const memory = new MemoryBackend(data);
    this.segments.set(segment, { memory, backend: this.wrap(memory, segment) });
  }

  /** The raw bytes of a spare (tests). */
  spareBytes(spare: number): Buffer | undefined {
    return this.spareSegments.get(spare)?.memory.snapshot();
  }

  /** Replaces a spare's bytes (tests, and crash images of spares). */
  setSpareBytes(spare: number, data: Buffer): void {
    const memory = new MemoryBackend(data);
    this.spareSegments.set(spare, { memory, backend: this.wrap(memory, spare) });
  }
}
