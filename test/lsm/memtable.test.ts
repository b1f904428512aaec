// The memtable in the addon (native/src/memtable.cc through src/lsm/memtable.ts) against a model: keys in
// bytewise order (bytes above 0x7f, prefixes, the empty key), every version of a key, deletes; point
// reads at every version; seeks and steps both ways at every version; the flush's walk over every entry;
// a malformed write record (EBADMSG, nothing inserted) and wrong calls (typed errors); and, through a
// store, that a put leaves nothing of its own on the V8 heap and that an iterator keeps reading a
// memtable that was flushed meanwhile.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import test from 'tape';

import { landed, Memtable } from '../../src/lsm/memtable.js';
import { encodeOps, setFirstSeq } from '../../src/lsm/write-batch.js';
import type { WriteOp } from '../../src/lsm/types.js';
import { eachBackend, prng } from '../helpers.js';
import { entries, lsmEnv } from './lsm-helpers.js';

interface Version {
  seq: number;
  value: Buffer | undefined;
}

/** A memtable and its model: key (latin1) -> versions, oldest first. */
function filled(seed: number, writes: number): { mem: Memtable; model: Map<string, Version[]>; last: number } {
  const random = prng(seed);
  const keys = ['', 'a', 'ab', 'abc', 'b', '\u00ff', '\u00ff\u0000', '\u0080', 'z\u00e9', 'A', '0'];
  for (let i = 0; i < 40; i++) keys.push(Buffer.from([Math.floor(random() * 256), Math.floor(random() * 256)]).toString('latin1'));
  const mem = new Memtable();
  const model = new Map<string, Version[]>();
  let seq = 0;
  while (seq < writes) {
    const ops: WriteOp[] = [];
    const count = 1 + Math.floor(random() * 3);
    for (let i = 0; i < count; i++) {
      const key = Buffer.from(keys[Math.floor(random() * keys.length)]!, 'latin1');
      ops.push(random() < 0.25 ? { type: 'del', key } : { type: 'put', key, value: Buffer.from(`v${seq + i}`.repeat(Math.floor(random() * 3))) });
    }
    const batch = encodeOps(ops);
    setFirstSeq(batch.record, seq + 1);
    mem.addBatch(batch.record, 'test');
    for (const op of ops) {
      seq++;
      const key = (op.key as Buffer).toString('latin1');
      const versions = model.get(key) ?? [];
      versions.push({ seq, value: op.type === 'put' ? (op.value as Buffer) : undefined });
      model.set(key, versions);
    }
  }
  return { mem, model, last: seq };
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));

function visible(versions: Version[] | undefined, version: number): Version | undefined {
  for (let i = (versions?.length ?? 0) - 1; i >= 0; i--) if (versions![i]!.seq <= version) return versions![i];
  return undefined;
}

/** The (key, seq, deleted) of every key visible at `version`, in the direction, from a seek to `target`. */
function scan(mem: Memtable, target: string | undefined, exclusive: boolean, version: number, reverse: boolean): string[] {
  const out: string[] = [];
  let key = mem.seek(target, exclusive, version, reverse);
  while (key !== undefined) {
    out.push(`${JSON.stringify(key)}@${landed[0]}${landed[1] < 0 ? ' del' : ''}`);
    key = mem.step(landed[2]!, version, reverse);
  }
  return out;
}

function modelScan(model: Map<string, Version[]>, target: string | undefined, exclusive: boolean, version: number, reverse: boolean): string[] {
  const keys = [...model.keys()].sort(byteOrder);
  if (reverse) keys.reverse();
  const out: string[] = [];
  for (const key of keys) {
    if (target !== undefined) {
      const order = byteOrder(key, target) * (reverse ? -1 : 1);
      if (order < 0 || (order === 0 && exclusive)) continue;
    }
    const v = visible(model.get(key), version);
    if (v !== undefined) out.push(`${JSON.stringify(key)}@${v.seq}${v.value === undefined ? ' del' : ''}`);
  }
  return out;
}

test('memtable: point reads at every version, bytewise order, versions, deletes', (t) => {
  const { mem, model, last } = filled(7, 400);
  t.equal(mem.entries, last, 'every op is an entry');
  t.equal(mem.keys, model.size, 'distinct keys counted');
  t.equal(mem.minSeq, 1, 'minSeq');
  t.equal(mem.maxSeq, last, 'maxSeq');
  let wrong = 0;
  for (let version = 0; version <= last + 1; version += 3) {
    for (const key of [...model.keys(), 'absent', 'a\u0000', 'abcd']) {
      const want = visible(model.get(key), version);
      const got = mem.find(key, version);
      if (want?.seq !== got?.seq || (want?.value === undefined) !== (got?.value === undefined) || (want?.value && !want.value.equals(got!.value!))) wrong++;
    }
  }
  t.equal(wrong, 0, 'every key at every version as the model says');
  t.equal(mem.find('a', Infinity)?.seq, visible(model.get('a'), Infinity)?.seq, 'a read of the latest (Infinity)');
  mem.free();
  t.end();
});

test('memtable: seeks and steps, forward and reverse, at every version', (t) => {
  const { mem, model, last } = filled(11, 300);
  let wrong = 0;
  let checked = 0;
  const targets = [undefined, ...model.keys(), 'a\u0000', '\u00ff\u00ff', 'm'];
  for (let version = 0; version <= last; version += 17) {
    for (const target of targets) {
      for (const exclusive of [false, true]) {
        for (const reverse of [false, true]) {
          const got = scan(mem, target, exclusive, version, reverse).join(',');
          const want = modelScan(model, target, exclusive, version, reverse).join(',');
          checked++;
          if (got !== want && wrong++ < 3)
            t.equal(got, want, `seek ${JSON.stringify(target)} ${exclusive ? '>' : '>='} at ${version} ${reverse ? 'reverse' : 'forward'}`);
        }
      }
    }
  }
  t.equal(wrong, 0, `${checked} scans as the model says`);
  mem.free();
  t.end();
});

test('memtable: the flush walk has every entry, key ascending, newest version first, with its value', (t) => {
  const { mem, model } = filled(13, 500);
  const want: string[] = [];
  for (const key of [...model.keys()].sort(byteOrder)) {
    for (const v of [...model.get(key)!].reverse()) want.push(`${JSON.stringify(key)}@${v.seq}=${v.value?.toString('hex') ?? 'del'}`);
  }
  // the value is a view valid until the next entry: formatted as it comes
  const got: string[] = [];
  for (const [key, seq, value] of mem.sorted()) got.push(`${JSON.stringify(key)}@${seq}=${value?.toString('hex') ?? 'del'}`);
  t.deepEqual(got, want, 'every version of every key, in the order of an SST');
  mem.free();
  t.end();
});

test('memtable: a value larger than an arena block, and an empty one', (t) => {
  const mem = new Memtable();
  const big = Buffer.alloc(3 * 1024 * 1024, 7);
  const batch = encodeOps([
    { type: 'put', key: 'big', value: big },
    { type: 'put', key: 'empty', value: Buffer.alloc(0) },
  ]);
  setFirstSeq(batch.record, 1);
  mem.addBatch(batch.record, 'test');
  t.ok(mem.find('big', 5)?.value?.equals(big), 'the 3 MiB value reads back');
  t.equal(mem.find('empty', 5)?.value?.length, 0, 'an empty value is not a delete');
  t.ok(mem.bytes >= big.length, 'bytes count the value');
  mem.free();
  t.end();
});

test('memtable: malformed records are EBADMSG and insert nothing; wrong calls are typed errors', (t) => {
  const mem = new Memtable();
  const good = encodeOps([
    { type: 'put', key: 'k1', value: 'v1' },
    { type: 'put', key: 'k2', value: 'v2' },
  ]);
  setFirstSeq(good.record, 1);
  const bad = (record: Buffer, what: string) => {
    t.throws(
      () => mem.addBatch(record, 'test'),
      (error: NodeJS.ErrnoException) => error.code === 'EBADMSG',
      what,
    );
  };
  bad(good.record.subarray(0, good.record.length - 1), 'a record cut short');
  bad(Buffer.concat([good.record, Buffer.alloc(1)]), 'a record with a byte too many');
  bad(good.record.subarray(0, 8), 'a record shorter than its header');
  const badKind = Buffer.from(good.record);
  badKind[12] = 7;
  bad(badKind, 'an op of an unknown kind');
  const longKey = Buffer.from(good.record);
  longKey.writeUInt32LE(0xffffffff, 13);
  bad(longKey, 'a key length past the end');
  const moreOps = Buffer.from(good.record);
  moreOps.writeUInt32LE(3, 0);
  bad(moreOps, 'a count larger than the ops');
  t.equal(mem.entries, 0, 'nothing inserted');
  t.equal(mem.keys, 0, 'no key');
  t.equal(mem.find('k1', 10), undefined, 'k1 absent');

  mem.addBatch(good.record, 'test');
  t.equal(mem.find('k2', 10)?.value?.toString(), 'v2', 'a good record goes in');
  const native = (mem as unknown as { table: { copyValue(at: number, out: Uint8Array): number; step(at: number, v: number, r: boolean): unknown } }).table;
  t.throws(() => native.copyValue(99, Buffer.alloc(8)), RangeError, 'an entry that does not exist: RangeError');
  t.throws(() => native.copyValue(-1, Buffer.alloc(8)), RangeError, 'a negative entry: RangeError');
  t.throws(() => native.copyValue(0.5, Buffer.alloc(8)), RangeError, 'a fractional entry: RangeError');
  t.throws(() => native.copyValue(0, Buffer.alloc(1)), RangeError, 'a buffer too small for the value: RangeError');
  t.throws(() => mem.find(5 as unknown as string, 1), TypeError, 'a key that is not a string: TypeError');
  mem.free();
  t.throws(
    () => mem.find('k1', 10),
    (error: NodeJS.ErrnoException) => error.code === 'EBADF',
    'a freed memtable: EBADF',
  );
  t.throws(
    () => native.step(0, 10, false),
    (error: NodeJS.ErrnoException) => error.code === 'EBADF',
    'an entry of a freed memtable: EBADF',
  );
  t.end();
});

eachBackend('memtable: a put leaves nothing of its own on the V8 heap', async (t, backend) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const env = await lsmEnv(t, backend);
  const db = await env.open({ memtableSize: 64 * 1024 * 1024 });
  const value = Buffer.alloc(100, 1);
  const put = (i: number) => db.put(String(i).padStart(16, '0'), value);
  for (let i = 0; i < 1000; i++) await put(i);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 1000; i < 21000; i++) await put(i);
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  t.equal(db.stats().immutableMemtables, 0, 'no flush: every put is in the memtable');
  t.ok(grown < 1024 * 1024, `20,000 puts of 116 bytes grew the collected heap by ${(grown / 1024).toFixed(0)} KiB (< 1 MiB)`);
  t.equal((await db.get(String(20999).padStart(16, '0')))?.equals(value), true, 'and the last one reads back');
});

eachBackend('memtable: an iterator keeps reading a memtable flushed (and dropped by the store) after it opened', async (t, backend) => {
  const env = await lsmEnv(t, backend);
  const db = await env.open({ autoCompact: false });
  for (let i = 0; i < 100; i++) await db.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
  const iterator = db.iterator();
  const reverse = db.iterator({ reverse: true, lt: 'k050' });
  t.equal((await iterator.next())?.key.toString(), 'k000', 'the first entry');
  await db.flush();
  for (let i = 0; i < 100; i++) await db.put(`k${String(i).padStart(3, '0')}`, `w${i}`);
  await db.flush();
  t.equal(db.stats().immutableMemtables, 0, 'both memtables flushed');
  const rest = await entries(iterator);
  t.equal(rest.length, 99, 'the iterator reads the other 99');
  t.ok(
    rest.every(([key, value]) => value === `v${Number(key.slice(1))}`),
    'the values it was opened on',
  );
  const back = await entries(reverse);
  t.deepEqual(
    back.slice(0, 2).map(([key, value]) => `${key}=${value}`),
    ['k049=v49', 'k048=v48'],
    'and in reverse',
  );
  t.equal(back.length, 50, 'all 50 of them');
});
