// Buffers that whole small files are read into, kept and reused. Memory the process touches for the first
// time costs more to fill than the read itself on some machines (this VM: 8 files of 4 MiB read into fresh
// buffers and hashed in 200-230 ms, into one reused buffer in 24 ms; BENCHMARKS.md "Session 29"), and a
// backup reads every new file whole once (a few at a time) before it sends it.
import type { FileHandle } from 'node:fs/promises';

import { PiecePool } from '../adapters/s3/piece-pool.js';

/**
 * Every buffer has one size, the largest file read this way rounded up to a multiple of this. Only the
 * pages files fill are touched; they stay with the buffer until the pool goes (at the end of a backup):
 * at most `keep` buffers as large as the largest file each held.
 */
const GRAIN = 1024 * 1024;

export class FileBuffers {
  private readonly pool: PiecePool;

  /** `keep`: buffers kept for reuse at most (what is read at once); `largest`: the largest file read this way */
  constructor(keep: number, largest: number) {
    // one size for all: the largest file read this way, + 1 byte to see one that grew, rounded up to GRAIN
    this.pool = new PiecePool(Math.ceil((largest + 1) / GRAIN) * GRAIN, keep);
  }

  /** the read under way (reads go one at a time) */
  private reading: Promise<unknown> = Promise.resolve();

  /**
   * The bytes of `file` from its start, as many as a buffer holds (more than `largest`: a file larger
   * than that, one that grew past what its listing said, shows by its length), in a buffer of this pool:
   * give it back (give) once they are used. A read that comes back short once `expected` bytes are in is
   * the end (the caller checks the file's size and mtime after). Reads go one at a time: files read at
   * once into fresh memory on 2 vCPUs all came back late together (four of 4 MiB: 35-60 ms, the first
   * of them no sooner than the last), where the first alone is in after ~9 ms, and sent.
   */
  read(file: FileHandle, expected = -1): Promise<Buffer> {
    const read = this.reading.then(() => this.readWhole(file, expected));
    this.reading = read.catch(() => undefined);
    return read;
  }

  private async readWhole(file: FileHandle, expected: number): Promise<Buffer> {
    const buffer = this.pool.take();
    let length = 0;
    try {
      while (length < buffer.length) {
        const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length === expected && length < buffer.length) break;
      }
    } catch (error) {
      this.give(buffer);
      throw error;
    }
    return buffer.subarray(0, length);
  }

  /** Takes back the buffer of bytes that `read` gave (a view of it; anything else, or a second time, is ignored). */
  give(bytes: Buffer): void {
    this.pool.giveBack([bytes]);
  }
}
