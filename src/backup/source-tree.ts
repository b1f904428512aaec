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
    const sorted = names.map((bytes) => decodeName(bytes)).sort();
    for (const name of sorted) {
      if (path === '' && RESERVED_NAMES.has(name)) continue;
      if (hasLock && name === LOCK_NAME) continue;
      const child = path === '' ? name : `${path}/${name}`;
      const at = Buffer.concat([location, SLASH, encodeName(name)]);
      const stat = await fs.lstat(at, { bigint: true }).catch((error: unknown) => {
        throw toStorageError(error, 'lstat', child);
      });
      const mode = permissionBits(Number(stat.mode));
      const mtimeNs = String(stat.mtimeNs);
      if (stat.isDirectory()) {
        items.push({ entry: { path: child, kind: 'directory', mode, mtimeNs }, location: at });
        await visit(child, at);
      } else if (stat.isFile()) {
        items.push({ entry: { path: child, kind: 'file', mode, mtimeNs, size: Number(stat.size), sha256: '' }, location: at });
      } else if (stat.isSymbolicLink()) {
        const target = decodeName((await fs.readlink(at, { encoding: 'buffer' })) as Buffer);
        items.push({ entry: { path: child, kind: 'symlink', mtimeNs, target }, location: at });
      } else {
        skipped.push(child);
      }
    }
  };
  await visit('', Buffer.from(root));
  return { items, skipped };
}
