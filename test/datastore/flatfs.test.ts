// FlatfsDatastore beyond the shared contract: its layout on disk, reopening, the recorded shard function,
// what it refuses, and names on disk that are not keys.
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { FlatfsDatastore, Key, openStorage } from '../../src/index.js';
import { keyOf, nameOf, shardFunction } from '../../src/datastore/flatfs-layout.js';
import { bytes, eachBackend, freshStorage, LOCAL_MODES, rejection, tempDir } from '../helpers.js';
import { collect } from './conformance.js';

test('flatfs names: every valid key has one name, and that name reads back as the key', (t) => {
  const cases: Array<[string, string]> = [
    ['/blocks/CIQ', 'blocks.CIQ'],
    ['/a.b/c', 'a%2Eb.c'],
    ['/100%', '100%25'],
    ['/x y/é', 'x%20y.%C3%A9'],
    ["/!~*'()", '%21%7E%2A%27%28%29'],
    ['/.hidden', '%2Ehidden'],
    ['/\u{1F600}', '%F0%9F%98%80'],
  ];
  for (const [key, name] of cases) {
    t.equal(nameOf(key), name, `${key} is named ${name}`);
    t.equal(keyOf(name), key, `${name} reads back as ${key}`);
    t.ok(/^[A-Za-z0-9_%-][A-Za-z0-9_%.-]*$/.test(name), `${name} holds only safe characters and does not start with '.'`);
  }
  for (const name of ['a%2eb', 'a..b', '.a', 'a.', '%2', '%FF', 'a b', 'a%2Fb', 'flatfs.shard.x%00']) {
    t.equal(keyOf(name), undefined, `'${name}' is not a key's name`);
  }
  t.equal(nameOf('/'), '', "the root prefix is ''");
  t.end();
});

test('flatfs shard functions slice the name and pad short ones', (t) => {
  t.equal(shardFunction('next-to-last/2').of('abcdef'), 'de', 'next-to-last/2');
  t.equal(shardFunction('next-to-last/2').of('ab'), '_a', 'next-to-last/2 of a short name');
  t.equal(shardFunction('prefix/3').of('abcdef'), 'abc', 'prefix/3');
  t.equal(shardFunction('prefix/3').of('a'), 'a__', 'prefix/3 of a short name');
  t.equal(shardFunction('suffix/2').of('abcdef'), 'ef', 'suffix/2');
  t.equal(shardFunction('next-to-last/1').of('a.b'), '_', "a '.' in a shard becomes '_'");
  for (const spec of ['next-to-last/0', 'middle/2', 'prefix/10', 'prefix', 42]) {
    t.throws(() => shardFunction(spec), /EINVAL/, `'${String(spec)}' is refused`);
  }
  t.end();
});

eachBackend('flatfs layout: flatfs.shard at the root, one file per key in its shard, values as file contents', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = await storage.createDirectory('ds');
  const ds = await FlatfsDatastore.open(dir);
  await ds.put('/blocks/CIQABC', bytes('block'));
  await ds.put('/a', bytes('short'));
  const shard = await storage.openFile('ds/flatfs.shard');
  const content = Buffer.alloc(await shard.size());
  await shard.read(0, content);
  await shard.close();
  t.equal(content.toString(), 'persistfs-flatfs/1 next-to-last/2\n', 'flatfs.shard records the format and the shard function');
  const block = await storage.openFile('ds/AB/blocks.CIQABC');
  const value = Buffer.alloc(await block.size());
  await block.read(0, value);
  await block.close();
  t.equal(value.toString(), 'block', "the key's file, in shard 'AB', holds the value");
  t.equal((await storage.stat('ds/__/a')).size, 5, "a one-character name is in shard '__'");
  t.deepEqual((await dir.read()).map((e) => e.name).sort(), ['AB', '__', 'flatfs.shard'], 'nothing else at the root');
  await ds.delete('/blocks/CIQABC');
  await rejection(t, storage.stat('ds/AB/blocks.CIQABC'), 'ENOENT', 'delete unlinks the file');
  await ds.close();
  t.notOk(dir.isClosed, 'close leaves the caller its Dir');
});

eachBackend('flatfs reopen: data survives close and reopen; another shard function is refused', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = await storage.createDirectory('ds');
  const first = await FlatfsDatastore.open(dir, { shard: 'prefix/3' });
  await first.put('/keep/one', bytes('1'));
  await first.put('/keep/two', bytes('22'));
  await first.put('/drop', bytes('x'));
  await first.delete('/drop');
  await first.sync('/');
  await first.close();
  const again = await FlatfsDatastore.open(dir);
  t.equal(again.shard.spec, 'prefix/3', 'reopened without an option, it keeps the recorded shard function');
  t.equal((await again.get('/keep/two')).toString(), '22', 'a value survives');
  t.equal(await again.has('/drop'), false, 'a delete survives');
  t.deepEqual(
    (await collect(again, { keysOnly: true, orders: [{ field: 'key' }] })).map((r) => r.key),
    ['/keep/one', '/keep/two'],
    'a query finds exactly what was kept',
  );
  await again.close();
  const same = await FlatfsDatastore.open(dir, { shard: 'prefix/3' });
  await same.close();
  t.pass('naming the recorded shard function is fine');
  const refused = await rejection(t, FlatfsDatastore.open(dir, { shard: 'next-to-last/2' }), 'EINVAL', 'a different shard function');
  t.match(refused?.message ?? '', /prefix\/3/, 'the error names the recorded one');
  await rejection(t, FlatfsDatastore.open(dir, { shard: 'nonsense' }), 'EINVAL', 'a malformed shard function');
});

test('flatfs reopen on a new storage: the files on disk are the data', async (t) => {
  const root = tempDir(t);
  for (const backend of LOCAL_MODES) {
    const storage = await openStorage(root, backend.options);
    try {
      const ds = await FlatfsDatastore.open(storage.root);
      const count = (await collect(ds, { keysOnly: true })).length;
      await ds.put(`/written/by/${backend.name}`, bytes(backend.name));
      t.equal(count, LOCAL_MODES.indexOf(backend), `${backend.name} finds what the earlier storages wrote`);
      await ds.close();
    } finally {
      await storage.close();
    }
  }
  const files = fs
    .readdirSync(root, { recursive: true })
    .map(String)
    .filter((name) => name.includes('written.by'));
  t.equal(files.length, LOCAL_MODES.length, 'one file per key on disk');
});

eachBackend('flatfs open refuses what is not its own; a key too long for a file name', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const busy = await storage.createDirectory('busy');
  await (await busy.createFile('unrelated')).close();
  await rejection(t, FlatfsDatastore.open(busy), 'ENOTEMPTY', 'a non-empty directory without flatfs.shard');
  t.deepEqual(
    (await busy.read()).map((e) => e.name),
    ['unrelated'],
    'and it is left as it was',
  );
  const odd = await storage.createDirectory('odd');
  await (await odd.flushWrite('flatfs.shard', bytes('something else\n'))).close();
  await rejection(t, FlatfsDatastore.open(odd), 'EINVAL', 'a flatfs.shard in another format');
  await rejection(t, FlatfsDatastore.open('not a dir' as never), 'EINVAL', 'something that is not a Dir');
  const ds = await FlatfsDatastore.open(await storage.createDirectory('ds'));
  const long = `/${'k'.repeat(300)}`;
  t.ok(Key.isValid(long), 'a long key is a valid key');
  const error = await rejection(t, ds.put(long, bytes('v')), 'ENAMETOOLONG', 'but flatfs cannot store it');
  t.match(error?.message ?? '', /255/, 'the error says the limit');
  t.equal(await ds.has(long), false, 'has says it is not there');
  await rejection(t, ds.get(long), 'ENOENT', 'get says not found');
  await ds.delete(long);
  t.pass('delete resolves');
  await ds.close();
});

test('flatfs query skips what is not a key file: stray names, files in the wrong shard, directories', async (t) => {
  const root = tempDir(t);
  const storage = await openStorage(root, LOCAL_MODES[0]!.options);
  t.teardown(() => storage.close());
  const ds = await FlatfsDatastore.open(storage.root);
  await ds.put('/real/key', bytes('v'));
  const shardDir = path.join(root, 'ke');
  fs.writeFileSync(path.join(shardDir, 'not a key'), 'x');
  fs.writeFileSync(path.join(shardDir, 'other.abc'), 'a name whose shard is ab');
  fs.mkdirSync(path.join(shardDir, 'real.key2'));
  fs.writeFileSync(path.join(root, 'stray-file'), 'x');
  t.deepEqual(
    (await collect(ds, { keysOnly: true })).map((r) => r.key),
    ['/real/key'],
    'only the key file is a result',
  );
  await ds.close();
});

test('flatfs: a put into a shard another put is still making resolves only after the root fsync', async (t) => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const storage = await openStorage(tempDir(t), { config: { logLevel: 'warn' } });
  t.teardown(() => storage.close());
  const root = await storage.createDirectory('blocks');
  const ds = await FlatfsDatastore.open(root);
  t.teardown(() => ds.close());
  let rootSynced = false;
  const sync = root.sync.bind(root);
  root.sync = async () => {
    await sleep(50); // a slow fsync of the root
    await sync();
    rootSynced = true;
  };
  const openDirectory = root.openDirectory.bind(root);
  let opens = 0;
  root.openDirectory = async (name: string) => {
    if (++opens === 2) await sleep(10); // the second lookup reaches the kernel after the first put's mkdir
    return openDirectory(name);
  };
  const early: string[] = [];
  const puts = ['/x/aa1', '/y/aa1'].map((key) =>
    ds.put(key, bytes(key)).then(() => {
      if (!rootSynced) early.push(key);
    }),
  );
  await Promise.all(puts);
  t.deepEqual(early, [], 'no put into the new shard resolved before its directory was durable in the root');
  t.equal((await ds.get('/y/aa1')).toString(), '/y/aa1', 'both are there');
});
