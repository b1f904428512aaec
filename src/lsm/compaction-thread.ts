// The compaction thread of one store, on the main side: owns the Worker (compaction-worker.ts), started at
// the first job, sends jobs and matches the replies. The worker is unref'd while no job runs, so a
// process with an open, idle store can exit; close() terminates it, failing the jobs still running with
// ECANCELED. A worker that crashes fails its jobs with EIO; the next job starts a new one.
import { Worker } from 'node:worker_threads';

import { storageError, type StorageError } from '../ground/errors.js';
import { fromJobError, type CompactionJob, type JobReply, type JobResult } from './compaction-job.js';

const WORKER_URL = new URL('./compaction-worker.js', import.meta.url);

interface Pending {
  resolve: (result: JobResult) => void;
  reject: (error: StorageError) => void;
}

export class CompactionThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  /** Whether the worker is running (started and not yet terminated or crashed). */
  get started(): boolean {
    return this.worker !== undefined;
  }

  /** Runs a job; `transfer` (the inputs' ArrayBuffers) moves to the worker and is unusable here after. */
  run(job: Omit<CompactionJob, 'id'>, transfer: readonly ArrayBuffer[]): Promise<JobResult> {
    if (this.closed) return Promise.reject(abandoned());
    let worker: Worker;
    try {
      worker = this.worker ?? this.start();
    } catch (error) {
      return Promise.reject(storageError('EIO', `could not start the compaction thread (${(error as Error).message})`, { cause: error }));
    }
    const id = this.nextId++;
    return new Promise<JobResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      try {
        worker.postMessage({ ...job, id } satisfies CompactionJob, [...transfer]);
      } catch (error) {
        this.pending.delete(id);
        this.idle(worker);
        reject(storageError('EIO', `could not send a job to the compaction thread (${(error as Error).message})`, { cause: error }));
      }
    });
  }

  /** Terminates the worker; jobs still running fail with ECANCELED and nothing they made is returned. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(abandoned());
    if (worker) await worker.terminate();
  }

  private start(): Worker {
    const worker = new Worker(WORKER_URL);
    worker.unref();
    worker.on('message', (reply: JobReply) => this.settle(worker, reply));
    worker.on('error', (error) =>
      this.crashed(worker, storageError('EIO', `the compaction thread failed (${error.message}); the compaction's inputs are kept`, { cause: error })),
    );
    worker.on('exit', (code) =>
      this.crashed(worker, storageError('EIO', `the compaction thread exited (code ${code}) during a compaction; the compaction's inputs are kept`)),
    );
    this.worker = worker;
    return worker;
  }

  private settle(worker: Worker, reply: JobReply): void {
    const job = this.pending.get(reply.id);
    if (job === undefined) return;
    this.pending.delete(reply.id);
    this.idle(worker);
    if (reply.ok) job.resolve({ outputs: reply.outputs, droppedVersions: reply.droppedVersions, bytesRead: reply.bytesRead });
    else job.reject(fromJobError(reply.error));
  }

  /** Lets the process exit while no job runs. */
  private idle(worker: Worker): void {
    if (this.pending.size === 0) worker.unref();
  }

  private crashed(worker: Worker, error: StorageError): void {
    if (this.worker !== worker) return; // terminated by close(), or already handled
    this.worker = undefined;
    this.failAll(error);
    void worker.terminate();
  }

  private failAll(error: StorageError): void {
    const jobs = [...this.pending.values()];
    this.pending.clear();
    for (const job of jobs) job.reject(error);
  }
}

const abandoned = (): StorageError => storageError('ECANCELED', 'compaction abandoned: the store is closing');
