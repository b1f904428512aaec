// Files made without a name (Dir.createUnnamedFile, O_TMPFILE on local storage) and named through their
// handle (File.link): the name appears with the whole content or not at all.
import fs from 'node:fs';
import path from 'node:path';

import { Mode, openStorage } from '../../src/index.js';
import { bytes, eachBackend, freshStorage, LOCAL_MODES, rejection, S3_BACKEND, TIERED_BACKEND } from '../helpers.js';

const names = async (dir: { read(): Promise<Array<{ name: string | Buffer }>> }): Promise<string[]> =>
  (await dir.read()).map((entry) => String(entry.name)).sort();

eachBackend('createUnnamedFile: nothing lists the file until File.link names it, with what was written', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const root = storage.root;
  const before = await names(root);
  const file = await root.createUnnamedFile(0o640);
  t.equal(file.access, Mode.ReadAndWrite, 'open for reading and writing');
  t.equal(file.name, '', 'it has no name');
  await file.writeAt(0, bytes('whole content'));
  await file.sync();
  t.deepEqual(await names(root), before, 'the directory does not list it');
  const made = await file.stat();
  t.equal(made.nlink, 0, 'its link count is 0');
  t.equal(made.mode & 0o7777, 0o640, 'its permission is exact');
  await rejection(t, file.rename('r'), 'ENOENT', 'a rename of a file without a name');

  await file.link(root, 'named');
  t.equal(file.name, 'named', 'linked in the directory it was made in: the handle goes by that name');
  t.deepEqual(await names(root), [...before, 'named'].sort(), 'listed now');
  t.equal((await root.readFile('named')).toString(), 'whole content', 'with all it was written');
  t.equal((await root.stat('named')).ino, made.ino, 'the same file');
  t.equal((await file.stat()).nlink, 1, 'one link');
  await file.append(bytes('!'));
  t.equal((await root.readFile('named')).toString(), 'whole content!', 'a write through the handle after is the named file');

  const sub = await root.createDirectory('sub');
  await file.link(sub, 'second');
  t.equal((await file.stat()).nlink, 2, 'a second name, in another directory');
  t.equal(file.name, 'named', 'the handle keeps its name');
  await file.rename('renamed');
  t.deepEqual(await names(root), [...before, 'renamed', 'sub'].sort(), 'and renames by it');
  await file.close();
  t.equal((await sub.readFile('second')).toString(), 'whole content!', 'the second name reads the same');
});

eachBackend('createUnnamedFile: closed without a name, nothing is left', async (t, backend) => {
  const { storage, root } = await freshStorage(t, backend);
  const before = await names(storage.root);
  const file = await storage.root.createUnnamedFile();
  await file.append(bytes('gone'));
  await file.close();
  t.deepEqual(await names(storage.root), before, 'the directory lists what it did before');
  if (backend.local) t.deepEqual(fs.readdirSync(path.join(root, '.persistfs-tmp')), [], 'nothing in the storage temporary directory either');
});

eachBackend('File.link: errors change nothing', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const root = storage.root;
  await (await root.createFile('taken')).close();
  const file = await root.createUnnamedFile();
  await file.append(bytes('x'));
  await rejection(t, file.link(root, 'taken'), 'EEXIST', 'a name that is taken');
  await rejection(t, file.link(root, ''), 'EINVAL', 'an empty name');
  await rejection(t, file.link(root, 'a/b'), 'EINVAL', "a name with '/'");
  t.equal(file.name, '', 'still without a name');
  t.equal((await file.stat()).nlink, 0, 'and its link count 0');
  await rejection(t, root.createUnnamedFile(Mode.ReadAndWrite, { access: Mode.Read }), 'EINVAL', 'a file without a name opened read-only');
  await file.link(root, 'then');
  await file.delete();
  const again = await root.createUnnamedFile();
  await again.link(root, 'once');
  await root.deleteFile('once');
  await rejection(t, again.link(root, 'twice'), 'ENOENT', 'named once, then unnamed: not named again (as linkat(2))');
  await again.close();
  t.deepEqual(await names(root), ['taken'], 'nothing else is left ("then" was deleted, "once" too)');
});

eachBackend(
  'createUnnamedFile on a read-only storage: EROFS',
  async (t, backend) => {
    const { storage, root } = await freshStorage(t, backend);
    await storage.close();
    const reader = await openStorage(root, { ...backend.options, readOnly: true });
    t.teardown(() => reader.close());
    await rejection(t, reader.root.createUnnamedFile(), 'EROFS', 'a file without a name on a read-only storage');
  },
  LOCAL_MODES,
);

eachBackend(
  'createUnnamedFile where the storage has no files without a name: EOPNOTSUPP',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const error = await rejection(t, storage.root.createUnnamedFile(), 'EOPNOTSUPP', 'on an object store');
    t.match(error?.message ?? '', /temporary name, then rename/, 'the message says what to do instead');
    const file = await storage.root.createFile('plain');
    await rejection(t, file.link(storage.root, 'other'), 'EOPNOTSUPP', 'a link through a handle');
    await file.close();
  },
  [S3_BACKEND, TIERED_BACKEND],
);
