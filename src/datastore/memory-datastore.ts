// MemoryDatastore: a Map from key to value, for tests and as a cache tier. Values are copied on the way
// in and out, so callers never share a Buffer with the store. A batch is applied at once (atomically).
// Nothing survives the process, so sync is a no-op.
import type { BatchOp } from './batch.js';
import { CheckedDatastore } from './checked-datastore.js';
import * as Key from './key.js';
import type { SourceEntry, Want } from './query.js';

export class MemoryDatastore extends CheckedDatastore {
  private readonly values = new Map<string, Buffer>();

  constructor() {
    super('memory datastore');
  }

  /** How many keys hold a value. */
  get count(): number {
    return this.values.size;
  }

  protected async read(key: string): Promise<Buffer | undefined> {
    const value = this.values.get(key);
    return value === undefined ? undefined : Buffer.from(value);
  }

  protected async sizeOf(key: string): Promise<number | undefined> {
    return this.values.get(key)?.length;
  }

  protected async write(key: string, value: Uint8Array): Promise<void> {
    this.values.set(key, Buffer.from(value));
  }

  protected async remove(key: string): Promise<void> {
    this.values.delete(key);
  }

  protected override async applyBatch(ops: readonly BatchOp[]): Promise<void> {
    // the values are the batch's own copies already
    for (const op of ops) {
      if (op.type === 'put') this.values.set(op.key, op.value);
      else this.values.delete(op.key);
    }
  }

  /** A snapshot taken when the scan starts, in key order (not promised to callers without orders). */
  protected async *scan(prefix: string, want: Want): AsyncIterable<SourceEntry> {
    const keys = [...this.values.keys()].filter((key) => Key.isAncestorOf(prefix, key)).sort(Key.compare);
    const snapshot = keys.map((key) => [key, this.values.get(key)!] as const);
    for (const [key, value] of snapshot) {
      yield want.values ? { key, value: Buffer.from(value), size: value.length } : { key, size: value.length };
    }
  }

  protected async syncUnder(): Promise<void> {}

  protected async release(): Promise<void> {
    this.values.clear();
  }
}
