// A child for the ownership tests: opens a storage on argv[2] (argv[3] 'ro' for read-only), prints
// 'owner <pid>' or 'refused <code> <message>' on one line, then, as owner, appends 512-byte records to
// 'log' (argv[4] of them) and prints 'appended', and keeps the store until killed or its stdin closes.
import { openStorage } from '../../src/index.js';

const [root, access, count] = process.argv.slice(2);
try {
  const storage = await openStorage(root!, { readOnly: access === 'ro', config: { logLevel: 'warn' } });
  console.log(`owner ${process.pid}`);
  const appends = Number(count ?? 0);
  if (appends > 0) {
    const file = await storage.root.createFile('log').catch(() => storage.root.openFile('log'));
    await Promise.all(Array.from({ length: appends }, (_, i) => file.append(Buffer.alloc(512, i % 251))));
    await file.close();
    console.log('appended');
  }
  process.stdin.resume();
  process.stdin.on('end', () => void storage.close().then(() => process.exit(0)));
} catch (error) {
  const e = error as { code?: string; message?: string };
  console.log(`refused ${e.code} ${e.message}`);
  process.exit(0);
}
