// Every handle on one file in this process shares one InodeState: the size (so that appends from any
// handle land after each other, never on top of each other) and the queue of size-changing requests.
// Keyed by device and inode number, so two names for one file (hard links) share it too. The size lives
// in a one-element Float64Array of its own memory: a native data path that writes the file (the mount's,
// native/src/fuse/data-path.h) raises it there from its own thread.
import type { Stat } from '../../io/engine.js';

export interface SizeChange {
  /**
   * an append of `buffers` through `fd`; a write of `buffers` at `size` that reaches past the end; a
   * truncate to `size`; or `grow`: another change that may extend the file (a copy or an allocation past
   * the end), resolving with the end it reached. Appends, and writes that start where the file then
   * ends, go down together.
   */
  kind: 'append' | 'write' | 'truncate' | 'grow';
  fd: number;
  buffers: readonly Uint8Array[] | undefined;
  bytes: number;
  size: number;
  grow: (() => Promise<number>) | undefined;
  resolve: (offset: number) => void;
  reject: (error: unknown) => void;
}

export class InodeState {
  refs = 0;
  queue: SizeChange[] = [];
  draining = false;

  /**
   * `sizeCell`: the size, where native code can reach it (a float64: sizes stay below 2^53); given, it may
   * have been raised already by native code writing the file (then kept where larger than `size`).
   */
  constructor(
    readonly key: string,
    size: number,
    readonly sizeCell: Float64Array = new Float64Array(new ArrayBuffer(8)),
  ) {
    if (size > sizeCell[0]!) this.sizeCell[0] = size;
  }

  get size(): number {
    return this.sizeCell[0]!;
  }

  set size(value: number) {
    this.sizeCell[0] = value;
  }
}

export class InodeTable {
  private readonly states = new Map<string, InodeState>();

  /**
   * The state of the file `stat` describes. `sizeCell`: the cell native code keeps the size of that file in
   * already (see InodeState), which a new state takes; a state the file has already keeps its own (the
   * caller then points native code at it: see LocalFile.nativeAccess), the larger size of both.
   */
  acquire(stat: Stat, sizeCell?: Float64Array): InodeState {
    const key = `${stat.dev}:${stat.ino}`;
    let state = this.states.get(key);
    if (!state) {
      state = new InodeState(key, stat.size, sizeCell);
      this.states.set(key, state);
    } else if (sizeCell && sizeCell[0]! > state.size) {
      state.size = sizeCell[0]!;
    }
    state.refs++;
    return state;
  }

  release(state: InodeState): void {
    if (--state.refs === 0) this.states.delete(state.key);
  }

  get open(): number {
    return this.states.size;
  }
}
