// The tiered adapter's block cache on its own (a memory directory, an object store that counts its ranged
// GETs), with the interleavings a real radosgw leaves to chance forced: a pin of a version while its
// uploaded copy is being adopted, and an eviction whose cached file is gone; and which blocks go past the
// budget (the least recently used).
import test from 'tape';

import { READ_WRITE, type DirNode } from '../../src/adapters/adapter.js';
import { MemoryAdapter } from '../../src/adapters/memory-adapter.js';
import type { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { BlockCache } from '../../src/adapters/tiered/block-cache.js';

const BLOCK = 4096;

/** Objects by key, served by ranged streams; `gets` counts them. */
class FakeStore {
  readonly objects = new Map<string, Buffer>();
  gets = 0;
  /** the chunks the cache gave back once written */
  readonly givenBack: Uint8Array[] = [];

  giveBack(chunks: readonly Uint8Array[]): void {
    this.givenBack.push(...chunks);
  }

  async *stream(key: string, offset: number, _etag: string | undefined, length?: number): AsyncGenerator<Buffer, void, undefined> {
    this.gets++;
    const data = this.objects.get(key);
    if (data === undefined) throw Object.assign(new Error(`no object ${key}`), { code: 'ENOENT' });
    yield data.subarray(offset, length === undefined ? data.length : offset + length);
  }
}

const pattern = (size: number, seed: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + seed) % 251));

/** A cache of `cacheSize` bytes in a memory directory; no read-ahead unless `ahead` says how much (and in GETs of how much). */
async function setup(cacheSize: number, ahead = { readAhead: 0, fetchSize: BLOCK }) {
  const root = await new MemoryAdapter().openRoot();
  await root.mkdir('staging', 0o755);
  await root.mkdir('cache', 0o755);
  const staging = await root.openDir('staging');
  const dir = await root.openDir('cache');
  const store = new FakeStore();
  const cache = new BlockCache(store as unknown as ObjectStore, dir, { cacheSize, blockSize: BLOCK, ...ahead }, undefined);
  return { staging, dir, store, cache };
}

async function stage(dir: DirNode, name: string, data: Buffer): Promise<void> {
  const file = await dir.createFile(name, 0o600, READ_WRITE);
  await file.write([data], 0);
  await file.close();
}

async function readAll(cache: BlockCache, key: string, etag: string, size: number): Promise<Buffer> {
  const object = await cache.pin(key, etag, size);
  try {
    const buffer = Buffer.alloc(size);
    const n = await cache.read(object, buffer, 0);
    return buffer.subarray(0, n);
  } finally {
    await cache.unpin(object);
  }
}

test('block cache: an open of a version while its uploaded copy is adopted reads the copy, and evictions leave it whole', async (t) => {
  const { staging, store, cache } = await setup(4 * BLOCK);
  const data = pattern(3 * BLOCK, 7);
  store.objects.set('a', data);
  await stage(staging, 'upload-1', data);
  // the adopt's rename held until the open has started
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const held: DirNode = Object.create(staging, {
    rename: { value: async (...args: Parameters<DirNode['rename']>) => gate.then(() => staging.rename(...args)) },
  });
  const adopted = cache.adopt(held, 'upload-1', 'a', 'etag-1', data.length);
  const opened = cache.pin('a', 'etag-1', data.length);
  await new Promise((resolve) => setImmediate(resolve));
  release();
  await adopted;
  const object = await opened;
  const buffer = Buffer.alloc(data.length);
  await cache.read(object, buffer, 0);
  await cache.unpin(object);
  t.ok(buffer.equals(data), 'the open read the object');
  t.equal(store.gets, 0, 'from the adopted copy, without a GET');
  // another object read in full: the budget (4 blocks) evicts blocks of the first
  store.objects.set('b', pattern(3 * BLOCK, 9));
  t.ok((await readAll(cache, 'b', 'etag-b', 3 * BLOCK)).equals(store.objects.get('b')!), 'the second object reads right');
  t.ok(
    store.givenBack.length > 0 && store.givenBack.every((chunk) => chunk.buffer === store.objects.get('b')!.buffer),
    `the chunks its GETs brought were given back once written (${store.givenBack.length})`,
  );
  t.ok(cache.bytes <= 4 * BLOCK, `the cache holds ${cache.bytes} bytes, within its budget`);
  t.ok((await readAll(cache, 'a', 'etag-1', data.length)).equals(data), 'the first object reads right after the evictions');
  t.ok((await readAll(cache, 'b', 'etag-b', 3 * BLOCK)).equals(store.objects.get('b')!), 'and the second again');
});

test('block cache: an eviction whose cached file is gone does not fail the read that made room', async (t) => {
  const { staging, dir, store, cache } = await setup(4 * BLOCK);
  const data = pattern(3 * BLOCK, 3);
  store.objects.set('a', data);
  await stage(staging, 'upload-1', data);
  await cache.adopt(staging, 'upload-1', 'a', 'etag-1', data.length);
  // the cached file removed behind the cache's back (what a removal racing the eviction left)
  for (const entry of await dir.list()) await dir.unlink(entry.name);
  store.objects.set('b', pattern(2 * BLOCK, 5));
  const read = await readAll(cache, 'b', 'etag-b', 2 * BLOCK).catch((error: unknown) => error);
  t.ok(
    Buffer.isBuffer(read) && read.equals(store.objects.get('b')!),
    `the read that evicted blocks of the first object succeeded (${read instanceof Error ? read.message : 'bytes right'})`,
  );
});

test('block cache: two versions opened at once leave one cached object, and each open reads its own version', async (t) => {
  const { store, cache } = await setup(16 * BLOCK);
  const v1 = pattern(2 * BLOCK, 1);
  const v2 = pattern(2 * BLOCK, 2);
  store.objects.set('a', v1);
  const first = await cache.pin('a', 'etag-1', v1.length);
  const one = Buffer.alloc(v1.length);
  await cache.read(first, one, 0);
  // a new version behind our back; two opens of it at once, while the old one is still open
  store.objects.set('a', v2);
  const [second, third] = await Promise.all([cache.pin('a', 'etag-2', v2.length), cache.pin('a', 'etag-2', v2.length)]);
  t.equal(second, third, 'both opens of the new version share one cached object');
  const two = Buffer.alloc(v2.length);
  await cache.read(second, two, 0);
  t.ok(one.equals(v1) && two.equals(v2), 'each open read its version');
  await cache.unpin(first);
  await cache.unpin(second);
  await cache.unpin(third);
  t.ok((await readAll(cache, 'a', 'etag-2', v2.length)).equals(v2), 'the new version reads right once the old one closed');
});

test('block cache: a GET still streaming when the last handle closes and a new one opens serves the new handle (no ESTALE)', async (t) => {
  const { dir, cache } = await setup(16 * BLOCK);
  const data = pattern(2 * BLOCK, 4);
  // the GET yields block 0, then waits for `streamGate` before block 1
  let openStream!: () => void;
  const streamGate = new Promise<void>((resolve) => {
    openStream = resolve;
  });
  let gets = 0;
  const store = {
    async *stream(_key: string, offset: number, _etag: string | undefined, length?: number): AsyncGenerator<Buffer, void, undefined> {
      gets++;
      const end = length === undefined ? data.length : offset + length;
      if (gets > 1) {
        yield data.subarray(offset, end);
        return;
      }
      yield data.subarray(offset, Math.min(end, offset + BLOCK));
      await streamGate;
      if (offset + BLOCK < end) yield data.subarray(offset + BLOCK, end);
    },
    giveBack(): void {},
  };
  (cache as unknown as { store: unknown }).store = store;
  // the first handle's file: its first write (block 0) waits for `writeGate`
  let openWrite!: () => void;
  const writeGate = new Promise<void>((resolve) => {
    openWrite = resolve;
  });
  const createFile = dir.createFile.bind(dir);
  let made = 0;
  dir.createFile = async (...args: Parameters<DirNode['createFile']>) => {
    const file = await createFile(...args);
    if (made++ > 0) return file;
    let first = true;
    return Object.create(file, {
      write: {
        value: async (...write: Parameters<typeof file.write>) => {
          if (first) {
            first = false;
            await writeGate;
          }
          return file.write(...write);
        },
      },
    }) as typeof file;
  };
  const first = await cache.pin('a', 'etag-1', data.length);
  // blocks 0 and 1 by one GET (a read-ahead's)
  const fetching = (cache as unknown as { fetch(object: unknown, first: number, count: number): Promise<void> }).fetch(first, 0, 2);
  fetching.catch(() => undefined);
  await new Promise((resolve) => setImmediate(resolve));
  // the handle closes while block 0's write is under way; block 1 arrives with no file open
  const unpinned = cache.unpin(first);
  openStream();
  await new Promise((resolve) => setImmediate(resolve));
  // a new handle opens and reads block 1, which the GET still fetches
  const second = await cache.pin('a', 'etag-1', data.length);
  const buffer = Buffer.alloc(BLOCK);
  const read = cache.read(second, buffer, BLOCK).then(
    () => 'read',
    (error: { code?: string }) => error.code,
  );
  await new Promise((resolve) => setImmediate(resolve));
  openWrite();
  await unpinned;
  t.equal(await read, 'read', 'the read of the new handle succeeded');
  t.ok(buffer.equals(data.subarray(BLOCK, 2 * BLOCK)), 'with the bytes of block 1');
  await cache.unpin(second);
});

test('block cache: a version opened again while an older handle of it is still open (another version came between) keeps its bytes through evictions', async (t) => {
  const { store, cache } = await setup(2 * BLOCK);
  const v1 = pattern(3 * BLOCK, 11);
  const v2 = pattern(3 * BLOCK, 12);
  store.objects.set('a', v1);
  const first = await cache.pin('a', 'etag-1', v1.length);
  // its first block only: a later eviction of the same file's blocks punches holes, not the whole file away
  await cache.read(first, Buffer.alloc(BLOCK), 0);
  // another version, opened and closed; then the first version again (the file written back as it was)
  store.objects.set('a', v2);
  t.ok((await readAll(cache, 'a', 'etag-2', v2.length)).equals(v2), 'the second version reads right');
  store.objects.set('a', v1);
  t.ok((await readAll(cache, 'a', 'etag-1', v1.length)).equals(v1), 'the first version opened again reads right');
  // the first handle, open all along, reads again after the evictions of that close
  const again = Buffer.alloc(BLOCK);
  await cache.read(first, again, 0);
  await cache.unpin(first);
  t.ok(again.equals(v1.subarray(0, BLOCK)), `the handle open all along reads its bytes (${again.filter((byte) => byte === 0).length} zero bytes)`);
});

test('block cache: past its budget the least recently used block goes first, not the least recently fetched', async (t) => {
  const { store, cache } = await setup(4 * BLOCK);
  // one block each, fetched in this order: a first
  for (const [seed, key] of ['a', 'b', 'c', 'd', 'e', 'f'].entries()) store.objects.set(key, pattern(BLOCK, seed));
  const read = async (key: string) => {
    const before = store.gets;
    const bytes = await readAll(cache, key, `etag-${key}`, BLOCK);
    t.ok(bytes.equals(store.objects.get(key)!), `${key} reads right`);
    return store.gets - before;
  };
  for (const key of ['a', 'b', 'c', 'd']) await read(key);
  t.equal(cache.bytes, 4 * BLOCK, 'four blocks held: the budget');
  t.equal(await read('a'), 0, 'a, the oldest fetched, read again from the cache: now the most recently used');
  // two new blocks: two must go, the least recently used (b and c), not the first fetched (a)
  await read('e');
  await read('f');
  t.equal(cache.bytes, 4 * BLOCK, 'still four blocks held');
  for (const key of ['a', 'd', 'e', 'f']) t.equal(await read(key), 0, `${key} is still cached (no GET)`);
  t.equal(await read('b'), 1, 'b, least recently used, was evicted (a GET)');
  t.equal(await read('c'), 1, 'c, next least recently used, was evicted (a GET)');
});

test('block cache: the GETs of a sequential read stream at once, their blocks are written into the file one write at a time', async (t) => {
  // read-ahead of 8 blocks in GETs of 2: several GETs in flight
  const { dir, cache } = await setup(64 * BLOCK, { readAhead: 8 * BLOCK, fetchSize: 2 * BLOCK });
  const data = pattern(16 * BLOCK, 9);
  let streaming = 0;
  let mostStreaming = 0;
  const store = {
    async *stream(_key: string, offset: number, _etag: string | undefined, length?: number): AsyncGenerator<Buffer, void, undefined> {
      streaming++;
      mostStreaming = Math.max(mostStreaming, streaming);
      try {
        const end = length === undefined ? data.length : offset + length;
        for (let at = offset; at < end; at += BLOCK) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          yield data.subarray(at, Math.min(end, at + BLOCK));
        }
      } finally {
        streaming--;
      }
    },
    giveBack(): void {},
  };
  (cache as unknown as { store: unknown }).store = store;
  // each write of the cached file takes a while, and counts how many run at once
  let writing = 0;
  let mostWriting = 0;
  let writes = 0;
  const createFile = dir.createFile.bind(dir);
  dir.createFile = async (...args: Parameters<DirNode['createFile']>) => {
    const file = await createFile(...args);
    return Object.create(file, {
      write: {
        value: async (...write: Parameters<typeof file.write>) => {
          writing++;
          writes++;
          mostWriting = Math.max(mostWriting, writing);
          try {
            await new Promise((resolve) => setTimeout(resolve, 5));
            return await file.write(...write);
          } finally {
            writing--;
          }
        },
      },
    }) as typeof file;
  };
  const object = await cache.pin('a', 'etag-1', data.length);
  const ahead = cache.readAhead();
  const read = Buffer.alloc(data.length);
  for (let at = 0; at < data.length; at += BLOCK) {
    const n = await cache.read(object, read.subarray(at, at + BLOCK), at, ahead);
    t.equal(n, BLOCK, `the read at block ${at / BLOCK} is whole`);
  }
  t.ok(read.equals(data), 'the object read back as it is');
  t.ok(mostStreaming >= 2, `GETs streamed at once (${mostStreaming})`);
  t.ok(writes >= 8, `the blocks were written (${writes} writes)`);
  t.equal(mostWriting, 1, 'never two writes of the file at once');
  await cache.unpin(object);
});
