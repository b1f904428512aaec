// Datastore keys: hierarchical strings like '/blocks/CIQ/42'. A key has one spelling only, so a key read
// back from a query is the string that was put: it starts with '/', its segments are not empty (no '//',
// no trailing '/'), no segment is '.' or '..' (keys are names, not paths to resolve), and it holds no NUL
// and no lone UTF-16 surrogate (it must survive a round trip through UTF-8). '/' is the root: a valid
// query prefix, never a key with a value. normalize() makes the one spelling from a looser string.
//
// Keys order by their UTF-8 bytes (code point order), the order a byte-keyed store such as the LSM keeps.
//
// These helpers throw (EINVAL) on bad input; the Datastore methods that use them turn that into a rejection.
import { storageError } from '../ground/errors.js';

export const ROOT = '/';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `key` is not a valid key (with a value, so not '/'), or undefined when it is. */
function problem(key: unknown): string | undefined {
  if (typeof key !== 'string') return `a key must be a string, got ${key === null ? 'null' : typeof key}`;
  if (!key.startsWith('/')) return "a key must start with '/'";
  if (key === ROOT) return "'/' is the root, not a key that can hold a value";
  if (key.includes('\0')) return 'a key may not contain a NUL character';
  if (LONE_SURROGATE.test(key)) return 'a key may not contain a lone UTF-16 surrogate (it has no UTF-8 form)';
  for (const segment of key.slice(1).split('/')) {
    if (segment === '') return "a key may not have empty segments ('//' or a trailing '/'); Key.normalize() cleans one";
    if (segment === '.' || segment === '..') return "a key may not have '.' or '..' segments";
  }
  return undefined;
}

const shown = (key: unknown): string | undefined => (typeof key === 'string' ? key.replace(/\0/g, '\\0') : undefined);

/** `key` if it is a valid key; EINVAL naming what is wrong otherwise. `what` says which call refused it. */
export function check(key: unknown, what = 'key'): string {
  const why = problem(key);
  if (why !== undefined) throw storageError('EINVAL', `${what}: ${why}`, { path: shown(key) });
  return key as string;
}

/** Whether `key` is a valid key (see check). */
export function isValid(key: unknown): key is string {
  return problem(key) === undefined;
}

/** A query or sync prefix: undefined and '' are the root '/'; otherwise '/' or a valid key. */
export function checkPrefix(prefix: unknown, what = 'prefix'): string {
  if (prefix === undefined || prefix === '' || prefix === ROOT) return ROOT;
  const why = problem(prefix);
  if (why !== undefined) throw storageError('EINVAL', `${what}: a prefix is '/' or a key, and ${why}`, { path: shown(prefix) });
  return prefix as string;
}

/**
 * The one spelling of a looser string: a leading '/' is added, empty segments ('//', a trailing '/') are
 * dropped; '' becomes '/'. '.' and '..' segments and NUL are still refused (EINVAL): nothing is resolved.
 */
export function normalize(raw: string): string {
  if (typeof raw !== 'string') throw storageError('EINVAL', `Key.normalize takes a string, got ${typeof raw}`);
  const key =
    ROOT +
    raw
      .split('/')
      .filter((segment) => segment !== '')
      .join('/');
  return checkPrefix(key, 'Key.normalize');
}

/** The key one level up: parent('/a/b') is '/a', parent('/a') is '/'. The root has no parent (EINVAL). */
export function parent(key: string): string {
  check(key, 'Key.parent');
  const cut = key.lastIndexOf('/');
  return cut === 0 ? ROOT : key.slice(0, cut);
}

/** The last segment: name('/a/b') is 'b'. */
export function name(key: string): string {
  check(key, 'Key.name');
  return key.slice(key.lastIndexOf('/') + 1);
}

/** `key` with one more segment: child('/a', 'b') is '/a/b', child('/', 'b') is '/b'. */
export function child(key: string, segment: string): string {
  const base = checkPrefix(key, 'Key.child');
  if (typeof segment !== 'string' || segment.includes('/')) {
    throw storageError('EINVAL', "Key.child: a segment is a string without '/'", { path: shown(segment) });
  }
  return check(base === ROOT ? ROOT + segment : `${base}/${segment}`, 'Key.child');
}

/**
 * Whether `key` lies strictly below `ancestor`: '/a' is an ancestor of '/a/b' and '/a/b/c', not of '/ab'
 * nor of '/a' itself; '/' is an ancestor of every key. Both are taken as valid (no check: queries call
 * it once per entry).
 */
export function isAncestorOf(ancestor: string, key: string): boolean {
  if (ancestor === ROOT) return key !== ROOT;
  return key.length > ancestor.length && key.startsWith(ancestor) && key.charCodeAt(ancestor.length) === 0x2f;
}

/** `key` without the leading `ancestor` (which must be an ancestor of it): strip('/a', '/a/b') is '/b'. */
export function strip(ancestor: string, key: string): string {
  return ancestor === ROOT ? key : key.slice(ancestor.length);
}

/** `key` below `ancestor`: under('/a', '/b') is '/a/b'; the root adds nothing. */
export function under(ancestor: string, key: string): string {
  if (ancestor === ROOT) return key;
  return key === ROOT ? ancestor : ancestor + key;
}

/**
 * Orders keys (any strings) by code point, which is the order of their UTF-8 bytes. Plain `<` on JS
 * strings compares UTF-16 units, which puts U+E000..U+FFFF after astral characters; this does not.
 */
export function compare(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** A UTF-16 unit moved so that surrogates (astral code points) sort after U+E000..U+FFFF. */
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}
