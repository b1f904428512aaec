// One owner per store: a storage holds its root's lock for its whole life (exclusive for a writer, shared
// read-only), so a second opener, in this process or another, is EBUSY naming the holder, and no two
// openers ever append over each other. A read-only storage refuses every change with EROFS.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'tape';

import { Falloc, Mode, openStorage, type Storage } from '../../src/index.js';
import { native } from '../../src/io/native.js';
import { LOCAL_MODES, eachBackend, rejection, tempDir } from '../helpers.js';

const CHILD = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'lock-child.js');

interface Child {
  process: ChildProcess;
  lines: string[];
  /** the first line it printed: 'owner <pid>' or 'refused <code> <message>' */
  verdict: Promise<string>;
  line(prefix: string): Promise<string>;
}

function startChild(t: test.Test, root: string, args: string[] = []): Child {
  const child = spawn(process.execPath, [CHILD, root, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop()!;
    lines.push(...parts);
    for (const wake of waiters.splice(0)) wake();
  });
  const line = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const look = () => {
        const found = lines.find((l) => l.startsWith(prefix));
        if (found !== undefined) return resolve(found);
        if (child.exitCode !== null) return reject(new Error(`the child exited without printing '${prefix}': ${lines.join(' | ')}`));
        waiters.push(look);
      };
      child.once('exit', () => setImmediate(look));
      look();
    });
  const verdict = new Promise<string>((resolve, reject) => {
    const look = () => (lines.length > 0 ? resolve(lines[0]!) : child.exitCode !== null ? reject(new Error('no verdict')) : waiters.push(look));
    look();
  });
  return { process: child, lines, verdict, line };
}

const exited = (child: ChildProcess) => new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));

eachBackend(
  'a second open of a root in this process is EBUSY naming this pid; the first keeps its store',
  async (t, backend) => {
    const root = tempDir(t);
    const first = await openStorage(root, backend.options);
    t.teardown(() => first.close());
    const error = await rejection(t, openStorage(root, backend.options), 'EBUSY', 'a second writer');
    t.match(error?.message ?? '', new RegExp(`this process \\(pid ${process.pid}\\)`), 'the message names the holder');
    t.match(error?.message ?? '', new RegExp(root.replace(/[/.]/g, '\\$&')), 'and the store');
    await rejection(t, openStorage(root, { ...backend.options, readOnly: true }), 'EBUSY', 'a reader beside a writer');

    // the repro: appends alternating between two storages landed on top of each other
    const file = await first.root.createFile('log');
    const offsets = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        if (i % 2 === 1) {
          await openStorage(root, backend.options).then(
            (other) => other.close().then(() => t.fail('a second storage opened')),
            () => undefined,
          );
          return -1;
        }
        return file.append(Buffer.alloc(512, i % 251));
      }),
    );
    const taken = offsets.filter((offset) => offset >= 0);
    t.equal(new Set(taken).size, 100, 'every append got its own offset');
    t.equal(fs.statSync(path.join(root, 'log')).size, 100 * 512, 'and the file holds every record');
    await file.close();

    await first.close();
    const again = await openStorage(root, backend.options);
    t.pass('once closed, the store can be opened again');
    await again.close();
  },
  LOCAL_MODES,
);

eachBackend(
  'read-only opens share the store with each other, never with a writer',
  async (t, backend) => {
    const root = tempDir(t);
    const writer = await openStorage(root, backend.options);
    await (await writer.root.flushWrite('kept', Buffer.from('kept'))).close();
    await writer.close();

    const readers = [await openStorage(root, { ...backend.options, readOnly: true }), await openStorage(root, { ...backend.options, readOnly: true })];
    t.pass('two read-only opens at once');
    const error = await rejection(t, openStorage(root, backend.options), 'EBUSY', 'a writer beside readers');
    t.match(error?.message ?? '', /open read-only by other openers/, 'the message says readers hold it');
    for (const reader of readers) await reader.close();
    await (await openStorage(root, backend.options)).close();
    t.pass('a writer once the readers are gone');
  },
  LOCAL_MODES,
);

/** Every change the API offers, on a read-only storage that holds a file 'f', a directory 'd' and a link 'l'. */
async function everyChange(t: test.Test, storage: Storage): Promise<void> {
  const root = storage.root;
  const file = await root.openFile('f');
  t.equal(file.access, Mode.Read, 'files open for reading only');
  const dir = await root.openDirectory('d');
  const changes: Array<[string, () => Promise<unknown>]> = [
    ['createFile', () => root.createFile('new')],
    ['createDirectory', () => root.createDirectory('new')],
    ['flushWrite', () => root.flushWrite('f', Buffer.from('x'))],
    ['openFile for writing', () => root.openFile('f', { access: Mode.ReadAndWrite })],
    ['openFile with truncate', () => root.openFile('f', { truncate: true })],
    ['deleteFile', () => root.deleteFile('f')],
    ['deleteFiles', () => root.deleteFiles(['f'])],
    ['removeDirectory', () => root.removeDirectory('d')],
    ['Dir.delete', () => dir.delete()],
    ['Dir.rename', () => dir.rename('d2')],
    ['moveEntry', () => root.moveEntry('f', root, 'g')],
    ['symlink', () => root.symlink('f', 'l2')],
    ['link', () => root.link('f', root, 'f2')],
    ['setEntryPermission', () => root.setEntryPermission('f', 0o600)],
    ['chownEntry', () => root.chownEntry('f', -1, -1)],
    ['utimesEntry', () => root.utimesEntry('f', 0n, 0n)],
    ['Dir.setPermission', () => dir.setPermission(0o700)],
    ['Dir.setXattr', () => dir.setXattr('user.x', Buffer.from('1'))],
    ['setEntryXattr', () => root.setEntryXattr('f', 'user.x', Buffer.from('1'))],
    ['removeEntryXattr', () => root.removeEntryXattr('f', 'user.x')],
    ['append', () => file.append(Buffer.from('x'))],
    ['writeAt', () => file.writeAt(0, Buffer.from('x'))],
    ['truncate', () => file.truncate(0)],
    ['allocate', () => file.allocate(0, 4096)],
    ['allocate: punch a hole', () => file.allocate(0, 2, Falloc.PunchHole | Falloc.KeepSize)],
    ['allocate: zero a range', () => file.allocate(0, 2, Falloc.ZeroRange | Falloc.KeepSize)],
    ['copyFrom', () => file.copyFrom(file, 0, 4, 4)],
    ['File.setPermission', () => file.setPermission(0o600)],
    ['File.utimes', () => file.utimes(0n, 0n)],
    ['File.chown', () => file.chown(-1, -1)],
    ['File.setXattr', () => file.setXattr('user.x', Buffer.from('1'))],
    ['File.removeXattr', () => file.removeXattr('user.x')],
    ['File.rename', () => file.rename('g')],
    ['File.delete', () => file.delete()],
  ];
  for (const [what, change] of changes) await rejection(t, change(), 'EROFS', what);
  const data = Buffer.alloc(4);
  await file.read(0, data);
  t.equal(data.toString(), 'data', 'reads work');
  t.equal(await file.seek(0, 'hole'), 4, 'seek works (it changes nothing)');
  t.deepEqual((await root.read()).map((entry) => entry.name).sort(), ['d', 'f', 'l'], 'nothing changed');
  t.equal(await root.readlink('l'), 'f', 'readlink works');
  await file.close();
  await dir.close();
}

eachBackend(
  'a read-only storage refuses every change with EROFS and changes nothing',
  async (t, backend) => {
    const root = tempDir(t);
    const writer = await openStorage(root, backend.options);
    await (await writer.root.flushWrite('f', Buffer.from('data'))).close();
    await (await writer.root.createDirectory('d')).close();
    await writer.root.symlink('f', 'l');
    await writer.close();
    const before = fs.statSync(path.join(root, 'f')).mtimeMs;

    const reader = await openStorage(root, { ...backend.options, readOnly: true });
    t.teardown(() => reader.close());
    await everyChange(t, reader);
    t.equal(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'data', 'the file is as it was');
    t.equal(fs.statSync(path.join(root, 'f')).mtimeMs, before, 'not even touched');
  },
  LOCAL_MODES,
);

eachBackend(
  'a read-only open creates no temporary directory and removes no temporaries',
  async (t, backend) => {
    const root = tempDir(t);
    fs.writeFileSync(path.join(root, 'plain'), 'x');
    const reader = await openStorage(root, { ...backend.options, readOnly: true });
    t.deepEqual(fs.readdirSync(root).sort(), ['.persistfs-lock', 'plain'], 'only the lock file appears');
    await reader.close();

    fs.mkdirSync(path.join(root, '.persistfs-tmp'));
    fs.writeFileSync(path.join(root, '.persistfs-tmp', '1-1-x'), 'a temporary');
    await (await openStorage(root, { ...backend.options, readOnly: true })).close();
    t.deepEqual(fs.readdirSync(path.join(root, '.persistfs-tmp')), ['1-1-x'], 'a reader leaves temporaries alone');
    await (await openStorage(root, backend.options)).close();
    t.deepEqual(fs.readdirSync(path.join(root, '.persistfs-tmp')), [], 'the owner removes them');
  },
  LOCAL_MODES,
);

eachBackend(
  "a refused open never removes the owner's flushWrite temporaries",
  async (t, backend) => {
    const root = tempDir(t);
    const owner = await openStorage(root, backend.options);
    t.teardown(() => owner.close());
    const tmp = path.join(root, '.persistfs-tmp');
    // a large flushWrite, caught while its temporary (named with this pid) is being written
    const big = owner.root.flushWrite('big', Buffer.alloc(256 * 1024 * 1024, 7));
    while (fs.readdirSync(tmp).length === 0) await new Promise((resolve) => setImmediate(resolve));
    await rejection(t, openStorage(root, backend.options), 'EBUSY', 'another open while the temporary is there');
    await (await big).close();
    t.equal(fs.statSync(path.join(root, 'big')).size, 256 * 1024 * 1024, 'the flushWrite completed');

    let failedWrites = 0;
    let opened = 0;
    let writing = true;
    const writes = Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        owner.root.flushWrite(`f${i}`, Buffer.alloc(16 * 1024, i)).then(
          (file) => file.close(),
          () => failedWrites++,
        ),
      ),
    ).finally(() => (writing = false));
    let attempts = 0;
    while (writing || attempts < 10) {
      attempts++;
      await openStorage(root, backend.options).then(
        (other) => {
          opened++;
          return other.close();
        },
        () => undefined,
      );
    }
    await writes;
    t.equal(failedWrites, 0, `every flushWrite of the owner succeeded (${attempts} opens tried meanwhile)`);
    t.equal(opened, 0, 'no second storage opened');
    t.equal((await owner.root.read()).length, 151, 'all the files are there');
  },
  LOCAL_MODES,
);

test('a refused opener that reads the lock file before the writer recorded its pid waits for it and names it', async (t) => {
  const root = tempDir(t);
  // a writer caught between taking the lock and writing its pid (the race seen in CI)
  const fd = fs.openSync(path.join(root, '.persistfs-lock'), 'w');
  t.teardown(() => fs.closeSync(fd));
  t.equal(native.flock(fd, true), 0, 'the lock is taken');
  const late = setTimeout(() => fs.writeSync(fd, '424242\n', 0), 40);
  t.teardown(() => clearTimeout(late));
  const error = await rejection(t, openStorage(root), 'EBUSY', 'refused');
  t.match(error?.message ?? '', /process 424242 has it open for writing/, 'the message names the pid written after the refusal began');
});

test('across processes: exactly one of 6 racing openers owns the store; the others name it; the lock dies with it', async (t) => {
  const root = tempDir(t);
  const children = Array.from({ length: 6 }, () => startChild(t, root));
  const verdicts = await Promise.all(children.map((child) => child.verdict));
  const owners = verdicts.filter((verdict) => verdict.startsWith('owner '));
  t.equal(owners.length, 1, `exactly one owner (${verdicts.join(' | ')})`);
  const ownerPid = owners[0]?.split(' ')[1];
  for (const verdict of verdicts.filter((v) => !v.startsWith('owner '))) {
    t.ok(verdict.startsWith('refused EBUSY') && verdict.includes(`process ${ownerPid} has it open for writing`), `refused, naming pid ${ownerPid}`);
  }
  const winner = children.find((child) => String(child.process.pid) === ownerPid)!;
  await rejection(t, openStorage(root, { config: { logLevel: 'warn' } }), 'EBUSY', 'this process is refused too');
  winner.process.kill('SIGKILL');
  await exited(winner.process);
  const after = await openStorage(root, { config: { logLevel: 'warn' } });
  t.pass('after kill -9 of the owner the store opens at once (no stale lock)');
  await after.close();
});

test('across processes: a second process cannot append over the owner (the issue: 621 of 1,000 records were left)', async (t) => {
  const root = tempDir(t);
  const a = startChild(t, root, ['rw', '500']);
  t.equal((await a.verdict).split(' ')[0], 'owner', 'the first process owns the store');
  await a.line('appended');
  const b = startChild(t, root, ['rw', '500']);
  t.match(await b.verdict, /^refused EBUSY/, 'the second is refused before it writes anything');
  a.process.stdin!.end();
  await exited(a.process);
  t.equal(fs.statSync(path.join(root, 'log')).size, 500 * 512, 'the log holds exactly the owner’s 500 records');
  const reader = startChild(t, root, ['ro']);
  const second = startChild(t, root, ['ro']);
  t.match(await reader.verdict, /^owner/, 'a read-only process opens');
  t.match(await second.verdict, /^owner/, 'and another beside it');
  const writer = startChild(t, root, ['rw']);
  t.match(await writer.verdict, /refused EBUSY .*open read-only by other openers/, 'a writer waits for the readers');
});
