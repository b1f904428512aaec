// The local adapter: bytes live in files under a root directory, moved by an IO engine (io_uring or sync).
// At open it takes the store's lock (one owner per store, see store-lock.ts), then makes the root's
// temporary directory, where flushWrite stages its files, and empties it: with the lock held, whatever is
// there was left by an owner that died mid flushWrite, never a half-written file under its real name.
// A read-only opener takes the lock shared and creates and removes nothing.
import fs from 'node:fs';

import type { IoEngine } from '../../io/engine.js';
import { O } from '../../io/engine.js';
import type { Config } from '../../config/config.js';
import { createEngine } from '../../io/create-engine.js';
import type { Logger } from '../../log.js';
import { isCode, storageError, toStorageError } from '../../ground/errors.js';
import { RESERVED_NAME } from '../../ground/reserved-names.js';
import type { Adapter, DirNode } from '../adapter.js';
import { InodeTable } from './inode-table.js';
import { LocalDir, type LocalContext } from './local-dir.js';
import { lockStore, mustWrite, type StoreLock } from './store-lock.js';

/** The root's descriptor; an error names the root once and says what failed ("open '<root>' (open)" said it twice). */
function openRootFd(root: string): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.open(root, O.RDONLY | O.DIRECTORY | O.CLOEXEC, (error, fd) =>
      error ? reject(storageError(toStorageError(error, 'open', root).code, 'cannot open the directory', { path: root, cause: error })) : resolve(fd),
    ),
  );
}

export interface LocalAdapterOptions {
  /** take the lock shared, create nothing at the root, remove nothing (the API refuses changes: EROFS) */
  readOnly?: boolean;
  logger?: Logger;
}

export class LocalAdapter implements Adapter {
  readonly kind = 'local';
  private tmp: LocalDir | undefined;
  private lock: StoreLock | undefined;
  private readonly inodes = new InodeTable();
  private tempCounter = 0;
  private readonly logger: Logger | undefined;
  private readonly readOnly: boolean;

  /** A local adapter over a new IO engine of the configured mode (io_uring or sync). */
  static create(rootPath: string, config: Config, logger: Logger, options: Omit<LocalAdapterOptions, 'logger'> = {}): LocalAdapter {
    return new LocalAdapter(rootPath, createEngine(config, logger), { ...options, logger });
  }

  constructor(
    private readonly rootPath: string,
    private readonly engine: IoEngine,
    options: LocalAdapterOptions = {},
  ) {
    this.logger = options.logger;
    this.readOnly = options.readOnly === true;
  }

  get ioMode(): string {
    return this.engine.mode;
  }

  /** Files open in this process (distinct inodes): 0 once every handle is closed. */
  get openInodes(): number {
    return this.inodes.open;
  }

  async openRoot(): Promise<DirNode> {
    const rootFd = await openRootFd(this.rootPath);
    const context: LocalContext = {
      engine: this.engine,
      inodes: this.inodes,
      tmpFd: -1,
      umask: process.umask(),
      nextTempName: () => `${process.pid}-${++this.tempCounter}-${Date.now().toString(36)}`,
    };
    const root = new LocalDir(context, rootFd);
    try {
      this.lock = await lockStore(this.engine, rootFd, this.rootPath, !this.readOnly, this.logger);
      if (!this.readOnly) {
        this.tmp = await this.openTempDir(root);
        context.tmpFd = this.tmp.fd;
        await this.removeStaleTemps(this.tmp);
      }
    } catch (error) {
      await this.tmp?.close().catch(() => undefined);
      this.tmp = undefined;
      await this.lock?.release().catch(() => undefined);
      this.lock = undefined;
      await root.close().catch(() => undefined);
      throw error;
    }
    return root;
  }

  /**
   * The root's temporary directory, made if missing. It is opened without following a symlink and must be
   * a directory of this user's: anything else there is refused, and nothing in it is touched.
   */
  private async openTempDir(root: LocalDir): Promise<LocalDir> {
    const refuse = (what: string, cause?: unknown) =>
      storageError('EEXIST', `'${RESERVED_NAME}' at the root ${what}; it belongs to persistfs: move it away, then open again`, {
        path: this.rootPath,
        cause,
      });
    try {
      await root.mkdir(RESERVED_NAME, 0o700);
    } catch (error) {
      if (!isCode(error, 'EEXIST')) {
        const code = (error as { code?: string }).code ?? 'EIO';
        throw storageError(code, `cannot create the temporary directory ${RESERVED_NAME} in the storage root`, {
          path: this.rootPath,
          cause: error,
          hint: mustWrite(code),
        });
      }
    }
    let tmp: LocalDir;
    try {
      tmp = await root.openDir(RESERVED_NAME, O.NOFOLLOW);
    } catch (error) {
      if (isCode(error, 'ELOOP') || isCode(error, 'ENOTDIR')) throw refuse('is a symlink or not a directory', error);
      throw storageError((error as { code?: string }).code ?? 'EIO', `cannot open '${RESERVED_NAME}'`, { path: this.rootPath, cause: error });
    }
    const stat = await tmp.stat('');
    const uid = process.geteuid?.() ?? stat.uid;
    if (stat.kind !== 'directory' || stat.uid !== uid) {
      await tmp.close();
      throw refuse(stat.kind !== 'directory' ? 'is not a directory' : `is owned by uid ${stat.uid}, not by this user (uid ${uid})`);
    }
    return tmp;
  }

  /** Everything in the temporary directory: the lock is ours, so no flushWrite of anyone else is running. */
  private async removeStaleTemps(tmp: LocalDir): Promise<void> {
    const stale = await tmp.list();
    for (const entry of stale) {
      if (entry.kind === 'directory') await tmp.rmdir(entry.name).catch(() => undefined);
      else await tmp.unlink(entry.name);
    }
    if (stale.length > 0) {
      this.logger?.warn({ root: this.rootPath, removed: stale.length }, 'removed temporary files left by an interrupted flushWrite');
    }
  }

  async close(): Promise<void> {
    // the root's descriptor belongs to the root Dir, which the Storage closes first
    await this.tmp?.close();
    this.tmp = undefined;
    await this.lock?.release();
    this.lock = undefined;
    await this.engine.close();
  }
}
