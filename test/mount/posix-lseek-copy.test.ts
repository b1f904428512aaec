// The POSIX layer's lseek, copy_file_range and fallocate (mount/posix-fs.ts, shared by both transports)
// on a memory storage, without a mount: every whence, the copy between two open handles, the modes.
import test from 'tape';

import { PosixFs } from '../../mount/posix-fs.js';
import { openStorage } from '../../src/index.js';

const [SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE] = [0, 1, 2, 3, 4];

test('PosixFs: lseek for every whence, copy_file_range between handles, fallocate modes', async (t) => {
  const storage = await openStorage('/', { adapter: 'memory', config: { logLevel: 'warn' } });
  t.teardown(() => storage.close());
  const posix = new PosixFs(storage);
  const source = await posix.create('/source', 0o644);
  await posix.write(source, Buffer.from('0123456789'), 10, 0);
  const target = await posix.create('/target', 0o644);

  t.equal(await posix.lseek(source, 4, SEEK_SET), 4, 'SEEK_SET: the offset');
  t.equal(await posix.lseek(source, -3, SEEK_END), 7, 'SEEK_END: from the size');
  t.equal(await posix.lseek(source, 2, SEEK_DATA), 2, 'SEEK_DATA');
  t.equal(await posix.lseek(source, 2, SEEK_HOLE), 10, 'SEEK_HOLE: the end');
  const rejects = async (promise: Promise<unknown>, code: string, what: string) =>
    promise.then(
      () => t.fail(`${what}: expected ${code}`),
      (error: { code?: string }) => t.equal(error.code, code, `${what}: ${code}`),
    );
  await rejects(posix.lseek(source, 10, SEEK_DATA), 'ENXIO', 'SEEK_DATA at the end');
  await rejects(posix.lseek(source, 0, SEEK_CUR), 'EINVAL', 'SEEK_CUR: the position is not known here');
  await rejects(posix.lseek(source, -11, SEEK_END), 'EINVAL', 'before the start');
  await rejects(posix.lseek(99, 0, SEEK_SET), 'EBADF', 'an unknown handle');

  t.equal(await posix.copyFileRange(source, 2, target, 0, 100), 8, 'copy: short at the end of the source');
  t.equal((await posix.fstat(target)).size, 8, 'the target grew');
  await posix.fallocate(target, 0, 4, 0x02 | 0x01);
  const buffer = Buffer.alloc(8);
  await posix.read(target, buffer, 8, 0);
  t.equal(buffer.toString('latin1'), '\0\0\0\x006789', 'fallocate PUNCH_HOLE | KEEP_SIZE zeroes the range');
  await rejects(posix.fallocate(target, 0, 4, 0x02), 'EOPNOTSUPP', 'PUNCH_HOLE without KEEP_SIZE');
  await posix.close();
});
