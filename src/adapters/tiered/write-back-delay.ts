// The tiered adapter's write-back delay: closed files wait before their uploads start, and start together
// once no file has closed for `quiet` ms (or the first of them has waited `quiet` x MAX_WAIT). A burst of
// writes (a loop writing many small files, a tar extracting) then runs alone on the machine: on a busy or
// small one the uploads' work (the S3 client's requests, the gateway's) no longer slows every close by
// competing for the CPU. A file changed again, renamed or deleted within the delay costs no upload before
// it. rclone's mount waits too (--vfs-write-back, 5 s a file).

/** How many `quiet` periods the first waiting upload waits at most, while files keep closing. */
const MAX_WAIT = 5;

export class WriteBackDelay<T> {
  private readonly resting = new Set<T>();
  private first = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `start` is called with each item once its wait is over. */
  constructor(
    private readonly quiet: number,
    private readonly start: (item: T) => void,
  ) {}

  /** Makes `item` wait (it, and every item waiting, starts after the next quiet period). */
  add(item: T): void {
    if (this.resting.size === 0) this.first = Date.now();
    this.resting.add(item);
    clearTimeout(this.timer);
    const left = this.first + this.quiet * MAX_WAIT - Date.now();
    this.timer = setTimeout(() => this.flush(), Math.max(0, Math.min(this.quiet, left)));
  }

  /** Takes `item` out: it will not start (unless added again). */
  remove(item: T): void {
    this.resting.delete(item);
  }

  /** Starts every waiting item now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const items = [...this.resting];
    this.resting.clear();
    for (const item of items) this.start(item);
  }

  /** Forgets every waiting item (they do not start). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.resting.clear();
  }
}
