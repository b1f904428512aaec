// File operations of the storage API, with their errors, on every adapter x IO mode.
import { Mode } from '../../src/index.js';
import { bytes, CONFORMANCE, eachBackend, freshStorage, rejection } from '../helpers.js';

eachBackend(
  'file create, open, EEXIST, ENOENT',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = storage.root;
    const file = await dir.createFile('a');
    t.equal(file.access, Mode.ReadAndWrite, 'a new file is open for reading and writing');
    await rejection(t, dir.createFile('a'), 'EEXIST', 'create an existing file');
    await rejection(t, dir.openFile('b'), 'ENOENT', 'open a missing file');
    await rejection(t, storage.openFile('nowhere/b'), 'ENOENT', 'open below a missing directory');
    const again = await dir.openFile('a');
    await file.append(bytes('shared'));
    t.equal(await again.size(), 6, 'two handles on one file see one size');
    t.equal(await again.append(bytes('!')), 6, 'an append through the second handle lands after the first');
  },
  CONFORMANCE,
);

eachBackend(
  'openFile with truncate: emptied as it opens (O_TRUNC); without write access EINVAL and the file untouched',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = storage.root;
    await (await dir.flushWrite('f', bytes('old content'))).close();
    await rejection(t, dir.openFile('f', { access: Mode.Read, truncate: true }), 'EINVAL', 'truncate with read access alone');
    t.equal((await dir.readFile('f')).toString(), 'old content', 'the refused open left the file as it was');
    const file = await dir.openFile('f', { access: Mode.ReadAndWrite, truncate: true });
    t.equal(await file.size(), 0, 'empty once opened');
    t.equal((await file.stat()).size, 0, 'its stat says so');
    await file.writeAt(0, bytes('new'));
    await file.close();
    t.equal((await dir.readFile('f')).toString(), 'new', 'what was written after, alone');
    const again = await dir.openFile('f', { access: Mode.Write, truncate: true });
    await again.close();
    t.equal((await storage.stat('f')).size, 0, 'emptied though nothing was written (write access alone)');
    await (await dir.flushWrite('r', bytes('kept'))).close();
    const file2 = await dir.openFile('r');
    await file2.setPermission(Mode.Read);
    await file2.close();
    await rejection(t, dir.openFile('r', { truncate: true }), 'EACCES', 'no access asked, and the owner may not write');
    t.equal((await dir.readFile('r')).toString(), 'kept', 'that file left as it was');
  },
  CONFORMANCE,
);

eachBackend(
  'opened: the attributes as the file was created or opened, without a call',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('o', 0o640);
    const made = await file.stat();
    t.deepEqual({ ...file.opened }, { ...made }, 'a created file: opened is what stat says');
    await file.append(bytes('grown'));
    t.equal(file.opened.size, 0, 'opened stays the attributes at creation after a write');
    const again = await storage.root.openFile('o');
    t.equal(again.opened.size, 5, 'a file opened later: its size then');
    t.equal(again.opened.ino, made.ino, 'the same inode');
    t.equal(again.opened.mode & 0o7777, 0o640, 'its permission bits');
  },
  CONFORMANCE,
);

eachBackend(
  'writes past the end issued together land as issued: at the end, after a gap, over each other, among appends',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('w');
    const model = Buffer.alloc(64);
    let end = 0;
    const issued: Array<Promise<unknown>> = [];
    const writeAt = (position: number, text: string) => {
      model.write(text, position);
      end = Math.max(end, position + text.length);
      issued.push(file.writeAt(position, bytes(text)));
    };
    const append = (text: string) => {
      model.write(text, end);
      end += text.length;
      issued.push(file.append(bytes(text)));
    };
    writeAt(0, 'abc');
    writeAt(3, 'def');
    append('GH');
    writeAt(8, 'ij');
    writeAt(20, 'far');
    append('KL');
    writeAt(5, 'xyz');
    writeAt(25, 'mn');
    await Promise.all(issued);
    t.equal(await file.size(), end, 'the size is where the furthest write ended');
    const content = Buffer.alloc(end);
    await file.read(0, content);
    t.ok(content.equals(model.subarray(0, end)), 'every byte as the writes were issued, the gap zeros');
  },
  CONFORMANCE,
);

eachBackend(
  'append and appendv return offsets; read, readv, short read at the end',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('wal');
    t.equal(await file.append(bytes('hello ')), 0, 'first append at 0');
    t.equal(await file.appendv([bytes('wor'), bytes('ld')]), 6, 'appendv at 6');
    t.equal(await file.size(), 11, 'size counts both');
    const buffer = Buffer.alloc(5);
    t.equal(await file.read(6, buffer), 5, 'a read fills its buffer');
    t.equal(buffer.toString(), 'world', 'read at an offset');
    const tail = Buffer.alloc(8);
    t.equal(await file.read(8, tail), 3, 'a short read at the end reports its length');
    t.equal(tail.subarray(0, 3).toString(), 'rld', 'the short read has the tail');
    t.equal(await file.read(11, Buffer.alloc(4)), 0, 'a read at the end reads nothing');
    await rejection(t, file.read(12, Buffer.alloc(4)), 'EINVAL', 'a read past the end');
    const parts = [Buffer.alloc(3), Buffer.alloc(4), Buffer.alloc(10)];
    t.equal(await file.readv(0, parts), 11, 'readv scatters the file');
    t.equal(Buffer.concat(parts).subarray(0, 11).toString(), 'hello world', 'readv fills buffers in order');
    await rejection(t, file.read(-1, buffer), 'EINVAL', 'a negative offset');
    await rejection(t, file.read(1.5, buffer), 'EINVAL', 'a fractional offset');
    await rejection(t, file.append('text' as unknown as Buffer), 'EINVAL', 'a string instead of a buffer');
    await rejection(t, file.appendv([]), 'EINVAL', 'an empty appendv');
    t.equal(await file.size(), 11, 'bad input changed nothing');
    t.equal(await file.append(Buffer.alloc(0)), 11, 'an empty append returns the end offset');
  },
  CONFORMANCE,
);

eachBackend(
  'stream reads the file in chunks from an offset',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('s');
    const content = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    await file.append(content);
    const chunks: Buffer[] = [];
    for await (const chunk of file.stream(100, 4096)) chunks.push(chunk);
    t.deepEqual(
      chunks.map((c) => c.length),
      [4096, 4096, 1708],
      'chunks of the asked size, the last shorter',
    );
    t.ok(Buffer.concat(chunks).equals(content.subarray(100)), 'the stream is the file from the offset');
    const none: Buffer[] = [];
    for await (const chunk of file.stream(10_000)) none.push(chunk);
    t.equal(none.length, 0, 'a stream from the end is empty');
    await rejection(t, file.stream(10_001).next(), 'EINVAL', 'a stream past the end');
    await rejection(t, file.stream(0, 0).next(), 'EINVAL', 'a zero chunk size');
  },
  CONFORMANCE,
);

eachBackend(
  'writeAt, truncate, sync, datasync, stat',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('w');
    await file.append(bytes('0123456789'));
    await file.writeAt(2, bytes('ab'));
    await file.writeAt(12, bytes('zz'));
    const all = Buffer.alloc(14);
    await file.read(0, all);
    t.deepEqual(all, Buffer.concat([bytes('01ab456789'), Buffer.alloc(2), bytes('zz')]), 'in place and past the end (hole of zeros)');
    await file.truncate(4);
    t.equal(await file.size(), 4, 'truncate down');
    t.equal(await file.append(bytes('X')), 4, 'appends continue at the new end');
    await file.truncate(8);
    const grown = Buffer.alloc(8);
    await file.read(0, grown);
    t.deepEqual(grown, Buffer.concat([bytes('01abX'), Buffer.alloc(3)]), 'truncate up adds zeros');
    await file.sync();
    await file.datasync();
    const stat = await file.stat();
    t.equal(stat.kind, 'file', 'stat kind');
    t.equal(stat.size, 8, 'stat size');
    t.equal(stat.mode & 0o777, 0o644, 'default mode rw-r--r--');
    await rejection(t, file.truncate(-1), 'EINVAL', 'a negative size');
  },
  CONFORMANCE,
);

eachBackend(
  'permissions: Mode on the owner bits, read-only handles, EACCES',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = storage.root;
    const file = await dir.createFile('p', Mode.Read);
    t.equal((await file.stat()).mode & 0o777, 0o444, 'Mode.Read is r--r--r--');
    await file.close();
    const reader = await dir.openFile('p');
    t.equal(reader.access, Mode.Read, 'open defaults to what the permission allows');
    await rejection(t, reader.append(bytes('x')), 'EBADF', 'append on a read-only handle');
    await rejection(t, dir.openFile('p', { access: Mode.ReadAndWrite }), 'EACCES', 'open for writing a read-only file');
    await reader.setPermission(Mode.ReadAndWrite);
    t.equal((await reader.stat()).mode & 0o777, 0o644, 'setPermission changes only the owner bits');
    const writer = await dir.openFile('p', { access: Mode.Write });
    await rejection(t, writer.read(0, Buffer.alloc(1)), 'EBADF', 'read on a write-only handle');
    await writer.append(bytes('ok'));
    await writer.setPermission(0o600);
    t.equal((await writer.stat()).mode & 0o7777, 0o600, 'a full POSIX mode');
    await rejection(t, writer.setPermission('rw' as Mode), 'EINVAL', 'an unknown permission');
    await rejection(t, dir.openFile('p', { access: 'all' as Mode }), 'EINVAL', 'an unknown access');
  },
  CONFORMANCE,
);

eachBackend(
  'flushWrite: atomic create and replace, returns the file',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = storage.root;
    const first = await dir.flushWrite('table.sst', bytes('version 1'));
    t.equal(await first.size(), 9, 'the new file has the data');
    const second = await dir.flushWrite('table.sst', [bytes('version '), bytes('2!')], Mode.Read);
    const content = Buffer.alloc(10);
    await second.read(0, content);
    t.equal(content.toString(), 'version 2!', 'flushWrite replaces the content');
    t.equal((await second.stat()).mode & 0o777, 0o444, 'with the permission asked');
    const old = Buffer.alloc(9);
    if (backend.options.adapter === 's3') {
      // S3 keeps one version per key: a handle on the replaced object says so instead of mixing versions
      // (the tiered adapter's handle reads its local copy, as a local file's handle reads the old inode).
      await rejection(t, first.read(0, old), 'ESTALE', 'a handle on the replaced object');
    } else {
      await first.read(0, old);
      t.equal(old.toString(), 'version 1', 'a handle on the replaced file still reads the old content');
    }
    t.deepEqual(
      (await dir.read()).map((e) => e.name),
      ['table.sst'],
      'no temporary file is visible',
    );
    await dir.createDirectory('d');
    await rejection(t, dir.flushWrite('d', bytes('x')), 'EISDIR', 'flushWrite over a directory');
    await rejection(t, dir.flushWrite('bad', 'x' as unknown as Buffer), 'EINVAL', 'flushWrite of a string');
    t.deepEqual((await dir.read()).map((e) => e.name).sort(), ['d', 'table.sst'], 'failed flushWrites leave nothing');
  },
  CONFORMANCE,
);

eachBackend(
  'file rename and delete',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = storage.root;
    const file = await dir.createFile('old');
    await file.append(bytes('content'));
    await (await dir.createFile('taken')).close();
    await rejection(t, file.rename('taken'), 'EEXIST', 'rename onto an existing file');
    await file.rename('new');
    t.equal(file.name, 'new', 'the handle has the new name');
    t.deepEqual((await dir.read()).map((e) => e.name).sort(), ['new', 'taken'], 'the old name is gone');
    await file.rename('taken', { replace: true });
    t.deepEqual(
      (await dir.read()).map((e) => e.name),
      ['taken'],
      'replace overwrites the target',
    );
    t.equal(await file.append(bytes('!')), 7, 'the handle still writes after renames');
    await file.delete();
    t.deepEqual(await dir.read(), [], 'delete removes the file');
    await rejection(t, file.size(), 'EBADF', 'the deleted handle is closed');
    await rejection(t, dir.deleteFile('taken'), 'ENOENT', 'delete a missing file');
    await dir.createDirectory('sub');
    const sub = await dir.openDirectory('sub');
    const moved = await dir.createFile('m');
    await dir.moveEntry('m', sub, 'm2');
    t.equal((await sub.read())[0]?.name, 'm2', 'moveEntry moves across directories');
    await moved.close();
  },
  CONFORMANCE,
);

eachBackend('moveEntry with exchange swaps two entries atomically; ENOENT without a target', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = storage.root;
  await (await dir.flushWrite('a', Buffer.from('A'))).close();
  await (await dir.createDirectory('d')).close();
  const sub = await dir.openDirectory('d');
  await (await sub.flushWrite('b', Buffer.from('B'))).close();
  await dir.moveEntry('a', sub, 'b', { exchange: true });
  const read = async (parent: typeof dir, name: string) => {
    const file = await parent.openFile(name);
    const buffer = Buffer.alloc(1);
    await file.read(0, buffer);
    await file.close();
    return buffer.toString();
  };
  t.deepEqual([await read(dir, 'a'), await read(sub, 'b')], ['B', 'A'], 'the two files swapped places');
  await dir.moveEntry('a', dir, 'd', { exchange: true });
  t.equal((await dir.stat('a')).kind, 'directory', 'a file and a directory swap too');
  t.equal((await dir.stat('d')).kind, 'file', 'both ways');
  await rejection(t, dir.moveEntry('d', dir, 'missing', { exchange: true }), 'ENOENT', 'exchange needs both entries');
  await sub.close();
});

eachBackend(
  '1,000 concurrent appends: every record once, none interleaved',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('log');
    const records = Array.from({ length: 1000 }, (_, i) => Buffer.from(`<${i}:${'x'.repeat(i % 97)}>`));
    const offsets = await Promise.all(
      records.map((record, i) => (i % 3 === 0 ? file.appendv([record.subarray(0, 2), record.subarray(2)]) : file.append(record))),
    );
    const total = records.reduce((sum, r) => sum + r.length, 0);
    t.equal(await file.size(), total, 'the file holds exactly the records');
    const content = Buffer.alloc(total);
    await file.read(0, content);
    const bad = records.filter((record, i) => !content.subarray(offsets[i]!, offsets[i]! + record.length).equals(record));
    t.equal(bad.length, 0, 'each record is whole at the offset its append returned');
    t.equal(new Set(offsets).size, 1000, 'every record has its own offset');
  },
  CONFORMANCE,
);

eachBackend(
  'a closed file: EBADF, no crash',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('c');
    const pending = file.append(bytes('in flight'));
    await file.close();
    t.equal(await pending, 0, 'close waits for the call already running');
    for (const [what, call] of [
      ['append', () => file.append(bytes('x'))],
      ['read', () => file.read(0, Buffer.alloc(1))],
      ['size', () => file.size()],
      ['sync', () => file.sync()],
      ['truncate', () => file.truncate(0)],
      ['rename', () => file.rename('d')],
    ] as const) {
      await rejection(t, call(), 'EBADF', `${what} on a closed file`);
    }
    await file.close();
    t.pass('closing twice is harmless');
  },
  CONFORMANCE,
);

eachBackend(
  'enforcePermissions: false leaves permission checks to the layer above',
  async (t, backend) => {
    const { storage } = await freshStorage(t, { ...backend, options: { ...backend.options, enforcePermissions: false } });
    const dir = await storage.root.createDirectory('ro', Mode.Read);
    const file = await dir.createFile('f', 0o444);
    t.equal(await file.append(bytes('written')), 0, 'creating and writing in a read-only directory and file');
    await file.close();
    const again = await dir.openFile('f', { access: Mode.ReadAndWrite });
    t.equal(await again.append(bytes('!')), 7, 'opening a 0444 file for writing');
    t.equal((await dir.read()).length, 1, 'listing');
    await again.close();
  },
  CONFORMANCE,
);

eachBackend('extended attributes on files and directories', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const file = await storage.root.createFile('x');
  const dir = await storage.root.createDirectory('d');
  for (const [what, target] of [
    ['file', file],
    ['directory', dir],
  ] as const) {
    await target.setXattr('user.origin', bytes('collector-7'));
    t.equal((await target.getXattr('user.origin')).toString(), 'collector-7', `${what}: set then get`);
    t.deepEqual(await target.listXattrs(), ['user.origin'], `${what}: listed`);
    await rejection(t, target.setXattr('user.origin', bytes('x'), 'create'), 'EEXIST', `${what}: create-only on an existing attribute`);
    await rejection(t, target.setXattr('user.other', bytes('x'), 'replace'), 'ENODATA', `${what}: replace-only on a missing attribute`);
    await target.removeXattr('user.origin');
    await rejection(t, target.getXattr('user.origin'), 'ENODATA', `${what}: a removed attribute is gone`);
    await rejection(t, target.setXattr('', bytes('x')), 'EINVAL', `${what}: an empty name`);
  }
});

eachBackend('extended attributes of directory entries, without opening them', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = storage.root;
  await (await dir.createFile('f')).close();
  await dir.setEntryXattr('f', 'user.k', bytes('v'));
  t.equal((await dir.getEntryXattr('f', 'user.k')).toString(), 'v', 'set and get through the directory');
  const file = await dir.openFile('f');
  t.equal((await file.getXattr('user.k')).toString(), 'v', 'the same attribute through a handle');
  await file.close();
  t.deepEqual(await dir.listEntryXattrs('f'), ['user.k'], 'listed');
  await dir.removeEntryXattr('f', 'user.k');
  await rejection(t, dir.getEntryXattr('f', 'user.k'), 'ENODATA', 'removed');
  await rejection(t, dir.getEntryXattr('missing', 'user.k'), 'ENOENT', 'of a missing entry');
  await rejection(t, dir.getEntryXattr('a/b', 'user.k'), 'EINVAL', 'a name with a slash');
});

eachBackend(
  'setEntryPermission changes a mode without opening the entry; a symlink has none',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const dir = storage.root;
    await (await dir.createFile('w', 0o200)).close();
    await dir.setEntryPermission('w', 0o640);
    t.equal((await dir.stat('w')).mode & 0o7777, 0o640, 'a write-only file gets its new mode');
    await dir.setEntryPermission('w', Mode.Read);
    t.equal((await dir.stat('w')).mode & 0o7777, 0o440, 'a Mode changes the owner bits only');
    if (backend.remote) return; // no symlinks on an object store
    await dir.symlink('w', 'link');
    await rejection(t, dir.setEntryPermission('link', 0o600), 'EOPNOTSUPP', 'chmod of a symlink itself');
    t.equal((await dir.stat('w')).mode & 0o7777, 0o440, 'its target is untouched');
  },
  CONFORMANCE,
);

eachBackend(
  'writes that extend the file take their turn with appends (a failed append cannot cut them off)',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('f');
    await file.append(bytes('0123456789'));
    const extending = file.writeAt(20, bytes('tail'));
    const append = file.append(bytes('next'));
    const [, offset] = await Promise.all([extending, append]);
    t.equal(offset, 24, 'the append queued after the extending write lands after it');
    const all = Buffer.alloc(28);
    await file.read(0, all);
    t.equal(all.subarray(20).toString(), 'tailnext', 'both are there, in order');
  },
  CONFORMANCE,
);

eachBackend(
  'a write past the largest file size is EFBIG (POSIX), and changes nothing',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('f');
    await file.append(bytes('0123456789'));
    await rejection(t, file.writeAt(2 ** 53, bytes('x')), 'EFBIG', 'writeAt at 2^53 (past the offsets a number holds exactly)');
    await rejection(t, file.writeAt(2 ** 62, bytes('x')), 'EFBIG', 'writeAt at 2^62');
    await rejection(t, file.writeAt(Number.MAX_SAFE_INTEGER, bytes('xy')), 'EFBIG', 'a write that would end past 2^53 - 1');
    await rejection(t, file.writevAt(2 ** 60, [bytes('x'), bytes('y')]), 'EFBIG', 'writevAt at 2^60');
    await rejection(t, file.truncate(2 ** 53), 'EFBIG', 'truncate to 2^53');
    await rejection(t, file.allocate(2 ** 62, 1), 'EFBIG', 'allocate at 2^62');
    if (!backend.local) await rejection(t, file.writeAt(2 ** 50, bytes('x')), 'EFBIG', 'past what the memory adapter can hold');
    await rejection(t, file.writeAt(-1, bytes('x')), 'EINVAL', 'a negative offset is still EINVAL');
    await rejection(t, file.writeAt(2.5, bytes('x')), 'EINVAL', 'a fractional offset is still EINVAL');
    await rejection(t, file.writeAt(Infinity, bytes('x')), 'EINVAL', 'Infinity is EINVAL');
    t.equal(await file.size(), 10, 'the size is unchanged');
    t.equal((await file.stat()).size, 10, 'on the backing store too');
  },
  CONFORMANCE,
);

eachBackend(
  'utimes: nanosecond times as bigints (today, before 1970), now and omit; bad times change nothing',
  async (t, backend) => {
    const { storage } = await freshStorage(t, backend);
    const file = await storage.root.createFile('t');
    const today = 1_700_000_000_123_456_789n; // more than a double's 53 bits hold exactly
    await file.utimes(today, -1_000_000_001n);
    let stat = await file.stat();
    t.deepEqual([stat.atimeNs, stat.mtimeNs], [today, -1_000_000_001n], 'set to the nanosecond, 1969 included');
    await file.utimes('omit', 5n);
    stat = await file.stat();
    t.deepEqual([stat.atimeNs, stat.mtimeNs], [today, 5n], "'omit' leaves the access time");
    const before = BigInt(Date.now() - 5_000) * 1_000_000n;
    await storage.root.utimesEntry('t', 'now', 'omit');
    stat = await file.stat();
    t.ok(stat.atimeNs >= before && stat.mtimeNs === 5n, "'now' is the file system's clock; the other time stays");
    for (const bad of [1.5, -1, 'later', 2n ** 80n] as unknown as bigint[]) {
      await rejection(t, file.utimes(bad, 'omit'), 'EINVAL', `utimes(${String(bad)}) is EINVAL`);
    }
    stat = await file.stat();
    t.deepEqual([stat.mtimeNs], [5n], 'nothing changed by the refused calls');
  },
  CONFORMANCE,
);
