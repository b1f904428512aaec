// A file open in a LocalAdapter: a descriptor, the shared inode state, and the IO engine.
//
// Appends and truncates change the size, so they go through the inode's queue one batch at a time:
// consecutive appends through one descriptor become a single writev at the current end of file. If a batch
// fails part-way (ENOSPC), the file is cut back to where the batch began, so a failed append leaves no
// partial record and later appends continue from a clean end.
import type { IoEngine } from '../../io/engine.js';
import { skipBytes, totalBytes, type EntryStat, type FileNode, type XattrNode } from '../adapter.js';
import type { InodeState, InodeTable, SizeChange } from './inode-table.js';
import { fdXattrs, withKind } from './local-dir.js';

const IOV_MAX = 1024;
const BATCH_BYTES = 16 * 1024 * 1024;

export class LocalFile implements FileNode {
  readonly getXattr: XattrNode['getXattr'];
  readonly setXattr: XattrNode['setXattr'];
  readonly listXattrs: XattrNode['listXattrs'];
  readonly removeXattr: XattrNode['removeXattr'];

  constructor(
    private readonly engine: IoEngine,
    private readonly table: InodeTable,
    private readonly fd: number,
    private readonly inode: InodeState,
    readonly alignment: number,
  ) {
    ({ getXattr: this.getXattr, setXattr: this.setXattr, listXattrs: this.listXattrs, removeXattr: this.removeXattr } = fdXattrs(engine, fd, ''));
  }

  size(): number {
    return this.inode.size;
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

  async write(buffers: readonly Uint8Array[], position: number): Promise<void> {
    await writeFully(this.engine, this.fd, buffers, position);
    this.inode.size = Math.max(this.inode.size, position + totalBytes(buffers));
  }

  append(buffers: readonly Uint8Array[]): Promise<number> {
    return this.changeSize(buffers, totalBytes(buffers), 0);
  }

  async truncate(size: number): Promise<void> {
    await this.changeSize(undefined, 0, size);
  }

  private changeSize(buffers: readonly Uint8Array[] | undefined, bytes: number, size: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.inode.queue.push({ fd: this.fd, buffers, bytes, size, resolve, reject });
      if (!this.inode.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    const inode = this.inode;
    inode.draining = true;
    while (inode.queue.length > 0) {
      const first = inode.queue[0]!;
      if (first.buffers === undefined) {
        inode.queue.shift();
        await this.truncateNow(first);
        continue;
      }
      const batch = takeAppends(inode.queue);
      await this.appendBatch(batch);
    }
    inode.draining = false;
  }

  private async truncateNow(request: SizeChange): Promise<void> {
    try {
      await this.engine.ftruncate(request.fd, request.size);
      this.inode.size = request.size;
      request.resolve(request.size);
    } catch (error) {
      request.reject(error);
    }
  }

  private async appendBatch(batch: SizeChange[]): Promise<void> {
    const inode = this.inode;
    const start = inode.size;
    const buffers = batch.length === 1 ? batch[0]!.buffers! : batch.flatMap((request) => request.buffers!);
    try {
      await writeFully(this.engine, batch[0]!.fd, buffers, start);
    } catch (error) {
      // Leave no partial record behind: the next append starts where this batch did.
      await this.engine.ftruncate(batch[0]!.fd, start).catch(() => undefined);
      for (const request of batch) request.reject(error);
      return;
    }
    let offset = start;
    for (const request of batch) {
      request.resolve(offset);
      offset += request.bytes;
    }
    inode.size = Math.max(inode.size, offset);
  }

  sync(datasync: boolean): Promise<void> {
    return this.engine.fsync(this.fd, datasync);
  }

  async stat(): Promise<EntryStat> {
    return withKind(await this.engine.statx(this.fd, ''));
  }

  chmod(mode: number): Promise<void> {
    return this.engine.fchmod(this.fd, mode);
  }

  chown(uid: number, gid: number): Promise<void> {
    return this.engine.fchown(this.fd, uid, gid);
  }

  utimes(atimeNs: number, mtimeNs: number): Promise<void> {
    return this.engine.futimens(this.fd, atimeNs, mtimeNs);
  }

  async allocate(offset: number, length: number): Promise<void> {
    await this.engine.fallocate(this.fd, 0, offset, length);
    this.inode.size = Math.max(this.inode.size, offset + length);
  }

  async close(): Promise<void> {
    this.table.release(this.inode);
    await this.engine.closeFd(this.fd);
  }
}

/** Writes all of `buffers` at `position` through `fd`, resuming after short writes. */
export async function writeFully(engine: IoEngine, fd: number, buffers: readonly Uint8Array[], position: number): Promise<void> {
  const total = totalBytes(buffers);
  let done = 0;
  while (done < total) {
    const rest = done === 0 ? buffers : skipBytes(buffers, done);
    done +=
      rest.length === 1
        ? await engine.write(fd, rest[0]!, 0, rest[0]!.length, position + done)
        : await engine.writev(fd, rest.length > IOV_MAX ? rest.slice(0, IOV_MAX) : rest, position + done);
  }
}

/** The appends at the head of the queue that go down together: one descriptor, bounded iovecs and bytes. */
function takeAppends(queue: SizeChange[]): SizeChange[] {
  const fd = queue[0]!.fd;
  let count = 0;
  let iovecs = 0;
  let bytes = 0;
  while (count < queue.length) {
    const next = queue[count]!;
    if (next.buffers === undefined || next.fd !== fd) break;
    if (count > 0 && (iovecs + next.buffers.length > IOV_MAX || bytes + next.bytes > BATCH_BYTES)) break;
    iovecs += next.buffers.length;
    bytes += next.bytes;
    count++;
  }
  return queue.splice(0, count);
}
