// The write-ahead log: records appended to segment files through the storage API, with group commit,
// rotation, a reader from any position, truncation of whole segments after a checkpoint, and recovery
// that stops cleanly at a torn tail.
//
// Group commit: append() queues its record and returns a promise. One commit loop takes every record
// queued, writes them with one pwritev and (sync 'always') makes them durable with one fdatasync, then
// resolves them all; records queued meanwhile form the next batch. Under 'always' the loop does not wait
// for a batch's fdatasync before writing the next batch: once a batch's write has completed, an fdatasync
// covering it is submitted (at most MAX_FLUSHES in flight; a batch written while they are all busy waits
// for the next one), and the records resolve when it is done and every earlier record has resolved. So a
// record is acknowledged only after an fdatasync submitted after its write completed, in log order, and
// a write overlaps the fdatasync of the batch before it. With sync 'batch', records resolve at
// the next fdatasync, which runs every `intervalMs` or once `bytes` are waiting; with 'none', once written.
//
// Per record, the loop does as little JavaScript as it can (BENCHMARKS.md, WAL: 'none' is bound by it):
// small records are copied into one staging buffer that the log keeps, and one call into the addon
// checksums the whole run; under sync 'none' and 'always', a batch of at most `inlineWriteLimit` bytes
// (64 KiB under 'none', as the LSM's WAL and LevelDB's log; 512 KiB under 'always') is written on this thread
// (a pwritev into the page cache takes less than the round trip through the IO engine), after which the
// loop lets the event loop run before the next batch. Under 'always' the batch's fdatasync still goes
// through the engine; session 11 measured it 2-7x slower after an inline write, session 32 measured the
// opposite on today's log: more records a second for less CPU a record
// (BENCHMARKS.md, session 32). Not under 'batch'. Under 'none' and 'batch', writeback of the segment
// is started every WRITEBACK_STEP bytes, so the fsync that seals a full segment does not stall the log
// while the whole segment goes to the disk.
//
// Records are written in place at the segment's tail. Under 'always' and 'batch', the segment's file is
// grown ahead of the records, in steps, by writing zeros while batches are small (preallocate 'auto'): an
// fdatasync after writing records into space already written and made durable changes no metadata, so it
// skips the file system's journal commit that a growing file needs (measured: BENCHMARKS.md, WAL); for
// large batches that second write of every byte costs more than the commit, and a step fallocates. Recovery tells records from
// that space by their checksums (seeded with the segment number) and finds the end where the zeros start;
// a segment rotated away from ends with a seal record (version 3) and is cut after it. The format: README.md.
//
// A failed write leaves nothing behind (what it wrote is cut off or zeroed again, and that made durable
// before its records are rejected, so none of them comes back after a crash) and the log goes on. A failed fdatasync is different: the kernel may have dropped the pages, so the log stops accepting
// records (EIO) until it is reopened, which recovers what is really there.
import type { StorageBackend } from '../backend/backend.js';
import type { Dir } from '../storage/dir.js';
import { SegmentArchive } from './segment-archive.js';
import type { Logger } from '../log.js';
import { isCode, storageError, type StorageError } from '../ground/errors.js';
import { eventLoopTurn } from '../ground/event-loop-turns.js';
import {
  CHECKPOINT_NAME,
  decodeCheckpoint,
  encodeCheckpoint,
  encodeRecord,
  encodeRecordUnsealed,
  encodeSegmentHeader,
  FORMAT_VERSION,
  isAfter,
  RECYCLED_VERSION,
  later,
  MARK_RECORD_SIZE,
  RECORD_HEADER_SIZE,
  SEAL_RECORD_SIZE,
  SEGMENT_HEADER_SIZE,
  segmentFormat,
  sealRecord,
  sealRecords,
  stageMark,
  type SegmentFormat,
  type WalPosition,
} from './format.js';
import { SegmentReader, scanAfter, validRecordAfter, type RecordRead } from './segment-reader.js';
import type { SegmentStore, SpareShelf } from './segment-store.js';
import { badRecord, corruption, durableDamage, readSegmentFormat, stopCause, WalReader, type WalRecord, type WalStop } from './wal-reader.js';

export type { WalPosition } from './format.js';
export type { WalRecord } from './wal-reader.js';

export type SyncPolicy = 'always' | 'none' | { batch: { intervalMs: number; bytes: number } };

export interface WalOptions {
  /** a segment is closed and the next begun once it would pass this many bytes (default 64 MiB) */
  segmentSize?: number;
  /** records larger than this are refused (default 16 MiB) */
  maxRecordSize?: number;
  /** when an append's promise resolves: durable ('always', the default), at the next batch sync, or written */
  sync?: SyncPolicy;
  logger?: Logger;
  /**
   * What recovery does with a bad record that good records follow (or a segment whose tail was lost
   * before records of the next one). 'strict' (the default): format 4, cut there like a torn tail (logged
   * at warn, recovery.unflushed) unless a mark after it says it was on disk: then refuse to open (EBADMSG,
   * with the position and the mark), as flushed records are damaged; formats 1 to 3 (no marks), refuse.
   * 'point-in-time': keep the log up to the bad record and cut the rest in every case, logged as an error
   * where it may be damage.
   */
  recovery?: 'strict' | 'point-in-time';
  /**
   * A directory (on the remote tier, typically) that receives a copy of every sealed segment; a segment is
   * never deleted by truncateBefore before its copy is there (segment-archive.ts).
   */
  archive?: Dir;
  /**
   * How a segment's file is grown ahead of its records: 'zeros', by writing zeros, so that an fdatasync
   * after a write changes no metadata (but every byte of the log reaches the disk twice); 'allocate', by
   * fallocate alone (unwritten extents: each fdatasync still converts them, a metadata change and a
   * journal commit); 'auto' (the default unless sync is 'none'), each growth step by zeros while the
   * batches since the last one averaged under 128 KiB, else by fallocate (measured: for small batches the
   * journal commit costs more, for large ones the second write: BENCHMARKS.md, session 32); 'off' (the
   * default with sync 'none'), not at all: each write grows the file.
   */
  preallocate?: 'auto' | 'zeros' | 'allocate' | 'off';
  /**
   * Under sync 'none' and 'always', a batch of at most this many bytes is written on the calling thread
   * (a blocking pwritev into the page cache) where the segment's store can (StorageBackend.writeAtNow),
   * not through the IO engine; under 'always' its fdatasync still goes through the engine. Default 64 KiB
   * under 'none', 512 KiB under 'always'. Faster for small records (BENCHMARKS.md, session 34: under
   * 'none' 100 B records 2x at 256 writers, 14x at one; under 'always' it saves each batch's round trip
   * to an IO worker: 64 writers of 4 KiB 1.2-1.6x, session 52), but each such write blocks the event loop, and for as long as the
   * kernel makes a writer wait when too much of memory is dirty, or (under 'always', on a device with
   * stable_writes, e.g. btrfs or dm-integrity) while the previous batch's page is under writeback. Set 0
   * to keep every write off the event loop. Under 'batch' every write goes through the engine.
   */
  inlineWriteLimit?: number;
  /**
   * How many segments truncateBefore keeps as spares instead of deleting them (default 0: it deletes). A
   * new segment is then a spare written over in place: an fdatasync of records there changes no metadata
   * and writes nothing twice (no zeros ahead, no unwritten extents to convert), measured 1.2-1.6x the
   * records a second under sync 'always' for 1-4 KiB records (BENCHMARKS.md, session 44). Costs the spares'
   * disk space; needs a store with spares (SegmentStore.spares). A recycled segment is format 5 (README.md).
   */
  recycle?: number;
}

export interface RecoveryReport {
  /** records found from the checkpoint on */
  records: number;
  /** a torn tail that was cut off: where it began and how many bytes it had */
  dropped?: { position: WalPosition; bytes: number; reason: string };
  /**
   * Format 4: good records after a bad one (or a later segment's records after a segment whose tail was
   * lost) that were cut off, as no mark after them said the bad one had been on disk: what a power loss
   * leaves of writes not yet flushed. Where the log now ends, the segments removed after it, and the
   * latest position the marks after it said (before it).
   */
  unflushed?: { position: WalPosition; segments: number[]; mark?: WalPosition };
}

/**
 * One executor for every append's promise: it hands the promise's resolving functions over in `captured`
 * (the executor runs within `new Promise`), so an append allocates no closure of its own.
 */
const captured: { resolve: Settle; reject: (error: unknown) => void } = { resolve: () => undefined, reject: () => undefined };
const capture = (resolve: (value: never) => void, reject: (error: unknown) => void): void => {
  captured.resolve = resolve as Settle;
  captured.reject = reject;
};

/** Where an appended record is: its position, and its end (where the next record starts). */
export interface RecordSpan {
  position: WalPosition;
  end: WalPosition;
}

type Settle = (value: WalPosition | RecordSpan) => void;

/** An append waiting for its batch: what append() and appendSpan() keep per record, and no more. */
class Pending {
  constructor(
    readonly payload: Uint8Array,
    readonly type: number,
    readonly resolve: Settle,
    readonly reject: (error: unknown) => void,
    /** resolve with the record's span (appendSpan), not only its position (append) */
    readonly span: boolean,
  ) {}
}

/** Sync 'always': a batch whose write completed, [start, end) of `segment`, waiting for a flush submitted after it. */
interface WrittenBatch {
  batch: Pending[];
  segment: number;
  start: number;
  end: number;
}

/** Sync 'always': an fdatasync in flight and the batches it covers (all written before it was submitted). */
interface Flush {
  covers: WrittenBatch[];
  done: boolean;
  /** settles (never rejects) once the flush is done and its outcome handled */
  settled: Promise<void>;
}

/** A batch taken off the queue: its records, its bytes in the segment and to stage, and the mark it ends with (if any). */
interface Batch {
  batch: Pending[];
  bytes: number;
  staged: number;
  mark: WalPosition | undefined;
}

/** What a record resolves with once its batch is written at `offset` of `segment`. */
function settled(record: Pending, segment: number, offset: number): WalPosition | RecordSpan {
  const position = { segment, offset };
  return record.span ? { position, end: { segment, offset: offset + RECORD_HEADER_SIZE + record.payload.length } } : position;
}

const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;
const DEFAULT_MAX_RECORD = 16 * 1024 * 1024;
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
const MAX_BATCH_RECORDS = 512; // at most 2 iovecs a record: within IOV_MAX
/**
 * Sync 'always': at most this many fdatasyncs in flight at once. Two, because this machine's disk serves
 * two overlapping ones in about the time of one (BENCHMARKS.md, walpipe); with one, a batch written during
 * a flush waits for it, and writers split into two groups each get half the flushes.
 */
const MAX_FLUSHES = 2;
/** payloads up to this size are copied next to their header: one iovec for a run of small records */
const COPY_LIMIT = 1024;
/** the first step a segment is grown by ahead of its records; each next one is twice as big, up to the most */
const FIRST_GROWTH = 64 * 1024;
const MOST_GROWTH = 8 * 1024 * 1024;
/**
 * preallocate 'auto': a growth step writes zeros while the batches average less than this, else
 * fallocates. Measured (64 writers, sync 'always'): 7 KiB batches 1.3-1.9x the records a second with
 * zeros, 66 KiB level, 262 KiB 1.6x with fallocate.
 */
const AUTO_ZEROS_BELOW = 128 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);
/** written after a batch in a recycled segment: a zero record header, where its records end */
const ZERO_HEADER = ZEROS.subarray(0, RECORD_HEADER_SIZE);

/** A segment just made: its file, and the format version of its header (RECYCLED_VERSION: a spare written over). */
interface NewSegment {
  backend: StorageBackend;
  version: number;
}
/**
 * Under 'none', 64 KiB: writes follow each other without pause, so larger inline writes would keep the
 * event loop busy (and stop it for long when the kernel throttles dirty pages). Under 'always', the
 * fdatasync is each batch's cycle and the write a small part of it; on this thread it saves the write's
 * round trip through the engine (two cross-CPU wake-ups): BENCHMARKS.md, session 32. 512 KiB takes in the
 * batch of 64 writers of 4 KiB records (263 KiB; 1.2-1.6x the records a second of 128 KiB, session 52),
 * a pwritev into the page cache of 50-100 us.
 */
const DEFAULT_INLINE_WRITE = { none: 64 * 1024, always: 512 * 1024 } as const;
/**
 * Under 'none' and 'batch', writeback of the current segment is started every time this much more of it
 * is written, so that sealing it (an fsync) does not wait for the whole segment to reach the disk.
 */
const WRITEBACK_STEP = 4 * 1024 * 1024;

/** `length` bytes of zeros as buffers for one writev. */
function zeros(length: number): Buffer[] {
  const buffers: Buffer[] = [];
  for (let left = length; left > 0; left -= ZEROS.length) buffers.push(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
  return buffers;
}

/** Resolves the records of `batch`, written back to back from `offset` of `segment`. */
function resolveAll(batch: readonly Pending[], segment: number, offset: number): void {
  for (let i = 0; i < batch.length; i++) {
    const record = batch[i]!;
    record.resolve(settled(record, segment, offset));
    offset += RECORD_HEADER_SIZE + record.payload.length;
  }
}

/**
 * The buffers one pwritev writes for `batch`, staged in `stage` (at least `staged` bytes): small records
 * whole, back to back, checksummed by one sealRecords call per run; a large payload keeps its own buffer
 * after its header (no copy) and its CRC is computed on its own.
 */
function stageBatch(stage: Buffer, batch: readonly Pending[], seed: number, mark: WalPosition | undefined): Uint8Array[] {
  const buffers: Uint8Array[] = [];
  let at = 0;
  let runStart = 0;
  let sealFrom = 0;
  for (let i = 0; i < batch.length; i++) {
    const record = batch[i]!;
    const payload = record.payload;
    if (payload.length <= COPY_LIMIT) {
      encodeRecordUnsealed(stage, at, record.type, payload.length);
      stage.set(payload, at + RECORD_HEADER_SIZE);
      at += RECORD_HEADER_SIZE + payload.length;
      continue;
    }
    sealRecords(stage, sealFrom, at, seed);
    encodeRecord(stage, at, record.type, payload, false, seed);
    at += RECORD_HEADER_SIZE;
    buffers.push(stage.subarray(runStart, at), payload);
    runStart = sealFrom = at;
  }
  if (mark !== undefined) {
    // the batch ends with its mark (format 4): checksummed with the run before it
    stageMark(stage, at, mark);
    at += MARK_RECORD_SIZE;
  }
  sealRecords(stage, sealFrom, at, seed);
  if (at > runStart) buffers.push(stage.subarray(runStart, at));
  return buffers;
}

export class Wal {
  private pending: Pending[] = [];
  /** the running commit loop, while there is one */
  private committing: Promise<void> | undefined;
  private unsynced: Array<{ value: WalPosition | RecordSpan; resolve: Settle; reject: (e: unknown) => void }> = [];
  private unsyncedBytes = 0;
  /** sync 'always': batches written, not yet covered by a flush submitted after their write completed */
  private written: WrittenBatch[] = [];
  /** sync 'always': the flushes in flight, in the order submitted; records resolve in this order */
  private flushes: Flush[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private failure: StorageError | undefined;
  private closed = false;
  private readonly segmentSize: number;
  private readonly maxRecordSize: number;
  private readonly policy: SyncPolicy;
  private readonly preallocate: NonNullable<WalOptions['preallocate']>;
  /** the current segment's format */
  private format: SegmentFormat;
  /** how much the next growth of the segment ahead of its records is */
  private growth = FIRST_GROWTH;
  /** the batches written since the segment last grew, and their bytes (preallocate 'auto' chooses by them) */
  private batchesSinceGrowth = 0;
  private bytesSinceGrowth = 0;
  /** growing failed in this segment (a full disk, say): its writes grow the file themselves */
  private growthFailed = false;
  private readonly inlineWriteLimit: number;
  /** where batches are staged: one commit runs at a time, and its write completes before the next */
  private stage = Buffer.alloc(0);
  /** the last batch was written on this thread: the loop lets the event loop run before the next */
  private wroteInline = false;
  /** where in the current segment writeback was last started up to (policies other than 'always') */
  private writtenBack: number;
  /** the next segment, being made ahead while the current one fills (rotate, prepareNext) */
  private ahead: Promise<NewSegment> | undefined;
  /** how many spares truncateBefore keeps (WalOptions.recycle; 0 without a store that keeps spares) */
  private readonly recycle: number;
  /** the spares there are to write over, by the number each had (the log takes the oldest first) */
  private readonly spares: number[];
  /** the seal of the segment rotated away from, while it runs (never rejects: a failure stops the log) */
  private sealing: Promise<void> | undefined;
  /** every byte of the log before this position is known to be on disk: a flush or a seal's fsync completed (format 4 marks) */
  private durable: WalPosition | undefined;
  /** the position the last mark written says; a batch carries a mark when `durable` has moved past it */
  private marked: WalPosition | undefined;
  /** where the log ended when it was opened: close() marks the end only if records were written since */
  private openedAt: WalPosition;
  /** the sync() calls and 'batch' syncs running (close() waits for them all before its mark) */
  private readonly syncing = new Set<Promise<void>>();

  private constructor(
    private readonly store: SegmentStore,
    private segment: number,
    private backend: StorageBackend,
    /** where the next record goes in the current segment; after it the file holds zeros, or ends */
    private tail: number,
    private firstSegment: number,
    readonly recovery: RecoveryReport,
    options: WalOptions,
    private readonly logger: Logger | undefined,
  ) {
    this.openedAt = { segment, offset: tail };
    this.segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    this.maxRecordSize = options.maxRecordSize ?? DEFAULT_MAX_RECORD;
    this.policy = options.sync ?? 'always';
    this.preallocate = options.preallocate ?? (this.policy === 'none' ? 'off' : 'auto');
    this.inlineWriteLimit = typeof this.policy === 'string' ? (options.inlineWriteLimit ?? DEFAULT_INLINE_WRITE[this.policy]) : 0;
    this.writtenBack = tail;
    this.format = segmentFormat(FORMAT_VERSION, segment);
    this.recycle = store.spares === undefined ? 0 : (options.recycle ?? 0);
    this.spares = [];
    this.archive = options.archive === undefined ? undefined : new SegmentArchive(store, options.archive, logger);
  }

  /** The archive of sealed segments, when the log has one: idle() resolves once the copies queued have run. */
  readonly archive: SegmentArchive | undefined;

  /** Opens the log in `store`, recovering it: torn tails are cut off and logged; corruption is an error. */
  static async open(store: SegmentStore, options: WalOptions = {}): Promise<Wal> {
    const segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    const maxRecordSize = options.maxRecordSize ?? DEFAULT_MAX_RECORD;
    if (!Number.isSafeInteger(segmentSize) || segmentSize < SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE + 1 + SEAL_RECORD_SIZE) {
      throw storageError('EINVAL', `segmentSize ${segmentSize} is too small`);
    }
    if (!Number.isSafeInteger(maxRecordSize) || maxRecordSize < 1) throw storageError('EINVAL', `maxRecordSize ${maxRecordSize} is invalid`);
    const policy = options.sync ?? 'always';
    if (typeof policy === 'object' && !(policy.batch?.intervalMs > 0 && policy.batch?.bytes > 0)) {
      throw storageError('EINVAL', 'sync batch needs intervalMs > 0 and bytes > 0');
    }
    if (options.preallocate !== undefined && !['auto', 'zeros', 'allocate', 'off'].includes(options.preallocate)) {
      throw storageError('EINVAL', `preallocate must be 'auto', 'zeros', 'allocate' or 'off', got ${String(options.preallocate)}`);
    }
    const inline = options.inlineWriteLimit;
    if (inline !== undefined && !(Number.isSafeInteger(inline) && inline >= 0)) {
      throw storageError('EINVAL', `inlineWriteLimit must be a non-negative integer, got ${String(inline)}`);
    }
    const recycle = options.recycle;
    if (recycle !== undefined && !(Number.isSafeInteger(recycle) && recycle >= 0)) {
      throw storageError('EINVAL', `recycle must be a non-negative integer (the spare segments kept), got ${String(recycle)}`);
    }

    const checkpointBytes = await store.readCheckpoint();
    const checkpoint = checkpointBytes === undefined ? undefined : decodeCheckpoint(checkpointBytes);
    if (checkpointBytes !== undefined && checkpoint === undefined) {
      throw storageError('EBADMSG', 'the WAL checkpoint record is corrupt', { path: CHECKPOINT_NAME });
    }
    const listed = await store.list();
    const segments = listed.filter((n) => checkpoint === undefined || n >= checkpoint.segment);
    // segments before the checkpoint that a crash during truncateBefore left
    const leftovers = listed.filter((n) => checkpoint !== undefined && n < checkpoint.segment);
    const expectedFirst = checkpoint?.segment ?? 1;
    if (segments.length > 0 && segments[0] !== expectedFirst) {
      throw corruption({ segment: expectedFirst, offset: 0 }, `segment missing (the first present is ${segments[0]})`);
    }
    segments.forEach((n, i) => {
      if (i > 0 && n !== segments[i - 1]! + 1) throw corruption({ segment: segments[i - 1]! + 1, offset: 0 }, 'segment missing');
    });
    if (segments.length === 0) {
      const first = checkpoint?.segment ?? 1;
      const { backend } = await Wal.createSegment(store, first);
      const wal = new Wal(store, first, backend, SEGMENT_HEADER_SIZE, first, { records: 0 }, options, options.logger);
      await wal.takeStock(leftovers);
      return wal;
    }

    const report: RecoveryReport = { records: 0 };
    const { stop, ahead, cut, cutMark } = await new WalReader(store, options.recovery).readEnd(checkpoint, () => report.records++);
    // segments after the last one read: made ahead and holding nothing, or holding records after a segment
    // whose tail was lost (point-in-time; or format 4, no mark saying the tail was on disk); the log goes on
    // from the last one read
    for (const extra of [...ahead, ...cut].reverse()) {
      await store.remove(extra);
      segments.pop();
    }
    if (ahead.length + cut.length > 0) await store.sync();
    const number = segments.at(-1)!;
    const last = await store.open(number);
    let end: { tail: number; format: SegmentFormat; sealed?: boolean };
    try {
      end = await Wal.repairTail(last, number, stop, report, options, cut, cutMark);
      if (cut.length > 0 && report.unflushed === undefined) {
        const position = { segment: number, offset: end.tail };
        const detail = { segment: number, offset: end.tail, segments: cut, mark: cutMark };
        if (!end.format.marks || isAfter(cutMark, position))
          options.logger?.error(detail, 'WAL point-in-time recovery: a segment after one whose tail was lost is cut');
        else options.logger?.warn(detail, 'WAL recovery: records after a lost segment tail, never known to be on disk, are cut (a power loss)');
        if (end.format.marks) report.unflushed = { position, segments: cut, ...(cutMark && { mark: cutMark }) };
      }
      // every record kept is made durable (a killed process's last writes may be only in the page cache):
      // the last segment, and the one before it (its seal's fsync may not have completed); all before
      // those were sealed durably before the one after them was begun. From here on, marks can say so.
      await last.sync();
      if (segments.length > 1) {
        const previous = await store.open(number - 1);
        try {
          await previous.sync();
        } finally {
          await previous.close();
        }
      }
    } catch (error) {
      await last.close().catch(() => undefined); // a refused log keeps nothing open
      throw error;
    }
    const wal = new Wal(store, number, last, end.tail, segments[0]!, report, options, options.logger);
    wal.format = end.format;
    await wal.takeStock(leftovers);
    // records are only ever written in the current format: an older last segment is sealed as it is; a
    // sealed one (the crash came before the next segment was there) is done with
    if (end.format.version < FORMAT_VERSION || end.sealed) await wal.sealAtOpen(end.sealed === true);
    wal.durable = { segment: wal.segment, offset: wal.tail };
    wal.openedAt = wal.durable;
    wal.archive?.catchUp(segments, wal.segment);
    return wal;
  }

  /**
   * Makes the last segment `last` ready for appends and says where its records end: a header begun again
   * if a crash interrupted it, and a torn tail cut at `stop` (the zeros of preallocated space are no
   * tail); good records after a bad one are refused unless recovery is point-in-time.
   */
  private static async repairTail(
    last: StorageBackend,
    number: number,
    stop: WalStop | undefined,
    report: RecoveryReport,
    options: WalOptions,
    cut: readonly number[],
    cutMark: WalPosition | undefined,
  ): Promise<{ tail: number; format: SegmentFormat; sealed?: boolean }> {
    if (last.size() < SEGMENT_HEADER_SIZE) {
      // a crash while the segment was being begun: begin it again
      await last.truncate(0);
      await last.append(encodeSegmentHeader(number));
      await last.sync();
    }
    const format = (await readSegmentFormat(last, number, true))!;
    if (stop === undefined) return { tail: last.size(), format };
    const { position, reason } = stop;
    if (reason === 'zeros') {
      // a recycled file: what follows the records is cut, so that no record of this segment written past
      // them before the crash (lost pages, and a search for them that gave up in the old bytes) can be
      // read as one later, after the log has written up to it
      if (format.stale && last.size() > position.offset) {
        await last.truncate(position.offset);
        await last.sync();
      }
      return { tail: position.offset, format };
    }
    if (reason === 'sealed') return { tail: position.offset, format, sealed: true };
    const bytes = last.size() - position.offset;
    if (!format.marks) {
      // versions 1 to 3: good records after a bad one may be damaged acknowledged data (no way to tell)
      const goodAfter = await validRecordAfter(last, position.offset, format.seed);
      if (goodAfter && options.recovery !== 'point-in-time') throw badRecord(stop);
      if (goodAfter) options.logger?.error({ segment: number, offset: position.offset }, 'WAL point-in-time recovery: good records after a bad one are cut');
    } else {
      // version 4: good records after a bad one are a power loss's doing unless a mark after it (here, or
      // in a later segment cut) says the bad one was on disk: then flushed records are damaged
      const scan = await scanAfter(last, position.offset, format);
      const mark = later(scan.mark, cutMark);
      const goodAfter = scan.goodAfter || cut.length > 0;
      const detail = { segment: number, offset: position.offset, bytes, segments: cut, mark };
      if (goodAfter && isAfter(mark, position)) {
        if (options.recovery !== 'point-in-time') throw durableDamage(position, `${stopCause(reason)}, and good records follow it`, mark!);
        options.logger?.error(detail, 'WAL point-in-time recovery: good records after a bad one are cut (a mark says it was on disk)');
      } else if (goodAfter) {
        options.logger?.warn(detail, 'WAL recovery: good records after a bad one, never known to be on disk, are cut (a power loss)');
      }
      if (goodAfter) report.unflushed = { position, segments: [...cut], ...(mark && { mark }) };
    }
    await last.truncate(position.offset);
    await last.sync();
    report.dropped = { position, bytes, reason };
    options.logger?.warn({ segment: number, offset: position.offset, bytes, reason }, 'WAL recovery cut off a torn tail');
    return { tail: position.offset, format };
  }

  /** Segment `number`, made durable in the directory: spare `spare` written over if given, else a new file. */
  private static async createSegment(store: SegmentStore, number: number, spare?: number): Promise<NewSegment> {
    if (spare !== undefined && store.spares !== undefined) return Wal.reuseSpare(store, store.spares, spare, number);
    const backend = await store.create(number);
    await backend.append(encodeSegmentHeader(number));
    await backend.sync();
    await store.sync();
    return { backend, version: FORMAT_VERSION };
  }

  /**
   * Segment `number` in spare `spare`'s file: its header (format 5) written and durable before the rename
   * makes the file the segment, so a crash between leaves a spare, and a segment never has another's header.
   * The rest of the file is the old segment's bytes, which never verify under the new seed.
   */
  private static async reuseSpare(store: SegmentStore, shelf: SpareShelf, spare: number, number: number): Promise<NewSegment> {
    const backend = await shelf.open(spare);
    try {
      await backend.writeAt(0, [encodeSegmentHeader(number, RECYCLED_VERSION)]);
      await backend.sync();
      await shelf.reuse(spare, number);
      await store.sync();
    } catch (error) {
      await backend.close().catch(() => undefined);
      throw error;
    }
    return { backend, version: RECYCLED_VERSION };
  }

  /**
   * At open: the spares kept (those past `recycle` removed: the option was lowered), and the segments a
   * crash during truncateBefore left before the checkpoint, discarded now (kept as spares while they may be).
   */
  private async takeStock(leftovers: readonly number[]): Promise<void> {
    const shelf = this.store.spares;
    if (shelf === undefined) return;
    let changed = false;
    for (const spare of await shelf.list()) {
      // a spare is named by the number it had as a segment, always one before the log's (see dropAhead)
      if (this.spares.length < this.recycle && spare < this.firstSegment) this.spares.push(spare);
      else {
        await shelf.remove(spare);
        changed = true;
      }
    }
    if (this.recycle > 0) {
      for (const number of leftovers) await this.discard(number);
      changed ||= leftovers.length > 0;
    }
    if (changed) await this.store.sync();
  }

  /** Deletes segment `number` (no longer part of the log), or keeps it as a spare while fewer than `recycle` are. */
  private async discard(number: number): Promise<void> {
    if (this.spares.length < this.recycle) {
      // no spare has this name: every spare's number is below the log's first segment, and this one's is not
      await this.store.spares!.retire(number);
      this.spares.push(number);
    } else await this.store.remove(number);
  }

  /** Where the next record will go. */
  get end(): WalPosition {
    return { segment: this.segment, offset: this.tail };
  }

  private refused(what: string): StorageError | undefined {
    if (this.closed) return storageError('EBADF', `${what} on a closed WAL`);
    if (this.failure) return storageError('EIO', `${what}: the WAL could not make records durable earlier (${this.failure.message}); reopen it to recover`);
    return undefined;
  }

  /**
   * Appends a record (type 1..255) and resolves with its position once it is durable under the sync
   * policy. Records larger than maxRecordSize are refused with EINVAL and change nothing.
   */
  append(payload: Uint8Array, type = 1): Promise<WalPosition> {
    const promise = new Promise<WalPosition>(capture);
    this.enqueue(payload, type, captured.resolve, captured.reject, false);
    return promise;
  }

  /** As append, resolving with where the record ends too: where reading on after it starts. */
  appendSpan(payload: Uint8Array, type = 1): Promise<RecordSpan> {
    const promise = new Promise<RecordSpan>(capture);
    this.enqueue(payload, type, captured.resolve, captured.reject, true);
    return promise;
  }

  private enqueue(payload: Uint8Array, type: number, resolve: Settle, reject: (error: unknown) => void, span: boolean): void {
    const refused = this.refused('append') ?? this.invalid(payload, type);
    if (refused) {
      reject(refused);
      return;
    }
    this.pending.push(new Pending(payload, type, resolve, reject, span));
    this.committing ??= this.commitLoop();
  }

  /** Why a record cannot be appended, if it cannot. */
  private invalid(payload: Uint8Array, type: number): StorageError | undefined {
    if (!(payload instanceof Uint8Array)) return storageError('EINVAL', 'a WAL record must be a Buffer or Uint8Array');
    if (!Number.isInteger(type) || type < 1 || type > 255) return storageError('EINVAL', `record type must be 1..255, got ${type}`);
    if (payload.length > this.maxRecordSize || SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE + payload.length + SEAL_RECORD_SIZE > this.segmentSize) {
      return storageError(
        'EINVAL',
        `a record of ${payload.length} bytes exceeds the limit (maxRecordSize ${this.maxRecordSize}, segmentSize ${this.segmentSize})`,
      );
    }
    return undefined;
  }

  /**
   * Takes the batch at the head of the queue off it: the first record, and each next one while the batch
   * stays within MAX_BATCH_RECORDS and within both MAX_BATCH_BYTES and the room left in the segment.
   * Answers its bytes in the segment and its bytes to stage.
   */
  private takeBatch(): Batch {
    const pending = this.pending;
    const room = this.segmentSize - SEAL_RECORD_SIZE - this.tail;
    // a batch ends with a mark when the durable end has moved since the last one (if it fits)
    const mark = isAfter(this.durable, this.marked ?? { segment: 0, offset: 0 }) ? this.durable : undefined;
    const most = Math.min(room - (mark ? MARK_RECORD_SIZE : 0), MAX_BATCH_BYTES);
    const limit = Math.min(pending.length, MAX_BATCH_RECORDS);
    let bytes = 0;
    let staged = 0;
    let count = 0;
    for (; count < limit; count++) {
      const length = pending[count]!.payload.length;
      if (count > 0 && bytes + RECORD_HEADER_SIZE + length > most) break;
      bytes += RECORD_HEADER_SIZE + length;
      staged += RECORD_HEADER_SIZE + (length <= COPY_LIMIT ? length : 0);
    }
    let batch: Pending[];
    if (count === pending.length) {
      batch = pending;
      this.pending = [];
    } else {
      batch = pending.splice(0, count);
    }
    if (mark === undefined || bytes + MARK_RECORD_SIZE > room) return { batch, bytes, staged, mark: undefined };
    return { batch, bytes: bytes + MARK_RECORD_SIZE, staged: staged + MARK_RECORD_SIZE, mark };
  }

  private async commitLoop(): Promise<void> {
    // sync 'always': the loop starts once the appends made in this turn of microtasks are queued (the
    // writers a flush just resolved append again in the microtasks after it), so they form one batch
    if (this.policy === 'always') await undefined;
    while (this.pending.length > 0) {
      if (this.tail + RECORD_HEADER_SIZE + this.pending[0]!.payload.length + SEAL_RECORD_SIZE > this.segmentSize) {
        // the records written in this segment resolve first: a rotation waits for their flushes
        await this.drainFlushes();
        if (this.failure) break; // a flush failed: fail() rejected what was queued
        try {
          await this.rotate();
        } catch (error) {
          this.fail(error, this.pending.splice(0));
          break;
        }
      }
      await this.commit(this.takeBatch());
      if (this.wroteInline && this.pending.length > 0) await eventLoopTurn();
    }
    this.committing = undefined;
  }

  /**
   * Grows the segment ahead of its records so that a batch ending at `end` lands in space already there
   * (see preallocate), by the next growth step (up to the segment's size). Growing is an optimisation: if
   * it fails (a full disk), what it added is cut off and the segment's writes grow the file themselves.
   */
  private async grow(end: number): Promise<void> {
    const size = this.backend.size();
    const target = Math.min(this.segmentSize, Math.max(end, size + this.growth));
    try {
      if (this.nextGrowthByZeros()) await this.backend.writeAt(size, zeros(target - size));
      else await this.backend.allocate(size, target - size);
      this.growth = Math.min(2 * this.growth, MOST_GROWTH);
    } catch (error) {
      this.growthFailed = true;
      this.logger?.warn({ err: error, segment: this.segment }, 'WAL: growing the segment ahead of its records failed; its writes grow it');
      if (this.backend.size() > size) await this.backend.truncate(size).catch(() => undefined);
    }
  }

  /** Whether this growth step writes zeros (else fallocate), by preallocate and the batches since the last step. */
  private nextGrowthByZeros(): boolean {
    const average = this.bytesSinceGrowth / Math.max(1, this.batchesSinceGrowth);
    this.batchesSinceGrowth = 0;
    this.bytesSinceGrowth = 0;
    return this.preallocate === 'zeros' || (this.preallocate === 'auto' && average < AUTO_ZEROS_BELOW);
  }

  /**
   * After a failed write of [start, end): the segment as it was before, `before` bytes long with zeros
   * after `start`. What the write added past `before` is cut off, what it wrote before it zeroed again.
   */
  private async cutBack(start: number, end: number, before: number): Promise<void> {
    if (end > before || this.backend.size() > before) await this.backend.truncate(Math.max(start, before));
    if (start < before) await this.backend.writeAt(start, zeros(Math.min(end, before) - start));
  }

  /**
   * Undoes a failed write of [start, end) (cutBack) and makes the undo durable before the batch is
   * rejected: what the write did put in the file may already be on the disk (a flush of an earlier batch
   * in flight, or the kernel's own writeback), and whole records of a rejected batch must not come back
   * after a crash. If the undo cannot be made durable, the log stops as after a failed fdatasync (the
   * records' rejection still reports the write's error).
   */
  private async undoWrite(start: number, end: number, before: number): Promise<void> {
    try {
      await this.cutBack(start, end, before);
      await this.backend.sync();
    } catch (error) {
      this.fail(error, []);
    }
  }

  /** The staging buffer, at least `bytes` long. */
  private stageOf(bytes: number): Buffer {
    if (this.stage.length < bytes) this.stage = Buffer.allocUnsafe(Math.max(bytes, 2 * this.stage.length, 64 * 1024));
    return this.stage;
  }

  /**
   * Writes `batch` (`bytes` long, `staged` of them copied into the staging buffer) at the tail: on this
   * thread when it is small enough and the store can, otherwise through the IO engine. A failed write is
   * undone (cutBack) and fails every record in the batch; the log goes on.
   */
  private async write({ batch, bytes, staged, mark }: Batch): Promise<boolean> {
    const start = this.tail;
    const end = start + bytes;
    const buffers = stageBatch(this.stageOf(staged), batch, this.format.seed, mark);
    // a recycled file: the records end at a zero record header, not at the old segment's bytes after them
    if (this.format.stale && end < this.backend.size()) buffers.push(ZERO_HEADER);
    this.batchesSinceGrowth++;
    this.bytesSinceGrowth += bytes;
    if (end > this.backend.size() && this.preallocate !== 'off' && !this.growthFailed) await this.grow(end);
    const before = this.backend.size();
    this.wroteInline = false;
    try {
      if (bytes <= this.inlineWriteLimit && this.backend.writeAtNow?.(start, buffers)) this.wroteInline = true;
      else await this.backend.writeAt(start, buffers);
    } catch (error) {
      await this.undoWrite(start, end, before);
      for (const record of batch) record.reject(error);
      return false;
    }
    this.tail = end;
    if (mark !== undefined) this.marked = mark;
    // the next segment is made once this one is half full: ready long before a rotation needs it
    if (this.ahead === undefined && 2 * end >= this.segmentSize) this.prepareNext();
    if (this.policy !== 'always' && end - this.writtenBack >= WRITEBACK_STEP) {
      this.backend.startWriteback?.(this.writtenBack, end - this.writtenBack);
      this.writtenBack = end;
    }
    return true;
  }

  private async commit(taken: Batch): Promise<void> {
    const { batch, bytes } = taken;
    const start = this.tail;
    if (!(await this.write(taken))) return;
    const segment = this.segment;
    if (this.policy === 'none') {
      resolveAll(batch, segment, start);
    } else if (this.policy === 'always') {
      if (this.failure) {
        // a flush failed while this batch was being written: nothing after the failure is trusted
        const refused = this.refused('append');
        for (const record of batch) record.reject(refused);
        return;
      }
      // its flush is submitted now, or as soon as fewer than MAX_FLUSHES are in flight; the loop goes on
      // writing the next batch meanwhile (overlapping the write with the fdatasync)
      this.written.push({ batch, segment, start, end: this.tail });
      this.startFlushes();
    } else {
      let offset = start;
      for (const record of batch) {
        this.unsynced.push({ value: settled(record, segment, offset), resolve: record.resolve, reject: record.reject });
        offset += RECORD_HEADER_SIZE + record.payload.length;
      }
      this.unsyncedBytes += bytes;
      if (this.unsyncedBytes >= this.policy.batch.bytes) await this.syncBatch();
      else this.batchTimer ??= setTimeout(() => void this.syncBatch(), this.policy.batch.intervalMs);
    }
  }

  /**
   * Sync 'always': submits a flush covering every batch written so far, while fewer than MAX_FLUSHES are in
   * flight. Each batch's write completed before its flush is submitted, so the flush covers its records.
   */
  private startFlushes(): void {
    while (this.written.length > 0 && this.flushes.length < MAX_FLUSHES && !this.failure) {
      const covers = this.written;
      this.written = [];
      const flush: Flush = { covers, done: false, settled: undefined as unknown as Promise<void> };
      this.flushes.push(flush);
      // after a rotation, the records of the new segment are flushed once the old one is sealed
      const backend = this.backend;
      const sealing = this.sealing;
      const flushed =
        sealing === undefined
          ? backend.flush()
          : sealing.then(() => {
              if (this.failure) throw this.failure;
              return backend.flush();
            });
      flush.settled = flushed.then(
        () => this.flushed(flush),
        (error: unknown) => {
          // a flush failed: every record not yet resolved rejects (fail() takes the flushes and written batches)
          if (this.flushes.includes(flush)) this.fail(error, []);
        },
      );
    }
  }

  /** A flush completed: the flushes at the head that are done resolve their records, in order; the next flush starts. */
  private flushed(flush: Flush): void {
    flush.done = true;
    const flushes = this.flushes;
    while (flushes.length > 0 && flushes[0]!.done) {
      const { covers } = flushes.shift()!;
      for (const { batch, segment, start } of covers) resolveAll(batch, segment, start);
      const last = covers.at(-1)!;
      this.flushedTo({ segment: last.segment, offset: last.end });
    }
    this.startFlushes();
  }

  /**
   * What a flush of the current segment submitted now covers: every write completed so far (this.tail),
   * and, as no seal is running, every segment before it. Undefined while a seal runs (claims nothing).
   */
  private flushEnd(): WalPosition | undefined {
    return this.sealing === undefined ? { segment: this.segment, offset: this.tail } : undefined;
  }

  /** A flush or seal completed: every byte of the log before `position` is on disk (the next batch's mark says so). */
  private flushedTo(position: WalPosition | undefined): void {
    this.durable = later(this.durable, position);
  }

  /** Sync 'always': waits until every batch written so far has been flushed and resolved (or the log failed). */
  private async drainFlushes(): Promise<void> {
    // the oldest: once it has settled it is gone (resolved, or the log failed), even if a later one was done first
    while (this.flushes.length > 0 && !this.failure) await this.flushes[0]!.settled;
  }

  /** `work` (a sync), counted in `syncing` while it runs. */
  private async tracked(work: Promise<void>): Promise<void> {
    this.syncing.add(work);
    try {
      await work;
    } finally {
      this.syncing.delete(work);
    }
  }

  /** Makes the records waiting under the 'batch' policy durable and resolves them. */
  private syncBatch(): Promise<void> {
    return this.tracked(this.syncBatchNow());
  }

  private async syncBatchNow(): Promise<void> {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    const waiting = this.unsynced;
    this.unsynced = [];
    this.unsyncedBytes = 0;
    if (waiting.length === 0) return;
    try {
      // the segment before, if it is being sealed, first: records count as durable once all before them are
      await this.sealing;
      if (this.failure) throw this.failure;
      const covered = this.flushEnd();
      await this.backend.flush();
      this.flushedTo(covered);
      for (const record of waiting) record.resolve(record.value);
    } catch (error) {
      this.fail(error, waiting);
    }
  }

  private fail(error: unknown, records: Array<{ reject: (e: unknown) => void }>): void {
    this.failure = error as StorageError;
    this.logger?.error({ err: error }, 'WAL stopped: records could not be made durable');
    for (const record of records) record.reject(error);
    // sync 'batch': the records written since the last sync are not durable either
    for (const record of this.unsynced.splice(0)) record.reject(error);
    this.unsyncedBytes = 0;
    // sync 'always': the batches whose flush is in flight or not yet submitted are not covered by a good one
    const flushes = this.flushes.splice(0);
    for (const { covers } of flushes) for (const { batch } of covers) for (const record of batch) record.reject(error);
    for (const { batch } of this.written.splice(0)) for (const record of batch) record.reject(error);
    for (const record of this.pending.splice(0)) record.reject(this.refused('append'));
  }

  /**
   * Rotates to the next segment: the seal record is written at the tail of the current one, the log
   * switches to the next segment (made ahead, its header durable), and the old one is sealed (cut after its
   * seal record, fsynced, closed) in the background while records go to the next. A flush or sync of the
   * next segment's records waits for that seal (startFlushes, syncBatch, sync): recovery trusts records
   * after a segment only once it is sealed. One seal runs at a time.
   */
  private async rotate(): Promise<void> {
    if (this.unsynced.length > 0) await this.syncBatch();
    await this.sealing;
    if (this.failure) throw this.failure;
    const old = this.backend;
    const number = this.segment;
    const sealAt = this.tail;
    await old.writeAt(sealAt, [sealRecord(this.format.seed)]);
    const next = await this.nextSegment();
    this.begin(next);
    const sealing: Promise<void> = this.sealSegment(old, number, sealAt + SEAL_RECORD_SIZE).then(
      () => {
        if (this.sealing === sealing) this.sealing = undefined;
        // every segment up to this one is sealed on disk (each seal waits for the one before)
        this.flushedTo({ segment: number + 1, offset: SEGMENT_HEADER_SIZE });
      },
      (error: unknown) => {
        // the old segment's records may not be durable: as a failed flush, the log stops
        if (!this.failure) this.fail(error, []);
      },
    );
    this.sealing = sealing;
  }

  /** Makes `next` (segment this.segment + 1, its header durable) the current segment. */
  private begin(next: NewSegment): void {
    this.segment++;
    this.backend = next.backend;
    this.tail = SEGMENT_HEADER_SIZE;
    this.writtenBack = SEGMENT_HEADER_SIZE;
    this.format = segmentFormat(next.version, this.segment);
    this.growthFailed = false;
  }

  /** Cuts a segment the log rotated away from after its records (`end`: after its seal record in version 3), fsyncs and closes it. */
  private async sealSegment(backend: StorageBackend, number: number, end: number): Promise<void> {
    try {
      if (backend.size() > end) await backend.truncate(end);
      await backend.sync();
    } catch (error) {
      await backend.close().catch(() => undefined);
      throw error;
    }
    await backend.close();
    this.archive?.sealed(number);
  }

  /** Begins making the segment after the current one (created or a spare taken, header written, fsynced, directory fsynced). */
  private prepareNext(): void {
    const ahead = Wal.createSegment(this.store, this.segment + 1, this.spares.shift());
    ahead.catch(() => undefined); // its failure is met when the log rotates into it (nextSegment)
    this.ahead = ahead;
  }

  /** The segment after the current one: the one made ahead, or (if making it failed) made now. */
  private async nextSegment(): Promise<NewSegment> {
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead !== undefined) {
      try {
        return await ahead;
      } catch (error) {
        this.logger?.warn({ err: error, segment: this.segment + 1 }, 'WAL: making the next segment ahead failed; making it again');
        await this.store.remove(this.segment + 1).catch(() => undefined);
      }
    }
    return Wal.createSegment(this.store, this.segment + 1);
  }

  /** The segment made ahead is not part of the log: at close it is removed (a crash leaves it, and recovery removes it). */
  private async dropAhead(): Promise<void> {
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead === undefined) return;
    const next = await ahead.catch(() => undefined);
    await next?.backend.close();
    // deleted, never kept as a spare: a spare is named by the number it had, and this number is the next
    // segment's, which a later open makes from another spare (two files of one name)
    try {
      await this.store.remove(this.segment + 1);
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error;
    }
    await this.store.sync();
  }

  /**
   * At open: seals the last segment as it is (an older format's, cut to its last record; or one already
   * holding its seal record, cut after it) and begins the next.
   */
  private async sealAtOpen(sealed: boolean): Promise<void> {
    await this.sealSegment(this.backend, this.segment, sealed ? this.tail + SEAL_RECORD_SIZE : this.tail);
    this.begin(await Wal.createSegment(this.store, this.segment + 1, this.spares.shift()));
  }

  /** Makes every record appended so far durable, whatever the sync policy. */
  async sync(): Promise<void> {
    const refused = this.refused('sync');
    if (refused) throw refused;
    await this.tracked(this.syncNow());
  }

  private async syncNow(): Promise<void> {
    await this.committing;
    await this.drainFlushes();
    await this.syncBatch();
    await this.sealing;
    if (this.failure) throw this.refused('sync')!;
    try {
      const covered = this.flushEnd();
      await this.backend.flush();
      this.flushedTo(covered);
    } catch (error) {
      // as for a batch: the kernel may have dropped the pages, nothing written since the last good
      // fdatasync can be trusted to be durable
      this.fail(error, []);
      throw error;
    }
  }

  /**
   * The records from `from` (default: the oldest kept) to the end as it is now, in order. Reading goes on
   * across a rotation: the segment being read is reopened if the writer closes it meanwhile.
   */
  async *read(from?: WalPosition): AsyncGenerator<WalRecord, void, undefined> {
    const start = from ?? { segment: this.firstSegment, offset: SEGMENT_HEADER_SIZE };
    if (start.segment < this.firstSegment) {
      throw storageError('ENOENT', `segment ${start.segment} was truncated after a checkpoint; the oldest kept is ${this.firstSegment}`);
    }
    const last = this.segment;
    for (let number = start.segment; number <= last; number++) {
      const live = number === this.segment;
      let opened: StorageBackend | undefined = live ? undefined : await this.store.open(number);
      try {
        const offset = number === start.segment ? Math.max(start.offset, SEGMENT_HEADER_SIZE) : SEGMENT_HEADER_SIZE;
        const format = live ? this.format : (await readSegmentFormat(opened!, number, false))!;
        // the current segment is read up to its tail: the zeros after it are not records
        let reader = live ? new SegmentReader(this.backend, format, offset, this.tail) : new SegmentReader(opened!, format, offset);
        for (;;) {
          let record: RecordRead | undefined;
          try {
            record = await reader.next();
          } catch (error) {
            if (opened !== undefined || number === this.segment || !isCode(error, 'EBADF')) throw error;
            // the writer rotated away from this segment and closed it: read on through a handle of our own
            opened = await this.store.open(number);
            reader = new SegmentReader(opened, format, reader.stopOffset);
            continue;
          }
          if (!record) break;
          yield { position: { segment: number, offset: record.offset }, type: record.type, payload: record.payload };
        }
        if (reader.stopReason !== 'end' && reader.stopReason !== 'sealed')
          throw corruption({ segment: number, offset: reader.stopOffset }, stopCause(reader.stopReason));
      } finally {
        await opened?.close();
      }
    }
  }

  /**
   * Records `position` as the checkpoint (durably: recovery starts there) and deletes the whole segments
   * before its segment. `position` must be where a record starts (a position append returned) or the end
   * of a segment; everything before it is made durable first, so the checkpoint never points past what a
   * crash keeps. Resolves with how many segments were deleted.
   */
  async truncateBefore(position: WalPosition): Promise<number> {
    const refused = this.refused('truncateBefore');
    if (refused) throw refused;
    await this.checkRecordStart(position);
    await this.sync();
    // nothing leaves the log before the archive has it
    await this.archive?.ensure(position.segment);
    await this.store.writeCheckpoint(encodeCheckpoint(position));
    let removed = 0;
    for (const number of await this.store.list()) {
      if (number >= position.segment) break;
      await this.discard(number);
      removed++;
    }
    await this.store.sync();
    this.firstSegment = Math.max(this.firstSegment, position.segment);
    return removed;
  }

  /** EINVAL unless a record starts at `position`, or it is the end of its segment. */
  private async checkRecordStart(position: WalPosition): Promise<void> {
    const { segment, offset } = position ?? {};
    const bad = (why: string) => storageError('EINVAL', `position ${segment}:${offset} ${why}`);
    if (!Number.isSafeInteger(segment) || !Number.isSafeInteger(offset)) throw bad('is not a WAL position');
    if (segment < this.firstSegment || segment > this.segment) throw bad(`is outside the segments kept (${this.firstSegment}..${this.segment})`);
    if (offset < SEGMENT_HEADER_SIZE) throw bad('is inside the segment header');
    await this.committing;
    const live = segment === this.segment;
    const backend = live ? this.backend : await this.store.open(segment);
    try {
      const end = live ? this.tail : backend.size();
      if (offset > end) throw bad('is past the end of its segment');
      const format = live ? this.format : (await readSegmentFormat(backend, segment, false))!;
      const reader = new SegmentReader(backend, format, offset, end);
      // the end of a segment's records: its seal record (version 3, rotated away from), or the end of the file
      if (!(await reader.next()) && reader.stopReason !== (format.sealed && !live ? 'sealed' : 'end')) throw bad('is not where a record starts');
    } finally {
      if (segment !== this.segment) await backend.close();
    }
  }

  /**
   * Commits what is queued, makes it durable, ends the log with a mark saying so (markClosed: best
   * effort, its failure is logged, not thrown), and closes the current segment. Later appends are EBADF.
   * Everything is closed whatever fails on the way; then it rejects (EIO) when an fsync failed earlier
   * under sync 'none' (records it acknowledged may not be durable), or with the first failure of its own
   * steps (the last fsync, the segment's close).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true; // refuse new appends from here on
    let failed: unknown;
    const step = async (work: () => Promise<unknown> | undefined): Promise<void> => {
      try {
        await work();
      } catch (error) {
        failed ??= error;
      }
    };
    await step(async () => {
      while (this.committing || this.flushes.length > 0) {
        await this.committing;
        await this.drainFlushes();
      }
      if (!this.failure) await this.syncBatch();
      // a 'batch' sync its timer started, or a sync() not awaited: a failure of theirs must be known before
      // the mark (two fsyncs racing on one file: the kernel may report a writeback error to one of them only)
      while (this.syncing.size > 0) await Promise.allSettled([...this.syncing]);
    });
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    await step(() => this.sealing);
    if (!this.failure && failed === undefined) await step(() => this.backend.sync());
    if (!this.failure && failed === undefined) await step(() => this.markClosed());
    if (!this.failure && failed === undefined) await this.cutStale();
    await step(() => this.backend.close());
    await step(() => this.dropAhead());
    await step(() => this.archive?.idle());
    // sync 'none' acknowledged records once written: after a failed fsync, those past the durable end
    // may be lost, and a close that resolved would say they are durable
    if (this.failure && !this.acknowledgedDurable) {
      const durable = this.durableEnd;
      throw storageError(
        'EIO',
        `close: records acknowledged from segment ${durable.segment} offset ${durable.offset} on may not be durable (${this.failure.message}); reopen the log to recover`,
        { cause: this.failure },
      );
    }
    if (failed !== undefined) {
      const message = (failed as Error).message;
      throw storageError(
        (failed as { code?: string }).code ?? 'EIO',
        `close: the log was closed, but its last step failed (${message}); records not acknowledged as durable may be lost; reopen the log to recover`,
        { cause: failed },
      );
    }
  }

  /**
   * At close, in a recycled segment: the old segment's bytes after the records are cut off, so that the
   * next open reads no further than the records (best effort: they never verify, and are cut at the open
   * after a crash anyway).
   */
  private async cutStale(): Promise<void> {
    if (!this.format.stale || this.backend.size() <= this.tail) return;
    try {
      await this.backend.truncate(this.tail);
      await this.backend.sync();
    } catch (error) {
      this.logger?.warn(
        { err: error, segment: this.segment },
        'WAL: cutting the recycled bytes after the records at close failed; the log is whole without it',
      );
    }
  }

  /**
   * At close, once the last sync has completed: the log ends with a mark saying every record in it is on
   * disk (format 4; if it fits before the seal's room, and only if records were written since the open),
   * made durable in turn. Without it the last batch had no mark after it, so damage to a record in it read
   * as a power loss's unflushed write (recovery cut it, check warned) instead of damage to durable data.
   */
  private async markClosed(): Promise<void> {
    const end = this.end;
    this.flushedTo(end);
    if (!this.format.marks || !isAfter(end, this.openedAt) || !isAfter(end, this.marked ?? { segment: 0, offset: 0 })) return;
    if (this.tail + MARK_RECORD_SIZE > this.segmentSize - SEAL_RECORD_SIZE) return;
    // a batch of no record: its mark alone
    const buffers = stageBatch(this.stageOf(MARK_RECORD_SIZE), [], this.format.seed, end);
    const before = this.backend.size();
    // a recycled file: the mark too is followed by a zero record header (cutStale then cuts the rest)
    if (this.format.stale && this.tail + MARK_RECORD_SIZE < before) buffers.push(ZERO_HEADER);
    // the mark only adds a claim: if it cannot be written (a full disk) or synced, the log stays as it was
    try {
      await this.backend.writeAt(this.tail, buffers);
    } catch (error) {
      this.logger?.warn({ err: error, segment: this.segment }, 'WAL: the mark at close could not be written; the log is whole without it');
      await this.cutBack(this.tail, this.tail + MARK_RECORD_SIZE, before).catch(() => undefined);
      return;
    }
    this.tail += MARK_RECORD_SIZE;
    this.marked = end;
    // if this fails, the mark may not be on disk: what it says (the records were synced above) stays true
    await this.backend.sync().catch((error: unknown) => {
      this.logger?.warn({ err: error, segment: this.segment }, 'WAL: the fsync of the mark at close failed; the records were synced before it');
    });
  }

  /** Where the records known to be on disk end (the start of the log before any was). */
  private get durableEnd(): WalPosition {
    return this.durable ?? { segment: 0, offset: 0 };
  }

  /** Whether every record acknowledged so far is known to be on disk (always so unless sync is 'none'). */
  get acknowledgedDurable(): boolean {
    return this.policy !== 'none' || !isAfter(this.end, this.durableEnd);
  }
}
