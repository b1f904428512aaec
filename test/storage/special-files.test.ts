// Special files through the storage API (Dir.makeNode): FIFOs, sockets and device nodes, with their kind in
// stat and read, their permission and device number, and the errors, on every adapter x IO mode.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { deviceNumber, Mode } from '../../src/index.js';
import { eachBackend, freshStorage, rejection, tempDir } from '../helpers.js';

const S_IFMT = 0o170000;
const CHILD = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'make-node-child.js');

eachBackend('makeNode: FIFOs and sockets, their kind in stat and read, removed by deleteFile', async (t, backend) => {
  const { storage, root } = await freshStorage(t, backend);
  const dir = storage.root;
  await dir.makeNode('pipe', 'fifo', 0o640);
  await dir.makeNode('sock', 'socket');
  const pipe = await dir.stat('pipe');
  t.equal(pipe.kind, 'fifo', 'stat: a FIFO');
  t.equal(pipe.mode & S_IFMT, 0o010000, 'its mode has the FIFO type bits');
  t.equal(pipe.mode & 0o7777, 0o640, 'and the permission asked for, exactly (no umask)');
  const sock = await dir.stat('sock');
  t.equal(sock.kind, 'socket', 'stat: a socket');
  t.equal(sock.mode & 0o7777, 0o644, 'a socket gets the default file permission');
  t.equal(sock.rdev, 0, 'neither has a device number');
  t.deepEqual(
    (await dir.read()).sort((a, b) => String(a.name).localeCompare(String(b.name))),
    [
      { name: 'pipe', kind: 'fifo' },
      { name: 'sock', kind: 'socket' },
    ],
    'read lists them with their kind',
  );
  if (backend.local) {
    t.ok(fs.lstatSync(path.join(root, 'pipe')).isFIFO(), 'the backing directory holds a real FIFO');
    t.ok(fs.lstatSync(path.join(root, 'sock')).isSocket(), 'and a real socket');
  }
  await dir.makeNode('owner-read', 'fifo', Mode.Read);
  t.equal((await dir.stat('owner-read')).mode & 0o777, 0o444, 'a Mode sets the owner bits of the default permission');
  await rejection(t, dir.openFile('pipe'), 'EINVAL', 'a FIFO does not open as a file');
  await dir.deleteFile('pipe');
  await dir.deleteFile('sock');
  await dir.deleteFile('owner-read');
  t.deepEqual(await dir.read(), [], 'deleteFile removes them');
});

eachBackend('makeNode refuses what it cannot make, and changes nothing', async (t, backend) => {
  const { storage } = await freshStorage(t, backend);
  const dir = storage.root;
  await dir.makeNode('pipe', 'fifo');
  const file = await dir.createFile('plain');
  await file.close();
  await rejection(t, dir.makeNode('pipe', 'fifo'), 'EEXIST', 'a name that holds a FIFO');
  await rejection(t, dir.makeNode('plain', 'socket'), 'EEXIST', 'a name that holds a file');
  await rejection(t, dir.makeNode('x', 'file' as never), 'EINVAL', "kind 'file' (createFile makes files)");
  await rejection(t, dir.makeNode('x', 'door' as never), 'EINVAL', 'an unknown kind');
  await rejection(t, dir.makeNode('x', 'fifo', 0o644, deviceNumber(1, 3)), 'EINVAL', 'a device number for a FIFO');
  await rejection(t, dir.makeNode('x', 'char-device', 0o644, -1), 'EINVAL', 'a negative device number');
  await rejection(t, dir.makeNode('x', 'fifo', 0o17777), 'EINVAL', 'a permission that is not a POSIX mode');
  await rejection(t, dir.makeNode('', 'fifo'), 'EINVAL', 'an empty name');
  await rejection(t, dir.makeNode('.persistfs-tmp', 'fifo'), 'EINVAL', 'the reserved name');
  const readOnly = await dir.createDirectory('ro', Mode.Read);
  await rejection(t, readOnly.makeNode('x', 'fifo'), 'EACCES', 'in a directory its owner may not write');
  await readOnly.close();
  t.deepEqual((await dir.read()).map((entry) => entry.name).sort(), ['pipe', 'plain', 'ro'], 'nothing was made');
});

eachBackend('makeNode: character and block devices as root, with their device number', async (t, backend) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root');
    return;
  }
  const { storage, root } = await freshStorage(t, backend);
  const dir = storage.root;
  await dir.makeNode('null', 'char-device', 0o666, deviceNumber(1, 3));
  await dir.makeNode('loop', 'block-device', 0o600, deviceNumber(7, 300));
  const nul = await dir.stat('null');
  t.equal(nul.kind, 'char-device', 'stat: a character device');
  t.equal(nul.mode & S_IFMT, 0o020000, 'with the character device type bits');
  t.equal(nul.mode & 0o7777, 0o666, 'and its permission');
  t.equal(nul.rdev, deviceNumber(1, 3), 'stat: its device number');
  const loop = await dir.stat('loop');
  t.equal(loop.kind, 'block-device', 'stat: a block device');
  t.equal(loop.rdev, deviceNumber(7, 300), 'a minor above 255 survives');
  t.deepEqual((await dir.read()).map((entry) => entry.kind).sort(), ['block-device', 'char-device'], 'read lists their kinds');
  if (backend.local) {
    const real = fs.lstatSync(path.join(root, 'null'));
    t.ok(real.isCharacterDevice(), 'the backing directory holds a real character device');
    t.equal(real.rdev, deviceNumber(1, 3), 'with the same device number (the kernel encoding of dev_t)');
    t.ok(fs.lstatSync(path.join(root, 'loop')).isBlockDevice(), 'and a real block device');
  }
  await dir.deleteFiles(['null', 'loop']);
  t.deepEqual(await dir.read(), [], 'deleteFiles removes them');
});

eachBackend('makeNode: a device without the privilege to make one is EPERM; FIFOs still work', async (t, backend) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to run a child as nobody');
    return;
  }
  const root = tempDir(t);
  fs.chmodSync(root, 0o777);
  const result = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, CHILD, root, JSON.stringify(backend.options)], {
    encoding: 'utf8',
  });
  t.equal(result.status, 0, `the child ran (${result.stderr.trim()})`);
  t.deepEqual(
    JSON.parse(result.stdout || '{}'),
    { 'char-device': 'EPERM', 'block-device': 'EPERM', fifo: 'made', entries: ['fifo'] },
    'devices are EPERM for nobody, a FIFO is made, nothing else is left',
  );
});
