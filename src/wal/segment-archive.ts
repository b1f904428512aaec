// The WAL's archive: every sealed segment (closed by a rotation, never written again) is copied whole into
// an archive directory, typically on the remote tier (an S3 or tiered storage), under its own name. A
// segment is never deleted by truncateBefore before its copy is there (durable: flushWrite), so the
// archive holds the whole history the log ever acknowledged. Copies run in the background, one at a time;
// a failed copy is retried at the next rotation, the next truncateBefore, or the next open.
import type { Logger } from '../log.js';
import type { Dir } from '../storage/dir.js';
import { parseSegmentName, segmentName } from './format.js';
import type { SegmentStore } from './segment-store.js';

export class SegmentArchive {
  /** segments known to be in the archive */
  private readonly archived = new Set<number>();
  /** sealed segments waiting for their copy */
  private readonly due = new Set<number>();
  private running: Promise<void> = Promise.resolve();
  private listed = false;

  constructor(
    private readonly store: SegmentStore,
    readonly dir: Dir,
    private readonly logger: Logger | undefined,
  ) {}

  /** The segments already in the archive (listed once; then kept up to date here). */
  private async known(): Promise<Set<number>> {
    if (!this.listed) {
      for (const entry of await this.dir.read()) {
        const number = typeof entry.name === 'string' ? parseSegmentName(entry.name) : undefined;
        if (number !== undefined) this.archived.add(number);
      }
      this.listed = true;
    }
    return this.archived;
  }

  /** Segment `number` is sealed: its copy is started in the background. */
  sealed(number: number): void {
    this.due.add(number);
    this.kick();
  }

  /** Sealed segments (all before `current`) of an earlier process's log that the archive lacks are queued. */
  catchUp(present: readonly number[], current: number): void {
    for (const number of present) if (number < current) this.due.add(number);
    this.kick();
  }

  private kick(): void {
    this.running = this.running.then(() =>
      this.copyDue().catch((error) => this.logger?.warn({ err: error }, 'WAL archive: a copy failed; it is retried later')),
    );
  }

  private async copyDue(): Promise<void> {
    const known = await this.known();
    for (const number of [...this.due].sort((a, b) => a - b)) {
      if (!known.has(number)) await this.copy(number);
      this.due.delete(number);
      known.add(number);
    }
  }

  /** One segment read whole from the log's store and written whole (atomically, durably) into the archive. */
  private async copy(number: number): Promise<void> {
    const segment = await this.store.open(number);
    try {
      const bytes = await segment.readAt(0, segment.size());
      await (await this.dir.flushWrite(segmentName(number), bytes)).close();
    } finally {
      await segment.close();
    }
    this.logger?.debug({ segment: number }, 'WAL segment archived');
  }

  /** Resolves once every sealed segment below `end` is in the archive; rejects (naming why) if one cannot be copied. */
  async ensure(end: number): Promise<void> {
    await this.running;
    const known = await this.known();
    for (const number of [...this.due].filter((n) => n < end).sort((a, b) => a - b)) {
      if (!known.has(number)) await this.copy(number);
      this.due.delete(number);
      known.add(number);
    }
  }

  /** Resolves when the copies queued so far have run (successfully or not). */
  idle(): Promise<void> {
    return this.running;
  }

  /** Segments sealed but not in the archive yet. */
  get pending(): number {
    return this.due.size;
  }
}
