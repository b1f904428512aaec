// The read cache of the tiered adapter: remote objects' bytes kept in local files, in fixed-size blocks.
// Each version of an object (key and ETag) has one sparse local file; a block is fetched by one ranged GET
// of that version the first time it is read, then served locally. Blocks are evicted least recently used
// first when the cache holds more than its byte budget (a hole is punched where they were), except blocks of
// objects open right now. A new version of an object (another ETag) gets a new file: the old one is never
// served for it. A handle reading sequentially fetches the next blocks ahead of its reads, several ranged
// GETs in flight (read-ahead.ts); random reads fetch only what they read. The mount's native data path
// serves an open object's reads that end within its blocks held from 0 without a gap (readyCell), and the
// fetches ahead follow the end of those too (servedCell of the handle's tracker).
import { createHash } from 'node:crypto';

import { storageError } from '../../ground/errors.js';
import type { Logger } from '../../log.js';
import { FALLOC, READ_WRITE, type DirNode, type FileNode } from '../adapter.js';
import type { ObjectStore } from '../s3/object-store.js';
import { ReadAhead } from './read-ahead.js';

/** A promise with its resolve and reject (Promise.withResolvers comes with Node 22). */
function settleable(): { promise: Promise<void>; resolve(): void; reject(error: unknown): void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** The name of block `index` of a cached version, in the LRU list and the fetches under way. */
const blockId = (object: CachedObject, index: number) => `${object.name}:${index}`;

export interface BlockCacheOptions {
  /** bytes of cached blocks kept before the least recently used are evicted */
  cacheSize: number;
  /** bytes per block (one ranged GET each) */
  blockSize: number;
  /** bytes fetched ahead of a sequential reader at most (0: no read-ahead) */
  readAhead: number;
  /** bytes of consecutive blocks fetched ahead by one ranged GET at most */
  fetchSize: number;
}

/** One version of one object, as far as it is cached. */
export class CachedObject {
  /** the blocks held (change it with held(), lost() and lostAll()) */
  readonly present = new Set<number>();
  /**
   * What native code may serve: the bytes from 0 held without a gap, less `margin` (reads there come to
   * read(), so that a sequential reader's read-ahead goes on), all of them once complete
   */
  readonly readyCell = new Float64Array(1);
  /** its size, as the native data path reads it */
  readonly sizeCell: Float64Array;
  /** blocks from 0 held without a gap */
  private prefix = 0;
  /** open handles reading it: its blocks stay while there are any */
  pins = 0;
  file: FileNode | undefined;
  /** superseded by a newer version: its file goes when the last pin does */
  stale = false;
  /** fetched bytes being written into `file` now: the last unpin waits for them before closing it */
  readonly writes = new Set<Promise<void>>();
  /** the last write queued into `file` (writeInOrder), settled or not */
  private lastWrite: Promise<void> = Promise.resolve();
  /** an adopted copy being renamed into place: a pin opens the file once this settles */
  arrival: Promise<void> = Promise.resolve();
  /** the key its blocks are fetched from: its key, or the name a rename gave the object since (BlockCache.moved) */
  source: string;

  constructor(
    readonly key: string,
    readonly etag: string,
    readonly size: number,
    /** the name of its local file in the cache's directory */
    readonly name: string,
    readonly blockSize: number,
    /** bytes before the end of the blocks held from 0 that native code leaves to read() */
    private readonly margin = 0,
  ) {
    this.sizeCell = Float64Array.of(size);
    this.source = key;
  }

  held(index: number): void {
    this.present.add(index);
    let prefix = this.prefix;
    while (this.present.has(prefix)) prefix++;
    if (prefix !== this.prefix) this.setPrefix(prefix);
  }

  lost(index: number): void {
    this.present.delete(index);
    if (index < this.prefix) this.setPrefix(index);
  }

  lostAll(): void {
    this.present.clear();
    this.setPrefix(0);
  }

  private setPrefix(blocks: number): void {
    this.prefix = blocks;
    const held = Math.min(this.size, blocks * this.blockSize);
    this.readyCell[0] = held === this.size ? held : Math.max(0, held - this.margin);
  }

  get blocks(): number {
    return Math.ceil(this.size / this.blockSize);
  }

  /**
   * Writes `chunks` at `position` of `file` once the writes queued before have settled: one write into the
   * file at a time, whatever the GETs in flight. Concurrent buffered writes of one file (each on a thread
   * of the pool) contend for the inode's lock on ext4, whose waiters spin: a cold read of 64 MiB with 2-3
   * GETs streaming spent 90-250 ms of CPU in 120-250 ms, against 40-60 in 80-100 one write at a time
   * (BENCHMARKS.md, session 37). io_uring queues a file's buffered writes on one worker for the same reason.
   */
  writeInOrder(file: FileNode, chunks: readonly Uint8Array[], position: number): Promise<void> {
    const write = this.lastWrite.then(() => file.write(chunks, position));
    this.lastWrite = write.catch(() => undefined);
    return write;
  }

  /** Whether every block is here (the local file then holds the whole object). */
  get complete(): boolean {
    return this.present.size === this.blocks;
  }
}

const fileName = (key: string, etag: string): string => createHash('sha1').update(key).update('\0').update(etag).digest('hex');

export class BlockCache {
  private readonly objects = new Map<string, CachedObject>();
  /**
   * superseded versions still open, by file name: an open of that version again takes it back (a second
   * object of the same file would count its blocks apart, and its evictions punch holes in the blocks the
   * open one serves)
   */
  private readonly lingering = new Map<string, CachedObject>();
  /** cached blocks, least recently used first: "name:index" -> object */
  private readonly lru = new Map<string, CachedObject>();
  private readonly fetching = new Map<string, Promise<void>>();
  private used = 0;
  /**
   * Removals of cached bytes (holes punched, files unlinked), one after another. What writes or opens a
   * cached file waits for those queued before it, so a removal never lands on bytes fetched after it.
   */
  private removing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ObjectStore,
    /** the directory holding the cached files (emptied when the cache opens) */
    private readonly dir: DirNode,
    readonly options: BlockCacheOptions,
    private readonly logger: Logger | undefined,
  ) {}

  /** Bytes of blocks held now. */
  get bytes(): number {
    return this.used;
  }

  /** Empties the directory: what an earlier process cached is not trusted (its index died with it). */
  async clear(): Promise<void> {
    for (const entry of await this.dir.list()) await this.dir.unlink(entry.name);
  }

  /**
   * The cached object for this version of `key` (made, empty, if new), pinned until unpin(). An older
   * version cached before is dropped (or marked stale while open).
   */
  async pin(key: string, etag: string, size: number): Promise<CachedObject> {
    // one object per version and file name: another version is dropped first, and what is cached is looked
    // up again after each wait (a pin or an adopt of this version may have come meanwhile)
    for (let cached = this.objects.get(key); cached !== undefined && cached.etag !== etag; cached = this.objects.get(key)) await this.forget(cached);
    let object = this.objects.get(key);
    // a version cached before has its file: opened first (a warm open), made first otherwise
    const known = object !== undefined;
    if (object === undefined) {
      const name = fileName(key, etag);
      const open = this.lingering.get(name);
      this.lingering.delete(name);
      // (one a rename moved away: this version is under `key` too, the same bytes; its handles know their names)
      if (open !== undefined) {
        open.stale = false;
        open.source = key;
      }
      // with read-ahead, reads of the last block held go to read(), which fetches the next ones
      object = open ?? new CachedObject(key, etag, size, name, this.options.blockSize, this.options.readAhead > 0 ? this.options.blockSize : 0);
      this.objects.set(key, object);
    }
    object.pins++;
    await object.arrival;
    await this.removing;
    if (object.file === undefined) {
      const name = object.name;
      const make = () => this.dir.createFile(name, 0o600, READ_WRITE);
      const open = () => this.dir.openFile(name, READ_WRITE);
      const otherwise = (code: string, then: () => Promise<FileNode>) => (error: unknown) =>
        (error as { code?: string }).code === code ? then() : Promise.reject(error);
      const makeOrOpen = () => make().catch(otherwise('EEXIST', open)); // another pin may be making it
      const file = await (known ? open().catch(otherwise('ENOENT', makeOrOpen)) : makeOrOpen());
      if (object.file === undefined) object.file = file;
      else await file.close();
    }
    return object;
  }

  async unpin(object: CachedObject): Promise<void> {
    object.pins--;
    if (object.pins > 0) return;
    const file = object.file;
    object.file = undefined;
    // a read-ahead still writing into the file: its descriptor must not be closed (and reused) under it
    await Promise.allSettled(object.writes);
    await file?.close();
    if (object.stale) await this.remove(object);
    else await this.evict();
  }

  /** Takes `name` (a complete local copy of `key` at `etag`, in `from`) in as that version's cached file. */
  async adopt(from: DirNode, name: string, key: string, etag: string, size: number): Promise<void> {
    const old = this.objects.get(key);
    if (old?.etag === etag) {
      // this version is cached already (opened since its upload): keep that one, drop the copy
      await from.unlink(name);
      return;
    }
    // in the map before any wait: a pin of this version from now on is a pin of this object, and opens its
    // file only once the copy is in place (a file it made meanwhile would be replaced under it)
    const object = new CachedObject(key, etag, size, fileName(key, etag), this.options.blockSize);
    this.objects.set(key, object);
    // a superseded object of this version still open keeps the file it has open, which the copy replaces:
    // not to be taken back
    this.lingering.delete(object.name);
    const arrival = (async () => {
      if (old !== undefined) await this.forget(old);
      await from.rename(name, this.dir, object.name, 'replace');
      for (let index = 0; index < object.blocks; index++) this.mark(object, index);
      // an open of an older version dropped it meanwhile: nothing will read it unless it is open
      if (object.stale && object.pins === 0) await this.remove(object);
    })();
    // a pin waiting for it goes on either way: without the copy, the object is empty and fetches its blocks
    object.arrival = arrival.catch(() => undefined);
    await arrival;
    await this.evict();
  }

  /**
   * A rename moved the objects whose keys `rekey` maps (to their new keys): those open fetch their blocks
   * from the new name from now on; all of them leave the cache under the old one (a later object there is
   * another).
   */
  async moved(rekey: (key: string) => string | undefined): Promise<void> {
    for (const object of [...this.objects.values(), ...this.lingering.values()]) {
      const to = rekey(object.source);
      if (to === undefined) continue;
      object.source = to;
      if (this.objects.get(object.key) === object) await this.forget(object);
    }
  }

  /** Drops what is cached of `key` (it changed or went away). */
  async drop(key: string): Promise<void> {
    const object = this.objects.get(key);
    if (object !== undefined) await this.forget(object);
  }

  private async forget(object: CachedObject): Promise<void> {
    if (this.objects.get(object.key) === object) this.objects.delete(object.key);
    object.stale = true;
    if (object.pins === 0) await this.remove(object);
    else this.lingering.set(object.name, object);
  }

  private async remove(object: CachedObject): Promise<void> {
    if (this.lingering.get(object.name) === object) this.lingering.delete(object.name);
    for (const index of object.present) {
      this.lru.delete(blockId(object, index));
      this.used -= this.blockBytes(object, index);
    }
    object.lostAll();
    // a live object of the same version has the same file: it stays
    if (this.objects.get(object.key)?.name === object.name) return;
    await this.queueRemoval(() => this.dir.unlink(object.name).catch(() => undefined));
  }

  private queueRemoval(work: () => Promise<void>): Promise<void> {
    const run = this.removing.then(work);
    this.removing = run.catch((error) => this.logger?.warn({ err: error }, 'cache: removing cached bytes failed'));
    return run;
  }

  private blockBytes(object: CachedObject, index: number): number {
    return Math.min(object.blockSize, object.size - index * object.blockSize);
  }

  private mark(object: CachedObject, index: number): void {
    object.held(index);
    this.lru.set(blockId(object, index), object);
    this.used += this.blockBytes(object, index);
  }

  /** A read-ahead tracker for one handle, to pass to read(). */
  readAhead(): ReadAhead {
    return new ReadAhead(Math.floor(this.options.readAhead / this.options.blockSize));
  }

  /**
   * Reads into `buffer` at `position` of a pinned object, fetching the blocks it lacks; with `ahead` (the
   * handle's tracker), a sequential read also starts fetching the blocks after it, without waiting for them.
   */
  async read(object: CachedObject, buffer: Uint8Array, position: number, ahead?: ReadAhead): Promise<number> {
    const end = Math.min(object.size, position + buffer.length);
    if (end <= position) return 0;
    const first = Math.floor(position / object.blockSize);
    const last = Math.floor((end - 1) / object.blockSize);
    // a fetch waited for may end without its blocks (they landed while no handle had the file open, before
    // this one opened it): those are fetched again
    for (let pass = 0; ; pass++) {
      const missing: Promise<void>[] = [];
      for (let index = first; index <= last; index++) {
        const id = blockId(object, index);
        if (object.present.has(index)) {
          // most recently used now
          this.lru.delete(id);
          this.lru.set(id, object);
        } else {
          missing.push(this.fetch(object, index));
        }
      }
      if (pass === 0 && ahead !== undefined) this.prefetch(object, ...ahead.next(first, last, this.servedBlock(object, ahead)), ahead);
      if (missing.length === 0) break;
      await Promise.all(missing);
      if (object.file === undefined) break;
    }
    const file = object.file;
    if (file === undefined) throw storageError('EBADF', 'a read of a cached object that is not open', { path: object.key });
    return file.read(buffer.subarray(0, end - position), position);
  }

  /**
   * Starts fetching the blocks `from` to `to` (exclusive, rounded up to a multiple of fetchSize's blocks)
   * that are neither here nor coming, consecutive ones together: a ranged GET per run, cut where a block
   * index is a multiple of fetchSize's blocks (S3 services
   * store objects in stripes of a few MiB: a GET of one whole stripe costs the service about what a GET of a
   * part of it does). A failure is left to the read that needs the block.
   */
  private prefetch(object: CachedObject, from: number, to: number, ahead?: ReadAhead): void {
    if (to <= from) return;
    const group = Math.max(1, Math.floor(this.options.fetchSize / object.blockSize));
    // whole groups: a window sliding a block at a time would otherwise fetch a block at a time
    const end = Math.min(Math.ceil(to / group) * group, object.blocks);
    // neither here nor coming
    const wanted = (index: number) => !object.present.has(index) && !this.fetching.has(blockId(object, index));
    let index = from;
    while (index < end) {
      if (!wanted(index)) {
        index++;
        continue;
      }
      let count = 1;
      while (index + count < end && (index + count) % group !== 0 && wanted(index + count)) count++;
      this.fetch(object, index, count, ahead).catch((error) =>
        this.logger?.debug({ err: error, key: object.key, block: index }, 'cache: a read-ahead fetch failed'),
      );
      index += count;
    }
  }

  /** The last block native code served to the handle of `ahead` (-1: none). */
  private servedBlock(object: CachedObject, ahead: ReadAhead): number {
    return Math.ceil(ahead.servedCell[0]! / object.blockSize) - 1;
  }

  /**
   * A fetch ahead of a handle landed: native code may have served it reads that read() did not see since,
   * so the next blocks are fetched ahead of those (nothing once the handle closed or its run ended).
   */
  private keepAhead(object: CachedObject, ahead: ReadAhead | undefined): void {
    if (ahead === undefined || object.file === undefined) return;
    this.prefetch(object, ...ahead.beyond(this.servedBlock(object, ahead)), ahead);
  }

  /**
   * One ranged GET of blocks `first` to `first + count - 1` of this version into the local file, written as
   * it streams in (no buffer of the whole range), each block held, and its readers resumed, once its bytes
   * are written: the first block of a GET serves before the last has come. One fetch at a time per block: a
   * block being fetched already is waited for. What lands after the last handle closed (a read-ahead) is
   * dropped: the file is not open. `ahead`: the handle's tracker, whose read-ahead goes on as blocks land.
   */
  private fetch(object: CachedObject, first: number, count = 1, ahead?: ReadAhead): Promise<void> {
    const running = this.fetching.get(blockId(object, first));
    if (running !== undefined) return running.then(() => this.evict());
    const waiters = Array.from({ length: count }, (_, n) => {
      const waiter = settleable();
      // a failure is its readers' to report; the fetch's own caller hears of it through `fetched`
      waiter.promise.catch(() => undefined);
      this.fetching.set(blockId(object, first + n), waiter.promise);
      return waiter;
    });
    /** blocks before this one are settled */
    let next = first;
    const settle = (upTo: number, held: boolean) => {
      for (; next < upTo; next++) {
        if (held) this.mark(object, next);
        this.fetching.delete(blockId(object, next));
        waiters[next - first]!.resolve();
      }
      if (held) this.keepAhead(object, ahead);
    };
    const fetched = (async () => {
      const start = first * object.blockSize;
      const end = Math.min(object.size, (first + count) * object.blockSize);
      // bytes [start, at) are written or being written; `pending` holds those after them
      let at = start;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      // writes mark their blocks in order, each after those before it
      let written: Promise<void> = Promise.resolve();
      /** the rest came with no handle open: dropped, not short */
      let dropped = false;
      for await (const chunk of this.store.stream(object.source, start, object.etag, end - start)) {
        const room = end - at - pendingBytes;
        pending.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
        pendingBytes += Math.min(chunk.length, room);
        const reached = at + pendingBytes;
        // a block completed, or the range: write what came
        if (Math.floor(reached / object.blockSize) === Math.floor(at / object.blockSize) && reached < end) continue;
        await this.removing;
        const file = object.file;
        if (file === undefined) {
          dropped = true;
          break;
        }
        const write = object.writeInOrder(file, pending, at);
        object.writes.add(write);
        // written (or failed): the chunks' memory serves the next GETs
        const chunks = pending;
        const giveBack = () => this.store.giveBack(chunks);
        write.then(giveBack, giveBack);
        const upTo = reached === end ? first + count : Math.floor(reached / object.blockSize);
        const before = written;
        written = write
          .finally(() => object.writes.delete(write))
          .then(async () => {
            await before;
            settle(upTo, true);
          });
        // awaited below, unless the stream fails first
        written.catch(() => undefined);
        at = reached;
        pending = [];
        pendingBytes = 0;
        if (at === end) break;
      }
      await written;
      // (a handle opened since the rest was dropped reads it by a fetch of its own)
      if (at < end && !dropped) throw storageError('ESTALE', 'the object is shorter than when it was opened', { path: object.source });
      settle(first + count, false);
    })().catch((error) => {
      for (let index = next; index < first + count; index++) {
        this.fetching.delete(blockId(object, index));
        waiters[index - first]!.reject(error);
      }
      throw error;
    });
    return fetched.then(() => this.evict());
  }

  /** Punches out least recently used blocks of objects nobody has open until the budget holds. */
  private async evict(): Promise<void> {
    if (this.used <= this.options.cacheSize) return;
    const victims = new Map<CachedObject, number[]>();
    let over = this.used - this.options.cacheSize;
    for (const [id, object] of this.lru) {
      if (over <= 0) break;
      if (object.pins > 0) continue;
      const index = Number(id.slice(id.lastIndexOf(':') + 1));
      this.lru.delete(id);
      object.lost(index);
      const bytes = this.blockBytes(object, index);
      this.used -= bytes;
      over -= bytes;
      victims.set(object, [...(victims.get(object) ?? []), index]);
    }
    // all queued at once, before anything can fetch a victim's block again (a fetch writes only after the
    // removals queued before it); each looks at its object when its turn comes: pinned, dropped or refilled
    const removals = [...victims].map(([object, indexes]) =>
      this.queueRemoval(async () => {
        // no longer the cached version: its file went with it (or went stale, and goes at its last unpin)
        if (this.objects.get(object.key) !== object) return;
        if (object.present.size === 0 && object.pins === 0) {
          this.objects.delete(object.key);
          await this.dir.unlink(object.name).catch(() => undefined);
          return;
        }
        const file = await this.dir.openFile(object.name, READ_WRITE);
        try {
          // a block held again was fetched after this removal was queued (it waited for it): it stays
          for (const index of indexes)
            if (!object.present.has(index)) await file.allocate(index * object.blockSize, this.blockBytes(object, index), FALLOC.PUNCH_HOLE | FALLOC.KEEP_SIZE);
        } finally {
          await file.close();
        }
      }),
    );
    // bytes that could not be punched are lost to the budget's count only: the reader whose fetch made room
    // is not failed for it (queueRemoval logged it)
    await Promise.allSettled(removals);
    if (this.used > this.options.cacheSize)
      this.logger?.debug({ used: this.used, budget: this.options.cacheSize }, 'cache over budget: the rest is in open files');
  }
}
