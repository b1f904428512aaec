// Names are bytes, end to end: a name that is not UTF-8 is passed and given back as a Buffer, never
// replaced, so two such names never become one; a string that is not well-formed Unicode is EINVAL.
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { decodeName, encodeName, isWellFormed, nameByteLength } from '../../src/ground/name-bytes.js';
import { openStorage } from '../../src/index.js';
import { CONFORMANCE, eachBackend, freshStorage, LOCAL_MODES, rejection, tempDir } from '../helpers.js';

const b = (...bytes: number[]) => Buffer.from(bytes);
const text = async (file: { read(offset: number, buffer: Buffer): Promise<number>; close(): Promise<void> }) => {
  const buffer = Buffer.alloc(64);
  const n = await file.read(0, buffer);
  await file.close();
  return buffer.toString('utf8', 0, n);
};

test('the name codec: lossless for any bytes, UTF-8 text unchanged', (t) => {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const seen = new Map<string, string>();
  let collisions = 0;
  let mismatches = 0;
  for (let i = 0; i < 20_000; i++) {
    const bytes = Buffer.from(
      Array.from({ length: 1 + Math.floor(random() * 12) }, () => (random() < 0.5 ? 0x80 + Math.floor(random() * 128) : Math.floor(random() * 256))),
    );
    const name = decodeName(bytes);
    if (!encodeName(name).equals(bytes)) mismatches++;
    if (nameByteLength(name) !== bytes.length) mismatches++;
    const hex = bytes.toString('hex');
    if (seen.has(name) && seen.get(name) !== hex) collisions++;
    seen.set(name, hex);
  }
  t.equal(mismatches, 0, '20,000 random byte strings decode and encode back to themselves, lengths in bytes');
  t.equal(collisions, 0, 'no two byte strings decode to the same name');
  for (const sample of ['plain', 'é', '日本語', '😀 emoji', 'a\uFFFDb']) {
    t.equal(decodeName(Buffer.from(sample)), sample, `valid UTF-8 is the string itself: ${sample}`);
  }
  t.notOk(isWellFormed(decodeName(b(0xff))), 'an invalid byte is escaped (not a well-formed string)');
  t.ok(encodeName(decodeName(b(0xed, 0xa0, 0x80))).equals(b(0xed, 0xa0, 0x80)), 'an encoded surrogate (invalid UTF-8) survives');
  t.ok(encodeName(decodeName(b(0xc0, 0xaf))).equals(b(0xc0, 0xaf)), 'an overlong form survives');
  t.ok(encodeName(decodeName(b(0xf0, 0x9f, 0x98))).equals(b(0xf0, 0x9f, 0x98)), 'a cut sequence survives');
  t.end();
});

eachBackend(
  'names that are not UTF-8 stay distinct and come back as their bytes',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const root = storage.root;
    await (await root.flushWrite(b(0xff), Buffer.from('FF'))).close();
    await (await root.flushWrite(b(0xfe), Buffer.from('FE'))).close();
    t.equal(await text(await root.openFile(b(0xff))), 'FF', '\\xff holds its own content');
    t.equal(await text(await root.openFile(b(0xfe))), 'FE', '\\xfe holds its own content');
    const names = (await root.read()).map((entry) => entry.name);
    t.equal(names.length, 2, 'two entries');
    t.ok(
      names.every((name) => Buffer.isBuffer(name)),
      'listed as Buffers',
    );
    t.deepEqual(names.map((name) => (name as Buffer).toString('hex')).sort(), ['fe', 'ff'], 'with their exact bytes');

    const mixed = Buffer.concat([Buffer.from('raw'), b(0xfd), Buffer.from('é')]);
    const file = await root.createFile(mixed);
    t.ok(Buffer.isBuffer(file.name) && (file.name as Buffer).equals(mixed), 'File.name gives the bytes back');
    await file.rename(b(0x80, 0x81));
    t.ok((file.name as Buffer).equals(b(0x80, 0x81)), 'renamed to bytes');
    await file.close();
    const utf8 = await root.createFile(Buffer.from('é-utf8'));
    t.equal(utf8.name, 'é-utf8', 'a Buffer name that is UTF-8 is the same as the string');
    await utf8.close();
    await rejection(t, root.createFile('é-utf8'), 'EEXIST', 'and it is one entry with the string');

    const dir = await storage.createDirectory(Buffer.concat([Buffer.from('d'), b(0xff)]));
    t.ok(Buffer.isBuffer(dir.name), 'Dir.name too');
    await (await dir.createFile(b(0xc3))).close();
    await (await storage.openFile(Buffer.concat([Buffer.from('d'), b(0xff), Buffer.from('/'), b(0xc3)]))).close();
    t.pass('a path shortcut takes bytes');
    await dir.delete();
    t.pass('Dir.delete removes a tree of such names');

    await rejection(t, root.createFile(Buffer.alloc(256, 0xff)), 'ENAMETOOLONG', '256 bytes is too long, counted in bytes');
    await (await root.createFile(Buffer.alloc(255, 0xff))).close();
    t.pass('255 bytes is fine');
  },
  CONFORMANCE,
);

eachBackend(
  'a string that is not well-formed Unicode is EINVAL, never replaced',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const root = storage.root;
    await rejection(t, root.createFile('s\uD800'), 'EINVAL', 'a lone high surrogate');
    await rejection(t, root.createFile('s\uDC00'), 'EINVAL', 'a lone low surrogate');
    await rejection(t, root.createFile('s\uDCFF'), 'EINVAL', 'a lone surrogate in the escape range');
    await rejection(t, root.createDirectory('d\uD800'), 'EINVAL', 'createDirectory');
    await rejection(t, storage.createFile('x/\uDC80'), 'EINVAL', 'a path');
    await rejection(t, root.symlink('t\uD800', 'l'), 'EINVAL', 'a symlink target');
    t.deepEqual(await root.read(), [], 'nothing was made');
    const emoji = await root.createFile('😀');
    t.equal(emoji.name, '😀', 'a surrogate pair is fine');
    await emoji.close();
  },
  CONFORMANCE,
);

eachBackend('symlink targets and attribute names are bytes too', async (t, backend) => {
  const { storage, root: dirPath } = await freshStorage(t, backend);
  const root = storage.root;
  const target = Buffer.concat([Buffer.from('tgt'), b(0xff)]);
  await root.symlink(target, 'link');
  const back = await root.readlink('link');
  t.ok(Buffer.isBuffer(back) && back.equals(target), 'readlink gives the exact bytes');
  if (backend.local) t.ok(fs.readlinkSync(path.join(dirPath, 'link'), { encoding: 'buffer' }).equals(target), 'the backing link holds them');
  await root.symlink('plain', 'link2');
  t.equal(await root.readlink('link2'), 'plain', 'a UTF-8 target is a string');

  const file = await root.createFile('f');
  const attr = Buffer.concat([Buffer.from('user.a'), b(0xff)]);
  await file.setXattr(attr, Buffer.from('v1'));
  await file.setXattr('user.a\uFFFD', Buffer.from('v2'));
  t.equal((await file.getXattr(attr)).toString(), 'v1', 'the byte name has its value');
  t.equal((await file.getXattr('user.a\uFFFD')).toString(), 'v2', 'distinct from the U+FFFD name');
  const names = await file.listXattrs();
  t.ok(
    names.some((name) => Buffer.isBuffer(name) && name.equals(attr)),
    'listed as bytes',
  );
  t.ok(names.includes('user.a\uFFFD'), 'and the other as a string');
  await file.removeXattr(attr);
  await file.close();
});

eachBackend(
  'a file made in the backing directory with a name that is not UTF-8 is listed, opened and removed',
  async (t, backend) => {
    const dir = tempDir(t);
    fs.mkdirSync(path.join(dir, 'sub'));
    const raw = Buffer.concat([Buffer.from(path.join(dir, 'sub/raw')), b(0xfd)]);
    fs.writeFileSync(raw, 'made outside');
    fs.writeFileSync(Buffer.concat([Buffer.from(path.join(dir, 'sub/raw')), b(0xfe)]), 'its neighbour');
    const storage = await openStorage(dir, backend.options);
    t.teardown(() => storage.close());
    const sub = await storage.root.openDirectory('sub');
    const entries = await sub.read();
    const name = entries.map((entry) => entry.name).find((n) => Buffer.isBuffer(n) && n.at(-1) === 0xfd) as Buffer;
    t.ok(name?.equals(Buffer.concat([Buffer.from('raw'), b(0xfd)])), 'listed under its own bytes');
    t.equal(await text(await sub.openFile(name)), 'made outside', 'opened by them');
    await sub.delete();
    t.notOk(fs.existsSync(path.join(dir, 'sub')), 'the directory and both files are gone');
  },
  LOCAL_MODES,
);
