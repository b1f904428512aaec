// Reads the records of one segment in order, a window of bytes at a time, and says where and why it
// stopped: the end, the zeros of preallocated space (version 2), or a record that is cut short or fails
// its checksum. A record of any length is read: maxRecordSize may have been larger when it was written.
import type { StorageBackend } from '../backend/backend.js';
import {
  decodeMark,
  isZeroHeader,
  later,
  RECORD_HEADER_SIZE,
  recordCrcMatches,
  recordLength,
  SEAL_PAYLOAD,
  type SegmentFormat,
  type WalPosition,
} from './format.js';

export interface RecordRead {
  offset: number;
  type: number;
  payload: Buffer;
}

/**
 * 'zeros': a record header of zeros in a version 2 or 3 segment, where its written records end (if all
 * after it is zeros too); 'sealed': the seal record of a version 3 segment (its records end there; after
 * it, nothing or zeros).
 */
export type StopReason = 'end' | 'zeros' | 'truncated' | 'checksum' | 'sealed';

const WINDOW = 1 << 20;

export class SegmentReader {
  private window: Buffer = Buffer.alloc(0);
  private windowStart = 0;
  stopReason: StopReason = 'end';
  /** where the first unreadable record starts (the end when everything read) */
  stopOffset: number;
  /** the latest position the mark records read so far say (version 4; marks are not records, next() skips them) */
  mark: WalPosition | undefined;

  constructor(
    private readonly backend: StorageBackend,
    readonly format: SegmentFormat,
    private offset: number,
    private readonly end = backend.size(),
  ) {
    this.stopOffset = offset;
  }

  /** `length` bytes at `at` from the window, refilled when needed. */
  private async bytes(at: number, length: number): Promise<Buffer> {
    if (at < this.windowStart || at + length > this.windowStart + this.window.length) {
      const size = Math.min(Math.max(WINDOW, length), this.end - at);
      this.window = await this.backend.readAt(at, size);
      this.windowStart = at;
    }
    return this.window.subarray(at - this.windowStart, at - this.windowStart + length);
  }

  private stop(reason: StopReason): undefined {
    this.stopReason = reason;
    this.stopOffset = this.offset;
    return undefined;
  }

  /** The next record, or undefined at the end or at the first bad record (see stopReason). Mark records are skipped. */
  async next(): Promise<RecordRead | undefined> {
    for (;;) {
      if (this.offset === this.end) return this.stop('end');
      if (this.offset + RECORD_HEADER_SIZE > this.end) {
        const rest = await this.bytes(this.offset, this.end - this.offset);
        return this.stop(this.format.zerosEnd && rest.every((byte) => byte === 0) ? 'zeros' : 'truncated');
      }
      const header = Buffer.from(await this.bytes(this.offset, RECORD_HEADER_SIZE));
      if (this.format.zerosEnd && isZeroHeader(header)) return this.stop('zeros');
      const length = recordLength(header);
      if (this.offset + RECORD_HEADER_SIZE + length > this.end) return this.stop('truncated');
      const payload = Buffer.from(await this.bytes(this.offset + RECORD_HEADER_SIZE, length));
      if (!recordCrcMatches(header, payload, this.format.seed)) return this.stop('checksum');
      if (header[8] === 0 && this.format.sealed) {
        if (payload.equals(SEAL_PAYLOAD)) return this.stop('sealed');
        const mark = this.format.marks ? decodeMark(payload) : undefined;
        if (mark === undefined) return this.stop('checksum');
        this.mark = later(this.mark, mark);
        this.offset += RECORD_HEADER_SIZE + length;
        this.stopOffset = this.offset;
        continue;
      }
      const record = { offset: this.offset, type: header[8]!, payload };
      this.offset += RECORD_HEADER_SIZE + length;
      this.stopOffset = this.offset;
      return record;
    }
  }
}

/** CRC work allowed when looking for good records after a bad one: past it, the tail counts as torn. */
const SCAN_BUDGET_BYTES = 256 * 1024 * 1024;
/** candidates up to this size (header included) draw on a budget of their own, SMALL_SCAN_BUDGET_BYTES */
const SMALL_CANDIDATE_BYTES = 64 * 1024;
const SMALL_SCAN_BUDGET_BYTES = 1024 * 1024 * 1024;

/**
 * The CRC work a search for good records may still do. Small candidates have a budget of their own: in
 * bytes the search cannot read as records (a recycled file's old segment, random to it), about one offset
 * in 250 holds a length that fits a 16 MiB tail, and those long candidates alone spend SCAN_BUDGET_BYTES
 * within a few KiB; records of ordinary size after them are still looked for.
 */
class ScanBudget {
  private large = SCAN_BUDGET_BYTES;
  private small = SMALL_SCAN_BUDGET_BYTES;

  /** Whether a candidate of `bytes` may be checked, charged if so. */
  take(bytes: number): boolean {
    if (bytes <= SMALL_CANDIDATE_BYTES && this.small >= bytes) {
      this.small -= bytes;
      return true;
    }
    if (bytes > SMALL_CANDIDATE_BYTES && this.large >= bytes) {
      this.large -= bytes;
      return true;
    }
    return false;
  }

  /** Whether nothing more can be checked. */
  get spent(): boolean {
    return this.small < RECORD_HEADER_SIZE + 1;
  }
}

/**
 * Whether any whole, valid record of this segment (its CRC from `seed`) starts after `from` (to tell a
 * torn tail, which has none, from corruption in the middle of the log, which is followed by good
 * records). Every offset is a candidate, so the CRC work is bounded (ScanBudget); a tail too big to
 * search within it counts as torn.
 */
export async function validRecordAfter(backend: StorageBackend, from: number, seed: number): Promise<boolean> {
  const end = backend.size();
  if (end - from <= RECORD_HEADER_SIZE) return false;
  const tail = await backend.readAt(from, end - from);
  const budget = new ScanBudget();
  for (let at = 1; at + RECORD_HEADER_SIZE <= tail.length && !budget.spent; at++) {
    const length = tail.readUInt32LE(at + 4);
    if (tail[at + 8] === 0 || at + RECORD_HEADER_SIZE + length > tail.length) continue;
    if (!budget.take(RECORD_HEADER_SIZE + length)) continue;
    const header = tail.subarray(at, at + RECORD_HEADER_SIZE);
    if (recordCrcMatches(header, tail.subarray(at + RECORD_HEADER_SIZE, at + RECORD_HEADER_SIZE + length), seed)) return true;
  }
  return false;
}

/** What follows a bad record (scanAfter): whether a good record does, and the latest position the marks among them say. */
export interface TailScan {
  goodAfter: boolean;
  mark: WalPosition | undefined;
}

/**
 * As validRecordAfter, for a version 4 segment, and says the latest position the mark records after
 * `from` say: every offset is a candidate until a record verifies, then the records are followed from it
 * (so a record's payload is not read as records), and searched for again where they stop. A mark counts
 * as a good record; a seal record does not. The CRC work is bounded as validRecordAfter's.
 */
export async function scanAfter(backend: StorageBackend, from: number, format: SegmentFormat): Promise<TailScan> {
  const scan: TailScan = { goodAfter: false, mark: undefined };
  const end = backend.size();
  if (end - from <= RECORD_HEADER_SIZE) return scan;
  const tail = await backend.readAt(from, end - from);
  const budget = new ScanBudget();
  for (let at = 1; at + RECORD_HEADER_SIZE <= tail.length && !budget.spent; ) {
    const length = tail.readUInt32LE(at + 4);
    if (
      at + RECORD_HEADER_SIZE + length > tail.length ||
      isZeroHeader(tail.subarray(at, at + RECORD_HEADER_SIZE)) ||
      !budget.take(RECORD_HEADER_SIZE + length)
    ) {
      at++;
      continue;
    }
    const header = tail.subarray(at, at + RECORD_HEADER_SIZE);
    const payload = tail.subarray(at + RECORD_HEADER_SIZE, at + RECORD_HEADER_SIZE + length);
    if (!recordCrcMatches(header, payload, format.seed)) {
      at++;
      continue;
    }
    if (header[8] !== 0) scan.goodAfter = true;
    else {
      const mark = decodeMark(payload);
      if (mark === undefined) {
        at++; // a seal record, or a type 0 record that is none of ours
        continue;
      }
      scan.goodAfter = true;
      scan.mark = later(scan.mark, mark);
    }
    at += RECORD_HEADER_SIZE + length;
  }
  return scan;
}

const ZEROS = Buffer.alloc(WINDOW);

/** Whether every byte from `from` to the end is zero: the preallocated space after a version 2 segment's records. */
export async function zerosFrom(backend: StorageBackend, from: number): Promise<boolean> {
  const end = backend.size();
  for (let at = from; at < end; at += WINDOW) {
    const length = Math.min(WINDOW, end - at);
    if (!(await backend.readAt(at, length)).equals(ZEROS.subarray(0, length))) return false;
  }
  return true;
}
