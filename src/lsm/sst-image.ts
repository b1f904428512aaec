// An SST parsed from its bytes in memory, as the compaction thread gets its inputs (the whole file, read
// by the main thread). Every block is checked as Table checks what it reads from disk: the footer by its
// own CRC32C, the index, filter and properties blocks at parse, each data block when the merge reaches it;
// a mismatch is the same EBADMSG naming the file and the block's offset.
import { loadBlock, type Block, type MergeInput } from './block.js';
import {
  blockCrc,
  corruptSst,
  decodeFooter,
  decodeIndex,
  decodeProperties,
  FOOTER_SIZE,
  type BlockHandle,
  type Index,
  type TableProperties,
} from './sst-format.js';

/**
 * Checks a block read from SST `file`: `got` bytes of the handle's length were there, and its CRC32C
 * matches (crc -1: checked by its decoder instead). Returns `data`.
 */
export function checkBlock(data: Buffer, got: number, file: string, handle: BlockHandle): Buffer {
  if (got !== handle.length) throw corruptSst(file, `block cut short (${got} of ${handle.length} bytes)`, handle.offset);
  if (handle.crc !== -1 && blockCrc(data) !== handle.crc) throw corruptSst(file, 'checksum mismatch', handle.offset);
  return data;
}

/** What an SST's metadata blocks hold: its index, bloom filter and properties. */
export interface SstMeta {
  index: Index;
  filter: Buffer;
  properties: TableProperties;
}

/**
 * Reads and checks the metadata of the SST `name` of `size` bytes through `read` (a block's checked bytes,
 * from disk or from memory): the footer, then the index, filter and properties blocks it points to.
 */
export async function readMeta(name: string, size: number, read: (handle: BlockHandle) => Buffer | Promise<Buffer>): Promise<SstMeta> {
  if (size < FOOTER_SIZE) throw corruptSst(name, `${size} bytes is too short for an SST`);
  const footer = decodeFooter(await read({ offset: size - FOOTER_SIZE, length: FOOTER_SIZE, crc: -1 }), name, size - FOOTER_SIZE);
  const index = decodeIndex(await read(footer.index), name);
  const filter = await read(footer.filter);
  const properties = decodeProperties(await read(footer.properties), name);
  return { index, filter, properties };
}

export class SstImage implements MergeInput {
  private constructor(
    readonly name: string,
    private readonly data: Buffer,
    readonly properties: TableProperties,
    readonly index: Index,
  ) {}

  /** Parses the SST named `name` (for errors) from all of its bytes (the filter is checked, not kept). */
  static async parse(name: string, data: Buffer): Promise<SstImage> {
    const { properties, index } = await readMeta(name, data.length, (handle) => slice(data, name, handle));
    return new SstImage(name, data, properties, index);
  }

  get smallest(): string {
    return this.properties.smallest;
  }

  get largest(): string {
    return this.properties.largest;
  }

  get bytes(): number {
    return this.data.length;
  }

  get blocks(): number {
    return this.index.handles.length;
  }

  /** Data block `i`, checked and decoded (its values are views of the image). */
  block(i: number): Block {
    const handle = this.index.handles[i]!;
    return loadBlock(slice(this.data, this.name, handle), this.name, handle.offset);
  }
}

/** The bytes of `handle` in the image, checked. */
function slice(data: Buffer, name: string, handle: BlockHandle): Buffer {
  const start = Math.min(handle.offset, data.length);
  const part = data.subarray(start, Math.min(data.length, start + handle.length));
  return checkBlock(part, part.length, name, handle);
}
