// What only the local adapter does: stale flushWrite temporaries removed at open, O_DIRECT with its
// alignment rules, O_DSYNC, exact modes despite the umask, and durability calls on real files.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type test from 'tape';

import { READ_WRITE } from '../../src/adapters/adapter.js';
import { alignedBuffer, openStorage } from '../../src/index.js';
import { eachBackend, LOCAL_MODES, rejection, tempDir } from '../helpers.js';

eachBackend(
  'stale temporaries of an interrupted flushWrite are removed when the storage opens',
  async (t, backend) => {
    const root = tempDir(t);
    fs.mkdirSync(path.join(root, '.persistfs-tmp'));
    fs.writeFileSync(path.join(root, '.persistfs-tmp', '999999999-1-abc'), 'half written');
    const storage = await openStorage(root, backend.options);
    t.deepEqual(fs.readdirSync(path.join(root, '.persistfs-tmp')), [], 'the stale temporary is gone');
    t.deepEqual(await storage.root.read(), [], 'the temporary directory is not listed');
    await storage.close();
  },
  LOCAL_MODES,
);

eachBackend(
  'O_DIRECT: aligned IO works, unaligned IO is a clear EINVAL',
  async (t, backend) => {
    const root = tempDir(t);
    const storage = await openStorage(root, backend.options);
    t.teardown(() => storage.close());
    const plain = await storage.root.createFile('d');
    await plain.append(Buffer.alloc(3 * 4096, 5));
    await plain.close();
    const file = await storage.root.openFile('d', { direct: true });
    t.ok(file.alignment >= 512, `alignment is known (${file.alignment})`);
    const aligned = alignedBuffer(4096);
    t.equal(await file.read(4096, aligned), 4096, 'an aligned read');
    t.ok(
      aligned.every((b) => b === 5),
      'reads the data',
    );
    const error = await rejection(t, file.read(0, Buffer.alloc(4096 + 1)), 'EINVAL', 'an unaligned length');
    t.match(error?.message ?? '', /aligned to \d+ bytes/, 'the message says what alignment is needed');
    await rejection(t, file.read(100, alignedBuffer(4096)), 'EINVAL', 'an unaligned offset');
    await rejection(t, file.read(0, alignedBuffer(8192).subarray(8, 8 + 4096)), 'EINVAL', 'unaligned memory');
    const record = alignedBuffer(4096);
    record.fill(9);
    t.equal(await file.append(record), 3 * 4096, 'an aligned direct append');
    await file.writeAt(0, record);
    await file.close();
    const check = fs.readFileSync(path.join(root, 'd'));
    t.equal(check.length, 4 * 4096, 'the direct writes reached the file');
    t.ok(check.subarray(0, 4096).every((b) => b === 9) && check.subarray(12288).every((b) => b === 9), 'with their data');
  },
  LOCAL_MODES,
);

/** A storage on a new directory, opened with the process umask `umask` (restored, and the storage closed, after the test). */
async function storageUnderUmask(t: test.Test, options: Parameters<typeof openStorage>[1], umask: number) {
  const root = tempDir(t);
  const previous = process.umask(umask);
  t.teardown(() => process.umask(previous));
  const storage = await openStorage(root, options);
  t.teardown(() => storage.close());
  return { root, storage };
}

eachBackend(
  'O_DSYNC, fsync, fdatasync and directory sync on real files; exact modes under any umask',
  async (t, backend) => {
    const { root, storage } = await storageUnderUmask(t, backend.options, 0o077);
    const file = await storage.root.createFile('sync', 0o664, { dsync: true });
    await file.append(Buffer.from('durable'));
    await file.datasync();
    await file.sync();
    await storage.root.sync();
    t.equal(fs.readFileSync(path.join(root, 'sync'), 'utf8'), 'durable', 'the data is in the file');
    t.equal(fs.statSync(path.join(root, 'sync')).mode & 0o777, 0o664, 'the mode asked for, not cut by the umask');
    await storage.root.createDirectory('d', 0o775);
    t.equal(fs.statSync(path.join(root, 'd')).mode & 0o777, 0o775, 'directories too');
    const stats = await storage.root.statfs();
    t.ok(stats.blocks > 0 && stats.namemax === 255, 'statfs answers');
  },
  LOCAL_MODES,
);

eachBackend(
  "in a directory with a default POSIX ACL, the ACL decides a new entry's mode and ACL (as for any file made there), not the exact-mode chmod",
  async (t, backend) => {
    const { root, storage } = await storageUnderUmask(t, backend.options, 0o022);
    const shared = await storage.root.createDirectory('shared', 0o775);
    t.teardown(() => shared.close());
    const setfacl = spawnSync('setfacl', ['-d', '-m', 'u:nobody:rwx,o::---', path.join(root, 'shared')], { encoding: 'utf8' });
    t.equal(setfacl.status, 0, `a default ACL set on the directory ${setfacl.stderr}`);
    // 0o666 has group and other write bits the umask takes: without the ACL, the storage would chmod them back
    await (await shared.createFile('file', 0o666)).close();
    await (await shared.createDirectory('dir', 0o777)).close();
    await shared.makeNode('fifo', 'fifo', 0o666);
    const modeOf = (name: string) => (fs.statSync(path.join(root, 'shared', name)).mode & 0o777).toString(8);
    t.deepEqual([modeOf('file'), modeOf('dir'), modeOf('fifo')], ['660', '770', '660'], 'the modes the ACL gave: no bits for others, the mask rw / rwx');
    const acl = spawnSync('getfacl', ['-c', path.join(root, 'shared', 'file')], { encoding: 'utf8' }).stdout;
    t.match(acl, /user:nobody:rwx/, 'the file inherited the named entry');
    await (await storage.root.createFile('plain', 0o666)).close();
    t.equal(fs.statSync(path.join(root, 'plain')).mode & 0o777, 0o666, 'beside it, without a default ACL: exact despite the umask');
  },
  LOCAL_MODES,
);

eachBackend(
  'a root the user may not write: EACCES naming the root directory, not an internal path',
  async (t, backend) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to run a child as nobody');
      return;
    }
    const top = tempDir(t);
    fs.chmodSync(top, 0o755);
    const root = path.join(top, 'readonly-root');
    fs.mkdirSync(root, { mode: 0o755 });
    const index = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../src/index.js');
    const script = `
      const { openStorage } = await import(${JSON.stringify(index)});
      try {
        await openStorage(${JSON.stringify(root)}, ${JSON.stringify(backend.options)});
        console.log('opened');
      } catch (error) {
        console.log(JSON.stringify({ code: error.code, path: error.path, message: error.message }));
      }`;
    const result = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    t.equal(result.status, 0, `the child ran (${result.stderr.trim()})`);
    const error = JSON.parse(result.stdout) as { code: string; path: string; message: string };
    t.equal(error.code, 'EACCES', 'EACCES');
    t.equal(error.path, root, 'the error names the root directory');
    t.ok(error.message.includes(`'${root}'`), `so does its message (${error.message})`);
    t.notOk(error.message.includes("'.persistfs-tmp'"), 'which names no internal path as the place that failed');
    t.deepEqual(fs.readdirSync(root), [], 'nothing was created');
  },
  LOCAL_MODES,
);

eachBackend(
  "a local file closed twice closes its descriptor once: the number given since to another file stays that file's",
  async (t, backend) => {
    const storage = await openStorage(tempDir(t), backend.options);
    t.teardown(() => storage.close());
    const dir = storage.root.node;
    const first = await dir.createFile('first', 0o644, READ_WRITE);
    await first.close();
    const second = await dir.createFile('second', 0o644, READ_WRITE);
    await first.close();
    await second.write([Buffer.from('still open')], 0);
    const back = Buffer.alloc(10);
    t.equal(await second.read(back, 0), 10, 'the file opened after the first close reads');
    t.equal(back.toString(), 'still open', 'its own bytes');
    await second.close();
  },
  LOCAL_MODES,
);
