// kill -9 the mount process while a writer appends and fsyncs through it; the stale mount is cleared by
// the next mount, and every byte the writer had fsynced is there; the file system is usable again.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'tape';

import { Acknowledged } from '../helpers.js';
import { startMountProcess, stopMount, waitMounted } from './mount-helper.js';

const WRITER = `
const fs = require('fs');
const fd = fs.openSync(process.argv[1], 'a');
for (let i = 0; ; i++) {
  fs.writeSync(fd, 'record ' + i + ' ' + 'x'.repeat(i % 300) + '\\n');
  fs.fsyncSync(fd);
  process.stdout.write(i + '\\n');
}`;

for (const ioMode of ['io_uring', 'sync']) {
  test(`kill -9 of the mount during fsynced appends: every fsynced byte survives [${ioMode}]`, async (t) => {
    const top = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-crash-'));
    const backing = path.join(top, 'data');
    const mnt = path.join(top, 'mnt');
    fs.mkdirSync(backing);
    fs.mkdirSync(mnt);
    let current = startMountProcess(backing, mnt, ['--io-mode', ioMode]);
    t.teardown(async () => {
      await stopMount(current.child, mnt);
      fs.rmSync(top, { recursive: true, force: true });
    });
    await waitMounted(mnt, current.child, current.log);

    const writer = spawn(process.execPath, ['-e', WRITER, path.join(mnt, 'log')], { stdio: ['ignore', 'pipe', 'ignore'] });
    const acks = new Acknowledged(writer);
    await acks.until(writer, () => acks.last >= 300);
    const writerClosed = new Promise((resolve) => writer.once('close', resolve));
    current.child.kill('SIGKILL');
    await writerClosed;
    const acknowledged = acks.last;
    t.ok(acknowledged >= 300, `the writer had ${acknowledged + 1} records fsynced when the mount was killed`);
    t.throws(() => fs.statSync(mnt), /ENOTCONN/, 'the mount is stale: ENOTCONN');

    current = startMountProcess(backing, mnt, ['--io-mode', ioMode]);
    await waitMounted(mnt, current.child, current.log);
    t.match(current.log(), /cleared a stale mount/, 'the next mount clears the stale one and says so');
    const lines = fs.readFileSync(path.join(mnt, 'log'), 'utf8').split('\n');
    const tail = lines.pop();
    const intact = lines.every((line, i) => line === `record ${i} ${'x'.repeat(i % 300)}`);
    t.ok(intact, `${lines.length} whole records in order`);
    t.ok(lines.length > acknowledged, 'every fsynced record is there');
    t.ok(tail === '' || `record ${lines.length}`.startsWith(tail!.slice(0, 7)), 'at most an unacknowledged partial record follows');
    fs.writeFileSync(path.join(mnt, 'after'), 'usable');
    t.equal(fs.readFileSync(path.join(mnt, 'after'), 'utf8'), 'usable', 'the file system is usable again');
  });
}
