// A backup's manifest: the one object that makes a backup exist (written last, after every blob it names
// is in the store and checked). It lists every entry of the tree backed up, with what restore needs to
// make it again: the path ('/'-separated, relative to the tree's root, '' for the root itself; a byte of
// a name that is not UTF-8 kept as in src/ground/name-bytes.ts), the kind, mode and mtime, and for a file
// its size and SHA-256 (its blob's address) and the ETags of its content (what the next backup checks a
// file it does not read against), for a symbolic link its target.
//
//   <prefix>backups/<id>.json   the manifests, <id> the time of the backup (sortable: 2025-01-02T03-04-05.678Z)
//   <prefix>blobs/<sha256>      each content once
import { createHash } from 'node:crypto';

import { storageError } from '../ground/errors.js';
import type { ObjectStore } from '../adapters/s3/object-store.js';

export const MANIFEST_FORMAT = 'persistfs-backup/1';

export interface DirEntry {
  path: string;
  kind: 'directory';
  mode: number;
  /** nanoseconds since the epoch, as a decimal string */
  mtimeNs: string;
}

export interface FileEntry {
  path: string;
  kind: 'file';
  mode: number;
  mtimeNs: string;
  size: number;
  sha256: string;
  /**
   * the ETags the object store may give the content (ContentHash.etags): with them a later backup finds a
   * file of the same path, size and mtime in the store without reading it (absent in older manifests)
   */
  etags?: string[];
}

export interface SymlinkEntry {
  path: string;
  kind: 'symlink';
  mtimeNs: string;
  target: string;
}

export type Entry = DirEntry | FileEntry | SymlinkEntry;

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  id: string;
  /** ISO time the backup started */
  created: string;
  /** the directory backed up, as it was named */
  source: string;
  entries: Entry[];
}

export const backupsPrefix = (prefix: string): string => `${prefix}backups/`;
export const manifestKey = (prefix: string, id: string): string => `${backupsPrefix(prefix)}${id}.json`;
export const blobsPrefix = (prefix: string): string => `${prefix}blobs/`;
export const blobKey = (prefix: string, sha256: string): string => `${blobsPrefix(prefix)}${sha256}`;

/** The id of a backup made at `time`: its ISO time with '-' for ':', so ids sort as times do. */
export const backupId = (time: Date): string => time.toISOString().replaceAll(':', '-');

const ID = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/;

/** `id` as given on the command line (with or without .json), checked. */
export function parseBackupId(id: string): string {
  const bare = id.replace(/\.json$/, '');
  if (!ID.test(bare))
    throw storageError('EINVAL', `'${id}' is not a backup id`, { hint: 'ids look like 2025-01-02T03-04-05.678Z (persistfs backup --list shows them)' });
  return bare;
}

export interface BackupListing {
  id: string;
  key: string;
  /** the manifest object's size */
  size: number;
}

/** The backups under `prefix`, oldest first (only complete ones: each has its manifest). */
export async function listBackups(store: ObjectStore, prefix: string): Promise<BackupListing[]> {
  const found: BackupListing[] = [];
  for await (const page of store.list(backupsPrefix(prefix), '/')) {
    for (const object of page.objects) {
      const id = object.key.slice(backupsPrefix(prefix).length).replace(/\.json$/, '');
      if (ID.test(id)) found.push({ id, key: object.key, size: object.size });
    }
  }
  // ids are ASCII times: compared by code unit (localeCompare's first call loads ICU's collator, ~20 ms here)
  return found.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

const where = (store: ObjectStore, key: string): string => `s3://${store.bucket}/${key}`;

/** Reads and checks the manifest of backup `id` (ENOENT naming it when there is none). */
export async function readManifest(store: ObjectStore, prefix: string, id: string): Promise<Manifest> {
  const key = manifestKey(prefix, id);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of store.stream(key, 0, undefined)) chunks.push(chunk);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT')
      throw storageError('ENOENT', `there is no backup '${id}'`, { path: where(store, key), hint: 'persistfs backup --list shows the backups there' });
    throw error;
  }
  return parseManifest(Buffer.concat(chunks), where(store, key));
}

/** The manifest in `bytes`, checked enough that restore can trust its shape (EBADMSG otherwise). */
export function parseManifest(bytes: Buffer, path: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
  } catch (error) {
    throw storageError('EBADMSG', 'the backup manifest is not JSON', { path, cause: error });
  }
  const bad = (what: string) => storageError('EBADMSG', `the backup manifest is damaged (${what})`, { path });
  if (manifest?.format !== MANIFEST_FORMAT) throw bad(`format '${String(manifest?.format)}', expected '${MANIFEST_FORMAT}'`);
  if (!Array.isArray(manifest.entries)) throw bad('no entries');
  for (const entry of manifest.entries) {
    if (!['file', 'directory', 'symlink'].includes(entry?.kind)) throw bad(`the kind of ${JSON.stringify(entry?.path)}`);
    if (typeof entry.path !== 'string' || entry.path.startsWith('/') || entry.path.split('/').some((part) => part === '..' || part === '.'))
      throw bad(`the path ${JSON.stringify(entry.path)}`);
    if (!/^-?\d+$/.test(entry.mtimeNs)) throw bad(`the mtime of ${JSON.stringify(entry.path)}`);
    if (entry.kind === 'file' && (!/^[0-9a-f]{64}$/.test(entry.sha256) || !Number.isSafeInteger(entry.size) || entry.size < 0))
      throw bad(`the size or sha256 of ${JSON.stringify(entry.path)}`);
    if (entry.kind === 'file' && entry.etags !== undefined && !(Array.isArray(entry.etags) && entry.etags.every((etag) => typeof etag === 'string')))
      throw bad(`the ETags of ${JSON.stringify(entry.path)}`);
    if (entry.kind === 'symlink' && typeof entry.target !== 'string') throw bad(`the target of ${JSON.stringify(entry.path)}`);
  }
  return manifest;
}

/**
 * Writes `manifest` (the last step of a backup: from then on the backup exists), signed with its SHA-256
 * (the store refuses other bytes; ObjectStore.put sends it without the SDK when it can).
 */
export async function writeManifest(store: ObjectStore, prefix: string, manifest: Manifest): Promise<string> {
  const body = Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
  return store.put(manifestKey(prefix, manifest.id), body, body.length, {}, createHash('sha256').update(body).digest('hex'));
}
