// The write path: a write gets the next versions, goes to the WAL as one record, then into the memtable.
// A memtable over memtableSize is frozen and flushed in the background into a level-0 SST; the manifest
// then names it with the WAL position replay starts from, and the WAL drops the segments before it.
import type { Logger } from '../log.js';
import type { Wal, WalPosition } from '../wal/wal.js';
import { Memtable } from './memtable.js';
import type { Settings } from './settings.js';
import { SstBuilder, tableSizeHint } from './sst-builder.js';
import type { StoreStatus } from './store-status.js';
import type { Version, WriteOp, WriteOptions } from './types.js';
import type { VersionSet } from './version-set.js';
import { encodeOps, setFirstSeq, type EncodedBatch } from './write-batch.js';

const WAL_RECORD_TYPE = 1;

export class WritePath {
  /** the newest version given to a write, and the newest whose write is applied (what reads see) */
  private lastSeq: number;
  private visibleSeq: number;
  /** where the record after the last applied one starts: a frozen memtable's WAL checkpoint */
  private appliedEnd: WalPosition | undefined;
  private readonly frozenAt = new Map<Memtable, WalPosition | undefined>();
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly versions: VersionSet,
    /** undefined when the store is read-only */
    private readonly wal: Wal | undefined,
    lastSeq: number,
    private readonly settings: Settings,
    private readonly status: StoreStatus,
    private readonly logger: Logger | undefined,
    /** called after each flush: level 0 has one more SST */
    private readonly flushed: () => void,
  ) {
    this.lastSeq = lastSeq;
    this.visibleSeq = lastSeq;
    this.appliedEnd = wal?.end;
  }

  /** The newest version reads see. */
  get version(): Version {
    return this.visibleSeq;
  }

  /** The flush under way, if any. */
  get running(): Promise<void> | undefined {
    return this.flushing;
  }

  write(ops: readonly WriteOp[], options: WriteOptions): Promise<Version> {
    let batch: EncodedBatch;
    try {
      this.status.checkWritable('write');
      batch = encodeOps(ops);
    } catch (error) {
      return Promise.reject(error);
    }
    if (batch.count === 0) return Promise.resolve(this.visibleSeq);
    return this.writeEncoded(batch, options);
  }

  /** Writes a batch already checked and copied (a stalled write goes on with its copy, not the caller's buffers). */
  private writeEncoded(batch: EncodedBatch, options: WriteOptions): Promise<Version> {
    try {
      this.status.checkWritable('write');
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.mustStall()) return this.status.stalled().then(() => this.writeEncoded(batch, options));
    const firstSeq = this.lastSeq + 1;
    this.lastSeq += batch.count;
    setFirstSeq(batch.record, firstSeq);
    const appended = this.wal!.appendSpan(batch.record, WAL_RECORD_TYPE).then(({ end }) => {
      this.apply(batch, firstSeq, end);
      return firstSeq + batch.count - 1;
    });
    if (options.sync !== true || this.settings.sync === 'always') return appended;
    return appended.then(async (version) => {
      await this.wal!.sync();
      return version;
    });
  }

  /** Puts a written batch into the memtable (its keys and values copied from the record) and shows it to reads. */
  private apply(batch: EncodedBatch, firstSeq: number, end: WalPosition): void {
    const mem = this.versions.current.mem;
    mem.addBatch(batch.record, `version ${firstSeq}`);
    this.status.counters.userBytes += batch.userBytes;
    this.visibleSeq = firstSeq + batch.count - 1;
    this.appliedEnd = end;
    // while closing, the WAL holds what is applied: no flush starts on a store being closed
    if (mem.bytes >= this.settings.memtableSize && !this.status.closing) this.freeze();
  }

  private mustStall(): boolean {
    const state = this.versions.current;
    if (state.imm.length >= 2) return true;
    return this.settings.autoCompact && state.levels[0]!.length >= this.settings.l0StopWrites;
  }

  /** Makes every write that has resolved durable (fdatasync of the WAL), whatever the sync policy. */
  async sync(): Promise<void> {
    this.status.checkWritable('sync');
    await this.wal!.sync();
  }

  /** Writes every write applied so far into SSTs (freezing the memtable), and waits for it. */
  async flush(): Promise<void> {
    this.status.checkWritable('flush');
    this.freeze();
    while (this.flushing) await this.flushing;
    if (this.status.failure) throw this.status.failure;
  }

  /** Freezes the memtable (when it holds anything) and schedules its flush. */
  freeze(): void {
    const state = this.versions.current;
    if (state.mem.entries === 0) return;
    this.frozenAt.set(state.mem, this.appliedEnd);
    this.versions.install({ ...state, mem: new Memtable(), imm: [state.mem, ...state.imm], refs: 1 });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushing !== undefined || this.status.closing) return;
    this.flushing = (async () => {
      try {
        while (this.versions.current.imm.length > 0 && !this.status.failure) await this.flushOldest();
      } catch (error) {
        this.status.fail(error, 'flush');
      } finally {
        this.flushing = undefined;
        this.status.wakeStalled();
      }
    })();
  }

  private async flushOldest(): Promise<void> {
    const frozen = this.versions.current.imm.at(-1)!;
    const builder = new SstBuilder(this.settings.blockSize, this.settings.bloomBitsPerKey, tableSizeHint(this.settings.memtableSize, this.settings.blockSize));
    // the addon encodes the blocks (one call a block, not four an entry: the flush was ~1 us an entry on
    // this thread, BENCHMARKS.md session 55); the event loop runs between every 16 of them
    let blocks = 0;
    for (let entry = builder.addBlockOf(frozen, -1); entry >= 0; entry = builder.addBlockOf(frozen, entry)) {
      if (++blocks % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const table = await this.versions.writeTable(builder.finish(), 0);
    this.status.counters.flushBytes += table.bytes;
    const wal = this.frozenAt.get(frozen);
    // the manifest is about to say replay starts at `wal`: the log must really reach that far on disk,
    // or after a power loss new records would be written below that position and skipped by replay
    await this.wal!.sync();
    await this.versions.applyEdit({ add: [{ level: 0, table }], flushed: frozen, ...(wal ? { wal } : {}) });
    this.frozenAt.delete(frozen);
    if (wal !== undefined) await this.wal!.truncateBefore(wal);
    this.logger?.debug({ file: table.name, bytes: table.bytes, entries: table.properties.entries }, 'LSM flushed a memtable');
    this.flushed();
  }
}
