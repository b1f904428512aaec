// The tiered adapter's failed uploads are retried with backoff (uploads.ts): the first retry after
// retryDelay, each next one after twice the one before, never more than maxRetryDelay apart, for as long as
// the store fails. Uploads driven on their own (memory directories, a store that fails its first PUTs) with
// node:test's mock timers: the clock is moved by hand, so the delays are checked to the millisecond
// without waiting for them.
import { mock } from 'node:test';

import test from 'tape';

import { READ_WRITE } from '../../src/adapters/adapter.js';
import { MemoryAdapter } from '../../src/adapters/memory-adapter.js';
import type { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { Uploads } from '../../src/adapters/tiered/uploads.js';

/** Lets the promises and IO under way run (setImmediate is not mocked). */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
}

test('uploads: a failing upload is retried after retryDelay, doubling each time, capped at maxRetryDelay, until it goes', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.teardown(() => mock.timers.reset());
  const root = await new MemoryAdapter().openRoot();
  await root.mkdir('staging', 0o755);
  await root.mkdir('pending', 0o755);
  const staging = await root.openDir('staging');
  const pendingDir = await root.openDir('pending');
  const content = Buffer.from('the local copy');
  const copy = await staging.createFile('copy-1', 0o600, READ_WRITE);
  await copy.write([content], 0);
  await copy.close();

  const FAILURES = 8;
  /** the mock clock at each PUT */
  const puts: number[] = [];
  let now = 0;
  const store = {
    async put(_key: string, body: Uint8Array): Promise<string> {
      puts.push(now);
      if (puts.length <= FAILURES) throw new Error('the store is down');
      t.ok(Buffer.from(body).equals(content), 'the last attempt sends the copy');
      return '"etag-1"';
    },
  };
  const uploaded: string[] = [];
  const uploads = new Uploads(
    store as unknown as ObjectStore,
    staging,
    pendingDir,
    { concurrency: 1, retryDelay: 100, maxRetryDelay: 1000, delay: 0 },
    async (record, etag) => {
      uploaded.push(`${record.key} ${etag}`);
    },
    undefined,
  );
  t.teardown(() => uploads.close());
  await uploads.begin({ id: 'copy-1', key: 'dir/file', metadata: {} }, false);
  uploads.queue('copy-1');
  await settle();
  t.equal(puts.length, 1, 'the first attempt goes at once');

  /** moves the mock clock on by `ms` and lets what that starts run */
  const advance = async (ms: number) => {
    mock.timers.tick(ms);
    now += ms;
    await settle();
  };
  // 100, 200, 400, 800, then 1000 (1600 capped) and 1000 again
  const expected = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
  for (const [n, delay] of expected.entries()) {
    await advance(delay - 1);
    t.equal(puts.length, n + 1, `retry ${n + 1}: not yet ${delay - 1} ms after failure ${n + 1}`);
    await advance(1);
    t.equal(puts.length, n + 2, `retry ${n + 1}: sent ${delay} ms after failure ${n + 1}`);
  }
  t.deepEqual(
    puts.slice(1).map((at, n) => at - puts[n]!),
    expected,
    'the gaps between attempts: doubling from retryDelay, capped at maxRetryDelay',
  );
  await uploads.finished('copy-1');
  t.deepEqual(uploaded, ['dir/file "etag-1"'], 'the upload is done after the failures, once');
  t.equal(uploads.pending, 0, 'nothing left pending');
  await advance(10_000);
  t.equal(puts.length, FAILURES + 1, 'and nothing sent again after it');
});
