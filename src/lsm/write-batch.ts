// The WAL record of one write: its operations and the version of the first (the others follow on).
//   count u32 | first seq u64 | per op: kind u8 (1 put, 0 delete) | key length u32 | key | value length u32 | value
import { storageError } from '../ground/errors.js';
import { toBuffer } from './bytes.js';
import { KIND_DELETE, KIND_PUT, readU64, writeU64 } from './sst-format.js';
import type { Bytes, WriteOp } from './types.js';

export interface EncodedOp {
  key: string;
  value: Buffer | undefined;
}

/** A write's record, its versions not yet given (setFirstSeq does): the only copy of the caller's bytes. */
export interface EncodedBatch {
  record: Buffer;
  count: number;
  /** bytes of keys and values */
  userBytes: number;
}

const RECORD_HEADER = 12;
const OP_HEADER = 9;

/** The bytes of a key or value as given (a string: its UTF-8), or EINVAL. */
function sizeOf(value: Bytes, what: string): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (value instanceof Uint8Array) return value.byteLength;
  return toBuffer(value, what).length; // throws EINVAL, saying what was given
}

/** Writes `value` (checked by sizeOf, `out` sized by it) with its length before it; returns where it ends. */
function put(out: Buffer, at: number, value: Bytes): number {
  let length: number;
  if (typeof value === 'string') length = out.write(value, at + 4, 'utf8');
  else {
    out.set(value, at + 4);
    length = value.byteLength;
  }
  out.writeUInt32LE(length, at);
  return at + 4 + length;
}

/** Checks the ops of a write and encodes them, copied, into its WAL record. */
export function encodeOps(ops: readonly WriteOp[]): EncodedBatch {
  if (!Array.isArray(ops)) throw storageError('EINVAL', 'write takes an array of operations');
  let size = RECORD_HEADER;
  let userBytes = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as WriteOp;
    if (op === null || typeof op !== 'object') throw storageError('EINVAL', `operation ${i} is not an object`);
    const type = (op as { type?: unknown }).type;
    if (type !== 'put' && type !== 'del') throw storageError('EINVAL', `operation ${i} has type ${String(type)}; expected 'put' or 'del'`);
    const bytes = sizeOf(op.key, 'a key') + (op.type === 'put' ? sizeOf(op.value, `the value of operation ${i}`) : 0);
    size += OP_HEADER + bytes;
    userBytes += bytes;
  }
  const record = Buffer.allocUnsafe(size);
  record.writeUInt32LE(ops.length, 0);
  let at = RECORD_HEADER;
  for (const op of ops) {
    record[at] = op.type === 'put' ? KIND_PUT : KIND_DELETE;
    at = put(record, at + 1, op.key);
    if (op.type === 'put') at = put(record, at, op.value);
    else at = record.writeUInt32LE(0, at);
  }
  return { record, count: ops.length, userBytes };
}

/** Gives the record's ops their versions, from `firstSeq` on. */
export function setFirstSeq(record: Buffer, firstSeq: number): void {
  writeU64(record, firstSeq, 4);
}

export function decodeBatch(data: Buffer, where: string): { firstSeq: number; ops: EncodedOp[] } {
  const fail = () => storageError('EBADMSG', `LSM write record at ${where} is malformed`);
  if (data.length < 12) throw fail();
  const count = data.readUInt32LE(0);
  const firstSeq = readU64(data, 4);
  const ops: EncodedOp[] = [];
  let at = 12;
  for (let i = 0; i < count; i++) {
    if (at + 9 > data.length) throw fail();
    const kind = data[at]!;
    const keyLength = data.readUInt32LE(at + 1);
    at += 5;
    if (at + keyLength + 4 > data.length) throw fail();
    const key = data.toString('latin1', at, at + keyLength);
    at += keyLength;
    const valueLength = data.readUInt32LE(at);
    at += 4;
    if (at + valueLength > data.length) throw fail();
    ops.push({ key, value: kind === KIND_DELETE ? undefined : Buffer.from(data.subarray(at, at + valueLength)) });
    at += valueLength;
  }
  if (at !== data.length) throw fail();
  return { firstSeq, ops };
}
