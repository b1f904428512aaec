// Appends that go down together (group commit): a queue of append requests is taken a batch at a time
// from its head, the batch is written as one at the end of the file, and each request learns where its
// bytes begin. The write-ahead log (records into a segment) and the local adapter (appends to a file
// through one descriptor) batch this way.
//
// A batch is all or nothing: if its write fails, the file is cut back to where the batch began and every
// request in it fails, so no partial record is left behind and the next batch starts from a clean end.

/** What a batched append request has: its size, and how to fail it. */
export interface BatchedAppend {
  bytes: number;
  reject: (error: unknown) => void;
}

/** One bound on a batch: the most that `measure`, summed over the batch, may come to. */
export interface BatchLimit<T> {
  measure: (request: T) => number;
  most: number;
}

/**
 * Takes the batch at the head of `queue` off it: the requests there that `belong`, the first of them
 * whatever its measures (alone, if it is over a limit by itself), each next one while every sum stays
 * within its limit.
 */
export function takeBatch<T>(queue: T[], limits: ReadonlyArray<BatchLimit<T>>, belongs: (request: T) => boolean = () => true): T[] {
  const sums = limits.map(() => 0);
  const fits = (next: T) => limits.every((limit, i) => sums[i]! + limit.measure(next) <= limit.most);
  let count = 0;
  for (; count < queue.length; count++) {
    const next = queue[count]!;
    if (!belongs(next) || (count > 0 && !fits(next))) break;
    limits.forEach((limit, i) => {
      sums[i]! += limit.measure(next);
    });
  }
  return queue.splice(0, count);
}

/**
 * Writes `batch` with `write`, which puts it at `start`. If that fails, `cutBack` returns the file to
 * `start` (its own failure is ignored), every request is rejected, and the answer is undefined;
 * otherwise it is where each request's bytes begin, and where the batch ends.
 */
export async function writeBatch(
  batch: readonly BatchedAppend[],
  start: number,
  write: () => Promise<unknown>,
  cutBack: () => Promise<unknown>,
): Promise<{ offsets: number[]; end: number } | undefined> {
  try {
    await write();
  } catch (error) {
    try {
      await cutBack();
    } catch {
      // the write's error is the one to report
    }
    for (const request of batch) request.reject(error);
    return undefined;
  }
  let end = start;
  const offsets = batch.map((request) => {
    const offset = end;
    end += request.bytes;
    return offset;
  });
  return { offsets, end };
}
