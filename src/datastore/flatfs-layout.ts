// The on-disk layout of a flatfs datastore, every name it makes in one place.
//
//   <root>/flatfs.shard          "persistfs-flatfs/1 <shard function>\n", written when the store is made
//   <root>/<shard>/<encoded key>  one file per key, its content the value
//
// A key's file name: its segments (without the leading '/') joined by '.', each segment's UTF-8 bytes
// kept when they are A-Z a-z 0-9 '-' '_' and written %XX (uppercase hex) otherwise, '.' and '%'
// included. '/blocks/CIQ' is 'blocks.CIQ', '/a.b/c' is 'a%2Eb.c'. Every valid key has exactly one name,
// no name is '.', '..' or starts with '.', and names that are not such an encoding are never read as keys.
// A name is at most 255 bytes, so a key whose name would be longer cannot be stored (ENAMETOOLONG).
//
// The shard of a name is a slice of it, as go-ds-flatfs does: 'prefix/N' (first N characters),
// 'suffix/N' (last N), 'next-to-last/N' (the N before the last, the default with N = 2: the last
// character of a hash-like key changes fastest, so neighbours spread). Short names are padded with '_',
// and '.' in a shard becomes '_', so shard directories never contain '.' (flatfs.shard cannot clash).
import { storageError } from '../ground/errors.js';
import { NAME_MAX } from '../storage/names.js';
import * as Key from './key.js';

export const SHARD_FILE = 'flatfs.shard';
export const FORMAT = 'persistfs-flatfs/1';
export const DEFAULT_SHARD = 'next-to-last/2';

const SHARD_SPEC = /^(prefix|suffix|next-to-last)\/([1-9])$/;
/** What encodeURIComponent leaves as is but a segment's encoding escapes. */
const ALSO_ESCAPED = /[.!~*'()]/g;

export interface ShardFunction {
  /** 'next-to-last/2', as recorded in flatfs.shard */
  readonly spec: string;
  /** The shard directory of the file `name`. */
  of(name: string): string;
}

/** The shard function written as `spec`; EINVAL for anything else. */
export function shardFunction(spec: unknown): ShardFunction {
  const match = typeof spec === 'string' ? SHARD_SPEC.exec(spec) : null;
  if (match === null) {
    throw storageError('EINVAL', `flatfs: a shard function is prefix/N, suffix/N or next-to-last/N with N from 1 to 9, got '${String(spec)}'`);
  }
  const n = Number(match[2]);
  const pad = '_'.repeat(n + 1);
  const slice =
    match[1] === 'prefix'
      ? (name: string) => (name + pad).slice(0, n)
      : match[1] === 'suffix'
        ? (name: string) => (pad + name).slice(-n)
        : (name: string) => (pad + name).slice(-n - 1, -1);
  return { spec: spec as string, of: (name) => slice(name).replace(/\./g, '_') };
}

const escapeSegment = (segment: string): string => encodeURIComponent(segment).replace(ALSO_ESCAPED, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The file name of a valid key, or of a prefix ('/' is ''). */
export function nameOf(key: string): string {
  return key === Key.ROOT ? '' : key.slice(1).split('/').map(escapeSegment).join('.');
}

/** Whether a key's name fits in a directory entry. */
export const fits = (name: string): boolean => Buffer.byteLength(name) <= NAME_MAX;

/** The key whose file name is `name`, or undefined when `name` is not exactly such a name. */
export function keyOf(name: string): string | undefined {
  if (!/^[A-Za-z0-9_%.-]+$/.test(name)) return undefined;
  let key: string;
  try {
    key = `/${name.split('.').map(decodeURIComponent).join('/')}`;
  } catch {
    return undefined; // malformed %XX or bytes that are not UTF-8
  }
  return Key.isValid(key) && nameOf(key) === name ? key : undefined;
}

/** The content of flatfs.shard for `shard`. */
export const shardFileContent = (shard: ShardFunction): string => `${FORMAT} ${shard.spec}\n`;

/** The shard function recorded in flatfs.shard's `content`; EINVAL when it is not one this code writes. */
export function parseShardFile(content: string, where: string): ShardFunction {
  const match = /^(\S+) (\S+)\n$/.exec(content);
  if (match === null || match[1] !== FORMAT) {
    throw storageError('EINVAL', `flatfs: ${SHARD_FILE} does not hold '${FORMAT} <shard function>'; this is not a datastore this version can open`, {
      path: where,
    });
  }
  return shardFunction(match[2]);
}
