// The open/closed state of a datastore: calls are refused with EBADF once close() has begun, and close()
// waits for the calls already running before it releases anything.
import { storageError } from '../ground/errors.js';

export class Lifecycle {
  private closing = false;
  private inflight = 0;
  private idle: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  /** `kind` names the store in errors ('memory datastore', 'flatfs datastore', ...). */
  constructor(private readonly kind: string) {}

  /** EBADF if the store is closed (or closing). */
  check(what: string): void {
    if (this.closing) throw storageError('EBADF', `${what}: the ${this.kind} is closed`);
  }

  /** Runs `work` as one call: refused once closed, counted so that close() waits for it. */
  async run<T>(what: string, work: () => Promise<T>): Promise<T> {
    this.check(what);
    this.inflight++;
    try {
      return await work();
    } finally {
      if (--this.inflight === 0 && this.idle) this.idle();
    }
  }

  /** Refuses new calls, waits for those running, then runs `release` once; later calls share its outcome. */
  close(release: () => Promise<void>): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      if (this.inflight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
      await release();
    })();
    return this.closed;
  }
}
