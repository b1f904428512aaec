// The Datastore conformance suite (conformance.ts) on every implementation and composition: memory,
// flatfs on each storage backend, namespaced, mount, sharded and tiered.
import { Dir, FlatfsDatastore, MemoryDatastore, MountDatastore, NamespacedDatastore, ShardedDatastore, TieredDatastore } from '../../src/index.js';
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

datastoreConformance('tiered memory + flatfs', async (t) => new TieredDatastore([new MemoryDatastore(), await flatfs(t, BACKENDS[0]!)]));
