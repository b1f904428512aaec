// The Datastore conformance suite (conformance.ts) on every implementation and composition: memory,
// flatfs on each storage backend, namespaced, mount, sharded and tiered.
import {
  type Dir,
  FlatfsDatastore,
  LsmDatastore,
  MemoryDatastore,
  MountDatastore,
  NamespacedDatastore,
  ShardedDatastore,
  TieredDatastore,
} from '../../src/index.js';
import { BACKENDS, freshStorage, type Backend } from '../helpers.js';
import type test from 'tape';
import { datastoreConformance } from './conformance.js';

/** A flatfs datastore in the directory 'ds' of a fresh storage on `backend`. */
async function flatfs(t: test.Test, backend: Backend): Promise<FlatfsDatastore> {
  const { storage } = await freshStorage(t, backend);
  const dir: Dir = await storage.createDirectory('ds');
  return FlatfsDatastore.open(dir);
}

datastoreConformance('memory', async () => new MemoryDatastore());

for (const backend of BACKENDS) {
  datastoreConformance(`flatfs [${backend.name}]`, (t) => flatfs(t, backend));
}

for (const backend of BACKENDS) {
  datastoreConformance(`LSM [${backend.name}]`, async (t) => {
    const { storage } = await freshStorage(t, backend);
    // small memtables and files: the suite's keys go through flushes and compactions too
    return LsmDatastore.open(await storage.createDirectory('lsm'), { memtableSize: 64 * 1024, tableFileSize: 64 * 1024, levelBaseBytes: 256 * 1024 });
  });
}

datastoreConformance('namespaced over memory', async () => new NamespacedDatastore(new MemoryDatastore(), '/ns/inner'));

datastoreConformance(
  'mount of two memory stores',
  async () =>
    new MountDatastore([
      { prefix: '/', datastore: new MemoryDatastore() },
      { prefix: '/a', datastore: new MemoryDatastore() },
    ]),
);

datastoreConformance('sharded over 4 memory stores', async () => new ShardedDatastore(Array.from({ length: 4 }, () => new MemoryDatastore())));

datastoreConformance('namespaced over LSM', async (t) => {
  const { storage } = await freshStorage(t, BACKENDS[0]!);
  return new NamespacedDatastore(await LsmDatastore.open(await storage.createDirectory('lsm')), '/ns');
});

datastoreConformance('sharded over 3 LSM stores', async (t) => {
  const { storage } = await freshStorage(t, BACKENDS[0]!);
  const shards = [];
  for (let i = 0; i < 3; i++) shards.push(await LsmDatastore.open(await storage.createDirectory(`lsm${i}`)));
  return new ShardedDatastore(shards);
});

datastoreConformance('tiered memory + LSM', async (t) => {
  const { storage } = await freshStorage(t, BACKENDS[1]!);
  return new TieredDatastore([new MemoryDatastore(), await LsmDatastore.open(await storage.createDirectory('lsm'))]);
});

datastoreConformance('tiered memory + flatfs', async (t) => new TieredDatastore([new MemoryDatastore(), await flatfs(t, BACKENDS[0]!)]));
