// The backup's buffers for whole small files (src/backup/file-buffers.ts): whole contents, reused memory.
import fs from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
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

/** A file handle over `bytes` whose reads are counted, each answered after a turn of the event loop, at most `chunk` bytes at a time. */
function countedHandle(bytes: Buffer, chunk: number, log: { reads: number; inFlight: number; most: number }): FileHandle {
  return {
    read: async (buffer: Buffer, offset: number, length: number, position: number) => {
      log.reads++;
      log.most = Math.max(log.most, ++log.inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      log.inFlight--;
      const count = bytes.copy(buffer, offset, position, Math.min(bytes.length, position + Math.min(length, chunk)));
      return { bytesRead: count, buffer };
    },
  } as unknown as FileHandle;
}

test('file buffers: files are read one at a time, and a read that reaches the size expected is the last', async (t) => {
  const buffers = new FileBuffers(4, 1024 * 1024);
  const log = { reads: 0, inFlight: 0, most: 0 };
  const contents = [0, 1, 2, 3].map((n) => Buffer.alloc(100_000 + n, n + 1));
  const read = await Promise.all(contents.map((bytes) => buffers.read(countedHandle(bytes, 1 << 30, log), bytes.length)));
  t.ok(
    read.every((bytes, n) => bytes.equals(contents[n]!)),
    'every file whole',
  );
  t.equal(log.most, 1, 'never two reads at once');
  t.equal(log.reads, 4, 'one read a file: no read of the end after the size expected');
  for (const bytes of read) buffers.give(bytes);
  const pieces = { reads: 0, inFlight: 0, most: 0 };
  const whole = await buffers.read(countedHandle(contents[0]!, 40_000, pieces), contents[0]!.length);
  t.ok(whole.equals(contents[0]!), 'a file that comes in pieces: whole');
  t.equal(pieces.reads, 3, 'read until the size expected');
  buffers.give(whole);
  const grown = Buffer.alloc(150_000, 9);
  const more = await buffers.read(countedHandle(grown, 1 << 30, { reads: 0, inFlight: 0, most: 0 }), 100_000);
  t.equal(more.length, grown.length, 'a file larger than expected: all of it, for the caller to see');
  const failing = { read: () => Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })) } as unknown as FileHandle;
  await buffers.read(failing, 10).then(
    () => t.fail('a failed read fails'),
    (error: NodeJS.ErrnoException) => t.equal(error.code, 'EIO', 'a failed read fails'),
  );
  const after = await buffers.read(countedHandle(contents[1]!, 1 << 30, { reads: 0, inFlight: 0, most: 0 }), contents[1]!.length);
  t.ok(after.equals(contents[1]!), 'and the next read goes on');
});
