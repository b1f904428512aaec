// The tiered adapter's uploads: which local copies still have to go to the object store, kept so that a
// crash loses none that was acknowledged. Each pending upload is a record in pending/ (its key, its
// attributes, the name of its local copy in staging/, the boot that wrote it, the copy's size at its
// last sync). At a file's sync() it is written durably as a file of its own, replaced whole by a rename
// (fsync of the record and of pending/, after the copy's); at a close without sync() it is a line of the
// process's close log (close-log.ts), without any fsync (a close is not a durability point): enough for a
// kill -9 of the process, as the page cache survives it, and checked at the next open when the machine
// stopped (copy-check.ts). A record that is a file stays one. A durable record is only ever replaced
// durably. A record is removed only after the object store has the object. A failed upload is retried with
// backoff, forever: nothing acknowledged as durable is dropped. On open, every record found is queued again.
import { Readable } from 'node:stream';

import { isCode, storageError } from '../../ground/errors.js';
import type { Logger } from '../../log.js';
import { READ_ONLY, READ_WRITE, type DirNode, type FileNode } from '../adapter.js';
import { MULTIPART_THRESHOLD, type ObjectMetadata, type ObjectStore } from '../s3/object-store.js';
import { CloseLog, LOG } from './close-log.js';
import { bootId, type SyncedCopy, uploadable } from './copy-check.js';
import { WriteBackDelay } from './write-back-delay.js';

const RECORD = '.json';
const TEMP = '.tmp';

export interface UploadRecord {
  /** the local copy's name in staging/, and this record's name in pending/ (with .json) */
  id: string;
  key: string;
  metadata: ObjectMetadata;
  /** the copy's size at its last sync() (none: never synced) */
  synced?: SyncedCopy;
  /**
   * the pending upload of the same key this one replaces (a flushWrite records its new version before the
   * older goes): should both be found at open, the older is dropped
   */
  replaces?: string;
}

/** A record as pending/ holds it. */
interface StoredRecord extends UploadRecord {
  /** the boot of the machine that wrote it (bootId()); none in records of earlier versions (always durable) */
  boot?: string;
}

export interface UploadOptions {
  /** uploads running at once */
  concurrency: number;
  /** first retry delay in ms (doubled each time, up to maxRetryDelay) */
  retryDelay: number;
  maxRetryDelay: number;
  /** ms without a new queue() before the uploads queued start (write-back-delay.ts); 0: at once */
  delay: number;
}

interface Pending {
  record: UploadRecord;
  /** its record on disk was fsynced (written at a sync(), or by an earlier version) */
  durable: boolean;
  /** its record is a file of its own (durable, or from an earlier version), not a line of the close log */
  inFile: boolean;
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
  /** the same, by key (find() and a file's look-ups cost no walk over every pending upload) */
  private readonly byKey = new Map<string, Set<Pending>>();
  /** pending uploads under each directory prefix ('a/', 'a/b/'): a prefix with none is answered without a walk */
  private readonly underDir = new Map<string, number>();
  private readonly waiting: Pending[] = [];
  private readonly delayed: WriteBackDelay<Pending>;
  private active = 0;
  /**
   * the attempts running, to their end: an upload done leaves the map before its record is removed and its
   * copy taken into the cache, and close() and drained() must wait for that too
   */
  private readonly runs = new Set<Promise<void>>();
  private counter = 0;
  private closed = false;
  private readonly log: CloseLog;

  constructor(
    private readonly store: ObjectStore,
    readonly staging: DirNode,
    private readonly pendingDir: DirNode,
    private readonly options: UploadOptions,
    private readonly uploaded: Uploaded,
    private readonly logger: Logger | undefined,
  ) {
    this.delayed = new WriteBackDelay(options.delay, (pending) => this.enqueue(pending));
    this.log = new CloseLog(pendingDir, `closes-${this.newId()}${LOG}`);
  }

  /** Uploads not finished yet (queued, running or waiting for a file to close). */
  get pending(): number {
    return this.byId.size;
  }

  /**
   * The records left by an earlier process, queued again when their copy may be uploaded (copy-check.ts);
   * the others, and local copies without a record, are removed.
   */
  async recover(): Promise<number> {
    const thisBoot = await bootId();
    const copies = new Set((await this.staging.list()).map((entry) => entry.name));
    const ids = new Set<string>();
    const names = (await this.pendingDir.list()).map((entry) => entry.name);
    const logs = names.filter((name) => name.endsWith(LOG));
    // records written at a close by earlier processes; a record file of the same id is newer (durable)
    const logged = new Map<string, unknown>();
    for (const name of logs) for (const [id, record] of await CloseLog.read(this.pendingDir, name)) logged.set(id, record);
    // the records that may upload, with their file in pending/ (none: a line of a close log)
    const found: Array<{ record: StoredRecord; file?: string }> = [];
    for (const name of names) {
      if (name.endsWith(LOG)) continue;
      logged.delete(name.slice(0, -RECORD.length));
      if (!name.endsWith(RECORD)) {
        await this.pendingDir.unlink(name); // a record being written when the process stopped
        continue;
      }
      const record = await this.readRecord(name);
      const keep = record !== undefined && copies.has(record.id) && (await uploadable(record.boot, thisBoot, record.synced, () => this.sizeOf(record.id)));
      if (!keep) {
        this.dropRecord(name, record, copies);
        await this.pendingDir.unlink(name);
        continue;
      }
      found.push({ record, file: name });
    }
    for (const [id, value] of logged) {
      const record = value as StoredRecord;
      const keep = typeof record.key === 'string' && copies.has(id) && (await uploadable(record.boot, thisBoot, record.synced, () => this.sizeOf(id)));
      if (!keep) {
        this.dropRecord(`${id} in a close log`, typeof record.key === 'string' ? record : undefined, copies);
        continue;
      }
      found.push({ record });
    }
    // a record replaced by one found here goes (the process stopped between the new one's write and the old one's removal)
    const replaced = new Set(found.map(({ record }) => record.replaces));
    for (const { record, file } of found) {
      if (replaced.has(record.id)) {
        this.logger?.info({ key: record.key, copy: record.id }, 'an upload record replaced by a newer one of the same file: dropped');
        if (file !== undefined) await this.pendingDir.unlink(file);
        continue;
      }
      ids.add(record.id);
      const { boot, ...upload } = record;
      if (file !== undefined) {
        this.track(upload, true, boot === undefined || upload.synced !== undefined, true);
      } else {
        // into this process's log before the old ones go
        await this.log.write(record.id, record);
        this.track(upload, true, false, false);
      }
    }
    for (const name of logs) await this.pendingDir.unlink(name);
    for (const name of copies) if (!ids.has(name)) await this.staging.unlink(name);
    if (ids.size > 0) this.logger?.info({ uploads: ids.size }, 'resuming uploads left by an earlier process');
    this.pump();
    return ids.size;
  }

  /** The record in pending/`name`; undefined when it is not whole (written without fsync, then the machine stopped). */
  private async readRecord(name: string): Promise<StoredRecord | undefined> {
    try {
      const record = JSON.parse((await this.readWhole(this.pendingDir, name)).toString('utf8')) as StoredRecord;
      return typeof record.id === 'string' && typeof record.key === 'string' ? record : undefined;
    } catch (error) {
      if (error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /** Says why a record found at open is not resumed. */
  private dropRecord(name: string, record: StoredRecord | undefined, copies: ReadonlySet<string>): void {
    if (record === undefined) {
      this.logger?.warn({ record: name }, 'an upload record is not whole (written at a close, not synced, before the machine stopped): dropped');
    } else if (!copies.has(record.id)) {
      // its upload finished (or the file was deleted) and the record's removal had not reached the disk
      this.logger?.info({ key: record.key }, 'an upload record without its local copy: dropped');
    } else {
      this.logger?.warn(
        { key: record.key, copy: record.id, synced: record.synced },
        record.synced === undefined
          ? 'not uploaded: the file was closed but never synced before the machine stopped, so its local copy may be incomplete'
          : 'not uploaded: the local copy is not the size of its last sync (written again or cut, not synced, before the machine stopped); the bucket keeps its object',
      );
    }
  }

  private async sizeOf(id: string): Promise<number> {
    return (await this.staging.stat(id)).size;
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
    for (const pending of this.byKey.get(key) ?? []) return pending.record;
    return undefined;
  }

  /** The pending record `id`, as last updated. */
  record(id: string): UploadRecord | undefined {
    return this.byId.get(id)?.record;
  }

  /** Every pending record of `key` or under `key/` (a file, or a directory's keys), without its siblings that share the prefix. */
  keyOrUnder(key: string): UploadRecord[] {
    const records = [...(this.byKey.get(key) ?? [])].map((pending) => pending.record);
    records.push(...this.under(`${key}/`));
    return records;
  }

  /** Every pending record under `prefix` (a directory's keys). */
  under(prefix: string): UploadRecord[] {
    const records: UploadRecord[] = [];
    if (prefix.endsWith('/') && !this.underDir.has(prefix)) return records;
    for (const pending of this.byId.values()) if (pending.record.key.startsWith(prefix)) records.push(pending.record);
    return records;
  }

  /**
   * Records the upload of `record`: from now on its local copy (staging/<id>) will reach the object store,
   * across a kill -9 too. `durable`: the copy and its directory entry were synced by the caller, and the
   * record is fsynced too (it survives the machine stopping). It uploads when queue() is called (or at the
   * next open).
   */
  async begin(record: UploadRecord, durable: boolean): Promise<void> {
    await this.writeRecord(record, durable, false);
    this.track(record, false, durable, durable);
  }

  /** Whether the record of `id` on disk is durable (its copy synced, and its directory entry). */
  isDurable(id: string): boolean {
    return this.byId.get(id)?.durable ?? false;
  }

  /** Writes `record`: a file of its own when durable or when it has one already, else a line of the close log. */
  private async writeRecord(record: UploadRecord, durable: boolean, inFile: boolean): Promise<void> {
    const name = `${record.id}${RECORD}`;
    const stored: StoredRecord = { ...record, boot: await bootId() };
    if (!durable && !inFile) return this.log.write(record.id, stored);
    const content = Buffer.from(JSON.stringify(stored));
    if (durable) {
      await (await this.pendingDir.flushWrite(name, [content], 0o600, READ_WRITE)).close();
      return;
    }
    // whole or absent after a kill -9 (a rename); no fsync: a close is not a durability point
    const temp = `${record.id}-${++this.counter}${TEMP}`;
    const file = await this.pendingDir.createFile(temp, 0o600, READ_WRITE);
    try {
      await file.write([content], 0);
    } finally {
      await file.close();
    }
    await this.pendingDir.rename(temp, this.pendingDir, name, 'replace');
  }

  private track(record: UploadRecord, queued: boolean, durable: boolean, inFile: boolean): Pending {
    let finish = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const pending: Pending = { record, durable, inFile, queued: false, running: undefined, attempts: 0, done, finish, timer: undefined };
    this.byId.set(record.id, pending);
    this.index(pending);
    if (queued) this.enqueue(pending);
    return pending;
  }

  /**
   * A changed record (a rename, new attributes, a close or sync of its file): written again before anything
   * else happens to it, durably if `durable` or if the record on disk is (a durable record is never replaced
   * by one that may not survive). The copy's last sync stays in it unless `record` brings a newer one.
   * Nothing is written when the record would not change.
   */
  async update(record: UploadRecord, durable = false): Promise<void> {
    const pending = this.byId.get(record.id);
    if (pending === undefined) throw storageError('ENOENT', 'no pending upload with this id', { path: record.id });
    await pending.running?.catch(() => undefined);
    // finished while it ran: writing the record again would bring back an upload that is done
    if (this.byId.get(record.id) !== pending) throw storageError('ENOENT', 'the upload finished before its record could change', { path: record.key });
    const next: UploadRecord = { ...record, synced: record.synced ?? pending.record.synced, replaces: record.replaces ?? pending.record.replaces };
    const writeDurably = durable || pending.durable;
    const same = JSON.stringify(next) === JSON.stringify(pending.record) && (pending.durable || !durable);
    if (same) return;
    await this.writeRecord(next, writeDurably, pending.inFile);
    // not before: a change whose record could not be written (ENOSPC) is not uploaded either
    this.unindex(pending);
    pending.record = next;
    this.index(pending);
    pending.durable = writeDurably;
    pending.inFile ||= writeDurably;
  }

  /** Gives the pending upload `id` the key `key` here only (its record on disk could not be written again). */
  rekey(id: string, key: string): void {
    const pending = this.byId.get(id);
    if (pending === undefined) return;
    this.unindex(pending);
    pending.record = { ...pending.record, key };
    this.index(pending);
  }

  /** Starts (or restarts) the upload of `id`: its local copy is final until hold() is called. */
  queue(id: string): void {
    const pending = this.byId.get(id);
    if (pending === undefined) return;
    if (this.options.delay > 0 && !pending.queued) this.delayed.add(pending);
    else this.enqueue(pending);
  }

  /** Starts the uploads waiting for the write-back delay now (the storage is closing). */
  startDelayed(): void {
    this.delayed.flush();
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
    this.delayed.remove(pending);
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
    this.unindex(pending);
    try {
      // a record that would come back after the machine stops must not upload a deleted file
      await this.removeRecord(pending);
    } finally {
      // nor one whose removal failed (a record without its copy is dropped at the next open)
      await this.staging.unlink(id).catch(() => undefined);
      pending.finish();
    }
  }

  private pump(): void {
    while (!this.closed && this.active < this.options.concurrency && this.waiting.length > 0) {
      const pending = this.waiting.shift()!;
      this.active++;
      const run = this.attempt(pending).finally(() => {
        pending.running = undefined;
        this.runs.delete(run);
        this.active--;
        this.pump();
      });
      pending.running = run;
      this.runs.add(run);
    }
  }

  private async attempt(pending: Pending): Promise<void> {
    const { record } = pending;
    let sent: { etag: string; size: number };
    try {
      sent = await this.send(record);
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
      return;
    }
    await this.settle(pending, sent);
  }

  /**
   * The copy of `id` is in the object store already, as `sent` (sendNow sent it, and it has not changed
   * since): its upload is done without another.
   */
  async sent(id: string, sent: { etag: string; size: number }): Promise<void> {
    const pending = this.byId.get(id);
    if (pending === undefined) return;
    await this.hold(id);
    await this.settle(pending, sent);
  }

  /**
   * The object store has the copy of `pending`: the record goes, then the local copy becomes cached bytes.
   * The upload is done whatever fails here (its waiters are told): a record left behind is dropped at the
   * next open, its copy being gone.
   */
  private async settle(pending: Pending, sent: { etag: string; size: number }): Promise<void> {
    const { record } = pending;
    this.byId.delete(record.id);
    this.unindex(pending);
    pending.queued = false;
    try {
      await this.removeRecord(pending);
    } catch (error) {
      this.logger?.warn({ err: error, key: record.key }, 'uploaded; removing its upload record failed (the next open drops it)');
    }
    await this.uploaded(record, sent.etag, sent.size).catch((error) => {
      this.logger?.warn({ err: error, key: record.key }, 'uploaded; keeping the local copy as cache failed');
      return this.staging.unlink(record.id).catch(() => undefined);
    });
    pending.finish();
  }

  /**
   * Removes the record of `pending` (its file, its line in the close log); durably when it was durable (a
   * record not durable would not upload after the machine stops: no sync; nor one without its copy).
   */
  private async removeRecord(pending: Pending): Promise<void> {
    const id = pending.record.id;
    if (pending.inFile) await this.pendingDir.unlink(`${id}${RECORD}`).catch((error) => (isCode(error, 'ENOENT') ? undefined : Promise.reject(error)));
    await this.log.end(id);
    if (pending.durable) await this.pendingDir.sync();
  }

  /** Uploads the local copy of `record` now, outside the queue (write-through); a record it has stays. Resolves with the object's ETag and size. */
  sendNow(record: UploadRecord): Promise<{ etag: string; size: number }> {
    return this.send(record);
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
    this.delayed.stop();
    for (const pending of this.byId.values()) if (pending.timer !== undefined) clearTimeout(pending.timer);
    await Promise.all([...this.runs].map((run) => run.catch(() => undefined)));
    await this.log.close();
  }

  private index(pending: Pending): void {
    const key = pending.record.key;
    const same = this.byKey.get(key) ?? new Set<Pending>();
    this.byKey.set(key, same);
    same.add(pending);
    for (let slash = key.indexOf('/'); slash >= 0; slash = key.indexOf('/', slash + 1)) {
      const dir = key.slice(0, slash + 1);
      this.underDir.set(dir, (this.underDir.get(dir) ?? 0) + 1);
    }
  }

  private unindex(pending: Pending): void {
    const key = pending.record.key;
    const same = this.byKey.get(key);
    if (same === undefined || !same.delete(pending)) return;
    if (same.size === 0) this.byKey.delete(key);
    for (let slash = key.indexOf('/'); slash >= 0; slash = key.indexOf('/', slash + 1)) {
      const dir = key.slice(0, slash + 1);
      const left = (this.underDir.get(dir) ?? 1) - 1;
      if (left === 0) this.underDir.delete(dir);
      else this.underDir.set(dir, left);
    }
  }

  /** Resolves when nothing is pending (every upload finished). */
  async drained(): Promise<void> {
    while (this.byId.size > 0 || this.runs.size > 0) {
      await Promise.all([...[...this.byId.values()].map((pending) => pending.done), ...[...this.runs].map((run) => run.catch(() => undefined))]);
    }
  }
}

async function* chunks(file: FileNode, size: number): AsyncGenerator<Buffer, void, undefined> {
  for (let at = 0; at < size; at += MULTIPART_THRESHOLD) {
    const chunk = Buffer.alloc(Math.min(MULTIPART_THRESHOLD, size - at));
    await file.read(chunk, at);
    yield chunk;
  }
}
