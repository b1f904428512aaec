// What every open handle (File, Dir) shares: an open/closed state, a count of calls in progress so that
// close() waits for them, and the rewriting of errors with the storage-relative path.
import type { AttributeNode, XattrNode } from '../adapters/adapter.js';
import type { SetTime } from '../ground/set-time.js';
import { checkTimes } from './times.js';
import { storageError, toStorageError, tracedLike, type StorageError } from '../ground/errors.js';
import { decodeName, nameByteLength, printableName, publicName } from '../ground/name-bytes.js';
import { joinPath, toNameString, type Name } from './names.js';

export abstract class Handle {
  private inflight = 0;
  private idle: (() => void) | undefined;
  protected closed = false;

  abstract get path(): string;

  /** Whether the storage was opened read-only. */
  protected abstract get readOnly(): boolean;

  protected closedError(what: string) {
    return storageError('EBADF', `${what} on a closed handle`, { path: this.path });
  }

  /** EROFS for a change on a read-only storage, before anything is done. */
  protected writable(what: string): void {
    if (this.readOnly) {
      throw storageError('EROFS', `${what}: the storage was opened read-only (readOnly: true)`, { path: this.path === '' ? '/' : this.path });
    }
  }

  /**
   * Runs `work` as one call on this handle: refused once closed, counted, and its errors labelled with
   * the storage-relative path of the handle, or of its entry `name` for a directory.
   */
  protected call<T>(what: string, work: () => Promise<T>, name?: string): Promise<T> {
    return this.counted(what, work, (error) => labelled(error, what, name === undefined ? this.path : joinPath(this.path, name), this.path));
  }

  /**
   * Runs `work` counted as a call on this handle (refused once closed; close() waits for it), leaving
   * its errors as they are: for a call another handle makes with this one, which labels them itself (a
   * copy holds its source open, so its descriptor cannot be closed and reused under the copy).
   */
  protected hold<T>(what: string, work: () => Promise<T>): Promise<T> {
    return this.counted(what, work, (error) => error);
  }

  /** `work` counted while it runs, its errors (a throw before it returns a promise included) passed through `relabel`. */
  private counted<T>(what: string, work: () => Promise<T>, relabel: (error: unknown) => unknown): Promise<T> {
    if (this.closed) return Promise.reject(relabel(this.closedError(what)));
    this.inflight++;
    let running: Promise<T>;
    try {
      running = work();
    } catch (error) {
      running = Promise.reject(error);
    }
    return running.then(
      (value) => {
        this.left();
        return value;
      },
      (error: unknown) => {
        this.left();
        throw relabel(error);
      },
    );
  }

  private left(): void {
    if (--this.inflight === 0 && this.idle) this.idle();
  }

  /** The file or directory this handle has open: its owner, times and extended attributes. */
  protected abstract get attributeNode(): AttributeNode;

  chown(uid: number, gid: number): Promise<void> {
    return this.call('chown', async () => {
      this.writable('chown');
      await this.attributeNode.chown(uid, gid);
    });
  }

  /** Sets access and modification times: ns since the epoch (bigint), 'now', or 'omit' to leave one. */
  utimes(atime: SetTime, mtime: SetTime): Promise<void> {
    return this.call('utimes', async () => {
      this.writable('utimes');
      checkTimes(atime, mtime);
      await this.attributeNode.utimes(atime, mtime);
    });
  }

  /** The value of the extended attribute `name` (ENODATA when it has none). */
  getXattr(name: Name): Promise<Buffer> {
    return this.xattrGet(() => this.attributeNode, name);
  }

  /** Sets an extended attribute; `only` 'create' fails with EEXIST, 'replace' with ENODATA. */
  setXattr(name: Name, value: Uint8Array, only?: 'create' | 'replace'): Promise<void> {
    return this.xattrSet(() => this.attributeNode, name, value, only);
  }

  /** The attribute names: strings when they are UTF-8, their bytes otherwise. */
  listXattrs(): Promise<Array<string | Buffer>> {
    return this.xattrList(() => this.attributeNode);
  }

  removeXattr(name: Name): Promise<void> {
    return this.xattrRemove(() => this.attributeNode, name);
  }

  // The checked calls, for this handle's own attributes and (Dir) for those of an entry.
  protected xattrGet(target: () => XattrNode, name: Name, entry?: string): Promise<Buffer> {
    return this.call('getxattr', async () => target().getXattr(checkXattrName(name)), entry);
  }

  protected xattrSet(target: () => XattrNode, name: Name, value: Uint8Array, only: 'create' | 'replace' | undefined, entry?: string): Promise<void> {
    return this.call(
      'setxattr',
      async () => {
        const checked = checkXattrName(name);
        if (!(value instanceof Uint8Array)) throw storageError('EINVAL', 'an attribute value must be a Buffer or Uint8Array');
        if (value.length > XATTR_SIZE_MAX) throw storageError('E2BIG', `an attribute value is at most ${XATTR_SIZE_MAX} bytes`);
        if (only !== undefined && only !== 'create' && only !== 'replace') throw storageError('EINVAL', `only must be 'create' or 'replace'`);
        this.writable('setxattr');
        await target().setXattr(checked, value, only === 'create' ? 1 : only === 'replace' ? 2 : 0);
      },
      entry,
    );
  }

  protected xattrList(target: () => XattrNode, entry?: string): Promise<Array<string | Buffer>> {
    return this.call('listxattr', async () => (await target().listXattrs()).map(publicName), entry);
  }

  protected xattrRemove(target: () => XattrNode, name: Name, entry?: string): Promise<void> {
    return this.call(
      'removexattr',
      async () => {
        const checked = checkXattrName(name);
        this.writable('removexattr');
        await target().removeXattr(checked);
      },
      entry,
    );
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

const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;

function checkXattrName(value: unknown): string {
  const name = toNameString(value, 'an attribute name');
  if (name === '' || name.includes('\0')) throw storageError('EINVAL', 'an attribute name must be non-empty and hold no NUL byte');
  if (nameByteLength(name) > XATTR_NAME_MAX) throw storageError('ERANGE', `an attribute name is at most ${XATTR_NAME_MAX} bytes`);
  return name;
}

/** A caller's name for labelling errors, whatever it is (the checks that refuse bad names come after). */
export function labelOf(name: Name): string {
  return typeof name === 'string' ? name : name instanceof Uint8Array ? decodeName(name) : String(name);
}

/** `error` as a StorageError that names `path` (the engine below only knew a descriptor or a name). */
export function labelled(error: unknown, what: string, path: string, handlePath: string): StorageError {
  const e = toStorageError(error, what, path);
  const where = printableName(path === '' ? '/' : path);
  if (e.path === where) return e;
  // the storage layer's own errors already name a full path below this handle
  if (e.syscall === undefined && e.path !== undefined && (handlePath === '' || e.path.startsWith(`${printableName(handlePath)}/`))) return e;
  return tracedLike(e, () => storageError(e.code, what, { syscall: e.syscall, path: where, cause: e }));
}
