// Loads the C++ addon built by node-gyp from native/ and describes what it exports.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import { StorageError } from '../ground/errors.js';
import { cName } from '../ground/name-bytes.js';
import type { SetTime } from '../ground/set-time.js';

export interface NativeRing {
  read(slot: number, fd: number, buffer: Uint8Array, offset: number, length: number, position: number): void;
  write(slot: number, fd: number, buffer: Uint8Array, offset: number, length: number, position: number): void;
  readv(slot: number, fd: number, buffers: readonly Uint8Array[], position: number): void;
  writev(slot: number, fd: number, buffers: readonly Uint8Array[], position: number): void;
  fsync(slot: number, fd: number, datasync: boolean): void;
  openat2(slot: number, dirfd: number, path: Uint8Array, flags: number, mode: number, resolve: number): void;
  close(slot: number, fd: number): void;
  statx(slot: number, dirfd: number, path: Uint8Array, flags: number, mask: number, out: Uint8Array): void;
  renameat2(slot: number, fromDir: number, from: Uint8Array, toDir: number, to: Uint8Array, flags: number): void;
  unlinkat(slot: number, dirfd: number, path: Uint8Array, flags: number): void;
  mkdirat(slot: number, dirfd: number, path: Uint8Array, mode: number): void;
  symlinkat(slot: number, target: Uint8Array, dirfd: number, path: Uint8Array): void;
  linkat(slot: number, fromDir: number, from: Uint8Array, toDir: number, to: Uint8Array, flags: number): void;
  fallocate(slot: number, fd: number, mode: number, offset: number, length: number): void;
  ftruncate(slot: number, fd: number, length: number): void;
  submit(): number;
  supports(opcode: number): boolean;
  counters(): RingCounters;
  destroy(): void;
}

export interface RingCounters {
  queued: number;
  inKernel: number;
  submits: number;
  submitted: number;
  completed: number;
}

export interface FsStats {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namemax: number;
}

/** Thread-pool system calls: each resolves with the result, or with -errno. */
export interface NativeBlocking {
  openat2(dirfd: number, path: Uint8Array, flags: number, mode: number, resolve: number): Promise<number>;
  /**
   * A new file made as Dir.createFile makes one, in one pool call: openat2 O_CREAT | O_EXCL beneath `dirfd`,
   * a chmod to exactly `mode` where `umask` took bits and the directory has no default ACL, the new
   * descriptor's statx (`mask`) into `out` (256 bytes). Resolves with the descriptor, or -(errno + (step <<
   * 16)), the step that failed: 0 the open, 1 O_DIRECT (set after the open), 2 the default ACL's probe, 3
   * the chmod, 4 the statx; then the file made is removed again.
   */
  createFile(dirfd: number, path: Uint8Array, flags: number, mode: number, umask: number, mask: number, out: Uint8Array): Promise<number>;
  close(fd: number): Promise<number>;
  mkdirat(dirfd: number, path: Uint8Array, mode: number): Promise<number>;
  /** `mode` with its file type bits; `dev` as the kernel encodes dev_t */
  mknodat(dirfd: number, path: Uint8Array, mode: number, dev: number): Promise<number>;
  unlinkat(dirfd: number, path: Uint8Array, flags: number): Promise<number>;
  renameat2(fromDir: number, from: Uint8Array, toDir: number, to: Uint8Array, flags: number): Promise<number>;
  symlinkat(target: Uint8Array, dirfd: number, path: Uint8Array): Promise<number>;
  linkat(fromDir: number, from: Uint8Array, toDir: number, to: Uint8Array, flags: number): Promise<number>;
  statx(dirfd: number, path: Uint8Array, flags: number, mask: number, out: Uint8Array): Promise<number>;
  /** the target's bytes */
  readlinkat(dirfd: number, path: Uint8Array): Promise<Buffer | number>;
  /** every name NUL-terminated in `names`, their d_type in `types` */
  readdir(dirfd: number): Promise<{ names: Buffer; types: Buffer } | number>;
  fchmod(fd: number, mode: number): Promise<number>;
  fchown(fd: number, uid: number, gid: number): Promise<number>;
  futimens(fd: number, atime: SetTime, mtime: SetTime): Promise<number>;
  lchmod(dirfd: number, path: Uint8Array, mode: number): Promise<number>;
  fchownat(dirfd: number, path: Uint8Array, uid: number, gid: number, flags: number): Promise<number>;
  utimensat(dirfd: number, path: Uint8Array, atime: SetTime, mtime: SetTime, flags: number): Promise<number>;
  /** xattr calls on `fd` itself (entry '') or on its entry `entry`, not followed */
  getxattr(fd: number, entry: Uint8Array, name: Uint8Array): Promise<Buffer | number>;
  setxattr(fd: number, entry: Uint8Array, name: Uint8Array, value: Uint8Array, flags: number): Promise<number>;
  /** the names, each NUL-terminated */
  listxattr(fd: number, entry: Uint8Array): Promise<Buffer | number>;
  removexattr(fd: number, entry: Uint8Array, name: Uint8Array): Promise<number>;
  ftruncate(fd: number, length: number): Promise<number>;
  fallocate(fd: number, mode: number, offset: number, length: number): Promise<number>;
  fstatfs(fd: number): Promise<FsStats | number>;
  /** the new offset (SEEK_DATA, SEEK_HOLE) */
  lseek(fd: number, offset: number, whence: number): Promise<number>;
  /** one copy_file_range(2) at explicit offsets: the bytes copied, perhaps fewer than asked */
  copyFileRange(fdIn: number, offsetIn: number, fdOut: number, offsetOut: number, length: number): Promise<number>;
  /** sync_file_range(SYNC_FILE_RANGE_WRITE): starts writeback of the range, waits for none of it; 0 or -errno */
  syncFileRange(fd: number, offset: number, length: number): Promise<number>;
}

/** One FUSE connection (native/src/fuse/session.h); requests reach `onRequests` in batches, raw. */
export interface NativeFuseSession {
  /** opens /dev/fuse and mount(2)s it: data is "fd=N," + options; MS_RDONLY when readOnly; throws an Error with errno */
  mount(source: string, target: string, fstype: string, options: string, readOnly: boolean): void;
  /** has fusermount3 mount `target` with `options` (any user) and keeps the descriptor it passes back */
  mountWithFusermount(target: string, options: string): void;
  /**
   * starts the reader threads (4 a CPU, at least 8, at most 32), reading into buffers of `bufferSize` bytes; the data path's GETATTR replies
   * let the kernel keep attributes for `attrSeconds` + `attrNanoseconds`, its replies to a LOOKUP of an
   * absent name the absence for `entrySeconds` + `entryNanoseconds`; READ replies of at least
   * `spliceMinimum` bytes go by splice (0 or absent: none), and with `spliceDrain` (tests) each is read back
   * from its pipe and sent by copy, the path of a splice that fell short; with `statx` (the mount serves
   * STATX), the data path answers STATX where it answers GETATTR; with `changesNames` (the storage is not
   * read-only) it makes UNLINKs and CREATEs' files itself
   */
  start(
    bufferSize: number,
    attrSeconds: number,
    attrNanoseconds: number,
    entrySeconds: number,
    entryNanoseconds: number,
    spliceMinimum?: number,
    spliceDrain?: boolean,
    statx?: boolean,
    changesNames?: boolean,
  ): void;
  /**
   * from now until its RELEASE (reported to onRequests), the data path serves READ, WRITE, FSYNC, FLUSH,
   * GETATTR and RELEASE of handle `fh` of node `nodeid` itself, on descriptor `fd`, raising sizeCell[0]
   * when a write ends past it. byStorage: bit 1, its FSYNC goes to JavaScript; bit 2, its FLUSH too; bit 4, its GETATTR
   * and the WRITEs that may remove privilege bits too. With readyCell and servedCell (a file still being filled), only READs ending at or before
   * readyCell[0], each raising servedCell[0] to its end; with changeCell, changeCell[0] raised by one as each
   * WRITE served there ends; with modeCell (and bit 4), modeCell[0] is the file's mode its privilege check reads
   */
  attach(
    fh: number,
    fd: number,
    nodeid: number,
    sizeCell: Float64Array,
    byStorage: number,
    readyCell?: Float64Array,
    servedCell?: Float64Array,
    changeCell?: Uint32Array,
    modeCell?: Uint32Array,
  ): void;
  /**
   * from now until detachDirectory, the data path answers GETATTR of node `nodeid`, inode `ino` born `born`
   * (ino 0n: not checked; born 0n: the number alone), the directory open as `fd` (of which it keeps a duplicate), and LOOKUP of a name absent from
   * it, but for the names in `kept`; 0, or an errno (EMFILE when it holds as many as it keeps, ESTALE when
   * `fd` is not that directory)
   */
  attachDirectory(nodeid: number, fd: number, ino: bigint, born: bigint, kept: readonly string[]): number;
  detachDirectory(nodeid: number): void;
  /**
   * until it expires `validNs` from now, or detachDirectory, the data path answers GETATTR of node `nodeid` (a
   * directory without a descriptor) with `body`, a fuse_attr_out
   */
  attachAttributes(nodeid: number, body: Buffer, validNs: number): void;
  /** node `nodeid` lost its last name with no handle open: the data path answers its GETATTR and SETATTR with ENOENT */
  removed(nodeid: number): void;
  /**
   * node `nodeid` gains (`delta` 1) or loses (-1) a hold: a handle open, or an OPEN under way; a RELEASE the
   * data path answers drops its handle's hold there (node-table.h, "Unlinks")
   */
  hold(nodeid: number, delta: number): void;
  /** GETXATTR `name` of node `nodeid` is answered ENODATA natively until forgetXattrs (node-table.h) */
  absentXattr(nodeid: number, name: string): void;
  forgetXattrs(): void;
  /**
   * node `nodeid` has no attribute: where its file is on the root's file system, its GETXATTRs of names known
   * absent there are answered ENODATA natively until forgetXattrs (and the answer is true)
   */
  noXattrs(nodeid: number): boolean;
  /** whether GETXATTR `name` of a file on the root's file system was answered ENODATA (node-table.h) */
  absentName(name: string): boolean;
  /**
   * known names (native/src/fuse/node-table.h): a LOOKUP of `name` in attached directory `parent` that finds
   * inode `ino` born `born` (0n: any) is answered natively with node `nodeid` (its lookup counted there); `unnamed` takes it back
   * and returns the count of names taken back so far (forwarded with the statx of the LOOKUPs it leaves to JavaScript)
   */
  named(parent: number, name: string, nodeid: number, ino: bigint, born: bigint): void;
  unnamed(parent: number, name: string): number;
  /** JavaScript's count `lookups` of the node plus the lookups answered natively (taken); with `drop`, a total of 0 also removes its names */
  settle(nodeid: number, lookups: number, drop: boolean): number;
  /**
   * a node id and a handle JavaScript gives nothing else, and a size cell (a Float64Array of one element, 0),
   * for a CREATE the data path answers itself (native/src/fuse/file-table.h): the request then comes with
   * the file's descriptor, the slot and the statx after it ("answered"), before the reply
   */
  giveCreateSlot(nodeid: number, fh: number, sizeCell: Float64Array): void;
  /**
   * FUSE over io_uring: one queue per possible CPU with `depth` entries of `payloadSize` bytes, threads and
   * rings ready; before answering INIT with FUSE_OVER_IO_URING. Returns the number of queues; throws with errno.
   */
  startUring(depth: number, payloadSize: number): number;
  /** the queues offer their entries to the kernel; once INIT is answered */
  registerUring(): void;
  /** FUSE passthrough: registers descriptor `fd` as a backing file; its id, or -errno */
  backingOpen(fd: number): number;
  /** forgets backing file `id` (open files keep theirs): 0 or -errno */
  backingClose(id: number): number;
  /** whether the data path runs (it needs io_uring), what it did, and the io_uring queues */
  counters(): {
    native: boolean;
    /** the /dev/fuse reader threads running (native/src/fuse/session.cc ReaderCount) */
    readers: number;
    served: number;
    forwarded: number;
    bytesRead: number;
    bytesWritten: number;
    writes: number;
    largestWrite: number;
    /** writebacks of a file's dirty pages started while it is written sequentially, ahead of its fsync */
    writebacks: number;
    /** READs whose data the page cache held, read on the reader thread (preadv2 RWF_NOWAIT) rather than through the ring */
    cachedReads: number;
    /** READs sent on (to a reader's pread or the ring) without trying the page cache, after a run of misses (native/src/fuse/data-path.cc) */
    cacheTriesSkipped: number;
    /** READs the page cache did not answer, read by their /dev/fuse reader's own pread (native/src/fuse/data-path.h ThreadReads) */
    threadReads: number;
    /** the most readers in such a pread at once (at most half of them) */
    mostThreadReads: number;
    /** WRITEs larger than a pwrite there and then, written by their /dev/fuse reader's pwrite, an open handle's one at a time (ThreadReads) */
    threadWrites: number;
    /** ... of them, those that waited for another reader's WRITE through the same handle */
    writeWaits: number;
    /** READ replies spliced from the storage's file to /dev/fuse (native/src/fuse/data-path.h ReplySplice) */
    splicedReads: number;
    /** READs begun by splice and answered by copy or an error after all (a short splice: the file shrank meanwhile) */
    spliceFallbacks: number;
    /** READs large enough to splice that found every pipe of their reader busy, and were copied */
    splicePipesBusy: number;
    /** READs large enough to splice whose data the page cache did not hold (all of it, read), and were copied */
    spliceUncached: number;
    /** LOOKUPs answered with the node JavaScript gave the name, and the names known now */
    knownLookups: number;
    /** GETATTRs answered with the reply JavaScript gave (attachAttributes) */
    givenAttributes: number;
    knownNames: number;
    /** GETXATTRs answered ENODATA after the data path listed the file's attributes and found none */
    xattrLists: number;
    /** UNLINKs the data path made (node-table.h, "Unlinks") */
    unlinks: number;
    /** CREATEs whose file the data path made (JavaScript answered them) */
    creates: number;
    /** reads of /dev/fuse that found no request (EAGAIN) */
    emptyReads: number;
    /** the event loop's drains of the queue of requests and reports for JavaScript (some find it empty) */
    drains: number;
    /** wake-ups of the event loop asking for a drain at once (a request to answer; lazy reports ask none) */
    urgentWakes: number;
    uringQueues: number;
    uringRequests: number;
    /** the first error the kernel answered a queue's command with (0: none) */
    uringError: number;
    /** by kind of request the data path answered: errors, and latencies (32 log2 buckets of microseconds) */
    ops: Record<
      'read' | 'write' | 'fsync' | 'getattr' | 'flush' | 'release' | 'setattr' | 'lookup' | 'getxattr' | 'unlink',
      { errors: number; latency: number[] }
    >;
  };
  /** one writev of the reply header and `body`: 0, or -errno (-ENOENT: the request was interrupted) */
  reply(unique: number, error: number, ...body: Uint8Array[]): number;
  /** umount2 (MNT_DETACH when `detach`): 0 or -errno */
  unmount(target: string, detach: boolean): number;
  /** stops and joins the reader, closes /dev/fuse */
  close(): void;
  readonly fd: number;
}

/** The LSM's memtable in the addon (native/src/memtable.cc); src/lsm/memtable.ts is its user. */
export interface NativeMemtable {
  /** inserts the ops of a WAL write record: their count (results[0]: the first's version), -1 if malformed */
  addBatch(record: Uint8Array): number;
  /** the entry of `key` visible at `version`, or -1 (results: version, value length or -1, entry) */
  find(key: string, version: number): number;
  seek(target: string | undefined, exclusive: boolean, version: number, reverse: boolean): string | undefined;
  step(entry: number, version: number, reverse: boolean): string | undefined;
  /** the entry after `entry` (-1: the first), every version, or -1; results[2]: 1 when its key is new */
  next(entry: number): number;
  keyAt(entry: number): string;
  copyValue(entry: number, out: Uint8Array): number;
  /**
   * the next data block of an SST of every entry after `entry` (-1: from the first) into out[offset, ...),
   * the keys' hashes into `hashes` (report: entries, bytes, first and last entry, keys, smallest and largest
   * version): 1, 0 when none is left, -1 when out (report[0] 1) or hashes (2) has no room
   */
  encodeBlock(entry: number, out: Uint8Array, offset: number, blockSize: number, restartInterval: number, hashes: Uint32Array, report: Float64Array): number;
  free(): void;
  readonly bytes: number;
  readonly keys: number;
}

export interface NativeAddon {
  /** onRequests: the requests for JavaScript, and pairs of handle and node whose RELEASE the data path answered */
  FuseSession: {
    new (onRequests: (requests: Buffer[], released: number[]) => void, onEnd: (errno: number) => void): NativeFuseSession;
    /** the fuse_entry_out the data path answers a known name's LOOKUP with, from a struct statx (tests) */
    entryOf(statx: Uint8Array, nodeid: number, attrSeconds: number, attrNanoseconds: number, entrySeconds: number, entryNanoseconds: number): Buffer;
  };
  Ring: new (entries: number, onComplete: (count: number) => void, results: Float64Array) => NativeRing;
  blocking: NativeBlocking;
  /** flock(fd, LOCK_EX or LOCK_SH | LOCK_NB): 0, or -errno (-EWOULDBLOCK when another holds it) */
  flock(fd: number, exclusive: boolean): number;
  /** statx of the open descriptor `fd` itself into `out` (256 bytes), on the calling thread: 0, or -errno */
  fstatx(fd: number, mask: number, out: Uint8Array): number;
  /**
   * statx of `path` (NUL-terminated) in `dirfd`, not following a final symlink, on the calling thread from
   * the dentry cache only: 0, -EAGAIN where that would need IO (or a lookup), or another -errno
   */
  statxCached(dirfd: number, path: Uint8Array, mask: number, out: Uint8Array): number;
  /**
   * preadv2(RWF_NOWAIT) into `buffer` at `position`, on the calling thread: what the page cache holds
   * (bytes read, possibly short), or -EAGAIN where the disk would have to be waited for; or -errno.
   */
  preadNoWait(fd: number, buffer: Uint8Array, position: number): number;
  alignedBuffer(size: number, alignment: number): Buffer;
  /**
   * The first `length` bytes of file `fd` mapped read-only and shared (the page cache's pages), as a Buffer;
   * or -errno. Unmapped once it and every view of it are garbage: a view never outlives its memory.
   */
  mapFile(fd: number, length: number): Buffer | number;
  /** Lets the file of a mapFile Buffer go now (0 or -errno): its range then reads as zeros. */
  unmapFile(mapped: Buffer): number;
  /** Whether every page of a mapFile Buffer is in memory now (mincore): reading it waits for no disk. */
  resident(mapped: Buffer): boolean;
  addressAlignment(buffer: Uint8Array): number;
  /**
   * Seals the WAL records staged back to back in buffer[start, end) (CRC u32 | length u32 | type u8 |
   * payload each): writes each one's CRC32C, from `seed`, of the bytes after its CRC field. Returns how
   * many; throws RangeError if a record's length runs past `end`.
   */
  crc32cRecords(buffer: Uint8Array, start: number, end: number, seed: number): number;
  /** CRC32C of `buffer` from `seed` (as @node-rs/crc32's crc32c); `portable`: without the CPU's CRC instruction */
  crc32c(buffer: Uint8Array, seed: number, portable?: boolean): number;
  /**
   * In an LSM data block of SST `format` 1 or 2 (src/lsm/block.ts), the offset of the entry of `key` (a
   * latin1 string) visible at `version`: -1 when there is none, -2 when the block is malformed (the whole
   * block is walked each time).
   */
  sstBlockFind(block: Uint8Array, key: string, version: number, format: number): number;
  /**
   * The keys of a format-2 LSM data block put together back to back in `keys`, with starts[i] = where
   * entry i starts and keyEnds[i] = where its key ends in `keys` (both at least the block's count long,
   * reused: see sst-block.cc): the bytes they take, -1 when `keys` is too small, -2 when it is malformed.
   */
  sstBlockWalk(block: Uint8Array, starts: Uint32Array, keyEnds: Uint32Array, keys: Uint8Array): number;
  /** `results`: a Float64Array(3) where calls report the entry they land on */
  Memtable: new (
    results: Float64Array,
  ) => NativeMemtable;
  /** ns since the epoch on the clock the kernel stamps file times with (CLOCK_REALTIME_COARSE) */
  fileTimeNow(): bigint;
}

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/src/io -> the package's root: the repository, or node_modules/persistfs where npm installed it (the
// package's install script builds the addon there, scripts/install-addon.mjs)
const packageRoot = path.resolve(here, '../../..');
const addonPath = path.join(packageRoot, 'native/build/Release/persistfs_native.node');

function loadAddon(): NativeAddon {
  try {
    return createRequire(import.meta.url)(addonPath) as NativeAddon;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    throw new StorageError(
      'ENOENT',
      `ENOENT: the native addon is not built (${addonPath} is missing); build it: npm rebuild persistfs where persistfs is installed, or make build in its repository (it needs, on Debian or Ubuntu: apt-get install liburing-dev libisal-dev g++ make python3)`,
      { path: addonPath, cause: error },
    );
  }
}

export const native: NativeAddon = loadAddon();

/** A path or name (a name string: bytes that are not UTF-8 escaped, see ground/name-bytes) as the kernel takes it. */
export const cString: (value: string) => Uint8Array = cName;
