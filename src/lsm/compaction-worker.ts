// The compaction thread's entry (a worker_threads Worker; compaction-thread.ts starts it). It merges: it
// parses each input SST from its bytes (checking every CRC as Table does), runs mergeRuns (the same merge
// as on the main thread) and replies with the output SSTs' bytes. It does no I/O and holds no state
// between jobs: the main thread reads the inputs, writes the outputs and installs them.
import { parentPort } from 'node:worker_threads';

import { mergeRuns } from './compaction.js';
import { toJobError, type CompactionJob, type JobOutput, type JobReply } from './compaction-job.js';
import { bottomTest } from './key-range.js';
import type { BuiltTable } from './sst-builder.js';
import { SstImage } from './sst-image.js';

const port = parentPort;
if (port === null) throw new Error('compaction-worker.js is a worker_threads entry; compaction-thread.ts starts it');

port.on('message', (job: CompactionJob) => {
  void run(job).then(({ reply, transfer }) => {
    try {
      port.postMessage(reply, transfer);
    } catch (error) {
      port.postMessage({ id: job.id, ok: false, error: toJobError(error) } satisfies JobReply);
    }
  });
});

async function run(job: CompactionJob): Promise<{ reply: JobReply; transfer: ArrayBuffer[] }> {
  try {
    const runs = await Promise.all(job.runs.map((inputs) => Promise.all(inputs.map((input) => SstImage.parse(input.name, Buffer.from(input.data))))));
    const outputs: JobOutput[] = [];
    const result = await mergeRuns(runs, {
      horizon: job.horizon,
      isBottom: bottomTest(job.below),
      blockSize: job.blockSize,
      bloomBitsPerKey: job.bloomBitsPerKey,
      tableFileSize: job.tableFileSize,
      emit: async (built) => {
        outputs.push(pack(built));
      },
      // the main thread abandons a job by terminating this thread
      abandoned: () => false,
    });
    const reply: JobReply = { id: job.id, ok: true, outputs, droppedVersions: result.droppedVersions, bytesRead: result.bytesRead };
    return { reply, transfer: outputs.map((output) => output.data) };
  } catch (error) {
    return { reply: { id: job.id, ok: false, error: toJobError(error) }, transfer: [] };
  }
}

/** One built SST in one ArrayBuffer of its own (its blocks may share Node's buffer pool, which cannot move). */
function pack(built: BuiltTable): JobOutput {
  const data = new ArrayBuffer(built.bytes);
  const view = new Uint8Array(data);
  let at = 0;
  for (const buffer of built.buffers) {
    view.set(buffer, at);
    at += buffer.length;
  }
  return { data, properties: built.properties };
}
