// The compaction thread's entry (a worker_threads Worker; compaction-thread.ts starts it). It merges: it
// reads each input through the main thread a chunk at a time (streamed-run.ts), runs mergeRuns (the same
// merge as on the main thread) and hands each output SST to the main thread as soon as it is built, then
// replies. It opens no file and holds no state between jobs: the main thread reads the inputs, writes the
// outputs and installs them.
import { parentPort } from 'node:worker_threads';

import { mergeRuns } from './compaction.js';
import {
  fromJobError,
  toJobError,
  type Answer,
  type CompactionJob,
  type FromThread,
  type JobOutput,
  type OutputMessage,
  type ReadRequest,
  type ToThread,
} from './compaction-job.js';
import { bottomTest } from './key-range.js';
import type { BuiltTable } from './sst-builder.js';
import { StreamedRun } from './streamed-run.js';

const port = parentPort;
if (port === null) throw new Error('compaction-worker.js is a worker_threads entry; compaction-thread.ts starts it');

/** Buffers of written outputs the main thread gave back: the next outputs are built in them. */
const spareOutputs: ArrayBuffer[] = [];
const SPARE_OUTPUTS = 2;

/** Requests waiting for the main thread's answer, by number. */
const waiting = new Map<number, { resolve: (count: number) => void; reject: (error: Error) => void }>();
let nextRequest = 1;

function ask(message: ReadRequest | OutputMessage, transfer: ArrayBuffer[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    waiting.set(message.request, { resolve, reject });
    port!.postMessage(message, transfer);
  });
}

function answered(answer: Answer): void {
  const request = waiting.get(answer.request);
  if (request === undefined) return;
  waiting.delete(answer.request);
  if ('error' in answer) request.reject(fromJobError(answer.error));
  else {
    if (answer.buffer && spareOutputs.length < SPARE_OUTPUTS) spareOutputs.push(answer.buffer);
    request.resolve(answer.count);
  }
}

port.on('message', (message: ToThread) => {
  if (message.type === 'answer') answered(message);
  else
    void run(message).then((reply) => {
      port.postMessage(reply satisfies FromThread);
    });
});

async function run(job: CompactionJob): Promise<FromThread> {
  const runs: StreamedRun[] = [];
  try {
    const opening = await Promise.allSettled(
      job.runs.map((inputs, r) =>
        StreamedRun.open(inputs, (table, offset, target) => ask({ type: 'read', job: job.id, request: nextRequest++, run: r, table, offset, target })),
      ),
    );
    // the runs that opened are closed at the end, whether or not the others did
    for (const opened of opening) if (opened.status === 'fulfilled') runs.push(opened.value);
    for (const opened of opening) if (opened.status === 'rejected') throw opened.reason;
    // one output is written by the main thread while the next is built
    let written: Promise<number> = Promise.resolve(0);
    const result = await mergeRuns(
      runs.map((run) => run.tables),
      {
        horizon: job.horizon,
        isBottom: bottomTest(job.below),
        blockSize: job.blockSize,
        bloomBitsPerKey: job.bloomBitsPerKey,
        tableFileSize: job.tableFileSize,
        outputBuffer: (bytes) => {
          const spare = spareOutputs.findIndex((buffer) => buffer.byteLength >= bytes);
          return spare < 0 ? undefined : Buffer.from(spareOutputs.splice(spare, 1)[0]!);
        },
        emit: async (built) => {
          await written;
          const output = pack(built);
          written = ask({ type: 'output', job: job.id, request: nextRequest++, output }, [output.data]);
          written.catch(() => {}); // seen by the next emit or the end of the merge
        },
        // the main thread abandons a job by terminating this thread
        abandoned: () => false,
      },
    );
    await written;
    return { type: 'reply', id: job.id, ok: true, droppedVersions: result.droppedVersions, bytesRead: result.bytesRead };
  } catch (error) {
    return { type: 'reply', id: job.id, ok: false, error: toJobError(error) };
  } finally {
    await Promise.all(runs.map((run) => run.close()));
  }
}

/** A built SST as it moves to the main thread: the builder's own buffer, or a copy when it is not one. */
function pack(built: BuiltTable): JobOutput {
  const [only] = built.buffers;
  if (built.buffers.length === 1 && only!.byteOffset === 0 && only!.buffer instanceof ArrayBuffer && only!.buffer.byteLength <= 2 * built.bytes) {
    return { data: only!.buffer, bytes: built.bytes, properties: built.properties };
  }
  const data = new ArrayBuffer(built.bytes);
  const view = new Uint8Array(data);
  let at = 0;
  for (const buffer of built.buffers) {
    view.set(buffer, at);
    at += buffer.length;
  }
  return { data, bytes: built.bytes, properties: built.properties };
}
