// Empty local copies made ahead of need, so that creating a file does not wait for a file creation on the
// cache's disk. An O_CREAT open does not complete inline in io_uring: it waits for a worker thread (0.7-0.8
// ms with its statx on the development VM under load), and a loop writing small files paid it at every
// create. A spare is taken at once (its times set to the create's) and the next one is made in the
// background. A spare left at a crash has no upload record: the next open removes it (Uploads.recover).
import { READ_WRITE, type DirNode, type EntryStat, type FileNode } from '../adapter.js';
import { native } from '../../io/native.js';

/** Spare copies kept ready. */
const SPARES = 4;

export interface NewCopy {
  id: string;
  file: FileNode;
  /** its attributes now (known without asking the disk again) */
  stat: EntryStat;
}

export class SpareCopies {
  private readonly ready: Array<Promise<NewCopy | undefined>> = [];
  private closed = false;

  constructor(
    private readonly staging: DirNode,
    private readonly newId: () => string,
  ) {}

  /** A new empty copy (mode 0600, times now), open for reading and writing. */
  async take(): Promise<NewCopy> {
    const spare = this.ready.shift();
    this.refill();
    const copy = spare === undefined ? undefined : await spare;
    if (copy === undefined) return this.make();
    // made a while ago: its times are this create's, read off the kernel's file clock so that a write in
    // the same tick leaves the mount's mtime as it is (no SETATTR at close, as with a copy made now)
    const t = native.fileTimeNow();
    try {
      await copy.file.utimes(t, t);
    } catch (error) {
      await this.discard(copy);
      throw error;
    }
    return { ...copy, stat: { ...copy.stat, atimeNs: t, mtimeNs: t, ctimeNs: t } };
  }

  private make(): Promise<NewCopy> {
    const id = this.newId();
    return this.staging.createFile(id, 0o600, READ_WRITE).then((file) => ({ id, file, stat: file.opened }));
  }

  private refill(): void {
    while (!this.closed && this.ready.length < SPARES) {
      // a spare that fails to be made is not one: take() makes its copy then, and says why if it fails too
      this.ready.push(this.make().catch(() => undefined));
    }
  }

  private async discard(copy: NewCopy): Promise<void> {
    await copy.file.close().catch(() => undefined);
    await this.staging.unlink(copy.id).catch(() => undefined);
  }

  /** Removes the spares (the storage is closing). */
  async close(): Promise<void> {
    this.closed = true;
    const spares = this.ready.splice(0);
    for (const spare of spares) {
      const copy = await spare;
      if (copy !== undefined) await this.discard(copy);
    }
  }
}
