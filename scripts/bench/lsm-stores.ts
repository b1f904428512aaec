// The key-value stores the LSM section compares, behind one small interface so that every workload is
// written once: persistfs' LsmStore (on a storage in the io_uring or the sync IO mode) and classic-level
// (LevelDB), with Snappy compression off (like for like: LsmStore does not compress) or on (its default).
// Each store keeps its own defaults otherwise; the differences are listed in KV_PEER_DEFAULTS.
import { ClassicLevel } from 'classic-level';

import type { Storage } from '../../src/index.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import type { LsmIterator } from '../../src/lsm/iterator.js';
import type { LsmOptions } from '../../src/lsm/types.js';
import { openPersistfs, type PersistfsMode } from './peers.js';

export type KvPeerName = 'lsm io_uring' | 'lsm io_uring pread' | 'lsm sync' | 'classic-level' | 'classic-level snappy';
export const KV_PEER_NAMES: readonly KvPeerName[] = ['lsm io_uring', 'lsm io_uring pread', 'lsm sync', 'classic-level', 'classic-level snappy'];

/** What a reader of the table needs to know about each store's configuration. */
export const KV_PEER_DEFAULTS: Record<KvPeerName, string> = {
  'lsm io_uring':
    'LsmStore defaults (4 MiB memtable, 4 KiB blocks, bloom 10 bits/key, 8 MiB block cache, 2 MiB tables, no compression, sync none) on persistfs io_uring (queueDepth 256, submitThreshold 32)',
  'lsm io_uring pread': 'LsmStore as above with mmapReads: false (every block the cache dropped read by preadv2 or the ring)',
  'lsm sync': 'LsmStore defaults as above, on persistfs in the sync IO mode (libuv thread pool)',
  'classic-level':
    'classic-level 3.0.0 defaults (4 MiB write buffer, 4 KiB blocks, bloom 10 bits/key, 8 MiB block cache, 2 MiB tables, sync false) with compression: false',
  'classic-level snappy': 'classic-level 3.0.0 defaults including Snappy compression (its default)',
};

/** An iterator over the whole store, forward. */
export interface KvIterator {
  /** the next entry is the first key >= `key` */
  seek(key: Buffer): void;
  /** resolves with whether there was an entry */
  next(): Promise<boolean>;
  /** resolves with the number of entries read (fewer than `size` at the end) */
  nextv(size: number): Promise<number>;
  close(): Promise<void>;
}

export interface KvStore {
  put(key: Buffer, value: Buffer): Promise<unknown>;
  get(key: Buffer): Promise<Buffer | undefined>;
  iterator(): KvIterator;
  /** the store's own counters, when it has any worth keeping */
  stats(): object | undefined;
  close(): Promise<void>;
}

/** Opens stores of one kind in directories below one root (a directory of its own per database). */
export interface KvPeer {
  readonly name: KvPeerName;
  /** creates the database `name` (which must not exist) below the root */
  create(name: string): Promise<KvStore>;
  close(): Promise<void>;
}

export async function openKvPeer(name: KvPeerName, root: string): Promise<KvPeer> {
  switch (name) {
    case 'lsm io_uring':
      return new LsmPeer(name, await openPersistfs('io_uring', root));
    case 'lsm io_uring pread':
      return new LsmPeer(name, await openPersistfs('io_uring', root), { mmapReads: false });
    case 'lsm sync':
      return new LsmPeer(name, await openPersistfs('sync' satisfies PersistfsMode, root));
    case 'classic-level':
      return new ClassicLevelPeer(name, root, false);
    case 'classic-level snappy':
      return new ClassicLevelPeer(name, root, true);
  }
}

class LsmPeer implements KvPeer {
  constructor(
    readonly name: KvPeerName,
    private readonly storage: Storage,
    private readonly options: LsmOptions = {},
  ) {}

  async create(name: string): Promise<KvStore> {
    const dir = await this.storage.createDirectory(name);
    try {
      return new LsmKvStore(await LsmStore.open(dir, { ...this.options, errorIfExists: true }), () => dir.close());
    } catch (error) {
      await dir.close();
      throw error;
    }
  }

  close(): Promise<void> {
    return this.storage.close();
  }
}

class LsmKvStore implements KvStore {
  constructor(
    private readonly store: LsmStore,
    private readonly closeDir: () => Promise<void>,
  ) {}

  put(key: Buffer, value: Buffer): Promise<unknown> {
    return this.store.put(key, value);
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    return this.store.get(key);
  }

  iterator(): KvIterator {
    return new LsmKvIterator(this.store.iterator());
  }

  stats(): object {
    return this.store.stats();
  }

  async close(): Promise<void> {
    await this.store.close();
    await this.closeDir();
  }
}

class LsmKvIterator implements KvIterator {
  constructor(private readonly iterator: LsmIterator) {}

  seek(key: Buffer): void {
    this.iterator.seek(key);
  }

  async next(): Promise<boolean> {
    return (await this.iterator.next()) !== undefined;
  }

  async nextv(size: number): Promise<number> {
    return (await this.iterator.nextv(size)).length;
  }

  close(): Promise<void> {
    return this.iterator.close();
  }
}

class ClassicLevelPeer implements KvPeer {
  constructor(
    readonly name: KvPeerName,
    private readonly root: string,
    private readonly compression: boolean,
  ) {}

  async create(name: string): Promise<KvStore> {
    const db = new ClassicLevel<Buffer, Buffer>(`${this.root}/${name}`, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      errorIfExists: true,
      compression: this.compression,
    });
    await db.open();
    return new ClassicLevelKvStore(db);
  }

  async close(): Promise<void> {}
}

class ClassicLevelKvStore implements KvStore {
  constructor(private readonly db: ClassicLevel<Buffer, Buffer>) {}

  put(key: Buffer, value: Buffer): Promise<unknown> {
    return this.db.put(key, value);
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    return this.db.get(key);
  }

  iterator(): KvIterator {
    const iterator = this.db.iterator();
    return {
      seek: (key) => iterator.seek(key),
      next: async () => (await iterator.next()) !== undefined,
      nextv: async (size) => (await iterator.nextv(size)).length,
      close: () => iterator.close(),
    };
  }

  stats(): object {
    return { leveldbStats: this.db.getProperty('leveldb.stats') };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
