// Child process for the flatfs crash test: puts keys until killed and prints the number of each put once
// it resolved (so it must survive), one a line. Each round puts a new key and overwrites '/latest'.
import { FlatfsDatastore, openStorage } from '../../src/index.js';

const [root, ioMode] = process.argv.slice(2) as [string, 'io_uring' | 'sync'];
const storage = await openStorage(root, { config: { ioMode, logLevel: 'warn' } });
const ds = await FlatfsDatastore.open(storage.root);

/** The value of round `i`: 4 KiB plus i bytes, every byte i % 256, so a torn one shows. */
const roundValue = (i: number): Buffer => Buffer.alloc(4096 + i, i % 256);

for (let i = 0; ; i++) {
  await Promise.all([ds.put(`/crash/${i}`, roundValue(i)), ds.put('/latest', roundValue(i))]);
  process.stdout.write(`${i}\n`);
}
