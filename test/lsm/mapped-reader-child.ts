// Child process of page-cache-reads.test.ts, run as another user than the store's owner: opens the store
// read-only, reads every key, prints its stats as JSON.
import { openStorage } from '../../src/index.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';

const [root, ioMode, keys] = process.argv.slice(2) as [string, 'io_uring' | 'sync', string];
const storage = await openStorage(root, { readOnly: true, config: { ioMode, logLevel: 'warn' } });
const db = await LsmStore.open(await storage.openDirectory('db'), { readOnly: true, autoCompact: false });
let found = 0;
for (let i = 0; i < Number(keys); i++) if ((await db.get(`key${String(i).padStart(4, '0')}`)) !== undefined) found++;
process.stdout.write(`${JSON.stringify({ found, ...db.stats() })}\n`);
await db.close();
await storage.close();
