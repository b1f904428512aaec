// Fairness for work that completes without waiting: a cached LSM read, a WAL batch written on the calling
// thread. Such a call resolves in a microtask, so a caller looping on it never lets the event loop reach its
// timers and I/O callbacks (compaction's I/O, the IO engine's completions, a worker's messages): they starve
// until the loop ends. A SyncStreak counts those calls; once `limit` have gone by since the event loop last
// had a turn, the next one waits for a turn (setImmediate) before it returns.

/** lets the event loop run once (timers, I/O callbacks) */
export const eventLoopTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

export class SyncStreak {
  private count = 0;
  private turn: Promise<void> | undefined;

  constructor(private readonly limit: number) {}

  /** Counts one call that did not wait; undefined to go on at once, or a promise to await first. */
  passed(): Promise<void> | undefined {
    this.turn ??= eventLoopTurn().then(() => {
      this.count = 0;
      this.turn = undefined;
    });
    return ++this.count > this.limit ? this.turn : undefined;
  }
}
