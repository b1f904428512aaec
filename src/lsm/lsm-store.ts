// The LSM store: writes go to the WAL, then to a sorted memtable, each with the next version (sequence
// number). A full memtable is frozen and written as an SST (Dir.flushWrite: atomic) into level 0; the
// manifest then names it and the WAL is truncated before the first record it does not hold. Compaction
// (compaction.ts) runs in the background and merges levels down. Reads merge the memtables and the SSTs
// as of one version. See README.md beside this file for the formats and the choices.
import type { Dir } from '../storage/dir.js';
import { isCode, storageError, type StorageError } from '../ground/errors.js';
import type { Logger } from '../log.js';
import { DirSegmentStore } from '../wal/segment-store.js';
import { Wal, type WalPosition } from '../wal/wal.js';
import { WalReader } from '../wal/wal-reader.js';
import { BlockCache } from './block-cache.js';
import { hashKey, keyOf, toBuffer } from './bytes.js';
import { mergeRuns, pickCompaction, type CompactionPick, type LevelShape } from './compaction.js';
import type { JobInput, JobResult } from './compaction-job.js';
import { CompactionThread } from './compaction-thread.js';
import { LsmIterator } from './iterator.js';
import { bottomTest, rangeHolding, spanOf } from './key-range.js';
import { MANIFEST_FORMAT, readManifest, writeManifest, type ManifestData } from './manifest.js';
import { lockStore, unlockStore } from './lock.js';
import { Memtable } from './memtable.js';
import { SstBuilder, type BuiltTable } from './sst-builder.js';
import { MemtableSource, TablesSource, type Source } from './sources.js';
import { parseTableName, tableName, WAL_DIR } from './file-names.js';
import { Table, type Hit } from './table.js';
import type { Bytes, Entry, LsmOptions, LsmStats, RangeOptions, ReadOptions, Version, WriteOp, WriteOptions } from './types.js';
import { decodeBatch, encodeBatch, type EncodedOp } from './write-batch.js';

const WAL_RECORD_TYPE = 1;
const WAL_SEGMENT_SIZE = 16 * 1024 * 1024;
const MAX_LEVELS = 7;
/**
 * A compaction whose inputs are larger merges on the main thread, reading block by block: the thread holds
 * its inputs and outputs in memory. Regular compactions stay far below (at the defaults, 12 level-0 files
 * and level 1 are ~65 MiB); compactAll of a large store does not.
 */
const THREAD_INPUT_LIMIT = 128 * 1024 * 1024;

type Required<T> = { [K in keyof T]-?: T[K] };
type Settings = Required<Omit<LsmOptions, 'logger'>>;

const DEFAULTS: Settings = {
  memtableSize: 4 * 1024 * 1024,
  blockSize: 4096,
  bloomBitsPerKey: 10,
  blockCacheSize: 32 * 1024 * 1024,
  tableFileSize: 2 * 1024 * 1024,
  l0CompactionTrigger: 4,
  l0StopWrites: 12,
  levelBaseBytes: 10 * 1024 * 1024,
  levelMultiplier: 10,
  sync: 'none',
  readOnly: false,
  createIfMissing: true,
  errorIfExists: false,
  autoCompact: true,
  compactionThread: true,
  walRecovery: 'strict',
};

/** The memtables and SSTs a read sees. Replaced (never changed) by flushes and compactions. */
interface State {
  mem: Memtable;
  /** frozen memtables waiting for their flush, newest first */
  imm: Memtable[];
  /** level 0 newest first; deeper levels in key order */
  levels: Table[][];
  refs: number;
}

/** What the manifest records besides the levels; an edit changes them only once it is written. */
interface Recorded {
  walStart: WalPosition | null;
  persistedSeq: number;
  gcHorizon: number;
  pointers: ReadonlyArray<string | null>;
}

/** A change of the state: written to the manifest first, then installed. */
interface Edit {
  remove?: readonly Table[];
  add?: ReadonlyArray<{ level: number; table: Table }>;
  flushed?: Memtable;
  wal?: WalPosition;
  gcHorizon?: number;
  pointer?: { level: number; key: string };
}

function checkSettings(options: LsmOptions): Settings {
  const settings = { ...DEFAULTS };
  for (const [name, value] of Object.entries(options)) {
    if (name === 'logger' || value === undefined) continue;
    if (!(name in DEFAULTS)) throw storageError('EINVAL', `unknown LSM option '${name}'`);
    const expected = typeof DEFAULTS[name as keyof Settings];
    if (typeof value !== expected) throw storageError('EINVAL', `LSM option ${name} must be a ${expected}`);
    (settings as Record<string, unknown>)[name] = value;
  }
  for (const name of ['memtableSize', 'blockSize', 'tableFileSize', 'l0CompactionTrigger', 'l0StopWrites', 'levelBaseBytes', 'levelMultiplier'] as const) {
    if (!Number.isSafeInteger(settings[name]) || settings[name] < 1) throw storageError('EINVAL', `LSM option ${name} must be a positive integer`);
  }
  if (!(settings.bloomBitsPerKey >= 0 && settings.bloomBitsPerKey <= 64)) throw storageError('EINVAL', 'bloomBitsPerKey must be 0..64');
  if (!(settings.blockCacheSize >= 0)) throw storageError('EINVAL', 'blockCacheSize must be >= 0');
  if (settings.sync !== 'always' && settings.sync !== 'none') throw storageError('EINVAL', "LSM option sync must be 'always' or 'none'");
  if (settings.walRecovery !== 'strict' && settings.walRecovery !== 'point-in-time') {
    throw storageError('EINVAL', "LSM option walRecovery must be 'strict' or 'point-in-time'");
  }
  if (settings.l0StopWrites < settings.l0CompactionTrigger) throw storageError('EINVAL', 'l0StopWrites must be >= l0CompactionTrigger');
  return settings;
}

/** Snapshot: reads as of one version, consistent while writes go on. Release it when done. */
export class Snapshot {
  private released = false;

  /** @internal made by LsmStore.snapshot */
  constructor(
    private readonly store: LsmStore,
    readonly version: Version,
    private readonly onRelease: (snapshot: Snapshot) => void,
  ) {}

  private check(what: string): void {
    if (this.released) throw storageError('EBADF', `${what} on a released snapshot`);
  }

  get(key: Bytes): Promise<Buffer | undefined> {
    return this.guard('get', () => this.store.get(key, { version: this.version }));
  }

  getEntry(key: Bytes): Promise<Entry | undefined> {
    return this.guard('getEntry', () => this.store.getEntry(key, { version: this.version }));
  }

  has(key: Bytes): Promise<boolean> {
    return this.guard('has', () => this.store.has(key, { version: this.version }));
  }

  iterator(options: Omit<RangeOptions, 'version'> = {}): LsmIterator {
    this.check('iterator');
    return this.store.iterator({ ...options, version: this.version });
  }

  private guard<T>(what: string, body: () => Promise<T>): Promise<T> {
    try {
      this.check(what);
      return body();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Lets compaction drop the versions only this snapshot needed. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease(this);
  }
}

export class LsmStore {
  private state: State;
  private readonly settings: Settings;
  private readonly cache: BlockCache;
  private readonly shape: LevelShape;
  /** the newest version given to a write, and the newest whose write is applied (what reads see) */
  private lastSeq: number;
  private visibleSeq: number;
  private nextFile: number;
  /** the newest version the manifest says was given (with the WAL after its position, all that was) */
  private persistedSeq: number;
  private gcHorizon: number;
  private walStart: WalPosition | null;
  private pointers: ReadonlyArray<string | null>;
  /** where the record after the last applied one starts: a frozen memtable's WAL checkpoint */
  private appliedEnd: WalPosition | undefined;
  private readonly frozenAt = new Map<Memtable, WalPosition | undefined>();
  private readonly snapshots = new Set<Snapshot>();
  /** deletions of obsolete SSTs under way: close() waits for them */
  private readonly deleting = new Set<Promise<void>>();
  private manifestChain: Promise<void> = Promise.resolve();
  private flushing: Promise<void> | undefined;
  private compacting: Promise<void> | undefined;
  private stallWaiters: Array<() => void> = [];
  private backgroundError: StorageError | undefined;
  private closing = false;
  private closeResult: Promise<void> | undefined;
  private closed = false;
  private readonly logger: Logger | undefined;
  private readonly counters = { flushBytes: 0, compactionBytes: 0, userBytes: 0, compactions: 0, droppedVersions: 0, threadCompactions: 0 };
  /** merges compactions off the main thread (compactionThread); its worker starts at the first one */
  private readonly thread: CompactionThread | undefined;

  private constructor(
    private readonly dir: Dir,
    private readonly wal: Wal | undefined,
    /** the WAL's directory, open while the WAL is (its checkpoint and segments are made there) */
    private readonly walDir: Dir | undefined,
    manifest: ManifestData,
    levels: Table[][],
    mem: Memtable,
    lastSeq: number,
    settings: Settings,
    cache: BlockCache,
    logger: Logger | undefined,
  ) {
    this.settings = settings;
    this.cache = cache;
    this.logger = logger;
    this.shape = {
      l0Trigger: settings.l0CompactionTrigger,
      levelBaseBytes: settings.levelBaseBytes,
      levelMultiplier: settings.levelMultiplier,
      maxLevels: MAX_LEVELS,
    };
    this.lastSeq = lastSeq;
    this.visibleSeq = lastSeq;
    this.nextFile = manifest.nextFile;
    this.persistedSeq = manifest.lastSequence;
    this.gcHorizon = manifest.gcHorizon;
    this.walStart = manifest.wal;
    this.pointers = Array.from({ length: MAX_LEVELS }, (_, i) => {
      const hex = manifest.compactPointers[i];
      return hex == null ? null : Buffer.from(hex, 'hex').toString('latin1');
    });
    this.appliedEnd = wal?.end;
    this.state = { mem, imm: [], levels, refs: 1 };
    for (const level of levels) for (const table of level) table.refs++;
    this.thread = settings.compactionThread && !settings.readOnly ? new CompactionThread() : undefined;
  }

  /**
   * Opens (or creates) the store kept in `dir`: reads the manifest, opens its SSTs, removes SSTs a crash
   * left unnamed, and replays the WAL from the manifest's position into the memtable.
   */
  static async open(dir: Dir, options: LsmOptions = {}): Promise<LsmStore> {
    const settings = checkSettings(options);
    const logger = options.logger;
    if (!settings.readOnly) await lockStore(dir);
    try {
      return await LsmStore.openLocked(dir, settings, logger);
    } catch (error) {
      if (!settings.readOnly) await unlockStore(dir);
      throw error;
    }
  }

  private static async openLocked(dir: Dir, settings: Settings, logger: Logger | undefined): Promise<LsmStore> {
    let manifest = await readManifest(dir);
    if (manifest !== undefined && settings.errorIfExists) throw storageError('EEXIST', 'an LSM store already exists here (errorIfExists)', { path: dir.path });
    if (manifest === undefined) {
      if (!settings.createIfMissing || settings.readOnly) throw storageError('ENOENT', 'no LSM store here (no MANIFEST); open it with createIfMissing', { path: dir.path });
      manifest = { format: MANIFEST_FORMAT, nextFile: 1, lastSequence: 0, gcHorizon: 0, wal: null, levels: [], compactPointers: [] };
      await writeManifest(dir, manifest);
    }
    const cache = new BlockCache(settings.blockCacheSize);
    const levels: Table[][] = Array.from({ length: MAX_LEVELS }, () => []);
    const live = new Set<number>();
    try {
      for (const [level, numbers] of manifest.levels.entries()) {
        for (const number of numbers) {
          levels[level]!.push(await Table.open(dir, number, cache));
          live.add(number);
        }
      }
    } catch (error) {
      for (const table of levels.flat()) await table.close();
      throw error;
    }
    if (!settings.readOnly) {
      for (const entry of await dir.read()) {
        const number = typeof entry.name === 'string' ? parseTableName(entry.name) : undefined;
        if (number !== undefined && !live.has(number)) {
          logger?.warn({ file: entry.name }, 'LSM: removing an SST no manifest names (left by a crash during a flush or compaction)');
          await dir.deleteFile(entry.name);
        }
      }
    }

    const mem = new Memtable();
    // a store whose WAL lost its unsynced tail (power loss) may have dropped versions above what remains
    let lastSeq = Math.max(manifest.lastSequence, manifest.gcHorizon);
    let records = 0;
    const apply = (payload: Buffer, where: string) => {
      const batch = decodeBatch(payload, where);
      batch.ops.forEach((op, i) => mem.add(op.key, batch.firstSeq + i, op.value));
      lastSeq = Math.max(lastSeq, batch.firstSeq + batch.ops.length - 1);
      records++;
    };
    let wal: Wal | undefined;
    let walDir: Dir | undefined;
    if (!settings.readOnly) {
      walDir = await openOrCreateDir(dir, WAL_DIR);
      try {
        wal = await Wal.open(new DirSegmentStore(walDir), { sync: settings.sync, segmentSize: WAL_SEGMENT_SIZE, logger, recovery: settings.walRecovery });
      } catch (error) {
        await walDir.close();
        if (isCode(error, 'EBADMSG') && settings.walRecovery === 'strict') {
          throw storageError(
            'EBADMSG',
            `${(error as Error).message}. After a power loss, the last unsynced writes may be on disk out of order: ` +
              "open with { walRecovery: 'point-in-time' } to keep every write before the bad record (later ones are dropped and logged)",
            { path: (error as StorageError).path, cause: error },
          );
        }
        throw error;
      }
      try {
        for await (const record of wal.read(manifest.wal ?? undefined)) apply(record.payload, `${record.position.segment}:${record.position.offset}`);
      } catch (error) {
        await wal.close();
        await walDir.close();
        for (const table of levels.flat()) await table.close();
        throw error;
      }
    } else {
      // wal null: no flush yet (replay all of it), or a checkpoint (which has no WAL directory)
      await replayReadOnly(dir, manifest.wal, apply);
    }
    logger?.info({ path: dir.path, tables: live.size, replayed: records, version: lastSeq }, 'LSM store opened');
    const store = new LsmStore(dir, wal, walDir, manifest, levels, mem, lastSeq, settings, cache, logger);
    if (!settings.readOnly) {
      if (mem.bytes >= settings.memtableSize) store.freeze();
      store.scheduleCompaction();
    }
    return store;
  }

  /** The newest version reads see. */
  get version(): Version {
    return this.visibleSeq;
  }

  // ---- writes

  put(key: Bytes, value: Bytes, options?: WriteOptions): Promise<Version> {
    return this.write([{ type: 'put', key, value }], options);
  }

  del(key: Bytes, options?: WriteOptions): Promise<Version> {
    return this.write([{ type: 'del', key }], options);
  }

  /**
   * Applies `ops` atomically (one WAL record): every op or none is seen, by reads and after a crash.
   * Resolves with the version of the last op; the ops get consecutive versions in order.
   */
  write(ops: readonly WriteOp[], options: WriteOptions = {}): Promise<Version> {
    let encoded: EncodedOp[];
    try {
      this.checkWritable('write');
      encoded = encodeOps(ops);
    } catch (error) {
      return Promise.reject(error);
    }
    if (encoded.length === 0) return Promise.resolve(this.visibleSeq);
    return this.writeEncoded(encoded, options);
  }

  /** Writes ops already checked and copied (a stalled write goes on with its copy, not the caller's buffers). */
  private writeEncoded(encoded: EncodedOp[], options: WriteOptions): Promise<Version> {
    try {
      this.checkWritable('write');
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.mustStall()) return this.stalled().then(() => this.writeEncoded(encoded, options));
    const firstSeq = this.lastSeq + 1;
    this.lastSeq += encoded.length;
    const payload = encodeBatch(encoded, firstSeq);
    const appended = this.wal!.appendSpan(payload, WAL_RECORD_TYPE).then(({ end }) => {
      this.apply(encoded, firstSeq, end);
      return firstSeq + encoded.length - 1;
    });
    if (options.sync !== true || this.settings.sync === 'always') return appended;
    return appended.then(async (version) => {
      await this.wal!.sync();
      return version;
    });
  }

  private apply(ops: readonly EncodedOp[], firstSeq: number, end: WalPosition): void {
    const mem = this.state.mem;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      mem.add(op.key, firstSeq + i, op.value);
      this.counters.userBytes += op.key.length + (op.value?.length ?? 0);
    }
    this.visibleSeq = firstSeq + ops.length - 1;
    this.appliedEnd = end;
    // while closing, the WAL holds what is applied: no flush starts on a store being closed
    if (mem.bytes >= this.settings.memtableSize && !this.closing) this.freeze();
  }

  private checkWritable(what: string): void {
    if (this.closed || this.closing) throw storageError('EBADF', `${what} on a closed LSM store`);
    if (this.settings.readOnly) throw storageError('EROFS', `${what}: the LSM store was opened read-only`);
    if (this.backgroundError) throw storageError('EIO', `${what}: a background flush or compaction failed (${this.backgroundError.message}); reopen the store`);
  }

  private mustStall(): boolean {
    if (this.state.imm.length >= 2) return true;
    return this.settings.autoCompact && this.state.levels[0]!.length >= this.settings.l0StopWrites;
  }

  private stalled(): Promise<void> {
    return new Promise((resolve) => this.stallWaiters.push(resolve));
  }

  private wakeStalled(): void {
    const waiters = this.stallWaiters;
    this.stallWaiters = [];
    for (const wake of waiters) wake();
  }

  // ---- reads

  private readVersion(options: ReadOptions | undefined): number {
    if (this.closed) throw storageError('EBADF', 'read on a closed LSM store');
    const version = options?.version;
    if (version === undefined) return this.visibleSeq;
    if (!Number.isSafeInteger(version) || version < 0) throw storageError('EINVAL', `version must be a non-negative integer, got ${String(version)}`);
    if (version > this.visibleSeq) {
      throw storageError('EINVAL', `version ${version} has not been written yet (the latest is ${this.visibleSeq}); reads of later writes would change its answer`);
    }
    if (version < this.gcHorizon) {
      throw storageError('ESTALE', `version ${version} is older than what compaction kept (${this.gcHorizon}); hold a snapshot to read old versions`);
    }
    return version;
  }

  private acquire(): State {
    const state = this.state;
    state.refs++;
    return state;
  }

  private release(state: State): void {
    if (--state.refs > 0) return;
    for (const level of state.levels) {
      for (const table of level) {
        if (--table.refs === 0 && table.obsolete) this.deleteObsolete(table);
      }
    }
  }

  /** Deletes the file of a table no state holds any more, in the background. */
  private deleteObsolete(table: Table): void {
    const deletion: Promise<void> = table
      .delete(this.dir)
      .catch((error: unknown) => this.logger?.warn({ err: error, file: table.name }, 'LSM: could not delete an obsolete SST'))
      .then(() => {
        this.deleting.delete(deletion);
      });
    this.deleting.add(deletion);
  }

  /** The value of `key` (latest, or as of options.version); undefined when absent or deleted. */
  async get(key: Bytes, options?: ReadOptions): Promise<Buffer | undefined> {
    return (await this.lookup(key, options))?.value;
  }

  async has(key: Bytes, options?: ReadOptions): Promise<boolean> {
    return (await this.lookup(key, options))?.value !== undefined;
  }

  /** The value of `key` with its version; undefined when absent or deleted. */
  async getEntry(key: Bytes, options?: ReadOptions): Promise<Entry | undefined> {
    const hit = await this.lookup(key, options);
    if (hit?.value === undefined) return undefined;
    return { key: Buffer.from(toBuffer(key, 'a key')), value: hit.value, version: hit.seq };
  }

  /** The version of `key` a read sees (a delete: value undefined), holding the state while it looks. */
  private async lookup(key: Bytes, options: ReadOptions | undefined): Promise<Hit | undefined> {
    const version = this.readVersion(options);
    const k = keyOf(key);
    const state = this.acquire();
    try {
      const found = this.find(state, k, version, 0);
      return found instanceof Promise ? await found : found;
    } finally {
      this.release(state);
    }
  }

  /**
   * Newer data sits higher up (memtables, then level 0 newest first, then each level): the first hit
   * wins. Synchronous while the blocks it needs are cached; from `from` (0: the memtables) on.
   */
  private find(state: State, key: string, version: number, from: number): Hit | undefined | Promise<Hit | undefined> {
    if (from === 0) {
      const hit = visibleIn(state.mem, key, version);
      if (hit !== undefined) return hit;
      for (const memtable of state.imm) {
        const older = visibleIn(memtable, key, version);
        if (older !== undefined) return older;
      }
    }
    const hash = hashKey(key);
    const level0 = state.levels[0]!;
    const sources = level0.length + state.levels.length - 1;
    for (let i = Math.max(from - 1, 0); i < sources; i++) {
      const table = i < level0.length ? level0[i] : rangeHolding(state.levels[i - level0.length + 1]!, key);
      if (table === undefined) continue;
      const hit = table.get(key, hash, version);
      if (hit instanceof Promise) return hit.then((found) => found ?? this.find(state, key, version, i + 2));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /** A range read; close it when done (it holds the files it reads). */
  iterator(options: RangeOptions = {}): LsmIterator {
    const version = this.readVersion(options);
    if (options.limit !== undefined && typeof options.limit !== 'number') throw storageError('EINVAL', 'limit must be a number');
    const reverse = options.reverse === true;
    const state = this.acquire();
    const sources: Source[] = [state.mem, ...state.imm].map((memtable) => new MemtableSource(memtable, version, reverse));
    for (const table of state.levels[0]!) sources.push(new TablesSource([table], version, reverse));
    for (let level = 1; level < state.levels.length; level++) {
      if (state.levels[level]!.length > 0) sources.push(new TablesSource(state.levels[level]!, version, reverse));
    }
    let released = false;
    try {
      return new LsmIterator(sources, version, options, () => {
        if (!released) this.release(state);
        released = true;
      });
    } catch (error) {
      this.release(state); // a bad bound: nothing may keep the state pinned
      throw error;
    }
  }

  /** Pins the current version: compaction keeps what it reads until release(). */
  snapshot(): Snapshot {
    if (this.closed) throw storageError('EBADF', 'snapshot on a closed LSM store');
    const snapshot = new Snapshot(this, this.visibleSeq, (s) => this.snapshots.delete(s));
    this.snapshots.add(snapshot);
    return snapshot;
  }

  // ---- flush

  /** Freezes the memtable (when it holds anything) and schedules its flush. */
  private freeze(): void {
    const state = this.state;
    if (state.mem.entries === 0) return;
    this.frozenAt.set(state.mem, this.appliedEnd);
    this.install({ ...state, mem: new Memtable(), imm: [state.mem, ...state.imm], refs: 1 });
    this.scheduleFlush();
  }

  private install(next: State): void {
    const previous = this.state;
    for (const level of next.levels) for (const table of level) table.refs++;
    this.state = next;
    this.release(previous);
  }

  private scheduleFlush(): void {
    if (this.flushing !== undefined || this.closing) return;
    this.flushing = (async () => {
      try {
        while (this.state.imm.length > 0 && !this.backgroundError) await this.flushOldest();
      } catch (error) {
        this.fail(error, 'flush');
      } finally {
        this.flushing = undefined;
        this.wakeStalled();
      }
    })();
  }

  private fail(error: unknown, what: string): void {
    this.backgroundError = error as StorageError;
    this.logger?.error({ err: error }, `LSM background ${what} failed; writes are refused until the store is reopened`);
    this.wakeStalled();
  }

  private async flushOldest(): Promise<void> {
    const frozen = this.state.imm.at(-1)!;
    const builder = new SstBuilder(this.settings.blockSize, this.settings.bloomBitsPerKey);
    let keys = 0;
    for (const [key, versions] of frozen.sorted()) {
      for (let i = versions.seqs.length - 1; i >= 0; i--) builder.add(key, versions.seqs[i]!, versions.values[i]);
      if (++keys % 4096 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const table = await this.writeTable(builder.finish());
    this.counters.flushBytes += table.bytes;
    const wal = this.frozenAt.get(frozen);
    // the manifest is about to say replay starts at `wal`: the log must really reach that far on disk,
    // or after a power loss new records would be written below that position and skipped by replay
    await this.wal!.sync();
    await this.applyEdit({ add: [{ level: 0, table }], flushed: frozen, ...(wal ? { wal } : {}) });
    this.frozenAt.delete(frozen);
    if (wal !== undefined) await this.wal!.truncateBefore(wal);
    this.logger?.debug({ file: table.name, bytes: table.bytes, entries: table.properties.entries }, 'LSM flushed a memtable');
    this.scheduleCompaction();
  }

  private async writeTable(built: BuiltTable): Promise<Table> {
    const number = this.nextFile++;
    await (await this.dir.flushWrite(tableName(number), built.buffers)).close();
    return Table.open(this.dir, number, this.cache);
  }

  /** Writes the manifest of the state after `edit`, then installs that state. One edit at a time. */
  private applyEdit(edit: Edit): Promise<void> {
    const run = this.manifestChain.then(async () => {
      // after a failed edit the state on disk and in memory may disagree: nothing more is recorded
      if (this.backgroundError) throw this.backgroundError;
      const current = this.state;
      const removed = new Set(edit.remove ?? []);
      const levels = current.levels.map((level) => level.filter((table) => !removed.has(table)));
      for (const { level, table } of edit.add ?? []) {
        if (level === 0) levels[0]!.unshift(table);
        else levels[level]!.push(table);
      }
      for (let level = 1; level < levels.length; level++) levels[level]!.sort((a, b) => (a.smallest < b.smallest ? -1 : 1));
      const next: Recorded = {
        walStart: edit.wal ?? this.walStart,
        persistedSeq: edit.flushed ? Math.max(this.persistedSeq, edit.flushed.maxSeq) : this.persistedSeq,
        gcHorizon: edit.gcHorizon !== undefined ? Math.max(this.gcHorizon, edit.gcHorizon) : this.gcHorizon,
        pointers: edit.pointer ? this.pointers.map((key, level) => (level === edit.pointer!.level ? edit.pointer!.key : key)) : this.pointers,
      };
      const data = this.manifestData(levels, next);
      await writeManifest(this.dir, data);
      // recorded: only now does the store take the new values as its own
      this.walStart = next.walStart;
      this.persistedSeq = data.lastSequence;
      this.gcHorizon = next.gcHorizon;
      this.pointers = next.pointers;
      const kept = new Set(levels.flat());
      for (const table of removed) if (!kept.has(table)) table.obsolete = true;
      // a freeze may have happened meanwhile: the memtables are taken as they are now
      const now = this.state;
      this.install({ mem: now.mem, imm: edit.flushed ? now.imm.filter((m) => m !== edit.flushed) : now.imm, levels, refs: 1 });
      this.wakeStalled();
    });
    this.manifestChain = run.catch(() => undefined);
    return run;
  }

  private recorded(): Recorded {
    return { walStart: this.walStart, persistedSeq: this.persistedSeq, gcHorizon: this.gcHorizon, pointers: this.pointers };
  }

  private manifestData(levels: readonly Table[][], recorded: Recorded = this.recorded()): ManifestData {
    // versions are never given twice, even when compaction dropped the newest ones (bottom deletes) and
    // the WAL no longer holds them; and the store never reopens below the horizon of what it dropped
    let lastSequence = Math.max(recorded.persistedSeq, recorded.gcHorizon);
    for (const level of levels) for (const table of level) lastSequence = Math.max(lastSequence, table.properties.maxSeq);
    return {
      format: MANIFEST_FORMAT,
      nextFile: this.nextFile,
      lastSequence,
      gcHorizon: recorded.gcHorizon,
      wal: recorded.walStart,
      levels: levels.map((level) => level.map((table) => table.number)),
      compactPointers: recorded.pointers.map((key) => (key === null ? null : Buffer.from(key, 'latin1').toString('hex'))),
    };
  }

  /**
   * Writes every write applied so far into SSTs (freezing the memtable), and waits for it. Compaction is
   * not awaited.
   */
  async flush(): Promise<void> {
    this.checkWritable('flush');
    this.freeze();
    while (this.flushing) await this.flushing;
    if (this.backgroundError) throw this.backgroundError;
  }

  // ---- compaction

  private scheduleCompaction(): void {
    if (!this.settings.autoCompact || this.compacting !== undefined || this.closing || this.backgroundError) return;
    if (pickCompaction(this.state.levels, this.shape, this.pointers) === undefined) return;
    this.compacting = (async () => {
      try {
        for (;;) {
          if (this.closing || this.backgroundError) break;
          const pick = pickCompaction(this.state.levels, this.shape, this.pointers);
          if (pick === undefined) break;
          await this.compactOnce(pick);
        }
      } catch (error) {
        this.fail(error, 'compaction');
      } finally {
        this.compacting = undefined;
      }
    })();
  }

  /** Runs compactions until no level is over its size (autoCompact or not); for tests and tools. */
  async compact(): Promise<void> {
    this.checkWritable('compact');
    await this.exclusively(async () => {
      for (;;) {
        const pick = pickCompaction(this.state.levels, this.shape, this.pointers);
        if (pick === undefined || this.closing) break;
        await this.compactOnce(pick);
      }
    });
  }

  /**
   * Runs a compaction by hand as the only one: a background compaction started beside it would pick the
   * same files and write their data twice into overlapping files of one level.
   */
  private async exclusively(body: () => Promise<void>): Promise<void> {
    while (this.compacting) await this.compacting;
    const run = body();
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.compacting = done;
    try {
      await run;
    } finally {
      if (this.compacting === done) this.compacting = undefined;
      this.scheduleCompaction();
    }
  }

  /**
   * Merges every level into the deepest one holding data, dropping every version no snapshot needs; for
   * tests and tools (a full rewrite of the store).
   */
  async compactAll(): Promise<void> {
    await this.flush();
    await this.exclusively(async () => {
      let deepest = 1;
      this.state.levels.forEach((level, i) => {
        if (level.length > 0) deepest = Math.max(deepest, i);
      });
      for (let level = 0; level < deepest && !this.closing; level++) {
        const inputs = this.state.levels[level]!;
        const below = this.state.levels[level + 1]!;
        // the last step rewrites the deepest level even when nothing is above it, to drop old versions
        if (inputs.length === 0 && (level + 1 < deepest || below.length === 0)) continue;
        await this.compactOnce({ level, inputs: [...inputs], overlaps: [...below], trivialMove: false });
      }
    });
  }

  private oldestReadVersion(): number {
    let oldest = this.visibleSeq;
    for (const snapshot of this.snapshots) if (snapshot.version < oldest) oldest = snapshot.version;
    return oldest;
  }

  private async compactOnce(pick: CompactionPick): Promise<void> {
    const output = pick.level + 1;
    // the next compaction of this level starts after what this one takes
    const taken = pick.inputs.length > 0 ? spanOf(pick.inputs).largest : ''; // compactAll may rewrite a level alone
    const pointer = pick.level > 0 ? { pointer: { level: pick.level, key: taken } } : {};
    const state = this.acquire();
    try {
      if (pick.trivialMove) {
        await this.applyEdit({ remove: pick.inputs, add: pick.inputs.map((table) => ({ level: output, table })), ...pointer });
        return;
      }
      const horizon = this.oldestReadVersion();
      const runs = pick.level === 0 ? [...pick.inputs.map((table) => [table]), pick.overlaps] : [pick.inputs, pick.overlaps];
      const inputBytes = runs.flat().reduce((sum, table) => sum + table.bytes, 0);
      const thread = inputBytes <= THREAD_INPUT_LIMIT ? this.thread : undefined;
      const merged = thread ? await this.mergeInThread(thread, runs, output, state, horizon) : await this.mergeHere(runs, output, state, horizon);
      if (merged === undefined) return; // abandoned: the store is closing
      const { outputs, result } = merged;
      await this.applyEdit({
        remove: [...pick.inputs, ...pick.overlaps],
        add: outputs.map((table) => ({ level: output, table })),
        ...(result.droppedVersions > 0 ? { gcHorizon: horizon } : {}),
        ...pointer,
      });
      const written = outputs.reduce((sum, table) => sum + table.bytes, 0);
      this.counters.compactionBytes += written;
      this.counters.compactions++;
      this.counters.droppedVersions += result.droppedVersions;
      if (thread) this.counters.threadCompactions++;
      this.logger?.debug(
        { level: pick.level, inputs: pick.inputs.length + pick.overlaps.length, outputs: outputs.length, read: result.bytesRead, written, dropped: result.droppedVersions },
        'LSM compaction',
      );
    } finally {
      this.release(state);
    }
  }

  /** The merge on the main thread, reading the inputs block by block. Undefined when abandoned. */
  private async mergeHere(runs: Table[][], output: number, state: State, horizon: number): Promise<{ outputs: Table[]; result: Omit<JobResult, 'outputs'> } | undefined> {
    const outputs: Table[] = [];
    const result = await mergeRuns(runs, {
      horizon,
      isBottom: bottomTest(state.levels.slice(output + 1)),
      blockSize: this.settings.blockSize,
      bloomBitsPerKey: this.settings.bloomBitsPerKey,
      tableFileSize: this.settings.tableFileSize,
      emit: async (built) => {
        outputs.push(await this.writeTable(built));
      },
      abandoned: () => this.closing,
    });
    if (result.abandoned) return this.discard(outputs);
    return { outputs, result };
  }

  /**
   * The merge on the compaction thread: the inputs are read whole and moved to the thread, which merges
   * them and hands back the outputs' bytes; they are written and opened here. Undefined when abandoned.
   */
  private async mergeInThread(thread: CompactionThread, runs: Table[][], output: number, state: State, horizon: number): Promise<{ outputs: Table[]; result: Omit<JobResult, 'outputs'> } | undefined> {
    const inputs: JobInput[][] = [];
    const transfer: ArrayBuffer[] = [];
    for (const run of runs) {
      const read: JobInput[] = [];
      for (const table of run) {
        if (this.closing) return undefined;
        const data = (await table.readAll()).buffer as ArrayBuffer;
        read.push({ name: table.name, data });
        transfer.push(data);
      }
      inputs.push(read);
    }
    let reply: JobResult;
    try {
      reply = await thread.run(
        {
          runs: inputs,
          horizon,
          below: state.levels.slice(output + 1).map((level) => level.map(({ smallest, largest }) => ({ smallest, largest }))),
          blockSize: this.settings.blockSize,
          bloomBitsPerKey: this.settings.bloomBitsPerKey,
          tableFileSize: this.settings.tableFileSize,
        },
        transfer,
      );
    } catch (error) {
      if (this.closing) return undefined; // terminated by close(): the job's work is dropped
      throw error;
    }
    const outputs: Table[] = [];
    for (const built of reply.outputs) {
      if (this.closing) return this.discard(outputs);
      outputs.push(await this.writeTable({ buffers: [Buffer.from(built.data)], bytes: built.data.byteLength, properties: built.properties }));
    }
    return { outputs, result: { droppedVersions: reply.droppedVersions, bytesRead: reply.bytesRead } };
  }

  /** Deletes the outputs of a merge abandoned because the store is closing (none was installed). */
  private async discard(outputs: readonly Table[]): Promise<undefined> {
    for (const table of outputs) await table.delete(this.dir);
    return undefined;
  }

  // ---- checkpoint, sync, stats, close

  /**
   * Writes a checkpoint of the store into the empty directory `target`: every write applied before the
   * call, as SSTs hard-linked from this store and a manifest of its own. It opens as a store (readOnly
   * for a backup that must not change).
   */
  async checkpoint(target: Dir): Promise<void> {
    await this.flush();
    const state = this.acquire();
    try {
      if ((await target.read()).length > 0) throw storageError('ENOTEMPTY', 'checkpoint needs an empty directory', { path: target.path });
      for (const level of state.levels) for (const table of level) await this.dir.link(table.name, target, table.name);
      const data = this.manifestData(state.levels);
      await writeManifest(target, { ...data, wal: null });
      await target.sync();
    } finally {
      this.release(state);
    }
  }

  /** Makes every write that has resolved durable (fdatasync of the WAL), whatever the sync policy. */
  async sync(): Promise<void> {
    this.checkWritable('sync');
    await this.wal!.sync();
  }

  stats(): LsmStats {
    const state = this.state;
    return {
      version: this.visibleSeq,
      memtableBytes: state.mem.bytes,
      immutableMemtables: state.imm.length,
      levels: state.levels.map((level, i) => ({ level: i, files: level.length, bytes: level.reduce((sum, table) => sum + table.bytes, 0) })),
      ...this.counters,
      blockCacheBytes: this.cache.bytes,
      snapshots: this.snapshots.size,
    };
  }

  /**
   * Waits for a running flush, stops a running compaction between two keys, waits for the deletion of the
   * SSTs compactions made obsolete, and closes the WAL (making every write durable) and the SSTs. The
   * memtable is not flushed: the WAL holds it.
   */
  close(): Promise<void> {
    this.closeResult ??= this.closeOnce();
    return this.closeResult;
  }

  private async closeOnce(): Promise<void> {
    this.closing = true;
    this.wakeStalled();
    // a compaction running on the thread is dropped at once (nothing it made is installed)
    const threadStopped = this.thread?.close();
    while (this.flushing || this.compacting) await (this.flushing ?? this.compacting);
    await threadStopped;
    await this.manifestChain;
    // once close() resolves, the directory holds the SSTs the manifest names and no obsolete one (but one
    // an iterator still holds: deleted when that iterator is closed, or else by the next open)
    while (this.deleting.size > 0) await Promise.all(this.deleting);
    this.closed = true;
    let failure: unknown;
    try {
      await this.wal?.close();
    } catch (error) {
      // EBADF: the storage under the store was closed first, which closed the WAL's file (and made
      // nothing less durable: the records were written, and fdatasynced under sync 'always')
      if (!isCode(error, 'EBADF')) failure = error;
    }
    await this.walDir?.close();
    if (!this.settings.readOnly) {
      await unlockStore(this.dir).catch((error: unknown) => {
        if (!isCode(error, 'EBADF')) failure ??= error;
      });
    }
    const tables = new Set(this.state.levels.flat());
    this.release(this.state);
    for (const table of tables) if (!table.obsolete) await table.close().catch(() => undefined);
    if (failure) throw failure;
  }
}

async function openOrCreateDir(dir: Dir, name: string): Promise<Dir> {
  try {
    return await dir.openDirectory(name);
  } catch (error) {
    if (!isCode(error, 'ENOENT')) throw error;
    const created = await dir.createDirectory(name);
    await dir.sync();
    return created;
  }
}

/**
 * Replays the WAL of a store opened read-only, without changing it: a torn tail just ends the replay. From
 * null (a store that never flushed) it replays every segment, as a writable open does.
 */
async function replayReadOnly(dir: Dir, from: WalPosition | null, apply: (payload: Buffer, where: string) => void): Promise<void> {
  let walDir: Dir;
  try {
    walDir = await dir.openDirectory(WAL_DIR);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return;
    throw error;
  }
  try {
    await new WalReader(new DirSegmentStore(walDir)).read(from ?? undefined, (record) => apply(record.payload, `${record.position.segment}:${record.position.offset}`));
  } finally {
    await walDir.close();
  }
}

function encodeOps(ops: readonly WriteOp[]): EncodedOp[] {
  if (!Array.isArray(ops)) throw storageError('EINVAL', 'write takes an array of operations');
  return ops.map((op, i) => {
    if (op === null || typeof op !== 'object') throw storageError('EINVAL', `operation ${i} is not an object`);
    const key = keyOf(op.key);
    if (op.type === 'put') return { key, value: Buffer.from(toBuffer(op.value, `the value of operation ${i}`)) };
    if (op.type === 'del') return { key, value: undefined };
    throw storageError('EINVAL', `operation ${i} has type ${String((op as { type?: unknown }).type)}; expected 'put' or 'del'`);
  });
}

/** The version of `key` a memtable holds at `version`, if any (a copy of its value). */
function visibleIn(memtable: Memtable, key: string, version: number): Hit | undefined {
  const versions = memtable.get(key);
  if (versions === undefined) return undefined;
  const i = versions.visible(version);
  if (i < 0) return undefined;
  const value = versions.values[i];
  return { seq: versions.seqs[i]!, value: value === undefined ? undefined : Buffer.from(value) };
}
