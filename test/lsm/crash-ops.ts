// The writes of the LSM crash test, shared by the child (lsm-writer.ts) and the parent (crash.test.ts):
// writer w's j-th write, deterministic, so the parent can rebuild what any prefix of them leaves.
import type { WriteOp } from '../../src/lsm/types.js';

/** Numbers the child prints: w * WRITER + j for writer w's acknowledged write j; negative: -(compactions). */
export const WRITER = 1_000_000_000;

const keyOf = (w: number, n: number): string => `w${String(w).padStart(3, '0')}/k${String(n % 40).padStart(2, '0')}`;
const valueFor = (w: number, j: number, part: number): string =>
  `${w}:${j}:${part}:`.padEnd(20 + ((j * 37 + part * 11) % 280), String.fromCharCode(97 + (j % 26)));

/** Writer w's write j: a put, a delete, or an atomic batch of three ops. */
export function opsOf(w: number, j: number): Array<{ key: string; value: string | undefined }> {
  if (j % 7 === 6) return [{ key: keyOf(w, j * 3), value: undefined }];
  if (j % 5 === 0) return [0, 1, 2].map((part) => ({ key: keyOf(w, j + part * 13), value: valueFor(w, j, part) }));
  return [{ key: keyOf(w, j), value: valueFor(w, j, 0) }];
}

export function writeOpsOf(w: number, j: number): WriteOp[] {
  return opsOf(w, j).map((op) => (op.value === undefined ? { type: 'del', key: op.key } : { type: 'put', key: op.key, value: op.value }));
}

/** What writer w's writes 0..n leave (n = -1: nothing). */
export function stateAfter(w: number, n: number): Map<string, string> {
  const state = new Map<string, string>();
  for (let j = 0; j <= n; j++) {
    for (const op of opsOf(w, j)) {
      if (op.value === undefined) state.delete(op.key);
      else state.set(op.key, op.value);
    }
  }
  return state;
}
