// The logs the WAL section appends to, behind one small interface: persistfs' Wal (group commit) on a
// storage in its io_uring or sync IO mode, and the naive baseline, a node:fs FileHandle opened for append
// that writes each record and (sync 'always') fdatasyncs it on its own.
import { type FileHandle, mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';

import { DirSegmentStore, Wal, type Dir, type SegmentStore, type SpareShelf, type Storage, type StorageBackend } from '../../src/index.js';
import { openPersistfs, type PeerName, type PersistfsMode } from './peers.js';

/** The sync policies the section measures: durable before the append resolves, or written only. */
export type WalPolicy = 'always' | 'none';

export const WAL_SEGMENT_SIZE = 64 * 1024 * 1024;

/**
 * A log kept as a database keeps it (the checkpointed jobs): truncated up to its end every
 * CHECKPOINT_INTERVAL_MS, in segments of CHECKPOINTED_SEGMENT_SIZE (the LSM store's), with RECYCLED_SPARES
 * segments kept as spares and written over (WalOptions.recycle).
 */
export const CHECKPOINT_INTERVAL_MS = 50;
export const CHECKPOINTED_SEGMENT_SIZE = 16 * 1024 * 1024;
export const RECYCLED_SPARES = 4;

/** What reached the storage under a log: write calls (pwritev through the IO engine or on the calling thread: records, and the zeros a segment grows by) and fdatasyncs. */
export interface LogCalls {
  writes: number;
  datasyncs: number;
}

export interface RecordLog {
  /** resolves once the record is durable under the log's policy (its value is of no interest here) */
  append(record: Buffer): Promise<unknown>;
  /** the calls made so far; the naive log makes one write (and one datasync) per record by design */
  calls(): LogCalls;
  /** closes the log and deletes its files */
  close(): Promise<void>;
}

export interface LogPeer {
  readonly name: PeerName;
  /** a new, empty log; `checkpointed`: truncated as it goes, its segments recycled (persistfs only) */
  createLog(policy: WalPolicy, checkpointed?: boolean): Promise<RecordLog>;
  close(): Promise<void>;
}

/**
 * The log peer `name`, its files under `benchDir`. Each persistfs mode opens a store of its own
 * (wal-io_uring/, wal-sync/): a store has one owner at a time, and the peers are open together.
 */
export async function openLogPeer(name: PeerName, benchDir: string): Promise<LogPeer> {
  if (name === 'node:fs') return new NodeFsLogPeer(benchDir);
  const root = path.join(benchDir, `wal-${name}`);
  await mkdir(root, { recursive: true });
  return new WalLogPeer(name, await openPersistfs(name, root));
}

/** A name no earlier turn left behind: the process id and a counter. */
function freshName(prefix: string, counter: number): string {
  return `${prefix}-${process.pid}-${counter}`;
}

class WalLogPeer implements LogPeer {
  private logs = 0;

  constructor(
    readonly name: PersistfsMode,
    private readonly storage: Storage,
  ) {}

  async createLog(policy: WalPolicy, checkpointed = false): Promise<RecordLog> {
    const dir = await this.storage.root.createDirectory(freshName(`wal-bench-${this.name}`, this.logs++));
    try {
      const store = new CountingSegmentStore(new DirSegmentStore(dir));
      const wal = await Wal.open(
        store,
        checkpointed ? { sync: policy, segmentSize: CHECKPOINTED_SEGMENT_SIZE, recycle: RECYCLED_SPARES } : { sync: policy, segmentSize: WAL_SEGMENT_SIZE },
      );
      return new WalLog(wal, dir, store.counted, checkpointed);
    } catch (error) {
      await dir.delete();
      throw error;
    }
  }

  close(): Promise<void> {
    return this.storage.close();
  }
}

class WalLog implements RecordLog {
  private stopped = false;
  /** the checkpoint loop (checkpointed logs) */
  private readonly checkpoints: Promise<void>;

  constructor(
    private readonly wal: Wal,
    private readonly dir: Dir,
    private readonly counted: LogCalls,
    checkpointed: boolean,
  ) {
    this.checkpoints = checkpointed ? this.checkpointLoop() : Promise.resolve();
  }

  /** Truncates the log up to its end every CHECKPOINT_INTERVAL_MS until closed. */
  private async checkpointLoop(): Promise<void> {
    while (!this.stopped) {
      await new Promise((resolve) => setTimeout(resolve, CHECKPOINT_INTERVAL_MS));
      if (!this.stopped) await this.wal.truncateBefore(this.wal.end);
    }
  }

  // not an async wrapper: an extra promise per record would be the harness' cost, charged to the WAL
  append(record: Buffer): Promise<unknown> {
    return this.wal.append(record);
  }

  calls(): LogCalls {
    return { ...this.counted };
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.checkpoints;
    await this.wal.close();
    await this.dir.delete();
  }
}

/**
 * A SegmentStore whose segments count their appends and fdatasyncs, so the section can tell how many
 * records each group commit carried. It adds a call per batch, not per record.
 */
class CountingSegmentStore implements SegmentStore {
  readonly counted: LogCalls = { writes: 0, datasyncs: 0 };
  readonly spares: SpareShelf | undefined;

  constructor(private readonly inner: SegmentStore) {
    const shelf = inner.spares;
    this.spares = shelf && { ...shelf, open: async (spare) => new CountingBackend(await shelf.open(spare), this.counted) };
  }

  list(): Promise<number[]> {
    return this.inner.list();
  }
  async create(segment: number): Promise<StorageBackend> {
    return new CountingBackend(await this.inner.create(segment), this.counted);
  }
  async open(segment: number): Promise<StorageBackend> {
    return new CountingBackend(await this.inner.open(segment), this.counted);
  }
  remove(segment: number): Promise<void> {
    return this.inner.remove(segment);
  }
  sync(): Promise<void> {
    return this.inner.sync();
  }
  writeCheckpoint(data: Buffer): Promise<void> {
    return this.inner.writeCheckpoint(data);
  }
  readCheckpoint(): Promise<Buffer | undefined> {
    return this.inner.readCheckpoint();
  }
}

class CountingBackend implements StorageBackend {
  constructor(
    private readonly inner: StorageBackend,
    private readonly counted: LogCalls,
  ) {}

  readAt(offset: number, length: number): Promise<Buffer> {
    return this.inner.readAt(offset, length);
  }
  append(data: Uint8Array | readonly Uint8Array[]): Promise<number> {
    this.counted.writes++;
    return this.inner.append(data);
  }
  writeAt(offset: number, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    this.counted.writes++;
    return this.inner.writeAt(offset, data);
  }
  writeAtNow(offset: number, data: readonly Uint8Array[]): boolean {
    const wrote = this.inner.writeAtNow?.(offset, data) ?? false;
    if (wrote) this.counted.writes++;
    return wrote;
  }
  startWriteback(offset: number, length: number): void {
    this.inner.startWriteback?.(offset, length);
  }
  allocate(offset: number, length: number): Promise<void> {
    return this.inner.allocate(offset, length);
  }
  flush(): Promise<void> {
    this.counted.datasyncs++;
    return this.inner.flush();
  }
  size(): number {
    return this.inner.size();
  }
  sync(): Promise<void> {
    return this.inner.sync();
  }
  truncate(newSize: number): Promise<void> {
    return this.inner.truncate(newSize);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

class NodeFsLogPeer implements LogPeer {
  readonly name = 'node:fs' as const;
  private logs = 0;

  constructor(private readonly benchDir: string) {}

  async createLog(policy: WalPolicy): Promise<RecordLog> {
    const file = path.join(this.benchDir, `${freshName('wal-bench-node-fs', this.logs++)}.log`);
    // 'a' is O_APPEND: concurrent writers on the one handle never overwrite each other
    return new NodeFsLog(await open(file, 'a'), file, policy === 'always');
  }

  async close(): Promise<void> {}
}

/** The naive log: no framing, no batching; with `durable`, every record waits for its own fdatasync. */
class NodeFsLog implements RecordLog {
  private records = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly file: string,
    private readonly durable: boolean,
  ) {}

  async append(record: Buffer): Promise<void> {
    const { bytesWritten } = await this.handle.write(record);
    if (bytesWritten !== record.length) throw new Error(`short write: ${bytesWritten} of ${record.length} bytes`);
    if (this.durable) await this.handle.datasync();
    this.records++;
  }

  calls(): LogCalls {
    return { writes: this.records, datasyncs: this.durable ? this.records : 0 };
  }

  async close(): Promise<void> {
    await this.handle.close();
    await unlink(this.file);
  }
}
