// Child process of the tiered crash test: opens a tiered storage (bucket and cache directory from the
// environment), creates COUNT files f0, f1, ..., then writes each (SIZE bytes of a pattern of its number) and closes it,
// and prints its number once close() has resolved: from then on the file is acknowledged (durable in the
// local cache, its upload recorded). The parent kills it with SIGKILL while uploads are still pending.
import { openStorage } from '../../src/index.js';

const env = process.env;
const storage = await openStorage(`s3://${env.BUCKET}/${env.PREFIX}`, {
  adapter: 'tiered',
  s3: {
    endpoint: env.ENDPOINT!,
    bucket: env.BUCKET!,
    prefix: env.PREFIX!,
    credentials: { accessKeyId: env.ACCESS!, secretAccessKey: env.SECRET! },
    maxAttempts: 1,
  },
  tiered: { cacheDir: env.CACHE_DIR!, retryDelay: 100, maxRetryDelay: 500 },
  config: { logLevel: 'silent' },
});
// Names are created while the gateway is up (a create asks the bucket whether the name is free); the
// parent takes the gateway away after this line, so every upload of the contents is left pending.
const count = Number(env.COUNT);
const files = [];
for (let n = 0; n < count; n++) files.push(await storage.root.createFile(`f${n}`));
process.stdout.write('-1\n');
const size = Number(env.SIZE);
for (const [n, file] of files.entries()) {
  await file.writeAt(0, Buffer.alloc(size, n % 251));
  await file.close();
  process.stdout.write(`${n}\n`);
}
await new Promise(() => setTimeout(() => undefined, 60_000)); // until killed
