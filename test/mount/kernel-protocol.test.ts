// The kernel transport's pieces without a mount: request decoding (malformed requests are ProtocolErrors,
// never crashes), INIT negotiation, the node table (lookup counts, forget, rename of a subtree, unlink),
// the reply encodings, and the LSEEK and COPY_FILE_RANGE(_64) bodies and replies.
import { createHash } from 'node:crypto';

import test from 'tape';

import { InitError, negotiate } from '../../mount/kernel/init.js';
import { NodeTable, type FileId, type Node } from '../../mount/kernel/node-table.js';
import { CreateSlots } from '../../mount/kernel/create-slots.js';
import { KernelOps, type NativePort } from '../../mount/kernel/operations.js';
import type { PosixFs } from '../../mount/posix-fs.js';
import { FATTR, InitFlag, Opcode, Size } from '../../mount/kernel/protocol.js';
import { attrOut, direntSize, entryOut, writeDirent } from '../../mount/kernel/reply.js';
import { BodyReader, decodeRequest, ProtocolError, writeIn } from '../../mount/kernel/request.js';
import type { EntryStat } from '../../src/index.js';
import { StorageError } from '../../src/ground/errors.js';
import { decodeStatx, STATX_SIZE } from '../../src/io/statx.js';
import { native } from '../../src/io/native.js';
import { kindOfMode } from '../../src/adapters/adapter.js';
import { O } from '../../src/io/engine.js';

function raw(opcode: number, body: Buffer, unique = 42, nodeid = 1): Buffer {
  const header = Buffer.alloc(Size.IN_HEADER);
  header.writeUInt32LE(Size.IN_HEADER + body.length, 0);
  header.writeUInt32LE(opcode, 4);
  header.writeBigUInt64LE(BigInt(unique), 8);
  header.writeBigUInt64LE(BigInt(nodeid), 16);
  header.writeUInt32LE(1000, 24);
  header.writeUInt32LE(100, 28);
  header.writeUInt32LE(7, 32);
  return Buffer.concat([header, body]);
}

/** What the data path forwards after a LOOKUP: its statx, then the count of names taken away before it (u64). */
function forwarded(statx: Buffer, removals = 0): Buffer {
  const count = Buffer.alloc(8);
  count.writeBigUInt64LE(BigInt(removals), 0);
  return Buffer.concat([statx, count]);
}

/** A regular file's attributes, inode 9, with `changes`. */
const fileStat = (changes: Partial<EntryStat> = {}): EntryStat =>
  ({ ino: 9n, size: 0, blocks: 0, mode: 0o100644, nlink: 1, uid: 0, gid: 0, blksize: 4096, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, ...changes }) as EntryStat;

test('decodeRequest: the header fields; short or lying requests are ProtocolErrors', (t) => {
  const request = decodeRequest(raw(Opcode.LOOKUP, Buffer.from('name\0'), 2 ** 40 + 2, 2 ** 33));
  t.deepEqual(
    { opcode: request.opcode, unique: request.unique, nodeid: request.nodeid, uid: request.uid, gid: request.gid, pid: request.pid },
    { opcode: Opcode.LOOKUP, unique: 2 ** 40 + 2, nodeid: 2 ** 33, uid: 1000, gid: 100, pid: 7 },
    '64-bit unique and node id, caller credentials',
  );
  t.equal(new BodyReader(request.body).name().toString(), 'name', 'a NUL-terminated name');
  t.throws(() => decodeRequest(Buffer.alloc(20)), ProtocolError, 'shorter than the header');
  const lying = raw(Opcode.LOOKUP, Buffer.from('x\0'));
  lying.writeUInt32LE(999, 0);
  t.throws(() => decodeRequest(lying), ProtocolError, 'a length that is not what arrived');
  t.throws(() => new BodyReader(Buffer.from('no-nul')).name(), ProtocolError, 'a name without its NUL');
  t.throws(() => new BodyReader(Buffer.alloc(4)).u64(), ProtocolError, 'a body too short for its structure');
  const write = Buffer.alloc(40 + 3);
  write.writeUInt32LE(5, 16); // says 5 bytes, carries 3
  t.throws(() => writeIn(decodeRequest(raw(Opcode.WRITE, write))), ProtocolError, 'a WRITE whose data is not its size');
  t.end();
});

test('INIT: the flags we want among those offered, 1 MiB requests, the smaller minor', (t) => {
  const body = Buffer.alloc(64);
  body.writeUInt32LE(7, 0);
  body.writeUInt32LE(45, 4);
  body.writeUInt32LE(131072, 8);
  body.writeUInt32LE(0xffffffff, 12);
  body.writeUInt32LE(0xffffffff, 16);
  const { reply, agreed } = negotiate(decodeRequest(raw(Opcode.INIT, body)));
  const flags = BigInt(reply.readUInt32LE(12)) | (BigInt(reply.readUInt32LE(32)) << 32n);
  for (const name of ['ATOMIC_O_TRUNC', 'MAX_PAGES', 'PARALLEL_DIROPS', 'DO_READDIRPLUS', 'BIG_WRITES', 'HANDLE_KILLPRIV_V2'] as const) {
    t.ok(flags & InitFlag[name], `${name} agreed`);
  }
  for (const name of ['WRITEBACK_CACHE', 'PASSTHROUGH', 'OVER_IO_URING', 'POSIX_LOCKS'] as const) {
    t.notOk(flags & InitFlag[name], `${name} not asked for`);
  }
  t.notOk(
    flags & (InitFlag.POSIX_ACL | InitFlag.SETXATTR_EXT | InitFlag.DONT_MASK),
    'POSIX_ACL, SETXATTR_EXT, DONT_MASK not asked for unless the backing keeps ACLs',
  );
  const acl = negotiate(decodeRequest(raw(Opcode.INIT, body)), { posixAcl: true }).agreed.flags;
  t.ok(acl & InitFlag.POSIX_ACL && acl & InitFlag.SETXATTR_EXT && acl & InitFlag.DONT_MASK, 'with posixAcl: POSIX_ACL, SETXATTR_EXT and DONT_MASK agreed');
  const noExt = Buffer.from(body);
  noExt.writeUInt32LE(Number(0xffffffffn & ~InitFlag.SETXATTR_EXT), 12);
  const old = negotiate(decodeRequest(raw(Opcode.INIT, noExt)), { posixAcl: true }).agreed.flags;
  t.notOk(old & (InitFlag.POSIX_ACL | InitFlag.DONT_MASK), 'a kernel without SETXATTR_EXT: no POSIX_ACL (a set-group-ID bit could not be dropped)');
  const both = (flags: bigint) => [(flags & InitFlag.PASSTHROUGH) !== 0n, (flags & InitFlag.WRITEBACK_CACHE) !== 0n];
  const agree = (options: Parameters<typeof negotiate>[1]) => negotiate(decodeRequest(raw(Opcode.INIT, body)), options).agreed.flags;
  t.same(both(agree({ passthrough: true })), [true, false], 'passthrough asked for: agreed, with its max_stack_depth');
  t.same(
    both(agree({ passthrough: true, writebackCache: true })),
    [false, true],
    'with the writeback cache: that, not passthrough (runMount refuses the pair first)',
  );
  t.equal(negotiate(decodeRequest(raw(Opcode.INIT, body)), { passthrough: true }).reply.readUInt32LE(36), 1, 'max_stack_depth 1 with passthrough');
  t.equal(reply.readUInt32LE(20), 1048576, 'max_write 1 MiB');
  t.equal(reply.readUInt16LE(28), 256, 'max_pages 256');
  t.equal(reply.readUInt32LE(24), 1, 'nanosecond time granularity');
  const background = (maxBackground?: number) => {
    const answer = negotiate(decodeRequest(raw(Opcode.INIT, body)), { maxBackground }).reply;
    return [answer.readUInt16LE(16), answer.readUInt16LE(18)];
  };
  t.same(background(), [64, 48], 'max_background 64, congestion_threshold 48 by default');
  t.same(background(6), [6, 4], 'as many background requests as the mount says (all but two of 8 readers), the threshold 3/4 of it');
  t.same(background(0), [1, 1], 'never fewer than one');
  t.same(background(1000), [64, 48], 'never more than 64');
  t.equal(agreed.minor, 45, 'minor version 45');
  body.writeUInt32LE(6, 0);
  t.throws(() => negotiate(decodeRequest(raw(Opcode.INIT, body))), InitError, 'another major version is refused');
  t.end();
});

/** A file of inode number `ino`, born at `born` (0n: a backing that does not say). */
const fid = (ino: bigint, born = 0n): FileId => ({ ino, born });

test('NodeTable: a file with the inode number of a known node but another birth time is a new node', (t) => {
  const nodes = new NodeTable();
  const f = nodes.lookedUp(nodes.root, 'f', fid(40n, 1000n));
  t.equal(nodes.lookedUp(nodes.root, 'f', fid(40n, 1000n)), f, 'the same file under its name: its node');
  t.equal(nodes.lookedUp(nodes.root, 'f2', fid(40n, 1000n)), f, 'and under a second name (a hard link)');
  const g = nodes.lookedUp(nodes.root, 'g', fid(40n, 2000n));
  t.notEqual(g.id, f.id, 'the inode number again, born later, under another name: a new node');
  t.equal(nodes.path(f), 'f', 'the old node keeps its names');
  const again = nodes.lookedUp(nodes.root, 'f', fid(40n, 3000n));
  t.ok(again.id !== f.id && again.id !== g.id, 'under the old name, born later still: another new node');
  t.equal(nodes.path(f), 'f2', 'which took the name from the old node');
  t.equal(nodes.lookedUp(nodes.root, 'h', fid(40n)), again, 'a birth time unknown: the inode number alone decides');
  t.end();
});

test('NodeTable: a file the data path made and answered for takes the reserved node id, over a stale node of its name', (t) => {
  const nodes = new NodeTable();
  const old = nodes.lookedUp(nodes.root, 'f', fid(40n, 1000n));
  const id = nodes.reserveId();
  t.equal(nodes.lookedUp(nodes.root, 'other', fid(41n)).id, id + 1, 'a reserved id is given to nothing else');
  const made = nodes.created(nodes.root, 'f', fid(42n, 2000n), id);
  t.equal(made.id, id, 'the reserved id');
  t.equal(made.lookups, 1, 'which the kernel holds once');
  t.equal(nodes.at(nodes.root, 'f'), made, 'under its name');
  t.equal(nodes.path(old), undefined, 'the node the name had before lost it');
  t.equal(nodes.lookedUp(nodes.root, 'g', fid(42n, 2000n)), made, 'a second name of the file: its node');
  t.end();
});

test('CreateSlots: slots given ahead; requests wait while a file is taken; a release waits for its own file', async (t) => {
  let next = 100;
  const given: Array<[number, number, Float64Array]> = [];
  const slots = new CreateSlots(
    3,
    () => ({ node: next, fh: next++ + 1000 }),
    (node, fh, cell) => given.push([node, fh, cell]),
  );
  slots.fill();
  t.deepEqual(
    given.map(([node, fh]) => [node, fh]),
    [
      [100, 1100],
      [101, 1101],
      [102, 1102],
    ],
    'three slots given, each a node id and a handle',
  );
  t.equal(slots.taking(), undefined, 'nothing to wait for');
  const release = slots.takenBy(1101);
  t.ok(release, 'a release of a slot whose CREATE was not reported yet waits');
  let finish = () => {};
  const used = slots.use(1100, () => new Promise<void>((resolve) => (finish = resolve)));
  t.equal(used?.node, 100, 'the reported slot');
  t.equal(
    slots.use(1100, () => Promise.resolve()),
    undefined,
    'a slot is used once',
  );
  t.equal(
    slots.use(7, () => Promise.resolve()),
    undefined,
    'a handle no slot had: nothing',
  );
  const waiting = slots.taking();
  t.ok(waiting, 'requests wait while its file is taken');
  let settled = false;
  void waiting!.then(() => (settled = true));
  slots.fill();
  t.equal(given.length, 4, 'one slot given for the one used');
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.notOk(settled, 'not before the file is taken');
  let finishLater = () => {};
  slots.use(1102, () => new Promise<void>((resolve) => (finishLater = resolve)));
  finish();
  await waiting;
  t.pass('a request waits for the files being taken when it came, not for one reported after');
  const later = slots.taking();
  t.ok(later, 'a request coming now waits for that one');
  finishLater();
  await later;
  t.equal(slots.taking(), undefined, 'then nothing to wait for');
  let released = false;
  void release!.then(() => (released = true));
  slots.use(1101, () => Promise.reject(new Error('could not take it')));
  await new Promise((resolve) => setTimeout(resolve, 0));
  t.ok(released, 'the release waited for its file, taken or not');
  t.end();
});

test('CreateSlots: a slot whose file was released before its CREATE was reported is dropped, given again, and never waited for', async (t) => {
  let next = 1;
  const given: number[] = [];
  const slots = new CreateSlots(
    2,
    () => ({ node: next, fh: next++ }),
    (_node, fh) => given.push(fh),
  );
  slots.fill();
  t.ok(slots.isUnused(1), 'given, not reported: unused');
  t.notOk(slots.isUnused(9), 'a handle no slot had: not');
  const dropped = slots.drop(1);
  t.equal(dropped?.node, 1, 'dropped: the slot, with its size cell');
  await dropped?.taken;
  t.pass('and settled');
  t.notOk(slots.isUnused(1), 'then no longer a slot');
  t.equal(slots.drop(1), undefined, 'dropped once');
  t.equal(
    slots.use(1, () => Promise.resolve()),
    undefined,
    'nor used after',
  );
  t.equal(slots.taking(), undefined, 'nothing for requests to wait for');
  t.equal(slots.takenBy(1), undefined, 'nor for a release');
  slots.use(2, () => new Promise<void>(() => {}));
  t.notOk(slots.isUnused(2), 'a used slot is not unused');
  t.equal(slots.drop(2), undefined, 'and is not dropped: its file is being taken');
  slots.fill();
  t.deepEqual(given, [1, 2, 3, 4], 'the two gone given again');
  t.end();
});

test('NodeTable: where inode numbers come from names (S3), a renamed file keeps its node under its new number, and a new file with its old number is not a link of it', (t) => {
  const nodes = new NodeTable(undefined, undefined, 0, undefined, true);
  const dir = nodes.lookedUp(nodes.root, 'd', fid(10n));
  const f = nodes.lookedUp(dir, 'f', fid(11n));
  nodes.renamed(nodes.root, 'd', nodes.root, 'e');
  t.equal(nodes.lookedUp(nodes.root, 'e', fid(20n)), dir, 'the renamed directory under its new number: its node');
  t.equal(nodes.lookedUp(dir, 'f', fid(21n)), f, 'a file in it, whose key changed with it: its node');
  t.equal(f.ino, 21n, 'which has the new number');
  const d2 = nodes.lookedUp(nodes.root, 'd', fid(10n));
  t.notEqual(d2, dir, 'a directory made at the old name, with the old number: a new node');
  const f2 = nodes.lookedUp(d2, 'f', fid(11n));
  t.notEqual(f2, f, 'a file in it with the old number of the renamed one: a new node');
  t.deepEqual([nodes.path(f), nodes.path(f2), f.links.length], ['e/f', 'd/f', 1], 'each with its own name, none a link of the other');
  const plain = new NodeTable();
  const g = plain.lookedUp(plain.root, 'g', fid(30n));
  t.equal(plain.lookedUp(plain.root, 'g2', fid(30n)), g, 'numbers not from names: the same number under another name is a hard link');
  t.notEqual(plain.lookedUp(plain.root, 'g', fid(31n)), g, 'and a name with another number another file');
  t.end();
});

test('KernelOps, numbers from names (S3): a LOOKUP whose stat was taken before a rename over the name is taken again, not answered with the replaced file', async (t) => {
  // a backing whose inode numbers are its paths' hashes, each object's size its content; `holding` makes
  // calls' answers wait (each call done at once, its answer given when released), in a chosen order
  const inoOf = (path: string): bigint => BigInt(`0x${createHash('sha1').update(path).digest('hex').slice(0, 12)}`);
  const sizes = new Map([
    ['t2', 111],
    ['tmp', 222],
  ]);
  const held: Array<() => void> = [];
  let holding = false;
  const later = <T>(work: () => T): Promise<T> => {
    const done = work();
    return holding ? new Promise<T>((resolve) => held.push(() => resolve(done))) : Promise.resolve(done);
  };
  const fileStat = (path: string, size: number) =>
    ({
      ino: inoOf(path),
      size,
      blocks: 0,
      mode: 0o100644,
      nlink: 1,
      uid: 0,
      gid: 0,
      blksize: 4096,
      atimeNs: 0n,
      mtimeNs: 0n,
      ctimeNs: 0n,
      birthtimeNs: 0n,
      kind: 'file',
    }) as unknown as EntryStat;
  const posix = {
    stat: async (path: string) => {
      const size = await later(() => sizes.get(path));
      if (size === undefined) throw new StorageError('ENOENT', `no ${path}`);
      return fileStat(path, size);
    },
    rename: (from: string, to: string) =>
      later(() => {
        sizes.set(to, sizes.get(from)!);
        sizes.delete(from);
      }),
  } as unknown as PosixFs;
  const ops = new KernelOps(posix, { attrTimeout: 1, entryTimeout: 1, xattr: false, inodesFromNames: true }).table();
  let unique = 100;
  const call = (opcode: number, body: Buffer) => ops.get(opcode)!(decodeRequest(raw(opcode, body, unique++, 1))) as Promise<Buffer>;
  const names = (...parts: string[]) => Buffer.from(parts.map((part) => `${part}\0`).join(''));
  await call(Opcode.LOOKUP, names('t2'));
  const tmp = (await call(Opcode.LOOKUP, names('tmp'))).readBigUInt64LE(0);
  holding = true;
  const lookup = call(Opcode.LOOKUP, names('t2')); // its stat sees the old t2 (111 bytes)...
  const newdir = Buffer.alloc(8);
  newdir.writeBigUInt64LE(1n);
  const rename = call(Opcode.RENAME, Buffer.concat([newdir, names('tmp', 't2')])); // ...t2 is tmp's object now, answered first
  holding = false;
  held[1]!();
  await rename;
  held[0]!();
  const entry = await lookup;
  t.equal(entry.readBigUInt64LE(0), tmp, "the name's node: the renamed one");
  // fuse_entry_out: nodeid, generation, entry_valid, attr_valid, their nsecs (40 bytes), then fuse_attr (ino, size, ...)
  t.equal(Number(entry.readBigUInt64LE(48)), 222, "with the renamed file's size, not the replaced one's");
});

test('NodeTable: a file made without a name (O_TMPFILE) is its own node until LINK names it, even over a stale name', (t) => {
  const nodes = new NodeTable();
  const stale = nodes.lookedUp(nodes.root, 'n', fid(50n)); // a name whose file went beside the mount
  const made = nodes.unnamed(fid(50n)); // the backing gave the number again (no birth times)
  t.equal(nodes.path(made), undefined, 'no path');
  t.equal(made.lookups, 1, 'the kernel holds it once');
  t.notEqual(made.id, stale.id, 'not the node of a name');
  t.equal(nodes.lookedUp(nodes.root, 'x', fid(50n)), stale, 'a lookup by another name of the number does not reach it');
  const named = nodes.lookedUp(nodes.root, 'n', fid(50n), made);
  t.equal(named, made, 'LINK names the unnamed node, not the stale node the name had');
  t.equal(nodes.path(made), 'n', 'its path');
  t.equal(made.lookups, 2, 'one lookup more');
  t.equal(nodes.at(nodes.root, 'n'), made, 'the name is its');
  nodes.forget(made.id, 2);
  t.equal(nodes.get(made.id), undefined, 'dropped when the kernel forgot both lookups');
  t.end();
});

test('NodeTable: lookups count, forget drops, a renamed directory moves its subtree, unlink detaches', (t) => {
  const nodes = new NodeTable();
  const dir = nodes.lookedUp(nodes.root, 'dir', fid(10n));
  t.equal(nodes.lookedUp(nodes.root, 'dir', fid(10n)), dir, 'the same name is the same node');
  t.equal(dir.lookups, 2, 'counted twice');
  const file = nodes.lookedUp(dir, 'f\udcff', fid(11n));
  t.equal(nodes.path(file), 'dir/f\udcff', 'paths are made of name strings (bytes kept)');
  t.notEqual(nodes.lookedUp(dir, 'f\udcfe', fid(12n)).id, file.id, 'two byte-distinct names are two nodes');
  nodes.renamed(nodes.root, 'dir', nodes.root, 'moved');
  t.equal(nodes.path(file), 'moved/f\udcff', 'a renamed directory takes its subtree along');
  nodes.unlinked(dir, 'f\udcff');
  t.equal(nodes.path(file), undefined, 'an unlinked node has no path');
  t.notEqual(nodes.lookedUp(dir, 'f\udcff', fid(11n)).id, file.id, 'a new file under the old name (even with the inode number reused) is a new node');
  nodes.forget(dir.id, 1);
  t.ok(nodes.get(dir.id), 'kept while lookups remain');
  nodes.forget(dir.id, 1);
  t.equal(nodes.get(dir.id), undefined, 'dropped when the kernel forgot every lookup');
  nodes.forget(1, 100);
  t.ok(nodes.get(1), 'the root is never forgotten');
  t.end();
});

test('NodeTable: the names of one inode (hard links) are one node, which keeps a path while one name is left', (t) => {
  const nodes = new NodeTable();
  const a = nodes.lookedUp(nodes.root, 'a', fid(20n));
  const d = nodes.lookedUp(nodes.root, 'd', fid(21n));
  t.equal(nodes.lookedUp(d, 'b', fid(20n)), a, 'a second name of inode 20 is the same node');
  t.equal(a.lookups, 2, 'each name counts a lookup');
  nodes.unlinked(nodes.root, 'a');
  t.equal(nodes.path(a), 'd/b', 'after unlinking the first name the node lives on under the second');
  nodes.renamed(d, 'b', nodes.root, 'c');
  t.equal(nodes.path(a), 'c', 'a rename moves the remaining name');
  nodes.lookedUp(d, 'x', fid(20n));
  nodes.renamed(d, 'x', nodes.root, 'c');
  t.deepEqual(nodes.path(a), 'c', 'renaming a name onto another name of the same file changes nothing');
  t.equal(nodes.lookedUp(nodes.root, 'c', fid(30n)).id !== a.id, true, 'a name found naming another inode moves to that inode');
  t.equal(nodes.path(a), 'd/x', 'the old inode keeps its other name');
  nodes.exchanged(nodes.root, 'c', d, 'x');
  t.equal(nodes.path(a), 'c', 'RENAME_EXCHANGE swaps the nodes of the two names');
  nodes.forget(a.id, a.lookups);
  t.equal(nodes.get(a.id), undefined, 'forgotten');
  t.notEqual(nodes.lookedUp(nodes.root, 'c', fid(20n)).id, a.id, 'a forgotten node is not found by its inode');
  t.end();
});

test('replies: dirents padded to 8 bytes, times before 1970', (t) => {
  t.deepEqual([1, 8, 9].map(direntSize), [32, 32, 40], 'fuse_dirent sizes');
  const out = Buffer.alloc(64, 0xaa);
  t.equal(writeDirent(out, 0, 5n, 3, 8, Buffer.from('abc')), 32, 'one dirent written');
  t.deepEqual(
    [out.readBigUInt64LE(0), out.readBigUInt64LE(8), out.readUInt32LE(16), out.readUInt32LE(20)],
    [5n, 3n, 3, 8],
    'ino, next offset, name length, type',
  );
  t.equal(out.subarray(27, 32).toString('hex'), '0000000000', 'padding zeroed');
  const stat = fileStat({ size: 1, atimeNs: -1_500_000_000n });
  const attr = attrOut(stat, { sec: 1, nsec: 0 });
  t.equal(attr.readBigInt64LE(16 + 24), -2n, 'atime seconds rounded down');
  t.equal(attr.readUInt32LE(16 + 48), 500_000_000, 'with a positive nanosecond part');
  t.end();
});

test('LOOKUP with the statx the data path made of the name after it: answered from it, the storage not asked', async (t) => {
  const posix = { stat: async () => Promise.reject(new Error('the storage was asked')) } as unknown as PosixFs;
  const ops = new KernelOps(posix, { attrTimeout: 1, entryTimeout: 1, xattr: false }).table();
  const statx = Buffer.alloc(STATX_SIZE);
  statx.writeUInt32LE(0x7ff, 0); // stx_mask: the basic stats
  statx.writeUInt32LE(1, 16); // nlink
  statx.writeUInt16LE(0o100640, 28); // mode
  statx.writeBigUInt64LE(777n, 32); // ino
  statx.writeBigUInt64LE(4096n, 40); // size
  const request = decodeRequest(Buffer.concat([raw(Opcode.LOOKUP, Buffer.from('file\0')), forwarded(statx, 3)]));
  t.equal(new BodyReader(request.body).name().toString(), 'file', 'the name, without the statx');
  t.deepEqual([request.statx?.length, request.removals], [STATX_SIZE, 3], 'the statx, and the count of names taken away before it');
  t.throws(() => decodeRequest(Buffer.concat([raw(Opcode.LOOKUP, Buffer.from('file\0')), statx])), ProtocolError, 'a statx without the count: a ProtocolError');
  const entry = (await ops.get(Opcode.LOOKUP)!(request)) as Buffer;
  t.ok(entry.readBigUInt64LE(0) > 1n, 'a node for the name');
  t.deepEqual(
    [entry.readBigUInt64LE(40), entry.readBigUInt64LE(48), entry.readUInt32LE(100)],
    [777n, 4096n, 0o100640],
    'its ino, size and mode from the statx',
  );
  const other = Buffer.concat([raw(Opcode.GETATTR, Buffer.alloc(16)), forwarded(statx)]);
  t.throws(() => decodeRequest(other), ProtocolError, 'bytes after any other request are still a ProtocolError');
  t.end();
});

test('LOOKUP gives the directory looked in to the data path, once', async (t) => {
  const attached: unknown[][] = [];
  const posix = {
    stat: async () => fileStat(),
    withDirectoryDescriptor: async (_path: string, use: (fd: number, own: readonly string[]) => boolean) => use(5, []),
  } as unknown as PosixFs;
  const port = {
    attachDirectory: (...args: unknown[]) => attached.push(args) && 0,
    backingOpen: () => -1,
    backingClose: () => 0,
  };
  const ops = new KernelOps(posix, { attrTimeout: 1, entryTimeout: 1, xattr: false }, () => {}, port).table();
  await ops.get(Opcode.LOOKUP)!(decodeRequest(raw(Opcode.LOOKUP, Buffer.from('a\0'))));
  await ops.get(Opcode.LOOKUP)!(decodeRequest(raw(Opcode.LOOKUP, Buffer.from('b\0'))));
  t.deepEqual(attached, [[1, 5, 0n, 0n, []]], 'the root (node 1, inode not checked), with its descriptor, once');
  t.end();
});

/** A stand-in for the data path's known names: what it was told, and lookups it answered (`answer`). */
function knownNames() {
  const names = new Map<string, { node: number; ino: bigint }>();
  const counts = new Map<number, number>();
  return {
    names,
    /** a LOOKUP answered natively: the node the name is known as (its lookup counted), or undefined */
    answer(parent: number, name: string): number | undefined {
      const known = names.get(`${parent}/${name}`);
      if (known) counts.set(known.node, (counts.get(known.node) ?? 0) + 1);
      return known?.node;
    },
    port: {
      named: (parent: Node, name: string, node: Node) => void names.set(`${parent.id}/${name}`, { node: node.id, ino: node.ino }),
      unnamed: (parent: Node, name: string) => void names.delete(`${parent.id}/${name}`),
      settle: (id: number, lookups: number, drop: boolean) => {
        const total = lookups + (counts.get(id) ?? 0);
        counts.delete(id);
        if (total <= 0 && drop) for (const [key, known] of names) if (known.node === id) names.delete(key);
        return total;
      },
    },
  };
}

test('NodeTable: each name given a node is told to the data path, each taken away before the change is answered', (t) => {
  const known = knownNames();
  const nodes = new NodeTable(undefined, known.port);
  const dir = nodes.lookedUp(nodes.root, 'd', fid(10n));
  const a = nodes.lookedUp(dir, 'a', fid(11n));
  const b = nodes.lookedUp(dir, 'b', fid(12n));
  t.deepEqual([...known.names.keys()].sort(), ['1/d', `${dir.id}/a`, `${dir.id}/b`], 'every entry answered');
  nodes.renamed(dir, 'a', dir, 'b');
  t.deepEqual(known.names.get(`${dir.id}/b`), { node: a.id, ino: 11n }, 'a rename over b: b is a');
  t.notOk(known.names.has(`${dir.id}/a`), 'and a is no longer known');
  const c = nodes.lookedUp(dir, 'c', fid(13n));
  nodes.exchanged(dir, 'b', dir, 'c');
  t.deepEqual([known.names.get(`${dir.id}/b`)?.node, known.names.get(`${dir.id}/c`)?.node], [c.id, a.id], 'an exchange swaps them');
  nodes.unlinked(dir, 'b');
  t.notOk(known.names.has(`${dir.id}/b`), 'an unlinked name is not');
  nodes.lookedUp(dir, 'c', fid(99n));
  t.deepEqual(known.names.get(`${dir.id}/c`)?.ino, 99n, 'a name found to be another inode is that inode');
  t.ok(b, 'b was a node');
  t.end();
});

test('NodeTable: lookups answered natively count; a FORGET drops a node only when the total is zero', (t) => {
  const known = knownNames();
  const nodes = new NodeTable(undefined, known.port);
  const f = nodes.lookedUp(nodes.root, 'f', fid(20n));
  for (let i = 0; i < 5; i++) known.answer(1, 'f');
  nodes.forget(f.id, 3);
  t.equal(nodes.get(f.id), f, 'the kernel gave back 3 of 6 lookups: kept');
  nodes.forget(f.id, 3);
  t.equal(nodes.get(f.id), undefined, 'the last 3: dropped');
  t.notOk(known.names.has('1/f'), 'with its name (so the data path cannot give it out again)');
  t.notEqual(nodes.lookedUp(nodes.root, 'f', fid(20n)).id, f.id, 'a LOOKUP after that makes a new node');
  t.end();
});

test('NodeTable: a forgotten node with a name is kept (bounded) and can be given out again by the data path', (t) => {
  const known = knownNames();
  const gone: number[] = [];
  const nodes = new NodeTable((node) => gone.push(node.id), known.port, 2);
  const [a, b, c] = ['a', 'b', 'c'].map((name, i) => nodes.lookedUp(nodes.root, name, fid(BigInt(30 + i))));
  nodes.forget(a!.id, 1);
  t.equal(nodes.get(a!.id), a, 'forgotten, kept');
  t.equal(known.answer(1, 'a'), a!.id, 'its name still known: the data path gives it out again');
  nodes.forget(b!.id, 1);
  nodes.forget(c!.id, 1);
  t.equal(nodes.get(a!.id), a, 'a third forgotten node lets the oldest go, but a was given out again: kept');
  t.equal(nodes.get(b!.id), b, 'b kept');
  nodes.forget(a!.id, 1);
  t.equal(nodes.get(b!.id), undefined, 'a forgotten again: the oldest (b) is let go');
  t.deepEqual(gone, [b!.id], 'and reported gone');
  t.equal(nodes.lookedUp(nodes.root, 'a', fid(30n)), a, 'a lookup by JavaScript of a kept name gives its node');
  nodes.forget(a!.id, 1);
  t.equal(nodes.lookedUp(nodes.root, 'a2', fid(30n)).id === a!.id, false, 'another name of its inode (a hard link, or a reused number) lets it go first');
  t.equal(nodes.get(a!.id), undefined, 'a is gone');
  nodes.unlinked(nodes.root, 'c');
  t.equal(nodes.get(c!.id), undefined, 'a kept node that loses its last name goes');
  t.end();
});

test("entryOf: the data path's reply to a known name's LOOKUP is byte for byte JavaScript's entryOut of the same statx", (t) => {
  const statx = Buffer.alloc(STATX_SIZE);
  statx.writeUInt32LE(0x7ff | 0x800, 0); // mask
  statx.writeUInt32LE(4096, 4); // blksize
  statx.writeUInt32LE(3, 16); // nlink
  statx.writeUInt32LE(1001, 20); // uid
  statx.writeUInt32LE(1002, 24); // gid
  statx.writeUInt16LE(0o20640, 28); // a character device
  statx.writeBigUInt64LE(2n ** 40n + 5n, 32); // ino
  statx.writeBigUInt64LE(2n ** 45n + 1n, 40); // size
  statx.writeBigUInt64LE(77n, 48); // blocks
  statx.writeBigInt64LE(-2n, 64); // atime before 1970
  statx.writeUInt32LE(999_999_999, 72);
  statx.writeBigInt64LE(1_700_000_000n, 96); // ctime
  statx.writeUInt32LE(5, 104);
  statx.writeBigInt64LE(1_700_000_001n, 112); // mtime
  statx.writeUInt32LE(123_456_789, 120);
  statx.writeUInt32LE(259, 128); // rdev major
  statx.writeUInt32LE(70_000, 132); // rdev minor (past 8 bits)
  const attr = { sec: 2, nsec: 500_000_000 };
  const entry = { sec: 86_400, nsec: 7 };
  const node = 2 ** 40 + 3;
  const stat = decodeStatx(statx);
  const ours = entryOut(node, { ...stat, kind: kindOfMode(stat.mode) }, entry, attr);
  const natives = native.FuseSession.entryOf(statx, node, attr.sec, attr.nsec, entry.sec, entry.nsec);
  t.equal(natives.toString('hex'), ours.toString('hex'), 'the same 128 bytes');
  t.end();
});

test('LSEEK and COPY_FILE_RANGE(_64): fields at their offsets; the old COPY_FILE_RANGE counts in a u32', async (t) => {
  const calls: unknown[][] = [];
  const posix = {
    open: async () => 7,
    openedStat: () => ({ mode: 0o100644 }),
    writable: () => true,
    lseek: async (...args: unknown[]) => {
      calls.push(['lseek', ...args]);
      return 2 ** 40;
    },
    copyFileRange: async (...args: unknown[]) => {
      calls.push(['copy', ...args]);
      return args[4] as number;
    },
  } as unknown as PosixFs;
  const ops = new KernelOps(posix, { attrTimeout: 1, entryTimeout: 1, xattr: false }).table();
  const call = (opcode: number, body: Buffer) => ops.get(opcode)!(decodeRequest(raw(opcode, body)));
  await call(Opcode.OPEN, Buffer.alloc(8));

  const lseek = Buffer.alloc(Size.LSEEK_IN);
  lseek.writeBigUInt64LE(7n, 0);
  lseek.writeBigInt64LE(-10n, 8);
  lseek.writeUInt32LE(2, 16);
  const offset = (await call(Opcode.LSEEK, lseek)) as Buffer;
  t.deepEqual(calls.pop(), ['lseek', 7, -10, 2], 'fuse_lseek_in: fh, a signed offset, whence');
  t.equal(offset.length, Size.LSEEK_OUT, 'fuse_lseek_out is one u64');
  t.equal(offset.readBigUInt64LE(0), 2n ** 40n, 'the offset');

  const copy = (length: bigint, fhOut = 7n, flags = 0n) => {
    const body = Buffer.alloc(Size.COPY_FILE_RANGE_IN);
    for (const [i, value] of [3n, 100n, 1n, fhOut, 200n, length, flags].entries()) body.writeBigUInt64LE(value, 8 * i);
    return body;
  };
  const wide = (await call(Opcode.COPY_FILE_RANGE_64, copy(2n ** 33n))) as Buffer;
  t.deepEqual(calls.pop(), ['copy', 3, 100, 7, 200, 2 ** 33], 'fuse_copy_file_range_in: fh_in, off_in, (nodeid_out), fh_out, off_out, len');
  t.deepEqual([wide.length, wide.readBigUInt64LE(0)], [Size.COPY_FILE_RANGE_OUT, 2n ** 33n], 'COPY_FILE_RANGE_64: bytes_copied as a u64');
  const narrow = (await call(Opcode.COPY_FILE_RANGE, copy(2n ** 33n))) as Buffer;
  t.deepEqual(calls.pop(), ['copy', 3, 100, 7, 200, 0xfffff000], 'COPY_FILE_RANGE asks for no more than its u32 reply counts');
  t.deepEqual([narrow.length, narrow.readUInt32LE(0)], [Size.WRITE_OUT, 0xfffff000], 'and answers in fuse_write_out');
  await call(Opcode.COPY_FILE_RANGE_64, copy(10n, 8n)).then(
    () => t.fail('a handle not open on nodeid_out'),
    (error: { code?: string }) => t.equal(error.code, 'EBADF', 'a handle not open on nodeid_out: EBADF'),
  );
  await call(Opcode.COPY_FILE_RANGE_64, copy(10n, 7n, 1n)).then(
    () => t.fail('flags'),
    (error: { code?: string }) => t.equal(error.code, 'EINVAL', 'flags: EINVAL (there are none)'),
  );
  t.equal(calls.length, 0, 'neither reached the storage');
});

/**
 * A backing directory of names -> inode numbers for KernelOps, whose stat and rename can be held back
 * (`hold`): a LOOKUP's stat that ran before a rename and is answered after it, as one racing on another
 * thread (a dentry revalidation takes no directory lock) or forwarded by the data path with its statx.
 */
function heldBacking(entries: Record<string, bigint>) {
  const names = new Map(Object.entries(entries));
  const held: Array<() => void> = [];
  let holding = false;
  const later = <T>(value: () => T): Promise<T> => {
    if (!holding) return Promise.resolve(value());
    const result = value(); // the backing call happens now; its answer reaches JavaScript later
    return new Promise((resolve) => held.push(() => resolve(result)));
  };
  const posix = {
    stat: (path: string) =>
      later(() => names.get(path)).then((ino) => (ino === undefined ? Promise.reject(Object.assign(new Error(path), { code: 'ENOENT' })) : fileStat({ ino }))),
    rename: (from: string, to: string, how: string) =>
      later(() => {
        const a = names.get(from)!;
        if (how === 'exchange') names.set(from, names.get(to)!);
        else names.delete(from);
        names.set(to, a);
      }),
  } as unknown as PosixFs;
  return {
    posix,
    names,
    hold: () => {
      holding = true;
    },
    /** lets the held answers through, in the order given (indexes into the held calls) */
    release: (...order: number[]) => {
      holding = false;
      for (const i of order) held[i]!();
    },
  };
}

const nameBody = (...names: string[]) => Buffer.from(names.map((name) => `${name}\0`).join(''));
const renameBody = (newdir: number, from: string, to: string, flags?: number) => {
  const head = Buffer.alloc(flags === undefined ? 8 : 16);
  head.writeBigUInt64LE(BigInt(newdir), 0);
  if (flags !== undefined) head.writeUInt32LE(flags, 8);
  return Buffer.concat([head, nameBody(from, to)]);
};

test('LOOKUP whose stat ran before a rename over its name and is answered after it: the table keeps the rename', async (t) => {
  const backing = heldBacking({ t2: 20n, tmp: 21n });
  const kops = new KernelOps(backing.posix, { attrTimeout: 1, entryTimeout: 1, xattr: false });
  const ops = kops.table();
  const call = (opcode: number, body: Buffer) => ops.get(opcode)!(decodeRequest(raw(opcode, body)));
  const nodeOf = (entry: unknown) => Number((entry as Buffer).readBigUInt64LE(0));
  const old = nodeOf(await call(Opcode.LOOKUP, nameBody('t2')));
  const tmp = nodeOf(await call(Opcode.LOOKUP, nameBody('tmp')));
  backing.hold();
  const lookup = call(Opcode.LOOKUP, nameBody('t2')); // its stat finds inode 20 (the old t2)
  const rename = call(Opcode.RENAME, renameBody(1, 'tmp', 't2')); // t2 is now inode 21
  backing.release(1, 0); // the rename's answer first, then the lookup's stale stat
  await rename;
  const entry = await lookup;
  t.equal(kops.nodes.path(kops.nodes.get(tmp)!), 't2', "the renamed file's node is at t2");
  t.equal(nodeOf(entry), tmp, 'the LOOKUP of t2 answers it (its stat taken again), not the file renamed over');
  t.equal(kops.nodes.get(old) && kops.nodes.path(kops.nodes.get(old)!), undefined, 'the old t2 has no name');
  const attr = (await ops.get(Opcode.GETATTR)!(decodeRequest(raw(Opcode.GETATTR, Buffer.alloc(16), 43, tmp)))) as Buffer;
  t.equal(attr.readBigUInt64LE(16), 21n, 'its GETATTR is inode 21');
  t.end();
});

test('LOOKUP with a statx taken after an exchange, answered before the exchange is: both nodes keep their names', async (t) => {
  const backing = heldBacking({ a: 30n, b: 31n });
  const kops = new KernelOps(backing.posix, { attrTimeout: 1, entryTimeout: 1, xattr: false });
  const ops = kops.table();
  const nodeOf = (entry: unknown) => Number((entry as Buffer).readBigUInt64LE(0));
  const call = (opcode: number, body: Buffer, extra?: Buffer) => ops.get(opcode)!(decodeRequest(Buffer.concat([raw(opcode, body), ...(extra ? [extra] : [])])));
  const a = nodeOf(await call(Opcode.LOOKUP, nameBody('a')));
  const b = nodeOf(await call(Opcode.LOOKUP, nameBody('b')));
  backing.hold();
  const exchange = call(Opcode.RENAME2, renameBody(1, 'a', 'b', 2 /* RENAME_EXCHANGE */)); // done on disk, answer held
  const statx = Buffer.alloc(STATX_SIZE);
  statx.writeUInt32LE(0x7ff, 0);
  statx.writeUInt32LE(1, 16);
  statx.writeUInt16LE(0o100644, 28);
  statx.writeBigUInt64LE(31n, 32); // a is now b's inode
  const lookup = call(Opcode.LOOKUP, nameBody('a'), forwarded(statx));
  backing.release(0);
  await exchange;
  const entry = await lookup;
  const pathOf = (id: number) => kops.nodes.get(id) && kops.nodes.path(kops.nodes.get(id)!);
  t.deepEqual([pathOf(a), pathOf(b)], ['b', 'a'], 'a is at b and b at a');
  t.equal(nodeOf(entry), b, "the LOOKUP of a answers b's node");
  t.end();
});

test('a forgotten node kept with its name, then unlinked: what was kept by its id goes with it', async (t) => {
  const names = new Map([['f', 40n]]);
  const posix = {
    stat: async (path: string) => {
      const ino = names.get(path);
      if (ino === undefined) throw Object.assign(new Error(path), { code: 'ENOENT' });
      return fileStat({ ino });
    },
    truncate: async () => {},
    unlink: async (path: string) => void names.delete(path),
    withDirectoryDescriptor: async (_path: string, use: (fd: number, own: readonly string[]) => boolean) => use(5, []),
  } as unknown as PosixFs;
  const port = {
    attachDirectory: () => 0,
    named: () => {},
    unnamed: () => 0,
    settle: (_id: number, lookups: number) => lookups,
    backingOpen: () => -1,
    backingClose: () => 0,
  };
  const kops = new KernelOps(posix, { attrTimeout: 1, entryTimeout: 1, xattr: false }, () => {}, port);
  const ops = kops.table();
  const f = Number(((await ops.get(Opcode.LOOKUP)!(decodeRequest(raw(Opcode.LOOKUP, Buffer.from('f\0'))))) as Buffer).readBigUInt64LE(0));
  await ops.get(Opcode.SETATTR)!(decodeRequest(raw(Opcode.SETATTR, setattrBody(FATTR.SIZE | FATTR.KILL_SUIDGID), 44, f)));
  const unprivileged = (kops as unknown as { unprivileged: Set<number> }).unprivileged;
  t.ok(unprivileged.has(f), 'a truncate by a user found no privilege bits to remove: remembered for the node');
  const forget = Buffer.alloc(8);
  forget.writeBigUInt64LE(1n, 0);
  kops.forget(decodeRequest(raw(Opcode.FORGET, forget, 45, f)));
  t.ok(kops.nodes.get(f), 'the kernel forgot it: kept, with its name');
  await ops.get(Opcode.UNLINK)!(decodeRequest(raw(Opcode.UNLINK, Buffer.from('f\0'), 46)));
  t.equal(kops.nodes.get(f), undefined, 'unlinked: dropped');
  t.notOk(unprivileged.has(f), 'and what was remembered for it with it (else one entry per such file for the life of the mount)');
  t.end();
});

/**
 * A backing directory of paths -> inode numbers for KernelOps whose calls act at once and whose answers can
 * be held back (`hold`), like heldBacking, with the calls that act on a node by its path: open, truncate,
 * chmod, link, create. `changes` records each change as [what, inode changed]; `open` the handles left open.
 * A change beside the mount: `names` changed directly; `files` sets an inode's attributes (a write through
 * the mount or beside it).
 */
function pathBacking(entries: Record<string, bigint>, port?: NativePort, inodesFromNames = false) {
  const names = new Map(Object.entries(entries));
  const held: Array<() => void> = [];
  const changes: Array<[string, bigint | undefined]> = [];
  const files = new Map<bigint, Partial<EntryStat>>();
  const statOf = (ino: bigint) => fileStat({ ...files.get(ino), ino });
  const open = new Map<number, bigint>();
  const listed = new Map<number, bigint>();
  const forWriting = new Set<number>();
  const made: string[] = [];
  let holding = false;
  let nextFh = 1;
  let nextIno = 100n;
  const absent = (path: string) => Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  const later = <T>(value: () => T): Promise<T> => {
    // the backing call happens now; its answer reaches JavaScript now, or later when held
    let result: { value: T } | { error: unknown };
    try {
      result = { value: value() };
    } catch (error) {
      result = { error };
    }
    const answer = () => ('value' in result ? Promise.resolve(result.value) : Promise.reject(result.error));
    if (!holding) return answer();
    return new Promise<void>((resolve) => held.push(resolve)).then(answer);
  };
  const inoAt = (path: string) => {
    const ino = names.get(path);
    if (ino === undefined) throw absent(path);
    return ino;
  };
  const pathOf = (ino: bigint) => {
    if (ino === 1n) return '';
    for (const [path, at] of names) if (at === ino) return path;
    throw absent(`inode ${ino}`);
  };
  const namesIn = (path: string) =>
    [...names.keys()]
      .filter((name) => (path === '' ? !name.includes('/') : name.startsWith(`${path}/`) && !name.slice(path.length + 1).includes('/')))
      .map((name) => (path === '' ? name : name.slice(path.length + 1)));
  const opened = (ino: bigint) => {
    const fh = nextFh++;
    open.set(fh, ino);
    return fh;
  };
  const posix = {
    stat: (path: string) => later(() => statOf(path === '' ? 1n : inoAt(path))),
    open: (path: string, flags: number) =>
      later(() => {
        const ino = inoAt(path);
        if (flags & O.TRUNC) changes.push(['truncate', ino]);
        const fh = opened(ino);
        if ((flags & 3) !== O.RDONLY) forWriting.add(fh);
        return fh;
      }),
    writable: (fh: number) => forWriting.has(fh),
    nativeAccess: () => undefined,
    unlink: (path: string) =>
      later(() => {
        inoAt(path);
        names.delete(path);
      }),
    openedStat: (fh: number) => statOf(open.get(fh)!),
    fstat: async (fh: number) => statOf(open.get(fh)!),
    release: async (fh: number) => void open.delete(fh),
    ftruncate: async (fh: number) => {
      // as the storage: a handle open for reading only refuses a truncate
      if (!forWriting.has(fh) || !open.has(fh)) throw Object.assign(new Error(`EBADF: handle ${fh} is not open for writing`), { code: 'EBADF' });
      changes.push(['truncate', open.get(fh)]);
    },
    truncate: (path: string) => later(() => void changes.push(['truncate', inoAt(path)])),
    chmod: (path: string) => later(() => void changes.push(['chmod', inoAt(path)])),
    chown: (path: string) => later(() => void changes.push(['chown', inoAt(path)])),
    utimens: (path: string) => later(() => void changes.push(['utimens', inoAt(path)])),
    readlink: (path: string) => later(() => `target of ${inoAt(path)}`),
    setxattr: (path: string) => later(() => void changes.push(['setxattr', inoAt(path)])),
    removexattr: (path: string) => later(() => void changes.push(['removexattr', inoAt(path)])),
    fchmod: async (fh: number) => void changes.push(['fchmod', open.get(fh)]),
    fchown: async (fh: number) => void changes.push(['fchown', open.get(fh)]),
    futimens: async (fh: number) => void changes.push(['futimens', open.get(fh)]),
    link: (from: string, to: string) =>
      later(() => {
        names.set(to, inoAt(from));
        changes.push(['link', names.get(to)]);
      }),
    create: (path: string) =>
      later(() => {
        names.set(path, nextIno);
        made.push(path);
        return opened(nextIno++);
      }),
    rename: (from: string, to: string, how: string) =>
      later(() => {
        const a = inoAt(from);
        // a directory's names move with it
        const below = (dir: string) => [...names].filter(([path]) => path.startsWith(`${dir}/`));
        const fromBelow = below(from);
        const toBelow = how === 'exchange' ? below(to) : [];
        for (const [path] of [...fromBelow, ...toBelow]) names.delete(path);
        if (how === 'exchange') names.set(from, inoAt(to));
        else names.delete(from);
        names.set(to, a);
        for (const [path, ino] of fromBelow) names.set(`${to}${path.slice(from.length)}`, ino);
        for (const [path, ino] of toBelow) names.set(`${from}${path.slice(to.length)}`, ino);
      }),
    // a directory open for a listing is its inode (a descriptor): its names wherever it is now
    openDirectory: (path: string) =>
      later(() => {
        const dh = nextFh++;
        listed.set(dh, path === '' ? 1n : inoAt(path));
        return dh;
      }),
    listDirectory: (dh: number) => later(() => namesIn(pathOf(listed.get(dh)!)).map((name) => ({ name }))),
    statInDirectory: (dh: number, name?: string) =>
      later(() => {
        const dir = pathOf(listed.get(dh)!);
        return fileStat({ ino: name === undefined ? listed.get(dh)! : inoAt(dir === '' ? name : `${dir}/${name}`) });
      }),
    closeDirectory: async (dh: number) => void listed.delete(dh),
  } as unknown as PosixFs;
  const kops = new KernelOps(posix, { attrTimeout: 1, entryTimeout: 1, xattr: true, inodesFromNames }, () => {}, port);
  const ops = kops.table();
  let unique = 100;
  const call = (opcode: number, body: Buffer, nodeid = 1) => ops.get(opcode)!(decodeRequest(raw(opcode, body, unique++, nodeid)));
  const lookup = async (name: string, parent = 1) => Number(((await call(Opcode.LOOKUP, nameBody(name), parent)) as Buffer).readBigUInt64LE(0));
  /** what a call came to: its reply, or its error's code */
  const outcome = (reply: Promise<unknown>) =>
    reply.then(
      (body) => body,
      (error: { code?: string }) => error.code,
    );
  return {
    kops,
    call,
    lookup,
    outcome,
    names,
    changes,
    files,
    open,
    made,
    hold: () => {
      holding = true;
    },
    /** lets the held answers through, in the order given (indexes into the held calls; those absent skipped) */
    release: (...order: number[]) => {
      holding = false;
      for (const i of order) held[i]?.();
    },
  };
}

/** A fuse_setattr_in (88 bytes): `valid`, the mode when it sets one, handle `fh` (with FATTR.FH); size 0. */
function setattrBody(valid: number, mode = 0, fh = 0): Buffer {
  const body = Buffer.alloc(88);
  body.writeUInt32LE(valid, 0);
  body.writeBigUInt64LE(BigInt(fh), 8);
  body.writeUInt32LE(mode, 68);
  return body;
}

const openBody = (flags: number) => {
  const body = Buffer.alloc(8);
  body.writeUInt32LE(flags, 0);
  return body;
};

// A node's request racing a rename over its name: the kernel resolved t to node N (inode 20), then a rename
// of tmp (inode 21) over t was done in the backing, its answer (the node table's update) still to come, when
// N's request reached its path. Each must act on inode 20 or fail cleanly, never on inode 21.

test('OPEN with O_TRUNC of a node whose name a rename is replacing: never opens or truncates the file put there', async (t) => {
  const b = pathBacking({ t: 20n, tmp: 21n });
  const n = await b.lookup('t');
  await b.lookup('tmp');
  b.hold();
  const rename = b.call(Opcode.RENAME, renameBody(1, 'tmp', 't')); // done in the backing, answer held
  const open = b.outcome(b.call(Opcode.OPEN, openBody(O.RDWR | O.TRUNC), n)); // reaches t: inode 21
  b.release(1, 0); // the open's answer first, then the rename's
  await rename;
  t.equal(await open, 'ESTALE', 'the OPEN of N fails: ESTALE (N lost its name; the kernel looks t up again)');
  t.deepEqual(b.changes, [], 'inode 21 was not truncated');
  t.equal(b.open.size, 0, 'no handle left open (inode 21 was opened, found not N, closed)');
  t.end();
});

test('OPEN of a node whose name is being exchanged: the node keeps its own file', async (t) => {
  const b = pathBacking({ a: 20n, b: 21n });
  const a = await b.lookup('a');
  await b.lookup('b');
  b.hold();
  const exchange = b.call(Opcode.RENAME2, renameBody(1, 'a', 'b', 2 /* RENAME_EXCHANGE */));
  const open = b.outcome(b.call(Opcode.OPEN, openBody(O.RDONLY), a)); // reaches a: inode 21
  b.release(1, 0);
  await exchange;
  const reply = await open;
  t.ok(Buffer.isBuffer(reply), 'opened');
  t.deepEqual([...b.open.values()], [20n], "the handle is N's inode (20), opened at its new name b");
  t.end();
});

test('GETATTR of a node whose name a rename is replacing: never the attributes of the file put there', async (t) => {
  const b = pathBacking({ t: 20n, tmp: 21n });
  const n = await b.lookup('t');
  await b.lookup('tmp');
  b.hold();
  const rename = b.call(Opcode.RENAME, renameBody(1, 'tmp', 't'));
  const getattr = b.outcome(b.call(Opcode.GETATTR, Buffer.alloc(16), n));
  b.release(1, 0);
  await rename;
  t.equal(await getattr, 'ESTALE', 'ESTALE, not inode 21');
  t.end();
});

test('GETATTR of a node being renamed away: its attributes at its new name, not ENOENT', async (t) => {
  const b = pathBacking({ t: 20n });
  const n = await b.lookup('t');
  b.hold();
  const rename = b.call(Opcode.RENAME, renameBody(1, 't', 'u'));
  const getattr = b.outcome(b.call(Opcode.GETATTR, Buffer.alloc(16), n)); // t is absent now
  b.release(1, 0);
  await rename;
  const attr = await getattr;
  t.ok(Buffer.isBuffer(attr) && attr.readBigUInt64LE(16) === 20n, 'inode 20');
  t.end();
});

test('SETATTR (chmod and truncate) by path of a node whose name a rename is replacing: the file put there is never changed', async (t) => {
  const b = pathBacking({ t: 20n, tmp: 21n });
  const n = await b.lookup('t');
  await b.lookup('tmp');
  b.hold();
  const rename = b.call(Opcode.RENAME, renameBody(1, 'tmp', 't'));
  const body = setattrBody(FATTR.MODE | FATTR.SIZE, 0o100600);
  const setattr = b.outcome(b.call(Opcode.SETATTR, body, n));
  b.release(0, 1, 2);
  await rename;
  t.equal(await setattr, 'ESTALE', 'ESTALE: N lost its name while the SETATTR waited (no handle to change it through)');
  t.deepEqual(b.changes, [], 'inode 21 was neither chmod-ed nor truncated');
  t.end();
});

test('SETATTR by path of a node being renamed away: changes the node at its new name', async (t) => {
  const b = pathBacking({ t: 20n });
  const n = await b.lookup('t');
  b.hold();
  const rename = b.call(Opcode.RENAME, renameBody(1, 't', 'u'));
  const body = setattrBody(FATTR.SIZE);
  const setattr = b.outcome(b.call(Opcode.SETATTR, body, n));
  b.release(0, 1);
  await rename;
  t.ok(Buffer.isBuffer(await setattr), 'done');
  t.deepEqual(b.changes, [['truncate', 20n]], 'inode 20 truncated');
  t.end();
});

test('SETATTR size of a node renamed over while open for reading only: ESTALE, then ENOENT, and nothing truncated (not EBADF from the read-only handle)', async (t) => {
  const b = pathBacking({ t: 20n, tmp: 21n });
  const n = await b.lookup('t');
  await b.lookup('tmp');
  await b.call(Opcode.OPEN, openBody(O.RDONLY), n);
  await b.call(Opcode.RENAME, renameBody(1, 'tmp', 't')); // N loses its name; its open handle stays
  const body = setattrBody(FATTR.SIZE); // truncate(path) resolved to N before the rename: no handle given
  t.equal(await b.outcome(b.call(Opcode.SETATTR, body, n)), 'ESTALE', 'ESTALE: it lost its name moments ago (the kernel looks t up again)');
  await new Promise((resolve) => setTimeout(resolve, 1100));
  t.equal(await b.outcome(b.call(Opcode.SETATTR, body, n)), 'ENOENT', 'a second later ENOENT: removed, and no handle of it is open for writing');
  const attr = await b.outcome(b.call(Opcode.GETATTR, Buffer.alloc(16), n));
  t.ok(Buffer.isBuffer(attr) && attr.readBigUInt64LE(16) === 20n, 'its GETATTR: inode 20, through the open handle');
  t.deepEqual(b.changes, [], 'nothing truncated');
  t.end();
});

test('SETATTR size of a node renamed over while open for reading and for writing: truncated through the handle open for writing', async (t) => {
  const b = pathBacking({ t: 20n, tmp: 21n });
  const n = await b.lookup('t');
  await b.lookup('tmp');
  await b.call(Opcode.OPEN, openBody(O.RDONLY), n); // the first handle: read-only
  await b.call(Opcode.OPEN, openBody(O.RDWR), n);
  await b.call(Opcode.RENAME, renameBody(1, 'tmp', 't'));
  const body = setattrBody(FATTR.SIZE);
  t.ok(Buffer.isBuffer(await b.outcome(b.call(Opcode.SETATTR, body, n))), 'done');
  t.deepEqual(b.changes, [['truncate', 20n]], 'inode 20 truncated, as a local file system truncates the unlinked file');
  t.end();
});

test("SETATTR size of a node renamed over, through another request's handle being released meanwhile: ESTALE, not EBADF", async (t) => {
  const b = pathBacking({ t: 20n, tmp: 21n });
  const n = await b.lookup('t');
  await b.lookup('tmp');
  const fh = Number(((await b.call(Opcode.OPEN, openBody(O.RDWR), n)) as Buffer).readBigUInt64LE(0));
  await b.call(Opcode.RENAME, renameBody(1, 'tmp', 't'));
  b.open.delete(fh); // the storage closed it: the data path answered its RELEASE, whose report is still to come
  t.equal(await b.outcome(b.call(Opcode.SETATTR, setattrBody(FATTR.SIZE), n)), 'ESTALE', 'ESTALE (the kernel looks t up again), not EBADF');
  t.deepEqual(b.changes, [], 'nothing truncated');
  t.end();
});

test('LINK of a node whose name a rename (in another directory) is replacing: never links the file put there', async (t) => {
  const b = pathBacking({ t: 20n, tmp: 21n, d: 30n });
  const n = await b.lookup('t');
  await b.lookup('tmp');
  const d = await b.lookup('d');
  b.hold();
  const rename = b.call(Opcode.RENAME, renameBody(1, 'tmp', 't'));
  const source = Buffer.alloc(8);
  source.writeBigUInt64LE(BigInt(n), 0);
  const link = b.outcome(b.call(Opcode.LINK, Buffer.concat([source, nameBody('h')]), d)); // d/h -> N
  b.release(0, 1);
  await rename;
  t.equal(await link, 'ESTALE', 'ESTALE: N lost its name while the LINK waited');
  t.deepEqual(b.changes, [], 'inode 21 was not linked');
  t.equal(b.names.get('d/h'), undefined, 'no d/h');
  t.end();
});

test("CREATE in a directory being exchanged with another: the file is made in the node's directory", async (t) => {
  const b = pathBacking({ P: 50n, Q: 51n });
  const p = await b.lookup('P');
  await b.lookup('Q');
  b.hold();
  const exchange = b.call(Opcode.RENAME2, renameBody(1, 'P', 'Q', 2 /* RENAME_EXCHANGE */));
  const createIn = Buffer.alloc(16);
  createIn.writeUInt32LE(O.RDWR, 0);
  createIn.writeUInt32LE(0o100644, 4);
  const create = b.outcome(b.call(Opcode.CREATE, Buffer.concat([createIn, nameBody('x')]), p));
  b.release(0, 1);
  await exchange;
  await create;
  t.deepEqual(b.made, ['Q/x'], "made in inode 50's directory, now named Q");
  t.end();
});

test('OPEN keeps the page cache only while the file is as the mount last saw it: a change beside drops it, writes through the mount do not', async (t) => {
  const b = pathBacking({ t: 20n });
  const n = await b.lookup('t');
  const keepsCache = async (flags: number, meanwhile = () => {}) => {
    const reply = (await b.call(Opcode.OPEN, openBody(flags), n)) as Buffer;
    meanwhile();
    await b.call(Opcode.RELEASE, Buffer.concat([reply.subarray(0, 8), Buffer.alloc(16)]), n);
    return (reply.readUInt32LE(8) & 2) /* FOPEN_KEEP_CACHE */ !== 0;
  };
  t.notOk(await keepsCache(O.RDONLY), 'the first OPEN: nothing known of the cache, not kept');
  t.ok(await keepsCache(O.RDONLY), 'unchanged since: kept');
  b.files.set(20n, { mtimeNs: 5n, ctimeNs: 5n }); // rewritten beside the mount, same size
  t.notOk(await keepsCache(O.RDONLY), 'changed beside the mount (same size, new times): not kept');
  t.ok(await keepsCache(O.RDWR, () => b.files.set(20n, { size: 10, mtimeNs: 6n, ctimeNs: 6n })), 'kept, then written through the mount');
  t.ok(await keepsCache(O.RDONLY), 'the writes through the mount do not drop it: kept');
  b.files.set(20n, { size: 10, mtimeNs: 6n, ctimeNs: 7n }); // chmod beside the mount
  t.notOk(await keepsCache(O.RDONLY), 'a new ctime: not kept');
  t.end();
});

// READDIRPLUS and LOOKUP learn names from stats taken without holding the directory: a stat taken before a
// name change and answered after the change reached the node table shows the directory as it was. Such a
// stat must never be learned: a name moved back to the replaced inode's node (the renamed file's node
// losing its name, later requests by path acting on the file now there), or a removed name kept.

/** READDIRPLUS of open directory `fh` from its start (its stats are made now): the entries as [name, node id, inode in its attributes]. */
async function readdirplusOf(b: ReturnType<typeof pathBacking>, fh: number, dir = 1): Promise<Array<[string, number, bigint]>> {
  const readIn = Buffer.alloc(40);
  readIn.writeBigUInt64LE(BigInt(fh), 0);
  readIn.writeUInt32LE(4096, 16);
  const out = (await b.call(Opcode.READDIRPLUS, readIn, dir)) as Buffer;
  const entries: Array<[string, number, bigint]> = [];
  for (let at = 0; at < out.length; ) {
    const length = out.readUInt32LE(at + Size.ENTRY_OUT + 16);
    const name = out.toString('utf8', at + Size.ENTRY_OUT + 24, at + Size.ENTRY_OUT + 24 + length);
    entries.push([name, Number(out.readBigUInt64LE(at)), out.readBigUInt64LE(at + 40)]);
    at += Size.ENTRY_OUT + ((24 + length + 7) & ~7);
  }
  return entries;
}

const linksOf = (kops: KernelOps, id: number) => kops.nodes.get(id)?.links.map((link) => link.name) ?? [];

test('READDIRPLUS of a directory being exchanged with another: its stats, made in its own directory, reach its own entries, learned', async (t) => {
  const b = pathBacking({ d: 30n, 'd/x': 31n, e: 40n, 'e/x': 41n });
  const d = await b.lookup('d');
  const e = await b.lookup('e');
  const dx = await b.lookup('x', d);
  const ex = await b.lookup('x', e);
  const fh = Number(((await b.call(Opcode.OPENDIR, Buffer.alloc(8), d)) as Buffer).readBigUInt64LE(0));
  b.hold();
  const exchange = b.call(Opcode.RENAME2, renameBody(1, 'd', 'e', 2 /* RENAME_EXCHANGE */)); // done in the backing
  // the kernel locks neither directory exchanged: by node d's path before the table's update ('d'), the
  // listing's stats would reach node e's directory (its x is inode 41)
  const listing = readdirplusOf(b, fh, d);
  b.release(0, 1, 2, 3, 4); // the exchange's table update first, then the listing's stats
  await exchange;
  const entries = await listing;
  t.deepEqual(linksOf(b.kops, dx), ['x'], "d's x (inode 31) keeps its name");
  t.equal(b.kops.nodes.path(b.kops.nodes.get(dx)!), 'e/x', 'at e/x, where it is now');
  t.deepEqual(linksOf(b.kops, ex), ['x'], "e's x (inode 41) has one name, not a second one in node d");
  t.equal(b.kops.nodes.path(b.kops.nodes.get(ex)!), 'd/x', 'at d/x');
  const x = entries.find(([name]) => name === 'x');
  t.ok(x && x[1] === dx && x[2] === 31n, `the entry x is node ${dx}, inode 31 (${x})`);
  t.end();
});

const entriesOf = (entries: Array<[string, number, bigint]>) => entries.filter(([name]) => name !== '.' && name !== '..').map(([name, , ino]) => [name, ino]);
const X_AND_Y = [
  ['x', 31n],
  ['y', 32n],
];

/** A backing with directory d (inode 30) holding x (31) and y (32); d looked up and open (OPENDIR). */
async function openedD() {
  const b = pathBacking({ d: 30n, 'd/x': 31n, 'd/y': 32n });
  const d = await b.lookup('d');
  const fh = Number(((await b.call(Opcode.OPENDIR, Buffer.alloc(8), d)) as Buffer).readBigUInt64LE(0));
  return { b, d, fh };
}

test('READDIRPLUS of a directory being renamed: its stats, made in its own directory, reach its entries, none skipped', async (t) => {
  const { b, d, fh } = await openedD();
  b.hold();
  const rename = b.call(Opcode.RENAME, renameBody(1, 'd', 'f')); // done in the backing, its answer held
  const listing = readdirplusOf(b, fh, d);
  b.release(0, 1, 2, 3, 4);
  await rename;
  t.deepEqual(entriesOf(await listing), X_AND_Y, 'x and y, with their own inodes (by the old path d/x, d/y they were gone)');
  t.end();
});

test('READDIRPLUS whose stats are under way: a rename of the listed directory does not wait for them, and they are its own entries', async (t) => {
  const { b, d, fh } = await openedD();
  b.hold();
  const listing = readdirplusOf(b, fh, d); // its stats' answers held
  const rename = b.call(Opcode.RENAME, renameBody(1, 'd', 'f'));
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(b.names.get('f') === 30n, 'the rename reached the backing while the listing was under way (holding the path made it wait)');
  b.release(0, 1, 2, 3, 4, 5, 6);
  await rename;
  t.deepEqual(entriesOf(await listing), X_AND_Y, 'x and y, with their own inodes');
  t.end();
});

test('READDIRPLUS of a directory renamed beside the mount after OPENDIR: its entries, not ENOENT', async (t) => {
  const { b, d, fh } = await openedD();
  for (const [from, to] of [
    ['d', 'f'],
    ['d/x', 'f/x'],
    ['d/y', 'f/y'],
  ] as const) {
    b.names.set(to, b.names.get(from)!);
    b.names.delete(from);
  }
  t.deepEqual(
    entriesOf(await b.outcome(readdirplusOf(b, fh, d)).then((r) => (Array.isArray(r) ? r : []))),
    X_AND_Y,
    'x and y, with their own inodes (by the path d, ENOENT)',
  );
  t.end();
});

test('LOOKUP whose stat ran before its name was renamed away, answered after: the name is not learned back', async (t) => {
  const b = pathBacking({ tmp: 21n });
  const m = await b.lookup('tmp');
  b.hold();
  const lookup = b.call(Opcode.LOOKUP, nameBody('tmp')); // its stat finds tmp (inode 21)
  const rename = b.call(Opcode.RENAME, renameBody(1, 'tmp', 't'));
  b.release(1, 0);
  await rename;
  const entry = (await lookup) as Buffer;
  t.deepEqual(linksOf(b.kops, m), ['t'], 'inode 21 is t, and only t');
  t.equal(Number(entry.readBigUInt64LE(0)), 0, 'the LOOKUP of tmp (its stat taken again) answers: absent');
  t.end();
});

test("LOOKUP whose path was taken while its directory was being renamed: answered at the directory's new name, not absent", async (t) => {
  const b = pathBacking({ d: 30n, 'd/x': 31n });
  const d = await b.lookup('d');
  const dx = await b.lookup('x', d);
  b.hold();
  const rename = b.call(Opcode.RENAME, renameBody(1, 'd', 'f')); // d is f now, its table update to come
  const lookup = b.call(Opcode.LOOKUP, nameBody('x'), d); // its path d/x names nothing now
  b.release(0, 1);
  await rename;
  const entry = await b.outcome(lookup);
  t.ok(Buffer.isBuffer(entry), 'the LOOKUP of x in d answers');
  t.equal(
    Buffer.isBuffer(entry) && Number(entry.readBigUInt64LE(0)),
    dx,
    'x in node d (now f): its x (inode 31), not absent (the kernel would keep the absence)',
  );
  t.end();
});

test('OPEN of a node under way when a rename takes its last name: the data path is not told it was removed (fstat of the open file would be ENOENT)', async (t) => {
  const removed: number[] = [];
  const b = pathBacking(
    { t: 20n, tmp: 21n, u: 22n },
    {
      removed: (node) => void removed.push(node),
      backingOpen: () => -1,
      backingClose: () => 0,
    },
  );
  const n = await b.lookup('t');
  await b.lookup('tmp');
  b.hold();
  const open = b.outcome(b.call(Opcode.OPEN, openBody(O.RDONLY), n)); // opens t: inode 20, N's own file
  const rename = b.call(Opcode.RENAME, renameBody(1, 'tmp', 't')); // N loses its last name
  b.release(1, 0); // the rename's table update first, then the open's answer
  await rename;
  t.ok(Buffer.isBuffer(await open), 'the OPEN of N succeeds: the file it opened is N (as on a local file system)');
  t.deepEqual(removed, [], 'N is not reported removed: it has an open handle');
  // without a handle (an OPEN that fails), a node that lost its name is reported removed
  const u = await b.lookup('u');
  b.hold();
  const unlink = b.call(Opcode.UNLINK, nameBody('u')); // done in the backing, its table update to come
  const openU = b.outcome(b.call(Opcode.OPEN, openBody(O.RDONLY), u)); // finds no u
  b.release(2, 3); // (held calls count on from the first two)
  await unlink;
  t.equal(await openU, 'ESTALE', 'an OPEN that lost the race fails (ESTALE: the kernel looks u up again)');
  t.deepEqual(removed, [u], 'and its node, without a name or a handle, is reported removed once the OPEN ended');
  t.end();
});

// A change beside the mount: the backing's t, node N's name (inode 20), now holds another file (inode 21,
// a file renamed over it in the backing directory, not through the mount). The node table still says t is
// N: a request that changes N by path must not reach inode 21.

test('SETATTR, SETXATTR, REMOVEXATTR, READLINK and LINK by the path of a node whose file was replaced beside the mount: ESTALE, nothing changed', async (t) => {
  const b = pathBacking({ t: 20n });
  const n = await b.lookup('t');
  b.names.set('t', 21n);
  const all = FATTR.MODE | FATTR.UID | FATTR.SIZE | FATTR.MTIME;
  t.equal(await b.outcome(b.call(Opcode.SETATTR, setattrBody(all, 0o100600), n)), 'ESTALE', 'SETATTR (chmod, chown, truncate, utimes): ESTALE');
  const xattr = Buffer.concat([Buffer.alloc(8), nameBody('user.a'), Buffer.from('v')]);
  xattr.writeUInt32LE(1, 0);
  t.equal(await b.outcome(b.call(Opcode.SETXATTR, xattr, n)), 'ESTALE', 'SETXATTR: ESTALE');
  t.equal(await b.outcome(b.call(Opcode.REMOVEXATTR, nameBody('user.a'), n)), 'ESTALE', 'REMOVEXATTR: ESTALE');
  t.equal(await b.outcome(b.call(Opcode.READLINK, Buffer.alloc(0), n)), 'ESTALE', "READLINK: ESTALE, not the other file's target");
  const link = Buffer.concat([Buffer.alloc(8), nameBody('u')]);
  link.writeBigUInt64LE(BigInt(n), 0);
  t.equal(await b.outcome(b.call(Opcode.LINK, link, 1)), 'ESTALE', 'LINK with it as the source: ESTALE');
  t.deepEqual(b.changes, [], 'inode 21 was not changed, nor given a name');
  t.equal(b.names.get('u'), undefined, 'no name u');
  b.names.set('t', 20n);
  t.ok(Buffer.isBuffer(await b.outcome(b.call(Opcode.SETATTR, setattrBody(FATTR.MODE, 0o100600), n))), 'its own file back at t: SETATTR done');
  t.deepEqual(b.changes, [['chmod', 20n]], 'on inode 20');
  t.end();
});

test("SETATTR with the request's handle: mode, owner, size and times through it, on the open file's inode, whatever its path holds", async (t) => {
  const b = pathBacking({ t: 20n });
  const n = await b.lookup('t');
  const fh = Number(((await b.call(Opcode.OPEN, openBody(O.RDWR), n)) as Buffer).readBigUInt64LE(0));
  b.names.set('t', 21n); // replaced beside the mount while open
  const body = setattrBody(FATTR.FH | FATTR.MODE | FATTR.UID | FATTR.SIZE | FATTR.MTIME, 0o100600, fh);
  t.ok(Buffer.isBuffer(await b.outcome(b.call(Opcode.SETATTR, body, n))), 'done');
  t.deepEqual(
    b.changes,
    [
      ['fchmod', 20n],
      ['fchown', 20n],
      ['truncate', 20n],
      ['futimens', 20n],
    ],
    'every change through the handle, on inode 20; nothing by path',
  );
  t.end();
});

test('SETATTR by path where inode numbers come from names (S3: a rename gives a file another one): the path is not checked', async (t) => {
  const b = pathBacking({ t: 20n }, undefined, true);
  const n = await b.lookup('t');
  b.names.set('t', 21n); // what a renamed object looks like there: same file, the number of its new key
  t.ok(Buffer.isBuffer(await b.outcome(b.call(Opcode.SETATTR, setattrBody(FATTR.MODE, 0o100600), n))), 'done, not ESTALE');
  t.deepEqual(b.changes, [['chmod', 21n]], 'at its path');
  t.end();
});

test('LOOKUP: the inode number of a known node, born at another time, is a new file; where numbers come from names (S3) the number alone decides', async (t) => {
  for (const inodesFromNames of [false, true]) {
    const b = pathBacking({ f: 20n }, undefined, inodesFromNames);
    b.files.set(20n, { birthtimeNs: 1_000n });
    const first = await b.lookup('f');
    // f removed beside the mount and another file made there with its number (ext4); on S3 the "birth time"
    // is the mtime, which a write changes: the same object
    b.files.set(20n, { birthtimeNs: 2_000n });
    const again = await b.lookup('f');
    if (inodesFromNames) t.equal(again, first, 'inodesFromNames: another birth time, the same node');
    else t.notEqual(again, first, 'another birth time: another node');
    t.equal(await b.lookup('f'), again, 'and that node when looked up again');
  }
  t.end();
});

test('GETXATTR: an absence is handed to the data path, unless an attribute was set or removed while it was found out', async (t) => {
  const absent = () => Promise.reject(new StorageError('ENODATA', 'no such attribute'));
  let pending: (() => void) | undefined;
  const posix = {
    getxattr: (_path: string, name: string) =>
      name === 'user.slow' ? new Promise<Buffer>((_resolve, reject) => (pending = () => reject(new StorageError('ENODATA', 'no such attribute')))) : absent(),
    setxattr: async () => {},
    removexattr: async () => {},
  } as unknown as PosixFs;
  const told: string[] = [];
  const port: NativePort = {
    absentXattr: (node, name) => void told.push(`absent ${node} ${name}`),
    forgetXattrs: () => void told.push('forget'),
    backingOpen: () => -1,
    backingClose: () => 0,
  };
  const ops = new KernelOps(posix, { attrTimeout: 1, entryTimeout: 1, xattr: true }, () => {}, port).table();
  const getxattrBody = (name: string) => Buffer.concat([Buffer.alloc(8), Buffer.from(`${name}\0`)]);
  const get = (name: string) => ops.get(Opcode.GETXATTR)!(decodeRequest(raw(Opcode.GETXATTR, getxattrBody(name))));
  const setxattrBody = (name: string, value: string) => {
    const fixed = Buffer.alloc(8);
    fixed.writeUInt32LE(value.length, 0);
    return Buffer.concat([fixed, Buffer.from(`${name}\0${value}`)]);
  };
  await get('security.selinux').catch(() => undefined);
  t.deepEqual(told.splice(0), ['absent 1 security.selinux'], 'an ENODATA: the data path answers that name of that node next time');
  const slow = get('user.slow').catch((error: { code?: string }) => error.code);
  await ops.get(Opcode.SETXATTR)!(decodeRequest(raw(Opcode.SETXATTR, setxattrBody('user.other', 'v'))));
  t.deepEqual(told.splice(0), ['forget', 'forget'], 'a SETXATTR forgets every absence before and after it');
  pending!();
  t.equal(await slow, 'ENODATA', 'the GETXATTR begun before the change still answers ENODATA');
  t.deepEqual(told.splice(0), [], 'but it is not handed on: the change may have been the one that made it present');
  await ops.get(Opcode.REMOVEXATTR)!(decodeRequest(raw(Opcode.REMOVEXATTR, Buffer.from('user.other\0'))));
  t.deepEqual(told.splice(0), ['forget', 'forget'], 'a REMOVEXATTR too');
  t.end();
});

test('GETXATTR: the first of a node lists its attributes; none at all is handed to the data path for the names the storage answers ENODATA', async (t) => {
  const lists: Record<string, string[]> = { '': [], f: ['user.a'], g: [], h: [] };
  const inos: Record<string, bigint> = { f: 7n, g: 8n, h: 9n };
  const calls: string[] = [];
  const posix = {
    stat: async (path: string) => fileStat({ ino: inos[path] ?? 1n }),
    listxattr: async (path: string) => {
      calls.push(`list ${path}`);
      return lists[path] ?? [];
    },
    getxattr: async (path: string, name: string) => {
      calls.push(`get ${path} ${name}`);
      if (name === 'user.a') return Buffer.from('A');
      // a namespace the storage does not keep (ext4 has no "foo"): not an absence
      if (!name.includes('.')) throw new StorageError('EOPNOTSUPP', 'no such namespace');
      throw new StorageError('ENODATA', 'no such attribute');
    },
  } as unknown as PosixFs;
  const told: string[] = [];
  // the data path's side: names learned from the absences it is told of (node-table.h AbsentName)
  const learnedNames = new Set<string>();
  let other = -1;
  const port: NativePort = {
    absentXattr: (node, name) => {
      told.push(`absent ${node} ${name}`);
      learnedNames.add(name);
    },
    // h's file is on another file system, mounted below the root (the data path's OnRootFileSystem)
    noXattrs: (node) => {
      told.push(`none ${node}`);
      return node !== other;
    },
    absentName: (name) => learnedNames.has(name),
    forgetXattrs: () => void told.push('forget'),
    backingOpen: () => -1,
    backingClose: () => 0,
  };
  const ops = new KernelOps(posix, { attrTimeout: 1, entryTimeout: 1, xattr: true }, () => {}, port).table();
  const sizeIn = Buffer.alloc(8);
  sizeIn.writeUInt32LE(64, 0); // room for the value: the answer is the value, not its size
  const get = (name: string, node = 1) =>
    ops.get(Opcode.GETXATTR)!(decodeRequest(raw(Opcode.GETXATTR, Buffer.concat([sizeIn, Buffer.from(`${name}\0`)]), 42, node))).then(
      (value) => value,
      (error: { code?: string }) => error.code,
    );
  const lookup = async (name: string) =>
    Number(((await ops.get(Opcode.LOOKUP)!(decodeRequest(raw(Opcode.LOOKUP, Buffer.from(`${name}\0`))))) as Buffer).readBigUInt64LE(0));
  t.equal(await get('security.selinux'), 'ENODATA', 'the root has no attributes: ENODATA');
  t.deepEqual(calls.splice(0), ['list ', 'get  security.selinux'], 'listed; a name not yet seen absent is asked for');
  t.deepEqual(told.splice(0), ['none 1', 'absent 1 security.selinux'], 'the data path is told the node has none, and the absence');
  const g = await lookup('g');
  t.equal(await get('security.selinux', g), 'ENODATA', 'another file without attributes: ENODATA');
  t.deepEqual(calls.splice(0), ['list g'], 'found out by listing them: that name was seen absent');
  t.deepEqual(told.splice(0), [`none ${g}`, `absent ${g} security.selinux`], 'the data path answers the node from then on');
  t.equal(await get('foo', g), 'EOPNOTSUPP', 'a name the storage does not keep: its answer, not ENODATA');
  t.deepEqual(calls.splice(0), ['get g foo'], 'asked for');
  t.deepEqual(told.splice(0), [], 'and nothing handed on');
  const f = await lookup('f');
  t.equal(await get('security.selinux', f), 'ENODATA', 'a file with an attribute: the one asked is not among them');
  t.deepEqual(calls.splice(0), ['list f', 'get f security.selinux'], 'listed once, and the name asked for');
  t.deepEqual(told.splice(0), [`absent ${f} security.selinux`], 'only that absence is handed on');
  t.deepEqual(await get('user.a', f), Buffer.from('A'), 'an attribute it has: its value');
  t.deepEqual(calls.splice(0), ['get f user.a'], 'asked for by name from then on');
  other = await lookup('h');
  t.equal(await get('security.selinux', other), 'ENODATA', 'a file without attributes on another file system: ENODATA');
  t.deepEqual(calls.splice(0), ['list h', 'get h security.selinux'], 'its answer, asked for by name: that file system may not keep the name');
  t.end();
});

/** A fuse_statx_in (24 bytes): getattr_flags, reserved, fh, sx_flags, sx_mask (the kernel's: basic stats and btime). */
const statxBody = (fh?: number) => {
  const body = Buffer.alloc(24);
  if (fh !== undefined) {
    body.writeUInt32LE(1 /* FUSE_GETATTR_FH */, 0);
    body.writeBigUInt64LE(BigInt(fh), 8);
  }
  body.writeUInt32LE(0xfff, 20);
  return body;
};

test('STATX: the attributes in fuse_statx with the birth time, by path or through the handle; none on s3 (inode numbers from names)', async (t) => {
  const b = pathBacking({ f: 20n, g: 21n });
  b.files.set(20n, {
    size: 5000,
    blocks: 16,
    mode: 0o100640,
    nlink: 2,
    uid: 1000,
    gid: 100,
    blksize: 4096,
    atimeNs: 1_700_000_000_123_456_789n,
    mtimeNs: 1_700_000_001_000_000_001n,
    ctimeNs: 1_700_000_002_999_999_999n,
    birthtimeNs: 1_600_000_000_500_000_000n,
    rdev: 0,
  });
  b.files.set(21n, { mode: 0o20644, rdev: 0x301245 /* major 0x12, minor 0x345 in the kernel's new_encode_dev layout */, birthtimeNs: 0n });
  const f = await b.lookup('f');
  const out = (await b.call(Opcode.STATX, statxBody(), f)) as Buffer;
  t.equal(out.length, Size.STATX_OUT, 'fuse_statx_out is 288 bytes');
  t.equal(out.readBigUInt64LE(0), 1n, 'attr_valid: the attribute timeout');
  const sx = out.subarray(32);
  t.equal(sx.readUInt32LE(0), 0xfff, 'mask: the basic stats and btime');
  t.deepEqual(
    [sx.readUInt32LE(4), sx.readUInt32LE(16), sx.readUInt32LE(20), sx.readUInt32LE(24), sx.readUInt16LE(28)],
    [4096, 2, 1000, 100, 0o100640],
    'blksize, nlink, uid, gid, mode',
  );
  t.deepEqual([sx.readBigUInt64LE(32), sx.readBigUInt64LE(40), sx.readBigUInt64LE(48)], [20n, 5000n, 16n], 'ino, size, blocks');
  const time = (at: number) => [sx.readBigInt64LE(at), sx.readUInt32LE(at + 8)];
  t.deepEqual(
    [time(64), time(80), time(96), time(112)],
    [
      [1_700_000_000n, 123_456_789],
      [1_600_000_000n, 500_000_000],
      [1_700_000_002n, 999_999_999],
      [1_700_000_001n, 1],
    ],
    'atime, btime, ctime, mtime: seconds and nanoseconds',
  );
  // the same attributes GETATTR gives, field for field
  const attr = (await b.call(Opcode.GETATTR, Buffer.alloc(16), f)) as Buffer;
  t.deepEqual(
    [attr.readBigUInt64LE(16), attr.readBigUInt64LE(24), attr.readUInt32LE(16 + 60), attr.readBigUInt64LE(16 + 32)],
    [sx.readBigUInt64LE(32), sx.readBigUInt64LE(40), sx.readUInt32LE(28) & 0xffff, 1_700_000_001n],
    "GETATTR's ino, size, mode and mtime are STATX's",
  );
  const fh = Number(((await b.call(Opcode.OPEN, openBody(O.RDONLY), f)) as Buffer).readBigUInt64LE(0));
  b.names.delete('f'); // by its handle only: the path is gone
  const byHandle = (await b.call(Opcode.STATX, statxBody(fh), f)) as Buffer;
  t.deepEqual(byHandle, out, 'with FUSE_GETATTR_FH: the attributes through the handle');
  const g = await b.lookup('g');
  const device = ((await b.call(Opcode.STATX, statxBody(), g)) as Buffer).subarray(32);
  t.equal(device.readUInt32LE(0), 0x7ff, 'no birth time kept: the mask says only the basic stats');
  t.deepEqual([device.readBigInt64LE(80), device.readUInt32LE(88)], [0n, 0], 'and btime is zero');
  t.deepEqual([device.readUInt32LE(128), device.readUInt32LE(132)], [0x12, 0x345], 'rdev as major and minor (new_decode_dev)');
  const s3 = pathBacking({ f: 20n }, undefined, true);
  t.equal(s3.kops.table().has(Opcode.STATX), false, 'inode numbers from names (s3://): no STATX, the kernel is answered ENOSYS');
  t.end();
});

/** A fuse_setxattr_in as SETXATTR_EXT has it (size, flags, setxattr_flags, padding), the name, the value. */
const setxattrExtBody = (name: string, value: string, setxattrFlags: number) => {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(value.length, 0);
  header.writeUInt32LE(setxattrFlags, 8);
  return Buffer.concat([header, Buffer.from(`${name}\0${value}`)]);
};

test('SETXATTR with SETXATTR_EXT: its 16-byte header read; an access ACL set with ACL_KILL_SGID drops a set-group-ID bit', async (t) => {
  const b = pathBacking({ sg: 20n, plain: 21n });
  b.files.set(20n, { mode: 0o102770 });
  b.files.set(21n, { mode: 0o100770 });
  b.kops.agreed(InitFlag.POSIX_ACL | InitFlag.SETXATTR_EXT);
  const sg = await b.lookup('sg');
  const plain = await b.lookup('plain');
  const KILL = 1; // FUSE_SETXATTR_ACL_KILL_SGID
  await b.call(Opcode.SETXATTR, setxattrExtBody('system.posix_acl_access', 'acl', 0), sg);
  t.deepEqual(b.changes.splice(0), [['setxattr', 20n]], 'without the flag: the attribute set, the mode left');
  await b.call(Opcode.SETXATTR, setxattrExtBody('user.note', 'x', KILL), sg);
  t.deepEqual(b.changes.splice(0), [['setxattr', 20n]], 'another attribute with the flag: the mode left');
  await b.call(Opcode.SETXATTR, setxattrExtBody('system.posix_acl_access', 'acl', KILL), plain);
  t.deepEqual(b.changes.splice(0), [['setxattr', 21n]], 'a file without the bit: nothing to drop');
  await b.call(Opcode.SETXATTR, setxattrExtBody('system.posix_acl_access', 'acl', KILL), sg);
  t.deepEqual(
    b.changes.splice(0),
    [
      ['setxattr', 20n],
      ['chmod', 20n],
    ],
    'the access ACL with the flag on a set-group-ID file: set, then chmod',
  );
  t.end();
});
