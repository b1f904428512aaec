// The version set: the memtables and SSTs reads see (a State, replaced whole, never changed), what the
// manifest records besides, and the edits that change them: each written to the manifest first, then
// installed. States count the tables and memtables they hold; an obsolete table is deleted once none holds
// it, a memtable freed.
import type { Logger } from '../log.js';
import type { Dir } from '../storage/dir.js';
import type { WalPosition } from '../wal/wal.js';
import type { BlockCache } from './block-cache.js';
import { tableName } from './file-names.js';
import { MANIFEST_FORMAT, writeManifest, type ManifestData } from './manifest.js';
import type { Memtable } from './memtable.js';
import type { BuiltTable } from './sst-builder.js';
import type { StoreStatus } from './store-status.js';
import { Table } from './table.js';

export const MAX_LEVELS = 7;

/** The memtables and SSTs a read sees. Replaced (never changed) by flushes and compactions. */
export interface State {
  mem: Memtable;
  /** frozen memtables waiting for their flush, newest first */
  imm: Memtable[];
  /** level 0 newest first; deeper levels in key order */
  levels: Table[][];
  refs: number;
}

/** What the manifest records besides the levels; an edit changes them only once it is written. */
interface Recorded {
  walStart: WalPosition | null;
  persistedSeq: number;
  gcHorizon: number;
  pointers: ReadonlyArray<string | null>;
}

/** A change of the state: written to the manifest first, then installed. */
export interface Edit {
  remove?: readonly Table[];
  add?: ReadonlyArray<{ level: number; table: Table }>;
  flushed?: Memtable;
  wal?: WalPosition;
  gcHorizon?: number;
  pointer?: { level: number; key: string };
}

export class VersionSet {
  private state: State;
  private nextFile: number;
  /** the newest version the manifest says was given (with the WAL after its position, all that was) */
  private persistedSeq: number;
  private gcHorizonSeq: number;
  private walStart: WalPosition | null;
  private compactPointers: ReadonlyArray<string | null>;
  /** deletions of obsolete SSTs under way: close waits for them */
  private readonly deleting = new Set<Promise<void>>();
  private manifestChain: Promise<void> = Promise.resolve();

  constructor(
    readonly dir: Dir,
    private readonly cache: BlockCache,
    manifest: ManifestData,
    levels: Table[][],
    mem: Memtable,
    private readonly status: StoreStatus,
    private readonly logger: Logger | undefined,
    /** where the deeper levels' SSTs go (LsmOptions.tiering) */
    readonly tiering?: { dir: Dir; fromLevel: number },
  ) {
    this.nextFile = manifest.nextFile;
    this.persistedSeq = manifest.lastSequence;
    this.gcHorizonSeq = manifest.gcHorizon;
    this.walStart = manifest.wal;
    this.compactPointers = Array.from({ length: MAX_LEVELS }, (_, i) => {
      const hex = manifest.compactPointers[i];
      return hex == null ? null : Buffer.from(hex, 'hex').toString('latin1');
    });
    this.state = { mem, imm: [], levels, refs: 1 };
    mem.refs++;
    for (const level of levels) for (const table of level) table.refs++;
  }

  /** The state reads see now; hold it with acquire() across an await. */
  get current(): State {
    return this.state;
  }

  /** The highest version compaction dropped versions below: older reads fail. */
  get gcHorizon(): number {
    return this.gcHorizonSeq;
  }

  /** Per level, the largest key its last compaction took. */
  get pointers(): ReadonlyArray<string | null> {
    return this.compactPointers;
  }

  acquire(): State {
    const state = this.state;
    state.refs++;
    return state;
  }

  release(state: State): void {
    if (--state.refs > 0) return;
    // a memtable's memory is the addon's: given back as soon as no state holds it, not at a collection
    if (--state.mem.refs === 0) state.mem.free();
    for (const memtable of state.imm) if (--memtable.refs === 0) memtable.free();
    for (const level of state.levels) {
      for (const table of level) {
        if (--table.refs === 0 && table.obsolete) this.deleteObsolete(table);
      }
    }
  }

  /** Replaces the state without recording anything: a change of the memtables alone (a freeze). */
  install(next: State): void {
    const previous = this.state;
    next.mem.refs++;
    for (const memtable of next.imm) memtable.refs++;
    for (const level of next.levels) for (const table of level) table.refs++;
    this.state = next;
    this.release(previous);
  }

  /** Deletes the file of a table no state holds any more, in the background. */
  private deleteObsolete(table: Table): void {
    const deletion: Promise<void> = table
      .delete()
      .catch((error: unknown) => this.logger?.warn({ err: error, file: table.name }, 'LSM: could not delete an obsolete SST'))
      .then(() => {
        this.deleting.delete(deletion);
      });
    this.deleting.add(deletion);
  }

  /** The directory the SSTs of `level` are written to: the remote tier's from tiering.fromLevel on. */
  dirFor(level: number): Dir {
    return this.tiering !== undefined && level >= this.tiering.fromLevel ? this.tiering.dir : this.dir;
  }

  /** Whether moving `tables` to `level` would put them in another directory (they are rewritten then). */
  crossesTier(tables: readonly Table[], level: number): boolean {
    const home = this.dirFor(level);
    return tables.some((table) => table.home !== home);
  }

  /** Writes `built` as the next numbered SST of `level` (atomically: Dir.flushWrite) and opens it. */
  async writeTable(built: BuiltTable, level: number): Promise<Table> {
    const number = this.nextFile++;
    const dir = this.dirFor(level);
    await (await dir.flushWrite(tableName(number), built.buffers)).close();
    return Table.open(dir, number, this.cache);
  }

  /** Writes the manifest of the state after `edit`, then installs that state. One edit at a time. */
  applyEdit(edit: Edit): Promise<void> {
    const run = this.manifestChain.then(async () => {
      // after a failed edit the state on disk and in memory may disagree: nothing more is recorded
      if (this.status.failure) throw this.status.failure;
      const current = this.state;
      const removed = new Set(edit.remove ?? []);
      const levels = current.levels.map((level) => level.filter((table) => !removed.has(table)));
      for (const { level, table } of edit.add ?? []) {
        if (level === 0) levels[0]!.unshift(table);
        else levels[level]!.push(table);
      }
      for (let level = 1; level < levels.length; level++) levels[level]!.sort((a, b) => (a.smallest < b.smallest ? -1 : 1));
      const next: Recorded = {
        walStart: edit.wal ?? this.walStart,
        persistedSeq: edit.flushed ? Math.max(this.persistedSeq, edit.flushed.maxSeq) : this.persistedSeq,
        gcHorizon: edit.gcHorizon !== undefined ? Math.max(this.gcHorizonSeq, edit.gcHorizon) : this.gcHorizonSeq,
        pointers: edit.pointer ? this.compactPointers.map((key, level) => (level === edit.pointer!.level ? edit.pointer!.key : key)) : this.compactPointers,
      };
      const data = this.manifestData(levels, next);
      await writeManifest(this.dir, data);
      // recorded: only now does the store take the new values as its own
      this.walStart = next.walStart;
      this.persistedSeq = data.lastSequence;
      this.gcHorizonSeq = next.gcHorizon;
      this.compactPointers = next.pointers;
      const kept = new Set(levels.flat());
      for (const table of removed) if (!kept.has(table)) table.obsolete = true;
      // a freeze may have happened meanwhile: the memtables are taken as they are now
      const now = this.state;
      this.install({ mem: now.mem, imm: edit.flushed ? now.imm.filter((m) => m !== edit.flushed) : now.imm, levels, refs: 1 });
      this.status.wakeStalled();
    });
    this.manifestChain = run.catch(() => undefined);
    return run.catch(async (error: unknown) => {
      await this.closeUninstalled(edit);
      throw error;
    });
  }

  /**
   * Closes the tables a failed edit was to add that no state holds (a flush's or a merge's new SSTs; not
   * those a move kept): nothing would close them otherwise. Their files stay (the manifest on disk may
   * name them); the next open deletes those it does not name.
   */
  private async closeUninstalled(edit: Edit): Promise<void> {
    const installed = new Set(this.state.levels.flat());
    for (const { table } of edit.add ?? []) if (!installed.has(table)) await table.close().catch(() => undefined);
  }

  /** The manifest of a store holding `levels` with what this one recorded (a checkpoint's, by default). */
  manifestData(levels: readonly Table[][], recorded: Recorded = this.recorded()): ManifestData {
    // versions are never given twice, even when compaction dropped the newest ones (bottom deletes) and
    // the WAL no longer holds them; and the store never reopens below the horizon of what it dropped
    let lastSequence = Math.max(recorded.persistedSeq, recorded.gcHorizon);
    for (const level of levels) for (const table of level) lastSequence = Math.max(lastSequence, table.properties.maxSeq);
    return {
      format: MANIFEST_FORMAT,
      nextFile: this.nextFile,
      lastSequence,
      gcHorizon: recorded.gcHorizon,
      wal: recorded.walStart,
      levels: levels.map((level) => level.map((table) => table.number)),
      compactPointers: recorded.pointers.map((key) => (key === null ? null : Buffer.from(key, 'latin1').toString('hex'))),
    };
  }

  private recorded(): Recorded {
    return { walStart: this.walStart, persistedSeq: this.persistedSeq, gcHorizon: this.gcHorizonSeq, pointers: this.compactPointers };
  }

  /**
   * Waits for the edit under way and the deletions of obsolete SSTs: then the directory holds the SSTs
   * the manifest names and no obsolete one (but one an iterator still holds: deleted when that iterator
   * is closed, or else by the next open).
   */
  async settle(): Promise<void> {
    await this.manifestChain;
    while (this.deleting.size > 0) await Promise.all(this.deleting);
  }

  /** Releases the state and closes its SSTs. */
  async close(): Promise<void> {
    const tables = new Set(this.state.levels.flat());
    this.release(this.state);
    for (const table of tables) if (!table.obsolete) await table.close().catch(() => undefined);
  }
}
