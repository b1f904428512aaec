// Whether a local copy left by an earlier process may be uploaded. A pending upload's record (uploads.ts) is
// written at the file's close without any fsync (close is not a durability point), and durably at its
// sync(). What the copy on disk holds after a stop depends on how the process stopped:
// - the process died (kill -9, a crash of the mount) and the machine kept running: the page cache survived,
//   so the copy holds exactly what the process wrote and the record is whole (it is renamed into place). The
//   record says which boot wrote it; one of this boot's records is uploaded as it is.
// - the machine stopped (power, kernel crash): what was never fsynced may be gone, half written, zeros, or
//   stale blocks under a size that made it to disk. A record of an earlier boot is trusted only with the
//   size and CRC-32 of the copy at its last sync() (written durably, after the copy's fdatasync): the copy
//   is uploaded if it still has exactly that content, otherwise it is not (a torn copy must never replace a
//   good object), and a record without them (closed, never synced) is dropped with its copy, as unsynced
//   writes to a local disk may be lost. A file synced and then written again in place, with the machine
//   stopping before its next sync, fails the check too: its synced content is no longer whole anywhere, so
//   the bucket keeps the object it had.
// Records written before this check existed (no boot) were always written after an fsync: trusted.
import { readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

import type { FileNode } from '../adapter.js';

/** A copy's content as of its last sync(): what a record of an earlier boot is checked against. */
export interface CopySum {
  size: number;
  crc32: number;
}

const CHUNK = 4 * 2 ** 20;

let boot: Promise<string> | undefined;

/** This boot of the machine (Linux: a random id the kernel makes at each boot). */
export function bootId(): Promise<string> {
  boot ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((id) => id.trim());
  return boot;
}

/** The size and CRC-32 of the whole content of `file` (read in 4 MiB chunks). */
export async function copySum(file: FileNode): Promise<CopySum> {
  const size = file.size();
  const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size));
  let sum = 0;
  for (let at = 0; at < size; ) {
    const n = await file.read(chunk.subarray(0, Math.min(CHUNK, size - at)), at);
    if (n === 0) break;
    sum = crc32(chunk.subarray(0, n), sum);
    at += n;
  }
  return { size, crc32: sum };
}

/** Whether a record of `recordBoot` (undefined: from before boots were recorded) may upload a copy of `sum`. */
export function uploadable(recordBoot: string | undefined, thisBoot: string, synced: CopySum | undefined, sum: () => Promise<CopySum>): Promise<boolean> {
  if (recordBoot === undefined || recordBoot === thisBoot) return Promise.resolve(true);
  if (synced === undefined) return Promise.resolve(false);
  return sum().then((actual) => actual.size === synced.size && actual.crc32 === synced.crc32);
}

/** The size and CRC-32 of `buffers` one after the other (a whole content given at once). */
export function buffersSum(buffers: readonly Uint8Array[]): CopySum {
  let sum = 0;
  let size = 0;
  for (const buffer of buffers) {
    sum = crc32(buffer, sum);
    size += buffer.length;
  }
  return { size, crc32: sum };
}
