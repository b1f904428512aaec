// One file of a restore, made so that it is either whole and right or not there: its blob streams into a
// temporary name beside it while its SHA-256 is computed; a content that is not the manifest's fails
// naming the file (and the temporary file is removed); a right one gets its mode and mtime, is fsynced,
// and is renamed into place. The caller fsyncs the directory after.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';

import { isCode, storageError, toStorageError } from '../ground/errors.js';
import type { ObjectStore } from '../adapters/s3/object-store.js';
import { blobKey, type FileEntry } from './manifest.js';

/** Seconds since the epoch of a time in nanoseconds (a decimal string), as fs.utimes takes it. */
export const secondsOf = (ns: string): number => {
  const time = BigInt(ns);
  return Number(time / 1_000_000_000n) + Number(time % 1_000_000_000n) / 1e9;
};

/** A name beside `location` to make it under (same directory: the rename is atomic; short: any name fits). */
export function asideOf(location: Buffer): Buffer {
  const slash = location.lastIndexOf('/');
  return Buffer.concat([location.subarray(0, slash + 1), Buffer.from(`.persistfs-restore-${randomBytes(6).toString('hex')}`)]);
}

export async function restoreFile(store: ObjectStore, prefix: string, entry: FileEntry, location: Buffer, onBytes: (bytes: number) => void): Promise<void> {
  const key = blobKey(prefix, entry.sha256);
  const aside = asideOf(location);
  const file = await fs.open(aside, 'wx', 0o600).catch((error: unknown) => {
    throw toStorageError(error, 'open', entry.path);
  });
  let placed = false;
  try {
    const sha = createHash('sha256');
    let size = 0;
    if (entry.size > 0) {
      try {
        for await (const chunk of store.stream(key, 0, undefined)) {
          sha.update(chunk);
          size += chunk.length;
          await file.write(chunk);
          onBytes(chunk.length);
        }
      } catch (error) {
        if (isCode(error, 'ENOENT'))
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
    await file.chmod(entry.mode);
    const mtime = secondsOf(entry.mtimeNs);
    await file.utimes(mtime, mtime);
    await file.sync();
    await file.close();
    await fs.rename(aside, location);
    placed = true;
  } catch (error) {
    throw toStorageError(error, 'restore', entry.path);
  } finally {
    if (!placed) {
      await file.close().catch(() => undefined);
      await fs.unlink(aside).catch(() => undefined);
    }
  }
}
