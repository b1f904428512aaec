// The compaction thread of one store, on the main side: owns the Worker (compaction-worker.ts), started at
// the first job, sends jobs, serves their reads and outputs through the job's JobIo, and matches the
// replies (a job settles once the IO it asked for is done). The worker is unref'd while no job runs, so a
// process with an open, idle store can exit; close() terminates it, failing the jobs still running with
// ECANCELED. A worker that crashes fails its jobs with EIO; the next job starts a new one.
import { Worker } from 'node:worker_threads';

import { storageError, type StorageError } from '../ground/errors.js';
import {
  fromJobError,
  toJobError,
  type Answer,
  type CompactionJob,
  type FromThread,
  type JobOutput,
  type JobReply,
  type JobResult,
  type ToThread,
} from './compaction-job.js';

const WORKER_URL = new URL('./compaction-worker.js', import.meta.url);

/** What the main thread does for a job: read its inputs, write its outputs. */
export interface JobIo {
  /** reads input `table` of run `run` at `offset` into `target`; resolves with the byte count read */
  read(run: number, table: number, offset: number, target: Buffer): Promise<number>;
  /** writes a finished output SST (outputs come in key order, each once the one before is written) */
  output(output: JobOutput): Promise<void>;
}

interface Pending {
  io: JobIo;
  /** the reads and writes under way for the job */
  working: Set<Promise<void>>;
  resolve: (result: JobResult) => void;
  reject: (error: StorageError) => void;
}

/** What serving a request gives: the count to answer with, and a buffer handed back to the thread. */
type Served = { count: number; giveBack?: ArrayBuffer };

export class CompactionThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  /** Whether the worker is running (started and not yet terminated or crashed). */
  get started(): boolean {
    return this.worker !== undefined;
  }

  /** Runs a job, its inputs read and its outputs written through `io`. */
  run(job: Omit<CompactionJob, 'id' | 'type'>, io: JobIo): Promise<JobResult> {
    if (this.closed) return Promise.reject(abandoned());
    let worker: Worker;
    try {
      worker = this.worker ?? this.start();
    } catch (error) {
      return Promise.reject(storageError('EIO', `could not start the compaction thread (${(error as Error).message})`, { cause: error }));
    }
    const id = this.nextId++;
    return new Promise<JobResult>((resolve, reject) => {
      this.pending.set(id, { io, working: new Set(), resolve, reject });
      worker.ref();
      try {
        worker.postMessage({ ...job, type: 'job', id } satisfies ToThread);
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
    // A small young generation: the merge's garbage (keys, decoded blocks) dies young, and V8's default lets
    // it grow to tens of MiB first (fills of 1M keys, 3 rounds: peak RSS 363-385 against 386-399 MiB,
    // fills no slower)
    const worker = new Worker(WORKER_URL, { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    worker.unref();
    worker.on('message', (message: FromThread) => {
      if (message.type === 'reply') this.settle(worker, message);
      else if (message.type === 'read') {
        const target = Buffer.from(message.target.buffer, message.target.byteOffset, message.target.byteLength);
        this.serve(worker, message.job, message.request, (io) => io.read(message.run, message.table, message.offset, target).then((count) => ({ count })));
      } else {
        // the output's buffer goes back once written: the thread builds its next output in it
        this.serve(worker, message.job, message.request, (io) => io.output(message.output).then(() => ({ count: 0, giveBack: message.output.data })));
      }
    });
    worker.on('error', (error) =>
      this.crashed(worker, storageError('EIO', `the compaction thread failed (${error.message}); the compaction's inputs are kept`, { cause: error })),
    );
    worker.on('exit', (code) =>
      this.crashed(worker, storageError('EIO', `the compaction thread exited (code ${code}) during a compaction; the compaction's inputs are kept`)),
    );
    this.worker = worker;
    return worker;
  }

  /** Does a read or a write a job asked for and answers with its count or its error. */
  private serve(worker: Worker, id: number, request: number, work: (io: JobIo) => Promise<Served>): void {
    const job = this.pending.get(id);
    if (job === undefined) return; // failed or abandoned meanwhile
    const working = work(job.io)
      .then(
        ({ count, giveBack }) => {
          const answer: Answer = giveBack ? { type: 'answer', request, count, buffer: giveBack } : { type: 'answer', request, count };
          if (this.worker === worker) worker.postMessage(answer satisfies ToThread, giveBack ? [giveBack] : []);
        },
        (error: unknown) => {
          if (this.worker === worker) worker.postMessage({ type: 'answer', request, error: toJobError(error) } satisfies ToThread);
        },
      )
      .finally(() => job.working.delete(working));
    job.working.add(working);
  }

  private settle(worker: Worker, reply: JobReply): void {
    const job = this.pending.get(reply.id);
    if (job === undefined) return;
    this.pending.delete(reply.id);
    this.idle(worker);
    // a failed merge may end while an output it handed over is still being written
    void Promise.all(job.working).then(() => {
      if (reply.ok) job.resolve({ droppedVersions: reply.droppedVersions, bytesRead: reply.bytesRead });
      else job.reject(fromJobError(reply.error));
    });
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

  /** Fails every job once the IO it asked for is done (so what it wrote is known to its caller). */
  private failAll(error: StorageError): void {
    const jobs = [...this.pending.values()];
    this.pending.clear();
    for (const job of jobs) void Promise.all(job.working).then(() => job.reject(error));
  }
}

const abandoned = (): StorageError => storageError('ECANCELED', 'compaction abandoned: the store is closing');
