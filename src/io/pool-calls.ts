// The calls both IO engines make on the libuv thread pool (the native addon's blocking calls), written
// once: io_uring has no opcode for them (or none the engines use), and the sync engine runs everything
// there. A pool call is counted in flight until it settles and refused once the engine is closing; closing
// waits until the engine is idle, which each engine defines (its pool calls, and the io_uring engine's ring).
// A descriptor an open in flight gives after the close began is closed here, and the open fails (EBADF):
// nobody could close it through the closed engine.
import fs from 'node:fs';

import { storageError, toStorageError } from '../ground/errors.js';
import type { SetTime } from '../ground/set-time.js';
import type { Stat } from './engine.js';
import { statxOfCachedName, statxOfDescriptor } from './statx.js';
import * as pool from './thread-pool.js';

/** The error of an open that gave its descriptor after the engine began to close (the descriptor is closed). */
export const closedWhileOpening = (syscall: string, path: string) =>
  storageError('EBADF', 'the IO engine closed while this open was in flight: the descriptor it gave is closed (a file it made stays)', {
    syscall,
    path,
  });

/** A node:fs callback. */
export type Callback<T> = (error: NodeJS.ErrnoException | null, value: T) => void;

export abstract class PoolCalls {
  /** Set once the engine begins to close: every call after it is refused with EBADF. */
  protected closed = false;
  /** Thread-pool calls in flight. */
  protected poolCalls = 0;
  private drained: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  /** Whether no call of the engine is in flight. */
  protected abstract idle(): boolean;

  /** Runs `call` on the pool as `syscall`, counted until it settles; EBADF once the engine is closed. */
  protected pooled<T>(syscall: string, call: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(storageError('EBADF', 'the IO engine is closed', { syscall }));
    this.poolCalls++;
    return call().finally(() => {
      this.poolCalls--;
      this.checkDrained();
    });
  }

  /**
   * Runs `call`, a node:fs call (libuv's own request on its pool), as `syscall`: counted as pooled() counts,
   * settled from its callback (no promise of its own to wait on, no finally). An argument node:fs refuses
   * before queueing anything (it throws) is EINVAL, and nothing is left counted.
   */
  protected fsCall<T>(syscall: string, call: (done: Callback<T>) => void): Promise<T> {
    if (this.closed) return Promise.reject(storageError('EBADF', 'the IO engine is closed', { syscall }));
    return new Promise<T>((resolve, reject) => {
      try {
        call((error, value) => {
          this.poolCalls--;
          if (error) reject(toStorageError(error, syscall));
          else resolve(value);
          this.checkDrained();
        });
      } catch (error) {
        reject(storageError('EINVAL', `bad arguments: ${(error as Error).message}`, { syscall }));
        return;
      }
      this.poolCalls++;
    });
  }

  /** pwrite(2) of `buffer[offset, offset + length)` at `position` on the pool (node:fs). */
  protected poolWrite(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.fsCall('write', (done) => fs.write(fd, buffer, offset, length, position, done));
  }

  /** pwritev(2) of `buffers` at `position` on the pool (node:fs). */
  protected poolWritev(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number> {
    return this.fsCall('writev', (done) => fs.writev(fd, buffers as NodeJS.ArrayBufferView[], position, done));
  }

  /**
   * Runs `call`, an open on the pool giving a descriptor (`fdOf` finds it in its value), as pooled() does;
   * if the engine began to close while it ran, the descriptor is closed (closeLate) and the call fails with
   * EBADF.
   */
  protected pooledOpen<T>(syscall: string, path: string, fdOf: (value: T) => number, call: () => Promise<T>): Promise<T> {
    return this.pooled(syscall, async () => {
      const value = await call();
      if (!this.closed) return value;
      this.closeLate(fdOf(value));
      throw closedWhileOpening(syscall, path);
    });
  }

  /**
   * Closes `fd`, which an open (on the ring or the pool) gave after the engine began to close: on the pool,
   * counted as a pool call from now (before the open's own count ends), so the close waits for it.
   */
  protected closeLate(fd: number): void {
    this.poolCalls++;
    fs.close(fd, () => {
      this.poolCalls--;
      this.checkDrained();
    });
  }

  /** A call has settled: wakes closeOnce() if it was the last. */
  protected checkDrained(): void {
    if (this.drained && this.idle()) this.drained();
  }

  /**
   * Refuses new calls, then waits until those in flight have settled, and runs `last` (the engine's own
   * teardown) once. Every close() gets this one promise, so a second close waits for the first.
   */
  protected closeOnce(last: () => void = () => {}): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      if (!this.idle()) await new Promise<void>((resolve) => (this.drained = resolve));
      last();
    })();
    return this.closing;
  }

  /**
   * The statx of an open descriptor (name ''), or of a name the dentry cache has, on this thread
   * (statxOfDescriptor, statxOfCachedName): no IO to wait for, no hop. Undefined: not cached, ask the kernel
   * the slow way.
   */
  protected statHere(dirfd: number, name: string): Promise<Stat> | undefined {
    if (this.closed) return Promise.reject(storageError('EBADF', 'the IO engine is closed', { syscall: 'statx', path: name }));
    try {
      if (name === '') return Promise.resolve(statxOfDescriptor(dirfd));
      const stat = statxOfCachedName(dirfd, name);
      return stat && Promise.resolve(stat);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async createFile(dirfd: number, name: string, flags: number, mode: number, umask: number): Promise<{ fd: number; stat: Stat }> {
    const made = await this.pooledOpen(
      'openat2',
      name,
      (value) => value.fd,
      () => pool.createFile(dirfd, name, flags, mode, umask),
    );
    this.opened(made.fd, flags);
    return made;
  }

  /** A descriptor this engine opened with `flags`: the io_uring engine keeps those opened O_DIRECT. */
  protected opened(_fd: number, _flags: number): void {}

  mknodat(dirfd: number, name: string, mode: number, device: number): Promise<void> {
    return this.pooled('mknodat', () => pool.mknodat(dirfd, name, mode, device));
  }
  readlinkat(dirfd: number, name: string): ReturnType<typeof pool.readlinkat> {
    return this.pooled('readlinkat', () => pool.readlinkat(dirfd, name));
  }
  readdir(dirfd: number): ReturnType<typeof pool.readdir> {
    return this.pooled('readdir', () => pool.readdir(dirfd));
  }
  fchmod(fd: number, mode: number): Promise<void> {
    return this.pooled('fchmod', () => pool.fchmod(fd, mode));
  }
  fchown(fd: number, uid: number, gid: number): Promise<void> {
    return this.pooled('fchown', () => pool.fchown(fd, uid, gid));
  }
  futimens(fd: number, atime: SetTime, mtime: SetTime): Promise<void> {
    return this.pooled('futimens', () => pool.futimens(fd, atime, mtime));
  }
  lchmod(dirfd: number, name: string, mode: number): Promise<void> {
    return this.pooled('fchmodat2', () => pool.lchmod(dirfd, name, mode));
  }
  lchown(dirfd: number, name: string, uid: number, gid: number): Promise<void> {
    return this.pooled('fchownat', () => pool.lchown(dirfd, name, uid, gid));
  }
  lutimes(dirfd: number, name: string, atime: SetTime, mtime: SetTime): Promise<void> {
    return this.pooled('utimensat', () => pool.lutimes(dirfd, name, atime, mtime));
  }
  getxattr(fd: number, entry: string, name: string): Promise<Buffer> {
    return this.pooled('getxattr', () => pool.getxattr(fd, entry, name));
  }
  setxattr(fd: number, entry: string, name: string, value: Uint8Array, flags: number): Promise<void> {
    return this.pooled('setxattr', () => pool.setxattr(fd, entry, name, value, flags));
  }
  listxattr(fd: number, entry: string): ReturnType<typeof pool.listxattr> {
    return this.pooled('listxattr', () => pool.listxattr(fd, entry));
  }
  removexattr(fd: number, entry: string, name: string): Promise<void> {
    return this.pooled('removexattr', () => pool.removexattr(fd, entry, name));
  }
  lseek(fd: number, offset: number, whence: number): Promise<number> {
    return this.pooled('lseek', () => pool.lseek(fd, offset, whence));
  }
  copyFileRange(fdIn: number, offsetIn: number, fdOut: number, offsetOut: number, length: number): Promise<number> {
    return this.pooled('copy_file_range', () => pool.copyFileRange(fdIn, offsetIn, fdOut, offsetOut, length));
  }
  fstatfs(fd: number): ReturnType<typeof pool.fstatfs> {
    return this.pooled('fstatfs', () => pool.fstatfs(fd));
  }
}
