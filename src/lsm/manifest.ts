// The manifest: which SSTs are live at which level, the WAL position replay starts from, and the counters
// a reopen needs. It is small, rewritten whole and replaced atomically (Dir.flushWrite: temporary file,
// fsync, rename, directory fsync), so a crash leaves the old one or the new one.
//   line 1: "persistfs-lsm-manifest <crc32c of the JSON, hex>"; line 2: the JSON.
import { crc32c } from '@node-rs/crc32';

import type { Dir } from '../storage/dir.js';
import { storageError } from '../ground/errors.js';
import type { WalPosition } from '../wal/wal.js';
import { MANIFEST_NAME } from './file-names.js';

const HEADER = 'persistfs-lsm-manifest';
export const MANIFEST_FORMAT = 1;

export interface ManifestData {
  format: number;
  nextFile: number;
  /** the newest version written to an SST */
  lastSequence: number;
  /** reads as of versions below this may miss versions compaction dropped */
  gcHorizon: number;
  /** WAL replay starts here; null for a store without a WAL (a checkpoint) */
  wal: WalPosition | null;
  /** SST numbers per level; level 0 newest first, other levels in key order */
  levels: number[][];
  /** per level, the largest key (hex) its last compaction took, so the next one starts after it */
  compactPointers: Array<string | null>;
}

export function encodeManifest(data: ManifestData): Buffer {
  const json = JSON.stringify(data);
  return Buffer.from(`${HEADER} ${crc32c(Buffer.from(json)).toString(16)}\n${json}\n`);
}

export function decodeManifest(bytes: Buffer, where: string): ManifestData {
  const text = bytes.toString('utf8');
  const fail = (why: string) => storageError('EBADMSG', `the LSM manifest ${where} is corrupt: ${why}`, { path: where });
  const newline = text.indexOf('\n');
  const [header, crc] = text.slice(0, newline).split(' ');
  if (newline < 0 || header !== HEADER) throw fail('not a persistfs LSM manifest');
  const json = text.slice(newline + 1).trimEnd();
  if (crc32c(Buffer.from(json)).toString(16) !== crc) throw fail('checksum mismatch');
  const data = JSON.parse(json) as ManifestData;
  if (data.format !== MANIFEST_FORMAT) throw fail(`format ${data.format} is not supported (this build reads ${MANIFEST_FORMAT})`);
  if (!Array.isArray(data.levels) || !Number.isSafeInteger(data.nextFile)) throw fail('fields missing');
  return data;
}

export async function readManifest(dir: Dir): Promise<ManifestData | undefined> {
  const bytes = await dir.readFileIfExists(MANIFEST_NAME);
  return bytes === undefined ? undefined : decodeManifest(bytes, `${dir.path}/${MANIFEST_NAME}`.replace('//', '/'));
}

export async function writeManifest(dir: Dir, data: ManifestData): Promise<void> {
  await (await dir.flushWrite(MANIFEST_NAME, encodeManifest(data))).close();
}
