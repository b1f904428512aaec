// What the main thread and the compaction thread tell each other: a job (the input SSTs' bytes, grouped in
// runs, and what the merge needs to decide) and its reply (the output SSTs' bytes, or the error). The
// ArrayBuffers of both are transferred, not copied.
import { storageError, StorageError } from '../ground/errors.js';
import type { KeyRange } from './key-range.js';
import type { TableProperties } from './sst-format.js';

export interface JobInput {
  /** the SST's file name, for errors */
  name: string;
  /** all of its bytes */
  data: ArrayBuffer;
}

export interface CompactionJob {
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
  /** the SST's bytes, ready to write */
  data: ArrayBuffer;
  properties: TableProperties;
}

export interface JobResult {
  /** the output SSTs in key order */
  outputs: JobOutput[];
  droppedVersions: number;
  bytesRead: number;
}

/** An error as it crosses the thread boundary (a StorageError keeps its code, message and path). */
export interface JobError {
  code: string | undefined;
  name: string;
  message: string;
  path: string | undefined;
  stack: string | undefined;
}

export type JobReply = ({ ok: true } & JobResult & { id: number }) | { id: number; ok: false; error: JobError };

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
