// A bad argument reaching the ring must not leave a stale SQE behind (it would be submitted again with
// the next batch, writing old data with a buffer JavaScript no longer holds), and a caller changing its
// buffer array after the call must not change what is written.
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { openStorage } from '../../src/index.js';
import { UringEngine } from '../../src/io/uring-engine.js';
import { O } from '../../src/io/engine.js';
import { alignedBuffer } from '../../src/storage/aligned.js';
import { openDirect, tempDir } from '../helpers.js';

test('a rejected request on the ring leaves no stale SQE: later batches write only what they were given (O_DIRECT: writes on the ring)', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'g'), '');
  const dirfd = fs.openSync(dir, 'r');
  t.teardown(() => fs.closeSync(dirfd));
  const engine = new UringEngine({ queueDepth: 4, submitThreshold: 4 });
  t.teardown(() => engine.close());
  const fd = await openDirect(t, engine, dirfd, 'g');
  if (fd === undefined) return;
  const block = (text: string) => {
    const buffer = alignedBuffer(4096);
    buffer.fill(0x20);
    buffer.write(text);
    return buffer;
  };
  const before = engine.counters().submitted;
  for (let i = 0; i < 8; i++) await engine.write(fd, block(`old write ${i}`), 0, 4096, 0);
  t.ok(engine.counters().submitted - before >= 8, 'the writes went on the ring');
  try {
    await engine.writev(fd, [block('ok'), 'not a buffer' as unknown as Buffer], 0);
    t.fail('a writev with a string succeeded');
  } catch (error) {
    t.equal((error as { code: string }).code, 'EINVAL', 'the bad writev is refused');
  }
  await engine.write(fd, block('new write!!'), 0, 4096, 0);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(fs.readFileSync(path.join(dir, 'g'), 'utf8').trimEnd(), 'new write!!', 'the file has the last write only');
  await engine.closeFd(fd);
  await engine.close();
});

test('a buffered write goes to the pool: a bad writev is refused (EINVAL), nothing is left in flight, good ones land', async (t) => {
  const dir = tempDir(t);
  const dirfd = fs.openSync(dir, 'r');
  t.teardown(() => fs.closeSync(dirfd));
  const engine = new UringEngine({ queueDepth: 4, submitThreshold: 4 });
  const fd = await engine.openat(dirfd, 'g', O.RDWR | O.CREAT, 0o644);
  const before = engine.counters();
  t.equal(await engine.write(fd, Buffer.from('buffered\n'), 0, 9, 0), 9, 'a write');
  t.equal(await engine.writev(fd, [Buffer.from('and '), Buffer.from('more\n')], 9), 9, 'a writev');
  t.equal(engine.counters().submitted, before.submitted, 'neither went on the ring');
  try {
    await engine.writev(fd, [Buffer.from('ok'), 'not a buffer' as unknown as Buffer], 0);
    t.fail('a writev with a string succeeded');
  } catch (error) {
    t.equal((error as { code: string }).code, 'EINVAL', 'the bad writev is refused');
  }
  t.equal(engine.counters().poolCalls, 0, 'nothing left counted in flight');
  t.equal(fs.readFileSync(path.join(dir, 'g'), 'utf8'), 'buffered\nand more\n', 'the good writes landed, the bad one changed nothing');
  await engine.closeFd(fd);
  await engine.close();
  t.pass('the engine closes');
});

test('changing the array after appendv returned does not change what is written', async (t) => {
  const storage = await openStorage(tempDir(t), { config: { ioMode: 'io_uring', queueDepth: 4, logLevel: 'warn' } });
  t.teardown(() => storage.close());
  const file = await storage.createFile('f');
  const first = file.append(Buffer.from('first\n'));
  const buffers: Buffer[] = [Buffer.from('second-1\n'), Buffer.from('second-2\n')];
  const second = file.appendv(buffers);
  buffers[1] = 'changed' as unknown as Buffer;
  buffers.length = 1;
  t.deepEqual([await first, await second], [0, 6], 'both appends land');
  const content = Buffer.alloc(await file.size());
  await file.read(0, content);
  t.equal(content.toString(), 'first\nsecond-1\nsecond-2\n', 'with the buffers as they were at the call');
});

test('a ring takes one descriptor, its own: completions are seen on it (no eventfd beside it)', async (t) => {
  const dirfd = fs.openSync(tempDir(t), 'r');
  t.teardown(() => fs.closeSync(dirfd));
  const open = () => fs.readdirSync('/proc/self/fd').length;
  const before = open();
  const engine = new UringEngine({ queueDepth: 4, submitThreshold: 4 });
  t.equal(open() - before, 1, 'one descriptor more while the ring is open');
  const fd = await engine.openat(dirfd, 'f', O.RDWR | O.CREAT, 0o644);
  // the open (an io-wq worker's completion), buffered writes (the pool) and a statx, each awaited: every one is seen
  for (let i = 0; i < 4; i++) t.equal(await engine.write(fd, Buffer.from('abcd'), 0, 4, 4 * i), 4, `write ${i} completes`);
  t.equal((await engine.statx(dirfd, 'f')).size, 16, 'the statx sees all of them');
  await engine.closeFd(fd);
  await engine.close();
  t.equal(open(), before, 'none left once it is closed');
});
