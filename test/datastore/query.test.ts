// The shared query engine on a source that counts what it is asked: results stream without orders (a
// limit stops the scan), values are read only for entries the key filters keep, and an entry deleted
// while the query runs is left out.
import test from 'tape';

import { notFound } from '../../src/datastore/datastore.js';
import { runQuery, type QuerySource, type SourceEntry } from '../../src/datastore/query.js';
import { storageError } from '../../src/ground/errors.js';
import { rejection } from '../helpers.js';

function countingSource(keys: string[], deleted: Set<string> = new Set()) {
  const counts = { scanned: 0, gets: 0, sizes: 0 };
  const source: QuerySource = {
    async *scan(): AsyncIterable<SourceEntry> {
      for (const key of keys) {
        counts.scanned++;
        yield { key };
      }
    },
    async get(key) {
      counts.gets++;
      if (deleted.has(key)) throw notFound(key);
      return Buffer.from(`value of ${key}`);
    },
    async getSize(key) {
      counts.sizes++;
      if (deleted.has(key)) throw notFound(key, 'getSize');
      return `value of ${key}`.length;
    },
  };
  return { source, counts };
}

async function all(iterable: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys: string[] = [];
  for await (const result of iterable) keys.push(result.key);
  return keys;
}

const KEYS = Array.from({ length: 100 }, (_, i) => `/q/${String(i).padStart(3, '0')}`);
const open = () => undefined;

test('without orders the engine streams: a limit stops the scan, values are read for results only', async (t) => {
  const { source, counts } = countingSource(KEYS);
  t.deepEqual(await all(runQuery({ limit: 3, offset: 2 }, source, open)), KEYS.slice(2, 5), 'offset and limit in scan order');
  t.equal(counts.scanned, 5, 'the scan stopped at the limit');
  t.equal(counts.gets, 5, 'values were read for the entries counted by offset and limit only');
  const filtered = countingSource(KEYS);
  await all(runQuery({ filters: [{ field: 'key', op: '>=', value: '/q/090' }] }, filtered.source, open));
  t.equal(filtered.counts.gets, 10, 'an entry a key filter drops is never read');
  const keysOnly = countingSource(KEYS);
  await all(runQuery({ keysOnly: true }, keysOnly.source, open));
  t.equal(keysOnly.counts.gets + keysOnly.counts.sizes, 0, 'keysOnly reads no value and no size');
  const sizes = countingSource(KEYS);
  await all(runQuery({ keysOnly: true, returnSizes: true }, sizes.source, open));
  t.deepEqual([sizes.counts.gets, sizes.counts.sizes], [0, 100], 'sizes without values ask getSize');
});

test('with orders: values read only when an order needs them, then only for the results', async (t) => {
  const byKey = countingSource(KEYS);
  const last = await all(runQuery({ orders: [{ field: 'key', descending: true }], limit: 2 }, byKey.source, open));
  t.deepEqual(last, [KEYS[99], KEYS[98]], 'the two greatest keys');
  t.deepEqual([byKey.counts.scanned, byKey.counts.gets], [100, 2], 'every entry scanned, two values read');
  const byValue = countingSource(KEYS);
  await all(runQuery({ orders: [{ field: 'value' }], limit: 2 }, byValue.source, open));
  t.equal(byValue.counts.gets, 100, 'a value order reads every value');
});

test('entries deleted while a query runs are left out; other errors surface', async (t) => {
  const { source } = countingSource(KEYS.slice(0, 5), new Set([KEYS[1]!, KEYS[3]!]));
  t.deepEqual(await all(runQuery({}, source, open)), [KEYS[0], KEYS[2], KEYS[4]], 'the deleted ones are not results');
  const { source: ordered } = countingSource(KEYS.slice(0, 5), new Set([KEYS[1]!]));
  t.deepEqual(
    await all(runQuery({ orders: [{ field: 'key' }], returnSizes: true, keysOnly: true }, ordered, open)),
    [KEYS[0], KEYS[2], KEYS[3], KEYS[4]],
    'nor with orders',
  );
  const broken: QuerySource = { ...source, get: async () => Promise.reject(storageError('EIO', 'a failing disk')) };
  await rejection(t, all(runQuery({}, broken, open)), 'EIO', 'a read error other than not-found fails the query');
  const throwing = () => {
    throw new RangeError('from the caller');
  };
  await all(runQuery({ filters: [throwing] }, source, open)).then(
    () => t.fail('a throwing filter was ignored'),
    (error: Error) => t.ok(error instanceof RangeError, "a filter's own exception reaches the caller unchanged"),
  );
  let closed = false;
  const guard = () => {
    if (closed) throw Object.assign(new Error('closed'), { code: 'EBADF' });
  };
  const iterator = runQuery({ keysOnly: true }, countingSource(KEYS).source, guard)[Symbol.asyncIterator]();
  await iterator.next();
  closed = true;
  await iterator.next().then(
    () => t.fail('iteration went on after close'),
    (error: { code?: string }) => t.equal(error.code, 'EBADF', 'the guard stops an iteration in progress'),
  );
});
