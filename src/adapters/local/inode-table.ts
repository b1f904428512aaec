// Every handle on one file in this process shares one InodeState: the size (so that appends from any
// handle land after each other, never on top of each other) and the queue of size-changing requests.
// Keyed by device and inode number, so two names for one file (hard links) share it too.
import type { Stat } from '../../io/engine.js';

export interface SizeChange {
  /**
   * an append of `buffers` through `fd`, a truncate to `size`, or `grow`: a change that may extend the
   * file (a write, copy or allocation past the end), resolving with the end it reached
   */
  kind: 'append' | 'truncate' | 'grow';
  fd: number;
  buffers: readonly Uint8Array[] | undefined;
  bytes: number;
  size: number;
  grow: (() => Promise<number>) | undefined;
  resolve: (offset: number) => void;
  reject: (error: unknown) => void;
}

export interface InodeState {
  readonly key: string;
  size: number;
  refs: number;
  queue: SizeChange[];
  draining: boolean;
}

export class InodeTable {
  private readonly states = new Map<string, InodeState>();

  acquire(stat: Stat): InodeState {
    const key = `${stat.dev}:${stat.ino}`;
    let state = this.states.get(key);
    if (!state) {
      state = { key, size: stat.size, refs: 0, queue: [], draining: false };
      this.states.set(key, state);
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
