// Child process of the LSM crash test: opens the store with tiny memtables and tables (so flushes and
// compactions run all the time) and writes from several writers until killed. Each writer waits for its
// write before the next, and prints w * WRITER + j once write j resolved; it prints -(compactions) when
// the count of compactions grows.
import { openStorage } from '../../src/index.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import { WRITER, writeOpsOf } from './crash-ops.js';

const [root, ioMode, sync, firstWriter, writers] = process.argv.slice(2) as [string, 'io_uring' | 'sync', 'always' | 'none', string, string];
const storage = await openStorage(root, { config: { ioMode, logLevel: 'warn' } });
const dir = await storage.root.openDirectory('db').catch(() => storage.root.createDirectory('db'));
const db = await LsmStore.open(dir, {
  sync,
  memtableSize: 8 * 1024,
  blockSize: 512,
  tableFileSize: 8 * 1024,
  levelBaseBytes: 24 * 1024,
  levelMultiplier: 3,
  l0CompactionTrigger: 2,
});
let compactions = 0;
async function writer(w: number): Promise<never> {
  for (let j = 0; ; j++) {
    await db.write(writeOpsOf(w, j));
    process.stdout.write(`${w * WRITER + j}\n`);
    const now = db.stats().compactions;
    if (now > compactions) {
      compactions = now;
      process.stdout.write(`${-compactions}\n`);
    }
  }
}
await Promise.all(Array.from({ length: Number(writers) }, (_, i) => writer(Number(firstWriter) + i)));
