// Keys and values at the API are bytes (a string is its UTF-8). Inside the store a key is a latin1 string:
// one char per byte, so JavaScript's string order is exactly bytewise order and comparisons stay in JS.
import { storageError } from '../ground/errors.js';
import type { Bytes } from './types.js';

/** The bytes of a key or value given at the API; EINVAL for anything else. */
export function toBuffer(value: Bytes, what: string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw storageError('EINVAL', `${what} must be a string, a Buffer or a Uint8Array (got ${value === null ? 'null' : typeof value})`);
}

/** The internal form of a key given at the API. */
export function keyOf(key: Bytes): string {
  return toBuffer(key, 'a key').toString('latin1');
}

/** The bytes of an internal key. */
export function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

/** A 32-bit hash of an internal key (FNV-1a then a murmur3 finalizer), for bloom filters and sharding. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
