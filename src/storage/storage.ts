// Storage: the persistence-storage API opened on a root. The root Dir is where everything starts; the
// path-taking methods here are shortcuts that walk from the root for callers that hold paths (the FUSE
// front, tools). The adapter (where bytes live) and the IO mode come from options and configuration.
import { LocalAdapter } from '../adapters/local/local-adapter.js';
import { MemoryAdapter, type MemoryOptions } from '../adapters/memory-adapter.js';
import { S3Adapter } from '../adapters/s3/s3-adapter.js';
import type { S3Options } from '../adapters/s3/s3-settings.js';
import { TieredAdapter, type TieredOptions } from '../adapters/tiered/tiered-adapter.js';
import type { Adapter, DirNode, EntryStat } from '../adapters/adapter.js';
import { loadConfig, type Config } from '../config/config.js';
import { createLogger, type Logger } from '../log.js';
import { Dir, type HandleRegistry, type OpenOptions } from './dir.js';
import { storageError } from '../ground/errors.js';
import type { File } from './file.js';
import { Mode, type Permission } from './mode.js';
import { publicName } from '../ground/name-bytes.js';
import { labelOf } from './handle.js';
import { splitPath, type Name } from './names.js';

export interface StorageOptions {
  /**
   * where bytes live: 'local' (a root directory, the default), 'memory', or 's3' (an S3 bucket: the root is
   * s3://bucket/prefix, the rest from `s3` and the AWS environment variables), or 'tiered' (that bucket
   * with a local cache directory in front: `tiered`)
   */
  adapter?: 'local' | 'memory' | 's3' | 'tiered';
  /** configuration overrides (ioMode, queueDepth, ...) on top of the file and environment */
  config?: Partial<Config>;
  /** a JSON configuration file (PERSISTFS_CONFIG names one too) */
  configFile?: string;
  logger?: Logger;
  memory?: MemoryOptions;
  /** endpoint, region, credentials, ... of the 's3' adapter */
  s3?: S3Options;
  /** the cache directory and its policy, for the 'tiered' adapter */
  tiered?: TieredOptions;
  /**
   * Enforce the owner's Mode in the API (default true). A front whose kernel already checks permissions
   * for the real caller (FUSE with default_permissions) turns it off, so that root may do what POSIX lets it.
   */
  enforcePermissions?: boolean;
  /**
   * Open read-only: the store's lock is taken shared (beside other readers, never beside a writer), nothing
   * is created or removed at open, and every change through the API is EROFS.
   */
  readOnly?: boolean;
}

export class Storage implements HandleRegistry {
  private readonly handles = new Set<File | Dir>();
  private isClosed = false;
  readonly root: Dir;

  private constructor(
    readonly adapter: Adapter,
    readonly config: Config,
    readonly enforcePermissions: boolean,
    readonly readOnly: boolean,
    rootNodeDir: (registry: HandleRegistry) => Dir,
  ) {
    this.root = rootNodeDir(this);
  }

  /**
   * Opens a storage on `root` (an existing directory for the local adapter; ignored for memory). A store has
   * one owner: while this storage is open, another open of the same root, in this process or another, is
   * EBUSY naming the holder (a readOnly open shares the store with other readers, never with a writer).
   */
  static async open(root: string, options: StorageOptions = {}): Promise<Storage> {
    const config = loadConfig({ file: options.configFile, overrides: options.config });
    const logger = options.logger ?? createLogger(config.logLevel, undefined, config.logFormat);
    let adapter: Adapter;
    if (options.adapter === 'memory') {
      adapter = new MemoryAdapter(options.memory);
    } else if (options.adapter === undefined || options.adapter === 'local') {
      if (typeof root !== 'string' || root === '') throw storageError('EINVAL', 'the storage root must be a directory path');
      adapter = LocalAdapter.create(root, config, logger, { readOnly: options.readOnly === true });
    } else if (options.adapter === 's3') {
      adapter = S3Adapter.create(root, options.s3);
    } else if (options.adapter === 'tiered') {
      if (options.tiered === undefined) throw storageError('EINVAL', "the 'tiered' adapter needs the option tiered.cacheDir (a local directory)");
      adapter = TieredAdapter.create(root, options.s3 ?? {}, options.tiered, config, logger);
    } else {
      throw storageError('EINVAL', `unknown adapter '${String(options.adapter)}': use 'local', 'memory', 's3' or 'tiered'`);
    }
    let node: DirNode;
    try {
      node = await adapter.openRoot();
    } catch (error) {
      await adapter.close().catch(() => undefined);
      throw error;
    }
    const stat = await node.stat('');
    return new Storage(
      adapter,
      config,
      options.enforcePermissions !== false,
      options.readOnly === true,
      (registry) => new Dir(node, undefined, '', stat.mode, registry),
    );
  }

  /** 'io_uring' or 'sync' for the local adapter, 'memory' for the memory adapter. */
  get ioMode(): string {
    return this.adapter.ioMode;
  }

  /** @internal */
  opened(handle: File | Dir): void {
    this.handles.add(handle);
  }

  /** @internal */
  closed(handle: File | Dir): void {
    this.handles.delete(handle);
  }

  /** Open handles (files and directories, the root included). */
  get openHandles(): number {
    return this.handles.size;
  }

  /**
   * Runs `work` on the directory holding the last name of `path`, opening the directories on the way from
   * the root and releasing them after (handles `work` returns keep what they need open).
   */
  private async atParent<T>(path: Name, work: (dir: Dir, name: Name) => Promise<T>): Promise<T> {
    if (this.isClosed) throw storageError('EBADF', 'the storage is closed', { path: labelOf(path) });
    const names = splitPath(path);
    const name = names.pop();
    if (name === undefined) throw storageError('EINVAL', 'this needs a path below the root', { path: labelOf(path) });
    let dir = this.root;
    const opened: Dir[] = [];
    try {
      for (const part of names) {
        dir = await dir.openDirectory(publicName(part));
        opened.push(dir);
      }
      return await work(dir, publicName(name));
    } finally {
      for (const handle of opened.reverse()) await handle.close();
    }
  }

  /** Opens the directory at `path` ('' is the root itself, returned as is). */
  openDirectory(path: Name): Promise<Dir> {
    if (splitPath(path).length === 0) return Promise.resolve(this.root);
    return this.atParent(path, (dir, name) => dir.openDirectory(name));
  }

  createDirectory(path: Name, permission: Permission = Mode.ReadAndWrite): Promise<Dir> {
    return this.atParent(path, (dir, name) => dir.createDirectory(name, permission));
  }

  openFile(path: Name, options: OpenOptions = {}): Promise<File> {
    return this.atParent(path, (dir, name) => dir.openFile(name, options));
  }

  createFile(path: Name, permission: Permission = Mode.ReadAndWrite, options: OpenOptions = {}): Promise<File> {
    return this.atParent(path, (dir, name) => dir.createFile(name, permission, options));
  }

  flushWrite(path: Name, data: Uint8Array | readonly Uint8Array[], permission: Permission = Mode.ReadAndWrite, options: OpenOptions = {}): Promise<File> {
    return this.atParent(path, (dir, name) => dir.flushWrite(name, data, permission, options));
  }

  stat(path: Name): Promise<EntryStat> {
    if (splitPath(path).length === 0) return this.root.stat();
    return this.atParent(path, (dir, name) => dir.stat(name));
  }

  deleteFile(path: Name): Promise<void> {
    return this.atParent(path, (dir, name) => dir.deleteFile(name));
  }

  /**
   * Closes every handle still open (waiting for their calls in progress), then the adapter and its IO
   * engine. Calls on the storage or on any of its handles fail with EBADF afterwards.
   */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    const open = [...this.handles];
    const files = open.filter((handle) => !(handle instanceof Dir));
    await Promise.all(files.map((file) => file.close()));
    for (const dir of open.filter((handle) => handle instanceof Dir && handle !== this.root)) await dir.close();
    await this.root.close();
    // a call that was running when the close began (a createFile, an openDirectory: the directories' closes
    // above waited for it) may have given a handle since: closed too, before the adapter takes the
    // descriptors' engine away
    for (;;) {
      const late = [...this.handles].filter((handle) => !handle.isClosed);
      if (late.length === 0) break;
      await Promise.all(late.map((handle) => handle.close()));
    }
    await this.adapter.close();
  }
}

export const openStorage = Storage.open;
