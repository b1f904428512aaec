// The segment stores every WAL test runs on: a directory of the storage API in each IO mode and on the
// memory adapter, and the in-memory store.
import fs from 'node:fs';
import path from 'node:path';
import type test from 'tape';

import type { StorageBackend } from '../../src/backend/backend.js';
import { storageError } from '../../src/ground/errors.js';
import { decodeMark, encodeRecord, encodeSegmentHeader, MARK_MAGIC, MARK_RECORD_SIZE, RECORD_HEADER_SIZE, segmentName } from '../../src/wal/format.js';
import { DirSegmentStore, MemorySegmentStore, type SegmentStore } from '../../src/wal/segment-store.js';
import { BACKENDS, freshStorage } from '../helpers.js';

export interface StoreKind {
  name: string;
  /** a fresh store, and a way to get the same store again (as after a restart) */
  make(
    t: test.Test,
  ): Promise<{ store: SegmentStore; reopen(): Promise<SegmentStore>; bytes(segment: number): Buffer; setBytes(segment: number, data: Buffer): void }>;
}

export const STORE_KINDS: StoreKind[] = [
  ...BACKENDS.map(
    (backend): StoreKind => ({
      name: `dir on ${backend.name}`,
      async make(t) {
        const { storage, root } = await freshStorage(t, backend);
        const dir = await storage.root.createDirectory('wal');
        const memoryFiles = !backend.local;
        const file = (segment: number) => path.join(root, 'wal', segmentName(segment));
        return {
          store: new DirSegmentStore(dir),
          reopen: async () => new DirSegmentStore(await storage.openDirectory('wal')),
          bytes: (segment) => {
            if (memoryFiles) throw new Error('no raw bytes on the memory adapter');
            return fs.readFileSync(file(segment));
          },
          setBytes: (segment, data) => fs.writeFileSync(file(segment), data),
        };
      },
    }),
  ),
  {
    name: 'memory segments',
    async make() {
      const store = new MemorySegmentStore();
      return {
        store,
        reopen: async () => store,
        bytes: (segment) => store.bytes(segment)!,
        setBytes: (segment, data) => store.setBytes(segment, data),
      };
    },
  },
];

/** Stores whose raw bytes a test can cut or corrupt. */
export const RAW_STORE_KINDS = STORE_KINDS.filter((kind) => !kind.name.endsWith('memory'));

/** Record `i`: its number in the first 4 bytes (when it has room), `size` bytes in all. */
export function record(i: number, size = 20 + (i % 50)): Buffer {
  const body = Buffer.alloc(size, i % 256);
  if (size >= 4) body.writeUInt32LE(i, 0);
  return body;
}

/** A segment of format version 1 (as builds before version 2 wrote them) holding `records`: its header, the records with plain CRC32Cs, nothing after. */
export function versionOneSegment(segment: number, records: readonly Buffer[]): Buffer {
  const parts = [encodeSegmentHeader(segment, 1)];
  for (const payload of records) {
    const bytes = Buffer.alloc(RECORD_HEADER_SIZE + payload.length);
    encodeRecord(bytes, 0, 1, payload, true, 0);
    parts.push(bytes);
  }
  return Buffer.concat(parts);
}

/** How the log's batches reached its segments: writes through the IO engine (writeAt) and on the calling thread (writeAtNow). */
export interface WriteCounts {
  engine: number;
  inline: number;
  /** the ranges writeback was started for, as [offset, length] */
  writebacks?: Array<[number, number]>;
  /** fallocate calls (a segment grown by preallocate 'allocate', or 'auto' for large batches) */
  allocations?: number;
}

/**
 * `inner` with its segments counting their writes; while `failInline.on`, writeAtNow writes the first
 * `failInline.after` bytes of a write through the real store and then fails with ENOSPC, as a full disk does.
 */
export function countingStore(inner: SegmentStore, counts: WriteCounts, failInline?: { on: boolean; after: number }): SegmentStore {
  const wrap = (backend: StorageBackend): StorageBackend => {
    const inline = backend.writeAtNow?.bind(backend);
    return {
      readAt: (offset, length) => backend.readAt(offset, length),
      append: (data) => backend.append(data),
      writeAt: (offset, data) => {
        counts.engine++;
        return backend.writeAt(offset, data);
      },
      ...(inline && {
        writeAtNow: (offset: number, data: readonly Uint8Array[]) => {
          if (!failInline?.on) {
            // counted only when the store took the write (false: the WAL writes through the engine)
            const done = inline(offset, data);
            if (done) counts.inline++;
            return done;
          }
          counts.inline++;
          const all = Buffer.concat(data as Uint8Array[]);
          if (failInline.after > 0) inline(offset, [all.subarray(0, failInline.after)]);
          throw storageError('ENOSPC', 'simulated full disk', { syscall: 'pwritev' });
        },
      }),
      startWriteback: (offset, length) => {
        counts.writebacks?.push([offset, length]);
        backend.startWriteback?.(offset, length);
      },
      allocate: (offset, length) => {
        if (counts.allocations !== undefined) counts.allocations++;
        return backend.allocate(offset, length);
      },
      flush: () => backend.flush(),
      size: () => backend.size(),
      sync: () => backend.sync(),
      truncate: (size) => backend.truncate(size),
      close: () => backend.close(),
    };
  };
  return {
    list: () => inner.list(),
    create: async (segment) => wrap(await inner.create(segment)),
    open: async (segment) => wrap(await inner.open(segment)),
    remove: (segment) => inner.remove(segment),
    sync: () => inner.sync(),
    writeCheckpoint: (data) => inner.writeCheckpoint(data),
    readCheckpoint: () => inner.readCheckpoint(),
  };
}

/**
 * Where the mark close() writes at the end of a segment's records starts: the last mark, only zeros after
 * it, saying its own offset (a batch's mark says where an earlier flush ended).
 */
export function closeMarkAt(bytes: Buffer): number | undefined {
  const at = bytes.lastIndexOf(MARK_MAGIC) - RECORD_HEADER_SIZE;
  if (at < 0 || at + MARK_RECORD_SIZE > bytes.length || bytes[at + 8] !== 0) return undefined;
  if (decodeMark(bytes.subarray(at + RECORD_HEADER_SIZE, at + MARK_RECORD_SIZE))?.offset !== at) return undefined;
  return bytes.subarray(at + MARK_RECORD_SIZE).every((byte) => byte === 0) ? at : undefined;
}

/**
 * A segment's bytes as a crash just before close() would have left them: the mark close() wrote after the
 * last record zeroed (cut off where the file ends with it). Damage to the records before it then reads as
 * a crash's, not as damage to records a mark says were on disk.
 */
export function withoutCloseMark(bytes: Buffer): Buffer {
  const at = closeMarkAt(bytes);
  if (at === undefined) throw new Error('the segment does not end with the mark close() writes');
  if (at + MARK_RECORD_SIZE === bytes.length) return Buffer.from(bytes.subarray(0, at));
  const copy = Buffer.from(bytes);
  copy.fill(0, at, at + MARK_RECORD_SIZE);
  return copy;
}
