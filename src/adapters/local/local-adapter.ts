// The local adapter: bytes live in files under a root directory, moved by an IO engine (io_uring or sync).
// At open it makes (or empties) the root's temporary directory, where flushWrite stages its files: a
// crash mid-flushWrite leaves a temporary there, never a half-written file under its real name.
import fs from 'node:fs';

import type { IoEngine } from '../../io/engine.js';
import { O } from '../../io/engine.js';
import type { Logger } from '../../log.js';
import { isCode, storageError, toStorageError, type StorageError } from '../../storage/errors.js';
import { RESERVED_NAME } from '../../storage/names.js';
import type { Adapter, DirNode } from '../adapter.js';
import { InodeTable } from './inode-table.js';
import { LocalDir, type LocalContext } from './local-dir.js';

function openRootFd(root: string): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.open(root, O.RDONLY | O.DIRECTORY | O.CLOEXEC, (error, fd) =>
      error ? reject(toStorageError(error, 'open', root)) : resolve(fd),
    ),
  );
}

function processRuns(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LocalAdapter implements Adapter {
  readonly kind = 'local';
  private tmp: LocalDir | undefined;
  private readonly inodes = new InodeTable();
  private tempCounter = 0;

  constructor(
    private readonly rootPath: string,
    private readonly engine: IoEngine,
    private readonly logger?: Logger,
  ) {}

  get ioMode(): string {
    return this.engine.mode;
  }

  /** Files open in this process (distinct inodes): 0 once every handle is closed. */
  get openInodes(): number {
    return this.inodes.open;
  }

  async openRoot(): Promise<DirNode> {
    const rootFd = await openRootFd(this.rootPath);
    const bootstrap: LocalContext = {
      engine: this.engine,
      inodes: this.inodes,
      tmpFd: -1,
      umask: process.umask(),
      nextTempName: () => `${process.pid}-${++this.tempCounter}-${Date.now().toString(36)}`,
    };
    const root = new LocalDir(bootstrap, rootFd);
    try {
      await root.mkdir(RESERVED_NAME, 0o700).catch((error: unknown) => {
        if (!isCode(error, 'EEXIST')) throw error;
      });
      this.tmp = await root.openDir(RESERVED_NAME);
      bootstrap.tmpFd = this.tmp.fd;
      await this.removeStaleTemps(this.tmp);
    } catch (error) {
      await root.close().catch(() => undefined);
      throw this.setupError(error);
    }
    return root;
  }

  /** A failure to set up the temporary directory, named for the root the caller gave (not the internal entry). */
  private setupError(error: unknown): StorageError {
    const e = toStorageError(error, 'open', this.rootPath);
    const hint = e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' ? '; the storage must be able to write in its root' : '';
    return storageError(e.code, `cannot set up the temporary directory ${RESERVED_NAME} in the storage root${hint}:`, {
      syscall: e.syscall,
      path: this.rootPath,
      cause: e,
    });
  }

  private async removeStaleTemps(tmp: LocalDir): Promise<void> {
    // a temporary whose process still runs belongs to another storage on this root, mid flushWrite
    const stale = (await tmp.list()).filter((entry) => !processRuns(Number(/^(\d+)-/.exec(entry.name)?.[1])));
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
    await this.engine.close();
  }
}
