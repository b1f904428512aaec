// An open SST: footer, index, filter and properties are read (and checked) at open; data blocks are read
// on demand through the block cache, each checked against its CRC32C before it is decoded.
import type { Dir } from '../storage/dir.js';
import { native } from '../io/native.js';
import type { File } from '../storage/file.js';
import { Mode } from '../storage/mode.js';
import type { NativeAccess } from '../adapters/adapter.js';
import { bloomMayContain } from './bloom.js';
import { BlockCache } from './block-cache.js';
import { tableName } from './file-names.js';
import { blockOf, versionIn, type Block } from './block.js';
import { checkBlock, readMeta, SstShape } from './sst-checks.js';
import { corruptSst, type BlockHandle, type Index, type TableProperties } from './sst-format.js';

/** A version found by a point read: its seq, and its value (undefined for a delete). */
export interface Hit {
  seq: number;
  value: Buffer | undefined;
}

export class Table extends SstShape {
  /** states (and so readers) holding this table; its file is deleted at 0 once it is obsolete */
  refs = 0;
  obsolete = false;
  /** block reads through the mapping before its residency is looked at again, and when it last was */
  private readsBeforeLook = 0;
  private lookedAt = 0;
  private resident = false;

  private constructor(
    readonly number: number,
    name: string,
    bytes: number,
    private readonly file: File,
    properties: TableProperties,
    index: Index,
    private readonly filter: Buffer,
    private readonly cache: BlockCache,
    /** the directory holding its file: the store's, or the remote tier's */
    readonly home: Dir,
    /** the file mapped read-only (BlockCache.maps), for reads of its blocks without a system call (mappedView) */
    private map: Buffer | undefined,
    format: number,
  ) {
    super(name, bytes, properties, index, format);
  }

  static async open(dir: Dir, number: number, cache: BlockCache): Promise<Table> {
    const name = tableName(number);
    const file = await dir.openFile(name, { access: Mode.Read });
    try {
      const size = await file.size();
      const { properties, index, filter, format } = await readMeta(name, size, (handle) => readChecked(file, name, handle));
      const map = cache.maps(dir) ? mapOf(file, size, cache) : undefined;
      return new Table(number, name, size, file, properties, index, filter, cache, dir, map, format);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  mayContain(hash: number): boolean {
    return bloomMayContain(this.filter, hash);
  }

  /** The first block whose last key is >= `key` (blocks when none). */
  blockFor(key: string): number {
    return lowerBound(this.index.lastKeys, key);
  }

  /** Block `i` with its entries walked (for a scan): at once from the cache, else a promise of it. */
  block(i: number): Block | Promise<Block> {
    try {
      const loaded = this.cached(i);
      return loaded instanceof Promise ? loaded.then((block) => this.walked(i, block)) : this.walked(i, loaded);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `block` (number i) walked; a format-2 block the cache holds is counted again with its keys put together. */
  private walked(i: number, block: Block): Block {
    if (block.decoded) return block;
    block.walked();
    const id = BlockCache.id(this.number, i);
    if (block.keyBytes !== undefined && this.cache.get(id) === block) this.cache.set(id, block);
    return block;
  }

  /**
   * Block `i` as the cache holds it (entries walked only if a scan needed them): at once when it is cached
   * or the page cache holds it (read on this thread without waiting), else a promise of it.
   */
  private cached(i: number): Block | Promise<Block> {
    const id = BlockCache.id(this.number, i);
    const hit = this.cache.get(id);
    if (hit !== undefined) return hit;
    const handle = this.index.handles[i]!;
    // not cached, as LevelDB does not cache its mapped blocks: each read looks at the file's residency
    const view = this.mappedView(handle);
    if (view !== undefined) {
      this.cache.mappedReads++;
      return blockOf(checkBlock(view, handle.length, this.name, handle), this.name, handle.offset, this.format);
    }
    const data = this.cache.buffer(handle.length);
    if (this.readNow(handle, data)) {
      const block = blockOf(checkBlock(data, handle.length, this.name, handle), this.name, handle.offset, this.format);
      block.recyclable = true;
      this.cache.set(id, block);
      return block;
    }
    return this.cache.load(id, async () => blockOf(await readChecked(this.file, this.name, handle, data), this.name, handle.offset, this.format));
  }

  /**
   * The bytes of the block at `handle` in the file's mapping, while every page of the file was in memory
   * at the last look (mincore, taken again after RESIDENCY_READS such reads or RESIDENCY_MS): reading them
   * then costs no system call and waits for no disk. Undefined otherwise (the block is read as without a
   * mapping, which brings the file's pages in: a table being read becomes resident).
   */
  private mappedView(handle: BlockHandle): Buffer | undefined {
    const map = this.map;
    if (map === undefined || handle.offset + handle.length > map.length) return undefined;
    const now = performance.now();
    if (--this.readsBeforeLook < 0 || now - this.lookedAt > RESIDENCY_MS) {
      this.resident = native.resident(map);
      this.readsBeforeLook = RESIDENCY_READS;
      this.lookedAt = now;
    }
    return this.resident ? map.subarray(handle.offset, handle.offset + handle.length) : undefined;
  }

  /** Reads the block at `handle` into `data` if the page cache holds all of it (preadv2 RWF_NOWAIT). */
  private readNow(handle: BlockHandle, data: Buffer): boolean {
    const access = bufferedAccess(this.file);
    if (access === undefined || handle.length === 0) return false;
    return native.preadNoWait(access.fd, data, handle.offset) === handle.length;
  }

  /** Reads at `offset` into `target` (the compaction thread's shared chunks); resolves with the count read. */
  readAt(offset: number, target: Buffer): Promise<number> {
    return target.length === 0 ? Promise.resolve(0) : this.file.read(offset, target);
  }

  /** The whole file in one read (a checkpoint's copy to another storage). */
  async readAll(): Promise<Buffer> {
    const data = Buffer.allocUnsafe(this.bytes);
    const n = await this.readAt(0, data);
    if (n !== this.bytes) throw corruptSst(this.name, `the file is shorter than when it was opened (${n} of ${this.bytes} bytes)`);
    return data;
  }

  /** The newest version of `key` with seq <= `version` in this table, if any: at once when its block is cached. */
  get(key: string, hash: number, version: number): Hit | undefined | Promise<Hit | undefined> {
    if (key < this.smallest || key > this.largest || !this.mayContain(hash)) return undefined;
    const b = this.blockFor(key);
    if (b >= this.blocks) return undefined;
    const loaded = this.cached(b);
    return loaded instanceof Promise ? loaded.then((block) => lookup(block, key, version)) : lookup(loaded, key, version);
  }

  async close(): Promise<void> {
    await this.file.close();
    // the mapping goes once no block of it is held (an iterator of a closed store may still hold some)
    this.unmapped();
  }

  /** This table's mapping is no longer counted (or kept) by it. */
  private unmapped(): void {
    if (this.map === undefined) return;
    mappedTables--;
    this.cache.mappedTables--;
    this.map = undefined;
  }

  async delete(): Promise<void> {
    // nothing holds its blocks now (no state has it, no iterator reads it: one closed during a call
    // releases after it): its mapping goes now, before the close's round trip, so the pages of the tables
    // that replaced it (read at once, through mappings of their own) and its own are not both counted in
    // the process's RSS; the deleted file's space is freed at once, not when the mapping is collected
    if (this.map !== undefined) native.unmapFile(this.map);
    this.unmapped();
    try {
      await this.file.close();
    } finally {
      this.cache.evictFile(this.number, this.blocks);
    }
    await this.home.deleteFile(this.name);
  }
}

/** Block reads through a mapping between two looks at whether the file is all in memory. */
const RESIDENCY_READS = 256;
/** ... and the longest time between two (pages may be dropped meanwhile; reading one then waits for the disk) */
const RESIDENCY_MS = 100;

/**
 * Tables mapped at once in this process at most (LevelDB's limit on 64-bit systems): each mapping is an
 * area of the address space, and the kernel allows a process 65,530 of them (vm.max_map_count), which V8
 * and malloc need too. Tables past it are read without a mapping.
 */
let mappedTablesLimit = 1000;
let mappedTables = 0;

/** @internal for tests: sets the limit, returns the one before */
export function setMappedTablesLimit(limit: number): number {
  const before = mappedTablesLimit;
  mappedTablesLimit = limit;
  return before;
}

/**
 * The SST open as `file`, of `size` bytes, mapped read-only: a local file (not O_DIRECT) that this process
 * owns (or root), else undefined. For another's file mincore(2) says every page is in memory (Linux 5.2+:
 * no page-cache side channel), so a mapped read could wait for the disk on the event loop unseen.
 */
function mapOf(file: File, size: number, cache: BlockCache): Buffer | undefined {
  const access = bufferedAccess(file);
  if (access === undefined || size === 0 || mappedTables >= mappedTablesLimit) return undefined;
  const euid = process.geteuid?.() ?? -1;
  if (euid !== 0 && euid !== file.opened.uid) return undefined;
  const mapped = native.mapFile(access.fd, size);
  if (typeof mapped === 'number') return undefined;
  mappedTables++;
  cache.mappedTables++;
  return mapped;
}

/**
 * The descriptor of `file` native code may read its blocks through: a local file, not O_DIRECT, all of it
 * there (a remote table's cached copy still filling has holes where blocks are not fetched yet; they read
 * as zeros, where read() would fetch them).
 */
function bufferedAccess(file: File): NativeAccess | undefined {
  const access = file.nativeAccess();
  return access === undefined || access.filling !== undefined || file.alignment !== 0 ? undefined : access;
}

/** The version of `key` visible at `version` in `block`, if any (a copy of its value). */
function lookup(block: Block, key: string, version: number): Hit | undefined {
  const at = block.find(key, version);
  if (at < 0) return undefined;
  const { seq, value } = versionIn(block, at);
  return { seq, value: value === undefined ? undefined : Buffer.from(value) };
}

/** Reads a block into `data` and checks its length and CRC32C (crc -1: checked by its decoder instead). */
async function readChecked(file: File, name: string, handle: BlockHandle, data: Buffer = Buffer.allocUnsafe(handle.length)): Promise<Buffer> {
  const n = handle.length === 0 ? 0 : await file.read(handle.offset, data);
  return checkBlock(data, n, name, handle);
}

/** The first index i with keys[i] >= key. */
export function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
