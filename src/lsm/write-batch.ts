// The WAL record of one write: its operations and the version of the first (the others follow on).
//   count u32 | first seq u64 | per op: kind u8 (1 put, 0 delete) | key length u32 | key | value length u32 | value
import { storageError } from '../ground/errors.js';
import { KIND_DELETE, KIND_PUT, readU64, writeU64 } from './sst-format.js';

export interface EncodedOp {
  key: string;
  value: Buffer | undefined;
}

export function encodeBatch(ops: readonly EncodedOp[], firstSeq: number): Buffer {
  let size = 12;
  for (const op of ops) size += 9 + op.key.length + (op.value?.length ?? 0);
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32LE(ops.length, 0);
  writeU64(out, firstSeq, 4);
  let at = 12;
  for (const op of ops) {
    out[at] = op.value === undefined ? KIND_DELETE : KIND_PUT;
    out.writeUInt32LE(op.key.length, at + 1);
    at += 5 + out.write(op.key, at + 5, 'latin1');
    out.writeUInt32LE(op.value?.length ?? 0, at);
    at += 4;
    if (op.value !== undefined) at += op.value.copy(out, at);
  }
  return out;
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
