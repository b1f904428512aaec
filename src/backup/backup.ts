// A backup of a directory tree to an S3 prefix: list the tree, hash each file as it streams from disk,
// send the blobs the prefix lacks (a few at once) and check each with a HEAD, then write the manifest,
// last: a backup whose manifest is not there does not exist (its blobs are reused by the next one).
import fs from 'node:fs/promises';

import { toStorageError } from '../ground/errors.js';
import type { ObjectStore } from '../adapters/s3/object-store.js';
import { BlobStore, changed } from './blob-store.js';
import { hashFile } from './content-hash.js';
import { backupId, type Entry, type FileEntry, type Manifest, MANIFEST_FORMAT, manifestKey, writeManifest } from './manifest.js';
import { forEachLimited } from './pool.js';
import { listTree, statRoot, type TreeItem } from './source-tree.js';

/** `done` of `total` bytes, now at `path`. */
export type Progress = (done: number, total: number, path: string) => void;

export interface BackupOptions {
  /** the directory to back up */
  source: string;
  store: ObjectStore;
  /** the key prefix ('' or ending in '/') */
  prefix: string;
  /** files hashed and sent at once (default 4) */
  concurrency?: number;
  onProgress?: Progress;
  /** the backup's time (default now): its id */
  now?: Date;
}

export interface BackupResult {
  id: string;
  manifestKey: string;
  files: number;
  directories: number;
  symlinks: number;
  /** special files left out */
  skipped: string[];
  /** the bytes of every file */
  bytes: number;
  /** bytes sent as new blobs, and how many blobs */
  bytesSent: number;
  blobsSent: number;
  /** bytes whose blob was there already (from an earlier backup, or another file of this one) */
  bytesSkipped: number;
  seconds: number;
}

export const DEFAULT_CONCURRENCY = 4;

/** Hashes the file of `item` and checks that it did not change while read (size and mtime as listed). */
async function hashItem(item: TreeItem & { entry: FileEntry }, onBytes: (bytes: number) => void) {
  const hash = await hashFile(item.location, onBytes).catch((error: unknown) => {
    throw toStorageError(error, 'read', item.entry.path);
  });
  const after = await fs.lstat(item.location, { bigint: true }).catch((error: unknown) => {
    throw toStorageError(error, 'lstat', item.entry.path);
  });
  if (hash.size !== item.entry.size || Number(after.size) !== item.entry.size || String(after.mtimeNs) !== item.entry.mtimeNs) throw changed(item.entry.path);
  return hash;
}

/** An id not taken under `prefix`: the time of `now`, a millisecond later while one is. */
async function freeId(store: ObjectStore, prefix: string, now: Date): Promise<string> {
  for (let time = now.getTime(); ; time++) {
    const id = backupId(new Date(time));
    if ((await store.head(manifestKey(prefix, id))) === undefined) return id;
  }
}

export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const started = performance.now();
  const { store, prefix } = options;
  await statRoot(options.source); // what is wrong here is told before the network is tried
  await store.checkBucket();
  const tree = await listTree(options.source);
  const files = tree.items.filter((item): item is TreeItem & { entry: FileEntry } => item.entry.kind === 'file');
  const total = files.reduce((sum, item) => sum + item.entry.size, 0);
  const blobs = new BlobStore(store, prefix);
  await blobs.load();
  let done = 0;
  let bytesSent = 0;
  let blobsSent = 0;
  let bytesSkipped = 0;
  const progress = (path: string) => options.onProgress?.(done, total, path);
  await forEachLimited(files, options.concurrency ?? DEFAULT_CONCURRENCY, async (item) => {
    const { entry } = item;
    progress(entry.path);
    const hash = await hashItem(item, () => undefined);
    entry.sha256 = hash.sha256;
    const sent = await blobs.ensure(hash, item.location, entry.path, (bytes) => {
      done += bytes;
      bytesSent += bytes;
      progress(entry.path);
    });
    if (sent) blobsSent++;
    else {
      done += entry.size;
      bytesSkipped += entry.size;
      progress(entry.path);
    }
  });
  const id = await freeId(store, prefix, options.now ?? new Date());
  const entries: Entry[] = tree.items.map((item) => item.entry);
  const manifest: Manifest = { format: MANIFEST_FORMAT, id, created: new Date().toISOString(), source: options.source, entries };
  await writeManifest(store, prefix, manifest);
  return {
    id,
    manifestKey: manifestKey(prefix, id),
    files: files.length,
    directories: entries.filter((entry) => entry.kind === 'directory').length,
    symlinks: entries.filter((entry) => entry.kind === 'symlink').length,
    skipped: tree.skipped,
    bytes: total,
    bytesSent,
    blobsSent,
    bytesSkipped,
    seconds: (performance.now() - started) / 1000,
  };
}
