// A restore's worker thread (restore-workers.ts starts them): its own S3 client on the settings it is given,
// restoring each file it is sent as the single-thread restore does (restore-file.ts: the GET, the SHA-256
// check, the write aside, fsync, rename), so that the HTTP client's, the hash's and the writes' CPU is spread
// over the cores instead of held on the one JavaScript thread. It tells the main thread of the bytes as they
// come (batched), of each file done, and of a failure as the StorageError's parts (code, message, syscall,
// path), rebuilt there into the same error. 'abort' stops the files under way (their temporaries removed).
import { parentPort, workerData } from 'node:worker_threads';

import { ObjectStore } from '../adapters/s3/object-store.js';
import type { S3Settings } from '../adapters/s3/s3-settings.js';
import { StorageError } from '../ground/errors.js';
import type { FileEntry } from './manifest.js';
import { restoreFile } from './restore-file.js';
import { placeUnlessStopped, STOPS } from './restore-stops.js';

/** What the main thread sends: a file to restore, or the order to stop every file under way. */
export type ToWorker = { type: 'file'; id: number; entry: FileEntry; location: Uint8Array } | { type: 'abort'; reason: unknown };

/** A failure as it crosses the threads. */
export interface FailureParts {
  code: string;
  message: string;
  syscall: string | undefined;
  path: string | undefined;
}

/**
 * What a worker answers: bytes written of a file, a file's content all written and checked (its fsync and
 * rename to come), a file done, a file failed (the last three with the file's bytes not told yet: one
 * message a file less).
 */
export type FromWorker =
  | { type: 'bytes'; id: number; bytes: number }
  | { type: 'written'; id: number; bytes: number }
  | { type: 'done'; id: number; bytes: number }
  | { type: 'failed'; id: number; bytes: number; failure: FailureParts };

export interface RestoreWorkerData {
  settings: S3Settings;
  prefix: string;
  /**
   * shared memory: [STOPS] the stops asked for so far (the main thread counts one up before it posts
   * 'abort'), so that a file finishing while the message is on its way is not placed after the stop;
   * [PLACING] the files between their last look at STOPS and the end of their rename, which the main thread
   * waits out before its abort returns
   */
  shared: Int32Array;
}

/**
 * Bytes are reported once this many have gathered and REPORT_MS have passed since this thread's last
 * report (and at a file's end): each message wakes the main thread, 0.2 ms of this thread's CPU here
 * (a restore of 1 GiB at 1 MiB a message spent 130-160 ms of each worker's CPU on them).
 */
const REPORT_BYTES = 1024 * 1024;
const REPORT_MS = 100;

const partsOf = (error: unknown): FailureParts =>
  error instanceof StorageError
    ? { code: error.code, message: error.message, syscall: error.syscall, path: error.path }
    : { code: 'EIO', message: `EIO: input/output error, ${error instanceof Error ? error.message : String(error)}`, syscall: undefined, path: undefined };

if (parentPort !== null) {
  const port = parentPort;
  const { settings, prefix, shared } = workerData as RestoreWorkerData;
  const store = new ObjectStore(settings);
  let aborter = new AbortController();
  let reported = 0;
  port.on('message', (message: ToWorker) => {
    if (message.type === 'abort') {
      aborter.abort(message.reason);
      aborter = new AbortController();
      return;
    }
    const { id, entry } = message;
    const stopsAtStart = Atomics.load(shared, STOPS);
    const fileAborter = aborter;
    const guardPlacing = (place: () => void) => placeUnlessStopped(shared, stopsAtStart, () => fileAborter.abort(), place);
    let unreported = 0;
    /** tells the main thread of the bytes not told yet, with a 'bytes' or a 'written' message */
    const tell = (type: 'bytes' | 'written') => {
      port.postMessage({ type, id, bytes: unreported } satisfies FromWorker);
      unreported = 0;
    };
    const onBytes = (bytes: number) => {
      unreported += bytes;
      if (unreported < REPORT_BYTES) return;
      const now = performance.now();
      if (now - reported < REPORT_MS) return;
      reported = now;
      tell('bytes');
    };
    const onWritten = () => tell('written');
    restoreFile(store, prefix, entry, Buffer.from(message.location), onBytes, { signal: aborter.signal, syncWrites: true, onWritten, guardPlacing }).then(
      () => port.postMessage({ type: 'done', id, bytes: unreported } satisfies FromWorker),
      (error: unknown) => port.postMessage({ type: 'failed', id, bytes: unreported, failure: partsOf(error) } satisfies FromWorker),
    );
  });
}
