// The tiered adapter's uploads: which local copies still have to go to the object store, kept durable so
// that a crash (kill -9 included) loses none of them. Each pending upload is a record in pending/ (its key,
// its attributes, the name of its local copy in staging/), written with flushWrite (atomic and durable)
// before the copy is acknowledged anywhere; it is removed only after the object store has the object. A
// failed upload is retried with backoff, forever: nothing acknowledged as durable is dropped. On open, every
// record found is queued again.
import { Readable } from 'node:stream';

import { isCode, storageError } from '../../ground/errors.js';
import type { Logger } from '../../log.js';
import type { DirNode, FileNode, OpenFlags } from '../adapter.js';
import { MULTIPART_THRESHOLD, type ObjectMetadata, type ObjectStore } from '../s3/object-store.js';

const READ_ONLY: OpenFlags = { read: true, write: false, direct: false, dsync: false };
const READ_WRITE: OpenFlags = { read: true, write: true, direct: false, dsync: false };
const RECORD = '.json';

export interface UploadRecord {
  /** the local copy's name in staging/, and this record's name in pending/ (with .json) */
  id: string;
  key: string;
  metadata: ObjectMetadata;
}

export interface UploadOptions {
  /** uploads running at once */
  concurrency: number;
  /** first retry delay in ms (doubled each time, up to maxRetryDelay) */
  retryDelay: number;
  maxRetryDelay: number;
}

interface Pending {
  record: UploadRecord;
  /** queued for upload (false while the file is open for writing: it uploads when closed) */
  queued: boolean;
  /** the upload running now, if any */
  running: Promise<void> | undefined;
  attempts: number;
  done: Promise<void>;
  finish: () => void;
  timer: NodeJS.Timeout | undefined;
}

/** What happens to a local copy once the object store has it: the cache takes it in. */
export type Uploaded = (record: UploadRecord, etag: string, size: number) => Promise<void>;

export class Uploads {
  private readonly byId = new Map<string, Pending>();
  private readonly waiting: Pending[] = [];
  private active = 0;
  private counter = 0;
  private closed = false;

  constructor(
    private readonly store: ObjectStore,
    readonly staging: DirNode,
    private readonly pendingDir: DirNode,
    private readonly options: UploadOptions,
    private readonly uploaded: Uploaded,
    private readonly logger: Logger | undefined,
  ) {}

  /** Uploads not finished yet (queued, running or waiting for a file to close). */
  get pending(): number {
    return this.byId.size;
  }

  /** The records left by an earlier process, queued again; local copies without a record are removed. */
  async recover(): Promise<number> {
    const names = (await this.pendingDir.list()).map((entry) => entry.name);
    const ids = new Set<string>();
    for (const name of names) {
      if (!name.endsWith(RECORD)) continue;
      const record = JSON.parse((await this.readWhole(this.pendingDir, name)).toString('utf8')) as UploadRecord;
      ids.add(record.id);
      this.track(record, true);
    }
    for (const entry of await this.staging.list()) if (!ids.has(entry.name)) await this.staging.unlink(entry.name);
    if (ids.size > 0) this.logger?.info({ uploads: ids.size }, 'resuming uploads left by an earlier process');
    this.pump();
    return ids.size;
  }

  private async readWhole(dir: DirNode, name: string): Promise<Buffer> {
    const file = await dir.openFile(name, READ_ONLY);
    try {
      const content = Buffer.alloc(file.size());
      await file.read(content, 0);
      return content;
    } finally {
      await file.close();
    }
  }

  /** A new name for a local copy in staging/. */
  newId(): string {
    return `${Date.now().toString(36)}-${process.pid}-${++this.counter}`;
  }

  /** The pending upload of `key`, if one is not finished. */
  find(key: string): UploadRecord | undefined {
    for (const pending of this.byId.values()) if (pending.record.key === key) return pending.record;
    return undefined;
  }

  /** The pending record `id`, as last updated. */
  record(id: string): UploadRecord | undefined {
    return this.byId.get(id)?.record;
  }

  /** Every pending record under `prefix` (a directory's keys). */
  under(prefix: string): UploadRecord[] {
    return [...this.byId.values()].map((pending) => pending.record).filter((record) => record.key.startsWith(prefix));
  }

  /**
   * Makes `record` durable: from now on its local copy (staging/<id>, complete and synced by the caller) will
   * reach the object store, even across a crash. It uploads when queue() is called (or at the next open).
   */
  async begin(record: UploadRecord): Promise<void> {
    await this.writeRecord(record);
    this.track(record, false);
  }

  private async writeRecord(record: UploadRecord): Promise<void> {
    const file = await this.pendingDir.flushWrite(`${record.id}${RECORD}`, [Buffer.from(JSON.stringify(record))], 0o600, READ_WRITE);
    await file.close();
  }

  private track(record: UploadRecord, queued: boolean): Pending {
    let finish = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const pending: Pending = { record, queued: false, running: undefined, attempts: 0, done, finish, timer: undefined };
    this.byId.set(record.id, pending);
    if (queued) this.enqueue(pending);
    return pending;
  }

  /** A changed record (a rename, new attributes): written again before anything else happens to it. */
  async update(record: UploadRecord): Promise<void> {
    const pending = this.byId.get(record.id);
    if (pending === undefined) throw storageError('ENOENT', 'no pending upload with this id', { path: record.id });
    await pending.running?.catch(() => undefined);
    // finished while it ran: writing the record again would bring back an upload that is done
    if (this.byId.get(record.id) !== pending) throw storageError('ENOENT', 'the upload finished before its record could change', { path: record.key });
    pending.record = record;
    await this.writeRecord(record);
  }

  /** Starts (or restarts) the upload of `id`: its local copy is final until hold() is called. */
  queue(id: string): void {
    const pending = this.byId.get(id);
    if (pending !== undefined) this.enqueue(pending);
  }

  private enqueue(pending: Pending): void {
    if (pending.queued) return;
    pending.queued = true;
    this.waiting.push(pending);
    this.pump();
  }

  /**
   * Takes `id` out of the queue so its local copy can change again (an open for writing): resolves once no
   * upload of it is running. Resolves false when the upload had already finished (the record is gone).
   */
  async hold(id: string): Promise<boolean> {
    const pending = this.byId.get(id);
    if (pending === undefined) return false;
    pending.queued = false;
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    pending.timer = undefined;
    const index = this.waiting.indexOf(pending);
    if (index >= 0) this.waiting.splice(index, 1);
    await pending.running?.catch(() => undefined);
    return this.byId.has(id);
  }

  /** Resolves when the upload of `id` has finished (at once when there is none). */
  async finished(id: string): Promise<void> {
    await this.byId.get(id)?.done;
  }

  /** Drops the upload of `id` and its local copy (the file was deleted): after any running attempt. */
  async cancel(id: string): Promise<void> {
    const pending = this.byId.get(id);
    if (pending === undefined) return;
    await this.hold(id);
    this.byId.delete(id);
    await this.pendingDir.unlink(`${id}${RECORD}`).catch((error) => (isCode(error, 'ENOENT') ? undefined : Promise.reject(error)));
    await this.pendingDir.sync();
    await this.staging.unlink(id).catch(() => undefined);
    pending.finish();
  }

  private pump(): void {
    while (!this.closed && this.active < this.options.concurrency && this.waiting.length > 0) {
      const pending = this.waiting.shift()!;
      this.active++;
      pending.running = this.attempt(pending).finally(() => {
        pending.running = undefined;
        this.active--;
        this.pump();
      });
    }
  }

  private async attempt(pending: Pending): Promise<void> {
    const { record } = pending;
    try {
      const { etag, size } = await this.send(record);
      // The object store has it: the record goes, then the local copy becomes cached bytes.
      this.byId.delete(record.id);
      pending.queued = false;
      await this.pendingDir.unlink(`${record.id}${RECORD}`);
      await this.pendingDir.sync();
      await this.uploaded(record, etag, size).catch((error) => {
        this.logger?.warn({ err: error, key: record.key }, 'uploaded; keeping the local copy as cache failed');
        return this.staging.unlink(record.id).catch(() => undefined);
      });
      pending.finish();
    } catch (error) {
      if (!pending.queued) return; // held or cancelled meanwhile: whoever did it decides what comes next
      pending.attempts++;
      const delay = Math.min(this.options.maxRetryDelay, this.options.retryDelay * 2 ** (pending.attempts - 1));
      this.logger?.warn({ err: error, key: record.key, attempt: pending.attempts, retryInMs: delay }, 'upload failed; it will be retried');
      pending.queued = false;
      if (this.closed) return;
      pending.timer = setTimeout(() => {
        pending.timer = undefined;
        this.enqueue(pending);
      }, delay);
    }
  }

  /** Uploads the local copy of `record` now, outside the queue (write-through sync); the record stays. */
  async sendNow(record: UploadRecord): Promise<void> {
    await this.send(record);
  }

  /** One upload of the local copy: a PUT, or a multipart upload streamed from the file when large. */
  private async send(record: UploadRecord): Promise<{ etag: string; size: number }> {
    const file = await this.staging.openFile(record.id, READ_ONLY);
    try {
      const size = file.size();
      if (size < MULTIPART_THRESHOLD) {
        const content = Buffer.alloc(size);
        await file.read(content, 0);
        return { etag: await this.store.put(record.key, content, size, record.metadata), size };
      }
      return { etag: await this.store.put(record.key, Readable.from(chunks(file, size)), size, record.metadata), size };
    } finally {
      await file.close();
    }
  }

  /** Stops starting uploads and waits for those running; what is left stays durable for the next open. */
  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.byId.values()) if (pending.timer !== undefined) clearTimeout(pending.timer);
    await Promise.all([...this.byId.values()].map((pending) => pending.running?.catch(() => undefined)));
  }

  /** Resolves when nothing is pending (every upload finished). */
  async drained(): Promise<void> {
    while (this.byId.size > 0) await Promise.all([...this.byId.values()].map((pending) => pending.done));
  }
}

async function* chunks(file: FileNode, size: number): AsyncGenerator<Buffer, void, undefined> {
  for (let at = 0; at < size; at += MULTIPART_THRESHOLD) {
    const chunk = Buffer.alloc(Math.min(MULTIPART_THRESHOLD, size - at));
    await file.read(chunk, at);
    yield chunk;
  }
}
