// A backup of a directory tree to an S3 prefix: list the tree; a file the newest backup there has with the
// same path, size and mtime, whose blob the store still has whole (size and ETag), is not read again (as
// rclone and restic decide: `rehash` reads every file); hash each other file (one read: a file under the
// multipart threshold is read whole and its bytes sent as hashed; a larger one streams), send the blobs the
// prefix lacks (a few at once) and check each against its ETag, then write the manifest, last: a backup
// whose manifest is not there does not exist (its blobs are reused by the next one). Requests that do not
// wait on each other's answers go out together: the bucket's HEAD with the listings, the id's HEAD with the
// uploads.
import fs from 'node:fs/promises';

import { toStorageError } from '../ground/errors.js';
import { MULTIPART_THRESHOLD, type ObjectStore } from '../adapters/s3/object-store.js';
import { BlobStore, changed } from './blob-store.js';
import { type ContentHash, type Digest, digestBytes, hashFile } from './content-hash.js';
import { FileBuffers } from './file-buffers.js';
import { backupId, type Entry, type FileEntry, listBackups, type Manifest, MANIFEST_FORMAT, manifestKey, readManifest, writeManifest } from './manifest.js';
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
  /**
   * read and hash every file, even those the newest backup there has with the same path, size and mtime
   * (by default those are not read again: their blob is checked in the listing, size and ETag)
   */
  rehash?: boolean;
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
  /** files not read: the newest backup had them with the same path, size and mtime, and their blob is there */
  filesUnread: number;
  seconds: number;
}

export const DEFAULT_CONCURRENCY = 4;

/**
 * Hashes the file of `item` and checks that it did not change while read (size and mtime as listed). A
 * file under MULTIPART_THRESHOLD is read whole, once, and gets its SHA-256 alone: its bytes come back with
 * it, to be sent as they are (blob-store.ts says why no MD5); a larger one streams, hashed for its ETags
 * too (and streams again if it is sent).
 */
async function hashItem(
  item: TreeItem & { entry: FileEntry },
  buffers: FileBuffers,
): Promise<{ hash: ContentHash; bytes?: undefined } | { hash: Digest; bytes: Buffer }> {
  const read = async () => {
    if (item.entry.size >= MULTIPART_THRESHOLD) return { hash: await hashFile(item.location) };
    const file = await fs.open(item.location, 'r');
    try {
      const bytes = await buffers.read(file, item.entry.size);
      return { hash: digestBytes(bytes), bytes };
    } finally {
      await file.close();
    }
  };
  const hashed = await read().catch((error: unknown) => {
    throw toStorageError(error, 'read', item.entry.path);
  });
  const { hash } = hashed;
  try {
    const after = await fs.lstat(item.location, { bigint: true }).catch((error: unknown) => {
      throw toStorageError(error, 'lstat', item.entry.path);
    });
    if (hash.size !== item.entry.size || Number(after.size) !== item.entry.size || String(after.mtimeNs) !== item.entry.mtimeNs) throw changed(item.entry.path);
  } catch (error) {
    if (hashed.bytes !== undefined) buffers.give(hashed.bytes);
    throw error;
  }
  return hashed;
}

/**
 * The files of the newest backup under `prefix` by path, those whose manifest gives their ETags (empty when
 * there is none, or when its manifest is damaged: then every file is read).
 */
async function previousFiles(store: ObjectStore, prefix: string): Promise<Map<string, FileEntry & { etags: string[] }>> {
  const newest = (await listBackups(store, prefix)).at(-1);
  if (newest === undefined) return new Map();
  const manifest = await readManifest(store, prefix, newest.id).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'EBADMSG') return undefined;
    throw error;
  });
  const files = (manifest?.entries ?? []).filter((entry): entry is FileEntry & { etags: string[] } => entry.kind === 'file' && entry.etags !== undefined);
  return new Map(files.map((entry) => [entry.path, entry]));
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
  const blobs = new BlobStore(store, prefix);
  // the tree, the bucket, the listing of blobs/ and the newest manifest at once: one round trip less than the
  // bucket first (if several fail, the bucket's failure is told, then the tree's)
  const bucket = store.checkBucket();
  const listing = listTree(options.source);
  const loading = blobs.load();
  const previousOf = options.rehash === true ? Promise.resolve(new Map<string, FileEntry & { etags: string[] }>()) : previousFiles(store, prefix);
  for (const outcome of await Promise.allSettled([bucket, listing, loading, previousOf])) if (outcome.status === 'rejected') throw outcome.reason;
  const tree = await listing;
  const previous = await previousOf;
  const files = tree.items.filter((item): item is TreeItem & { entry: FileEntry } => item.entry.kind === 'file');
  const total = files.reduce((sum, item) => sum + item.entry.size, 0);
  // the backup's id (its start, a HEAD that it is free) is found while the blobs go up
  const naming = freeId(store, prefix, options.now ?? new Date());
  naming.catch(() => undefined); // a failure is thrown where it is awaited, after the uploads
  let done = 0;
  let bytesSent = 0;
  let blobsSent = 0;
  let bytesSkipped = 0;
  let filesUnread = 0;
  const progress = (path: string) => options.onProgress?.(done, total, path);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  // whole files under the multipart threshold are read into buffers kept for the next ones, each as large as
  // the largest of them (not the threshold: four buffers of 16 MiB counted as 68 MiB of external memory, and
  // the garbage collector ran three times at the first reads, 20 ms, to free none of it)
  const largest = files.reduce((most, item) => (item.entry.size < MULTIPART_THRESHOLD ? Math.max(most, item.entry.size) : most), 0);
  const buffers = new FileBuffers(concurrency, largest);
  await forEachLimited(files, concurrency, async (item) => {
    const { entry } = item;
    progress(entry.path);
    // as the newest backup had it (path, size, mtime) and its blob whole in the store: not read again
    const known = previous.get(entry.path);
    if (known !== undefined && known.size === entry.size && known.mtimeNs === entry.mtimeNs && blobs.has(known)) {
      entry.sha256 = known.sha256;
      entry.etags = known.etags;
      filesUnread++;
      done += entry.size;
      bytesSkipped += entry.size;
      progress(entry.path);
      return;
    }
    const hashed = await hashItem(item, buffers);
    const onBytes = (count: number) => {
      done += count;
      bytesSent += count;
      progress(entry.path);
    };
    let stored: Awaited<ReturnType<BlobStore['ensure']>>;
    if (hashed.bytes === undefined) stored = await blobs.ensure(hashed.hash, item.location, entry.path, onBytes);
    else {
      try {
        stored = await blobs.ensureBytes(hashed.hash, hashed.bytes, onBytes);
      } finally {
        buffers.give(hashed.bytes);
      }
    }
    entry.sha256 = hashed.hash.sha256;
    entry.etags = stored.etags;
    if (stored.sent) blobsSent++;
    else {
      done += entry.size;
      bytesSkipped += entry.size;
      progress(entry.path);
    }
  });
  const id = await naming;
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
    filesUnread,
    seconds: (performance.now() - started) / 1000,
  };
}
