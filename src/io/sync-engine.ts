// The synchronous (nonblocking) IO mode of the seed: every call is an ordinary blocking system call run on
// the libuv thread pool, so the event loop never waits. Data calls go through node:fs on descriptors; the
// calls node:fs has no form for (openat2 beneath a root, *at names, statx) go through the native addon.
import fs from 'node:fs';

import type { IoEngine } from './engine.js';
import { PoolCalls } from './pool-calls.js';
import * as pool from './thread-pool.js';

export class SyncEngine extends PoolCalls implements IoEngine {
  readonly mode = 'sync' as const;

  /** Every call of this engine is a pool call. */
  protected idle(): boolean {
    return this.poolCalls === 0;
  }

  openat(dirfd: number, path: string, flags: number, mode: number): Promise<number> {
    return this.pooledOpen(
      'openat2',
      path,
      (fd) => fd,
      () => pool.openat(dirfd, path, flags, mode),
    );
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
    return this.poolWrite(fd, buffer, offset, length, position);
  }
  writev(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number> {
    return this.poolWritev(fd, buffers, position);
  }
  fsync(fd: number, datasync: boolean): Promise<void> {
    return this.fsCall(datasync ? 'fdatasync' : 'fsync', (done) => (datasync ? fs.fdatasync : fs.fsync)(fd, (e) => done(e, undefined)));
  }
  statx(dirfd: number, name: string) {
    const here = this.statHere(dirfd, name);
    if (here) return here;
    return this.pooled('statx', () => pool.statx(dirfd, name));
  }
  renameat(fromDir: number, from: string, toDir: number, to: string, flags: number) {
    return this.pooled('renameat2', () => pool.renameat(fromDir, from, toDir, to, flags));
  }
  unlinkat(dirfd: number, name: string, flags: number) {
    return this.pooled('unlinkat', () => pool.unlinkat(dirfd, name, flags));
  }
  mkdirat(dirfd: number, name: string, mode: number) {
    return this.pooled('mkdirat', () => pool.mkdirat(dirfd, name, mode));
  }
  symlinkat(target: string, dirfd: number, name: string) {
    return this.pooled('symlinkat', () => pool.symlinkat(target, dirfd, name));
  }
  linkat(fromDir: number, from: string, toDir: number, to: string, flags = 0) {
    return this.pooled('linkat', () => pool.linkat(fromDir, from, toDir, to, flags));
  }
  fallocate(fd: number, mode: number, offset: number, length: number) {
    return this.pooled('fallocate', () => pool.fallocate(fd, mode, offset, length));
  }
  ftruncate(fd: number, length: number) {
    return this.pooled('ftruncate', () => pool.ftruncate(fd, length));
  }

  close(): Promise<void> {
    return this.closeOnce();
  }
}
