// Upload records written at a close (no fsync), a JSON line each, appended to one file of the process
// (pending/<name>.log) instead of a file each: a close creates no file on the cache's disk (a file
// creation there cost as much CPU as the copy's own, mostly the file system looking for a free inode). A
// line is one write: whole or absent after a kill -9, like the rename of a record file. A record's later
// lines replace its earlier ones; a line {"done": id} ends it (uploaded or cancelled). The file goes once
// no record in it is live (a burst of closes makes one). Records written durably stay files of their own (uploads.ts).
import { isCode } from '../../ground/errors.js';
import { READ_ONLY, READ_WRITE, type DirNode, type FileNode } from '../adapter.js';

export const LOG = '.log';

export class CloseLog {
  private file: FileNode | undefined;
  private readonly live = new Set<string>();
  /** one change of the file at a time */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: DirNode,
    private readonly name: string,
  ) {}

  /** Appends the record `record` of `id` (it replaces any earlier one). */
  write(id: string, record: object): Promise<void> {
    this.live.add(id);
    return this.append(record);
  }

  /** Ends the record of `id` (nothing when it has none here). */
  async end(id: string): Promise<void> {
    if (!this.live.delete(id)) return;
    if (this.live.size > 0) return this.append({ done: id });
    await this.serial(async () => {
      if (this.live.size > 0 || this.file === undefined) return;
      await this.file.close();
      this.file = undefined;
      await this.dir.unlink(this.name);
    });
  }

  private append(line: object): Promise<void> {
    const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
    return this.serial(async () => {
      // the file of a log whose removal failed (EIO) is still there, every record in it ended: appended to
      const file: FileNode =
        this.file ??
        (await this.dir.createFile(this.name, 0o600, READ_WRITE).catch((error: unknown) => {
          if (isCode(error, 'EEXIST')) return this.dir.openFile(this.name, READ_WRITE);
          throw error;
        }));
      this.file = file;
      await file.append([bytes]);
    });
  }

  private serial(work: () => Promise<void>): Promise<void> {
    const run = this.turn.then(work);
    this.turn = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.turn;
    await this.file?.close();
    this.file = undefined;
  }

  /** The live records of the log `name` (left by an earlier process), by id; whole lines only. */
  static async read(dir: DirNode, name: string): Promise<Map<string, unknown>> {
    const file = await dir.openFile(name, READ_ONLY);
    const content = Buffer.alloc(file.size());
    try {
      await file.read(content, 0);
    } finally {
      await file.close();
    }
    const records = new Map<string, unknown>();
    for (const line of content.toString('utf8').split('\n')) {
      let value: { id?: unknown; done?: unknown };
      try {
        value = JSON.parse(line) as { id?: unknown; done?: unknown };
      } catch {
        continue; // torn by a stop of the machine
      }
      if (typeof value.done === 'string') records.delete(value.done);
      else if (typeof value.id === 'string') records.set(value.id, value);
    }
    return records;
  }
}
