// Leveled compaction (as LevelDB): level 0 holds flushed memtables, which may overlap; every deeper level
// is one sorted run of non-overlapping SSTs, each level `levelMultiplier` times larger than the one above.
// A compaction merges level-0 files (all of them) or one file of level L with the files of level L + 1
// its range overlaps, and writes the result to level L + 1 in files of about `tableFileSize`.
//
// Versions: for each key a compaction keeps every version newer than the oldest open snapshot, and the
// newest version at or below it (a delete there is dropped too when no deeper level can hold the key);
// older versions go. Nothing a snapshot can read is dropped.
import { setImmediate as yieldToLoop } from 'node:timers/promises';

import { keyAt, nextGroup, versionIn, type Block, type MergeInput } from './block.js';

export type { MergeInput };
import { SstBuilder, tableSizeHint, type BuiltTable } from './sst-builder.js';
import { overlapping, spanOf } from './key-range.js';
import type { Table } from './table.js';

export interface CompactionPick {
  level: number;
  /** the files taken from `level` (level 0: newest first) */
  inputs: Table[];
  /** the files of level + 1 they overlap */
  overlaps: Table[];
  /** the inputs overlap nothing (each other included): they move down without a rewrite */
  trivialMove: boolean;
}

export interface LevelShape {
  l0Trigger: number;
  levelBaseBytes: number;
  levelMultiplier: number;
  maxLevels: number;
}

const levelBytes = (tables: readonly { bytes: number }[]): number => tables.reduce((sum, table) => sum + table.bytes, 0);

export function maxBytesFor(level: number, shape: LevelShape): number {
  return shape.levelBaseBytes * shape.levelMultiplier ** (level - 1);
}

/** The compaction most needed, if any level is over its size (level 0: its file count). */
export function pickCompaction(levels: readonly Table[][], shape: LevelShape, pointers: ReadonlyArray<string | null>): CompactionPick | undefined {
  let bestLevel = -1;
  let bestScore = 1;
  const l0Score = (levels[0]?.length ?? 0) / shape.l0Trigger;
  if (l0Score >= bestScore) {
    bestLevel = 0;
    bestScore = l0Score;
  }
  for (let level = 1; level < shape.maxLevels - 1; level++) {
    const score = levelBytes(levels[level] ?? []) / maxBytesFor(level, shape);
    if (score > bestScore) {
      bestLevel = level;
      bestScore = score;
    }
  }
  if (bestLevel < 0) return undefined;
  const next = levels[bestLevel + 1] ?? [];
  if (bestLevel === 0) {
    const inputs = [...levels[0]!];
    const { smallest, largest } = spanOf(inputs);
    const overlaps = overlapping(next, smallest, largest);
    return { level: 0, inputs, overlaps, trivialMove: overlaps.length === 0 && disjoint(inputs) };
  }
  const tables = levels[bestLevel]!;
  const pointer = pointers[bestLevel];
  let pick = pointer == null ? 0 : tables.findIndex((table) => table.smallest > pointer);
  if (pick < 0) pick = 0;
  const input = tables[pick]!;
  const overlaps = overlapping(next, input.smallest, input.largest);
  return { level: bestLevel, inputs: [input], overlaps, trivialMove: overlaps.length === 0 };
}

/** Whether the ranges of `tables` meet nowhere (level-0 files of sequential writes, say). */
function disjoint(tables: readonly Table[]): boolean {
  const sorted = [...tables].sort((a, b) => (a.smallest < b.smallest ? -1 : 1));
  return sorted.every((table, i) => i === 0 || sorted[i - 1]!.largest < table.smallest);
}

/** One key's versions gathered from every input, newest first. */
interface Group {
  seqs: number[];
  values: Array<Buffer | undefined>;
}

/** Reads one sorted run of tables block by block, one key group at a time, with every version. */
class RunReader {
  private t = 0;
  private b = 0;
  /** the first entry of the current key's group */
  private e = 0;
  private block: Block | undefined;
  key: string | undefined;

  constructor(private readonly tables: readonly MergeInput[]) {}

  async start(): Promise<void> {
    await this.load();
  }

  private async load(): Promise<void> {
    for (;;) {
      if (this.t >= this.tables.length) {
        this.key = undefined;
        this.block = undefined;
        return;
      }
      const table = this.tables[this.t]!;
      if (this.b >= table.blocks) {
        this.t++;
        this.b = 0;
        continue;
      }
      const loaded = table.block(this.b);
      this.block = loaded instanceof Promise ? await loaded : loaded;
      this.e = 0;
      if (this.block.count > 0) {
        this.key = keyAt(this.block, 0);
        return;
      }
      this.b++;
    }
  }

  /** Adds the current key's versions to `group` (values share the block's memory) and moves on. */
  async take(group: Group): Promise<void> {
    const block = this.block!;
    const end = nextGroup(block, this.e);
    for (let e = this.e; e < end; e++) {
      const { seq, value } = versionIn(block, block.offsets[e]!);
      group.seqs.push(seq);
      group.values.push(value);
    }
    this.e = end;
    if (end < block.count) {
      this.key = keyAt(block, end);
      return;
    }
    this.b++;
    await this.load();
  }
}

export interface MergeContext {
  /** the oldest version an open snapshot (or the latest state) reads */
  horizon: number;
  /** true when no level below the output level may hold `key` */
  isBottom: (key: string) => boolean;
  blockSize: number;
  bloomBitsPerKey: number;
  tableFileSize: number;
  /** a buffer of at least `bytes` to build the next output in, when the caller keeps some for reuse */
  outputBuffer?: (bytes: number) => Buffer | undefined;
  /** writes a finished output file; called in key order */
  emit: (built: BuiltTable) => Promise<void>;
  /** stops the merge between two keys when it returns true (the store is closing) */
  abandoned: () => boolean;
}

export interface MergeResult {
  bytesRead: number;
  droppedVersions: number;
  abandoned: boolean;
}

function newBuilder(context: MergeContext): SstBuilder {
  const bytes = tableSizeHint(context.tableFileSize, context.blockSize);
  return new SstBuilder(context.blockSize, context.bloomBitsPerKey, context.outputBuffer?.(bytes) ?? bytes);
}

/** Merges `runs` (newest first) into files of about tableFileSize, dropping versions no reader needs. */
export async function mergeRuns(runs: readonly (readonly MergeInput[])[], context: MergeContext): Promise<MergeResult> {
  const readers = runs.map((run) => new RunReader(run));
  for (const reader of readers) await reader.start();
  let builder = newBuilder(context);
  let dropped = 0;
  let groups = 0;
  for (;;) {
    let key: string | undefined;
    for (const reader of readers) if (reader.key !== undefined && (key === undefined || reader.key < key)) key = reader.key;
    if (key === undefined) break;
    if (++groups % 256 === 0) {
      if (context.abandoned()) return { bytesRead: 0, droppedVersions: dropped, abandoned: true };
      await yieldToLoop();
    }
    const group: Group = { seqs: [], values: [] };
    for (const reader of readers) if (reader.key === key) await reader.take(group);
    // runs are newest first, so the versions are already newest first unless level-0 files interleave
    const order = group.seqs.map((_, i) => i).sort((a, b) => group.seqs[b]! - group.seqs[a]!);
    let keptAtHorizon = false;
    for (const i of order) {
      const seq = group.seqs[i]!;
      if (seq > context.horizon) {
        builder.add(key, seq, group.values[i]);
        continue;
      }
      if (keptAtHorizon) {
        dropped++;
        continue;
      }
      keptAtHorizon = true;
      if (group.values[i] === undefined && context.isBottom(key)) {
        dropped++;
        continue;
      }
      builder.add(key, seq, group.values[i]);
    }
    if (builder.size >= context.tableFileSize) {
      await context.emit(builder.finish());
      builder = newBuilder(context);
    }
  }
  if (!builder.empty) await context.emit(builder.finish());
  const bytesRead = runs.reduce((sum, run) => sum + levelBytes(run), 0);
  return { bytesRead, droppedVersions: dropped, abandoned: false };
}
