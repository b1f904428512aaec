// One file of a restore, made so that it is either whole and right or not there: its blob streams into a
// temporary name beside it while its SHA-256 is computed; a content that is not the manifest's fails
// naming the file (and the temporary file is removed); a right one gets its mode and mtime, is fsynced,
// and is renamed into place. The caller fsyncs the directory after.
import { createHash, randomBytes } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';

import { isCode, type StorageError, storageError, toStorageError } from '../ground/errors.js';
import type { ObjectStore } from '../adapters/s3/object-store.js';
import { blobKey, type FileEntry } from './manifest.js';

/** Seconds since the epoch of a time in nanoseconds (a decimal string), as fs.utimes takes it. */
export const secondsOf = (ns: string): number => {
  const time = BigInt(ns);
  return Number(time / 1_000_000_000n) + Number(time % 1_000_000_000n) / 1e9;
};

/** This thread's part of the temporary names (random: another thread's or process's differs). */
const threadTag = `.persistfs-restore-${randomBytes(6).toString('hex')}-`;
let asides = 0;

/**
 * A name beside `location` to make it under (same directory: the rename is atomic; short: any name fits):
 * the thread's random tag and a count, made with O_EXCL (never over another file).
 */
export function asideOf(location: Buffer): Buffer {
  const slash = location.lastIndexOf('/');
  return Buffer.concat([location.subarray(0, slash + 1), Buffer.from(`${threadTag}${(asides++).toString(36)}`)]);
}

/** The error of a restore stopped by `signal` (SIGINT, SIGTERM): what was restored is whole, the rest is not there. */
export const interrupted = (target: string, why: unknown): StorageError =>
  storageError('EINTR', `the restore was stopped${typeof why === 'string' ? ` by ${why}` : ''} before it was done`, {
    path: target,
    hint: 'the files restored so far are whole and nothing else is there: restore again into a new directory, or with --force',
  });

export interface RestoreFileOptions {
  /** when it aborts, the file's GET ends: the file is not made (its temporary is removed) and the call fails with EINTR */
  signal?: AbortSignal | undefined;
  /**
   * make the file on this thread (open, write(2), chmod, utimes, close, rename; only the fsync, which waits
   * on the disk, through libuv's pool) instead of through the pool: for a worker thread (restore-worker.ts),
   * whose loop serves only its own transfers; each of these calls costs less than the pool's hand-over (two
   * futex wake-ups and a promise). Never on the main thread.
   */
  syncWrites?: boolean | undefined;
  /**
   * called once the content is all written and matches the manifest, before the file is sealed (mode,
   * mtime, fsync) and renamed into place: the disk's part of a file, which the caller may let overlap the
   * next file's GET (restore.ts)
   */
  onWritten?: (() => void) | undefined;
  /**
   * with syncWrites, runs `place` (which looks at `signal` a last time, then renames the file into place):
   * a worker thread (restore-worker.ts) wraps it so that the main thread's stop, asked before its message
   * arrives, is seen, and so that the main thread can wait for a rename already past that look
   */
  guardPlacing?: ((place: () => void) => void) | undefined;
}

/** Writes all of `chunk` at the end of what was written to `fd` (write(2) may take less than asked). */
function writeAll(fd: number, chunk: Buffer): void {
  for (let at = 0; at < chunk.length; ) at += fsSync.writeSync(fd, chunk, at, chunk.length - at);
}

/** The temporary file a content is written into: what is done to it, through the pool or on this thread. */
interface AsideFile {
  /** (a promise through the pool, done when it returns on this thread) */
  write(chunk: Buffer): unknown;
  /** gives it `mode` and `mtime` (seconds), then fsyncs it */
  seal(mode: number, mtime: number): Promise<void>;
  close(): unknown;
}

/** `aside` made new (not there before) through libuv's pool (FileHandle). */
async function createAsideInPool(aside: Buffer): Promise<AsideFile> {
  const file = await fs.open(aside, 'wx', 0o600);
  return {
    write: (chunk) => file.write(chunk),
    seal: async (mode, mtime) => {
      await file.chmod(mode);
      await file.utimes(mtime, mtime);
      await file.sync();
    },
    close: () => file.close(),
  };
}

/** `aside` made new (not there before) on this thread (all but the fsync). */
function createAsideHere(aside: Buffer): AsideFile {
  const fd = fsSync.openSync(aside, 'wx', 0o600);
  let open = true;
  return {
    write: (chunk) => writeAll(fd, chunk),
    seal: (mode, mtime) => {
      fsSync.fchmodSync(fd, mode);
      fsSync.futimesSync(fd, mtime, mtime);
      return new Promise((resolve, reject) => fsSync.fsync(fd, (error) => (error === null ? resolve() : reject(error))));
    },
    close: () => {
      if (open) fsSync.closeSync(fd);
      open = false;
    },
  };
}

/** Restores `entry` at `location`. */
export async function restoreFile(
  store: ObjectStore,
  prefix: string,
  entry: FileEntry,
  location: Buffer,
  onBytes: (bytes: number) => void,
  options: RestoreFileOptions = {},
): Promise<void> {
  const { signal, syncWrites = false, onWritten, guardPlacing = (place) => place() } = options;
  const key = blobKey(prefix, entry.sha256);
  signal?.throwIfAborted();
  const aside = asideOf(location);
  const opening = (error: unknown) => toStorageError(error, 'open', entry.path);
  // on a worker thread the file is made once the GET is sent (its open, which can wait on the file system's
  // journal, overlaps the store's answering); elsewhere first, through the pool
  let file: AsideFile | undefined = syncWrites
    ? undefined
    : await createAsideInPool(aside).catch((error: unknown) => {
        throw opening(error);
      });
  let openFailure: unknown;
  const open = (): AsideFile => {
    try {
      file ??= createAsideHere(aside);
      return file;
    } catch (error) {
      openFailure = opening(error);
      throw openFailure;
    }
  };
  let placed = false;
  try {
    const sha = createHash('sha256');
    let size = 0;
    if (entry.size > 0) {
      try {
        // on a worker thread the GET goes without the SDK's HTTP stack when it can (direct-get.ts), its
        // pieces hashed and written as they come; otherwise (or when that GET was not answered 200) the SDK's
        const direct = syncWrites
          ? await store.getWhole(
              key,
              (piece) => {
                sha.update(piece);
                open().write(piece);
                size += piece.length;
                onBytes(piece.length);
              },
              signal,
              open,
            )
          : undefined;
        if (direct === undefined)
          for await (const chunk of store.stream(key, 0, undefined, undefined, signal)) {
            signal?.throwIfAborted();
            sha.update(chunk);
            size += chunk.length;
            await open().write(chunk);
            onBytes(chunk.length);
          }
      } catch (error) {
        signal?.throwIfAborted();
        if (error !== openFailure && isCode(error, 'ENOENT'))
          throw storageError('ENOENT', `the content of '${entry.path}' is missing from the object store`, {
            path: `s3://${store.bucket}/${key}`,
            hint: 'its blob was deleted: restore another backup',
          });
        throw error;
      }
    }
    const got = sha.digest('hex');
    if (got !== entry.sha256 || size !== entry.size)
      throw storageError(
        'EBADMSG',
        `the restored '${entry.path}' is not what was backed up (${size} bytes, sha256 ${got}; the backup has ${entry.size} bytes, sha256 ${entry.sha256})`,
        {
          path: `s3://${store.bucket}/${key}`,
          hint: 'its blob in the object store is damaged: restore an older backup, or back the original up again (which sends the blob again)',
        },
      );
    const made = open();
    onWritten?.();
    await made.seal(entry.mode, secondsOf(entry.mtimeNs));
    await made.close();
    if (syncWrites)
      guardPlacing(() => {
        signal?.throwIfAborted();
        fsSync.renameSync(aside, location);
        placed = true;
      });
    else {
      signal?.throwIfAborted();
      await fs.rename(aside, location);
      placed = true;
    }
  } catch (error) {
    if (signal?.aborted === true) throw interrupted(entry.path, signal.reason);
    throw toStorageError(error, 'restore', entry.path);
  } finally {
    if (!placed && file !== undefined) {
      const made = file;
      await Promise.resolve()
        .then(() => made.close())
        .catch(() => undefined);
      await fs.unlink(aside).catch(() => undefined);
    }
  }
}
