// Where the WAL's segments live: a directory of the storage API (DirSegmentStore: each segment a File
// behind a FileBackend, so the WAL runs on io_uring or the sync IO mode), or memory for tests
// (MemorySegmentStore, whose backends the tests may wrap to fail or crash on purpose).
import { FileBackend } from '../backend/file-backend.js';
import type { StorageBackend } from '../backend/backend.js';
import { MemoryBackend } from '../backend/memory-backend.js';
import { storageError } from '../ground/errors.js';
import type { Dir } from '../storage/dir.js';
import { CHECKPOINT_NAME, parseSegmentName, segmentName } from './format.js';

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
}

export class DirSegmentStore implements SegmentStore {
  constructor(private readonly dir: Dir) {}

  async list(): Promise<number[]> {
    const numbers = (await this.dir.read())
      .map((entry) => (typeof entry.name === 'string' ? parseSegmentName(entry.name) : undefined))
      .filter((n): n is number => n !== undefined);
    return numbers.sort((a, b) => a - b);
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

interface MemorySegment {
  memory: MemoryBackend;
  backend: StorageBackend;
}

export class MemorySegmentStore implements SegmentStore {
  private readonly segments = new Map<number, MemorySegment>();
  private checkpoint: Buffer | undefined;

  /** `wrap` lets a test put every segment behind a failing or crashing backend. */
  constructor(private readonly wrap: (memory: MemoryBackend, segment: number) => StorageBackend = (memory) => memory) {}

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
    const entry = this.segments.get(segment);
    if (!entry) throw storageError('ENOENT', 'no such segment', { path: segmentName(segment) });
    if (entry.memory.isClosed) {
      entry.memory = new MemoryBackend(entry.memory.snapshot());
      entry.backend = this.wrap(entry.memory, segment);
    }
    return entry.backend;
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
}
