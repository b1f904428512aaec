// Opening a store: reads its manifest (or writes the first one), opens the SSTs it names, deletes the ones
// a crash left unnamed, and replays the WAL from the manifest's position into a memtable.
import { isCode, storageError, type StorageError } from '../ground/errors.js';
import type { Logger } from '../log.js';
import type { Dir } from '../storage/dir.js';
import { DirSegmentStore } from '../wal/segment-store.js';
import { Wal, type WalPosition, type WalRecord } from '../wal/wal.js';
import { WalReader } from '../wal/wal-reader.js';
import { BlockCache } from './block-cache.js';
import { parseTableName, WAL_DIR } from './file-names.js';
import { MANIFEST_FORMAT, readManifest, writeManifest, type ManifestData } from './manifest.js';
import { landed, Memtable } from './memtable.js';
import type { Settings } from './settings.js';
import { Table } from './table.js';
import { MAX_LEVELS } from './version-set.js';

const WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

/** A store as found on disk, ready to serve. */
export interface Recovered {
  manifest: ManifestData;
  cache: BlockCache;
  levels: Table[][];
  mem: Memtable;
  /** the newest version given before */
  lastSeq: number;
  /** the WAL and its directory, open (a writable store) */
  wal?: { wal: Wal; dir: Dir };
}

/** How many times a read-only open reads the store again when its writer changed it under the open. */
const READ_ONLY_ATTEMPTS = 5;

/**
 * Opens the store in `dir`: its manifest, SSTs and the WAL written since the last flush. A store opened
 * read-only while its writer runs can read a manifest whose SSTs a compaction then deletes, or whose WAL
 * segments a flush then frees (deleted, or reused as spares: walRecycle): ENOENT or EBADMSG. If the
 * manifest has changed since, the open begins again from the new one, keeping the SSTs it opened already
 * (a number is never reused, and an open SST stays readable after the writer deletes it): each attempt
 * opens only what the writer made since, so a writer that changes the store faster than a whole open
 * reads it does not starve the open. If the manifest has not changed, the error is real.
 */
export async function recover(dir: Dir, settings: Settings, logger: Logger | undefined, remote?: Dir): Promise<Recovered> {
  const cache = new BlockCache(settings.blockCacheSize, settings.mmapReads ? dir : undefined);
  // by number, every SST an attempt opened: the next attempt takes those its manifest still names
  const held = new Map<number, Table>();
  try {
    for (let attempt = 1; ; attempt++) {
      const manifest = await readManifest(dir);
      try {
        const recovered = await recoverFrom(dir, manifest, settings, logger, remote, cache, held);
        const used = new Set(recovered.levels.flat());
        for (const table of held.values()) if (!used.has(table)) await table.close().catch(() => undefined);
        return recovered;
      } catch (error) {
        if (!settings.readOnly || attempt === READ_ONLY_ATTEMPTS || !(isCode(error, 'ENOENT') || isCode(error, 'EBADMSG'))) throw error;
        const now = await readManifest(dir).catch(() => undefined);
        if (manifest === undefined || now === undefined || JSON.stringify(now) === JSON.stringify(manifest)) throw error;
        logger?.info({ path: dir.path, err: error, tables: held.size }, 'LSM read-only open: the writer changed the store meanwhile; reading it again');
      }
    }
  } catch (error) {
    // nothing a failed open took stays open
    for (const table of held.values()) await table.close().catch(() => undefined);
    throw error;
  }
}

/** recover(), from the manifest `read` at its start (undefined: none there yet), taking the SSTs `held` has and adding those it opens. */
async function recoverFrom(
  dir: Dir,
  read: ManifestData | undefined,
  settings: Settings,
  logger: Logger | undefined,
  remote: Dir | undefined,
  cache: BlockCache,
  held: Map<number, Table>,
): Promise<Recovered> {
  let manifest = read;
  if (manifest !== undefined && settings.errorIfExists) throw storageError('EEXIST', 'an LSM store already exists here (errorIfExists)', { path: dir.path });
  if (manifest === undefined) {
    if (!settings.createIfMissing || settings.readOnly)
      throw storageError('ENOENT', 'no LSM store here (no MANIFEST); open it with createIfMissing', { path: dir.path });
    manifest = { format: MANIFEST_FORMAT, nextFile: 1, lastSequence: 0, gcHorizon: 0, wal: null, levels: [], compactPointers: [] };
    await writeManifest(dir, manifest);
  }
  const levels: Table[][] = Array.from({ length: MAX_LEVELS }, () => []);
  const live = new Set<number>();
  for (const [level, numbers] of manifest.levels.entries()) {
    for (const number of numbers) {
      let table = held.get(number);
      if (table === undefined) {
        table = await openTable(dir, remote, number, cache);
        held.set(number, table);
      }
      levels[level]!.push(table);
      live.add(number);
    }
  }
  let wal: Recovered['wal'];
  const mem = new Memtable();
  // a store whose WAL lost its unsynced tail (power loss) may have dropped versions above what remains
  let lastSeq = Math.max(manifest.lastSequence, manifest.gcHorizon);
  let records = 0;
  const apply = ({ payload, position }: WalRecord) => {
    const count = mem.addBatch(payload, `${position.segment}:${position.offset}`);
    if (count > 0) lastSeq = Math.max(lastSeq, landed[0]! + count - 1);
    records++;
  };
  try {
    if (settings.readOnly) {
      // wal null: no flush yet (replay all of it), or a checkpoint (which has no WAL directory)
      await replayReadOnly(dir, manifest.wal, apply);
    } else {
      await removeUnnamedTables(dir, live, logger);
      if (remote !== undefined) await removeUnnamedTables(remote, live, logger);
      wal = await openWal(dir, settings, logger);
      for await (const record of wal.wal.read(manifest.wal ?? undefined)) apply(record);
    }
  } catch (error) {
    // the WAL closes here; the tables stay in `held` (recover closes them, or another attempt takes them)
    if (wal) {
      await wal.wal.close().catch(() => undefined);
      await wal.dir.close().catch(() => undefined);
    }
    throw error;
  }
  logger?.info({ path: dir.path, tables: live.size, replayed: records, version: lastSeq }, 'LSM store opened');
  return { manifest, cache, levels, mem, lastSeq, ...(wal ? { wal } : {}) };
}

/**
 * SST `number` from the store's directory, else from the remote tier's (where the deeper levels are: which
 * one holds it is not recorded, so a change of tiering.fromLevel between opens changes nothing).
 */
async function openTable(dir: Dir, remote: Dir | undefined, number: number, cache: BlockCache): Promise<Table> {
  try {
    return await Table.open(dir, number, cache);
  } catch (error) {
    if (remote === undefined || !isCode(error, 'ENOENT')) throw error;
    return Table.open(remote, number, cache);
  }
}

/** Deletes the SSTs no manifest names: left by a crash during a flush or a compaction. */
async function removeUnnamedTables(dir: Dir, live: ReadonlySet<number>, logger: Logger | undefined): Promise<void> {
  for (const entry of await dir.read()) {
    const number = typeof entry.name === 'string' ? parseTableName(entry.name) : undefined;
    if (number !== undefined && !live.has(number)) {
      logger?.warn({ file: entry.name }, 'LSM: removing an SST no manifest names (left by a crash during a flush or compaction)');
      await dir.deleteFile(entry.name);
    }
  }
}

async function openWal(dir: Dir, settings: Settings, logger: Logger | undefined): Promise<{ wal: Wal; dir: Dir }> {
  const walDir = await openOrCreateDir(dir, WAL_DIR);
  try {
    return {
      wal: await Wal.open(new DirSegmentStore(walDir), {
        sync: settings.sync,
        segmentSize: WAL_SEGMENT_SIZE,
        logger,
        recovery: settings.walRecovery,
        inlineWriteLimit: settings.walInlineWriteLimit,
        recycle: settings.walRecycle,
      }),
      dir: walDir,
    };
  } catch (error) {
    await walDir.close();
    if (isCode(error, 'EBADMSG') && settings.walRecovery === 'strict') {
      throw storageError(
        'EBADMSG',
        `${(error as Error).message}. Open with { walRecovery: 'point-in-time' } to keep every write before the bad record ` +
          '(later ones are dropped and logged as an error)',
        { path: (error as StorageError).path, cause: error },
      );
    }
    throw error;
  }
}

async function openOrCreateDir(dir: Dir, name: string): Promise<Dir> {
  try {
    return await dir.openDirectory(name);
  } catch (error) {
    if (!isCode(error, 'ENOENT')) throw error;
    const created = await dir.createDirectory(name);
    await dir.sync();
    return created;
  }
}

/**
 * Replays the WAL of a store opened read-only, without changing it: a torn tail just ends the replay. From
 * null (a store that never flushed) it replays every segment, as a writable open does.
 */
async function replayReadOnly(dir: Dir, from: WalPosition | null, apply: (record: WalRecord) => void): Promise<void> {
  let walDir: Dir;
  try {
    walDir = await dir.openDirectory(WAL_DIR);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return;
    throw error;
  }
  try {
    await new WalReader(new DirSegmentStore(walDir)).read(from ?? undefined, apply);
  } finally {
    await walDir.close();
  }
}
