// The Datastore contract (src/datastore/datastore.ts) as one reusable suite: every implementation and
// composition runs it through a factory that opens a fresh, empty store for each test. The factory
// cleans up what it made (temporary directories, storages) in t.teardown; the suite closes the store.
import { randomBytes } from 'node:crypto';
import test from 'tape';

import { isNotFound, type Datastore, type Query, type QueryResult } from '../../src/index.js';
import { bytes, rejection } from '../helpers.js';

export type OpenDatastore = (t: test.Test) => Promise<Datastore>;

/** Every result of `q`. */
export async function collect(ds: Datastore, q?: Query): Promise<QueryResult[]> {
  const results: QueryResult[] = [];
  for await (const result of ds.query(q)) results.push(result);
  return results;
}

const keysOf = async (ds: Datastore, q: Query = {}): Promise<string[]> => (await collect(ds, { ...q, keysOnly: true })).map((r) => r.key);
const sorted = (keys: string[]): string[] => [...keys].sort();

/** The error iterating `iterable` fails with (a failed assertion when it does not fail). */
async function iterationRejection(t: test.Test, iterable: AsyncIterable<unknown>, code: string, what: string): Promise<void> {
  await rejection(
    t,
    (async () => {
      for await (const _ of iterable) void _;
    })(),
    code,
    what,
  );
}

/** Puts every [key, value] (value as text) concurrently, `width` at a time. */
async function putAll(ds: Datastore, entries: Array<[string, string]>, width = 64): Promise<void> {
  for (let i = 0; i < entries.length; i += width) {
    await Promise.all(entries.slice(i, i + width).map(([key, value]) => ds.put(key, bytes(value))));
  }
}

const BAD_KEYS: unknown[] = ['', 'a', 'a/b', '/', '/a/', '//a', '/a//b', '/./a', '/a/..', '/a/./b', '/a\0b', '/\uD800x', 42, undefined, null, {}, ['/a']];

/** The tape tests of the contract for the store `open` makes, each name starting with `name`. */
export function datastoreConformance(name: string, open: OpenDatastore): void {
  const withStore = (what: string, body: (t: test.Test, ds: Datastore) => Promise<void>): void => {
    test(`${name}: ${what}`, async (t) => {
      const ds = await open(t);
      t.teardown(() => ds.close());
      await body(t, ds);
      // before the storage under it is closed (its teardown came first): a store whose last writes
      // are not durable yet refuses a close after it
      await ds.close();
    });
  };

  withStore('put and get round trip 0 bytes, 1 byte, 1 MiB; values are copies', async (t, ds) => {
    const big = randomBytes(1 << 20);
    await ds.put('/empty', Buffer.alloc(0));
    await ds.put('/one', Buffer.from([0xff]));
    await ds.put('/big', big);
    t.equal((await ds.get('/empty')).length, 0, '0 bytes back');
    t.deepEqual([...(await ds.get('/one'))], [0xff], '1 byte back');
    t.ok((await ds.get('/big')).equals(big), '1 MiB back, byte for byte');
    t.equal(await ds.getSize('/empty'), 0, 'getSize of the empty value');
    t.equal(await ds.getSize('/big'), 1 << 20, 'getSize of 1 MiB');
    t.ok(await ds.has('/empty'), 'has: an empty value is still a value');
    const input = bytes('original');
    await ds.put('/copy', input);
    input.fill(0);
    t.equal((await ds.get('/copy')).toString(), 'original', 'changing the buffer after put changes nothing stored');
    (await ds.get('/copy')).fill(0);
    t.equal((await ds.get('/copy')).toString(), 'original', 'changing a returned buffer changes nothing stored');
    await ds.put('/u8', new Uint8Array([1, 2, 3]));
    t.ok(Buffer.isBuffer(await ds.get('/u8')), 'a Uint8Array goes in, a Buffer comes out');
    await ds.put('/deep/er/key-é☃', bytes('unicode'));
    t.equal((await ds.get('/deep/er/key-é☃')).toString(), 'unicode', 'a nested key with non-ASCII segments');
  });

  withStore('overwrite replaces the value and its size', async (t, ds) => {
    await ds.put('/k', bytes('first value'));
    await ds.put('/k', bytes('2nd'));
    t.equal((await ds.get('/k')).toString(), '2nd', 'the last put wins');
    t.equal(await ds.getSize('/k'), 3, 'and its size');
    t.deepEqual(await keysOf(ds), ['/k'], 'one key, not two');
  });

  withStore('not found: get and getSize reject ENOENT naming the key, has is false, delete resolves', async (t, ds) => {
    const missing = await rejection(t, ds.get('/no/such'), 'ENOENT', 'get of a missing key');
    t.ok(isNotFound(missing), 'isNotFound says so');
    t.match(missing?.message ?? '', /\/no\/such/, 'the message names the key');
    t.ok(isNotFound(await rejection(t, ds.getSize('/no/such'), 'ENOENT', 'getSize of a missing key')), 'isNotFound for getSize');
    t.equal(await ds.has('/no/such'), false, 'has is false');
    await ds.delete('/no/such');
    t.pass('delete of a missing key resolves');
    await ds.put('/gone', bytes('x'));
    await ds.delete('/gone');
    t.equal(await ds.has('/gone'), false, 'a deleted key is gone');
    await rejection(t, ds.get('/gone'), 'ENOENT', 'and get says so');
    t.notOk(isNotFound(new Error('other')), 'isNotFound is false for other errors');
  });

  withStore('bad keys and values are EINVAL and write nothing', async (t, ds) => {
    for (const key of BAD_KEYS) {
      const shown = JSON.stringify(key) ?? String(key);
      await rejection(t, ds.put(key as string, bytes('v')), 'EINVAL', `put ${shown}`);
      await rejection(t, ds.get(key as string), 'EINVAL', `get ${shown}`);
      await rejection(t, ds.has(key as string), 'EINVAL', `has ${shown}`);
      await rejection(t, ds.getSize(key as string), 'EINVAL', `getSize ${shown}`);
      await rejection(t, ds.delete(key as string), 'EINVAL', `delete ${shown}`);
    }
    for (const value of ['text', undefined, null, 7, [1, 2]]) {
      await rejection(t, ds.put('/k', value as unknown as Uint8Array), 'EINVAL', `a value of ${JSON.stringify(value) ?? 'undefined'}`);
    }
    t.deepEqual(await keysOf(ds), [], 'nothing was written');
    t.equal(await ds.has('/k'), false, 'not even the good key of a bad value');
  });

  withStore("prefix query: '/a' selects keys below '/a', not '/ab' nor '/a' itself; '/' selects all", async (t, ds) => {
    const keys = ['/a', '/a/b', '/a/b/c', '/ab', '/ab/c', '/b'];
    await putAll(
      ds,
      keys.map((key) => [key, `v${key}`]),
    );
    t.deepEqual(sorted(await keysOf(ds, { prefix: '/a' })), ['/a/b', '/a/b/c'], "prefix '/a'");
    t.deepEqual(sorted(await keysOf(ds, { prefix: '/ab' })), ['/ab/c'], "prefix '/ab'");
    t.deepEqual(sorted(await keysOf(ds, { prefix: '/a/b' })), ['/a/b/c'], "prefix '/a/b'");
    t.deepEqual(sorted(await keysOf(ds, { prefix: '/' })), keys, "prefix '/'");
    t.deepEqual(sorted(await keysOf(ds)), keys, 'no prefix is /');
    t.deepEqual(await keysOf(ds, { prefix: '/zzz' }), [], 'a prefix with nothing below');
    const withValues = await collect(ds, { prefix: '/a' });
    t.deepEqual(
      withValues.map((r) => [r.key, r.value?.toString()]).sort(),
      [
        ['/a/b', 'v/a/b'],
        ['/a/b/c', 'v/a/b/c'],
      ],
      'values come with their keys',
    );
    await iterationRejection(t, ds.query({ prefix: '/a/' }), 'EINVAL', "a prefix with a trailing '/'");
    await iterationRejection(t, ds.query({ prefix: 'a' }), 'EINVAL', "a prefix without the leading '/'");
  });

  withStore('orders: by key ascending and descending, by value, by comparator, ties to the next order', async (t, ds) => {
    const entries: Array<[string, string]> = [
      ['/o/c', '2'],
      ['/o/a', '3'],
      ['/o/b', '1'],
      ['/o/a-1', '2'],
      ['/o/\u{1F600}', '0'],
      ['/o/\uFFFD', '0'],
    ];
    await putAll(ds, entries);
    const ascending = ['/o/a', '/o/a-1', '/o/b', '/o/c', '/o/\uFFFD', '/o/\u{1F600}'];
    t.deepEqual(await keysOf(ds, { prefix: '/o', orders: [{ field: 'key' }] }), ascending, 'key ascending (code point order: U+FFFD before an emoji)');
    t.deepEqual(await keysOf(ds, { prefix: '/o', orders: [{ field: 'key', descending: true }] }), [...ascending].reverse(), 'key descending');
    t.deepEqual(
      await keysOf(ds, { prefix: '/o', orders: [{ field: 'value' }, { field: 'key' }] }),
      ['/o/\uFFFD', '/o/\u{1F600}', '/o/b', '/o/a-1', '/o/c', '/o/a'],
      'by value, ties by key',
    );
    t.deepEqual(
      await keysOf(ds, {
        prefix: '/o',
        orders: [
          { field: 'value', descending: true },
          { field: 'key', descending: true },
        ],
      }),
      ['/o/a', '/o/c', '/o/a-1', '/o/b', '/o/\u{1F600}', '/o/\uFFFD'],
      'by value descending, ties by key descending',
    );
    t.deepEqual(
      await keysOf(ds, { prefix: '/o', orders: [(a, b) => a.key.length - b.key.length || b.value.compare(a.value) || (a.key < b.key ? -1 : 1)] }),
      ['/o/a', '/o/c', '/o/b', '/o/\uFFFD', '/o/\u{1F600}', '/o/a-1'],
      'a comparator sees keys and values (key length, then value descending)',
    );
    const ordered = await collect(ds, { prefix: '/o', orders: [{ field: 'key' }] });
    t.deepEqual(
      ordered.map((r) => r.value?.toString()),
      ['3', '2', '1', '2', '0', '0'],
      'ordered results carry their own values',
    );
  });

  withStore('limit and offset, with and without orders', async (t, ds) => {
    const keys = Array.from({ length: 10 }, (_, i) => `/l/${String(i).padStart(2, '0')}`);
    await putAll(
      ds,
      keys.map((key) => [key, key]),
    );
    const byKey = { prefix: '/l', orders: [{ field: 'key' as const }] };
    t.deepEqual(await keysOf(ds, { ...byKey, offset: 2, limit: 3 }), keys.slice(2, 5), 'offset 2, limit 3 of the ordered keys');
    t.deepEqual(await keysOf(ds, { ...byKey, limit: 0 }), [], 'limit 0 is nothing');
    t.deepEqual(await keysOf(ds, { ...byKey, offset: 10 }), [], 'an offset at the end');
    t.deepEqual(await keysOf(ds, { ...byKey, offset: 8, limit: 5 }), keys.slice(8), 'a limit past the end');
    const first = await keysOf(ds, { prefix: '/l', limit: 4 });
    t.equal(first.length, 4, 'limit without orders');
    const rest = await keysOf(ds, { prefix: '/l', offset: 4 });
    t.equal(rest.length, 6, 'offset without orders');
    t.equal(new Set([...first, ...rest]).size, 10, 'and the two pages together are every key once (the store lists in one order)');
    await iterationRejection(t, ds.query({ limit: -1 }), 'EINVAL', 'a negative limit');
    await iterationRejection(t, ds.query({ offset: 1.5 }), 'EINVAL', 'a fractional offset');
  });

  withStore('filters on keys, values and by predicate; all must keep an entry', async (t, ds) => {
    await putAll(ds, [
      ['/f/a', 'apple'],
      ['/f/b', 'banana'],
      ['/f/b2', 'blueberry'],
      ['/f/c', 'cherry'],
      ['/g/a', 'apple'],
    ]);
    const q = (filters: Query['filters']) => keysOf(ds, { prefix: '/f', filters, orders: [{ field: 'key' }] });
    t.deepEqual(await q([{ field: 'key', op: '<', value: '/f/b2' }]), ['/f/a', '/f/b'], 'key <');
    t.deepEqual(await q([{ field: 'key', op: '>=', value: '/f/b2' }]), ['/f/b2', '/f/c'], 'key >=');
    t.deepEqual(await q([{ field: 'key', op: '==', value: '/f/c' }]), ['/f/c'], 'key ==');
    t.deepEqual(await q([{ field: 'key', op: '!=', value: '/f/c' }]), ['/f/a', '/f/b', '/f/b2'], 'key !=');
    t.deepEqual(await q([{ field: 'key', op: 'startsWith', value: '/f/b' }]), ['/f/b', '/f/b2'], 'key startsWith is a string prefix');
    t.deepEqual(await q([{ field: 'value', op: '==', value: bytes('cherry') }]), ['/f/c'], 'value ==');
    t.deepEqual(await q([{ field: 'value', op: 'startsWith', value: bytes('b') }]), ['/f/b', '/f/b2'], 'value startsWith is a byte prefix');
    t.deepEqual(await q([{ field: 'value', op: '>', value: bytes('banana') }]), ['/f/b2', '/f/c'], 'value > in byte order');
    t.deepEqual(await q([(entry) => entry.size === 6]), ['/f/b', '/f/c'], 'a predicate sees the size');
    t.deepEqual(
      await q([{ field: 'key', op: '>', value: '/f/a' }, (entry) => entry.value.includes('rr')]),
      ['/f/b2', '/f/c'],
      'several filters: each must keep the entry',
    );
    const keysOnly = await collect(ds, { prefix: '/f', keysOnly: true, filters: [{ field: 'value', op: '==', value: bytes('apple') }] });
    t.deepEqual(keysOnly, [{ key: '/f/a' }], 'a value filter works on a keysOnly query, which still returns no value');
    await iterationRejection(t, ds.query({ filters: [{ field: 'key', op: '~', value: '/a' }] as unknown as Query['filters'] }), 'EINVAL', 'an unknown op');
    await iterationRejection(
      t,
      ds.query({ filters: [{ field: 'value', op: '==', value: 'text' }] as unknown as Query['filters'] }),
      'EINVAL',
      'a value filter with a string',
    );
    await iterationRejection(t, ds.query({ orders: [{ field: 'size' }] as unknown as Query['orders'] }), 'EINVAL', 'an unknown order');
    await iterationRejection(t, ds.query({ filter: [] } as unknown as Query), 'EINVAL', "a misspelt field ('filter')");
  });

  withStore('keysOnly and returnSizes shape the results', async (t, ds) => {
    await putAll(ds, [
      ['/s/a', 'x'],
      ['/s/b', 'yyyy'],
    ]);
    const byKey = { prefix: '/s', orders: [{ field: 'key' as const }] };
    t.deepEqual(await collect(ds, { ...byKey, keysOnly: true }), [{ key: '/s/a' }, { key: '/s/b' }], 'keysOnly: keys alone');
    t.deepEqual(
      await collect(ds, { ...byKey, keysOnly: true, returnSizes: true }),
      [
        { key: '/s/a', size: 1 },
        { key: '/s/b', size: 4 },
      ],
      'keysOnly with sizes',
    );
    const full = await collect(ds, { ...byKey, returnSizes: true });
    t.deepEqual(
      full.map((r) => [r.key, r.value?.toString(), r.size]),
      [
        ['/s/a', 'x', 1],
        ['/s/b', 'yyyy', 4],
      ],
      'values with sizes',
    );
    const plain = await collect(ds, byKey);
    t.notOk('size' in plain[0]!, 'no size unless asked');
    t.ok(Buffer.isBuffer(plain[0]!.value), 'values are Buffers');
  });

  withStore('2,000 keys: a query returns exactly them, with their sizes', async (t, ds) => {
    const entries = Array.from({ length: 2000 }, (_, i): [string, string] => [`/many/${i.toString(36)}/k${i}`, 'v'.repeat(i % 17)]);
    await putAll(ds, entries);
    await ds.put('/manyx', bytes('outside'));
    const results = await collect(ds, { prefix: '/many', keysOnly: true, returnSizes: true });
    t.equal(results.length, 2000, '2,000 results');
    const expected = new Map(entries.map(([key, value]) => [key, value.length]));
    t.equal(new Set(results.map((r) => r.key)).size, 2000, 'no key twice');
    t.ok(
      results.every((r) => expected.get(r.key) === r.size),
      'every key is one that was put, with its size',
    );
    const last = await collect(ds, { prefix: '/many', orders: [{ field: 'key', descending: true }], limit: 1 });
    const greatest = [...expected.keys()].sort().at(-1);
    t.deepEqual(
      last.map((r) => [r.key, r.value?.toString()]),
      [[greatest, entries.find(([key]) => key === greatest)![1]]],
      'the greatest key with its value',
    );
  });

  withStore('sync resolves for the root and a prefix, and refuses a bad prefix', async (t, ds) => {
    await ds.put('/sync/a', bytes('a'));
    await ds.delete('/sync/a');
    await ds.put('/sync/b', bytes('b'));
    await ds.sync('/');
    await ds.sync('/sync');
    await ds.sync('/nothing/here');
    t.pass('sync of /, of a prefix, and of an empty prefix');
    await rejection(t, ds.sync('no-slash'), 'EINVAL', 'sync of a bad prefix');
    t.equal((await ds.get('/sync/b')).toString(), 'b', 'data unchanged by sync');
  });

  withStore('batch: puts and deletes applied by commit, not before; one commit; a bad operation applies nothing', async (t, ds) => {
    await ds.put('/batch/old', bytes('old'));
    const batch = ds.batch();
    batch.put('/batch/new', bytes('new'));
    const reused = bytes('second');
    batch.put('/batch/second', reused);
    reused.fill(0);
    batch.delete('/batch/old');
    batch.delete('/batch/never-was');
    t.equal(await ds.has('/batch/new'), false, 'nothing applied before commit');
    t.equal(await ds.has('/batch/old'), true, 'nothing deleted before commit');
    await batch.commit();
    t.equal((await ds.get('/batch/new')).toString(), 'new', 'a put is visible after commit');
    t.equal((await ds.get('/batch/second')).toString(), 'second', 'values were copied when queued');
    t.equal(await ds.has('/batch/old'), false, 'a delete is applied');
    await rejection(t, batch.commit(), 'EINVAL', 'a second commit');
    const order = ds.batch();
    order.put('/batch/k', bytes('1'));
    order.delete('/batch/k');
    order.put('/batch/j', bytes('1'));
    order.put('/batch/j', bytes('2'));
    await order.commit();
    t.equal(await ds.has('/batch/k'), false, 'operations apply in order (put then delete)');
    t.equal((await ds.get('/batch/j')).toString(), '2', 'operations apply in order (put then put)');
    const bad = ds.batch();
    bad.put('/batch/good', bytes('g'));
    t.doesNotThrow(() => bad.put('no-slash', bytes('b')), 'a bad key does not throw when queued');
    t.doesNotThrow(() => bad.put('/batch/v', 'text' as unknown as Uint8Array), 'nor does a bad value');
    t.doesNotThrow(() => bad.delete(undefined as unknown as string), 'nor a bad delete');
    await rejection(t, bad.commit(), 'EINVAL', 'commit of a batch with a bad operation');
    t.equal(await ds.has('/batch/good'), false, 'applies nothing, not even the good operation before it');
  });

  withStore('closed: every call fails with EBADF; close again resolves', async (t, ds) => {
    await ds.put('/c', bytes('c'));
    const batch = ds.batch();
    batch.put('/c2', bytes('c2'));
    await ds.close();
    await rejection(t, ds.get('/c'), 'EBADF', 'get');
    await rejection(t, ds.has('/c'), 'EBADF', 'has');
    await rejection(t, ds.getSize('/c'), 'EBADF', 'getSize');
    await rejection(t, ds.put('/c', bytes('x')), 'EBADF', 'put');
    await rejection(t, ds.delete('/c'), 'EBADF', 'delete');
    await rejection(t, ds.sync('/'), 'EBADF', 'sync');
    await rejection(t, batch.commit(), 'EBADF', 'commit of a batch made before close');
    await rejection(t, ds.batch().commit(), 'EBADF', 'commit of a batch made after close');
    await iterationRejection(t, ds.query({}), 'EBADF', 'query');
    await ds.close();
    t.pass('a second close resolves');
  });

  withStore('no method throws synchronously, whatever it is given', async (t, ds) => {
    const garbage: unknown[] = [undefined, null, 42, {}, [], Symbol('s'), () => 1, '/ok'];
    const calls: Array<[string, () => unknown]> = [];
    for (const a of garbage) {
      const shown = typeof a === 'symbol' ? 'a symbol' : typeof a === 'function' ? 'a function' : (JSON.stringify(a) ?? 'undefined');
      const any = a as never;
      calls.push(
        [`get(${shown})`, () => ds.get(any)],
        [`has(${shown})`, () => ds.has(any)],
        [`getSize(${shown})`, () => ds.getSize(any)],
        [`put(${shown}, ${shown})`, () => ds.put(any, any)],
        [`delete(${shown})`, () => ds.delete(any)],
        [`sync(${shown})`, () => ds.sync(any)],
        [`query(${shown})`, () => ds.query(any)],
        [`batch().put(${shown}, ${shown})`, () => ds.batch().put(any, any)],
      );
    }
    for (const [what, call] of calls) {
      let returned: unknown;
      try {
        returned = call();
      } catch (error) {
        t.fail(`${what} threw synchronously: ${String(error)}`);
        continue;
      }
      // settle what it returned, so that nothing is left rejected and unhandled
      if (returned instanceof Promise) await returned.catch(() => undefined);
      else if (returned !== undefined && typeof (returned as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
        await (returned as AsyncIterable<unknown>)
          [Symbol.asyncIterator]()
          .next()
          .catch(() => undefined);
      }
    }
    t.pass(`${calls.length} calls with garbage arguments, none threw`);
    await rejection(t, ds.put(Symbol('k') as never, bytes('v')), 'EINVAL', 'a symbol key is EINVAL');
    await iterationRejection(t, ds.query(42 as never), 'EINVAL', 'a number as query');
    await iterationRejection(t, ds.query({ prefix: Symbol('p') } as never), 'EINVAL', 'a symbol as prefix');
    t.deepEqual(await keysOf(ds), [], 'and nothing was written');
  });
}
