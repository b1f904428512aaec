// Running out of space on a small tmpfs mounted by the test: appends and flushWrite fail cleanly with
// ENOSPC, flushWrite leaves the old file intact and no temporary behind, and the storage works again once
// space is freed.
import fs from 'node:fs';
import path from 'node:path';

import { openStorage } from '../../src/index.js';
import { eachBackend, LOCAL_MODES, mountTmpfs, rejection } from '../helpers.js';

const SIZE = 2 * 1024 * 1024;

eachBackend(
  'ENOSPC: clean failures, old files intact, usable after space is freed',
  async (t, backend) => {
    const root = mountTmpfs(t, SIZE);
    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());
    const dir = storage.root;
    const keep = Buffer.alloc(100_000, 7);
    await (await dir.flushWrite('keep', keep)).close();

    const log = await dir.createFile('log');
    const chunk = Buffer.alloc(64 * 1024 + 123, 1);
    let appended = 0;
    let failure: unknown;
    for (let i = 0; i < 100 && failure === undefined; i++) {
      try {
        await log.append(chunk);
        appended += chunk.length;
      } catch (error) {
        failure = error;
      }
    }
    t.equal((failure as { code?: string })?.code, 'ENOSPC', 'an append fails with ENOSPC');
    t.equal(await log.size(), appended, 'the failed append left no partial record');
    t.equal(fs.statSync(path.join(root, 'log')).size, appended, 'on disk too');

    await rejection(t, dir.flushWrite('keep', Buffer.alloc(SIZE, 9)), 'ENOSPC', 'a flushWrite that does not fit');
    t.ok(fs.readFileSync(path.join(root, 'keep')).equals(keep), 'the old file is intact');
    t.deepEqual(fs.readdirSync(path.join(root, '.persistfs-tmp')), [], 'no temporary is left');

    // a write past the end (a hole before it) that runs out of space part way: cut back like an append
    const sizeBefore = await log.size();
    await rejection(t, log.writeAt(sizeBefore + 4096, Buffer.alloc(SIZE, 5)), 'ENOSPC', 'a write past the end that does not fit');
    t.equal(await log.size(), sizeBefore, 'the failed write left the size as it was');
    t.equal(fs.statSync(path.join(root, 'log')).size, sizeBefore, 'on disk too: none of its bytes past the old end');
    // one that starts inside the file and runs past its end: what lies past the old end is cut
    await rejection(t, log.writeAt(sizeBefore - 100, Buffer.alloc(SIZE, 6)), 'ENOSPC', 'a write from inside the file past its end that does not fit');
    t.equal(fs.statSync(path.join(root, 'log')).size, sizeBefore, 'the file ends where it did');
    t.equal(await log.size(), sizeBefore, 'and the storage says so');

    await log.truncate(0);
    t.equal(await log.append(Buffer.from('after')), 0, 'appends work again once space is freed');
    const replaced = await dir.flushWrite('keep', Buffer.alloc(SIZE / 2, 3));
    t.equal(await replaced.size(), SIZE / 2, 'flushWrite works again');
    await replaced.close();
    await log.close();
  },
  LOCAL_MODES,
);
