// The compactor: picks compactions (compaction.ts) and runs them one at a time in the background, merging
// on the compaction thread or here, and installs their outputs with one edit of the version set.
import type { Logger } from '../log.js';
import { mergeRuns, pickCompaction, type CompactionPick, type LevelShape } from './compaction.js';
import type { JobResult } from './compaction-job.js';
import { CompactionThread } from './compaction-thread.js';
import { bottomTest, spanOf } from './key-range.js';
import type { Settings } from './settings.js';
import type { StoreStatus } from './store-status.js';
import type { Table } from './table.js';
import { MAX_LEVELS, type State, type VersionSet } from './version-set.js';

type Merged = { outputs: Table[]; result: JobResult };

export class Compactor {
  private compacting: Promise<void> | undefined;
  private readonly shape: LevelShape;
  /** merges compactions off the main thread (compactionThread); its worker starts at the first one */
  private readonly thread: CompactionThread | undefined;

  constructor(
    private readonly versions: VersionSet,
    private readonly settings: Settings,
    private readonly status: StoreStatus,
    private readonly logger: Logger | undefined,
    /** the oldest version a read may still ask for: versions older than the newest at or below it go */
    private readonly oldestReadVersion: () => number,
  ) {
    this.shape = {
      l0Trigger: settings.l0CompactionTrigger,
      levelBaseBytes: settings.levelBaseBytes,
      levelMultiplier: settings.levelMultiplier,
      maxLevels: MAX_LEVELS,
    };
    this.thread = settings.compactionThread && !settings.readOnly ? new CompactionThread() : undefined;
  }

  /** The compaction under way, if any. */
  get running(): Promise<void> | undefined {
    return this.compacting;
  }

  private pick(): CompactionPick | undefined {
    return pickCompaction(this.versions.current.levels, this.shape, this.versions.pointers);
  }

  /** Starts compacting in the background when a level needs it (autoCompact). */
  schedule(): void {
    if (!this.settings.autoCompact || this.compacting !== undefined || this.status.closing || this.status.failure) return;
    if (this.pick() === undefined) return;
    this.compacting = (async () => {
      try {
        for (;;) {
          if (this.status.closing || this.status.failure) break;
          const pick = this.pick();
          if (pick === undefined) break;
          await this.compactOnce(pick);
        }
      } catch (error) {
        this.status.fail(error, 'compaction');
      } finally {
        this.compacting = undefined;
      }
    })();
  }

  /** Runs compactions until no level is over its size (autoCompact or not). */
  async compact(): Promise<void> {
    this.status.checkWritable('compact');
    await this.exclusively(async () => {
      for (;;) {
        const pick = this.pick();
        if (pick === undefined || this.status.closing) break;
        await this.compactOnce(pick);
      }
    });
  }

  /** Merges every level into the deepest one holding data (the memtables flushed first by the caller). */
  async compactAll(): Promise<void> {
    await this.exclusively(async () => {
      const levels = () => this.versions.current.levels;
      let deepest = 1;
      levels().forEach((level, i) => {
        if (level.length > 0) deepest = Math.max(deepest, i);
      });
      for (let level = 0; level < deepest && !this.status.closing; level++) {
        const inputs = levels()[level]!;
        const below = levels()[level + 1]!;
        // the last step rewrites the deepest level even when nothing is above it, to drop old versions
        if (inputs.length === 0 && (level + 1 < deepest || below.length === 0)) continue;
        await this.compactOnce({ level, inputs: [...inputs], overlaps: [...below], trivialMove: false });
      }
    });
  }

  /**
   * Runs a compaction by hand as the only one: a background compaction started beside it would pick the
   * same files and write their data twice into overlapping files of one level.
   */
  private async exclusively(body: () => Promise<void>): Promise<void> {
    while (this.compacting) await this.compacting;
    const run = body();
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.compacting = done;
    try {
      await run;
    } finally {
      if (this.compacting === done) this.compacting = undefined;
      this.schedule();
    }
  }

  private async compactOnce(pick: CompactionPick): Promise<void> {
    const output = pick.level + 1;
    // the next compaction of this level starts after what this one takes
    const taken = pick.inputs.length > 0 ? spanOf(pick.inputs).largest : ''; // compactAll may rewrite a level alone
    const pointer = pick.level > 0 ? { pointer: { level: pick.level, key: taken } } : {};
    const state = this.versions.acquire();
    try {
      // a move into another directory (the remote tier) is a rewrite there, not a move
      if (pick.trivialMove && !this.versions.crossesTier(pick.inputs, output)) {
        await this.versions.applyEdit({ remove: pick.inputs, add: pick.inputs.map((table) => ({ level: output, table })), ...pointer });
        return;
      }
      const horizon = this.oldestReadVersion();
      const runs = pick.level === 0 ? [...pick.inputs.map((table) => [table]), pick.overlaps] : [pick.inputs, pick.overlaps];
      const thread = this.thread;
      const merged = thread ? await this.mergeInThread(thread, runs, output, state, horizon) : await this.mergeHere(runs, output, state, horizon);
      if (merged === undefined) return; // abandoned: the store is closing
      const { outputs, result } = merged;
      await this.versions.applyEdit({
        remove: [...pick.inputs, ...pick.overlaps],
        add: outputs.map((table) => ({ level: output, table })),
        ...(result.droppedVersions > 0 ? { gcHorizon: horizon } : {}),
        ...pointer,
      });
      const written = outputs.reduce((sum, table) => sum + table.bytes, 0);
      const counters = this.status.counters;
      counters.compactionBytes += written;
      counters.compactions++;
      counters.droppedVersions += result.droppedVersions;
      if (thread) counters.threadCompactions++;
      this.logger?.debug(
        {
          level: pick.level,
          inputs: pick.inputs.length + pick.overlaps.length,
          outputs: outputs.length,
          read: result.bytesRead,
          written,
          dropped: result.droppedVersions,
        },
        'LSM compaction',
      );
    } finally {
      this.versions.release(state);
    }
  }

  /** The merge on the main thread, reading the inputs block by block. Undefined when abandoned. */
  private async mergeHere(runs: Table[][], output: number, state: State, horizon: number): Promise<Merged | undefined> {
    const outputs: Table[] = [];
    const result = await mergeRuns(runs, {
      horizon,
      isBottom: bottomTest(state.levels.slice(output + 1)),
      blockSize: this.settings.blockSize,
      bloomBitsPerKey: this.settings.bloomBitsPerKey,
      tableFileSize: this.settings.tableFileSize,
      emit: async (built) => {
        outputs.push(await this.versions.writeTable(built, output));
      },
      abandoned: () => this.status.closing,
    });
    if (result.abandoned) return this.discard(outputs);
    return { outputs, result };
  }

  /**
   * The merge on the compaction thread: it reads the inputs through here a chunk at a time and hands over
   * each output as it is built, written and opened here. Undefined when abandoned; on any failure the
   * outputs written so far are deleted (none was installed).
   */
  private async mergeInThread(thread: CompactionThread, runs: Table[][], output: number, state: State, horizon: number): Promise<Merged | undefined> {
    const outputs: Table[] = [];
    let result: JobResult;
    try {
      result = await thread.run(
        {
          runs: runs.map((run) => run.map((table) => ({ name: table.name, bytes: table.bytes }))),
          horizon,
          below: state.levels.slice(output + 1).map((level) => level.map(({ smallest, largest }) => ({ smallest, largest }))),
          blockSize: this.settings.blockSize,
          bloomBitsPerKey: this.settings.bloomBitsPerKey,
          tableFileSize: this.settings.tableFileSize,
        },
        {
          read: (run, table, offset, target) => runs[run]![table]!.readAt(offset, target),
          output: async (built) => {
            outputs.push(
              await this.versions.writeTable({ buffers: [Buffer.from(built.data, 0, built.bytes)], bytes: built.bytes, properties: built.properties }, output),
            );
          },
        },
      );
    } catch (error) {
      // what is left (a deletion failed) goes at the next open, as after a crash
      await this.discard(outputs).catch(() => undefined);
      if (this.status.closing) return undefined; // terminated by close(): the job's work is dropped
      throw error;
    }
    if (this.status.closing) return this.discard(outputs);
    return { outputs, result };
  }

  /** Deletes the outputs of a merge abandoned because the store is closing (none was installed). */
  private async discard(outputs: readonly Table[]): Promise<undefined> {
    for (const table of outputs) await table.delete();
    return undefined;
  }

  /** Stops the thread: a merge running there is dropped at once (nothing it made is installed). */
  stopThread(): Promise<void> | undefined {
    return this.thread?.close();
  }
}
