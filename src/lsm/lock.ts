// One process at a time opens a store for writing: it creates LOCK (exclusively) holding its pid. A LOCK
// whose process is gone (a crash) is taken over; one whose process lives (this one included: the same
// store opened twice) is EBUSY. Closing the store removes it.
import type { Dir } from '../storage/dir.js';
import type { File } from '../storage/file.js';
import { isCode, storageError } from '../storage/errors.js';

export const LOCK_NAME = 'LOCK';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function holder(dir: Dir): Promise<number | undefined> {
  const file = await dir.openFile(LOCK_NAME);
  try {
    const bytes = Buffer.alloc(Math.min(64, await file.size()));
    await file.read(0, bytes);
    const pid = Number(bytes.toString('utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } finally {
    await file.close();
  }
}

export async function lockStore(dir: Dir): Promise<void> {
  const content = Buffer.from(`${process.pid}\n`);
  let file: File;
  try {
    file = await dir.createFile(LOCK_NAME);
  } catch (error) {
    if (!isCode(error, 'EEXIST')) throw error;
    const pid = await holder(dir).catch(() => undefined);
    if (pid !== undefined && alive(pid)) {
      const who = pid === process.pid ? ' (this one)' : '';
      throw storageError('EBUSY', `the LSM store is open in process ${pid}${who}; close it there first`, { path: dir.path });
    }
    // the holder is gone (a crash): take the lock over
    await (await dir.flushWrite(LOCK_NAME, content)).close();
    return;
  }
  try {
    await file.append(content);
  } finally {
    await file.close();
  }
}

export async function unlockStore(dir: Dir): Promise<void> {
  await dir.deleteFile(LOCK_NAME).catch((error: unknown) => {
    if (!isCode(error, 'ENOENT')) throw error;
  });
}
