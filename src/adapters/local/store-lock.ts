// One owner per store. A local storage holds a lock on the lock file at its root for its whole life:
// exclusive for a writer, shared for a read-only opener. The lock is flock(2) on the open file description,
// so a second opener is refused whether it is another process or another Storage in this one, and the lock
// goes with the process when it dies (no stale lock to guess about). The writer records its pid in the
// file, so a refused opener can say who holds the store.
import { O, type IoEngine } from '../../io/engine.js';
import { native } from '../../io/native.js';
import type { Logger } from '../../log.js';
import { isCode, storageError } from '../../ground/errors.js';
import { LOCK_NAME } from '../../ground/reserved-names.js';
import { kindOfMode } from '../adapter.js';

const EWOULDBLOCK = 11;
/** How long a refused opener waits for the writer to record its pid: 20 x 10 ms. */
const PID_RETRIES = 20;
const PID_RETRY_MS = 10;

/** What to say when the root cannot be written: a writer needs to, a reader can open read-only. */
export function mustWrite(code: string): string | undefined {
  if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') return undefined;
  return 'a storage must be able to write in its root (open it with readOnly: true to read it as it is)';
}

export interface StoreLock {
  readonly exclusive: boolean;
  release(): Promise<void>;
}

/** The pid the lock file names now, or undefined when it names none. */
async function pidInFile(engine: IoEngine, fd: number): Promise<number | undefined> {
  const buffer = Buffer.alloc(32);
  const length = await engine.read(fd, buffer, 0, buffer.length, 0).catch(() => 0);
  const pid = Number(buffer.toString('utf8', 0, length).trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * The writer's pid. A writer records it just after taking the lock, so a refused opener that reads the
 * file in between finds it empty: it looks again for a short while before saying it does not know.
 */
async function holderPid(engine: IoEngine, fd: number): Promise<number | undefined> {
  for (let attempt = 0; ; attempt++) {
    const pid = await pidInFile(engine, fd);
    if (pid !== undefined || attempt === PID_RETRIES) return pid;
    await new Promise((resolve) => setTimeout(resolve, PID_RETRY_MS));
  }
}

function busy(rootPath: string, wanted: string, holder: string): Error {
  return storageError('EBUSY', `cannot open the store ${wanted}`, {
    path: rootPath,
    hint: `${holder}; a store has one owner at a time (its lock is ${LOCK_NAME}): close it there first (read-only opens share a store with other readers only)`,
  });
}

function describeHolder(pid: number | undefined): string {
  if (pid === undefined) return 'another opener has it open for writing';
  return pid === process.pid ? `this process (pid ${pid}) already has it open for writing` : `process ${pid} has it open for writing`;
}

/** Opens the lock file (never through a symlink, never a FIFO's wait), creating it when allowed. */
async function openLockFile(engine: IoEngine, rootFd: number, exclusive: boolean): Promise<number | undefined> {
  const flags = (exclusive ? O.RDWR : O.RDONLY) | O.NOFOLLOW | O.NONBLOCK | O.CLOEXEC;
  try {
    return await engine.openat(rootFd, LOCK_NAME, flags | O.CREAT, 0o644);
  } catch (error) {
    // a reader of a store it may not write (another user's, or on read-only media) and no lock file yet
    if (exclusive || !(isCode(error, 'EACCES') || isCode(error, 'EROFS'))) throw error;
    try {
      return await engine.openat(rootFd, LOCK_NAME, flags, 0);
    } catch (again) {
      if (isCode(again, 'ENOENT')) return undefined;
      throw again;
    }
  }
}

/**
 * Takes the store's lock: exclusive for a writer, shared for a read-only opener. EBUSY, naming the
 * holder, when the store is owned already.
 */
export async function lockStore(engine: IoEngine, rootFd: number, rootPath: string, exclusive: boolean, logger?: Logger): Promise<StoreLock> {
  let fd: number | undefined;
  try {
    fd = await openLockFile(engine, rootFd, exclusive);
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'EIO';
    throw storageError(code, `cannot open the store's lock file ${LOCK_NAME} in the storage root`, { path: rootPath, cause: error, hint: mustWrite(code) });
  }
  if (fd === undefined) {
    logger?.warn({ root: rootPath }, `no ${LOCK_NAME} in a store this process may not write: opened read-only without a lock`);
    return { exclusive: false, release: async () => undefined };
  }
  const lockFd = fd;
  try {
    const stat = await engine.statx(lockFd, '');
    if (kindOfMode(stat.mode) !== 'file') {
      throw storageError('EINVAL', `${LOCK_NAME} is not a regular file; it belongs to persistfs: move it away`, { path: rootPath });
    }
    const rc = native.flock(lockFd, exclusive);
    if (rc === -EWOULDBLOCK) throw await refusal(engine, lockFd, rootPath, exclusive);
    if (rc < 0) throw storageError('EIO', `flock of ${LOCK_NAME} failed (errno ${-rc})`, { path: rootPath, syscall: 'flock' });
    if (exclusive) {
      await engine.ftruncate(lockFd, 0);
      const pid = Buffer.from(`${process.pid}\n`);
      await engine.write(lockFd, pid, 0, pid.length, 0);
    }
  } catch (error) {
    await engine.closeFd(lockFd).catch(() => undefined);
    throw error;
  }
  return { exclusive, release: () => engine.closeFd(lockFd) };
}

/** Why a lock was refused: a writer (named by its pid), or readers when a writer was wanted. */
async function refusal(engine: IoEngine, fd: number, rootPath: string, exclusive: boolean): Promise<Error> {
  if (!exclusive) return busy(rootPath, 'read-only', describeHolder(await holderPid(engine, fd)));
  // A shared lock succeeds only when no writer holds the file: then the holders are readers.
  if (native.flock(fd, false) === 0) return busy(rootPath, 'for writing', 'it is open read-only by other openers');
  return busy(rootPath, 'for writing', describeHolder(await holderPid(engine, fd)));
}
