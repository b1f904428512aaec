// How a restore's stop reaches its worker threads' files without a race (restore-workers.ts, restore-worker.ts):
// shared memory the threads all see. The main thread counts STOPS up, then waits until no file is between its
// last look at STOPS and the end of its rename (PLACING); a worker counts PLACING up before it looks. With
// sequentially consistent atomics, a file either sees the stop (and is not placed) or is placed before the
// main thread's stop returns: once a stop returns, no file appears.

/** The slots of the shared Int32Array. */
export const STOPS = 0;
export const PLACING = 1;

/** The shared memory of one restore's threads. */
export const sharedStops = (): Int32Array => new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));

/**
 * On a worker: places a file unless a stop was asked since it started (`stopsAtStart`, STOPS when it
 * started), in which case `abort` is called first (and `place`, which looks at the file's signal, fails).
 */
export function placeUnlessStopped(shared: Int32Array, stopsAtStart: number, abort: () => void, place: () => void): void {
  Atomics.add(shared, PLACING, 1);
  try {
    if (Atomics.load(shared, STOPS) !== stopsAtStart) abort();
    place();
  } finally {
    Atomics.sub(shared, PLACING, 1);
    Atomics.notify(shared, PLACING);
  }
}

/**
 * On the main thread: asks for a stop and waits for the renames already past their look at STOPS (each one a
 * rename(2) in a directory of the target: this blocks the thread that long, once, at a stop).
 */
export function stopPlacing(shared: Int32Array): void {
  Atomics.add(shared, STOPS, 1);
  for (let placing = Atomics.load(shared, PLACING); placing !== 0; placing = Atomics.load(shared, PLACING)) Atomics.wait(shared, PLACING, placing, 100);
}
