// Merges the sources of a read into one ordered run of live keys: at each key the source with the newest
// visible version wins, and a key whose winner is a delete is skipped. Like the sources, a move returns
// a promise only when some source has to read a block.
import type { Source, Step } from './sources.js';

export class Merge {
  /** the current key (undefined at the end) and its winning source */
  key: string | undefined;
  winner: Source | undefined;

  constructor(
    private readonly sources: readonly Source[],
    private readonly reverse: boolean,
  ) {}

  seek(target: string | undefined, exclusive: boolean): Step {
    let pending: Promise<void>[] | undefined;
    for (const source of this.sources) {
      const step = source.seek(target, exclusive);
      if (step !== undefined) {
        pending ??= [];
        pending.push(step);
      }
    }
    return pending === undefined ? this.settle() : Promise.all(pending).then(() => this.settle());
  }

  /** To the next live key. */
  next(): Step {
    if (this.key === undefined) return undefined;
    const stepping = this.advancePast(this.key);
    return stepping === undefined ? this.settle() : stepping.then(() => this.settle());
  }

  /** Steps every source sitting on `key`. */
  private advancePast(key: string): Promise<unknown> | undefined {
    let pending: Promise<void>[] | undefined;
    for (const source of this.sources) {
      if (source.key !== key) continue;
      const step: Step = source.step();
      if (step !== undefined) {
        pending ??= [];
        pending.push(step);
      }
    }
    return pending === undefined ? undefined : pending.length === 1 ? pending[0] : Promise.all(pending);
  }

  /** Picks the current key; skips keys whose newest visible version is a delete. */
  private settle(): Step {
    for (;;) {
      let best: Source | undefined;
      for (const source of this.sources) {
        const key = source.key;
        if (key === undefined) continue;
        if (best === undefined) {
          best = source;
          continue;
        }
        const bestKey = best.key!;
        if (key === bestKey ? source.seq > best.seq : this.reverse ? key > bestKey : key < bestKey) best = source;
      }
      if (best === undefined || !best.deleted) {
        this.winner = best;
        this.key = best?.key;
        return undefined;
      }
      const stepping = this.advancePast(best.key!);
      if (stepping !== undefined) return stepping.then(() => this.settle());
    }
  }
}
