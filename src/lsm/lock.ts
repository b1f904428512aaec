// One process at a time opens a store for writing. LOCK holds "<pid> <token>", the token being this
// process's own random id; it appears whole and only if absent (written to a temporary file, then
// hard-linked into place: the link fails with EEXIST when LOCK exists). An existing LOCK is:
// - this process's token: the store is open here already (EBUSY);
// - another live pid: open there (EBUSY);
// - a dead pid, or our pid with another token (a restart that got the same pid, as in a container), or
//   unreadable: left by a crash, taken over.
// Closing the store removes LOCK. Two processes taking over the same stale LOCK at the same instant are
// not told apart (both may win): stale locks are rare and only follow a crash.
import { randomUUID } from 'node:crypto';

import type { Dir } from '../storage/dir.js';
import { isCode, storageError } from '../ground/errors.js';
import { lockAsideName, LOCK_NAME } from './file-names.js';

const TOKEN = randomUUID();

/** Whether a process `pid` runs (on this machine). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid and token LOCK holds, or undefined when it cannot be read or parsed. */
async function holder(dir: Dir): Promise<{ pid: number; token: string } | undefined> {
  const bytes = await dir.readFileIfExists(LOCK_NAME).catch(() => undefined);
  if (bytes === undefined) return undefined;
  const [pid, token] = bytes.subarray(0, 128).toString('utf8').trim().split(' ');
  const number = Number(pid);
  return Number.isSafeInteger(number) && number > 0 && token ? { pid: number, token } : undefined;
}

/** Links a LOCK naming this process into place; false when one exists already. */
async function place(dir: Dir): Promise<boolean> {
  const temporary = lockAsideName(process.pid, TOKEN);
  await (await dir.flushWrite(temporary, Buffer.from(`${process.pid} ${TOKEN}\n`))).close();
  try {
    await dir.link(temporary, dir, LOCK_NAME);
    await dir.sync();
    return true;
  } catch (error) {
    if (isCode(error, 'EEXIST')) return false;
    throw error;
  } finally {
    await dir.deleteFile(temporary).catch(() => undefined);
  }
}

export async function lockStore(dir: Dir): Promise<void> {
  if (await place(dir)) return;
  const held = await holder(dir);
  if (held?.token === TOKEN) throw storageError('EBUSY', 'the LSM store is open in this process already; close it first', { path: dir.path });
  if (held !== undefined && held.pid !== process.pid && alive(held.pid)) {
    throw storageError('EBUSY', `the LSM store is open in process ${held.pid}; close it there first`, { path: dir.path });
  }
  // left by a crash: take it over
  await dir.deleteFile(LOCK_NAME).catch((error: unknown) => {
    if (!isCode(error, 'ENOENT')) throw error;
  });
  if (!(await place(dir))) throw storageError('EBUSY', 'another process took the LSM store over at the same time', { path: dir.path });
}

export async function unlockStore(dir: Dir): Promise<void> {
  await dir.deleteFile(LOCK_NAME).catch((error: unknown) => {
    if (!isCode(error, 'ENOENT')) throw error;
  });
}
