// The LSM store: writes go to the WAL, then to a sorted memtable, each with the next version (sequence
// number). A full memtable is frozen and written as an SST (Dir.flushWrite: atomic) into level 0; the
// manifest then names it and the WAL is truncated before the first record it does not hold. Compaction
// runs in the background and merges levels down. Reads merge the memtables and the SSTs as of one
// version. See README.md beside this file for the formats and the choices.
//
// LsmStore coordinates: recovery.ts opens, write-path.ts writes and flushes, compactor.ts compacts,
// version-set.ts holds what reads see and records its changes, read-path.ts reads it.
import { isCode, storageError } from '../ground/errors.js';
import { SyncStreak } from '../ground/event-loop-turns.js';
import type { Logger } from '../log.js';
import type { Dir } from '../storage/dir.js';
import type { Wal } from '../wal/wal.js';
import type { BlockCache } from './block-cache.js';
import { keyOf, toBuffer } from './bytes.js';
import { Compactor } from './compactor.js';
import { LsmIterator } from './iterator.js';
import { lockStore, unlockStore } from './lock.js';
import { claimTier } from './tier-owner.js';
import { writeManifest } from './manifest.js';
import { find, sourcesOf } from './read-path.js';
import { recover, type Recovered } from './recovery.js';
import { checkSettings, checkTiering, type Settings } from './settings.js';
import { StoreStatus } from './store-status.js';
import type { Hit } from './table.js';
import type { Bytes, Entry, LsmOptions, LsmStats, RangeOptions, ReadOptions, Version, WriteOp, WriteOptions } from './types.js';
import { MAX_LEVELS, VersionSet } from './version-set.js';
import { WritePath } from './write-path.js';

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

/**
 * Reads answered without I/O in a row before one waits for the event loop to run: a loop of cached gets
 * would otherwise keep compaction's I/O, the worker's messages and the caller's timers waiting until it ends.
 */
const CACHED_READS_PER_TURN = 128;

export class LsmStore {
  private readonly status: StoreStatus;
  private readonly versions: VersionSet;
  private readonly writes: WritePath;
  private readonly compactor: Compactor;
  private readonly cache: BlockCache;
  private readonly wal: Wal | undefined;
  /** the WAL's directory, open while the WAL is (its checkpoint and segments are made there) */
  private readonly walDir: Dir | undefined;
  private readonly snapshots = new Set<Snapshot>();
  /** reads answered from memory and the block cache since the event loop last ran (ground/event-loop-turns.ts) */
  private readonly cachedReads = new SyncStreak(CACHED_READS_PER_TURN);
  private closeResult: Promise<void> | undefined;

  private constructor(
    private readonly dir: Dir,
    recovered: Recovered,
    private readonly settings: Settings,
    logger: Logger | undefined,
    tiering: LsmOptions['tiering'],
  ) {
    this.status = new StoreStatus(settings.readOnly, logger);
    this.cache = recovered.cache;
    this.wal = recovered.wal?.wal;
    this.walDir = recovered.wal?.dir;
    this.versions = new VersionSet(dir, recovered.cache, recovered.manifest, recovered.levels, recovered.mem, this.status, logger, tiering);
    this.compactor = new Compactor(this.versions, settings, this.status, logger, () => this.oldestReadVersion());
    this.writes = new WritePath(this.versions, this.wal, recovered.lastSeq, settings, this.status, logger, () => this.compactor.schedule());
  }

  /**
   * Opens (or creates) the store kept in `dir`: reads the manifest, opens its SSTs, removes SSTs a crash
   * left unnamed, and replays the WAL from the manifest's position into the memtable.
   */
  static async open(dir: Dir, options: LsmOptions = {}): Promise<LsmStore> {
    const settings = checkSettings(options);
    const tiering = checkTiering(options.tiering, MAX_LEVELS);
    const logger = options.logger;
    if (!settings.readOnly) await lockStore(dir);
    try {
      if (tiering && !settings.readOnly) await claimTier(dir, tiering.dir);
      const recovered = await recover(dir, settings, logger, tiering?.dir);
      const store = new LsmStore(dir, recovered, settings, logger, tiering);
      if (!settings.readOnly) {
        if (recovered.mem.bytes >= settings.memtableSize) store.writes.freeze();
        store.compactor.schedule();
      }
      return store;
    } catch (error) {
      if (!settings.readOnly) await unlockStore(dir);
      throw error;
    }
  }

  /** The newest version reads see. */
  get version(): Version {
    return this.writes.version;
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
    return this.writes.write(ops, options);
  }

  // ---- reads

  private readVersion(options: ReadOptions | undefined): number {
    if (this.status.closed) throw storageError('EBADF', 'read on a closed LSM store');
    const visible = this.writes.version;
    const version = options?.version;
    if (version === undefined) return visible;
    if (!Number.isSafeInteger(version) || version < 0) throw storageError('EINVAL', `version must be a non-negative integer, got ${String(version)}`);
    if (version > visible) {
      throw storageError('EINVAL', `version ${version} has not been written yet (the latest is ${visible}); reads of later writes would change its answer`);
    }
    const horizon = this.versions.gcHorizon;
    if (version < horizon) {
      throw storageError('ESTALE', `version ${version} is older than what compaction kept (${horizon}); hold a snapshot to read old versions`);
    }
    return version;
  }

  /** The value of `key` (latest, or as of options.version); undefined when absent or deleted. */
  get(key: Bytes, options?: ReadOptions): Promise<Buffer | undefined> {
    // one promise a get when its blocks are in memory: no async function around the lookup
    try {
      const found = this.lookup(key, options);
      return found instanceof Promise ? found.then(hitValue) : Promise.resolve(found?.value);
    } catch (error) {
      return Promise.reject(error);
    }
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

  /**
   * The version of `key` a read sees (a delete: value undefined), holding the state while it looks: at
   * once when nothing had to be read (unless the event loop is owed a turn), else a promise.
   */
  private lookup(key: Bytes, options: ReadOptions | undefined): Hit | undefined | Promise<Hit | undefined> {
    const version = this.readVersion(options);
    const k = keyOf(key);
    const state = this.versions.acquire();
    let found: Hit | undefined | Promise<Hit | undefined>;
    try {
      found = find(state, k, version);
    } catch (error) {
      this.versions.release(state);
      throw error;
    }
    if (found instanceof Promise) {
      return found.then(
        (hit) => {
          this.versions.release(state);
          return hit;
        },
        (error: unknown) => {
          this.versions.release(state);
          throw error;
        },
      );
    }
    this.versions.release(state);
    const wait = this.cachedReads.passed();
    return wait === undefined ? found : wait.then(() => found);
  }

  /** A range read; close it when done (it holds the files it reads). */
  iterator(options: RangeOptions = {}): LsmIterator {
    const version = this.readVersion(options);
    if (options.limit !== undefined && typeof options.limit !== 'number') throw storageError('EINVAL', 'limit must be a number');
    const state = this.versions.acquire();
    let released = false;
    try {
      return new LsmIterator(
        sourcesOf(state, version, options.reverse === true),
        version,
        options,
        () => {
          if (!released) this.versions.release(state);
          released = true;
        },
        this.cachedReads,
      );
    } catch (error) {
      this.versions.release(state); // a bad bound: nothing may keep the state pinned
      throw error;
    }
  }

  /** Pins the current version: compaction keeps what it reads until release(). */
  snapshot(): Snapshot {
    if (this.status.closed) throw storageError('EBADF', 'snapshot on a closed LSM store');
    const snapshot = new Snapshot(this, this.writes.version, (s) => this.snapshots.delete(s));
    this.snapshots.add(snapshot);
    return snapshot;
  }

  private oldestReadVersion(): number {
    let oldest = this.writes.version;
    for (const snapshot of this.snapshots) if (snapshot.version < oldest) oldest = snapshot.version;
    return oldest;
  }

  // ---- flush and compaction

  /**
   * Writes every write applied so far into SSTs (freezing the memtable), and waits for it. Compaction is
   * not awaited.
   */
  flush(): Promise<void> {
    return this.writes.flush();
  }

  /** Runs compactions until no level is over its size (autoCompact or not); for tests and tools. */
  compact(): Promise<void> {
    return this.compactor.compact();
  }

  /**
   * Merges every level into the deepest one holding data, dropping every version no snapshot needs; for
   * tests and tools (a full rewrite of the store).
   */
  async compactAll(): Promise<void> {
    await this.flush();
    await this.compactor.compactAll();
  }

  // ---- checkpoint, sync, stats, close

  /**
   * Writes a checkpoint of the store into the empty directory `target`: every write applied before the
   * call, as SSTs hard-linked from this store and a manifest of its own. It opens as a store (readOnly
   * for a backup that must not change).
   */
  async checkpoint(target: Dir): Promise<void> {
    await this.flush();
    const state = this.versions.acquire();
    try {
      if ((await target.read()).length > 0) throw storageError('ENOTEMPTY', 'checkpoint needs an empty directory', { path: target.path });
      for (const level of state.levels) {
        for (const table of level) {
          // a table on the remote tier is copied (there is no link between two storages)
          if (table.home === this.dir) await this.dir.link(table.name, target, table.name);
          else await (await target.flushWrite(table.name, await table.readAll())).close();
        }
      }
      const data = this.versions.manifestData(state.levels);
      await writeManifest(target, { ...data, wal: null });
      await target.sync();
    } finally {
      this.versions.release(state);
    }
  }

  /** Makes every write that has resolved durable (fdatasync of the WAL), whatever the sync policy. */
  sync(): Promise<void> {
    return this.writes.sync();
  }

  stats(): LsmStats {
    const state = this.versions.current;
    return {
      version: this.writes.version,
      memtableBytes: state.mem.bytes,
      immutableMemtables: state.imm.length,
      levels: state.levels.map((level, i) => ({ level: i, files: level.length, bytes: level.reduce((sum, table) => sum + table.bytes, 0) })),
      ...this.status.counters,
      blockCacheBytes: this.cache.bytes,
      blockCacheRecycled: this.cache.recycled,
      mappedBlockReads: this.cache.mappedReads,
      mappedTables: this.cache.mappedTables,
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
    this.status.closing = true;
    this.status.wakeStalled();
    // a compaction running on the thread is dropped at once (nothing it made is installed)
    const threadStopped = this.compactor.stopThread();
    while (this.writes.running || this.compactor.running) await (this.writes.running ?? this.compactor.running);
    await threadStopped;
    await this.versions.settle();
    this.status.closed = true;
    let failure: unknown;
    try {
      await this.wal?.close();
    } catch (error) {
      // EBADF: the storage under the store was closed first, which closed the WAL's file before its
      // last fsync: harmless only if every acknowledged write was fdatasynced already (sync 'always')
      if (!isCode(error, 'EBADF') || !this.wal!.acknowledgedDurable) failure = error;
    }
    // every step runs whatever failed before it (a store left locked could not be reopened in this
    // process); the first failure is reported after
    await this.walDir?.close().catch((error: unknown) => {
      failure ??= error;
    });
    if (!this.settings.readOnly) {
      await unlockStore(this.dir).catch((error: unknown) => {
        if (!isCode(error, 'EBADF')) failure ??= error;
      });
    }
    await this.versions.close().catch((error: unknown) => {
      failure ??= error;
    });
    if (failure) throw failure;
  }
}

const hitValue = (hit: Hit | undefined): Buffer | undefined => hit?.value;
