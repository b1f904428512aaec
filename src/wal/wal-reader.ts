// Reads a log without changing it. Recovery (Wal.open) reads with it before it repairs the last segment;
// a store opened read-only replays with it a log that its writer may be appending to meanwhile.
import type { StorageBackend } from '../backend/backend.js';
import { storageError, type StorageError } from '../ground/errors.js';
import { checkSegmentHeader, SEGMENT_HEADER_SIZE, segmentName, type SegmentFormat, type WalPosition } from './format.js';
import { SegmentReader, zerosFrom, type StopReason } from './segment-reader.js';
import type { SegmentStore } from './segment-store.js';

export interface WalRecord {
  position: WalPosition;
  type: number;
  payload: Buffer;
}

/**
 * Where the last segment's records stopped before the end of its file, and why: 'zeros' when only zeros
 * follow (the preallocated space of a version 2 segment: a clean end); otherwise a bad record there (a
 * zeroed record header with bytes after it counts as failing its checksum).
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
  return reason === 'truncated' ? 'record is truncated' : 'record fails its checksum';
}

/** EBADMSG for a bad record that good ones follow. */
export function badRecord(stop: WalStop): StorageError {
  return corruption(stop.position, `${stopCause(stop.reason)}, and good records follow it`);
}

/**
 * EBADMSG for a segment before the last that stops before its end: a sealed segment is cut to its last
 * record, so whatever is after that (zeros included) is damage, whether or not records follow in it.
 */
function sealedDamage(segment: number, last: number, reader: SegmentReader): StorageError {
  const cause = stopCause(reader.stopReason as Exclude<StopReason, 'end'>);
  return corruption({ segment, offset: reader.stopOffset }, `${cause}, in segment ${segment} of ${last} (a segment before the last ends at its last record)`);
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
 * only in the last segment and when nothing but zeros follows.
 */
export async function stopOf(reader: SegmentReader, backend: StorageBackend, segment: number, isLast: boolean): Promise<WalStop | undefined> {
  if (reader.stopReason === 'end') return undefined;
  const clean = reader.stopReason === 'zeros' && isLast && (await zerosFrom(backend, reader.stopOffset));
  const reason = reader.stopReason === 'zeros' && !clean ? 'checksum' : reader.stopReason;
  return { position: { segment, offset: reader.stopOffset }, reason };
}

export class WalReader {
  constructor(private readonly store: SegmentStore) {}

  /**
   * Gives `each` every record from `from` (default: the first segment) to the end, in order. Resolves with
   * where the last segment stops before the end of its file (at zeros, or at a bad record: a torn tail, or
   * a record being written), if it does. A bad header, or a bad record in an earlier segment, is EBADMSG; a
   * last segment shorter than its header (being begun) holds nothing.
   */
  async read(from: WalPosition | undefined, each: (record: WalRecord) => void): Promise<WalStop | undefined> {
    const numbers = (await this.store.list()).filter((number) => from === undefined || number >= from.segment);
    let stop: WalStop | undefined;
    for (const number of numbers) {
      const backend = await this.store.open(number);
      try {
        stop = await readSegment(backend, number, number === from?.segment ? from.offset : 0, numbers.at(-1)!, each);
      } finally {
        await backend.close();
      }
    }
    return stop;
  }
}

async function readSegment(
  backend: StorageBackend,
  segment: number,
  offset: number,
  last: number,
  each: (record: WalRecord) => void,
): Promise<WalStop | undefined> {
  const isLast = segment === last;
  const format = await readSegmentFormat(backend, segment, isLast);
  if (format === undefined) return undefined;
  const reader = new SegmentReader(backend, format, Math.min(Math.max(offset, SEGMENT_HEADER_SIZE), backend.size()));
  for (let record = await reader.next(); record; record = await reader.next()) {
    each({ position: { segment, offset: record.offset }, type: record.type, payload: record.payload });
  }
  if (!isLast && reader.stopReason !== 'end') throw sealedDamage(segment, last, reader);
  return stopOf(reader, backend, segment, isLast);
}
