// The backup's buffers for whole small files (src/backup/file-buffers.ts): whole contents, reused memory.
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import test from 'tape';

import { FileBuffers } from '../../src/backup/file-buffers.js';

test('file buffers: a file read whole, the buffer given back serves the next one; a file past the largest shows it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persistfs-buffers-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, bytes: Buffer) => {
    fs.writeFileSync(path.join(dir, name), bytes);
    return path.join(dir, name);
  };
  const a = Buffer.alloc(3 * 1024 * 1024 + 7, 1);
  const b = Buffer.alloc(10, 2);
  const big = Buffer.alloc(5 * 1024 * 1024, 3);
  const buffers = new FileBuffers(1, 4 * 1024 * 1024);
  const readOf = async (file: string) => {
    const handle = await open(file, 'r');
    try {
      return await buffers.read(handle);
    } finally {
      await handle.close();
    }
  };
  const first = await readOf(write('a', a));
  t.ok(first.equals(a), 'a file of 3 MiB + 7: every byte');
  const memory = first.buffer;
  const other = await readOf(write('b', b));
  t.notEqual(other.buffer, memory, 'while the first is held, another buffer');
  buffers.give(first);
  buffers.give(other);
  const again = await readOf(path.join(dir, 'b'));
  t.ok(again.equals(b), 'a file of 10 bytes: its bytes');
  t.equal(again.buffer, memory, 'read into the buffer given back first (one is kept)');
  buffers.give(again);
  const past = await readOf(write('big', big));
  t.ok(past.length > 4 * 1024 * 1024, `a file larger than the largest: more bytes than that (${past.length}), for the caller to see`);
  buffers.give(Buffer.alloc(8));
  const after = await readOf(path.join(dir, 'b'));
  t.ok(after.equals(b), 'a buffer not from the pool is not taken back');
});
