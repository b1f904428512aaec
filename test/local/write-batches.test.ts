// The local file's queue: writes and appends issued together past the end of a file go down together,
// as one write of the batch, wherever the caller decided between writeAt and append.
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { withKind } from '../../src/adapters/local/fd-node.js';
import { InodeTable } from '../../src/adapters/local/inode-table.js';
import { LocalFile } from '../../src/adapters/local/local-file.js';
import { O, type IoEngine } from '../../src/io/engine.js';
import { UringEngine } from '../../src/io/uring-engine.js';
import { storageError } from '../../src/ground/errors.js';
import { tempDir } from '../helpers.js';

/** `engine` with its write and writev calls counted. */
function counted(engine: IoEngine): { engine: IoEngine; writes: () => number } {
  let writes = 0;
  const proxy = new Proxy(engine, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (key === 'write' || key === 'writev') writes++;
        return value.apply(target, args);
      };
    },
  });
  return { engine: proxy, writes: () => writes };
}

/** A new file 'f' in a temporary directory, opened through `uring`, written through `engine`. */
async function newLocalFile(t: test.Test, uring: UringEngine, engine: IoEngine) {
  const dir = tempDir(t);
  const dirfd = fs.openSync(dir, 'r');
  const fd = await uring.openat(dirfd, 'f', O.RDWR | O.CREAT, 0o644);
  const stat = await uring.statx(fd, '');
  const inodes = new InodeTable();
  return { dir, dirfd, file: new LocalFile(engine, inodes, fd, inodes.acquire(stat), 0, withKind(stat)) };
}

test('100 writes, each where the one before ended, issued together past the end: a few writes down, the bytes in order', async (t) => {
  const uring = new UringEngine({ queueDepth: 64, submitThreshold: 32 });
  const { engine, writes } = counted(uring);
  const { dir, dirfd, file } = await newLocalFile(t, uring, engine);
  const piece = (i: number) => Buffer.alloc(100, i);
  await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 3 === 2 ? file.append([piece(i)]) : file.write([piece(i)], i * 100))));
  t.ok(writes() <= 3, `${writes()} writes for 100 (the first goes alone, the rest wait for it and go together)`);
  t.equal(file.size(), 10_000, 'the size counts them all');
  const content = fs.readFileSync(path.join(dir, 'f'));
  t.ok(Array.from({ length: 100 }, (_, i) => content.subarray(i * 100, (i + 1) * 100).every((b) => b === i)).every(Boolean), 'each write where it was issued');
  await file.close();
  fs.closeSync(dirfd);
  await uring.close();
});

test('an append with nothing queued goes down at once; when it fails part-way it is cut back, and an append queued behind it lands at the clean end', async (t) => {
  const uring = new UringEngine({ queueDepth: 64, submitThreshold: 32 });
  let failNext = false;
  // the first write puts down 10 bytes of its record, then fails as a full disk would
  const engine = new Proxy(uring, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key !== 'write' || !failNext) return typeof value === 'function' ? value.bind(target) : value;
      return async (fd: number, buffer: Uint8Array, _offset: number, _length: number, position: number) => {
        failNext = false;
        await target.write(fd, buffer, 0, 10, position);
        throw storageError('ENOSPC', 'no space left (injected)');
      };
    },
  });
  const { dir, dirfd, file } = await newLocalFile(t, uring, engine);
  t.equal(await file.append([Buffer.alloc(100, 1)]), 0, 'an append alone: at 0');
  failNext = true;
  const failing = file.append([Buffer.alloc(100, 2)]);
  const behind = file.append([Buffer.alloc(100, 3)]);
  const failure = await failing.catch((error: unknown) => error);
  t.equal((failure as { code?: string }).code, 'ENOSPC', 'the failed append rejects with its error');
  t.equal(await behind, 100, 'the append behind it starts where the failed one began');
  t.equal(file.size(), 200, 'the size counts the two that succeeded');
  const content = fs.readFileSync(path.join(dir, 'f'));
  t.equal(content.length, 200, 'nothing of the failed record is left past them');
  t.ok(
    content.subarray(100).every((b) => b === 3),
    'the second record is whole where the failed one was cut back',
  );
  await file.close();
  fs.closeSync(dirfd);
  await uring.close();
});
