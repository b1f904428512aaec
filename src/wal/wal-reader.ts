// Reads a log without changing it. Recovery (Wal.open) reads with it before it repairs the last segment;
// a store opened read-only replays with it a log that its writer may be appending to meanwhile.
import type { StorageBackend } from '../backend/backend.js';
import { storageError, type StorageError } from '../ground/errors.js';
import { checkSegmentHeader, isAfter, later, SEAL_RECORD_SIZE, SEGMENT_HEADER_SIZE, segmentName, type SegmentFormat, type WalPosition } from './format.js';
import { SegmentReader, scanAfter, validRecordAfter, zerosFrom, type StopReason } from './segment-reader.js';
import type { SegmentStore } from './segment-store.js';

export interface WalRecord {
  position: WalPosition;
  type: number;
  payload: Buffer;
}

/**
 * Where the last segment's records stopped before the end of its file, and why: 'zeros' when only zeros
 * follow (the preallocated space of a version 2 or 3 segment: a clean end); 'sealed' at the seal record of
 * a version 3 segment with nothing or only zeros after it (the log rotated away from it and the next
 * segment is not there: the next record begins one); otherwise a bad record there (a zeroed record header
 * with bytes after it counts as failing its checksum, as does anything but zeros after a seal record).
 */
export interface WalStop {
  position: WalPosition;
  reason: Exclude<StopReason, 'end'>;
}

export function corruption(position: WalPosition, why: string): StorageError {
  return storageError('EBADMSG', `WAL corruption at segment ${position.segment} offset ${position.offset}: ${why}`, {
    path: segmentName(position.segment),
  });
}

/** What a reader found where it stopped before the end, for an error message. */
export function stopCause(reason: Exclude<StopReason, 'end'>): string {
  if (reason === 'zeros') return 'zeros where a record should be';
  if (reason === 'sealed') return 'the seal record, where the segment should end';
  return reason === 'truncated' ? 'record is truncated' : 'record fails its checksum';
}

/** EBADMSG for a bad record that good ones follow. */
export function badRecord(stop: WalStop): StorageError {
  return corruption(stop.position, `${stopCause(stop.reason)}, and good records follow it`);
}

/**
 * EBADMSG for a bad record (or the lost tail of a segment not sealed) at `position` that a mark after it
 * covers: it was on disk when the mark was written, so no power loss explains it (version 4).
 */
export function durableDamage(position: WalPosition, cause: string, mark: WalPosition): StorageError {
  return corruption(
    position,
    `${cause}, and a mark after it says every record before segment ${mark.segment} offset ${mark.offset} was on disk: ` +
      "records the log had flushed are damaged (recovery 'point-in-time' cuts the log here)",
  );
}

/**
 * EBADMSG for a segment before the last that is not sealed as its format says: a version 1 or 2 segment is
 * cut to its last record, so whatever is after that (zeros included) is damage, whether or not records
 * follow in it; a version 3 segment ends with its seal record, then nothing or zeros.
 */
function sealedDamage(segment: number, last: number, reader: SegmentReader, format: SegmentFormat): StorageError {
  const where = `in segment ${segment} of ${last}`;
  if (!format.sealed) {
    const cause = stopCause(reader.stopReason as Exclude<StopReason, 'end'>);
    return corruption({ segment, offset: reader.stopOffset }, `${cause}, ${where} (a segment before the last ends at its last record)`);
  }
  const cause =
    reader.stopReason === 'end'
      ? 'the file ends without the seal record'
      : reader.stopReason === 'sealed'
        ? 'bytes that are not zeros after the seal record'
        : stopCause(reader.stopReason as Exclude<StopReason, 'end'>);
  return corruption({ segment, offset: reader.stopOffset }, `${cause}, ${where} (a segment before the last ends with its seal record)`);
}

/** The format of segment `segment` from its header, or EBADMSG; undefined for a last segment shorter than a header (being begun). */
export async function readSegmentFormat(backend: StorageBackend, segment: number, isLast: boolean): Promise<SegmentFormat | undefined> {
  const format = checkSegmentHeader(await backend.readAt(0, Math.min(SEGMENT_HEADER_SIZE, backend.size())), segment);
  if (typeof format !== 'string') return format;
  if (isLast && backend.size() < SEGMENT_HEADER_SIZE) return undefined;
  throw corruption({ segment, offset: 0 }, format);
}

/**
 * Why `reader` stopped, as a WalStop (undefined at the end of the file): a stop at zeros is a clean end
 * only in the last segment and when nothing but zeros follows (version 5, a recycled file: when no record
 * of this segment follows; the rest may be another segment's bytes).
 */
export async function stopOf(reader: SegmentReader, backend: StorageBackend, segment: number, isLast: boolean): Promise<WalStop | undefined> {
  if (reader.stopReason === 'end') return undefined;
  const position = { segment, offset: reader.stopOffset };
  if (reader.stopReason === 'sealed') {
    const clean = reader.format.stale || (await zerosFrom(backend, reader.stopOffset + SEAL_RECORD_SIZE));
    return { position, reason: clean ? 'sealed' : 'checksum' };
  }
  const clean = reader.stopReason === 'zeros' && isLast && (await restIsNotRecords(reader, backend));
  const reason = reader.stopReason === 'zeros' && !clean ? 'checksum' : reader.stopReason;
  return { position, reason };
}

/** Whether what follows where `reader` stopped holds no record: zeros, or (a recycled file) no record of this segment. */
async function restIsNotRecords(reader: SegmentReader, backend: StorageBackend): Promise<boolean> {
  if (await zerosFrom(backend, reader.stopOffset)) return true;
  return reader.format.stale && !(await scanAfter(backend, reader.stopOffset, reader.format)).goodAfter;
}

/**
 * Whether segment `segment` holds no record: shorter than its header (being begun), or its header and then
 * nothing, zeros, or bytes of which no record verifies (a first batch torn). The segment the log makes
 * ahead of the current one looks so until the log rotates into it.
 */
export async function holdsNoRecord(backend: StorageBackend, segment: number): Promise<boolean> {
  if (backend.size() < SEGMENT_HEADER_SIZE) return true;
  const format = (await readSegmentFormat(backend, segment, true))!;
  const reader = new SegmentReader(backend, format, SEGMENT_HEADER_SIZE);
  if (await reader.next()) return false;
  if (reader.mark !== undefined) return false; // version 4: a mark, written with a batch (whose records may be lost)
  if (reader.stopReason === 'end') return true;
  if (!format.marks) return reader.stopReason === 'zeros' || !(await validRecordAfter(backend, SEGMENT_HEADER_SIZE, format.seed));
  // version 4: a batch's first page may be lost and a later one (a mark with it) there
  if (reader.stopReason === 'zeros' && (await zerosFrom(backend, reader.stopOffset))) return true;
  return !(await scanAfter(backend, reader.stopOffset, format)).goodAfter;
}

/**
 * The latest position the marks of segment `segment` say (version 4), its records read in order and,
 * where they stop at a bad one, the bytes after it searched (scanAfter).
 */
export async function marksIn(backend: StorageBackend, segment: number): Promise<WalPosition | undefined> {
  if (backend.size() < SEGMENT_HEADER_SIZE) return undefined;
  const format = await readSegmentFormat(backend, segment, true);
  if (!format?.marks) return undefined;
  const reader = new SegmentReader(backend, format, SEGMENT_HEADER_SIZE);
  while (await reader.next());
  if (reader.stopReason === 'end' || reader.stopReason === 'sealed') return reader.mark;
  return later(reader.mark, (await scanAfter(backend, reader.stopOffset, format)).mark);
}

/** Whether a segment that `reader` stopped in is sealed as a segment before the last must be, for its format. */
async function sealedAsEarlier(reader: SegmentReader, backend: StorageBackend, format: SegmentFormat): Promise<boolean> {
  // versions 1 and 2: cut to the last record before the next segment was begun
  if (!format.sealed) return reader.stopReason === 'end';
  // version 3: its seal record, then nothing or zeros (a crash before the seal's cut); version 5, then
  // nothing or the recycled file's old bytes
  return reader.stopReason === 'sealed' && (format.stale || (await zerosFrom(backend, reader.stopOffset + SEAL_RECORD_SIZE)));
}

/** What WalReader.read found about the segments at the end of the log besides their records. */
export interface WalEnd {
  /** where the last segment read stops before the end of its file, and why (see WalStop) */
  stop: WalStop | undefined;
  /**
   * segments after the last one read that hold no record, after a segment that is not sealed: made ahead
   * by the writer (or begun by a rotation a crash interrupted); not part of the log, a writer removes them
   */
  ahead: number[];
  /**
   * a segment after one not sealed (whose tail was lost) that holds records; not read, a writer removes
   * it. Version 3: recovery 'point-in-time' only (strict refuses such a log); version 4: unless a mark
   * says the lost tail was on disk (then strict refuses)
   */
  cut: number[];
  /** the latest position the marks of the `cut` segments and of the lost tail say (version 4) */
  cutMark?: WalPosition;
}

export class WalReader {
  constructor(
    private readonly store: SegmentStore,
    private readonly recovery: 'strict' | 'point-in-time' = 'strict',
  ) {}

  /**
   * Gives `each` every record from `from` (default: the first segment) to the end, in order. Resolves with
   * where the last segment stops before the end of its file (at zeros, or at a bad record: a torn tail, or
   * a record being written), if it does. A bad header, or a bad record in an earlier segment, is EBADMSG; a
   * last segment shorter than its header (being begun) holds nothing.
   */
  async read(from: WalPosition | undefined, each: (record: WalRecord) => void): Promise<WalStop | undefined> {
    return (await this.readEnd(from, each)).stop;
  }

  /**
   * As read, and says which segments at the end are not part of the log: a segment after the second to
   * last one that is not sealed (version 3) holds records only if that one's tail was lost (a power loss
   * after records reached the next segment but before the seal did): EBADMSG, or cut (point-in-time);
   * one that holds none was made ahead and is left out.
   */
  async readEnd(from: WalPosition | undefined, each: (record: WalRecord) => void): Promise<WalEnd> {
    const numbers = (await this.store.list()).filter((number) => from === undefined || number >= from.segment);
    // the segments at the end that hold no record (made ahead, or rotated into just before a crash) are
    // found before the ones before them are read: a writer writes a segment's seal record before its first
    // record reaches the next one, so a reader racing a rotation sees a log that existed
    let emptyFrom = numbers.length;
    while (emptyFrom > 1 && (await this.withSegment(numbers[emptyFrom - 1]!, (backend) => holdsNoRecord(backend, numbers[emptyFrom - 1]!)))) emptyFrom--;
    const end: WalEnd = { stop: undefined, ahead: [], cut: [] };
    for (const [i, number] of numbers.entries()) {
      const isLast = i === numbers.length - 1;
      const lastRead = await this.withSegment(number, async (backend) => {
        const format = await readSegmentFormat(backend, number, isLast);
        if (format === undefined) return true;
        const reader = new SegmentReader(backend, format, Math.min(Math.max(number === from?.segment ? from.offset : 0, SEGMENT_HEADER_SIZE), backend.size()));
        for (let record = await reader.next(); record; record = await reader.next()) {
          each({ position: { segment: number, offset: record.offset }, type: record.type, payload: record.payload });
        }
        if (isLast || (await sealedAsEarlier(reader, backend, format))) {
          end.stop = isLast ? await stopOf(reader, backend, number, true) : undefined;
          return isLast;
        }
        // not sealed (version 3): the log ends here if only segments without records follow (made ahead);
        // the seal of the segment before the last one holding records may not have completed (a crash
        // while records went to the next one); after a seal record nothing but zeros is ever written
        const restEmpty = i + 1 >= emptyFrom;
        if (!format.sealed || reader.stopReason === 'sealed' || !(restEmpty || i + 2 === emptyFrom))
          throw sealedDamage(number, numbers.at(-1)!, reader, format);
        if (!restEmpty && this.recovery === 'strict' && !format.marks) throw unsealedBeforeRecords(number, reader);
        if (!restEmpty && format.marks) {
          // version 4: cut unless a mark (after where the records stop, or in the next segment) says the
          // records there were on disk: then records the log had flushed are lost
          const position = { segment: number, offset: reader.stopOffset };
          const tail = await scanAfter(backend, reader.stopOffset, format);
          end.cutMark = later(tail.mark, await this.withSegment(number + 1, (next) => marksIn(next, number + 1)));
          if (this.recovery === 'strict' && isAfter(end.cutMark, position)) throw durableDamage(position, unsealedCause(number, reader), end.cutMark!);
        }
        end.stop = await stopOf(reader, backend, number, true);
        (restEmpty ? end.ahead : end.cut).push(...numbers.slice(i + 1));
        return true;
      });
      if (lastRead) break;
    }
    return end;
  }

  private async withSegment<T>(number: number, use: (backend: StorageBackend) => Promise<T>): Promise<T> {
    const backend = await this.store.open(number);
    try {
      return await use(backend);
    } finally {
      await backend.close();
    }
  }
}

/** What is wrong where the records of segment `segment`, not sealed, stop, a segment holding records after it. */
function unsealedCause(segment: number, reader: SegmentReader): string {
  const cause = reader.stopReason === 'end' ? 'the file ends' : stopCause(reader.stopReason as Exclude<StopReason, 'end'>);
  return `the records stop here (${cause}) without the seal record, and segment ${segment + 1} holds records`;
}

/** EBADMSG for a version 3 segment not sealed, followed by one that holds records: its tail may have been lost. */
function unsealedBeforeRecords(segment: number, reader: SegmentReader): StorageError {
  return corruption(
    { segment, offset: reader.stopOffset },
    `${unsealedCause(segment, reader)}: records between them may be lost (recovery 'point-in-time' cuts the log here)`,
  );
}
