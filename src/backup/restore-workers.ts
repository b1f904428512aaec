// The worker threads of a restore (restore-worker.ts): started together at the restore's start (their
// S3 clients load while the main thread reads the manifest), each given files to restore, the one with the
// fewest under way first. A file's promise settles as the single-thread restoreFile's would: resolved once
// the file is in place, rejected with the same StorageError (rebuilt from its code, message, syscall and
// path). A worker that dies fails its files with EIO. close() ends the threads; the caller calls it once no
// file is under way (restore.ts waits for them to settle first, so nothing is cut in the middle).
import { Worker } from 'node:worker_threads';

import { StorageError, storageError } from '../ground/errors.js';
import type { ObjectStore } from '../adapters/s3/object-store.js';
import type { FileEntry } from './manifest.js';
import type { FailureParts, FromWorker, RestoreWorkerData, ToWorker } from './restore-worker.js';
import { sharedStops, stopPlacing } from './restore-stops.js';

interface Pending {
  resolve: () => void;
  reject: (error: unknown) => void;
  onBytes: (bytes: number) => void;
  onWritten: () => void;
}

/** The error a worker's failure was on its thread. */
function rebuilt(parts: FailureParts): StorageError {
  const error = new StorageError(parts.code, parts.message, { syscall: parts.syscall });
  error.path = parts.path;
  return error;
}

class RestoreThread {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  private failure: unknown;

  constructor(data: RestoreWorkerData) {
    this.worker = new Worker(new URL('./restore-worker.js', import.meta.url), { workerData: data });
    this.worker.on('message', (message: FromWorker) => {
      const file = this.pending.get(message.id);
      if (file === undefined) return;
      if (message.bytes > 0) file.onBytes(message.bytes);
      if (message.type === 'written') file.onWritten();
      else if (message.type !== 'bytes') {
        this.pending.delete(message.id);
        if (message.type === 'done') file.resolve();
        else file.reject(rebuilt(message.failure));
      }
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(storageError('EIO', `a restore worker thread stopped (exit code ${code})`)));
  }

  /** Fails every file under way, and every later one, with `error` (a thread that cannot go on). */
  private fail(error: unknown): void {
    this.failure ??=
      error instanceof StorageError ? error : storageError('EIO', `a restore worker thread failed: ${(error as Error)?.message ?? String(error)}`);
    for (const file of this.pending.values()) file.reject(this.failure);
    this.pending.clear();
  }

  send(id: number, entry: FileEntry, location: Buffer, file: Pending): void {
    if (this.failure !== undefined) {
      file.reject(this.failure);
      return;
    }
    this.pending.set(id, file);
    this.worker.postMessage({ type: 'file', id, entry, location } satisfies ToWorker);
  }

  abort(reason: unknown): void {
    if (this.failure === undefined) this.worker.postMessage({ type: 'abort', reason: typeof reason === 'string' ? reason : undefined } satisfies ToWorker);
  }
}

export class RestoreWorkers {
  private readonly threads: RestoreThread[];
  private nextId = 0;
  private readonly shared = sharedStops();

  constructor(store: ObjectStore, prefix: string, count: number) {
    const data: RestoreWorkerData = { settings: store.settings, prefix, shared: this.shared };
    this.threads = Array.from({ length: Math.max(1, count) }, () => new RestoreThread(data));
  }

  /**
   * Restores `entry` at `location` on the thread with the fewest files under way; `onWritten` is called
   * once its content is written and checked (restore-file.ts).
   */
  restore(entry: FileEntry, location: Buffer, onBytes: (bytes: number) => void, onWritten: () => void): Promise<void> {
    const thread = this.threads.reduce((best, thread) => (thread.pending.size < best.pending.size ? thread : best));
    return new Promise((resolve, reject) => thread.send(this.nextId++, entry, location, { resolve, reject, onBytes, onWritten }));
  }

  /**
   * Stops the files under way: each fails (EINTR) once its temporary is removed. When this returns, no file
   * is placed any more (one being renamed is waited for: restore-stops.ts).
   */
  abort(reason: unknown): void {
    stopPlacing(this.shared);
    for (const thread of this.threads) thread.abort(reason);
  }

  /** Ends the threads (their S3 connections with them). */
  async close(): Promise<void> {
    await Promise.all(
      this.threads.map((thread) => {
        thread.worker.removeAllListeners('exit');
        return thread.worker.terminate();
      }),
    );
  }
}
