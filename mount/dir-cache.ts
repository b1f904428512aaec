// Open directories of the mount, by path. FUSE names everything by path; walking from the root for every
// call would open and close each directory on the way, so directories stay open here, least recently used
// first out. A directory in use by a call is never closed under it: eviction and invalidation close it when
// its last user is done. Paths are made of name strings (ground/name-bytes.ts: bytes that are not UTF-8
// escaped), so a name that is not UTF-8 reaches the storage as its bytes. Everything changes through this one process, so renames and removals of
// directories invalidate exactly the entries they affect.
import { publicName } from '../src/ground/name-bytes.js';
import type { Dir } from '../src/storage/dir.js';
import type { Storage } from '../src/storage/storage.js';

interface Entry {
  dir: Promise<Dir>;
  users: number;
  /** dropped from the map while in use: close when the last user is done */
  doomed: boolean;
}

export class DirCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly storage: Storage,
    private readonly capacity: number,
  ) {}

  /** Runs `work` with the directory at `path` ('' is the root), kept open until `work` settles. */
  async use<T>(path: string, work: (dir: Dir) => Promise<T>): Promise<T> {
    if (path === '') return work(this.storage.root);
    const entry = this.entry(path);
    entry.users++;
    try {
      return await work(await entry.dir);
    } finally {
      entry.users--;
      if (entry.doomed && entry.users === 0) await this.close(entry);
    }
  }

  private entry(path: string): Entry {
    let entry = this.entries.get(path);
    if (entry) {
      this.entries.delete(path); // re-insert: most recently used last
      this.entries.set(path, entry);
      return entry;
    }
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? '' : path.slice(0, slash);
    const name = path.slice(slash + 1);
    entry = { dir: this.use(parent, (dir) => dir.openDirectory(publicName(name))), users: 0, doomed: false };
    const opened = entry;
    entry.dir.catch(() => {
      if (this.entries.get(path) === opened) this.entries.delete(path);
    });
    this.entries.set(path, entry);
    this.evict();
    return entry;
  }

  private evict(): void {
    for (const [path, entry] of this.entries) {
      if (this.entries.size <= this.capacity) break;
      this.drop(path, entry);
    }
  }

  private drop(path: string, entry: Entry): void {
    this.entries.delete(path);
    if (entry.users === 0) void this.close(entry);
    else entry.doomed = true;
  }

  private async close(entry: Entry): Promise<void> {
    const dir = await entry.dir.catch(() => undefined);
    await dir?.close();
  }

  /** Forgets `path` and everything below it (after a rename or removal of that directory). */
  invalidate(path: string): void {
    const prefix = `${path}/`;
    for (const [key, entry] of [...this.entries]) {
      if (key === path || key.startsWith(prefix)) this.drop(key, entry);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((entry) => this.close(entry)));
  }
}
