// Child process for the WAL crash test: appends numbered records with sync 'always' from many concurrent
// writers and prints each sequence number once its append resolved (durable), until it is killed. The
// segment size is the third argument (default 64 KiB), the sync policy the fourth ('always' unless 'none'),
// the records' size the fifth (default: 20-69 bytes).
import { openStorage } from '../../src/index.js';
import { DirSegmentStore } from '../../src/wal/segment-store.js';
import { Wal } from '../../src/wal/wal.js';
import { record } from './wal-helpers.js';

const [root, ioMode, segmentSize = '65536', sync = 'always', recordBytes] = process.argv.slice(2) as [string, 'io_uring' | 'sync', string?, string?, string?];
const storage = await openStorage(root, { config: { ioMode, logLevel: 'warn' } });
const dir = await storage.root.openDirectory('wal').catch(() => storage.root.createDirectory('wal'));
const wal = await Wal.open(new DirSegmentStore(dir), { sync: sync === 'none' ? 'none' : 'always', segmentSize: Number(segmentSize) });
let next = 0;
async function writer(): Promise<never> {
  for (;;) {
    const i = next++;
    await wal.append(recordBytes === undefined ? record(i) : record(i, Number(recordBytes)));
    process.stdout.write(`${i}\n`);
  }
}
await Promise.all(Array.from({ length: 16 }, writer));
