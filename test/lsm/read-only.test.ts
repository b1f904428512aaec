// A store opened read-only sees every write the WAL holds: those after the last flush, and those of a store
// that never flushed (its manifest names no WAL position yet, so the WAL is replayed from its start).
import { eachBackend, freshStorage } from '../helpers.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';

eachBackend('LSM read-only: a store that never flushed shows the writes of its WAL', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = await storage.createDirectory('db');
  const writer = await LsmStore.open(dir, { autoCompact: false });
  await writer.put('a', '1');
  await writer.write([{ type: 'put', key: 'b', value: '2' }, { type: 'del', key: 'a' }, { type: 'put', key: 'c', value: '3' }]);
  await writer.close();

  const reader = await LsmStore.open(dir, { readOnly: true });
  t.equal(await reader.get('a'), undefined, 'a deleted key stays deleted');
  t.equal((await reader.get('b'))?.toString(), '2', 'a written key is there');
  const keys: string[] = [];
  for await (const entry of reader.iterator({ values: false })) keys.push(entry.key.toString());
  t.same(keys, ['b', 'c'], 'an iterator sees the WAL writes');
  await reader.close();
});

eachBackend('LSM read-only: writes after a flush come from the WAL, older ones from SSTs', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = await storage.createDirectory('db');
  const writer = await LsmStore.open(dir, { autoCompact: false });
  await writer.put('flushed', 'old');
  await writer.flush();
  await writer.put('flushed', 'new');
  await writer.put('logged', 'yes');
  await writer.close();

  const reader = await LsmStore.open(dir, { readOnly: true });
  t.equal((await reader.get('flushed'))?.toString(), 'new', 'the WAL write overrides the SST one');
  t.equal((await reader.get('logged'))?.toString(), 'yes', 'a write only the WAL holds is there');
  await reader.close();
});
