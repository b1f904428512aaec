// Verifies a WAL directory without changing it (persistfs check): the checkpoint's CRC, the segments'
// order (none missing from the checkpoint's, or the first, on), every segment header and every record's
// CRC32C, judged as recovery judges them (README.md, Recovery). A bad record in the last segment with no
// good record after it is a torn tail: a warning, since recovery cuts it off; so is one (format 4) that no
// mark after it says was on disk; anywhere else it is damage.
// The zeros after the records of a version 2 last segment are its preallocated space: no finding.
// Segments are read through the storage API with read-only handles; nothing is written, nothing locked.
import { isCode } from '../ground/errors.js';
import { count, formatBytes, reason, type Finding, type VerifyOptions, type VerifyReport } from '../ground/verify.js';
import type { Dir } from '../storage/dir.js';
import { CHECKPOINT_NAME, checkSegmentHeader, decodeCheckpoint, isAfter, later, SEGMENT_HEADER_SIZE, segmentName, type WalPosition } from './format.js';
import { SegmentReader, scanAfter, validRecordAfter } from './segment-reader.js';
import { DirSegmentStore } from './segment-store.js';
import { holdsNoRecord, marksIn, readSegmentFormat, stopOf } from './wal-reader.js';

export interface WalVerifyOptions extends VerifyOptions {
  /** put before each file name in the findings ('wal/' for the WAL of an LSM store) */
  prefix?: string;
  /** the problem with a record's payload, if any (the LSM decodes its write batches) */
  checkPayload?: (payload: Buffer, position: WalPosition) => string | undefined;
}

export interface WalVerifyReport extends VerifyReport {
  /** the segments recovery reads, ascending */
  segments: number[];
  records: number;
  bytes: number;
}

export async function verifyWal(dir: Dir, options: WalVerifyOptions = {}): Promise<WalVerifyReport> {
  const prefix = options.prefix ?? '';
  const findings: Finding[] = [];
  const damage = (file: string, problem: string, offset?: number) =>
    findings.push({ severity: 'damage', file: prefix + file, problem, ...(offset === undefined ? {} : { offset }) });
  const warn = (file: string, problem: string, offset?: number) =>
    findings.push({ severity: 'warning', file: prefix + file, problem, ...(offset === undefined ? {} : { offset }) });
  const store = new DirSegmentStore(dir);

  const checkpointBytes = await store.readCheckpoint();
  const checkpoint = checkpointBytes === undefined ? undefined : decodeCheckpoint(checkpointBytes);
  if (checkpointBytes !== undefined && checkpoint === undefined) {
    damage(
      CHECKPOINT_NAME,
      `the checkpoint record is corrupt (${checkpointBytes.length} bytes; a good one is 20 with a matching CRC32C): the log will not open`,
      0,
    );
  }
  const present = await store.list();
  const before = present.filter((n) => checkpoint !== undefined && n < checkpoint.segment);
  for (const n of before)
    warn(segmentName(n), `before the checkpoint (segment ${checkpoint!.segment}): not read by recovery (left by a crash while the log was truncated)`);
  const segments = present.filter((n) => !before.includes(n));
  const expectedFirst = checkpoint?.segment ?? 1;
  if (segments.length > 0 && segments[0] !== expectedFirst) {
    damage(
      segmentName(expectedFirst),
      `missing: the log starts at segment ${expectedFirst}${checkpoint ? ' (its checkpoint)' : ''}, the first present is ${segments[0]}`,
      0,
    );
  }
  for (const [i, n] of segments.entries()) {
    const previous = segments[i - 1];
    if (previous === undefined || n === previous + 1) continue;
    const missing = n - previous - 1 === 1 ? `segment ${previous + 1} is` : `segments ${previous + 1} to ${n - 1} are`;
    damage(segmentName(previous + 1), `missing: ${missing} not there, between ${segmentName(previous)} and ${segmentName(n)}`, 0);
  }

  const sizes = await Promise.all(segments.map(async (n) => (await dir.stat(segmentName(n))).size));
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  let records = 0;
  // segments at the end that hold no record after one not sealed (version 3) were made ahead of a
  // rotation: the one before them ends the log (as recovery reads it, which removes them)
  let emptyFrom = segments.length;
  while (emptyFrom > 1 && (await withSegment(store, segments[emptyFrom - 1]!, (b) => holdsNoRecord(b, segments[emptyFrom - 1]!)).catch(() => false)))
    emptyFrom--;
  let endIndex = segments.length - 1;
  if (emptyFrom < segments.length) {
    const before = segments[emptyFrom - 1]!;
    const sealedBefore = await withSegment(store, before, async (backend) => {
      const format = await readSegmentFormat(backend, before, false);
      if (!format?.sealed) return true; // versions 1 and 2: judged as before
      const reader = new SegmentReader(backend, format, SEGMENT_HEADER_SIZE);
      while (await reader.next());
      return reader.stopReason === 'sealed';
    }).catch(() => true);
    endIndex = sealedBefore ? emptyFrom : emptyFrom - 1;
  }
  // format 4: the segment before the last one holding records is not sealed (its tail was lost) and no
  // mark, after where its records stop or in the next segment, says that tail was on disk: a power loss's
  // unflushed writes, and recovery cuts the log there (the later segment removed), as wal-reader does
  const cutFrom = endIndex >= 1 && (await unflushedTail(store, segments[endIndex - 1]!, segments[endIndex]!).catch(() => false)) ? endIndex : undefined;
  if (cutFrom !== undefined) endIndex--;
  for (const [i, n] of segments.entries()) {
    const name = segmentName(n);
    if (cutFrom !== undefined && i >= cutFrom && i > endIndex) {
      const lost = segmentName(segments[endIndex]!);
      const problem = i === cutFrom ? 'holds records' : 'holds no record';
      warn(
        name,
        `${problem}, after ${lost} whose tail (seal record included) was lost, which no mark says was on disk: a power loss's unflushed writes (recovery removes it)`,
        0,
      );
      continue;
    }
    if (i > endIndex) {
      warn(name, `holds no record, after segment ${segments[endIndex]} which is not sealed: made ahead of a rotation (recovery removes it)`, 0);
      continue;
    }
    const isLast = i === endIndex;
    let backend: Awaited<ReturnType<DirSegmentStore['open']>>;
    try {
      backend = await store.open(n);
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error;
      damage(name, 'removed while it was being checked');
      continue;
    }
    try {
      const size = backend.size();
      const format = checkSegmentHeader(await backend.readAt(0, Math.min(SEGMENT_HEADER_SIZE, size)), n);
      if (typeof format === 'string') {
        if (isLast && size < SEGMENT_HEADER_SIZE)
          warn(name, `${size} bytes, shorter than a segment header: a segment being begun (recovery begins it again)`, 0);
        else damage(name, `bad segment header: ${format}; its records are not read`, 0);
        continue;
      }
      const reader = new SegmentReader(backend, format, SEGMENT_HEADER_SIZE);
      for (let record = await reader.next(); record; record = await reader.next()) {
        records++;
        const payloadProblem = options.checkPayload?.(record.payload, { segment: n, offset: record.offset });
        if (payloadProblem !== undefined) damage(name, payloadProblem, record.offset);
        options.onProgress?.(done + reader.stopOffset, total, prefix + name);
      }
      const stop = await stopOf(reader, backend, n, isLast);
      if (stop?.reason === 'sealed') continue; // version 3: its seal record, then nothing or zeros
      if (stop === undefined && format.sealed && !isLast) {
        damage(
          name,
          `ends without its seal record, in segment ${n} of ${segments.at(-1)} (a segment before the last ends with it): the log will not open`,
          size,
        );
        continue;
      }
      if (stop === undefined || stop.reason === 'zeros') continue;
      const at = stop.position.offset;
      const what =
        reader.stopReason === 'zeros'
          ? 'is zeros, and bytes that are not follow'
          : reader.stopReason === 'checksum'
            ? 'fails its CRC32C'
            : 'is cut short (its length runs past the end of the file)';
      const scan = format.marks ? await scanAfter(backend, at, format) : undefined;
      const goodAfter = scan ? scan.goodAfter : await validRecordAfter(backend, at, format.seed);
      if (isLast && goodAfter && scan && !isAfter(scan.mark, stop.position)) {
        // format 4: no mark after it says it was on disk: a power loss's unflushed writes, which recovery cuts
        warn(
          name,
          `the record here ${what} and good records follow it (${size - at} bytes), but no mark says it was on disk: recovery cuts it off (unflushed writes a power loss left)`,
          at,
        );
      } else if (isLast && !goodAfter) {
        warn(name, `torn tail: the record here ${what} and no good record follows (${size - at} bytes): recovery cuts it off`, at);
      } else {
        const after = goodAfter ? ', and good records follow it' : `, in segment ${n} of ${segments.at(-1)}`;
        damage(name, `record ${what}${after}: the log will not open (the rest of this segment is not checked)`, at);
      }
    } catch (error) {
      damage(name, `could not be read: ${reason(error)}`);
    } finally {
      await backend.close();
      done += sizes[i]!;
      options.onProgress?.(done, total, prefix + name);
    }
  }
  const checked = [
    checkpointBytes === undefined ? 'no checkpoint' : 'the checkpoint',
    count(segments.length, 'segment'),
    count(records, 'record'),
    formatBytes(total),
  ];
  return { checked, findings, segments, records, bytes: total };
}

async function withSegment<T>(store: DirSegmentStore, number: number, use: (backend: Awaited<ReturnType<DirSegmentStore['open']>>) => Promise<T>): Promise<T> {
  const backend = await store.open(number);
  try {
    return await use(backend);
  } finally {
    await backend.close();
  }
}

/**
 * Whether segment `number` (format 4) stops without its seal record, before segment `next` which holds
 * records, with no mark (after where its records stop, or in `next`) saying its lost tail was on disk.
 */
async function unflushedTail(store: DirSegmentStore, number: number, next: number): Promise<boolean> {
  return withSegment(store, number, async (backend) => {
    const format = await readSegmentFormat(backend, number, false);
    if (!format?.marks) return false;
    const reader = new SegmentReader(backend, format, SEGMENT_HEADER_SIZE);
    while (await reader.next());
    if (reader.stopReason === 'sealed') return false;
    const position = { segment: number, offset: reader.stopOffset };
    const tail = await scanAfter(backend, reader.stopOffset, format);
    const mark = later(tail.mark, await withSegment(store, next, (backend) => marksIn(backend, next)));
    return !isAfter(mark, position);
  });
}
