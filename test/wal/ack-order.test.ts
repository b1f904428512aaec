// The WAL's promise under sync 'always', checked from outside: a record's append() resolves only after an
// fdatasync (or fsync) that was submitted after the write holding the record completed, and records
// resolve in log order. A store wrapper records, in one sequence, each write's completion (its range), each
// flush's submission and successful completion, and each append's resolution; 64 writers append 24
// records each, across rotations, on the real IO engines and on memory segments whose writes and flushes
// take random times (so writes and flushes of different batches can overlap); each with the small batches
// written on the WAL's own thread (writeAtNow) and with every write through the store's writeAt.
import test from 'tape';

import type { StorageBackend } from '../../src/backend/backend.js';
import { MemorySegmentStore, type SegmentStore } from '../../src/wal/segment-store.js';
import { Wal } from '../../src/wal/wal.js';
import { RECORD_HEADER_SIZE } from '../../src/wal/format.js';
import { STORE_KINDS } from './wal-helpers.js';

type Event =
  | { kind: 'written'; segment: number; start: number; end: number; inline?: true }
  | { kind: 'flush'; segment: number; id: number }
  | { kind: 'flushed'; id: number }
  | { kind: 'resolved'; segment: number; start: number; end: number };

const totalBytes = (data: Uint8Array | readonly Uint8Array[]): number =>
  data instanceof Uint8Array ? data.length : data.reduce((sum, buffer) => sum + buffer.length, 0);

const pause = (most: number): Promise<void> | undefined =>
  most > 0 ? new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * most))) : undefined;

/**
 * `inner` with its segments' writes, flushes and syncs recorded in `events`; each write and flush first
 * waits up to `jitterMs` (random), so that their completions interleave as on a busy disk.
 */
function recordingStore(inner: SegmentStore, events: Event[], jitterMs: number): SegmentStore {
  let flushes = 0;
  const wrap = (backend: StorageBackend, segment: number): StorageBackend => {
    const flushed = async (flush: () => Promise<void>): Promise<void> => {
      const id = flushes++;
      events.push({ kind: 'flush', segment, id });
      await pause(jitterMs);
      await flush();
      events.push({ kind: 'flushed', id });
    };
    const inline = backend.writeAtNow?.bind(backend);
    return {
      readAt: (offset, length) => backend.readAt(offset, length),
      append: async (data) => {
        await pause(jitterMs);
        const start = await backend.append(data);
        events.push({ kind: 'written', segment, start, end: start + totalBytes(data) });
        return start;
      },
      writeAt: async (offset, data) => {
        await pause(jitterMs);
        await backend.writeAt(offset, data);
        events.push({ kind: 'written', segment, start: offset, end: offset + totalBytes(data) });
      },
      ...(inline && {
        writeAtNow: (offset: number, data: readonly Uint8Array[]) => {
          const done = inline(offset, data);
          if (done) events.push({ kind: 'written', segment, start: offset, end: offset + totalBytes(data), inline: true });
          return done;
        },
      }),
      startWriteback: (offset, length) => backend.startWriteback?.(offset, length),
      allocate: (offset, length) => backend.allocate(offset, length),
      flush: () => flushed(() => backend.flush()),
      size: () => backend.size(),
      sync: () => flushed(() => backend.sync()),
      truncate: (size) => backend.truncate(size),
      close: () => backend.close(),
    };
  };
  return {
    list: () => inner.list(),
    create: async (segment) => wrap(await inner.create(segment), segment),
    open: async (segment) => wrap(await inner.open(segment), segment),
    remove: (segment) => inner.remove(segment),
    sync: () => inner.sync(),
    writeCheckpoint: (data) => inner.writeCheckpoint(data),
    readCheckpoint: () => inner.readCheckpoint(),
  };
}

/** The resolutions that break the rule, described; and whether resolutions came out of log order. */
function violations(events: readonly Event[]): { early: string[]; outOfOrder: string[] } {
  const early: string[] = [];
  const outOfOrder: string[] = [];
  const flushedAt = new Map<number, number>();
  events.forEach((event, index) => {
    if (event.kind === 'flushed') flushedAt.set(event.id, index);
  });
  let last: { segment: number; start: number } | undefined;
  events.forEach((event, index) => {
    if (event.kind !== 'resolved') return;
    const where = `${event.segment}:${event.start}`;
    if (last && (event.segment < last.segment || (event.segment === last.segment && event.start <= last.start))) {
      outOfOrder.push(`${where} after ${last.segment}:${last.start}`);
    }
    last = event;
    // the last write before the resolution that holds the record's bytes
    let written = -1;
    for (let i = index - 1; i >= 0; i--) {
      const e = events[i]!;
      if (e.kind === 'written' && e.segment === event.segment && e.start <= event.start && e.end >= event.end) {
        written = i;
        break;
      }
    }
    if (written < 0) {
      early.push(`${where} resolved before any write of its bytes completed`);
      return;
    }
    // a flush of its segment submitted after that write completed, and done before the resolution
    const covered = events.some(
      (e, i) => i > written && i < index && e.kind === 'flush' && e.segment === event.segment && (flushedAt.get(e.id) ?? Infinity) < index,
    );
    if (!covered) early.push(`${where} resolved without a flush submitted after its write completed and done before`);
  });
  return { early, outOfOrder };
}

const WRITERS = 64;
const PER_WRITER = 24;

async function run(store: SegmentStore, events: Event[], inlineWriteLimit?: number): Promise<number> {
  // small segments: the run rotates several times
  const wal = await Wal.open(store, { sync: 'always', segmentSize: 64 * 1024, inlineWriteLimit });
  let resolved = 0;
  const writer = async (w: number) => {
    for (let i = 0; i < PER_WRITER; i++) {
      const payload = Buffer.alloc(100, w);
      const position = await wal.append(payload);
      events.push({ kind: 'resolved', segment: position.segment, start: position.offset, end: position.offset + RECORD_HEADER_SIZE + payload.length });
      resolved++;
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  await wal.close();
  return resolved;
}

// by default small batches are written on this thread (writeAtNow) where the store can; limit 0: every one through the IO engine
const WRITE_PATHS = [
  { name: 'writes on this thread', inlineWriteLimit: undefined },
  { name: 'writes through the engine', inlineWriteLimit: 0 },
];

for (const kind of STORE_KINDS.filter((k) => !k.name.endsWith('memory'))) {
  for (const path of WRITE_PATHS) {
    test(`sync always: every append resolves after a flush submitted once its write completed, in log order, ${WRITERS} writers [${kind.name}, ${path.name}]`, async (t) => {
      const { store } = await kind.make(t);
      const events: Event[] = [];
      const resolved = await run(recordingStore(store, events, 0), events, path.inlineWriteLimit);
      t.equal(resolved, WRITERS * PER_WRITER, `all ${resolved} appends resolved`);
      const inline = events.filter((e) => e.kind === 'written' && e.inline).length;
      if (path.inlineWriteLimit === 0) t.equal(inline, 0, 'no write on this thread');
      else if (kind.name.startsWith('dir on local/')) t.ok(inline > 0, `${inline} writes on this thread`);
      const { early, outOfOrder } = violations(events);
      t.deepEqual(early.slice(0, 5), [], `no record resolved before its flush (${early.length} did)`);
      t.deepEqual(outOfOrder.slice(0, 5), [], `records resolved in log order (${outOfOrder.length} did not)`);
      t.ok(events.filter((e) => e.kind === 'flush').length < resolved / 4, 'with group commit (far fewer flushes than records)');
    });
  }
}

for (const path of WRITE_PATHS) {
  test(`sync always: the same with writes and flushes of random duration, ${WRITERS} writers [memory segments, ${path.name}, 3 runs]`, async (t) => {
    for (let round = 0; round < 3; round++) {
      const events: Event[] = [];
      const resolved = await run(recordingStore(new MemorySegmentStore(), events, 3), events, path.inlineWriteLimit);
      const inline = events.filter((e) => e.kind === 'written' && e.inline).length;
      if (path.inlineWriteLimit === 0) t.equal(inline, 0, `run ${round + 1}: no write on this thread`);
      else t.ok(inline > 0, `run ${round + 1}: ${inline} writes on this thread (the rest, past the limit or growth, through writeAt)`);
      const { early, outOfOrder } = violations(events);
      t.equal(resolved, WRITERS * PER_WRITER, `run ${round + 1}: all ${resolved} appends resolved`);
      t.deepEqual(early.slice(0, 5), [], `run ${round + 1}: no record resolved before its flush (${early.length} did)`);
      t.deepEqual(outOfOrder.slice(0, 5), [], `run ${round + 1}: records resolved in log order (${outOfOrder.length} did not)`);
    }
  });
}
