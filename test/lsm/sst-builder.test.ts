// The memtable's flush by blocks (SstBuilder.addBlockOf over Memtable.encodeBlock, in the addon) against
// the builder fed one entry at a time (add() over Memtable.sorted()): the same table, byte for byte, for
// memtables of every shape (versions of a key, deletes, empty and long keys and values, shared prefixes,
// keys beyond the restart interval, a value larger than a block), block sizes from 1 byte up, and a
// builder that starts with too little room (its buffer and the hashes' grown on the way). The store's own
// tests read such tables back: every flush goes this way.
import test from 'tape';

import { Memtable } from '../../src/lsm/memtable.js';
import { SstBuilder } from '../../src/lsm/sst-builder.js';
import { encodeOps, setFirstSeq } from '../../src/lsm/write-batch.js';
import type { WriteOp } from '../../src/lsm/types.js';
import { prng } from '../helpers.js';

function memtable(seed: number, writes: number, keySpace: number, valueMost: number): Memtable {
  const random = prng(seed);
  const keys: Buffer[] = [Buffer.alloc(0), Buffer.from('a'), Buffer.from('ab'), Buffer.from([0xff]), Buffer.from('x'.repeat(300))];
  for (let i = 0; i < keySpace; i++) {
    const prefix = ['user:', 'user:00', 'idx/', ''][i % 4]!;
    keys.push(Buffer.concat([Buffer.from(prefix), Buffer.from([Math.floor(random() * 256), Math.floor(random() * 256), i & 0xff])]));
  }
  const mem = new Memtable();
  let seq = 0;
  while (seq < writes) {
    const ops: WriteOp[] = [];
    const count = 1 + Math.floor(random() * 4);
    for (let i = 0; i < count; i++) {
      const key = keys[Math.floor(random() * keys.length)]!;
      const length = random() < 0.02 ? valueMost : Math.floor(random() * 40);
      ops.push(random() < 0.2 ? { type: 'del', key } : { type: 'put', key, value: Buffer.alloc(length, seq + i) });
    }
    const batch = encodeOps(ops);
    setFirstSeq(batch.record, seq + 1);
    mem.addBatch(batch.record, 'test');
    seq += ops.length;
  }
  return mem;
}

function byEntries(mem: Memtable, blockSize: number, first: number): Buffer {
  const builder = new SstBuilder(blockSize, 10, first);
  for (const [key, seq, value] of mem.sorted()) builder.add(key, seq, value === undefined ? undefined : Buffer.from(value));
  const table = builder.finish();
  return Buffer.concat(table.buffers).subarray(0, table.bytes);
}

function byBlocks(mem: Memtable, blockSize: number, first: number): { bytes: Buffer; blocks: number } {
  const builder = new SstBuilder(blockSize, 10, first);
  let blocks = 0;
  for (let entry = builder.addBlockOf(mem, -1); entry >= 0; entry = builder.addBlockOf(mem, entry)) blocks++;
  const table = builder.finish();
  return { bytes: Buffer.concat(table.buffers).subarray(0, table.bytes), blocks };
}

test('a memtable flushed by blocks is the table its entries make one by one, byte for byte', (t) => {
  const shapes = [
    { seed: 1, writes: 3000, keys: 200, valueMost: 100, blockSize: 4096 },
    { seed: 2, writes: 3000, keys: 20, valueMost: 100, blockSize: 4096 }, // many versions a key
    { seed: 3, writes: 2000, keys: 500, valueMost: 20_000, blockSize: 4096 }, // values larger than a block
    { seed: 4, writes: 500, keys: 100, valueMost: 50, blockSize: 1 }, // a block for each key
    { seed: 5, writes: 6000, keys: 3000, valueMost: 10, blockSize: 1 << 20 }, // one block of thousands of keys
    { seed: 6, writes: 1, keys: 1, valueMost: 0, blockSize: 4096 },
  ];
  for (const shape of shapes) {
    const mem = memtable(shape.seed, shape.writes, shape.keys, shape.valueMost);
    for (const first of [64, 1 << 20]) {
      const one = byEntries(mem, shape.blockSize, first);
      const { bytes, blocks } = byBlocks(mem, shape.blockSize, first);
      t.ok(
        bytes.equals(one),
        `seed ${shape.seed}, ${mem.entries} entries of ${mem.keys} keys, blocks of ${shape.blockSize} B, a first buffer of ${first} B: ${blocks} blocks, ${bytes.length} B, the same bytes`,
      );
    }
    mem.free();
  }
  t.end();
});

test('an empty memtable flushed by blocks is the empty table', (t) => {
  const mem = new Memtable();
  t.ok(byBlocks(mem, 4096, 64).bytes.equals(byEntries(mem, 4096, 64)), 'the same bytes');
  t.equal(byBlocks(mem, 4096, 64).blocks, 0, 'no block');
  mem.free();
  t.end();
});

test('addBlockOf after add() is refused (a builder takes its entries one way)', (t) => {
  const mem = memtable(7, 10, 5, 10);
  const builder = new SstBuilder(4096, 10);
  builder.add('k', 1, Buffer.from('v'));
  t.throws(() => builder.addBlockOf(mem, -1), /one way/, 'an Error');
  mem.free();
  t.end();
});

test('encodeBlock refuses wrong arguments with typed errors, and a freed memtable with EBADF', (t) => {
  const mem = memtable(8, 10, 5, 10);
  const report = new Float64Array(7);
  const out = Buffer.alloc(1 << 16);
  t.throws(() => mem.encodeBlock(-1, out, 0, 4096, 16, new Uint32Array(8), new Float64Array(3)), /report must be a Float64Array of 7/, 'a report too short');
  t.throws(
    () => mem.encodeBlock(-1, out, 0, 4096, 16, new Int32Array(8) as unknown as Uint32Array, report),
    /hashes must be a Uint32Array/,
    'hashes of another type',
  );
  t.throws(() => mem.encodeBlock(-1, out, out.length + 1, 4096, 16, new Uint32Array(8), report), RangeError, 'an offset past the buffer');
  t.throws(() => mem.encodeBlock(1e9, out, 0, 4096, 16, new Uint32Array(8), report), RangeError, 'no such entry');
  mem.free();
  t.throws(() => mem.encodeBlock(-1, out, 0, 4096, 16, new Uint32Array(8), report), /EBADF/, 'freed');
  t.end();
});
