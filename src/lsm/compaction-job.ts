// What the main thread and the compaction thread tell each other. The main thread sends a job (the input
// SSTs' names and sizes, grouped in runs, and what the merge needs to decide); the thread asks it for the
// inputs' bytes a chunk at a time, read into shared buffers the thread owns (the main thread owns the
// files), hands over each output SST as it is finished (its ArrayBuffer transferred, not copied), and ends
// with a reply. So the memory of a compaction is bounded by its chunks and one or two outputs, not its size.
import { storageError, StorageError } from '../ground/errors.js';
import type { KeyRange } from './key-range.js';
import type { TableProperties } from './sst-format.js';

export interface JobInput {
  /** the SST's file name, for errors */
  name: string;
  /** its size when the job started */
  bytes: number;
}

export interface CompactionJob {
  type: 'job';
  id: number;
  /** sorted runs of inputs, newest first (as mergeRuns takes them) */
  runs: JobInput[][];
  /** the oldest version a snapshot (or the latest state) reads */
  horizon: number;
  /** per level below the output level, the key ranges of its tables in key order */
  below: KeyRange[][];
  blockSize: number;
  bloomBitsPerKey: number;
  tableFileSize: number;
}

export interface JobOutput {
  /** the SST's bytes, ready to write: data[0, bytes) */
  data: ArrayBuffer;
  bytes: number;
  properties: TableProperties;
}

export interface JobResult {
  droppedVersions: number;
  bytesRead: number;
}

/** The thread asks for bytes of input `table` of run `run` at `offset`, read into `target` (shared memory). */
export interface ReadRequest {
  type: 'read';
  job: number;
  request: number;
  run: number;
  table: number;
  offset: number;
  target: Uint8Array;
}

/** The thread hands over a finished output SST; the next comes once this one is written. */
export interface OutputMessage {
  type: 'output';
  job: number;
  request: number;
  output: JobOutput;
}

/** The answer to a read (the byte count read) or to an output (written), or the error it met. */
export type Answer =
  | { type: 'answer'; request: number; count: number /** a written output's buffer, for the next output */; buffer?: ArrayBuffer }
  | { type: 'answer'; request: number; error: JobError };

export type JobReply = { type: 'reply'; id: number } & (({ ok: true } & JobResult) | { ok: false; error: JobError });

/** What the thread sends to the main thread. */
export type FromThread = ReadRequest | OutputMessage | JobReply;
/** What the main thread sends to the thread. */
export type ToThread = CompactionJob | Answer;

/** An error as it crosses the thread boundary (a StorageError keeps its code, message and path). */
export interface JobError {
  code: string | undefined;
  name: string;
  message: string;
  path: string | undefined;
  stack: string | undefined;
}

export function toJobError(error: unknown): JobError {
  const e = error instanceof Error ? error : new Error(String(error));
  return {
    code: e instanceof StorageError ? e.code : undefined,
    name: e.name,
    message: e.message,
    path: e instanceof StorageError ? e.path : undefined,
    stack: e.stack,
  };
}

/** The error on the main thread: the same StorageError (code, message, path), or EIO for anything else. */
export function fromJobError(error: JobError): StorageError {
  const cause = Object.assign(new Error(error.message), { name: error.name, stack: error.stack });
  if (error.code !== undefined) return new StorageError(error.code, error.message, { ...(error.path === undefined ? {} : { path: error.path }), cause });
  return storageError('EIO', `the compaction thread failed (${error.name}: ${error.message}); the compaction's inputs are kept`, { cause });
}
