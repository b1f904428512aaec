// The synchronous (nonblocking) IO mode of the seed: every call is an ordinary blocking system call run on
// the libuv thread pool, so the event loop never waits. Data calls go through node:fs on descriptors; the
// calls node:fs has no form for (openat2 beneath a root, *at names, statx) go through the native addon.
import fs from 'node:fs';

import { storageError, toStorageError } from '../ground/errors.js';
import type { IoEngine, SetTime } from './engine.js';
import * as pool from './thread-pool.js';

type Callback<T> = (error: NodeJS.ErrnoException | null, value: T) => void;

export class SyncEngine implements IoEngine {
  readonly mode = 'sync' as const;
  private inflight = 0;
  private closed = false;
  private drained: (() => void) | undefined;

  private track<T>(syscall: string, start: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(storageError('EBADF', 'the IO engine is closed', { syscall }));
    this.inflight++;
    return start().finally(() => {
      if (--this.inflight === 0 && this.drained) this.drained();
    });
  }

  private fsCall<T>(syscall: string, call: (done: Callback<T>) => void): Promise<T> {
    return this.track(
      syscall,
      () =>
        new Promise<T>((resolve, reject) =>
          call((error, value) => (error ? reject(toStorageError(error, syscall)) : resolve(value))),
        ),
    );
  }

  openat(dirfd: number, path: string, flags: number, mode: number): Promise<number> {
    return this.track('openat2', () => pool.openat(dirfd, path, flags, mode));
  }
  closeFd(fd: number): Promise<void> {
    return this.fsCall('close', (done) => fs.close(fd, (e) => done(e, undefined)));
  }
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.fsCall('read', (done) => fs.read(fd, buffer, offset, length, position, done));
  }
  readv(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number> {
    return this.fsCall('readv', (done) => fs.readv(fd, buffers as NodeJS.ArrayBufferView[], position, done));
  }
  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.fsCall('write', (done) => fs.write(fd, buffer, offset, length, position, done));
  }
  writev(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number> {
    return this.fsCall('writev', (done) => fs.writev(fd, buffers as NodeJS.ArrayBufferView[], position, done));
  }
  fsync(fd: number, datasync: boolean): Promise<void> {
    return this.fsCall(datasync ? 'fdatasync' : 'fsync', (done) =>
      (datasync ? fs.fdatasync : fs.fsync)(fd, (e) => done(e, undefined)),
    );
  }
  statx(dirfd: number, name: string) {
    return this.track('statx', () => pool.statx(dirfd, name));
  }
  renameat(fromDir: number, from: string, toDir: number, to: string, flags: number) {
    return this.track('renameat2', () => pool.renameat(fromDir, from, toDir, to, flags));
  }
  unlinkat(dirfd: number, name: string, flags: number) {
    return this.track('unlinkat', () => pool.unlinkat(dirfd, name, flags));
  }
  mkdirat(dirfd: number, name: string, mode: number) {
    return this.track('mkdirat', () => pool.mkdirat(dirfd, name, mode));
  }
  mknodat(dirfd: number, name: string, mode: number, device: number) {
    return this.track('mknodat', () => pool.mknodat(dirfd, name, mode, device));
  }
  symlinkat(target: string, dirfd: number, name: string) {
    return this.track('symlinkat', () => pool.symlinkat(target, dirfd, name));
  }
  linkat(fromDir: number, from: string, toDir: number, to: string) {
    return this.track('linkat', () => pool.linkat(fromDir, from, toDir, to));
  }
  readlinkat(dirfd: number, name: string) {
    return this.track('readlinkat', () => pool.readlinkat(dirfd, name));
  }
  readdir(dirfd: number) {
    return this.track('readdir', () => pool.readdir(dirfd));
  }
  fchmod(fd: number, mode: number) {
    return this.track('fchmod', () => pool.fchmod(fd, mode));
  }
  fchown(fd: number, uid: number, gid: number) {
    return this.track('fchown', () => pool.fchown(fd, uid, gid));
  }
  futimens(fd: number, atime: SetTime, mtime: SetTime) {
    return this.track('futimens', () => pool.futimens(fd, atime, mtime));
  }
  fallocate(fd: number, mode: number, offset: number, length: number) {
    return this.track('fallocate', () => pool.fallocate(fd, mode, offset, length));
  }
  lseek(fd: number, offset: number, whence: number) {
    return this.track('lseek', () => pool.lseek(fd, offset, whence));
  }
  copyFileRange(fdIn: number, offsetIn: number, fdOut: number, offsetOut: number, length: number) {
    return this.track('copy_file_range', () => pool.copyFileRange(fdIn, offsetIn, fdOut, offsetOut, length));
  }
  ftruncate(fd: number, length: number) {
    return this.track('ftruncate', () => pool.ftruncate(fd, length));
  }
  lchmod(dirfd: number, name: string, mode: number): Promise<void> {
    return this.track('fchmodat2', () => pool.lchmod(dirfd, name, mode));
  }
  lchown(dirfd: number, name: string, uid: number, gid: number): Promise<void> {
    return this.track('fchownat', () => pool.lchown(dirfd, name, uid, gid));
  }
  lutimes(dirfd: number, name: string, atime: SetTime, mtime: SetTime): Promise<void> {
    return this.track('utimensat', () => pool.lutimes(dirfd, name, atime, mtime));
  }
  getxattr(fd: number, entry: string, name: string): Promise<Buffer> {
    return this.track('getxattr', () => pool.getxattr(fd, entry, name));
  }
  setxattr(fd: number, entry: string, name: string, value: Uint8Array, flags: number): Promise<void> {
    return this.track('setxattr', () => pool.setxattr(fd, entry, name, value, flags));
  }
  listxattr(fd: number, entry: string): Promise<string[]> {
    return this.track('listxattr', () => pool.listxattr(fd, entry));
  }
  removexattr(fd: number, entry: string, name: string): Promise<void> {
    return this.track('removexattr', () => pool.removexattr(fd, entry, name));
  }
  fstatfs(fd: number) {
    return this.track('fstatfs', () => pool.fstatfs(fd));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
  }
}
