// Names and paths are checked here, before any system call: a bad one changes nothing.
//
// Names are bytes (see ground/name-bytes). Callers pass a name as a string, which must be well-formed
// Unicode (a lone surrogate is EINVAL, never replaced), or as a Buffer/Uint8Array of any bytes but '/' and
// NUL. Below this point a name is a name string: UTF-8 text with the bytes that are not UTF-8 escaped.
import { decodeName, isWellFormed, nameByteLength, printableName } from '../ground/name-bytes.js';
import { storageError } from '../ground/errors.js';

export const NAME_MAX = 255;
export const PATH_MAX = 4096;

/** A name or path as callers give it: text, or bytes for names that are not UTF-8. */
export type Name = string | Uint8Array;

/** A caller's name or path as a name string; EINVAL for what is neither a well-formed string nor bytes. */
export function toNameString(value: unknown, what = 'name'): string {
  if (typeof value === 'string') {
    if (!isWellFormed(value)) {
      throw storageError('EINVAL', `${what} is not well-formed Unicode (it holds a lone surrogate); pass the name's bytes as a Buffer instead`);
    }
    return value;
  }
  if (value instanceof Uint8Array) return decodeName(value);
  throw storageError('EINVAL', `${what} must be a string or a Buffer, got ${value === null ? 'null' : typeof value}`);
}

/**
 * A single directory entry name: not empty, not . or .., no '/' or NUL, at most 255 bytes. Returns it as a
 * name string.
 */
export function checkName(value: unknown, what = 'name'): string {
  return checkNameString(toNameString(value, what), what);
}

/** checkName for a name string already converted (see toNameString). */
function checkNameString(name: string, what: string): string {
  if (name.length === 0) throw storageError('EINVAL', `${what} is empty`);
  if (name.includes('\0')) throw storageError('EINVAL', `${what} contains a NUL byte`, { path: name.replace(/\0/g, '\\0') });
  if (name.includes('/')) throw storageError('EINVAL', `${what} contains '/'; use a Dir for nested paths`, { path: name });
  if (name === '.' || name === '..') throw storageError('EINVAL', `${what} may not be '.' or '..'`, { path: name });
  if (nameByteLength(name) > NAME_MAX) {
    throw storageError('ENAMETOOLONG', `${what} is longer than ${NAME_MAX} bytes`, { path: `${printableName(name).slice(0, 40)}...` });
  }
  return name;
}

/**
 * A path relative to the storage root (a string, or bytes), split into its names: '' and '/' are the root;
 * '.' and empty components are dropped; '..' is refused (the storage has no parent to offer); every name
 * is checked.
 */
export function splitPath(value: unknown): string[] {
  const path = toNameString(value, 'path');
  if (nameByteLength(path) > PATH_MAX) throw storageError('ENAMETOOLONG', `path is longer than ${PATH_MAX} bytes`);
  if (path.includes('\0')) throw storageError('EINVAL', 'path contains a NUL byte');
  const names = path.split('/').filter((part) => part !== '' && part !== '.');
  for (const name of names) {
    if (name === '..') throw storageError('EXDEV', "paths may not contain '..'", { path });
    checkNameString(name, 'name');
  }
  return names;
}

export const joinPath = (parent: string, name: string): string => (parent === '' ? name : `${parent}/${name}`);
