// FlatfsDatastore: one file per key in sharded directories of a storage Dir (layout in flatfs-layout.ts).
//
// Durability: a put is Dir.flushWrite (temporary file, fsync, rename over the key's file, fsync of the
// shard directory), so it is atomic and durable when it resolves; a shard directory made for it is made
// durable (fsync of the root) before the put goes on. A delete is an unlink, durable after sync(prefix),
// which fsyncs every shard directory and the root. Concurrent puts to one key: one of them wins.
//
// get reads the file, has and getSize stat it, query lists the shards. The Dir stays the caller's: close()
// does not close it.
import { Dir } from '../storage/dir.js';
import { isCode, storageError } from '../ground/errors.js';
import type { File } from '../storage/file.js';
import { CheckedDatastore } from './checked-datastore.js';
import { DEFAULT_SHARD, fits, keyOf, nameOf, parseShardFile, SHARD_FILE, shardFileContent, shardFunction, type ShardFunction } from './flatfs-layout.js';
import type { SourceEntry } from './query.js';

export interface FlatfsOptions {
  /**
   * The shard function of a new store (default 'next-to-last/2'). An existing store keeps the one it was
   * made with; naming a different one is refused (EINVAL).
   */
  shard?: string;
}

/** Runs `work` on `handle`, then closes the handle. */
async function closeAfter<T extends File | Dir, R>(handle: T, work: (handle: T) => Promise<R>): Promise<R> {
  try {
    return await work(handle);
  } finally {
    await handle.close();
  }
}

/** What `promise` resolves with, or `otherwise` when it rejects with ENOENT. */
async function unlessMissing<T, U>(promise: Promise<T>, otherwise: U): Promise<T | U> {
  try {
    return await promise;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return otherwise;
    throw error;
  }
}

export class FlatfsDatastore extends CheckedDatastore {
  /** shard directories being made, so that no put in one finishes before the root's fsync */
  private readonly creating = new Map<string, Promise<void>>();
  /** shard directories whose entry in the root is known durable (a root fsync after they existed) */
  private readonly durableShards = new Set<string>();

  private constructor(
    private readonly root: Dir,
    readonly shard: ShardFunction,
  ) {
    super('flatfs datastore');
  }

  /**
   * Opens the flatfs datastore in `dir`, or makes one there when `dir` is empty. A non-empty directory
   * without flatfs.shard is refused (ENOTEMPTY), as is a shard function other than the recorded one.
   */
  static async open(dir: Dir, options: FlatfsOptions = {}): Promise<FlatfsDatastore> {
    if (!(dir instanceof Dir)) throw storageError('EINVAL', 'FlatfsDatastore.open takes a storage Dir');
    if (options === null || typeof options !== 'object') throw storageError('EINVAL', 'FlatfsDatastore.open: options must be an object');
    const wanted = options.shard === undefined ? undefined : shardFunction(options.shard);
    const where = dir.path === '' ? SHARD_FILE : `${dir.path}/${SHARD_FILE}`;
    const recorded = await dir.readFileIfExists(SHARD_FILE);
    if (recorded !== undefined) {
      const shard = parseShardFile(recorded.toString('utf8'), where);
      if (wanted !== undefined && wanted.spec !== shard.spec) {
        throw storageError('EINVAL', `flatfs: this store is sharded by '${shard.spec}', not '${wanted.spec}'; open it without a shard option`, {
          path: where,
        });
      }
      return new FlatfsDatastore(dir, shard);
    }
    const entries = await dir.read();
    if (entries.length > 0) {
      throw storageError(
        'ENOTEMPTY',
        `flatfs: the directory holds ${entries.length} entries but no ${SHARD_FILE}, so it is not a flatfs datastore; use an empty directory`,
        {
          path: dir.path === '' ? '/' : dir.path,
        },
      );
    }
    const shard = wanted ?? shardFunction(DEFAULT_SHARD);
    await (await dir.flushWrite(SHARD_FILE, Buffer.from(shardFileContent(shard)))).close();
    return new FlatfsDatastore(dir, shard);
  }

  /**
   * Runs `work` in the shard directory of `key` with the key's file name. Without `create`, a missing
   * shard (or a key too long to have a file) is `missing`; with it, the shard is made.
   */
  private async inShard<T, U>(key: string, create: boolean, missing: U, work: (dir: Dir, name: string) => Promise<T>): Promise<T | U> {
    const name = nameOf(key);
    if (!fits(name)) {
      if (!create) return missing;
      throw storageError('ENAMETOOLONG', `put: this key's file name would be ${Buffer.byteLength(name)} bytes, and flatfs allows 255`, { path: key });
    }
    const shard = this.shard.of(name);
    await this.creating.get(shard)?.catch(() => undefined); // its own caller sees a failure
    let dir = await unlessMissing(this.root.openDirectory(shard), undefined);
    if (dir === undefined) {
      if (!create) return missing;
      await this.makeShard(shard);
      dir = await this.root.openDirectory(shard);
    } else if (create && !this.durableShards.has(shard)) {
      // made meanwhile by a put whose root fsync is still running, or by a process that died before
      // its fsync: no put here resolves before the directory's entry is durable
      await this.makeShard(shard).catch(async (error: unknown) => {
        await dir!.close();
        throw error;
      });
    }
    return closeAfter(dir, (opened) => work(opened, name));
  }

  private makeShard(shard: string): Promise<void> {
    let making = this.creating.get(shard);
    if (making === undefined) {
      making = (async () => {
        try {
          await (await this.root.createDirectory(shard)).close();
        } catch (error) {
          if (!isCode(error, 'EEXIST')) throw error;
        }
        await this.root.sync();
        this.durableShards.add(shard);
      })().finally(() => this.creating.delete(shard));
      this.creating.set(shard, making);
    }
    return making;
  }

  protected read(key: string): Promise<Buffer | undefined> {
    return this.inShard(key, false, undefined, (dir, name) => dir.readFileIfExists(name));
  }

  protected sizeOf(key: string): Promise<number | undefined> {
    return this.inShard(key, false, undefined, async (dir, name) => {
      const stat = await unlessMissing(dir.stat(name), undefined);
      if (stat === undefined) return undefined;
      if (stat.kind !== 'file') {
        throw storageError('EIO', `flatfs: the entry of this key is a ${stat.kind}, not a value file; something else changed the store`, { path: key });
      }
      return stat.size;
    });
  }

  protected async write(key: string, value: Uint8Array): Promise<void> {
    await this.inShard(key, true, undefined, async (dir, name) => (await dir.flushWrite(name, value)).close());
  }

  protected async remove(key: string): Promise<void> {
    await this.inShard(key, false, undefined, (dir, name) => unlessMissing(dir.deleteFile(name), undefined));
  }

  /** The shard directories there are now. */
  private async shards(): Promise<string[]> {
    // a name that is not UTF-8 (a Buffer) is no shard of ours
    return (await this.root.read()).flatMap((entry) => (entry.kind === 'directory' && typeof entry.name === 'string' ? [entry.name] : []));
  }

  /** Every file whose name is a key's name in that key's shard, one shard listing at a time. */
  protected async *scan(prefix: string): AsyncIterable<SourceEntry> {
    const start = prefix === '/' ? '' : `${nameOf(prefix)}.`;
    for (const shard of await this.shards()) {
      const dir = await unlessMissing(this.root.openDirectory(shard), undefined);
      if (dir === undefined) continue;
      const entries = await closeAfter(dir, (opened) => opened.read());
      for (const entry of entries) {
        if (entry.kind !== 'file' || typeof entry.name !== 'string') continue;
        if (!entry.name.startsWith(start) || this.shard.of(entry.name) !== shard) continue;
        const key = keyOf(entry.name);
        if (key !== undefined) yield { key };
      }
    }
  }

  /** A key's shard does not follow from a prefix, so every shard directory is synced, then the root. */
  protected async syncUnder(): Promise<void> {
    for (const shard of await this.shards()) {
      const dir = await unlessMissing(this.root.openDirectory(shard), undefined);
      if (dir !== undefined) await closeAfter(dir, (opened) => opened.sync());
    }
    await this.root.sync();
  }

  protected async release(): Promise<void> {}
}
