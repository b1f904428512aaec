// kill -9 a writer at a random moment, reopen: what was acknowledged durable is there, flushWrite shows a
// whole version (never a torn one), and the stale temporary is cleaned when the storage opens again.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { openStorage } from '../../src/index.js';
import { Acknowledged, eachBackend, LOCAL_MODES, tempDir } from '../helpers.js';

const writer = path.join(path.dirname(new URL(import.meta.url).pathname), 'crash-writer.js');

/** Runs the writer until it has acknowledged `atLeast` lines plus a random extra delay, then kills it. */
async function runAndKill(root: string, ioMode: string, job: string, atLeast: number): Promise<number> {
  const child = spawn(process.execPath, [writer, root, ioMode, job], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acknowledged = new Acknowledged(child);
  await acknowledged.until(child, () => acknowledged.last >= atLeast);
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 50));
  const closed = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGKILL');
  await closed; // lines printed before the kill are all read by now
  return acknowledged.last;
}

eachBackend(
  'crash during appends: every record acknowledged by datasync survives, whole and in order',
  async (t, backend) => {
    const root = tempDir(t);
    const ioMode = backend.options.config!.ioMode!;
    const acknowledged = await runAndKill(root, ioMode, 'append', 200);
    const content = fs.readFileSync(path.join(root, 'wal'), 'utf8');
    const lines = content.split('\n');
    const last = lines.pop();
    const numbers = lines.map((line) => Number(/^\[record (\d+) #*\]$/.exec(line)?.[1] ?? NaN));
    t.ok(
      numbers.every((n, i) => n === i),
      `the records are whole and in order (${numbers.length} records)`,
    );
    t.ok(numbers.length > acknowledged, `every acknowledged record (up to ${acknowledged}) is there`);
    t.ok(last === '' || '[record'.startsWith(last!.slice(0, 7)), 'at most an unacknowledged tail follows');
    const storage = await openStorage(root, backend.options);
    const file = await storage.root.openFile('wal');
    t.equal(await file.size(), Buffer.byteLength(content), 'the storage opens the file after the crash');
    await storage.close();
  },
  LOCAL_MODES,
);

eachBackend(
  'crash during flushWrite: the file is a whole version, at least the last acknowledged; temporaries cleaned',
  async (t, backend) => {
    const root = tempDir(t);
    const ioMode = backend.options.config!.ioMode!;
    const acknowledged = await runAndKill(root, ioMode, 'flush', 30);
    const content = fs.readFileSync(path.join(root, 'table'));
    const version = content.length - 64 * 1024;
    t.ok(version >= acknowledged, `the version on disk (${version}) is at least the last acknowledged (${acknowledged})`);
    t.ok(
      content.every((b) => b === version % 256),
      'the file is whole: every byte of that version',
    );
    const storage = await openStorage(root, backend.options);
    t.deepEqual(fs.readdirSync(path.join(root, '.persistfs-tmp')), [], 'reopening removes the temporaries');
    t.deepEqual(
      (await storage.root.read()).map((e) => e.name),
      ['table'],
      'only the table is visible',
    );
    await storage.close();
  },
  LOCAL_MODES,
);
