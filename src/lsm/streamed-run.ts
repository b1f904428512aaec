// The inputs of a compaction as the compaction thread reads them. The main thread owns the files; the
// thread asks it for one chunk of consecutive data blocks at a time (about CHUNK_BYTES), read into one
// of CHUNK_SLOTS shared buffers of the run, and asks for the next chunk as it starts on one, so the read
// overlaps the merge. A run's blocks are read in order (the merge's RunReader does), and the builder of
// the outputs copies what it is given, so a slot is free again two chunks later: a run holds
// CHUNK_SLOTS x CHUNK_BYTES whatever the size of its tables. Every block is checked as Table checks what
// it reads: the metadata blocks at open, each data block when the merge reaches it.
import { loadBlock, type Block, type MergeInput } from './block.js';
import type { JobInput } from './compaction-job.js';
import { corruptSst, type Index, type TableProperties } from './sst-format.js';
import { checkBlock, readMeta, SstShape } from './sst-checks.js';

/** Reads input `table` of the run at `offset` into `target`; resolves with the byte count read. */
export type ReadInput = (table: number, offset: number, target: Buffer) => Promise<number>;

export const CHUNK_BYTES = 256 * 1024;
const CHUNK_SLOTS = 3;

/** Rings of slots of finished runs, for the next job's runs (a thread's jobs run one at a time). */
const spareRings: SharedArrayBuffer[] = [];
const SPARE_RINGS = 16;

interface Chunk {
  /** the table (its position in the run) and the byte range of its blocks */
  table: number;
  offset: number;
  length: number;
}

export class StreamedRun {
  readonly tables: StreamedTable[] = [];
  private readonly chunks: Chunk[] = [];
  private readonly slots = spareRings.pop() ?? new SharedArrayBuffer(CHUNK_SLOTS * CHUNK_BYTES);
  private readonly fetches = new Map<number, Promise<Buffer>>();
  private current = -1;
  private currentData: Buffer | undefined;

  private constructor(private readonly read: ReadInput) {}

  /**
   * Opens the run's tables (their metadata read and checked); their blocks stream as the merge asks. The
   * caller closes the run when the merge is over, failed or not.
   */
  static async open(inputs: readonly JobInput[], read: ReadInput): Promise<StreamedRun> {
    const run = new StreamedRun(read);
    // every table's metadata at once: each is a few reads in a row, through the main thread
    const metas = await Promise.all(
      inputs.map((input, t) =>
        readMeta(input.name, input.bytes, async (handle) => {
          const target = Buffer.from(new SharedArrayBuffer(handle.length));
          return checkBlock(target, handle.length === 0 ? 0 : await read(t, handle.offset, target), input.name, handle);
        }),
      ),
    );
    for (const [t, meta] of metas.entries()) {
      const input = inputs[t]!;
      run.tables.push(new StreamedTable(run, input.name, input.bytes, meta.properties, meta.index, meta.format, run.cut(t, meta.index)));
    }
    return run;
  }

  /** Gives the run's slots to the next run once no read into them is under way. */
  async close(): Promise<void> {
    await Promise.allSettled(this.fetches.values());
    this.fetches.clear();
    this.currentData = undefined;
    if (spareRings.length < SPARE_RINGS) spareRings.push(this.slots);
  }

  /** Splits table `t`'s blocks into chunks; returns each block's chunk. */
  private cut(t: number, index: Index): Uint32Array {
    const chunkOf = new Uint32Array(index.handles.length);
    let chunk: Chunk | undefined;
    for (const [i, handle] of index.handles.entries()) {
      if (chunk === undefined || chunk.length + handle.length > CHUNK_BYTES || chunk.offset + chunk.length !== handle.offset) {
        chunk = { table: t, offset: handle.offset, length: 0 };
        this.chunks.push(chunk);
      }
      chunk.length += handle.length;
      chunkOf[i] = this.chunks.length - 1;
    }
    return chunkOf;
  }

  /** Chunk `n`'s bytes: at once when it is the one the merge is on, else once read (the next asked for). */
  data(n: number): Buffer | Promise<Buffer> {
    if (n === this.current) return this.currentData!;
    if (n !== this.current + 1) throw new Error(`compaction input read out of order (chunk ${n} after ${this.current})`);
    const reading = this.fetch(n);
    if (n + 1 < this.chunks.length) this.fetch(n + 1);
    return reading.then((data) => {
      this.fetches.delete(n);
      this.current = n;
      this.currentData = data;
      return data;
    });
  }

  chunkStart(n: number): number {
    return this.chunks[n]!.offset;
  }

  private fetch(n: number): Promise<Buffer> {
    const known = this.fetches.get(n);
    if (known) return known;
    const { table, offset, length } = this.chunks[n]!;
    // a block larger than a slot gets a buffer of its own
    const target = length <= CHUNK_BYTES ? Buffer.from(this.slots, (n % CHUNK_SLOTS) * CHUNK_BYTES, length) : Buffer.from(new SharedArrayBuffer(length));
    const reading = this.read(table, offset, target).then((count) => {
      if (count !== length)
        throw corruptSst(this.tables[table]!.name, `the file is shorter than when the compaction began (${count} of ${length} bytes at offset ${offset})`);
      return target;
    });
    reading.catch(() => {}); // a prefetch's failure is seen when the merge reaches it
    this.fetches.set(n, reading);
    return reading;
  }
}

/** One input SST of a run, its blocks read through the run's chunks. */
export class StreamedTable extends SstShape implements MergeInput {
  constructor(
    private readonly run: StreamedRun,
    name: string,
    bytes: number,
    properties: TableProperties,
    index: Index,
    format: number,
    private readonly chunkOf: Uint32Array,
  ) {
    super(name, bytes, properties, index, format);
  }

  /** Data block `i`, checked and decoded (its values are views of the chunk: used before the next two). */
  block(i: number): Block | Promise<Block> {
    const n = this.chunkOf[i]!;
    const data = this.run.data(n);
    return data instanceof Promise ? data.then((bytes) => this.decode(i, n, bytes)) : this.decode(i, n, data);
  }

  private decode(i: number, n: number, chunk: Buffer): Block {
    const handle = this.index.handles[i]!;
    const start = handle.offset - this.run.chunkStart(n);
    const part = chunk.subarray(start, start + handle.length);
    return loadBlock(checkBlock(part, part.length, this.name, handle), this.name, handle.offset, this.format);
  }
}
