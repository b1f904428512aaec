// PosixFs's handles reserved for files native code makes and answers for (reserveHandle, adopt: the kernel
// mount's CREATE answered by its data path, mount/kernel/create-slots.ts), on a local storage without a mount,
// in both IO modes: a reserved handle is given to nothing else; the file taken is that handle's, its size kept
// in the cell native code raises (what it wrote before the storage took the file counts); a failed adoption
// keeps the handle reserved until released.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { PosixFs } from '../../mount/posix-fs.js';
import { eachBackend, freshStorage, LOCAL_MODES, rejection } from '../helpers.js';

eachBackend(
  'PosixFs: a reserved handle takes the file native code made, with its size cell',
  async (t, backend) => {
    const { storage, root } = await freshStorage(t, backend);
    const posix = new PosixFs(storage);
    const reserved = posix.reserveHandle();
    const other = await posix.create('/other', 0o644);
    t.notEqual(other, reserved, 'a reserved handle is given to nothing else');

    // made and written as the data path does: its own descriptor, the size in a cell it raises
    const fd = fs.openSync(path.join(root, 'made'), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o640);
    const stat = await posix.stat('/made');
    const sizeCell = new Float64Array(1);
    fs.writeSync(fd, 'hello', 0);
    sizeCell[0] = 5;
    const made = { fd, stat, sizeCell, taken: false };
    await posix.adopt('/made', made, reserved);
    t.ok(made.taken, 'the storage took the descriptor');
    t.equal(posix.nativeAccess(reserved)?.sizeCell, sizeCell, 'and keeps the size in the cell native code raises');
    const read = async (length: number) => {
      const buffer = Buffer.alloc(length);
      const n = await posix.read(reserved, buffer, length, 0);
      return buffer.subarray(0, n).toString();
    };
    t.equal(await read(20), 'hello', 'what was written before it took the file reads back through the handle');
    fs.writeSync(fd, 'abc', 5);
    sizeCell[0] = 8;
    t.equal(await read(20), 'helloabc', 'a write of native code after');
    await posix.write(reserved, Buffer.from('!'), 1, 8);
    t.equal(sizeCell[0], 9, "the storage's own write raises the same cell");
    t.equal((await posix.fstat(reserved)).mode & 0o7777, 0o640, 'the mode it was made with');
    await posix.release(reserved);
    t.equal(fs.readFileSync(path.join(root, 'made'), 'utf8'), 'helloabc!', 'the file as written');

    const failing = posix.reserveHandle();
    const stray = fs.openSync(path.join(root, 'stray'), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    const strayMade = { fd: stray, stat: await posix.stat('/stray'), sizeCell: new Float64Array(1), taken: false };
    await rejection(t, posix.adopt('/missing/stray', strayMade, failing), 'ENOENT', 'taking a file in a directory that is not there');
    t.notOk(strayMade.taken, 'the descriptor stays its maker’s to close');
    fs.closeSync(stray);
    t.notEqual(await posix.create('/third', 0o644), failing, 'a handle whose file could not be taken stays reserved');
    await posix.release(failing);
    t.pass('until released');
    await rejection(t, posix.adopt('/made', strayMade, 987654), 'EBADF', 'a handle that was not reserved');
    await posix.release(other);
    await posix.close();
  },
  LOCAL_MODES,
);
