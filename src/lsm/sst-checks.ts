// The checks of an SST's blocks, shared by Table (reading from its file) and the compaction thread's
// streamed inputs: the footer by its own CRC32C, the index, filter and properties blocks at open, each
// data block when it is read; a mismatch is the same EBADMSG naming the file and the block's offset.
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
  /** the format of its data blocks (the footer's version) */
  format: number;
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
  return { format: footer.version, index, filter, properties };
}

/** An SST as its metadata describes it (an open Table, or an input the compaction thread streams). */
export abstract class SstShape {
  constructor(
    readonly name: string,
    /** the file's size */
    readonly bytes: number,
    readonly properties: TableProperties,
    readonly index: Index,
    /** the format of its data blocks */
    readonly format: number,
  ) {}

  get smallest(): string {
    return this.properties.smallest;
  }

  get largest(): string {
    return this.properties.largest;
  }

  get blocks(): number {
    return this.index.handles.length;
  }
}
