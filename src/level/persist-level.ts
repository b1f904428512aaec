// PersistLevel: the LSM store (src/lsm) as a database of the Level ecosystem (abstract-level 3). The location
// is a directory on disk; a storage is opened on it as its root and the store lives in that root itself
// (MANIFEST, SSTs, wal/), as a LevelDB database lives in its directory. The store takes bytes and strings,
// so the private API gets 'buffer', 'view' or 'utf8' data and abstract-level transcodes every other encoding.
import fs from 'node:fs/promises';
import path from 'node:path';

import { AbstractLevel, type AbstractDatabaseOptions, type AbstractOpenOptions, type AbstractSnapshot } from 'abstract-level';
import { LsmStore } from '../lsm/lsm-store.js';
import type { LsmOptions, WriteOp } from '../lsm/types.js';
import { openStorage, type Storage, type StorageOptions } from '../storage/storage.js';
import { levelCall, LevelError, openError } from './errors.js';
import { bounds, decodeAs, type Encoded, type Format, type PrivateRangeOptions } from './formats.js';
import { PersistIterator, PersistKeyIterator, PersistValueIterator } from './iterators.js';
import { PersistSnapshot } from './snapshot.js';

export interface PersistLevelOptions<K, V> extends AbstractDatabaseOptions<K, V> {
  /** tuning of the LSM store (memtableSize, sync, readOnly, ...); createIfMissing and errorIfExists are the open options' */
  lsm?: Omit<LsmOptions, 'createIfMissing' | 'errorIfExists'>;
  /** options of the storage opened on the location (configuration: ioMode, logLevel, ...); the adapter is always 'local' */
  storage?: Omit<StorageOptions, 'adapter' | 'memory'>;
}

interface ReadOptions {
  snapshot?: AbstractSnapshot;
  keyEncoding: Format;
  valueEncoding?: Format;
}

interface WriteOptions {
  /** fdatasync the WAL before the write resolves (LevelDB's sync write option) */
  sync?: boolean;
}

interface BatchOperation {
  type: 'put' | 'del';
  key: Encoded;
  value?: Encoded;
}

/** Keys one step of clear() deletes in one atomic write. */
const CLEAR_CHUNK = 1000;

/** Locations open in this process: a second handle on one would write the same WAL. */
const openLocations = new Set<string>();

const MANIFEST = {
  encodings: { buffer: true, view: true, utf8: true },
  permanence: true,
  implicitSnapshots: true,
  explicitSnapshots: true,
  seek: true,
  createIfMissing: true,
  errorIfExists: true,
  has: true,
  getSync: false,
  signals: { iterators: true },
};

export class PersistLevel<KDefault = string, VDefault = string> extends AbstractLevel<Encoded, KDefault, VDefault> {
  /** the directory the database lives in, as given */
  readonly location: string;
  private readonly lsmOptions: PersistLevelOptions<KDefault, VDefault>['lsm'];
  private readonly storageOptions: PersistLevelOptions<KDefault, VDefault>['storage'];
  private storage: Storage | undefined;
  private lsm: LsmStore | undefined;
  private claimed: string | undefined;
  /** calls on the store in progress; close waits for them */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(location: string, options: PersistLevelOptions<KDefault, VDefault> = {}) {
    const { lsm, storage, ...forward } = options;
    super(MANIFEST, forward);
    if (typeof location !== 'string' || location === '') throw new TypeError("The first argument 'location' must be a non-empty string");
    this.location = location;
    this.lsmOptions = lsm;
    this.storageOptions = storage;
  }

  /** The LSM store under this database (open databases only): stats, flush, compact, checkpoint. */
  get store(): LsmStore {
    if (this.lsm === undefined) throw new LevelError('LEVEL_DATABASE_NOT_OPEN', 'Database is not open');
    return this.lsm;
  }

  async _open(options: AbstractOpenOptions): Promise<void> {
    const location = path.resolve(this.location);
    if (openLocations.has(location)) {
      throw new LevelError('LEVEL_LOCKED', `the database at '${location}' is already open in this process`);
    }
    openLocations.add(location);
    this.claimed = location;
    let storage: Storage | undefined;
    try {
      if (options.createIfMissing && this.lsmOptions?.readOnly !== true) await fs.mkdir(location, { recursive: true });
      storage = await openStorage(location, { ...this.storageOptions, adapter: 'local' });
      this.lsm = await LsmStore.open(storage.root, { ...this.lsmOptions, createIfMissing: options.createIfMissing, errorIfExists: options.errorIfExists });
      this.storage = storage;
    } catch (error) {
      await storage?.close().catch(() => undefined);
      this.release();
      throw openError(error, location);
    }
  }

  /**
   * Waits for the calls in progress, then closes the store and the storage. The location is released even
   * when closing the store fails (that error is reported; the store is not usable after it anyway).
   */
  async _close(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    const { lsm, storage } = this;
    this.lsm = undefined;
    this.storage = undefined;
    try {
      await levelCall(lsm?.close() ?? Promise.resolve());
    } finally {
      try {
        await storage?.close();
      } finally {
        this.release();
      }
    }
  }

  private release(): void {
    if (this.claimed !== undefined) openLocations.delete(this.claimed);
    this.claimed = undefined;
  }

  /** Runs a call on the store, counted until it settles (close waits), its error in Level terms. */
  private track<T>(promise: Promise<T>): Promise<T> {
    const call = levelCall(promise);
    const settled: Promise<unknown> = call.then(
      () => this.inFlight.delete(settled),
      () => this.inFlight.delete(settled),
    );
    this.inFlight.add(settled);
    return call;
  }

  /** The version a read sees: its explicit snapshot's, or the newest (taken now: the implicit snapshot). */
  private readVersion(options: { snapshot?: AbstractSnapshot | undefined }): number {
    const snapshot = options.snapshot;
    if (snapshot === undefined || snapshot === null) return this.store.version;
    if (!(snapshot instanceof PersistSnapshot)) throw new TypeError('The snapshot option must be a snapshot of this database (db.snapshot())');
    return snapshot.version;
  }

  // ---- reads

  async _get(key: Encoded, options: ReadOptions): Promise<Encoded | undefined> {
    const value = await this.track(this.store.get(key, { version: this.readVersion(options) }));
    return value === undefined ? undefined : decodeAs(value, options.valueEncoding);
  }

  async _getMany(keys: Encoded[], options: ReadOptions): Promise<Array<Encoded | undefined>> {
    const version = this.readVersion(options);
    const values = await this.track(Promise.all(keys.map((key) => this.store.get(key, { version }))));
    return values.map((value) => (value === undefined ? undefined : decodeAs(value, options.valueEncoding)));
  }

  _has(key: Encoded, options: ReadOptions): Promise<boolean> {
    return this.track(this.store.has(key, { version: this.readVersion(options) }));
  }

  _hasMany(keys: Encoded[], options: ReadOptions): Promise<boolean[]> {
    const version = this.readVersion(options);
    return this.track(Promise.all(keys.map((key) => this.store.has(key, { version }))));
  }

  // ---- writes

  async _put(key: Encoded, value: Encoded, options: WriteOptions): Promise<void> {
    await this.track(this.store.put(key, value, { sync: options.sync === true }));
  }

  async _del(key: Encoded, options: WriteOptions): Promise<void> {
    await this.track(this.store.del(key, { sync: options.sync === true }));
  }

  /** One atomic write of the store (one WAL record). */
  async _batch(operations: BatchOperation[], options: WriteOptions): Promise<void> {
    const ops: WriteOp[] = operations.map((op) => (op.type === 'put' ? { type: 'put', key: op.key, value: op.value! } : { type: 'del', key: op.key }));
    await this.track(this.store.write(ops, { sync: options.sync === true }));
  }

  /**
   * Deletes the keys the range holds now: they are read from an iterator of the current version (a key
   * written after clear() was called is not among them) and deleted by atomic writes of CLEAR_CHUNK keys;
   * the range as a whole is not atomic. As with LevelDB's clear, a key of the range that is overwritten
   * while clear() runs may still be deleted: its delete is newer than the overwrite.
   */
  _clear(options: PrivateRangeOptions): Promise<void> {
    const it = this.store.iterator({ ...bounds(options), reverse: options.reverse, limit: options.limit, values: false, version: this.readVersion(options) });
    const run = async () => {
      try {
        for (;;) {
          const entries = await it.nextv(CLEAR_CHUNK);
          if (entries.length === 0) return;
          await this.store.write(entries.map((entry) => ({ type: 'del', key: entry.key })));
        }
      } finally {
        await it.close();
      }
    };
    return this.track(run());
  }

  // ---- iterators and snapshots

  _iterator(options: PrivateRangeOptions): PersistIterator<this> {
    const it = this.store.iterator({
      ...bounds(options),
      reverse: options.reverse,
      limit: options.limit,
      keys: options.keys,
      values: options.values,
      version: this.readVersion(options),
    });
    return new PersistIterator(this, options, it);
  }

  _keys(options: PrivateRangeOptions): PersistKeyIterator<this> {
    const it = this.store.iterator({ ...bounds(options), reverse: options.reverse, limit: options.limit, values: false, version: this.readVersion(options) });
    return new PersistKeyIterator(this, options, it);
  }

  _values(options: PrivateRangeOptions): PersistValueIterator<this> {
    const it = this.store.iterator({ ...bounds(options), reverse: options.reverse, limit: options.limit, keys: false, version: this.readVersion(options) });
    return new PersistValueIterator(this, options, it);
  }

  _snapshot(options: { owner: unknown }): PersistSnapshot {
    return new PersistSnapshot(options, this.store.snapshot());
  }
}
