// Names are bytes. A file name on Linux is any sequence of bytes but '/' and NUL; it need not be UTF-8.
// Inside persistfs a name travels as a JavaScript string in which every byte that is not part of a valid
// UTF-8 sequence is kept as the lone surrogate U+DC80..U+DCFF (the "surrogateescape" of Python's PEP 383).
// Strings that callers pass must be well-formed Unicode (no lone surrogates), so an escaped byte can never
// be confused with a character of a real name: the mapping is lossless both ways.
//
// This module is on the ground floor: every layer may import it, it imports nothing of ours.
import { isUtf8 } from 'node:buffer';

const ESCAPE_BASE = 0xdc00;
/** Lone surrogates that stand for single bytes 0x80..0xFF (the u flag: a surrogate pair never matches). */
const ESCAPED_BYTE = /[\uDC80-\uDCFF]/u;

/** Whether `text` has no lone surrogate (String.prototype.isWellFormed, in ES2024 and Node 20). */
export function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** The length of the valid UTF-8 sequence starting at `bytes[i]`, or 0 when none starts there. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const lead = bytes[i]!;
  if (lead < 0x80) return 1;
  const cont = (at: number, low = 0x80, high = 0xbf) => at < bytes.length && bytes[at]! >= low && bytes[at]! <= high;
  if (lead >= 0xc2 && lead <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    // no overlong forms (E0 A0..), no UTF-16 surrogates (ED 80..9F)
    const low = lead === 0xe0 ? 0xa0 : 0x80;
    const high = lead === 0xed ? 0x9f : 0xbf;
    return cont(i + 1, low, high) && cont(i + 2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const low = lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xf4 ? 0x8f : 0xbf;
    return cont(i + 1, low, high) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

/** Bytes as a name string: UTF-8 where they are valid, each other byte escaped (lossless). */
export function decodeName(bytes: Uint8Array): string {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buffer)) return buffer.toString('utf8');
  let text = '';
  let runStart = 0;
  let i = 0;
  while (i < buffer.length) {
    const length = sequenceLength(buffer, i);
    if (length > 0) {
      i += length;
      continue;
    }
    text += buffer.toString('utf8', runStart, i) + String.fromCharCode(ESCAPE_BASE | buffer[i]!);
    runStart = ++i;
  }
  return text + buffer.toString('utf8', runStart, i);
}

/** A name string as its bytes: the inverse of decodeName. */
export function encodeName(name: string): Buffer {
  if (isWellFormed(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let runStart = 0;
  let i = 0;
  while (i < name.length) {
    const unit = name.charCodeAt(i);
    const pair = unit >= 0xd800 && unit <= 0xdbff && i + 1 < name.length && (name.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    if (pair) {
      i += 2;
      continue;
    }
    if ((unit & 0xfc00) === 0xdc00 || (unit & 0xfc00) === 0xd800) {
      if (unit < 0xdc80 || unit > 0xdcff) throw new TypeError(`a name holds the lone surrogate U+${unit.toString(16).toUpperCase()}`);
      parts.push(Buffer.from(name.slice(runStart, i), 'utf8'), Buffer.of(unit & 0xff));
      runStart = ++i;
      continue;
    }
    i++;
  }
  parts.push(Buffer.from(name.slice(runStart), 'utf8'));
  return Buffer.concat(parts);
}

/** The length in bytes of a name string (an escaped byte is one byte). */
export function nameByteLength(name: string): number {
  return isWellFormed(name) ? Buffer.byteLength(name) : encodeName(name).length;
}

/** A name string as callers get it back: the string when it is valid UTF-8, its bytes otherwise. */
export function publicName(name: string): string | Buffer {
  return isWellFormed(name) ? name : encodeName(name);
}

/** A name or path for messages and logs: escaped bytes shown as \xNN. */
export function printableName(name: string): string {
  return ESCAPED_BYTE.test(name) ? name.replace(/[\uDC80-\uDCFF]/gu, (c) => `\\x${(c.charCodeAt(0) & 0xff).toString(16)}`) : name;
}

/** A name as the NUL-terminated bytes the kernel takes. */
export function cName(name: string): Buffer {
  if (isWellFormed(name)) return Buffer.from(`${name}\0`, 'utf8');
  const bytes = encodeName(name);
  const out = Buffer.allocUnsafe(bytes.length + 1);
  bytes.copy(out);
  out[bytes.length] = 0;
  return out;
}

/** NUL-separated names (a readdir listing, a listxattr answer) as name strings. */
export function splitNames(list: Uint8Array): string[] {
  const buffer = Buffer.isBuffer(list) ? list : Buffer.from(list.buffer, list.byteOffset, list.byteLength);
  const end = buffer.length > 0 && buffer[buffer.length - 1] === 0 ? buffer.length - 1 : buffer.length;
  if (end <= 0) return [];
  if (isUtf8(buffer)) return buffer.toString('utf8', 0, end).split('\0');
  const names: string[] = [];
  let start = 0;
  while (start <= end) {
    let stop = buffer.indexOf(0, start);
    if (stop < 0 || stop > end) stop = end;
    names.push(decodeName(buffer.subarray(start, stop)));
    start = stop + 1;
  }
  return names;
}
