// The public shapes of the LSM store: options, write operations, read and range options, iterators and
// snapshots. The store itself is in lsm-store.ts.
import type { Logger } from '../log.js';
import type { Dir } from '../storage/dir.js';

/** Keys and values are bytes; a string is taken as its UTF-8 bytes. Keys order bytewise. */
export type Bytes = Uint8Array | string;

/** A version is the sequence number a write was given; every write gets the next one. */
export type Version = number;

export interface LsmOptions {
  /** a memtable is frozen and written as an SST once it holds this many bytes (default 4 MiB) */
  memtableSize?: number;
  /** target size of an SST data block before compression-free encoding (default 4 KiB) */
  blockSize?: number;
  /** bloom filter bits per key; 0 disables filters (default 10, ~1% false positives) */
  bloomBitsPerKey?: number;
  /** bytes of decoded data blocks kept in memory (default 8 MiB, as LevelDB) */
  blockCacheSize?: number;
  /**
   * read the store's own SSTs through a read-only mapping of each file while all its pages are in memory
   * (default true, as LevelDB): a block not in the block cache costs no system call. A file not wholly in
   * memory is read as without it (never waiting for the disk on the calling thread). The price of a
   * mapping: a disk error while reading a mapped page, or an SST truncated under the running store by
   * another program, ends the process (SIGBUS) where a read would fail with EIO or EBADMSG.
   */
  mmapReads?: boolean;
  /** compaction output files are cut at this size (default 2 MiB) */
  tableFileSize?: number;
  /** level-0 files that start a compaction into level 1 (default 4) */
  l0CompactionTrigger?: number;
  /** level-0 files at which writes wait for compaction (default 12) */
  l0StopWrites?: number;
  /** size limit of level 1; each deeper level is `levelMultiplier` times larger (default 10 MiB) */
  levelBaseBytes?: number;
  levelMultiplier?: number;
  /**
   * When a write's promise resolves: 'none' (default, as LevelDB's default): once the WAL record is
   * written to the file (survives kill -9, not a power loss); 'always': once it is fdatasynced.
   */
  sync?: 'always' | 'none';
  /**
   * What opening does with a WAL record that fails its checksum while good records follow it: 'strict'
   * (default) cuts there, logged at warn, when no mark of the WAL says it was on disk (a power loss's
   * unflushed writes; WAL format 4), and refuses to open when one does (EBADMSG, saying where; always for
   * logs of format 3 and before); 'point-in-time' keeps every write before it and drops the rest in every
   * case (logged as an error).
   */
  walRecovery?: 'strict' | 'point-in-time';
  /**
   * A WAL batch of at most this many bytes is written with a pwritev on the calling (JavaScript) thread
   * (under sync 'always' its fdatasync still goes through the IO engine), as LevelDB writes its log on the writing thread: a put then costs no round trip
   * through the IO engine (an io-wq hand-off and an eventfd wake-up). It blocks the event loop meanwhile,
   * longer when the kernel throttles dirty pages. 0: every batch goes through the IO engine. Default 64 KiB.
   */
  walInlineWriteLimit?: number;
  /**
   * How many WAL segments the store keeps as spares once a flush no longer needs them, to write later
   * segments over in place (WalOptions.recycle): under sync 'always' an fdatasync then changes no metadata
   * and nothing is written twice (measured: 1 KiB values at 64 in flight, 1.14-1.22x the puts a second under
   * 'always', 1.05-1.08x under 'none'; BENCHMARKS.md, session 44). Costs that many WAL segments (16 MiB
   * each) of disk. Default 2; 0 deletes them.
   */
  walRecycle?: number;
  /** open an existing store (or a checkpoint) for reading only; writes are EROFS */
  readOnly?: boolean;
  /** create the store when the directory holds none (default true) */
  createIfMissing?: boolean;
  /** refuse to open a directory that already holds a store (default false) */
  errorIfExists?: boolean;
  /** run compactions in the background (default true); tests turn it off to compact by hand */
  autoCompact?: boolean;
  /**
   * merge compactions on a worker thread of the store's own (default true): the main thread reads the
   * inputs, writes the outputs and installs them; the decoding, merging, encoding, bloom filters and CRCs
   * run beside the writes. false merges on the main thread.
   */
  compactionThread?: boolean;
  /**
   * Keeps the SSTs of the deeper levels elsewhere: those of level `fromLevel` and below are written to
   * `dir` (a directory of an S3 or tiered storage: the remote tier, with its cache in front), the rest
   * stay in the store's directory. A table moving across the boundary is rewritten there, never linked.
   */
  tiering?: { dir: Dir; fromLevel: number };
  logger?: Logger;
}

export type WriteOp = { type: 'put'; key: Bytes; value: Bytes } | { type: 'del'; key: Bytes };

export interface WriteOptions {
  /** override the store's sync policy for this write */
  sync?: boolean;
}

export interface ReadOptions {
  /** read as of this version (the newest write with a version <= it); default: the latest */
  version?: Version;
}

export interface RangeOptions extends ReadOptions {
  gt?: Bytes;
  gte?: Bytes;
  lt?: Bytes;
  lte?: Bytes;
  reverse?: boolean;
  /** at most this many entries; -1 or Infinity: no limit */
  limit?: number;
  /** return keys (default true) / values (default true); an absent part is an empty Buffer */
  keys?: boolean;
  values?: boolean;
}

export interface Entry {
  key: Buffer;
  value: Buffer;
  /** the version of this value */
  version: Version;
}

export interface LevelStats {
  level: number;
  files: number;
  bytes: number;
}

export interface LsmStats {
  /** the newest version given */
  version: Version;
  memtableBytes: number;
  immutableMemtables: number;
  levels: LevelStats[];
  /** bytes written to SSTs by flushes and by compactions, and bytes the user wrote (keys + values) */
  flushBytes: number;
  compactionBytes: number;
  userBytes: number;
  compactions: number;
  /** versions compactions dropped (older than every reader needs, or deletes at the bottom) */
  droppedVersions: number;
  /** compactions merged on the compaction thread (of `compactions`; trivial moves are not merged) */
  threadCompactions: number;
  blockCacheBytes: number;
  /** blocks point reads read into the memory of a block the cache had dropped (instead of new memory) */
  blockCacheRecycled: number;
  /** blocks read through an SST's mapping (mmapReads), without a system call */
  mappedBlockReads: number;
  /** SSTs open with a mapping (at most 1,000 in a process, as LevelDB) */
  mappedTables: number;
  /** open snapshots (iterators hold their files, not a version compaction must keep) */
  snapshots: number;
}
