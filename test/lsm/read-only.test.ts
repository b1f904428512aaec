// A store opened read-only sees every write the WAL holds: those after the last flush, and those of a store
// that never flushed (its manifest names no WAL position yet, so the WAL is replayed from its start). A torn
// tail ends the replay and stays as it is.
import fs from 'node:fs';
import path from 'node:path';

import { eachBackend, freshStorage, LOCAL_MODES } from '../helpers.js';
import { WAL_DIR } from '../../src/lsm/file-names.js';
import { LsmStore } from '../../src/lsm/lsm-store.js';
import { segmentName } from '../../src/wal/format.js';
import { entries, filesUnder, keysOf } from './lsm-helpers.js';

eachBackend('LSM read-only: a store that never flushed shows the writes of its WAL', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = await storage.createDirectory('db');
  const writer = await LsmStore.open(dir, { autoCompact: false });
  await writer.put('a', '1');
  await writer.write([
    { type: 'put', key: 'b', value: '2' },
    { type: 'del', key: 'a' },
    { type: 'put', key: 'c', value: '3' },
  ]);
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

eachBackend(
  'LSM read-only: a torn tail (half a record at the end of the WAL) ends the replay: every whole record before it is seen, the log is not cut',
  async (t, backend) => {
    const { storage, root } = await freshStorage(t, backend);
    const dir = await storage.createDirectory('db');
    const segment = path.join(root, 'db', WAL_DIR, segmentName(1));
    const writer = await LsmStore.open(dir, { autoCompact: false });
    await writer.put('a', '1');
    await writer.write([
      { type: 'put', key: 'b', value: '2' },
      { type: 'put', key: 'c', value: '3' },
    ]);
    const whole = fs.statSync(segment).size;
    await writer.put('torn', 'x'.repeat(100));
    await writer.close();
    fs.truncateSync(segment, whole + Math.floor((fs.statSync(segment).size - whole) / 2));
    const before = filesUnder(path.join(root, 'db'));

    const reader = await LsmStore.open(dir, { readOnly: true });
    t.same(keysOf(await entries(reader.iterator())), ['a', 'b', 'c'], 'every whole record is there, the torn one is not');
    t.equal((await reader.get('c'))?.toString(), '3', 'the record just before the tear reads right');
    await reader.close();
    t.same(filesUnder(path.join(root, 'db')), before, 'the torn tail is left as it was');
  },
  LOCAL_MODES,
);
