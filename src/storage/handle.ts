// What every open handle (File, Dir) shares: an open/closed state, a count of calls in progress so that
// close() waits for them, and the rewriting of errors with the storage-relative path.
import { storageError, toStorageError, type StorageError } from './errors.js';
import { joinPath } from './names.js';

export abstract class Handle {
  private inflight = 0;
  private idle: (() => void) | undefined;
  protected closed = false;

  abstract get path(): string;

  protected closedError(what: string) {
    return storageError('EBADF', `${what} on a closed handle`, { path: this.path });
  }

  /**
   * Runs `work` as one call on this handle: refused once closed, counted, and its errors labelled with
   * the storage-relative path of the handle, or of its entry `name` for a directory.
   */
  protected async call<T>(what: string, work: () => Promise<T>, name?: string): Promise<T> {
    if (this.closed) throw this.closedError(what);
    this.inflight++;
    try {
      return await work();
    } catch (error) {
      throw labelled(error, what, name === undefined ? this.path : joinPath(this.path, name), this.path);
    } finally {
      if (--this.inflight === 0 && this.idle) this.idle();
    }
  }

  /** Marks the handle closed and waits for the calls already running. */
  protected async settle(): Promise<void> {
    this.closed = true;
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** `error` as a StorageError that names `path` (the engine below only knew a descriptor or a name). */
export function labelled(error: unknown, what: string, path: string, handlePath: string): StorageError {
  const e = toStorageError(error, what, path);
  const where = path === '' ? '/' : path;
  if (e.path === where) return e;
  // the storage layer's own errors already name a full path below this handle
  if (e.syscall === undefined && e.path !== undefined && (handlePath === '' || e.path.startsWith(`${handlePath}/`))) return e;
  return storageError(e.code, what, { syscall: e.syscall, path: where, cause: e });
}
