// The files the workloads share, and the page-cache state around them. The big files take a while to
// write, so they are kept between runs and reused when their size is right.
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
const CHUNK = 8 * MiB;

export interface DataFile {
  name: string;
  path: string;
  size: number;
}

export const dataFile = (dir: string, name: string, size: number): DataFile => ({ name, path: path.join(dir, name), size });

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

/**
 * Makes sure `file` exists with its size, filled with random bytes: real data blocks, not holes, since
 * a read of a hole costs the disk nothing. Written under a temporary name and renamed, so an interrupted
 * run never leaves a short file that a later run would take for a finished one. Resolves with whether
 * it had to be written.
 */
export async function ensureDataFile(file: DataFile, onProgress: (message: string) => void): Promise<boolean> {
  if ((await sizeOf(file.path)) === file.size) return false;
  onProgress(`writing ${file.name} (${file.size / MiB} MiB), kept for later runs`);
  const partial = `${file.path}.partial`;
  const chunk = randomFillSync(Buffer.alloc(CHUNK));
  const handle = await open(partial, 'w');
  try {
    for (let offset = 0; offset < file.size; offset += CHUNK) {
      await handle.write(chunk, 0, Math.min(CHUNK, file.size - offset), offset);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, file.path);
  return true;
}

/** Reads the whole file once so that the warm workloads find every page in the cache. */
export async function warmPageCache(file: DataFile): Promise<void> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  const handle = await open(file.path, 'r');
  try {
    for (let offset = 0; offset < file.size; offset += CHUNK) await handle.read(buffer, 0, CHUNK, offset);
  } finally {
    await handle.close();
  }
}

/**
 * Writes back every dirty page and commits the journal (sync(1)). Run before every turn, so that no turn
 * pays for the writeback (or the discards of deleted files) that an earlier turn left behind.
 */
export function writeBack(): void {
  spawnSync('sync');
}

/**
 * Writes back dirty pages and drops the page, dentry and inode caches (root only). Resolves with whether
 * the caches were dropped; a cold workload without that is still cold for its O_DIRECT data, but not for
 * file-system metadata.
 */
export function dropCaches(): boolean {
  writeBack();
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

export async function removeQuietly(target: string): Promise<void> {
  await rm(target, { recursive: true, force: true });
}
