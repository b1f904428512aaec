// Whether a local copy left by an earlier process may be uploaded. A pending upload's record (uploads.ts) is
// written at the file's close without any fsync (close is not a durability point), and durably at its
// sync(). What the copy on disk holds after a stop depends on how the process stopped:
// - the process died (kill -9, a crash of the mount) and the machine kept running: the page cache survived,
//   so the copy holds exactly what the process wrote and the record is whole (it is renamed into place). The
//   record says which boot wrote it; one of this boot's records is uploaded as it is.
// - the machine stopped (power, kernel crash): what was never fsynced may be gone, half written, zeros, or
//   stale blocks under a size that made it to disk. A record of an earlier boot is trusted only when it
//   was synced: it carries the copy's size at its last sync() (written durably, after the copy's
//   fdatasync), and the copy is uploaded if it still has that size: it holds at least what was synced,
//   and of the writes after it what the disk kept, as a local file would after the same stop. A copy of
//   another size (written again past it, or cut, and not synced) is not uploaded: the bucket keeps the
//   object it had. A record without it (closed, never synced) is dropped with its copy, as unsynced
//   writes to a local disk may be lost. The size, not a checksum of the content: a checksum would read
//   the whole copy at every fsync, and a database on the mount fsyncs large files often.
// Records written before this check existed (no boot) were always written after an fsync: trusted.
import { readFile } from 'node:fs/promises';

/** A copy as of its last sync(): what a record of an earlier boot is checked against. */
export interface SyncedCopy {
  size: number;
}

let boot: Promise<string> | undefined;

/** This boot of the machine (Linux: a random id the kernel makes at each boot). */
export function bootId(): Promise<string> {
  boot ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((id) => id.trim());
  return boot;
}

/** Whether a record of `recordBoot` (undefined: from before boots were recorded) may upload a copy of `size` bytes now. */
export function uploadable(recordBoot: string | undefined, thisBoot: string, synced: SyncedCopy | undefined, size: () => Promise<number>): Promise<boolean> {
  if (recordBoot === undefined || recordBoot === thisBoot) return Promise.resolve(true);
  if (synced === undefined) return Promise.resolve(false);
  return size().then((actual) => actual === synced.size);
}
