// The LSM checkpoints the backup workload copies: an LsmStore (default options) filled with `bytes` of
// incompressible values under ordered keys, checkpointed into base/; then a few more writes (`extraBytes`,
// new keys) and a second checkpoint into next/, which shares every table base/ has that no compaction
// rewrote (hard links). Made once under the bench directory and kept for later runs, like the data files:
// a `ready` file written last says the pair is whole (an interrupted build is made again).
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { openStorage } from '../../src/index.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import { MiB, removeQuietly } from './data-files.js';

/** the value size: 16 KiB of random bytes per key */
const VALUE_BYTES = 16 * 1024;
/** writes in flight at once while filling (each awaits its place in the WAL) */
const PUTS_AT_ONCE = 16;

export interface Checkpoints {
  /** the first checkpoint (the full backup's source) */
  base: string;
  /** the second, after the extra writes (the incremental backup's source) */
  next: string;
}

export interface TreeSize {
  files: number;
  bytes: number;
}

/** The files and bytes under `dir` (recursively). */
export async function treeSize(dir: string): Promise<TreeSize> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

const keyOf = (index: number) => `key${String(index).padStart(10, '0')}`;

async function fill(db: LsmStore, from: number, to: number): Promise<void> {
  let next = from;
  const writer = async () => {
    while (next < to) {
      const index = next++;
      await db.put(keyOf(index), randomBytes(VALUE_BYTES));
    }
  };
  await Promise.all(Array.from({ length: PUTS_AT_ONCE }, writer));
}

/** The checkpoints of `bytes` (+ `extraBytes`) under `benchDir`, made when they are not there whole. */
export async function ensureCheckpoints(benchDir: string, bytes: number, extraBytes: number, progress: (text: string) => void): Promise<Checkpoints> {
  const root = path.join(benchDir, `backup-lsm-${bytes / MiB}M-${extraBytes / MiB}M`);
  const checkpoints = { base: path.join(root, 'base'), next: path.join(root, 'next') };
  const ready = path.join(root, 'ready');
  if (await stat(ready).catch(() => undefined)) return checkpoints;
  await removeQuietly(root);
  await mkdir(root, { recursive: true });
  const started = Date.now();
  progress(`[backup] making the LSM checkpoints in ${root} (${bytes / MiB} MiB of random values, then ${extraBytes / MiB} MiB more), kept for later runs  `);
  const storage = await openStorage(root, { config: { logLevel: 'warn' } });
  try {
    const dbDir = await storage.createDirectory('db');
    const db = await LsmStore.open(dbDir, { errorIfExists: true });
    try {
      const keys = Math.ceil(bytes / VALUE_BYTES);
      await fill(db, 0, keys);
      // the compactions a real store would have run before its checkpoint
      await db.compact();
      const base = await storage.createDirectory('base');
      await db.checkpoint(base);
      await base.close();
      await fill(db, keys, keys + Math.ceil(extraBytes / VALUE_BYTES));
      await db.compact();
      const next = await storage.createDirectory('next');
      await db.checkpoint(next);
      await next.close();
    } finally {
      await db.close();
      await dbDir.close();
    }
  } finally {
    await storage.close();
  }
  // the checkpoints hold their tables (hard links): the store itself is not needed
  await removeQuietly(path.join(root, 'db'));
  await writeFile(ready, '');
  progress(`${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return checkpoints;
}
