// A file open in a LocalAdapter: a descriptor, the shared inode state, and the IO engine.
//
// Appends, truncates and whatever may extend the file (a write, copy or allocation past the end) change
// the size, so they go through the inode's queue one at a time (appends one batch at a time):
// consecutive appends through one descriptor become a single writev at the current end of file. If a batch
// fails part-way (ENOSPC), the file is cut back to where the batch began, so a failed append leaves no
// partial record and later appends continue from a clean end.
import { AT, FALLOC, SEEK, type IoEngine, type Stat } from '../../io/engine.js';
import { takeBatch, writeBatch } from '../../ground/append-batch.js';
import { storageError } from '../../ground/errors.js';
import { skipBytes, totalBytes, type DirNode, type EntryStat, type FileNode, type NativeAccess, type SeekTarget } from '../adapter.js';
import { FdNode, withKind } from './fd-node.js';
import type { InodeState, InodeTable, SizeChange } from './inode-table.js';

const IOV_MAX = 1024;
const BATCH_BYTES = 16 * 1024 * 1024;

export class LocalFile extends FdNode implements FileNode {
  private closed = false;
  private openedWithKind: EntryStat | undefined;

  constructor(
    engine: IoEngine,
    private readonly table: InodeTable,
    fd: number,
    private readonly inode: InodeState,
    readonly alignment: number,
    /** the statx taken at the open */
    private readonly openStat: Stat,
  ) {
    super(engine, fd);
  }

  /** The file as it was at the open (made when asked: most opens never ask). */
  get opened(): EntryStat {
    this.openedWithKind ??= withKind(this.openStat);
    return this.openedWithKind;
  }

  size(): number {
    return this.inode.size;
  }

  nativeAccess(): NativeAccess {
    return { fd: this.fd, sizeCell: this.inode.sizeCell };
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    let done = 0;
    while (done < buffer.length) {
      const n = await this.engine.read(this.fd, buffer, done, buffer.length - done, position + done);
      done += n;
      if (n === 0 || position + done >= this.inode.size) break;
    }
    return done;
  }

  async readv(buffers: readonly Uint8Array[], position: number): Promise<number> {
    const total = totalBytes(buffers);
    let done = 0;
    while (done < total) {
      const n = await this.engine.readv(this.fd, done === 0 ? buffers : skipBytes(buffers, done), position + done);
      done += n;
      if (n === 0 || position + done >= this.inode.size) break;
    }
    return done;
  }

  /**
   * Runs `change`, which writes nowhere past `limit` and resolves with the end it reached. Inside the file
   * it goes straight down. One that may extend the file changes the size, so it takes its turn in the
   * inode's queue with appends and truncates: a failed append batch is cut back to where it began, which
   * must never cut off an extension made meanwhile.
   */
  private extending(limit: number, change: () => Promise<number>): Promise<number> {
    if (limit <= this.inode.size) return change();
    return this.changeSize({ kind: 'grow', buffers: undefined, bytes: 0, size: 0, grow: change });
  }

  /** A write inside the file goes straight down; one past its end takes its turn in the queue. */
  write(buffers: readonly Uint8Array[], position: number): Promise<void> {
    const bytes = totalBytes(buffers);
    if (position + bytes <= this.inode.size) return writeFully(this.engine, this.fd, buffers, position);
    // where the file ends, with nothing queued: as an append alone (a new file's first write)
    if (position === this.inode.size && this.alone(buffers)) return this.appendAlone(buffers).then(() => {});
    return this.changeSize({ kind: 'write', buffers, bytes, size: position, grow: undefined }).then(() => {});
  }

  append(buffers: readonly Uint8Array[]): Promise<number> {
    if (this.alone(buffers)) return this.appendAlone(buffers);
    return this.changeSize({ kind: 'append', buffers, bytes: totalBytes(buffers), size: 0, grow: undefined });
  }

  /** Whether `buffers` may go down at once, as a batch of one: nothing queued nor going down, one writev's worth. */
  private alone(buffers: readonly Uint8Array[]): boolean {
    return !this.inode.draining && buffers.length <= IOV_MAX;
  }

  /**
   * An append with the inode's queue empty and nothing going down: it goes down at once, as a batch of
   * one would, without a queue entry, and whatever comes meanwhile queues behind it (the common case of
   * one writer awaiting each append, without the queue's allocations and promise hops).
   */
  private appendAlone(buffers: readonly Uint8Array[]): Promise<number> {
    const inode = this.inode;
    const start = inode.size;
    const end = start + totalBytes(buffers);
    inode.draining = true;
    return writeFully(this.engine, this.fd, buffers, start).then(
      () => {
        inode.size = Math.max(inode.size, end);
        this.drainQueued();
        return start;
      },
      async (error: unknown) => {
        await this.engine.ftruncate(this.fd, start).catch(() => {}); // the write's error is the one to report
        this.drainQueued();
        throw error;
      },
    );
  }

  /** After an append alone: the changes that queued behind it go down in turn. */
  private drainQueued(): void {
    if (this.inode.queue.length > 0) void this.drain();
    else this.inode.draining = false;
  }

  async truncate(size: number): Promise<void> {
    await this.changeSize({ kind: 'truncate', buffers: undefined, bytes: 0, size, grow: undefined });
  }

  private changeSize(change: Omit<SizeChange, 'fd' | 'resolve' | 'reject'>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.inode.queue.push({ ...change, fd: this.fd, resolve, reject });
      if (!this.inode.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    const inode = this.inode;
    inode.draining = true;
    while (inode.queue.length > 0) {
      const first = inode.queue[0]!;
      if (continues(first, first.fd, inode.size)) {
        await this.appendBatch(takeAppends(inode.queue, first.fd, inode.size));
        continue;
      }
      inode.queue.shift();
      await this.changeNow(first);
    }
    inode.draining = false;
  }

  /**
   * A truncate, a write away from the end, or another change that may extend the file, in its turn. One
   * that fails part way (a write that ran out of space after some of its bytes) is cut back to the size
   * before it, as a failed append is: nothing it wrote past the old end is left in the file, and the size
   * the storage knows stays the file's.
   */
  private async changeNow(request: SizeChange): Promise<void> {
    const before = this.inode.size;
    try {
      if (request.kind === 'truncate') {
        await this.engine.ftruncate(request.fd, request.size);
        this.inode.size = request.size;
        request.resolve(request.size);
      } else if (request.kind === 'write') {
        await writeFully(this.engine, request.fd, request.buffers!, request.size);
        this.inode.size = Math.max(this.inode.size, request.size + request.bytes);
        request.resolve(request.size);
      } else {
        const end = await request.grow!();
        this.inode.size = Math.max(this.inode.size, end);
        request.resolve(end);
      }
    } catch (error) {
      if (request.kind !== 'truncate') await this.engine.ftruncate(request.fd, before).catch(() => {}); // the change's error is the one to report
      request.reject(error);
    }
  }

  private async appendBatch(batch: SizeChange[]): Promise<void> {
    const inode = this.inode;
    const start = inode.size;
    const fd = batch[0]!.fd;
    const buffers = batch.length === 1 ? batch[0]!.buffers! : batch.flatMap((request) => request.buffers!);
    const written = await writeBatch(
      batch,
      start,
      () => writeFully(this.engine, fd, buffers, start),
      () => this.engine.ftruncate(fd, start),
    );
    if (written === undefined) return;
    for (const [i, request] of batch.entries()) request.resolve(written.offsets[i]!);
    inode.size = Math.max(inode.size, written.end);
  }

  sync(datasync: boolean): Promise<void> {
    return this.engine.fsync(this.fd, datasync);
  }

  async stat(): Promise<EntryStat> {
    return withKind(await this.engine.statx(this.fd, ''));
  }

  /** With KEEP_SIZE (punching a hole included) the size stays; otherwise it grows to cover the range. */
  async allocate(offset: number, length: number, mode: number): Promise<void> {
    const end = mode & FALLOC.KEEP_SIZE ? 0 : offset + length;
    await this.extending(end, async () => {
      await this.engine.fallocate(this.fd, mode, offset, length);
      return end;
    });
  }

  seek(offset: number, target: SeekTarget): Promise<number> {
    return this.engine.lseek(this.fd, offset, target === 'data' ? SEEK.DATA : SEEK.HOLE);
  }

  /** copy_file_range: the kernel copies (shares blocks where the file system can), nothing passes through here. */
  async copyFrom(source: FileNode, sourceOffset: number, offset: number, length: number): Promise<number> {
    if (!(source instanceof LocalFile)) throw storageError('EINVAL', 'copy: the source is not a local file'); // File checked
    const end = await this.extending(offset + length, async () => offset + (await this.engine.copyFileRange(source.fd, sourceOffset, this.fd, offset, length)));
    return end - offset;
  }

  sameFile(other: FileNode): boolean {
    return other instanceof LocalFile && other.inode === this.inode;
  }

  /**
   * linkat of the descriptor's /proc/self/fd link, followed: the open file itself, whatever its names (the
   * way open(2) documents for an O_TMPFILE file; AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
   */
  linkInto(to: DirNode, name: string): Promise<void> {
    const dirfd = to.descriptor?.();
    if (dirfd === undefined) return Promise.reject(storageError('EXDEV', 'a local file is named only in a local directory', { path: name }));
    return this.engine.linkat(AT.FDCWD, `/proc/self/fd/${this.fd}`, dirfd, name, AT.SYMLINK_FOLLOW);
  }

  async close(): Promise<void> {
    // once: after it, the descriptor's number may be another file's (a second close would close that one)
    if (this.closed) return;
    this.closed = true;
    this.table.release(this.inode);
    await this.engine.closeFd(this.fd);
  }
}

/**
 * Writes all of `buffers` at `position` through `fd`, resuming after short writes: one write or writev,
 * and only after a short one the loop (no async frame for the common whole write).
 */
export function writeFully(engine: IoEngine, fd: number, buffers: readonly Uint8Array[], position: number): Promise<void> {
  const total = totalBytes(buffers);
  if (total === 0) return Promise.resolve();
  return writeSome(engine, fd, buffers, position).then((n) => (n < total ? writeRest(engine, fd, buffers, position, n, total) : undefined));
}

async function writeRest(engine: IoEngine, fd: number, buffers: readonly Uint8Array[], position: number, done: number, total: number): Promise<void> {
  while (done < total) done += await writeSome(engine, fd, skipBytes(buffers, done), position + done);
}

/** One write (or writev of at most IOV_MAX buffers) of the start of `buffers`: the bytes it wrote. */
function writeSome(engine: IoEngine, fd: number, buffers: readonly Uint8Array[], position: number): Promise<number> {
  return buffers.length === 1
    ? engine.write(fd, buffers[0]!, 0, buffers[0]!.length, position)
    : engine.writev(fd, buffers.length > IOV_MAX ? buffers.slice(0, IOV_MAX) : buffers, position);
}

/**
 * The appends through `fd` at the head of the queue that go down together, from the end `start`, with
 * the writes that begin where the batch has reached: bounded iovecs and bytes.
 */
function takeAppends(queue: SizeChange[], fd: number, start: number): SizeChange[] {
  let end = start;
  return takeBatch(
    queue,
    [
      { measure: (request) => request.buffers!.length, most: IOV_MAX },
      { measure: (request) => request.bytes, most: BATCH_BYTES },
    ],
    (request) => {
      const joins = continues(request, fd, end);
      end += request.bytes; // past the first request that does not join, takeBatch stops
      return joins;
    },
  );
}

/** Whether `request` goes down with a batch through `fd` that has reached `end`: an append, or a write starting there. */
function continues(request: SizeChange, fd: number, end: number): boolean {
  return request.fd === fd && (request.kind === 'append' || (request.kind === 'write' && request.size === end));
}
