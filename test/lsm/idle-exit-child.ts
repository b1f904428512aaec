// Child process of compaction-thread.test.ts: opens a store (with its compaction thread), writes until
// compactions ran on the thread, prints its stats as JSON and returns without closing the store. The
// process must then exit by itself: an open, idle store keeps nothing alive.
import { openStorage } from '../../src/index.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import { SMALL } from './lsm-helpers.js';

const [root, ioMode] = process.argv.slice(2) as [string, 'io_uring' | 'sync'];
const storage = await openStorage(root, { config: { ioMode, logLevel: 'warn' } });
const db = await LsmStore.open(await storage.createDirectory('db'), SMALL);
for (let i = 0; i < 3000; i++) await db.put(`key${i % 700}`, `value-${i}-${'x'.repeat(40)}`);
await db.compact();
process.stdout.write(`${JSON.stringify(db.stats())}\n`);
