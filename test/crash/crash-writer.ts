// Child process for the crash tests: writes until killed, printing what each acknowledged call made
// durable, one line at a time, so the parent knows what must survive a kill -9.
import { openStorage } from '../../src/index.js';

const [root, ioMode, job] = process.argv.slice(2) as [string, 'io_uring' | 'sync', 'append' | 'flush'];
const storage = await openStorage(root, { config: { ioMode, logLevel: 'warn' } });

function record(i: number): Buffer {
  return Buffer.from(`[record ${i} ${'#'.repeat(i % 200)}]\n`);
}

if (job === 'append') {
  const file = await storage.root.createFile('wal');
  for (let i = 0; ; i++) {
    await file.appendv([record(i)]);
    if (i % 4 === 3) {
      await file.datasync();
      process.stdout.write(`${i}\n`);
    }
  }
} else {
  for (let i = 0; ; i++) {
    const file = await storage.root.flushWrite('table', Buffer.alloc(64 * 1024 + i, i % 256));
    await file.close();
    process.stdout.write(`${i}\n`);
  }
}
