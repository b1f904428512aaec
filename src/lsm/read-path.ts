// Reads of one state as of one version: a point read looks where newer data sits first (memtables, then
// level 0 newest first, then each level) and the first hit wins; a range read merges a cursor per
// memtable, per level-0 SST and per deeper level.
import { hashKey } from './bytes.js';
import { rangeHolding } from './key-range.js';
import { MemtableSource, TablesSource, type Source } from './sources.js';
import type { Hit } from './table.js';
import type { State } from './version-set.js';

/**
 * The version of `key` at `version` (a delete: value undefined), from `from` (0: the memtables) on.
 * Synchronous while the blocks it needs are cached.
 */
export function find(state: State, key: string, version: number, from = 0): Hit | undefined | Promise<Hit | undefined> {
  if (from === 0) {
    const hit = state.mem.find(key, version);
    if (hit !== undefined) return hit;
    for (const memtable of state.imm) {
      const older = memtable.find(key, version);
      if (older !== undefined) return older;
    }
  }
  const hash = hashKey(key);
  const level0 = state.levels[0]!;
  const sources = level0.length + state.levels.length - 1;
  for (let i = Math.max(from - 1, 0); i < sources; i++) {
    const table = i < level0.length ? level0[i] : rangeHolding(state.levels[i - level0.length + 1]!, key);
    if (table === undefined) continue;
    const hit = table.get(key, hash, version);
    if (hit instanceof Promise) return hit.then((found) => found ?? find(state, key, version, i + 2));
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** The cursors a range read of `state` as of `version` merges. */
export function sourcesOf(state: State, version: number, reverse: boolean): Source[] {
  const sources: Source[] = [state.mem, ...state.imm].map((memtable) => new MemtableSource(memtable, version, reverse));
  for (const table of state.levels[0]!) sources.push(new TablesSource([table], version, reverse));
  for (let level = 1; level < state.levels.length; level++) {
    if (state.levels[level]!.length > 0) sources.push(new TablesSource(state.levels[level]!, version, reverse));
  }
  return sources;
}
