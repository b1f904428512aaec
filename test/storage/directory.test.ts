// Directory operations of the storage API, with their errors, on every adapter x IO mode.
import { Mode } from '../../src/index.js';
import { bytes, CONFORMANCE, eachBackend, freshStorage, rejection } from '../helpers.js';

eachBackend(
  'directory create, open, read, EEXIST, ENOENT, ENOTDIR',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const root = storage.root;
    const logs = await root.createDirectory('logs');
    t.equal(logs.path, 'logs', 'path of a new directory');
    await rejection(t, root.createDirectory('logs'), 'EEXIST', 'create an existing directory');
    await rejection(t, root.openDirectory('missing'), 'ENOENT', 'open a missing directory');
    const file = await root.createFile('plain');
    await rejection(t, root.openDirectory('plain'), 'ENOTDIR', 'open a file as a directory');
    await rejection(t, root.openFile('logs'), 'EISDIR', 'open a directory as a file');
    await logs.createDirectory('sub');
    // an object store keeps no symlinks (test/remote/s3-adapter.test.ts checks the refusal)
    if (!backend.remote) await root.symlink('plain', 'link');
    const entries = (await root.read()).sort((a, b) => String(a.name).localeCompare(String(b.name)));
    t.deepEqual(
      entries,
      [...(backend.remote ? [] : [{ name: 'link', kind: 'symlink' }]), { name: 'logs', kind: 'directory' }, { name: 'plain', kind: 'file' }],
      'read lists children with their kind (and hides the temporary directory)',
    );
    const nested = await storage.openDirectory('logs/sub');
    t.equal(nested.path, 'logs/sub', 'path-based open walks from the root');
    t.deepEqual(await nested.read(), [], 'a new directory is empty');
    await Promise.all([nested.close(), logs.close(), file.close()]);
    await rejection(t, logs.read(), 'EBADF', 'read on a closed directory');
  },
  CONFORMANCE,
);

eachBackend(
  'directory rename: EEXIST by default, replace on request, handles follow',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const root = storage.root;
    const a = await root.createDirectory('a');
    const inside = await a.createFile('f');
    await inside.append(bytes('x'));
    await root.createDirectory('b');
    await rejection(t, a.rename('b'), 'EEXIST', 'rename onto an existing directory');
    t.equal(a.name, 'a', 'a failed rename changes nothing');
    await a.rename('c');
    t.equal(a.path, 'c', 'the handle knows its new name');
    t.equal(inside.path, 'c/f', 'a file handle inside follows');
    t.deepEqual((await root.read()).map((e) => e.name).sort(), ['b', 'c'], 'the old name is gone');
    await a.createFile('g');
    t.deepEqual((await (await root.openDirectory('c')).read()).map((e) => e.name).sort(), ['f', 'g'], 'the handle still works after rename');
    await a.rename('b', { replace: false }).catch(() => undefined);
    const empty = await root.createDirectory('empty');
    await empty.rename('b', { replace: true });
    t.deepEqual((await root.read()).map((e) => e.name).sort(), ['b', 'c'], 'replace: an empty directory is replaced');
    await rejection(t, storage.root.rename('x'), 'EBUSY', 'the root cannot be renamed');
  },
  CONFORMANCE,
);

eachBackend(
  'an open directory renamed by another handle (itself, or a directory above): its read and stat(name) reach its own entries',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const root = storage.root;
    const top = await root.createDirectory('top');
    const d = await top.createDirectory('d');
    await (await d.createFile('x')).close();
    // an object store numbers an inode by its key: a renamed directory's entries get other numbers
    const own = async () => {
      const stat = await open.stat('x');
      return backend.remote ? stat.kind : stat.ino;
    };
    const ino = backend.remote ? 'file' : (await d.stat('x')).ino;
    const open = await storage.openDirectory('top/d'); // as a mount's listing holds it
    await top.moveEntry('d', root, 'e');
    t.deepEqual(
      (await open.read()).map((e) => e.name),
      ['x'],
      'read after a rename of the directory',
    );
    t.equal(await own(), ino, 'stat(name) after it');
    await root.moveEntry('top', root, 'up');
    await root.moveEntry('e', await root.openDirectory('up'), 'f');
    t.deepEqual(
      (await open.read()).map((e) => e.name),
      ['x'],
      'read after renames of it and of the directory above',
    );
    t.equal(await own(), ino, 'stat(name) after them');
    await Promise.all([open.close(), d.close(), top.close()]);
  },
  CONFORMANCE,
);

eachBackend(
  'directory delete is recursive; the root cannot be deleted',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const top = await storage.root.createDirectory('top');
    const mid = await top.createDirectory('mid');
    const leaf = await mid.createDirectory('leaf');
    await (await leaf.createFile('deep')).close();
    await (await top.createFile('shallow')).close();
    await leaf.close();
    await mid.close();
    await top.delete();
    t.deepEqual(await storage.root.read(), [], 'the whole tree is gone');
    await rejection(t, top.read(), 'EBADF', 'the deleted directory handle is closed');
    await rejection(t, storage.root.delete(), 'EBUSY', 'deleting the root');
    await rejection(t, storage.root.removeDirectory('missing'), 'ENOENT', 'removeDirectory of a missing name');
    const full = await storage.root.createDirectory('full');
    await (await full.createFile('x')).close();
    await rejection(t, storage.root.removeDirectory('full'), 'ENOTEMPTY', 'removeDirectory of a non-empty directory');
  },
  CONFORMANCE,
);

eachBackend(
  'directory permission: Read forbids creating, Write forbids listing',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = await storage.root.createDirectory('d', Mode.Read);
    t.equal((await dir.stat()).mode & 0o700, 0o500, 'Mode.Read on a directory is r-x for the owner');
    await rejection(t, dir.createFile('x'), 'EACCES', 'create in a read-only directory');
    t.deepEqual(await dir.read(), [], 'listing is allowed');
    await dir.setPermission(Mode.Write);
    await rejection(t, dir.read(), 'EACCES', 'list a write-only directory');
    await (await dir.createFile('x')).close();
    await dir.setPermission(Mode.ReadAndWrite);
    t.deepEqual(
      (await dir.read()).map((e) => e.name),
      ['x'],
      'ReadAndWrite restores both',
    );
    await dir.setPermission(0o750);
    t.equal((await dir.stat()).mode & 0o7777, 0o750, 'a full POSIX mode is kept as given');
  },
  CONFORMANCE,
);

eachBackend(
  'names are checked before any system call',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const root = storage.root;
    await rejection(t, root.createFile(''), 'EINVAL', 'empty name');
    await rejection(t, root.createFile('a\0b'), 'EINVAL', 'name with NUL');
    await rejection(t, root.createFile('a/b'), 'EINVAL', "name with '/'");
    await rejection(t, root.createDirectory('..'), 'EINVAL', "name '..'");
    await rejection(t, root.createFile('x'.repeat(256)), 'ENAMETOOLONG', 'name of 256 bytes');
    await rejection(t, root.createFile('é'.repeat(128)), 'ENAMETOOLONG', 'name of 256 bytes in UTF-8');
    await rejection(t, root.createFile('.persistfs-tmp'), 'EINVAL', 'the reserved name at the root');
    await rejection(t, root.createFile(42 as unknown as string), 'EINVAL', 'a name that is not a string');
    await rejection(t, storage.openFile('../etc/passwd'), 'EXDEV', "a path with '..'");
    t.deepEqual(await root.read(), [], 'nothing was created');
    const ok = await root.createFile('x'.repeat(255));
    t.equal(ok.name.length, 255, 'a 255-byte name is fine');
  },
  CONFORMANCE,
);

eachBackend(
  'batch delete: all names checked first, then removed in order',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = storage.root;
    for (const name of ['a', 'b', 'c']) await (await dir.createFile(name)).close();
    await rejection(t, dir.deleteFiles(['a', 'b/']), 'EINVAL', 'a bad name in the batch');
    t.equal((await dir.read()).length, 3, 'a bad batch deletes nothing');
    await dir.deleteFiles(['a', 'b']);
    t.deepEqual(
      (await dir.read()).map((e) => e.name),
      ['c'],
      'the batch is gone',
    );
    const error = await rejection(t, dir.deleteFiles(['c', 'missing']), 'ENOENT', 'a missing file in the batch');
    t.match(error?.message ?? '', /after removing 1 of 2/, 'the error says how far the batch got');
  },
  CONFORMANCE,
);

eachBackend(
  'storage close closes every handle; later calls are EBADF',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = await storage.root.createDirectory('d');
    const file = await dir.createFile('f');
    await file.append(bytes('data'));
    t.equal(storage.openHandles, 3, 'root, directory and file are open');
    await storage.close();
    t.equal(storage.openHandles, 0, 'nothing is left open');
    await rejection(t, file.read(0, Buffer.alloc(4)), 'EBADF', 'read on a file of a closed storage');
    await rejection(t, dir.createFile('g'), 'EBADF', 'create in a directory of a closed storage');
    await rejection(t, storage.openFile('d/f'), 'EBADF', 'open through a closed storage');
    await storage.close();
    t.pass('closing twice is harmless');
  },
  CONFORMANCE,
);

eachBackend(
  'storage close with opens and creates in flight: the handles they give are closed too, nothing is left open',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = await storage.root.createDirectory('d');
    await (await dir.createFile('old')).close();
    // asked in the same tick as the close: each is already running on its directory, which close waits for
    const made = [dir.createFile('new'), dir.openFile('old'), dir.createDirectory('sub'), storage.root.openDirectory('d')];
    const closing = storage.close();
    const outcomes = await Promise.allSettled(made);
    await closing;
    t.equal(storage.openHandles, 0, 'nothing is left open');
    const handles = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    t.ok(handles.length > 0, `${handles.length} of the ${made.length} calls in flight gave a handle`);
    t.ok(
      handles.every((handle) => handle.isClosed),
      'every handle they gave is closed',
    );
  },
  CONFORMANCE,
);

eachBackend(
  'handles from path shortcuts can rename and delete themselves after their parent was closed',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    await storage.createDirectory('a');
    const file = await storage.createFile('a/seg.log');
    await file.rename('seg-2.log');
    t.equal(file.path, 'a/seg-2.log', 'a file renames itself');
    await file.delete();
    const dir = await storage.createDirectory('a/b');
    await dir.rename('c');
    t.deepEqual(
      (await (await storage.openDirectory('a')).read()).map((e) => e.name),
      ['c'],
      'a directory renames itself',
    );
  },
  CONFORMANCE,
);

eachBackend(
  'readFile and readFileIfExists: a whole file in one call; ENOENT, EISDIR; undefined when missing',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const root = storage.root;
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    await (await root.flushWrite('big', big)).close();
    await (await root.createFile('empty')).close();
    const handles = storage.openHandles;
    t.ok((await root.readFile('big')).equals(big), '3 MiB + 17 bytes read whole');
    t.equal((await root.readFile('empty')).length, 0, 'an empty file is an empty buffer');
    t.equal(await root.readFileIfExists('none'), undefined, 'readFileIfExists: undefined for a missing file');
    await rejection(t, root.readFile('none'), 'ENOENT', 'readFile of a missing file');
    await (await root.createDirectory('d')).close();
    await rejection(t, root.readFileIfExists('d'), 'EISDIR', 'a directory is EISDIR, not undefined');
    t.equal(storage.openHandles, handles, 'no handle left open by any of them');
  },
  CONFORMANCE,
);
