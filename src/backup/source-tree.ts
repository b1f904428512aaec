// The tree to back up, listed: every directory, regular file and symbolic link under the root, with its
// mode, mtime and size (lstat: links are not followed). Names are read as bytes and kept losslessly
// (src/ground/name-bytes.ts). What is left out: persistfs's own names at the root (its lock file and
// temporary directory), the LOCK of an LSM store, and special files (FIFOs, sockets, devices: listed in
// `skipped`). An LSM store open in a live process is refused (EBUSY): its files change under a copy, so
// back up a checkpoint of it (LsmStore.checkpoint) or close it first.
import fs from 'node:fs/promises';

import { storageError, toStorageError } from '../ground/errors.js';
import { decodeName, encodeName } from '../ground/name-bytes.js';
import { RESERVED_NAMES } from '../ground/reserved-names.js';
import { LOCK_NAME, MANIFEST_NAME } from '../lsm/file-names.js';
import { alive } from '../lsm/lock.js';
import type { Entry } from './manifest.js';

export interface TreeItem {
  entry: Entry;
  /** where it is on disk (bytes: names need not be UTF-8) */
  location: Buffer;
}

export interface Tree {
  items: TreeItem[];
  /** special files left out (their paths) */
  skipped: string[];
}

const SLASH = Buffer.from('/');
/** lstats of one directory's entries in flight at once */
const LSTATS_AT_ONCE = 128;

/** `root` joined with a manifest path. */
export const locate = (root: string | Buffer, path: string): Buffer =>
  path === '' ? Buffer.from(root) : Buffer.concat([Buffer.from(root), SLASH, encodeName(path)]);

/** The permission bits of a st_mode (with setuid, setgid, sticky). */
export const permissionBits = (mode: number): number => mode & 0o7777;

/** The pid in an LSM store's LOCK when that process is alive, else undefined (a closed store has none). */
async function liveHolder(dir: Buffer): Promise<number | undefined> {
  const text = await fs.readFile(Buffer.concat([dir, SLASH, Buffer.from(LOCK_NAME)]), 'utf8').catch(() => undefined);
  const pid = Number(text?.trim().split(' ')[0]);
  return Number.isSafeInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** The lstat of `root`, which must be a directory (ENOENT, ENOTDIR otherwise). */
export async function statRoot(root: string) {
  const stat = await fs.lstat(root, { bigint: true }).catch((error: unknown) => {
    throw toStorageError(error, 'lstat', root);
  });
  if (!stat.isDirectory()) throw storageError('ENOTDIR', 'a backup is of a directory', { path: root });
  return stat;
}

export async function listTree(root: string): Promise<Tree> {
  const rootStat = await statRoot(root);
  const items: TreeItem[] = [
    { entry: { path: '', kind: 'directory', mode: permissionBits(Number(rootStat.mode)), mtimeNs: String(rootStat.mtimeNs) }, location: Buffer.from(root) },
  ];
  const skipped: string[] = [];
  const visit = async (path: string, location: Buffer): Promise<void> => {
    const names = (await fs.readdir(location, { encoding: 'buffer' }).catch((error: unknown) => {
      throw toStorageError(error, 'readdir', path || root);
    })) as Buffer[];
    const isLsm = names.some((name) => name.equals(Buffer.from(MANIFEST_NAME)));
    const hasLock = isLsm && names.some((name) => name.equals(Buffer.from(LOCK_NAME)));
    if (hasLock) {
      const pid = await liveHolder(location);
      if (pid !== undefined)
        throw storageError('EBUSY', `the LSM store there is open in process ${pid}, and its files change under a copy`, {
          path: location.toString(),
          hint: 'back up a checkpoint of it (LsmStore.checkpoint), or close it first',
        });
    }
    const children = names
      .map((bytes) => decodeName(bytes))
      .sort()
      .filter((name) => !(path === '' && RESERVED_NAMES.has(name)) && !(hasLock && name === LOCK_NAME))
      .map((name) => ({ path: path === '' ? name : `${path}/${name}`, at: Buffer.concat([location, SLASH, encodeName(name)]) }));
    // a directory's lstats go out together, a slice at a time: one awaited after another cost a trip
    // through the thread pool and the event loop each (60 ms for an LSM checkpoint of 265 files, longer
    // than an incremental backup's requests to the bucket)
    for (let start = 0; start < children.length; start += LSTATS_AT_ONCE) {
      const slice = children.slice(start, start + LSTATS_AT_ONCE);
      // settled, not raced: a failure is told where the walk meets it, as when one lstat followed another
      const stats = await Promise.allSettled(slice.map((child) => fs.lstat(child.at, { bigint: true })));
      for (const [index, { path: childPath, at }] of slice.entries()) {
        const outcome = stats[index]!;
        if (outcome.status === 'rejected') throw toStorageError(outcome.reason, 'lstat', childPath);
        const stat = outcome.value;
        const mode = permissionBits(Number(stat.mode));
        const mtimeNs = String(stat.mtimeNs);
        if (stat.isDirectory()) {
          items.push({ entry: { path: childPath, kind: 'directory', mode, mtimeNs }, location: at });
          await visit(childPath, at);
        } else if (stat.isFile()) {
          items.push({ entry: { path: childPath, kind: 'file', mode, mtimeNs, size: Number(stat.size), sha256: '' }, location: at });
        } else if (stat.isSymbolicLink()) {
          const target = decodeName((await fs.readlink(at, { encoding: 'buffer' })) as Buffer);
          items.push({ entry: { path: childPath, kind: 'symlink', mtimeNs, target }, location: at });
        } else {
          skipped.push(childPath);
        }
      }
    }
  };
  await visit('', Buffer.from(root));
  return { items, skipped };
}
