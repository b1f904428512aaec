// kill -9 a flatfs writer at a random moment, reopen: every acknowledged put is there, every value is
// whole (a put is atomic), and the storage's reopening removes the temporaries the kill left.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { FlatfsDatastore, openStorage } from '../../src/index.js';
import { Acknowledged, eachBackend, LOCAL_MODES, tempDir } from '../helpers.js';
import { collect } from './conformance.js';

const writer = path.join(path.dirname(new URL(import.meta.url).pathname), 'flatfs-writer.js');

/** Whether `value` is round `i`'s value: 4 KiB plus i bytes of i % 256. */
const isRound = (value: Buffer, i: number): boolean => value.length === 4096 + i && value.every((b) => b === i % 256);

eachBackend(
  'crash during flatfs puts: every acknowledged key survives whole; no torn value; temporaries cleaned',
  async (t, backend) => {
    const root = tempDir(t);
    const child = spawn(process.execPath, [writer, root, backend.options.config!.ioMode!], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged = new Acknowledged(child);
    await acknowledged.until(child, () => acknowledged.last >= 100);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 50));
    const closed = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGKILL');
    await closed;
    const last = acknowledged.last;

    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());
    t.deepEqual(fs.readdirSync(path.join(root, '.persistfs-tmp')), [], 'reopening the storage removed the temporaries');
    const ds = await FlatfsDatastore.open(storage.root);
    const results = await collect(ds, { prefix: '/crash' });
    const rounds = results.map((r) => Number(r.key.slice('/crash/'.length))).sort((a, b) => a - b);
    t.ok(
      rounds.every((n, i) => n === i),
      `the keys are rounds 0..${rounds.length - 1}, none missing`,
    );
    t.ok(rounds.length > last, `every acknowledged round (up to ${last}) is there`);
    t.ok(rounds.length <= last + 2, 'and at most the one round in flight beyond it');
    t.ok(
      results.every((r) => isRound(r.value!, Number(r.key.slice('/crash/'.length)))),
      'every value is whole',
    );
    const latest = await ds.get('/latest');
    const version = latest.length - 4096;
    t.ok(version >= last && isRound(latest, version), `'/latest' is a whole version (${version}), at least the last acknowledged (${last})`);
    await ds.close();
  },
  LOCAL_MODES,
);
