// A restore of a backup into a directory: the newest backup under the prefix unless one is named; into a
// directory that does not exist or is empty (a non-empty one only when forced). Directories first (open to
// us while we fill them), then the files a few at once (each checked against its SHA-256, written aside,
// fsynced and renamed: restore-file.ts; the next file's GET starts once a file's content is written, not
// after its fsync; on worker threads, restore-workers.ts, unless `workers` is 0), then symbolic
// links, then each directory's mode and mtime, deepest first, each fsynced once its entries are in place;
// last the parent of a directory we made. An abort of `signal` stops it with EINTR (nothing half made).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { storageError, toStorageError } from '../ground/errors.js';
import type { ObjectStore } from '../adapters/s3/object-store.js';
import type { Progress } from './backup.js';
import { DEFAULT_CONCURRENCY } from './backup.js';
import { type DirEntry, type FileEntry, listBackups, type Manifest, readManifest, type SymlinkEntry } from './manifest.js';
import { forEachLimited } from './pool.js';
import { asideOf, interrupted, restoreFile, secondsOf } from './restore-file.js';
import { RestoreWorkers } from './restore-workers.js';
import { locate } from './source-tree.js';

export interface RestoreOptions {
  store: ObjectStore;
  prefix: string;
  /** the directory to restore into */
  target: string;
  /** the backup's id (default: the newest) */
  backupId?: string | undefined;
  /** restore into a directory that is not empty (files of the backup replace those of the same name) */
  force?: boolean;
  concurrency?: number;
  /**
   * worker threads the files are restored on (restore-workers.ts), at most `concurrency`; default
   * os.availableParallelism(); 0: on this thread
   */
  workers?: number;
  /** stops the restore (SIGINT): the files under way are not made, and it fails with EINTR */
  signal?: AbortSignal;
  onProgress?: Progress;
}

export interface RestoreResult {
  id: string;
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
  seconds: number;
}

/** The manifest of `id`, or of the newest backup under the prefix. */
export async function chooseManifest(store: ObjectStore, prefix: string, id: string | undefined): Promise<Manifest> {
  if (id !== undefined) return readManifest(store, prefix, id);
  const backups = await listBackups(store, prefix);
  const newest = backups.at(-1);
  if (newest === undefined)
    throw storageError('ENOENT', 'there is no backup there', {
      path: `s3://${store.bucket}/${prefix}`,
      hint: 'check the bucket and prefix (a backup is a backups/<id>.json under it)',
    });
  return readManifest(store, prefix, newest.id);
}

/** Makes `target` when it is not there; refuses a non-empty one unless forced. Resolves with whether it made it. */
async function prepareTarget(target: string, force: boolean): Promise<boolean> {
  let names: string[];
  try {
    names = await fs.readdir(target);
  } catch (error) {
    const failure = toStorageError(error, 'readdir', target);
    if (failure.code !== 'ENOENT') throw failure;
    await fs.mkdir(target, { recursive: true, mode: 0o700 }).catch((cause: unknown) => {
      throw toStorageError(cause, 'mkdir', target);
    });
    return true;
  }
  if (names.length > 0 && !force)
    throw storageError('ENOTEMPTY', 'a restore goes into an empty or new directory', {
      path: target,
      hint: 'name a new directory, or add --force to write over the files there',
    });
  return false;
}

/** Gives the directory at `location` its mode and mtime (through a descriptor opened first, so that a mode without r or x for us does not stop us) and fsyncs it. */
async function finishDirectory(location: Buffer | string, name: string, entry?: DirEntry): Promise<void> {
  const handle = await fs.open(location, 'r').catch((error: unknown) => {
    throw toStorageError(error, 'open', name);
  });
  try {
    if (entry !== undefined) {
      const mtime = secondsOf(entry.mtimeNs);
      await handle.chmod(entry.mode);
      await handle.utimes(mtime, mtime);
    }
    await handle.sync();
  } catch (error) {
    throw toStorageError(error, 'fsync', name);
  } finally {
    await handle.close();
  }
}

export async function runRestore(options: RestoreOptions): Promise<RestoreResult> {
  const { store, prefix, target, signal } = options;
  signal?.throwIfAborted();
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const count = Math.min(options.workers ?? os.availableParallelism(), concurrency);
  // started first: their S3 clients load while this thread reads the manifest
  const workers = count > 0 ? new RestoreWorkers(store, prefix, count) : undefined;
  const stop = () => workers?.abort(signal?.reason);
  signal?.addEventListener('abort', stop, { once: true });
  try {
    return await restoreInto(options, concurrency, workers);
  } catch (error) {
    if (signal?.aborted === true) throw interrupted(target, signal.reason);
    throw error;
  } finally {
    signal?.removeEventListener('abort', stop);
    await workers?.close();
  }
}

async function restoreInto(options: RestoreOptions, concurrency: number, workers: RestoreWorkers | undefined): Promise<RestoreResult> {
  const started = performance.now();
  const { store, prefix, target, signal } = options;
  await store.checkBucket();
  const manifest = await chooseManifest(store, prefix, options.backupId);
  signal?.throwIfAborted();
  const made = await prepareTarget(target, options.force === true);
  const directories = manifest.entries.filter((entry): entry is DirEntry => entry.kind === 'directory');
  const files = manifest.entries.filter((entry): entry is FileEntry => entry.kind === 'file');
  const symlinks = manifest.entries.filter((entry): entry is SymlinkEntry => entry.kind === 'symlink');
  // parents before children: the manifest lists a directory before what it holds
  for (const entry of directories) {
    if (entry.path === '') continue;
    await fs.mkdir(locate(target, entry.path), { mode: 0o700 }).catch((error: unknown) => {
      if ((error as { code?: string }).code !== 'EEXIST') throw toStorageError(error, 'mkdir', entry.path);
    });
  }
  const total = files.reduce((sum, entry) => sum + entry.size, 0);
  let done = 0;
  // A file holds its place among the `concurrency` once its content is written and checked: its fsync
  // and rename (the disk's part) go on while the next file's GET runs, at most `concurrency` of them.
  const sealing = new Set<Promise<void>>();
  let sealFailure: { error: unknown } | undefined;
  try {
    await forEachLimited(files, concurrency, async (entry) => {
      signal?.throwIfAborted();
      if (sealFailure !== undefined) throw sealFailure.error;
      options.onProgress?.(done, total, entry.path);
      const onBytes = (bytes: number) => {
        done += bytes;
        options.onProgress?.(done, total, entry.path);
      };
      const location = locate(target, entry.path);
      let onWritten!: () => void;
      const written = new Promise<void>((resolve) => {
        onWritten = resolve;
      });
      const whole =
        workers === undefined
          ? restoreFile(store, prefix, entry, location, onBytes, { signal, onWritten })
          : workers.restore(entry, location, onBytes, onWritten);
      await Promise.race([written, whole]);
      const sealed: Promise<void> = whole.then(
        () => void sealing.delete(sealed),
        (error: unknown) => {
          sealing.delete(sealed);
          sealFailure ??= { error };
        },
      );
      sealing.add(sealed);
      while (sealing.size > concurrency) await Promise.race(sealing);
    });
  } finally {
    await Promise.all(sealing);
  }
  if (sealFailure !== undefined) throw sealFailure.error;
  signal?.throwIfAborted();
  for (const entry of symlinks) {
    const location = locate(target, entry.path);
    const aside = asideOf(location);
    try {
      await fs.symlink(entry.target, aside);
      const mtime = secondsOf(entry.mtimeNs);
      await fs.lutimes(aside, mtime, mtime);
      await fs.rename(aside, location);
    } catch (error) {
      await fs.unlink(aside).catch(() => undefined);
      throw toStorageError(error, 'symlink', entry.path);
    }
  }
  for (const entry of [...directories].reverse()) await finishDirectory(locate(target, entry.path), entry.path || target, entry);
  if (made) await finishDirectory(path.dirname(path.resolve(target)), path.dirname(path.resolve(target)));
  return {
    id: manifest.id,
    files: files.length,
    directories: directories.length,
    symlinks: symlinks.length,
    bytes: total,
    seconds: (performance.now() - started) / 1000,
  };
}
