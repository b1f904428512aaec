// Holes, copies and fallocate's modes through the storage API (File.seek, File.copyFrom, File.allocate with
// Falloc): data and hole offsets of a sparse file, copy_file_range's content and the size it leaves,
// punching holes (zeros read back, blocks freed, size kept), keep-size and zero-range, and the errors, on
// every adapter x IO mode (holes and blocks on the local ones: the memory adapter keeps no holes).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Falloc, Mode, openStorage, type File } from '../../src/index.js';
import { BACKENDS, bytes, CONFORMANCE, eachBackend, freshStorage, LOCAL_MODES, mountTmpfs, rejection } from '../helpers.js';

const MiB = 1024 * 1024;
const BLOCK = 4096;

async function contents(file: File): Promise<Buffer> {
  const buffer = Buffer.alloc(await file.size());
  await file.read(0, buffer);
  return buffer;
}

/** 512-byte blocks the backing file holds (stat blocks). */
const blocksOf = async (file: File): Promise<number> => (await file.stat()).blocks;

eachBackend(
  'seek finds data and holes in a sparse file; ENXIO at or past the end',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('sparse');
    await file.writeAt(0, Buffer.alloc(BLOCK, 1));
    await file.writeAt(MiB, Buffer.alloc(BLOCK, 2));
    const size = MiB + BLOCK;
    t.equal(await file.seek(0, 'data'), 0, 'data at 0');
    t.equal(await file.seek(0, 'hole'), BLOCK, 'the hole starts after the first block');
    t.equal(await file.seek(BLOCK, 'data'), MiB, 'from the hole, the next data is at 1 MiB');
    t.equal(await file.seek(BLOCK + 100, 'hole'), BLOCK + 100, 'inside the hole, the hole is right there');
    t.equal(await file.seek(MiB + 10, 'data'), MiB + 10, 'inside data, data is right there');
    t.equal(await file.seek(MiB, 'hole'), size, 'the end of the file counts as a hole');
    await rejection(t, file.seek(size, 'data'), 'ENXIO', 'data at the end');
    await rejection(t, file.seek(size, 'hole'), 'ENXIO', 'a hole at the end');
    const past = await rejection(t, file.seek(size + MiB, 'data'), 'ENXIO', 'past the end');
    t.match(past?.message ?? '', /at or past the end of the file \(size 1052672\)/, 'the message says where the end is');
    await file.truncate(3 * MiB);
    await rejection(t, file.seek(size, 'data'), 'ENXIO', 'no data after the last block: a hole that runs to the end');
    t.equal(await file.seek(size, 'hole'), size, 'a hole that runs to the end');
    await rejection(t, file.seek(-1, 'data'), 'EINVAL', 'a negative offset');
    await rejection(t, file.seek(0, 'middle' as 'data'), 'EINVAL', "neither 'data' nor 'hole'");
  },
  LOCAL_MODES,
);

eachBackend(
  'seek on the memory adapter: every byte is data, as on a file system without holes',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('f');
    await file.writeAt(MiB, bytes('tail'));
    t.equal(await file.seek(10, 'data'), 10, 'data where asked');
    t.equal(await file.seek(10, 'hole'), MiB + 4, 'the only hole is the end');
    await rejection(t, file.seek(MiB + 4, 'data'), 'ENXIO', 'at the end');
  },
  BACKENDS.filter((backend) => !backend.local),
);

eachBackend(
  'copyFrom copies the content, grows the target and keeps its size right for appends',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const data = crypto.randomBytes(3 * MiB + 123);
    const source = await storage.root.createFile('source');
    await source.append(data);
    const target = await storage.root.createFile('target');
    t.equal(await target.copyFrom(source, 0, 0, data.length), data.length, 'the whole file in one call');
    t.equal(await target.size(), data.length, 'the target has its size');
    t.ok((await contents(target)).equals(data), 'and its content');
    t.equal((await target.stat()).size, data.length, 'in the backing store too');

    t.equal(await target.copyFrom(source, 10, 5, 100), 100, 'a range inside the target');
    t.ok((await contents(target)).subarray(5, 105).equals(data.subarray(10, 110)), 'lands at its offset');
    t.equal(await target.size(), data.length, 'a copy inside the file leaves the size');

    t.equal(await target.copyFrom(source, data.length - 50, 4 * MiB, 1000), 50, 'short only at the end of the source');
    t.equal(await target.size(), 4 * MiB + 50, 'a copy past the end grows the file');
    t.equal(await target.append(bytes('after')), 4 * MiB + 50, 'an append lands after the copy (the known size followed it)');
    const tail = Buffer.alloc(55);
    await target.read(4 * MiB, tail);
    t.equal(tail.toString('latin1'), `${data.subarray(data.length - 50).toString('latin1')}after`, 'the copy, then the append');
    const gap = Buffer.alloc(16);
    await target.read(4 * MiB - 16, gap);
    t.ok(gap.equals(Buffer.alloc(16)), 'the gap before it reads as zeros');

    t.equal(await target.copyFrom(source, data.length, 0, 10), 0, 'at the end of the source: 0');
    t.equal(await target.copyFrom(source, data.length + MiB, 0, 10), 0, 'past it: 0');
    t.equal(await target.copyFrom(source, 0, 0, 0), 0, 'a length of 0: 0');
    t.equal(await target.size(), 4 * MiB + 55, 'none of those changed the size');

    const again = await storage.root.openFile('target');
    t.equal(await again.copyFrom(target, 0, 5 * MiB, 10), 10, 'from one handle of a file to another, ranges apart');
    t.equal(await target.size(), 5 * MiB + 10, 'both handles see the new size');
  },
  CONFORMANCE,
);

eachBackend(
  'copyFrom refuses bad input and handles that may not read or write, and changes nothing',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const source = await storage.root.createFile('source');
    await source.append(bytes('0123456789'));
    const target = await storage.root.createFile('target');
    await target.append(bytes('abcdefghij'));
    const reader = await storage.root.openFile('target', { access: Mode.Read });
    const writer = await storage.root.openFile('source', { access: Mode.Write });
    const closed = await storage.root.openFile('source');
    await closed.close();

    await rejection(t, reader.copyFrom(source, 0, 0, 4), 'EBADF', 'into a handle open for reading only');
    const writeOnly = await rejection(t, target.copyFrom(writer, 0, 0, 4), 'EBADF', 'from a handle open for writing only');
    t.match(writeOnly?.message ?? '', /the source 'source' is open for writing only/, 'the message names the source');
    const closedError = await rejection(t, target.copyFrom(closed, 0, 0, 4), 'EBADF', 'from a closed handle');
    t.match(closedError?.message ?? '', /the source 'source' is closed/, 'says so');
    await rejection(t, target.copyFrom({} as File, 0, 0, 4), 'EINVAL', 'from something that is not a File');
    await rejection(t, target.copyFrom(source, -1, 0, 4), 'EINVAL', 'a negative source offset');
    await rejection(t, target.copyFrom(source, 0, -1, 4), 'EINVAL', 'a negative offset');
    await rejection(t, target.copyFrom(source, 0, 0, 1.5), 'EINVAL', 'a fractional length');
    await rejection(t, target.copyFrom(source, 0, 2 ** 53, 4), 'EFBIG', 'past the largest file size');
    const overlap = await rejection(t, target.copyFrom(target, 0, 2, 4), 'EINVAL', 'overlapping ranges of one file');
    t.match(overlap?.message ?? '', /overlap/, 'says so');
    await rejection(t, target.copyFrom(reader, 0, 2, 4), 'EINVAL', 'overlapping ranges of one file through two handles');
    t.equal((await contents(target)).toString(), 'abcdefghij', 'the target is unchanged');
    t.equal(await target.size(), 10, 'and its size');
    t.equal(await target.copyFrom(target, 0, 4, 4), 4, 'ranges of one file that only touch are fine');
    t.equal((await contents(target)).toString(), 'abcdabcdij', 'copied');
  },
  CONFORMANCE,
);

eachBackend(
  'copyFrom between a memory and a local storage is EINVAL',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const memory = await openStorage('/', { adapter: 'memory', config: { logLevel: 'warn' } });
    t.teardown(() => memory.close());
    const source = await memory.root.createFile('m');
    await source.append(bytes('memory'));
    const target = await storage.root.createFile('local');
    const error = await rejection(t, target.copyFrom(source, 0, 0, 6), 'EINVAL', 'another kind of storage');
    t.match(error?.message ?? '', /read and write to copy/, 'says what to do instead');
    t.equal(await target.size(), 0, 'nothing copied');
  },
  LOCAL_MODES,
);

eachBackend('allocate modes: punch hole, keep size, zero range; the size stays right', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const file = await storage.root.createFile('f');
  await file.append(Buffer.alloc(16 * BLOCK, 0xaa));
  await file.datasync();
  const size = 16 * BLOCK;
  const blocks = await blocksOf(file);

  await file.allocate(BLOCK, 2 * BLOCK, Falloc.PunchHole | Falloc.KeepSize);
  let now = await contents(file);
  t.ok(now.subarray(BLOCK, 3 * BLOCK).equals(Buffer.alloc(2 * BLOCK)), 'a punched hole reads as zeros');
  t.equal(now[BLOCK - 1], 0xaa, 'the byte before it is kept');
  t.equal(now[3 * BLOCK], 0xaa, 'and the byte after it');
  t.equal(await file.size(), size, 'the size stays');
  t.equal((await file.stat()).size, size, 'in the backing store too');
  if (backend.local) {
    t.equal(await blocksOf(file), blocks - (2 * BLOCK) / 512, 'its blocks are freed');
    t.equal(await file.seek(0, 'hole'), BLOCK, 'seek finds the hole');
    t.equal(await file.seek(BLOCK, 'data'), 3 * BLOCK, 'and the data after it');
  }

  await file.allocate(size, MiB, Falloc.KeepSize);
  t.equal(await file.size(), size, 'KeepSize past the end leaves the size');
  if (backend.local) t.ok((await blocksOf(file)) >= blocks + MiB / 512 - (2 * BLOCK) / 512, 'but allocates the blocks');

  await file.allocate(5 * BLOCK, BLOCK, Falloc.ZeroRange);
  now = await contents(file);
  t.ok(now.subarray(5 * BLOCK, 6 * BLOCK).equals(Buffer.alloc(BLOCK)), 'a zeroed range reads as zeros');
  t.equal(now[6 * BLOCK], 0xaa, 'the rest is kept');
  t.equal(await file.size(), size, 'ZeroRange inside the file leaves the size');

  await file.allocate(size - 10, 100, Falloc.ZeroRange | Falloc.KeepSize);
  t.equal(await file.size(), size, 'ZeroRange | KeepSize across the end leaves the size');
  now = await contents(file);
  t.ok(now.subarray(size - 10).equals(Buffer.alloc(10)), 'and zeroes what is inside');

  await file.allocate(size, 1000, Falloc.ZeroRange);
  t.equal(await file.size(), size + 1000, 'ZeroRange past the end grows the file');
  t.equal(await file.append(bytes('x')), size + 1000, 'an append lands after it');
  await file.allocate(2 * MiB, 10);
  t.equal(await file.size(), 2 * MiB + 10, 'mode 0 grows the file as before');
  t.equal((await file.stat()).size, 2 * MiB + 10, 'in the backing store too');
});

eachBackend('allocate refuses the modes it does not do (EOPNOTSUPP) and bad ones (EINVAL), and changes nothing', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const file = await storage.root.createFile('f');
  await file.append(Buffer.alloc(2 * BLOCK, 0xaa));
  const refused: Array<[number, string]> = [
    [Falloc.PunchHole, 'PunchHole without KeepSize (fallocate(2) refuses it too)'],
    [0x08, 'COLLAPSE_RANGE'],
    [0x20, 'INSERT_RANGE'],
    [0x40, 'UNSHARE_RANGE'],
    [Falloc.PunchHole | Falloc.ZeroRange | Falloc.KeepSize, 'PunchHole | ZeroRange'],
  ];
  for (const [mode, what] of refused) {
    const error = await rejection(t, file.allocate(0, BLOCK, mode), 'EOPNOTSUPP', what);
    t.match(error?.message ?? '', /Falloc\.PunchHole \| Falloc\.KeepSize/, `${what}: the message lists the modes there are`);
  }
  await rejection(t, file.allocate(0, BLOCK, -1), 'EINVAL', 'a negative mode');
  await rejection(t, file.allocate(0, BLOCK, 1.5), 'EINVAL', 'a fractional mode');
  await rejection(t, file.allocate(0, 0, Falloc.KeepSize), 'EINVAL', 'a length of 0');
  await rejection(t, file.allocate(-1, BLOCK, Falloc.PunchHole | Falloc.KeepSize), 'EINVAL', 'a negative offset');
  const reader = await storage.root.openFile('f', { access: Mode.Read });
  await rejection(t, reader.allocate(0, BLOCK, Falloc.PunchHole | Falloc.KeepSize), 'EBADF', 'punching through a handle open for reading');
  t.ok((await contents(file)).equals(Buffer.alloc(2 * BLOCK, 0xaa)), 'the content is unchanged');
  t.equal(await file.size(), 2 * BLOCK, 'and the size');
});

eachBackend(
  'a mode the backing file system lacks is EOPNOTSUPP (ZeroRange on tmpfs), and changes nothing',
  async (t, backend) => {
    const root = mountTmpfs(t, 4 * MiB);
    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());
    const file = await storage.root.createFile('f');
    await file.append(Buffer.alloc(BLOCK, 0xaa));
    await rejection(t, file.allocate(0, 2 * BLOCK, Falloc.ZeroRange), 'EOPNOTSUPP', 'tmpfs has no ZERO_RANGE');
    t.equal(await file.size(), BLOCK, 'the size is unchanged');
    t.equal(fs.statSync(path.join(root, 'f')).size, BLOCK, 'in the backing store too');
    await file.allocate(0, 100, Falloc.PunchHole | Falloc.KeepSize);
    t.equal((await contents(file)).subarray(0, 101).toString('hex'), `${'00'.repeat(100)}aa`, 'tmpfs punches holes');
  },
  LOCAL_MODES,
);
