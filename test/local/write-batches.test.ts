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

test('100 writes, each where the one before ended, issued together past the end: a few writes down, the bytes in order', async (t) => {
  const uring = new UringEngine({ queueDepth: 64, submitThreshold: 32 });
  const { engine, writes } = counted(uring);
  const dir = tempDir(t);
  const dirfd = fs.openSync(dir, 'r');
  const fd = await uring.openat(dirfd, 'f', O.RDWR | O.CREAT, 0o644);
  const stat = await uring.statx(fd, '');
  const inodes = new InodeTable();
  const file = new LocalFile(engine, inodes, fd, inodes.acquire(stat), 0, withKind(stat));
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
