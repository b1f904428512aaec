// The tiered adapter: an S3 bucket (the data, shared) with a local directory in front of it (the cache,
// this node's). The namespace is the bucket's (directories, renames and deletions go to it at once); file
// contents are read through a block cache and written to a local copy that uploads later:
//   cacheDir/staging/<id>   local copies of files written (whole files: opened for writing, or waiting
//                           for their upload), and a few empty ones made ahead (spare-copies.ts)
//   cacheDir/pending/<id>.json  one record per upload still due (durable from a sync() on; uploads.ts)
//   cacheDir/blocks/<sha1>  cached blocks of remote objects, one sparse file per version (block-cache.ts)
// Writes are durable locally at sync() and uploaded after the file closes (write-back, the default; after writeBackDelay), or
// before sync() and close() resolve (write-through). A close is not a durability point: it records the
// upload without any fsync (it survives a kill -9; after the machine stopped, copy-check.ts decides). The
// cache directory has one owner (its store lock).
import type { Config } from '../../config/config.js';
import { isCode, storageError } from '../../ground/errors.js';
import { settlesWithin } from '../../ground/settles-within.js';
import type { SetTime } from '../../io/engine.js';
import type { FsStats } from '../../io/native.js';
import type { Logger } from '../../log.js';
import {
  READ_ONLY,
  READ_WRITE,
  totalBytes,
  XattrsOf,
  type Adapter,
  type DirEntry,
  type DirNode,
  type EntryStat,
  type FileNode,
  type NodeKind,
  type OpenFlags,
  type RenameMode,
  type XattrNode,
} from '../adapter.js';
import { LocalAdapter } from '../local/local-adapter.js';
import { attributesOf, entryStat, metadataOf, newAttributes, type Attributes } from '../s3/object-attributes.js';
import type { ObjectHead, ObjectMetadata, ObjectStore } from '../s3/object-store.js';
import { S3Adapter, type S3Dir } from '../s3/s3-adapter.js';
import { nameOfKey } from '../s3/key-names.js';
import { NO_XATTRS } from '../s3/s3-file.js';
import type { S3Options } from '../s3/s3-settings.js';
import { BlockCache, type CachedObject } from './block-cache.js';
import type { SyncedCopy } from './copy-check.js';
import { KeyLocks } from './key-locks.js';
import { SpareCopies } from './spare-copies.js';
import { TieredFile, Written, type Reader, type TieredFiles } from './tiered-file.js';
import { Uploads, type UploadRecord } from './uploads.js';

export interface TieredOptions {
  /** the local directory in front of the bucket (must exist) */
  cacheDir: string;
  /** bytes of cached blocks kept (local copies waiting for upload come on top); default 1 GiB */
  cacheSize?: number;
  /** bytes fetched per cache miss; default 1 MiB */
  blockSize?: number;
  /** bytes fetched ahead of a sequential reader at most, several ranged GETs in flight; 0: none; default 32 MiB */
  readAhead?: number;
  /** bytes of consecutive blocks one read-ahead GET fetches at most (each block serves as it lands); default 16 MiB */
  fetchSize?: number;
  /** 'back' (default): upload after close; 'through': sync() and close() resolve once uploaded */
  writeMode?: 'back' | 'through';
  /** uploads at once; default 4 */
  uploadConcurrency?: number;
  /** first retry delay of a failed upload in ms (doubling up to maxRetryDelay); default 500 */
  retryDelay?: number;
  /** default 30,000 */
  maxRetryDelay?: number;
  /**
   * write-back: ms without a new close before the uploads of the files closed start (and at most 5x this
   * after the first of them closed: write-back-delay.ts); default 0 (at once)
   */
  writeBackDelay?: number;
  /** how long close() waits for the uploads due (ms); those not done resume at the next open; default 30,000 */
  closeTimeout?: number;
  /** ms a directory's listing answers lookups without a request (the s3 option dirCacheTime; this one wins); default 5 min */
  dirCacheTime?: number;
}

async function ensureDir(root: DirNode, name: string): Promise<DirNode> {
  await root.mkdir(name, 0o700).catch((error) => (isCode(error, 'EEXIST') ? undefined : Promise.reject(error)));
  return root.openDir(name);
}

/** The adapter's shared state: what every directory and file of it reaches. */
class Tier implements TieredFiles {
  /** keys open for writing */
  readonly written = new Map<string, Written>();
  /**
   * keys whose last handle is closing: out of `written`, their upload not recorded yet (closeWrittenNow);
   * still local, so that a stat, a listing or an rmdir of the directory in between does not miss them
   */
  private readonly closing = new Map<string, Promise<unknown>>();
  /** renames running, with the key prefixes they move (withTurnsUnder) */
  private readonly moving = new Set<{ prefixes: readonly string[]; done: Promise<void> }>();
  /** last closes whose upload record failed: tried again by a timer (closeLater) */
  private readonly closeFailures = new Map<Written, { attempts: number; timer: NodeJS.Timeout }>();
  /**
   * read-only handles (on local copies, on remote objects), by the key they have now (a rename moves them:
   * moved()): a copy with readers is not taken into the cache
   */
  private readonly readers = new Map<string, Set<Reader>>();
  uploads!: Uploads;
  spares!: SpareCopies;
  cache!: BlockCache;
  /** one change at a time per key */
  readonly locks = new KeyLocks();

  constructor(
    readonly store: ObjectStore,
    readonly staging: DirNode,
    readonly writeThrough: boolean,
    readonly logger: Logger | undefined,
    /** the delays of a close tried again (those of the uploads') */
    private readonly retry: { delay: number; maxDelay: number },
  ) {}

  /** The newest local state of `key`: open for writing, or a copy waiting for its upload. */
  local(key: string): { written: Written } | { record: UploadRecord } | undefined {
    const written = this.written.get(key);
    if (written !== undefined) return { written };
    const record = this.uploads.find(key);
    return record === undefined ? undefined : { record };
  }

  /** Whether `key` has local state: open for writing, closing, or waiting for its upload. */
  isLocal(key: string): boolean {
    return this.closing.has(key) || this.local(key) !== undefined;
  }

  /** Keys with local state (open for writing, closing, or waiting for their upload) under `prefix`, at any depth. */
  localKeysUnder(prefix: string): string[] {
    const keys = new Set<string>();
    for (const key of this.written.keys()) if (key.startsWith(prefix)) keys.add(key);
    for (const key of this.closing.keys()) if (key.startsWith(prefix)) keys.add(key);
    for (const record of this.uploads.under(prefix)) keys.add(record.key);
    return [...keys];
  }

  /**
   * Runs `work` (a rename) in the turns of its keys and of every key under its prefixes (a directory's
   * entries) that has local state or whose turn someone holds: a last close, a sync or a create of one of
   * them running now finishes first, and those coming later wait (and then take the new key's turn, should
   * `work` move them). While it runs, the prefixes are moving: an operation taking the turn of a key under
   * one of them waits for the end, then takes its key again (its directory's prefix follows the rename).
   * A key under the prefixes that became local or taken while the turns were taken is taken too, by trying
   * again. `turn` is asked again at each try (a rename of a directory above may have moved them).
   */
  async withTurnsUnder<T>(turn: () => { keys: string[]; prefixes: string[] }, work: () => Promise<T>): Promise<T> {
    for (;;) {
      const { keys, prefixes } = turn();
      const moving = this.movingOver(keys);
      if (moving !== undefined) {
        await moving;
        continue;
      }
      const under = () => prefixes.flatMap((prefix) => [...this.localKeysUnder(prefix), ...this.locks.takenUnder(prefix)]);
      const held = new Set([...keys, ...under()]);
      const done = await this.locks.with([...held], async () => {
        if (turn().keys.join('\0') !== keys.join('\0') || this.movingOver(keys) !== undefined) return undefined;
        // marked before the check: an operation taking a key under the prefixes from now on waits
        let end!: () => void;
        const move = { prefixes, done: new Promise<void>((resolve) => (end = resolve)) };
        this.moving.add(move);
        try {
          return under().every((key) => held.has(key)) ? { value: await work() } : undefined;
        } finally {
          this.moving.delete(move);
          end();
        }
      });
      if (done !== undefined) return done.value;
    }
  }

  /** The end of a rename moving a prefix that one of `keys` is under, if one is running. */
  private movingOver(keys: readonly string[]): Promise<void> | undefined {
    for (const move of this.moving) if (keys.some((key) => move.prefixes.some((prefix) => key.startsWith(prefix)))) return move.done;
    return undefined;
  }

  /**
   * Runs `work` in the turn of the key `keyOf` gives (an entry of a directory): not while a rename moves
   * the directory (withTurnsUnder), whose end is waited for, the key then asked again.
   */
  async withTurnOfEntry<T>(keyOf: () => string, work: (key: string) => Promise<T>): Promise<T> {
    for (;;) {
      const key = keyOf();
      const moving = this.movingOver([key]);
      if (moving !== undefined) {
        await moving;
        continue;
      }
      const done = await this.locks.with([key], async () => (keyOf() === key && this.movingOver([key]) === undefined ? { value: await work(key) } : undefined));
      if (done !== undefined) return done.value;
    }
  }

  /** Keys with local state, directly under `prefix`. */
  localNames(prefix: string): string[] {
    const keys = new Set([...this.written.keys(), ...this.closing.keys(), ...this.uploads.under(prefix).map((record) => record.key)]);
    return [...keys].filter((key) => key.startsWith(prefix) && !key.slice(prefix.length).includes('/')).map((key) => nameOfKey(key.slice(prefix.length)));
  }

  async localStat(key: string): Promise<EntryStat | undefined> {
    const local = this.local(key);
    if (local === undefined) {
      const closing = this.closing.get(key);
      // its close decides what it is: recorded (local again), or unchanged and forgotten (the object's)
      if (closing !== undefined) return closing.then(() => this.localStat(key));
      return undefined;
    }
    // the copy is stat'ed by its name, not through an open copy's descriptor: a last close running meanwhile
    // (in the key's turn, which a stat does not take) may close that descriptor, and its number be another file's
    const written = 'written' in local ? local.written : undefined;
    let stat: EntryStat;
    try {
      stat = await this.staging.stat('written' in local ? local.written.id : local.record.id);
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error;
      // closed and uploaded meanwhile: its copy went to the cache (or away), the bucket has it now; an open
      // copy that is no longer the key's (closed meanwhile) is looked up again
      return written !== undefined && this.written.get(key) !== written ? this.localStat(key) : undefined;
    }
    const attributes = 'written' in local ? local.written.attributes : attributesOf(local.record.metadata, 'file', new Date());
    return { ...entryStat('file', key, stat.size, attributes), mtimeNs: stat.mtimeNs, ctimeNs: stat.ctimeNs, atimeNs: stat.atimeNs };
  }

  /**
   * Opens `key` for writing: the copy open already, a copy waiting for upload (held back), or a new one
   * (with the local copy's attributes as it was opened, so that the handle's open need not ask again).
   */
  async openWritten(key: string, fill: (file: FileNode) => Promise<Attributes>, created: boolean): Promise<{ written: Written; local?: EntryStat }> {
    const open = this.written.get(key);
    if (open !== undefined) return { written: open };
    const record = this.uploads.find(key);
    if (record !== undefined && (await this.uploads.hold(record.id))) {
      const current = this.written.get(key);
      if (current !== undefined) return { written: current };
      let file: FileNode | undefined;
      try {
        file = await this.staging.openFile(record.id, READ_WRITE);
        const local = await file.stat();
        const written = new Written(key, record.id, file, attributesOf(record.metadata, 'file', new Date()), local, true, true);
        this.written.set(key, written);
        return { written, local };
      } catch (error) {
        // the open failed (EMFILE, EIO): the upload held for it goes on
        await file?.close().catch(() => undefined);
        this.uploads.queue(record.id);
        throw error;
      }
    }
    const copy = await this.spares.take();
    const { id, file } = copy;
    try {
      const attributes = await fill(file);
      const current = this.written.get(key);
      if (current !== undefined) {
        await file.close();
        await this.staging.unlink(id);
        return { written: current };
      }
      // Nothing is durable yet: the upload is recorded at the first sync() or at close (record()).
      const local = created ? copy.stat : await file.stat();
      const written = new Written(key, id, file, attributes, local, created, false);
      this.written.set(key, written);
      return { written, local };
    } catch (error) {
      await file.close().catch(() => undefined);
      await this.staging.unlink(id).catch(() => undefined);
      throw error;
    }
  }

  async closeWritten(written: Written): Promise<void> {
    const queued = await this.withTurnOf(written, () => this.closeWrittenNow(written));
    if (queued && this.writeThrough) await this.uploads.finished(written.id);
  }

  /**
   * Runs `work` in the turn of the key `written` has when the turn comes: a rename that ran first may have
   * moved it to another key, whose turn is then taken instead.
   */
  private async withTurnOf<T>(written: Written, work: () => Promise<T>): Promise<T> {
    for (;;) {
      const key = written.key;
      const done = await this.locks.with([key], async () => (written.key === key ? { value: await work() } : undefined));
      if (done !== undefined) return done.value;
    }
  }

  /**
   * The last handle closed: its upload recorded (no fsync) and queued; false when nothing is to upload. An
   * open may have taken the key's turn first and opened the copy again: the close of that handle does this.
   */
  private async closeWrittenNow(written: Written): Promise<boolean> {
    if (written.handles > 0 || written.closed) return false;
    written.closed = true;
    if (this.written.get(written.key) !== written) return this.finishClose(written);
    const key = written.key;
    const done = this.finishClose(written);
    this.closing.set(
      key,
      done.catch(() => undefined),
    );
    this.written.delete(key);
    try {
      return await done;
    } finally {
      this.closing.delete(key);
    }
  }

  private async finishClose(written: Written): Promise<boolean> {
    // a close tried again: this one replaces it
    const failure = this.closeFailures.get(written);
    if (failure !== undefined) clearTimeout(failure.timer);
    this.closeFailures.delete(written);
    if (written.dropped) {
      await written.file.close();
      return false;
    }
    // the fstat or the record failing: the copy is all there is of these bytes, kept open and local, its
    // close tried again later
    const attempts = (failure?.attempts ?? 0) + 1;
    let stat: EntryStat;
    try {
      stat = await written.file.stat();
    } catch (error) {
      this.closeLater(written, error, attempts);
      return false;
    }
    // opened for writing, never written: the object is as it was; nothing to upload (nor to overwrite)
    if (written.asOpened(stat)) {
      await written.file.close();
      await this.forgetCopy(written);
      return false;
    }
    const metadata = metadataOf({ ...written.attributes, mtimeNs: stat.mtimeNs });
    // write-through: the last sync() (a close(2)'s FLUSH, an fsync) sent this very copy
    const sent = this.writeThrough ? this.sentAsIs(written, stat, metadata) : undefined;
    if (sent !== undefined) {
      await this.closeSent(written, { id: written.id, key: written.key, metadata }, sent);
      return false;
    }
    try {
      await this.record(written, metadata);
    } catch (error) {
      if (this.writeThrough) return this.sendUnrecorded(written, metadata, error, attempts);
      this.closeLater(written, error, attempts);
      return false;
    }
    // recorded: the upload goes whatever happens to this descriptor (the upload opens the copy by its name)
    try {
      await written.file.close();
    } catch (error) {
      this.logger?.warn({ err: error, key: written.key, copy: written.id }, 'tiered: closing the local copy of a closed file failed; its upload goes on');
    }
    this.uploads.queue(written.id);
    return true;
  }

  /**
   * Write-through: a last close whose upload record could not be written (ENOSPC, EIO) sends its copy now,
   * unrecorded: its caller waits for the object anyway (a crash before the PUT is done loses nothing
   * acknowledged). The PUT failing too, the copy is kept as closeLater() keeps it and the close fails with
   * the PUT's error: the promise of write-through (the object is in the bucket when close resolves) is not
   * kept. Resolves false: nothing is queued.
   */
  private async sendUnrecorded(written: Written, metadata: ObjectMetadata, recordError: unknown, attempts: number): Promise<boolean> {
    const record: UploadRecord = { id: written.id, key: written.key, metadata };
    let sent: { etag: string; size: number };
    try {
      sent = await this.uploads.sendNow(record);
    } catch (error) {
      this.closeLater(written, recordError, attempts);
      throw error;
    }
    this.logger?.warn({ err: recordError, key: written.key }, 'tiered: the upload of a closed file could not be recorded; it was sent at once (write-through)');
    await this.closeSent(written, record, sent);
    return false;
  }

  /**
   * The last close of `written`, whose copy is in the bucket as `record` already (sent by sendNow): the
   * copy is closed, the record of an earlier sync is done with, and the copy becomes the object's cached bytes.
   */
  private async closeSent(written: Written, record: UploadRecord, sent: { etag: string; size: number }): Promise<void> {
    try {
      await written.file.close();
    } catch (error) {
      this.logger?.warn({ err: error, key: written.key, copy: written.id }, 'tiered: closing the local copy of an uploaded file failed');
    }
    try {
      if (written.recorded) await this.uploads.sent(written.id, sent);
      else await this.uploaded(record, sent.etag, sent.size);
    } catch (error) {
      this.logger?.warn({ err: error, key: written.key, copy: written.id }, 'tiered: uploaded; removing its record or keeping its copy as cache failed');
      await this.staging.unlink(written.id).catch(() => undefined);
    }
  }

  /**
   * Write-through: what the bucket holds of `written` when its copy (`stat` now, `metadata` to send) is as
   * the last upload sent it, or as it was at open with no upload due; undefined when an upload is due.
   */
  private sentAsIs(written: Written, stat: EntryStat, metadata: ObjectMetadata): { etag: string; size: number } | undefined {
    const sent = written.sent;
    if (sent === undefined) return undefined;
    const same =
      sent.generation === written.generation && sent.size === stat.size && sent.ctimeNs === stat.ctimeNs && sent.metadata === JSON.stringify(metadata);
    return same ? { etag: sent.etag, size: sent.size } : undefined;
  }

  /** Write-through: the copy of `written` needs no upload: unchanged since it opened (none was due), or since sync() sent it. */
  private inBucket(written: Written, stat: EntryStat, metadata: ObjectMetadata): boolean {
    return written.asOpened(stat) || this.sentAsIs(written, stat, metadata) !== undefined;
  }

  /**
   * A last close whose upload record could not be written (ENOSPC, EIO), or whose copy's fstat failed: the copy stays the key's local
   * state, open as if a handle still held it (stat, listings and reads see it; an open takes it again), and
   * its close is tried again after a delay that doubles up to maxRetryDelay. close() of the adapter tries
   * once more.
   */
  private closeLater(written: Written, error: unknown, attempts: number): void {
    written.closed = false;
    if (!this.written.has(written.key)) this.written.set(written.key, written);
    const delay = Math.min(this.retry.delay * 2 ** (attempts - 1), this.retry.maxDelay);
    const timer = setTimeout(() => {
      this.closeWritten(written).catch((again: unknown) => this.logger?.warn({ err: again, key: written.key }, 'tiered: a close tried again failed'));
    }, delay);
    timer.unref();
    this.closeFailures.set(written, { attempts, timer });
    this.logger?.warn(
      { err: error, key: written.key, copy: written.id, attempts, retryMs: delay },
      'tiered: the upload of a closed file could not be recorded; its local copy is kept and the close tried again',
    );
  }

  /** The closes waiting to be tried again, tried now (the adapter closes); what still fails is said. */
  async closeFailed(): Promise<void> {
    for (const written of [...this.closeFailures.keys()]) {
      // opened again since: the close of that handle records it
      if (written.handles > 0) continue;
      await this.closeWritten(written).catch(() => undefined);
      const still = this.closeFailures.get(written);
      if (still === undefined) continue;
      clearTimeout(still.timer);
      this.closeFailures.delete(written);
      written.closed = true;
      await written.file.close().catch(() => undefined);
      this.logger?.error(
        { key: written.key, copy: written.id },
        "tiered: a closed file could not be recorded for upload; its bytes are only in the local copy named here, in the cache directory's staging area (copy it out: the next open removes copies without a record)",
      );
    }
  }

  /**
   * Records the upload of `written`: a new record, or the one it has, updated (unchanged: nothing written).
   * With `synced` (the copy's size after its fdatasync by the caller) the record is durable, after the
   * copy's directory entry; without, it is written without fsync (a close), unless the record on disk is
   * durable already (it is then replaced durably: a sync acknowledged must not be lost to a torn record).
   */
  private async record(written: Written, metadata: ObjectMetadata, synced?: SyncedCopy): Promise<void> {
    const record = { id: written.id, key: written.key, metadata, ...(synced === undefined ? {} : { synced }) };
    const durable = synced !== undefined;
    if (written.recorded) return this.uploads.update(record, durable);
    await this.uploads.begin(record, durable);
    written.recorded = true;
  }

  /** Removes the local copy of `written` and its record if it has one (nothing of it is to upload). */
  private async forgetCopy(written: Written): Promise<void> {
    if (written.recorded) await this.uploads.cancel(written.id);
    else await this.staging.unlink(written.id).catch((error) => (isCode(error, 'ENOENT') ? undefined : Promise.reject(error)));
  }

  /**
   * sync() of a handle on `written`: its copy durable (fdatasync, or fsync), then its upload recorded
   * durably with the copy's size (what an upload after the machine stopped is checked against);
   * write-through: sent now, in the key's turn (a rename or an unlink running meanwhile would have the PUT
   * land after it, under the old name). The copy's directory entry is synced (the first time) while the
   * copy's own sync runs.
   */
  async sync(written: Written, datasync: boolean): Promise<void> {
    await this.withTurnOf(written, async () => {
      if (written.dropped) return written.file.sync(datasync);
      // a change from here on (during the upload too) makes what is sent stale
      const generation = written.generation;
      const entryDurable = written.recorded && this.uploads.isDurable(written.id);
      await Promise.all([written.file.sync(datasync), entryDurable ? undefined : this.staging.sync()]);
      const stat = await written.file.stat();
      const metadata = metadataOf({ ...written.attributes, mtimeNs: stat.mtimeNs });
      // write-through: a close(2) after an fsync, or of a file opened for writing and left as it was, sends nothing again
      if (this.writeThrough && this.inBucket(written, stat, metadata)) return;
      await this.record(written, metadata, { size: stat.size });
      if (!this.writeThrough) return;
      const sent = await this.uploads.sendNow({ id: written.id, key: written.key, metadata });
      written.sent = { generation, size: stat.size, ctimeNs: stat.ctimeNs, metadata: JSON.stringify(metadata), etag: sent.etag };
    });
  }

  /** A read-only handle on the local copy of `key` waiting for upload. */
  async openCopy(key: string, record: UploadRecord): Promise<TieredFile> {
    // counted before the open: an upload ending while it runs must see the reader and leave the copy out of
    // the cache (an adopted copy is a cached object nobody pins, whose blocks eviction punches out)
    const reader: Reader = { key, copy: true };
    this.addReaders(key, [reader]);
    let file: FileNode | undefined;
    try {
      file = await this.staging.openFile(record.id, READ_ONLY);
      return await TieredFile.open(this, { kind: 'copy', reader, file, attributes: attributesOf(record.metadata, 'file', new Date()) });
    } catch (error) {
      await file?.close().catch(() => undefined);
      this.closeReader(reader);
      throw error;
    }
  }

  /** A read-only handle on `object`, the cached version of `key`, pinned by the caller. */
  openCached(key: string, object: CachedObject, attributes: Attributes): Promise<TieredFile> {
    const reader: Reader = { key, copy: false };
    this.addReaders(key, [reader]);
    return TieredFile.open(this, { kind: 'cached', reader, object, attributes, ahead: this.cache.readAhead() });
  }

  private addReaders(key: string, readers: Iterable<Reader>): void {
    const set = this.readers.get(key) ?? new Set<Reader>();
    for (const reader of readers) {
      reader.key = key;
      set.add(reader);
    }
    this.readers.set(key, set);
  }

  /**
   * The file `key` was unlinked, or replaced by a rename over it, in its turn: its read-only handles no
   * longer reach anything by that name.
   */
  forgetReaders(key: string): void {
    for (const reader of this.readers.get(key) ?? []) reader.gone = true;
    this.readers.delete(key);
  }

  closeReader(reader: Reader): void {
    const readers = this.readers.get(reader.key);
    readers?.delete(reader);
    if (readers?.size === 0) this.readers.delete(reader.key);
  }

  /** Whether a read-only handle is open on the local copy of `key`. */
  private hasCopyReaders(key: string): boolean {
    for (const reader of this.readers.get(key) ?? []) if (reader.copy) return true;
    return false;
  }

  /** After an upload: the local copy becomes the cached version of the object (unless someone reads it). */
  async uploaded(record: UploadRecord, etag: string, size: number): Promise<void> {
    if (this.hasCopyReaders(record.key) || this.written.has(record.key)) {
      await this.staging.unlink(record.id);
      return;
    }
    await this.cache.adopt(this.staging, record.id, record.key, etag, size);
  }

  /** Drops what is local of `key` (deleted, or replaced): an open copy stops uploading, a pending upload goes. */
  drop(key: string): Promise<boolean> {
    return this.dropLocal(key, this.local(key));
  }

  /** Drops `local`, the local state `key` had (see local()), and what is cached of `key`. */
  async dropLocal(key: string, local: ReturnType<Tier['local']>): Promise<boolean> {
    try {
      if (local === undefined) return false;
      if ('written' in local) {
        local.written.dropped = true;
        this.written.delete(key);
        await this.forgetCopy(local.written);
      } else {
        await this.uploads.cancel(local.record.id);
      }
      return true;
    } finally {
      // after the local state went: an upload of it running until then (the cancel waits for it) took its
      // copy into the cache as it ended
      await this.cache.drop(key);
    }
  }

  /**
   * Changes the attributes of `key` where it is local (kept for its upload); false when it is not (the
   * object's own attributes are to change).
   */
  async changeLocal(key: string, change: (attributes: Attributes) => Attributes): Promise<boolean> {
    const local = this.local(key);
    if (local === undefined) return false;
    if ('written' in local) {
      local.written.attributes = change(local.written.attributes);
      // kept for its upload: one is due now even if no byte changes
      local.written.change();
      return true;
    }
    const record = local.record;
    if (!(await this.uploads.hold(record.id))) return false;
    try {
      await this.uploads.update({ ...record, metadata: metadataOf(change(attributesOf(record.metadata, 'file', new Date()))) });
    } finally {
      // the change failed (its record could not be written): the upload goes on, as it was
      this.uploads.queue(record.id);
    }
    return true;
  }

  /**
   * Changes the attributes of the file of read-only handle `reader`, local or remote, in the turn of the key
   * it has then (a rename running now may move it); resolves with the new ones. A file unlinked or replaced
   * since has only the handle's attributes to change: the name is another file's.
   */
  changeAttributes(reader: Reader, current: Attributes, change: (attributes: Attributes) => Attributes): Promise<Attributes> {
    return this.withTurnOfEntry(
      () => reader.key,
      async (key) => (reader.gone ? change(current) : this.changeAttributesNow(key, current, change)),
    );
  }

  /** Resolves once no rename moves the key of `reader`: after the one running now, if any. */
  async settled(reader: Reader): Promise<void> {
    await this.withTurnOfEntry(
      () => reader.key,
      async () => undefined,
    );
  }

  private async changeAttributesNow(key: string, current: Attributes, change: (attributes: Attributes) => Attributes): Promise<Attributes> {
    if (await this.changeLocal(key, change)) return change(current);
    const head = await this.store.head(key);
    if (head === undefined) throw storageError('ENOENT', 'the object is gone', { path: key });
    const attributes = change(attributesOf(head.metadata, 'file', head.lastModified));
    await this.store.copy(key, key, metadataOf(attributes));
    await this.cache.drop(key);
    return attributes;
  }

  /**
   * Holds the uploads due for `key` and for every key under `key/` (none runs until queued again), so that
   * what a rename sees in the bucket stays true while it runs. Resolves with the records still due (an
   * upload that finished meanwhile is in the bucket now).
   */
  async holdFrom(key: string): Promise<UploadRecord[]> {
    const held: UploadRecord[] = [];
    for (const record of this.uploads.keyOrUnder(key)) {
      if (this.written.has(record.key)) continue; // open for writing: it is not queued
      if (await this.uploads.hold(record.id)) held.push(this.uploads.record(record.id) ?? record);
    }
    return held;
  }

  /** Queues again what holdFrom held. */
  release(held: readonly UploadRecord[]): void {
    for (const record of held) this.uploads.queue(record.id);
  }

  /**
   * Local state of `from` (or under `from/` for a directory) now belongs to `to`: copies open for writing,
   * read-only handles (on local copies, on cached objects) and the held uploads take their new keys; the
   * held uploads are queued again.
   */
  async moved(from: string, to: string, directory: boolean, held: readonly UploadRecord[]): Promise<void> {
    const rekey = (key: string): string | undefined =>
      key === from ? to : directory && key.startsWith(`${from}/`) ? `${to}/${key.slice(from.length + 1)}` : undefined;
    // the bucket has moved already: a record that cannot be written again (ENOSPC, EIO) moves all the same,
    // so that its upload goes to the new name (a kill -9 before its next write would send it to the old one)
    const move = async (record: UploadRecord) => {
      try {
        await this.uploads.update(record);
      } catch (error) {
        this.uploads.rekey(record.id, record.key);
        this.logger?.warn(
          { err: error, key: record.key, copy: record.id },
          'tiered: a renamed upload record could not be written again; its upload goes to the new name',
        );
      }
    };
    // read-only handles too, what is done through them from now on is done under the new name; before the
    // held uploads are queued again: one ending must see the readers of its copy under its new key
    for (const [key, readers] of [...this.readers]) {
      const newKey = rekey(key);
      if (newKey === undefined) continue;
      this.readers.delete(key);
      this.addReaders(newKey, readers);
    }
    for (const written of [...this.written.values()]) {
      const key = rekey(written.key);
      if (key === undefined) continue;
      this.written.delete(written.key);
      written.key = key;
      // what the bucket held under the old name is not under the new one: the next sync() or close uploads
      written.sent = undefined;
      this.written.set(key, written);
      if (written.recorded) await move({ id: written.id, key, metadata: metadataOf(written.attributes) });
    }
    for (const record of held) {
      const key = rekey(record.key);
      if (key !== undefined) await move({ ...record, key });
      this.uploads.queue(record.id);
    }
    await this.cache.moved(rekey);
  }
}

export class TieredAdapter implements Adapter {
  readonly kind = 'tiered';
  private readonly remote: S3Adapter;
  private readonly local: LocalAdapter;
  private tier: Tier | undefined;
  private opened: DirNode[] = [];

  private constructor(
    root: string,
    s3: S3Options,
    private readonly options: TieredOptions,
    config: Config,
    private readonly logger: Logger,
  ) {
    if (typeof options.cacheDir !== 'string' || options.cacheDir === '')
      throw storageError('EINVAL', 'the tiered adapter needs a cacheDir (a local directory)');
    this.remote = S3Adapter.create(root, options.dirCacheTime === undefined ? s3 : { ...s3, dirCacheTime: options.dirCacheTime });
    this.local = LocalAdapter.create(options.cacheDir, config, logger);
  }

  static create(root: string, s3: S3Options, options: TieredOptions, config: Config, logger: Logger): TieredAdapter {
    return new TieredAdapter(root, s3, options, config, logger);
  }

  get ioMode(): string {
    return this.local.ioMode;
  }

  /** Uploads not finished yet. */
  get pendingUploads(): number {
    return this.tier?.uploads.pending ?? 0;
  }

  /** Resolves once every pending upload has reached the object store. */
  async drained(): Promise<void> {
    await this.tier?.uploads.drained();
  }

  async openRoot(): Promise<DirNode> {
    const remoteRoot = (await this.remote.openRoot()) as S3Dir;
    const localRoot = await this.local.openRoot();
    this.opened.push(localRoot);
    const staging = await ensureDir(localRoot, 'staging');
    const pending = await ensureDir(localRoot, 'pending');
    const blocks = await ensureDir(localRoot, 'blocks');
    this.opened.push(staging, pending, blocks);
    const retry = { delay: this.options.retryDelay ?? 500, maxDelay: this.options.maxRetryDelay ?? 30_000 };
    const tier = new Tier(this.remote.store, staging, this.options.writeMode === 'through', this.logger, retry);
    tier.cache = new BlockCache(
      this.remote.store,
      blocks,
      {
        cacheSize: this.options.cacheSize ?? 2 ** 30,
        blockSize: this.options.blockSize ?? 2 ** 20,
        readAhead: this.options.readAhead ?? 32 * 2 ** 20,
        fetchSize: this.options.fetchSize ?? 16 * 2 ** 20,
      },
      this.logger,
    );
    await tier.cache.clear();
    tier.uploads = new Uploads(
      this.remote.store,
      staging,
      pending,
      {
        concurrency: this.options.uploadConcurrency ?? 4,
        retryDelay: retry.delay,
        maxRetryDelay: retry.maxDelay,
        delay: this.options.writeMode === 'through' ? 0 : (this.options.writeBackDelay ?? 0),
      },
      (record, etag, size) => tier.uploaded(record, etag, size),
      this.logger,
    );
    await tier.uploads.recover();
    tier.spares = new SpareCopies(staging, () => tier.uploads.newId());
    this.tier = tier;
    return new TieredDir(tier, remoteRoot);
  }

  /**
   * Waits up to closeTimeout for the uploads due, then for those running; what is not done stays recorded
   * and resumes at the next open of the cache directory.
   */
  async close(): Promise<void> {
    await this.tier?.closeFailed();
    const uploads = this.tier?.uploads;
    uploads?.startDelayed();
    if (uploads !== undefined && uploads.pending > 0) {
      this.logger.info({ uploads: uploads.pending }, 'closing: waiting for the uploads due');
      await settlesWithin(uploads.drained(), this.options.closeTimeout ?? 30_000);
    }
    await uploads?.close();
    await this.tier?.spares.close();
    const pending = this.tier?.uploads.pending ?? 0;
    if (pending > 0) this.logger.warn({ uploads: pending }, 'closing with uploads pending: they resume at the next open of this cache directory');
    for (const dir of this.opened.reverse()) await dir.close();
    this.opened = [];
    await this.local.close();
    await this.remote.close();
  }
}

export class TieredDir extends XattrsOf implements DirNode {
  constructor(
    private readonly tier: Tier,
    private readonly remote: S3Dir,
  ) {
    super(NO_XATTRS);
  }

  private key(name: string): string {
    return this.remote.keyOf(name);
  }

  private fail(code: string, what: string, name: string): never {
    throw storageError(code, what, { path: `s3://${this.tier.store.bucket}/${this.key(name)}` });
  }

  async stat(name: string): Promise<EntryStat> {
    if (name !== '') {
      const local = await this.tier.localStat(this.key(name));
      if (local !== undefined) return local;
    }
    return this.remote.stat(name);
  }

  private async exists(name: string): Promise<boolean> {
    return this.tier.isLocal(this.key(name)) || (await this.remote.kindOf(name)) !== 'none';
  }

  async list(): Promise<DirEntry[]> {
    const entries = await this.remote.list();
    const seen = new Set(entries.map((entry) => entry.name));
    for (const name of this.tier.localNames(this.remote.prefix)) if (!seen.has(name)) entries.push({ name, kind: 'file' });
    return entries;
  }

  mkdir(name: string, mode: number): Promise<void> {
    return this.tier.withTurnOfEntry(
      () => this.key(name),
      () => this.mkdirNow(name, mode),
    );
  }

  private async mkdirNow(name: string, mode: number): Promise<void> {
    if (this.tier.isLocal(this.key(name))) this.fail('EEXIST', 'the name is taken', name);
    await this.remote.mkdir(name, mode);
  }

  mknod(name: string, kind: NodeKind, mode: number, device: number): Promise<void> {
    return this.remote.mknod(name, kind, mode, device);
  }

  async openDir(name: string): Promise<DirNode> {
    if (this.tier.isLocal(this.key(name))) this.fail('ENOTDIR', 'not a directory', name);
    return new TieredDir(this.tier, (await this.remote.openDir(name)) as S3Dir);
  }

  createFile(name: string, mode: number, flags: OpenFlags): Promise<FileNode> {
    return this.tier.withTurnOfEntry(
      () => this.key(name),
      () => this.createFileNow(name, mode, flags),
    );
  }

  private async createFileNow(name: string, mode: number, flags: OpenFlags): Promise<FileNode> {
    if (flags.direct) this.fail('EINVAL', 'O_DIRECT is not offered by the tiered adapter', name);
    if (await this.exists(name)) this.fail('EEXIST', 'the name is taken', name);
    const { written, local } = await this.tier.openWritten(this.key(name), async () => newAttributes(mode), true);
    return TieredFile.open(this.tier, { kind: 'written', written }, local);
  }

  openFile(name: string, flags: OpenFlags): Promise<FileNode> {
    return this.tier.withTurnOfEntry(
      () => this.key(name),
      () => this.openFileNow(name, flags),
    );
  }

  private async openFileNow(name: string, flags: OpenFlags): Promise<FileNode> {
    if (flags.direct) this.fail('EINVAL', 'O_DIRECT is not offered by the tiered adapter', name);
    const key = this.key(name);
    const local = this.tier.local(key);
    if (flags.write || (local !== undefined && 'written' in local)) {
      // emptied right after this open (O_TRUNC): the object's attributes, not its content
      const fill = flags.write && flags.truncate === true ? () => this.remoteAttributes(name) : (file: FileNode) => this.download(name, file);
      const { written, local } = await this.tier.openWritten(key, fill, false);
      return TieredFile.open(this.tier, { kind: 'written', written }, local);
    }
    if (local !== undefined) {
      try {
        return await this.tier.openCopy(key, local.record);
      } catch (error) {
        // uploaded meanwhile (an upload ends outside the key's turn): its copy went to the cache, the bucket has it
        if (!isCode(error, 'ENOENT') || this.tier.local(key) !== undefined) throw error;
      }
    }
    const found = await this.remote.find(name, 'open');
    if (found.kind === 'none') this.fail('ENOENT', 'no such file', name);
    if (found.kind === 'directory') this.fail('EISDIR', 'is a directory', name);
    const object = await this.tier.cache.pin(key, found.head.etag, found.head.size);
    return this.tier.openCached(key, object, attributesOf(found.head.metadata, 'file', found.head.lastModified));
  }

  /** The head of the current remote object `name` (ENOENT, EISDIR otherwise). */
  private async remoteFile(name: string): Promise<ObjectHead> {
    const found = await this.remote.find(name, 'fresh');
    if (found.kind === 'none') this.fail('ENOENT', 'no such file', name);
    if (found.kind === 'directory') this.fail('EISDIR', 'is a directory', name);
    return found.head;
  }

  /**
   * The attributes of the remote object `name`, for a local copy that starts empty: the bucket's now (one
   * HEAD), as a download takes them, so that a chmod or a deletion by another client is not undone
   */
  private async remoteAttributes(name: string): Promise<Attributes> {
    const head = await this.remoteFile(name);
    return attributesOf(head.metadata, 'file', head.lastModified);
  }

  /** The whole remote object into `file` (a new local copy); resolves with its attributes. */
  private async download(name: string, file: FileNode): Promise<Attributes> {
    const head = await this.remoteFile(name);
    let at = 0;
    for await (const chunk of this.tier.store.stream(head.key, 0, head.etag)) {
      await file.write([chunk], at);
      at += chunk.length;
    }
    if (at !== head.size) this.fail('ESTALE', `the object changed while it was fetched (${at} of ${head.size} bytes)`, name);
    return attributesOf(head.metadata, 'file', head.lastModified);
  }

  /** A new local copy with the whole content, durable now, uploaded as one PUT (whole, never a part). */
  flushWrite(name: string, buffers: readonly Uint8Array[], mode: number, flags: OpenFlags): Promise<FileNode> {
    return this.tier.withTurnOfEntry(
      () => this.key(name),
      () => this.flushWriteNow(name, buffers, mode, flags),
    );
  }

  private async flushWriteNow(name: string, buffers: readonly Uint8Array[], mode: number, flags: OpenFlags): Promise<FileNode> {
    if (flags.direct) this.fail('EINVAL', 'O_DIRECT is not offered by the tiered adapter', name);
    const key = this.key(name);
    if (this.tier.local(key) === undefined && (await this.remote.kindOf(name)) === 'directory') this.fail('EISDIR', 'is a directory', name);
    const id = this.tier.uploads.newId();
    const copy = await this.tier.staging.flushWrite(id, buffers, 0o600, READ_WRITE);
    await copy.close();
    // The new version is recorded before the older local state goes: a record that cannot be written
    // (ENOSPC) leaves the older one (maybe synced) as it was. A stop in between leaves two records of the
    // key: the new one names the one it replaces, which recovery drops (Uploads.recover).
    const older = this.tier.local(key);
    const replaces = older === undefined ? undefined : 'written' in older ? older.written.id : older.record.id;
    try {
      await this.tier.uploads.begin(
        { id, key, metadata: metadataOf(newAttributes(mode)), synced: { size: totalBytes(buffers) }, ...(replaces === undefined ? {} : { replaces }) },
        true,
      );
    } catch (error) {
      await this.tier.staging.unlink(id).catch(() => undefined);
      throw error;
    }
    try {
      await this.tier.dropLocal(key, older);
    } catch (error) {
      // gone from here all the same (a record left on disk is the one the new record replaces)
      this.tier.logger?.warn({ err: error, key }, 'tiered: removing the replaced local copy of a file written whole failed');
    }
    let file: FileNode;
    try {
      // opened before its upload starts: an upload done first would have taken the copy into the cache
      file = await this.tier.openCopy(key, { id, key, metadata: metadataOf(newAttributes(mode)) });
    } finally {
      this.tier.uploads.queue(id);
    }
    if (this.tier.writeThrough) await this.tier.uploads.finished(id);
    return file;
  }

  rename(from: string, to: DirNode, toName: string, mode: RenameMode): Promise<void> {
    // a directory's files too: a last close of one of them records its upload under the key it has when
    // its turn comes, so it must not run while the rename moves its key (it would upload to the old name)
    // and the creates in it: one that registered its file after the rename moved the directory's local
    // state would upload to the old name
    const turn = () => {
      const keys = [this.key(from), ...(to instanceof TieredDir ? [to.key(toName)] : [])];
      return { keys, prefixes: keys.map((key) => `${key}/`) };
    };
    return this.tier.withTurnsUnder(turn, () => this.renameNow(from, to, toName, mode));
  }

  private async renameNow(from: string, to: DirNode, toName: string, mode: RenameMode): Promise<void> {
    if (!(to instanceof TieredDir) || to.tier !== this.tier) this.fail('EXDEV', 'a rename between two storages', from);
    if (mode === 'exchange') this.fail('EOPNOTSUPP', 'S3 cannot swap two objects', from);
    const fromKey = this.key(from);
    const toKey = to.key(toName);
    if (fromKey === toKey) return;
    const held = await this.tier.holdFrom(fromKey);
    // the target's uploads too: one running now would land after the copy below and put back the content
    // the rename replaced
    const heldTarget = await this.tier.holdFrom(toKey);
    try {
      const local = this.tier.isLocal(fromKey);
      const remote = await this.remote.kindOf(from);
      if (!local && remote === 'none') this.fail('ENOENT', 'no such file or directory', from);
      const targetLocal = this.tier.isLocal(toKey);
      if (mode === 'noreplace' && (targetLocal || (await to.exists(toName)))) to.fail('EEXIST', 'the target exists', toName);
      // what the bucket's rename checks, for what it does not see (files here not uploaded yet)
      if (remote === 'directory' && targetLocal) to.fail('ENOTDIR', 'cannot replace a file with a directory', toName);
      if (remote === 'directory' && this.tier.localKeysUnder(`${toKey}/`).length > 0) to.fail('ENOTEMPTY', 'the target directory is not empty', toName);
      if (remote !== 'none') {
        await this.remote.rename(from, to.remote, toName, mode);
      } else {
        const target = await to.remote.kindOf(toName);
        if (target === 'directory') to.fail('EISDIR', 'cannot replace a directory with a file', toName);
        if (target === 'file') await to.remote.unlink(toName);
      }
      if (targetLocal) await this.tier.drop(toKey);
      await this.tier.cache.drop(toKey);
      // the handles of the file replaced: not to be confused with those moving to its name now
      this.tier.forgetReaders(toKey);
      await this.tier.moved(fromKey, toKey, remote === 'directory', held);
    } catch (error) {
      this.tier.release(held);
      throw error;
    } finally {
      // (those dropped with the target are gone: queuing them again does nothing)
      this.tier.release(heldTarget);
    }
  }

  unlink(name: string): Promise<void> {
    return this.tier.withTurnOfEntry(
      () => this.key(name),
      () => this.unlinkNow(name),
    );
  }

  /**
   * The object goes first, then the local state: an unlink that fails (the bucket's DELETE) leaves the file
   * as it was, its newer local bytes too. Its upload is held meanwhile (one running finishes first), so that
   * none lands after the DELETE.
   */
  private async unlinkNow(name: string): Promise<void> {
    const key = this.key(name);
    const held = await this.tier.holdFrom(key);
    try {
      try {
        await this.remote.unlink(name);
      } catch (error) {
        // a file only written here so far has no object yet
        if (!(this.tier.isLocal(key) && isCode(error, 'ENOENT'))) throw error;
      }
      this.tier.forgetReaders(key);
      await this.tier.drop(key);
    } finally {
      // (a dropped upload is gone: queuing it again does nothing)
      this.tier.release(held);
    }
  }

  rmdir(name: string): Promise<void> {
    return this.tier.withTurnOfEntry(
      () => this.key(name),
      () => this.rmdirNow(name),
    );
  }

  private async rmdirNow(name: string): Promise<void> {
    if (this.tier.isLocal(this.key(name))) this.fail('ENOTDIR', 'not a directory', name);
    if (this.tier.uploads.under(`${this.key(name)}/`).length > 0 || this.tier.localNames(`${this.key(name)}/`).length > 0) {
      this.fail('ENOTEMPTY', 'directory not empty', name);
    }
    await this.remote.rmdir(name);
  }

  symlink(target: string, name: string): Promise<void> {
    return this.remote.symlink(target, name);
  }

  readlink(name: string): Promise<string> {
    return this.remote.readlink(name);
  }

  link(name: string, to: DirNode, toName: string): Promise<void> {
    return this.remote.link(name, to, toName);
  }

  entryXattrs(_name: string): XattrNode {
    return NO_XATTRS;
  }

  /** Changes the attributes of `name`: kept for its upload when it is local, else on the object. */
  private changeEntry(
    name: string,
    change: (attributes: Attributes) => Attributes,
    remote: () => Promise<void>,
    open?: (copy: FileNode) => Promise<void>,
  ): Promise<void> {
    return this.tier.withTurnOfEntry(
      () => this.key(name),
      async (key) => {
        // an open copy is changed in the key's turn: out of it, its last close may close the copy meanwhile
        const written = this.tier.written.get(key);
        if (written !== undefined) await open?.(written.file);
        if (!(await this.tier.changeLocal(key, change))) await remote();
      },
    );
  }

  chmodEntry(name: string, mode: number): Promise<void> {
    return this.changeEntry(
      name,
      (attributes) => ({ ...attributes, mode: mode & 0o7777 }),
      () => this.remote.chmodEntry(name, mode),
    );
  }

  chownEntry(name: string, uid: number, gid: number): Promise<void> {
    return this.changeEntry(
      name,
      (attributes) => ({ ...attributes, uid: uid >= 0 ? uid : attributes.uid, gid: gid >= 0 ? gid : attributes.gid }),
      () => this.remote.chownEntry(name, uid, gid),
    );
  }

  utimesEntry(name: string, atime: SetTime, mtime: SetTime): Promise<void> {
    return this.changeEntry(
      name,
      (attributes) => ({
        ...attributes,
        atimeNs: atime === 'omit' ? attributes.atimeNs : atime === 'now' ? newAttributes(0).atimeNs : atime,
        mtimeNs: mtime === 'omit' ? attributes.mtimeNs : mtime === 'now' ? newAttributes(0).mtimeNs : mtime,
      }),
      () => this.remote.utimesEntry(name, atime, mtime),
      // an open copy's times are its local file's
      (copy) => copy.utimes(atime, mtime),
    );
  }

  chmod(mode: number): Promise<void> {
    return this.remote.chmod(mode);
  }

  chown(uid: number, gid: number): Promise<void> {
    return this.remote.chown(uid, gid);
  }

  utimes(atime: SetTime, mtime: SetTime): Promise<void> {
    return this.remote.utimes(atime, mtime);
  }

  /** Creations, renames and deletions reached the bucket when they resolved; the uploads of synced files are recorded durably (those only closed are not: a close is no durability point). */
  async sync(): Promise<void> {}

  statfs(): Promise<FsStats> {
    return this.remote.statfs();
  }

  close(): Promise<void> {
    return this.remote.close();
  }
}
