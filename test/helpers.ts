// Test helpers: temporary directories removed after each test, and the backends every conformance test
// runs against (each adapter x IO mode).
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'tape';

import { O, type IoEngine } from '../src/io/engine.js';
import { openStorage, type Storage, type StorageOptions } from '../src/index.js';
import { ceph, freshPrefix } from './remote/ceph.js';

export interface Backend {
  name: string;
  options: StorageOptions;
  local: boolean;
  /** an object store behind the storage (a real Ceph radosgw, started by the first test that needs it) */
  remote?: boolean;
}

export const BACKENDS: Backend[] = [
  { name: 'local/io_uring', options: { config: { ioMode: 'io_uring', logLevel: 'warn' } }, local: true },
  { name: 'local/sync', options: { config: { ioMode: 'sync', logLevel: 'warn' } }, local: true },
  { name: 'memory', options: { adapter: 'memory', config: { logLevel: 'warn' } }, local: false },
];

export const LOCAL_MODES = BACKENDS.filter((backend) => backend.local);

/** The S3 adapter on Ceph: POSIX where S3 allows it (no links, special files, xattrs; renames copy). */
export const S3_BACKEND: Backend = { name: 's3', options: { adapter: 's3', config: { logLevel: 'warn' } }, local: false, remote: true };

/** The tiered adapter: that bucket with a local cache directory in front (a small cache, small blocks). */
export const TIERED_BACKEND: Backend = { name: 'tiered', options: { adapter: 'tiered', config: { logLevel: 'warn' } }, local: false, remote: true };

/** Every adapter the storage API's conformance tests run on: the local and in-memory ones, S3, and tiered. */
export const CONFORMANCE: Backend[] = [...BACKENDS, S3_BACKEND, TIERED_BACKEND];

/** A new empty directory, removed when the test ends (pass or fail). */
export function tempDir(t: test.Test, prefix = 'persistfs-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
  return dir;
}

/**
 * `name` in directory `dirfd` opened by `engine` with O_DIRECT (and `flags`), or undefined, the test then
 * skipped, where the file system refuses O_DIRECT (EINVAL: tmpfs before Linux 6.6, when the temporary
 * directory is on one).
 */
export async function openDirect(t: test.Test, engine: IoEngine, dirfd: number, name: string, flags: number = O.RDWR): Promise<number | undefined> {
  try {
    return await engine.openat(dirfd, name, flags | O.DIRECT, 0);
  } catch (error) {
    if ((error as { code?: string }).code !== 'EINVAL') throw error;
    t.skip(`the file system of ${os.tmpdir()} refuses O_DIRECT`);
    return undefined;
  }
}

/** A tmpfs of `size` bytes, lazily unmounted and removed when the test ends (open descriptors do not block it). */
export function mountTmpfs(t: test.Test, size: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'persistfs-test', dir]);
  t.teardown(() => {
    execFileSync('umount', ['-l', dir]);
    fs.rmdirSync(dir);
  });
  return dir;
}

/** A storage on a fresh temporary root, closed when the test ends. */
export async function freshStorage(t: test.Test, backend: Backend): Promise<{ storage: Storage; root: string }> {
  if (backend.remote) {
    const cluster = await ceph();
    const prefix = freshPrefix();
    const root = `s3://${cluster.bucket}/${prefix}`;
    const cacheDir = backend.options.adapter === 'tiered' ? fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-cache-')) : undefined;
    const tiered = cacheDir === undefined ? undefined : { cacheDir, cacheSize: 256 * 1024, blockSize: 16 * 1024 };
    const storage = await openStorage(root, { ...backend.options, s3: cluster.options(prefix), tiered }).catch((error) => {
      if (cacheDir !== undefined) fs.rmSync(cacheDir, { recursive: true, force: true });
      throw error;
    });
    // the cache directory goes after the storage has closed (teardowns run in the order they are added)
    t.teardown(async () => {
      try {
        await storage.close();
      } finally {
        if (cacheDir !== undefined) fs.rmSync(cacheDir, { recursive: true, force: true });
      }
    });
    return { storage, root };
  }
  const root = tempDir(t);
  const storage = await openStorage(root, backend.options);
  t.teardown(() => storage.close());
  return { storage, root };
}

/** Runs `body` as one tape test per backend. */
export function eachBackend(name: string, body: (t: test.Test, backend: Backend) => Promise<void>, backends = BACKENDS): void {
  for (const backend of backends) {
    test(`${name} [${backend.name}]`, (t) => body(t, backend));
  }
}

/** The error `promise` rejects with; a failed assertion when it resolves. */
export async function rejection(t: test.Test, promise: Promise<unknown>, code: string, what: string): Promise<Error | undefined> {
  try {
    await promise;
    t.fail(`${what}: expected ${code}, but it succeeded`);
    return undefined;
  } catch (error) {
    t.equal((error as { code?: string }).code, code, `${what}: ${code}`);
    t.equal((error as Error).name, 'StorageError', `${what}: a StorageError`);
    return error as Error;
  }
}

export const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

/**
 * The numbers a child process prints on stdout, one a line: what it reports as acknowledged (durable) so
 * far. After the child has closed, `numbers` holds everything it printed.
 */
export class Acknowledged {
  readonly numbers: number[] = [];
  private pending = '';
  private waiter: { enough: () => boolean; resolve: () => void } | undefined;

  constructor(child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.pending += chunk.toString();
      const lines = this.pending.split('\n');
      this.pending = lines.pop()!;
      for (const line of lines) this.numbers.push(Number(line));
      if (this.waiter?.enough()) this.waiter.resolve();
    });
    child.stdout!.on('end', () => {
      if (this.pending !== '') this.numbers.push(Number(this.pending));
    });
  }

  /** The last number printed, -1 before any. */
  get last(): number {
    return this.numbers.at(-1) ?? -1;
  }

  /** Resolves once `enough` holds; rejects if the child exits first. */
  until(child: ChildProcess, enough: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiter = { enough, resolve };
      child.once('exit', (code) => reject(new Error(`the child exited early with ${code}`)));
      if (enough()) resolve();
    });
  }
}

/** A small seeded PRNG (mulberry32): the same sequence for the same seed, so a randomized test repeats. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
