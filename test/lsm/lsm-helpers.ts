// Helpers for the LSM tests: a store directory on a fresh storage, closed (stores, then storage, then the
// temporary root) when the test ends whether it passed or not, and small readers of iterators.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type test from 'tape';

import { openStorage, type Storage } from '../../src/index.js';
import type { Dir } from '../../src/storage/dir.js';
import { parseTableName } from '../../src/lsm/file-names.js';
import type { LsmIterator } from '../../src/lsm/iterator.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import type { LsmOptions } from '../../src/lsm/types.js';
import type { Backend } from '../helpers.js';

/** Options that make flushes and compactions happen with little data. */
export const SMALL: LsmOptions = {
  memtableSize: 4 * 1024,
  blockSize: 256,
  tableFileSize: 4 * 1024,
  levelBaseBytes: 16 * 1024,
  l0CompactionTrigger: 2,
  levelMultiplier: 4,
};

export interface LsmEnv {
  storage: Storage;
  root: string;
  dir: Dir;
  /** opens a store on `dir` (or another Dir); it is closed when the test ends if still open */
  open(options?: LsmOptions, on?: Dir): Promise<LsmStore>;
  /** a new directory beside `dir` */
  mkdir(name: string): Promise<Dir>;
}

export async function lsmEnv(t: test.Test, backend: Backend): Promise<LsmEnv> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-lsm-'));
  const stores: LsmStore[] = [];
  let storage: Storage | undefined;
  t.teardown(async () => {
    for (const store of stores) await store.close().catch(() => undefined);
    await storage?.close().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 5 });
  });
  storage = await openStorage(root, backend.options);
  const dir = await storage.createDirectory('db');
  return {
    storage,
    root,
    dir,
    async open(options = {}, on = dir) {
      const store = await LsmStore.open(on, options);
      stores.push(store);
      return store;
    },
    mkdir: (name) => storage!.createDirectory(name),
  };
}

/** Every entry of an iterator as [key, value] strings (latin1 keys keep any byte), closing it. */
export async function entries(iterator: LsmIterator): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  try {
    for (let entry = await iterator.next(); entry; entry = await iterator.next()) out.push([entry.key.toString('latin1'), entry.value.toString('latin1')]);
  } finally {
    await iterator.close();
  }
  return out;
}

export const keysOf = (list: Array<[string, string]>): string[] => list.map(([key]) => key);

/** The names of the SSTs in a local store directory. */
export function sstFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => parseTableName(name) !== undefined)
    .sort();
}

/** Every file under a local directory: its path there and a hash of its bytes (to show an open changed nothing). */
export function filesUnder(dir: string): Array<[string, string]> {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => fs.statSync(path.join(dir, name)).isFile())
    .sort()
    .map((name): [string, string] => [
      name,
      createHash('sha256')
        .update(fs.readFileSync(path.join(dir, name)))
        .digest('hex'),
    ]);
}

/**
 * Why the levels >= 1 of `db` are not each one sorted run (SSTs in key order, ranges disjoint), or
 * undefined when they are.
 */
export function levelsSorted(db: LsmStore): string | undefined {
  const levels = (db as unknown as { versions: { current: { levels: Array<Array<{ smallest: string; largest: string; name: string }>> } } }).versions.current
    .levels;
  for (const [level, tables] of levels.entries()) {
    for (let i = 1; level > 0 && i < tables.length; i++) {
      if (!(tables[i - 1]!.largest < tables[i]!.smallest)) return `level ${level}: ${tables[i - 1]!.name} and ${tables[i]!.name} overlap or are out of order`;
    }
  }
  return undefined;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
