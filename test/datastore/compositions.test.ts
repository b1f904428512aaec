// What each composition does with its children, beyond the shared contract: where keys go, what the
// children see, how tiers fill, and the configurations the constructors refuse.
import test from 'tape';

import { MemoryDatastore, MountDatastore, NamespacedDatastore, ShardedDatastore, TieredDatastore, type Datastore } from '../../src/index.js';
import { bytes, rejection } from '../helpers.js';
import { collect } from './conformance.js';

const keys = async (ds: Datastore): Promise<string[]> => (await collect(ds, { keysOnly: true, orders: [{ field: 'key' }] })).map((r) => r.key);

test('namespaced: the child holds the keys under the prefix; the namespace sees only its own', async (t) => {
  const child = new MemoryDatastore();
  await child.put('/other/x', bytes('not mine'));
  await child.put('/ns', bytes('the prefix key itself'));
  const ns = new NamespacedDatastore(child, '/ns');
  await ns.put('/a/b', bytes('v'));
  t.equal((await child.get('/ns/a/b')).toString(), 'v', 'the child has the key with the prefix');
  t.deepEqual(await keys(ns), ['/a/b'], 'the namespace lists its keys without the prefix, and nothing else of the child');
  t.deepEqual(
    (await collect(ns, { prefix: '/a', keysOnly: true })).map((r) => r.key),
    ['/a/b'],
    'a prefix is taken inside the namespace',
  );
  await ns.delete('/a/b');
  t.equal(await child.has('/ns/a/b'), false, 'delete reaches the child');
  await ns.close();
  await rejection(t, child.get('/other/x'), 'EBADF', 'closing the namespace closes its child');
  t.throws(() => new NamespacedDatastore(new MemoryDatastore(), 'ns'), /EINVAL/, 'a prefix without a leading / is refused');
  t.throws(() => new NamespacedDatastore(new MemoryDatastore(), '/'), /EINVAL/, "a prefix of '/' is refused");
  t.throws(() => new NamespacedDatastore({} as never, '/ns'), /EINVAL.*lacks get/, 'a child that is not a datastore is refused');
});

test('mount: the longest prefix above a key takes it, without the prefix; queries merge the mounts that can match', async (t) => {
  const root = new MemoryDatastore();
  const a = new MemoryDatastore();
  const ab = new MemoryDatastore();
  const mount = new MountDatastore([
    { prefix: '/a', datastore: a },
    { prefix: '/', datastore: root },
    { prefix: '/a/b', datastore: ab },
  ]);
  await mount.put('/a/x', bytes('1'));
  await mount.put('/a/b/y', bytes('2'));
  await mount.put('/a/b', bytes('3'));
  await mount.put('/ab', bytes('4'));
  await mount.put('/a', bytes('5'));
  t.deepEqual(await keys(a), ['/b', '/x'], "the mount at '/a' holds /a/x and /a/b, without its prefix");
  t.deepEqual(await keys(ab), ['/y'], "the mount at '/a/b' holds /a/b/y");
  t.deepEqual(await keys(root), ['/a', '/ab'], "the mount at '/' holds the rest (/ab is not below /a)");
  t.deepEqual(await keys(mount), ['/a', '/a/b', '/a/b/y', '/a/x', '/ab'], 'a query of / merges every mount');
  t.deepEqual(
    (await collect(mount, { prefix: '/a', keysOnly: true, orders: [{ field: 'key' }] })).map((r) => r.key),
    ['/a/b', '/a/b/y', '/a/x'],
    "prefix '/a' reaches '/a' and '/a/b'",
  );
  t.deepEqual(
    (await collect(mount, { prefix: '/a/b', keysOnly: true })).map((r) => r.key),
    ['/a/b/y'],
    "prefix '/a/b' reaches only its mount",
  );
  await root.put('/a/stale', bytes('left by an older layout'));
  t.notOk((await keys(mount)).includes('/a/stale'), "a key in '/' that belongs to '/a' is not listed from '/'");
  t.equal((await mount.get('/a/b/y')).toString(), '2', 'get routes');
  await mount.delete('/a/b/y');
  t.equal(await ab.has('/y'), false, 'delete routes');
  await mount.sync('/a');
  t.pass('sync of a prefix reaches its mounts');

  const partial = new MountDatastore([{ prefix: '/only', datastore: new MemoryDatastore() }]);
  const error = await rejection(t, partial.put('/elsewhere', bytes('x')), 'EINVAL', 'a put no mount covers');
  t.match(error?.message ?? '', /no mount covers.*\/only/, 'the error lists the mounts');
  await rejection(t, partial.put('/only', bytes('x')), 'EINVAL', 'a key equal to a mount prefix belongs to no mount below it');
  t.equal(await partial.has('/elsewhere'), false, 'has of an uncovered key is false');
  await rejection(t, partial.get('/elsewhere'), 'ENOENT', 'get of an uncovered key is not found');
  await partial.delete('/elsewhere');
  t.pass('delete of an uncovered key resolves');
  await mount.close();
  await rejection(t, a.get('/x'), 'EBADF', 'closing the mount closes every mounted store');
  await rejection(t, root.get('/a'), 'EBADF', 'every one');
  t.throws(() => new MountDatastore([]), /EINVAL/, 'no mounts is refused');
  t.throws(
    () =>
      new MountDatastore([
        { prefix: '/x', datastore: new MemoryDatastore() },
        { prefix: '/x', datastore: new MemoryDatastore() },
      ]),
    /EINVAL.*two mounts/,
    'a repeated prefix is refused',
  );
  t.throws(() => new MountDatastore([{ prefix: '/x/', datastore: new MemoryDatastore() }]), /EINVAL/, 'a bad prefix is refused');
  t.throws(() => new MountDatastore([{ datastore: new MemoryDatastore() } as never]), /EINVAL/, 'a missing prefix is refused (not taken as /)');
});

test('sharded: each key lives in the child its hash picks; every child gets some of many keys', async (t) => {
  const children = Array.from({ length: 4 }, () => new MemoryDatastore());
  const sharded = new ShardedDatastore(children);
  const all = Array.from({ length: 200 }, (_, i) => `/k/${i}`);
  await Promise.all(all.map((key) => sharded.put(key, bytes(key))));
  const counts = children.map((child) => child.count);
  t.equal(
    counts.reduce((sum, n) => sum + n, 0),
    200,
    'each key is in exactly one child',
  );
  t.ok(
    counts.every((n) => n > 20),
    `and the CRC32C hash spreads them (${counts.join(', ')})`,
  );
  t.deepEqual((await keys(sharded)).sort(), [...all].sort(), 'a query merges every child');
  const byIndex = new ShardedDatastore([new MemoryDatastore(), new MemoryDatastore()], (key) => (key.endsWith('odd') ? 1 : 0));
  await byIndex.put('/is/odd', bytes('1'));
  await byIndex.put('/is/even', bytes('0'));
  t.deepEqual(
    (await collect(byIndex, { keysOnly: true })).map((r) => r.key),
    ['/is/even', '/is/odd'],
    'a given hash picks the child (children are asked in order)',
  );
  const broken = new ShardedDatastore([new MemoryDatastore()], () => -1);
  await rejection(t, broken.put('/x', bytes('x')), 'EINVAL', 'a hash that returns a negative number');
  t.throws(() => new ShardedDatastore([]), /EINVAL/, 'no children is refused');
  t.throws(() => new ShardedDatastore([new MemoryDatastore()], 'crc' as never), /EINVAL/, 'a hash that is not a function is refused');
  await Promise.all([sharded.close(), byIndex.close(), broken.close()]);
});

test('tiered: writes reach every tier, get fills the earlier tiers, query asks the backing tier', async (t) => {
  const cache = new MemoryDatastore();
  const backing = new MemoryDatastore();
  const tiered = new TieredDatastore([cache, backing]);
  await tiered.put('/both', bytes('v'));
  t.ok((await cache.has('/both')) && (await backing.has('/both')), 'put goes to every tier');
  await backing.put('/cold', bytes('from backing'));
  t.equal(await cache.has('/cold'), false, 'a key only the backing tier has');
  t.equal(await tiered.has('/cold'), true, 'has looks in every tier');
  t.equal(await tiered.getSize('/cold'), 12, 'and getSize');
  t.equal(await cache.has('/cold'), false, 'neither fills the cache (they have no value to copy)');
  t.equal((await tiered.get('/cold')).toString(), 'from backing', 'get finds it in the backing tier');
  t.equal((await cache.get('/cold')).toString(), 'from backing', 'and fills the cache');
  await cache.put('/cache-only', bytes('c'));
  t.equal((await tiered.get('/cache-only')).toString(), 'c', 'get answers from the first tier that has the key');
  t.notOk((await keys(tiered)).includes('/cache-only'), 'query lists the backing tier only');
  await tiered.delete('/both');
  t.ok(!(await cache.has('/both')) && !(await backing.has('/both')), 'delete goes to every tier');

  // a put the backing tier refuses leaves the cache unchanged; a delete reaches the cache first
  const closedBacking = new MemoryDatastore();
  const front = new MemoryDatastore();
  const failing = new TieredDatastore([front, closedBacking]);
  await failing.put('/k', bytes('old'));
  await closedBacking.close();
  await rejection(t, failing.put('/k', bytes('new')), 'EBADF', 'a put the backing tier fails');
  t.equal((await front.get('/k')).toString(), 'old', 'left the cache as it was');
  await rejection(t, failing.delete('/k'), 'EBADF', 'a delete the backing tier fails');
  t.equal(await front.has('/k'), false, 'has already dropped the stale cached value');
  t.throws(() => new TieredDatastore([]), /EINVAL/, 'no tiers is refused');
  await tiered.close();
  await rejection(t, backing.get('/cold'), 'EBADF', 'closing the tiered store closes its tiers');
  await failing.close();
  await rejection(t, front.get('/k'), 'EBADF', 'closing it closes every tier, an already closed one included');
});

test('tiered: a get filling the cache does not bring back a value a delete or put replaced meanwhile', async (t) => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** a backing tier whose reads are slow (a disk), so that other calls run while a get is under way */
  class Slow extends MemoryDatastore {
    override async get(key: string): Promise<Buffer> {
      const value = await super.get(key);
      await sleep(20);
      return value;
    }
  }
  const cache = new MemoryDatastore();
  const backing = new Slow();
  const tiered = new TieredDatastore([cache, backing]);
  t.teardown(() => tiered.close());
  await backing.put('/k', bytes('v1'));
  const reading = tiered.get('/k');
  await sleep(5);
  await tiered.delete('/k');
  t.equal((await reading).toString(), 'v1', 'the get that started first sees v1');
  t.equal(await tiered.has('/k'), false, 'the delete after it wins: no value');
  t.equal(await cache.has('/k'), false, 'and the cache was not refilled');
  await backing.put('/j', bytes('old'));
  const readingOld = tiered.get('/j');
  await sleep(5);
  await tiered.put('/j', bytes('new'));
  await readingOld;
  t.equal((await tiered.get('/j')).toString(), 'new', 'the put after a get wins over its fill');
});
