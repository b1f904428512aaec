// The order of durable steps while a store flushes, compacts and truncates its WAL, checked on a trace
// of the storage calls it makes: a manifest names only SSTs already written whole (flushWrite), and comes
// after an fdatasync of the WAL; a WAL segment is deleted (or renamed to a spare: walRecycle) only once a
// manifest starting replay after it and the WAL's checkpoint are written; an SST is deleted only once the last manifest written leaves it out.
import test from 'tape';

import { FileBackend } from '../../src/backend/file-backend.js';
import { Dir } from '../../src/index.js';
import { MANIFEST_NAME, parseTableName } from '../../src/lsm/file-names.js';
import { decodeManifest, type ManifestData } from '../../src/lsm/manifest.js';
import { CHECKPOINT_NAME, parseSegmentName } from '../../src/wal/format.js';
import { BACKENDS } from '../helpers.js';
import { lsmEnv, SMALL } from './lsm-helpers.js';

type Event =
  | { kind: 'sst-written' | 'sst-deleted' | 'segment-deleted'; number: number }
  | { kind: 'manifest'; data: ManifestData }
  | { kind: 'wal-synced' | 'wal-checkpoint' };

for (const compactionThread of [true, false]) {
  test(`durable steps come in order through flushes, compactions and WAL truncation (compactionThread ${compactionThread})`, async (t) => {
    const env = await lsmEnv(t, BACKENDS[0]!);
    const trace: Event[] = [];
    const { flushWrite, deleteFile, moveEntry } = Dir.prototype;
    const { flush, sync } = FileBackend.prototype;
    t.teardown(() => {
      Object.assign(Dir.prototype, { flushWrite, deleteFile, moveEntry });
      Object.assign(FileBackend.prototype, { flush, sync });
    });
    Dir.prototype.flushWrite = async function (this: Dir, name: string, data: Uint8Array | readonly Uint8Array[], ...rest: unknown[]) {
      const file = await (flushWrite as (...args: unknown[]) => ReturnType<Dir['flushWrite']>).call(this, name, data, ...rest);
      const sst = parseTableName(name);
      if (sst !== undefined) trace.push({ kind: 'sst-written', number: sst });
      if (name === MANIFEST_NAME) trace.push({ kind: 'manifest', data: decodeManifest(Buffer.concat(data instanceof Uint8Array ? [data] : data), name) });
      if (name === CHECKPOINT_NAME) trace.push({ kind: 'wal-checkpoint' });
      return file;
    } as Dir['flushWrite'];
    Dir.prototype.deleteFile = function (this: Dir, name: string) {
      const sst = parseTableName(name);
      const segment = parseSegmentName(name);
      if (sst !== undefined) trace.push({ kind: 'sst-deleted', number: sst });
      if (segment !== undefined) trace.push({ kind: 'segment-deleted', number: segment });
      return deleteFile.call(this, name);
    } as Dir['deleteFile'];
    // a segment kept as a spare leaves the log as a deleted one does
    Dir.prototype.moveEntry = function (this: Dir, from: string, ...rest: unknown[]) {
      const segment = parseSegmentName(from);
      if (segment !== undefined) trace.push({ kind: 'segment-deleted', number: segment });
      return (moveEntry as (...args: unknown[]) => Promise<void>).call(this, from, ...rest);
    } as Dir['moveEntry'];
    const walSynced = (done: Promise<void>, backend: FileBackend) =>
      done.then(() => {
        if ((backend as unknown as { file: { path: string } }).file.path.endsWith('.wal')) trace.push({ kind: 'wal-synced' });
      });
    FileBackend.prototype.flush = function (this: FileBackend) {
      return walSynced(flush.call(this), this);
    };
    FileBackend.prototype.sync = function (this: FileBackend) {
      return walSynced(sync.call(this), this);
    };

    const db = await env.open({ ...SMALL, memtableSize: 256 * 1024, tableFileSize: 64 * 1024, levelBaseBytes: 256 * 1024, compactionThread });
    const value = Buffer.alloc(1000, 'v');
    // past the WAL's 16 MiB segments, so that flushes truncate it
    for (let batch = 0; batch < 200; batch++) {
      await db.write(Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: `k${(batch * 37 + i) % 5000}`, value })));
    }
    await db.flush();
    await db.compact();
    await db.close();

    const count = (kind: Event['kind']) => trace.filter((event) => event.kind === kind).length;
    t.ok(
      count('manifest') > 5 && count('sst-deleted') > 0 && count('segment-deleted') > 0,
      `the trace has flushes, compactions and WAL truncation (${trace.length} steps)`,
    );
    /** per SST, the step its write completed at */
    const written = new Map<number, number>();
    let manifest: ManifestData | undefined;
    let lastWalSync = -1;
    let checkpoints = 0;
    const problems: string[] = [];
    for (const [step, event] of trace.entries()) {
      if (event.kind === 'sst-written') written.set(event.number, step);
      else if (event.kind === 'wal-synced') lastWalSync = step;
      else if (event.kind === 'wal-checkpoint') checkpoints++;
      else if (event.kind === 'manifest') {
        const unwritten = event.data.levels.flat().filter((n) => !written.has(n));
        if (unwritten.length > 0) problems.push(`a manifest names SSTs not yet written: ${unwritten}`);
        // a flush: its new level-0 SST was written, then the WAL fdatasynced up to the replay start
        const flushed = (event.data.levels[0] ?? []).filter((n) => !manifest?.levels[0]?.includes(n));
        if (event.data.wal !== null && flushed.some((n) => (written.get(n) ?? Infinity) > lastWalSync)) {
          problems.push(`a manifest moves replay to ${JSON.stringify(event.data.wal)} with no WAL fdatasync after its SST ${flushed}`);
        }
        manifest = event.data;
      } else if (event.kind === 'sst-deleted') {
        if (manifest?.levels.flat().includes(event.number)) problems.push(`SST ${event.number} deleted while the last manifest names it`);
      } else if (event.kind === 'segment-deleted' && (!(manifest?.wal && manifest.wal.segment > event.number) || checkpoints === 0)) {
        problems.push(`segment ${event.number} deleted before a manifest and checkpoint start replay after it`);
      }
    }
    t.deepEqual(problems, [], 'every step comes after what it relies on');
  });
}
