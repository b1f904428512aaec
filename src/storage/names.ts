// Names and paths are checked here, before any system call: a bad one changes nothing.
import { storageError } from './errors.js';

export const NAME_MAX = 255;
export const PATH_MAX = 4096;
/** persistfs's own directory at the storage root, for flushWrite's temporary files. */
export const RESERVED_NAME = '.persistfs-tmp';

/** A single directory entry name: not empty, not . or .., no '/' or NUL, at most 255 bytes. */
export function checkName(name: unknown, what = 'name'): string {
  if (typeof name !== 'string') throw storageError('EINVAL', `${what} must be a string, got ${typeof name}`);
  if (name.length === 0) throw storageError('EINVAL', `${what} is empty`);
  if (name.includes('\0')) throw storageError('EINVAL', `${what} contains a NUL byte`, { path: name.replace(/\0/g, '\\0') });
  if (name.includes('/')) throw storageError('EINVAL', `${what} contains '/'; use a Dir for nested paths`, { path: name });
  if (name === '.' || name === '..') throw storageError('EINVAL', `${what} may not be '.' or '..'`, { path: name });
  if (Buffer.byteLength(name) > NAME_MAX) {
    throw storageError('ENAMETOOLONG', `${what} is longer than ${NAME_MAX} bytes`, { path: name.slice(0, 40) + '...' });
  }
  return name;
}

/**
 * A path relative to the storage root, split into its names: '' and '/' are the root; '.' and empty
 * components are dropped; '..' is refused (the storage has no parent to offer); every name is checked.
 */
export function splitPath(path: unknown): string[] {
  if (typeof path !== 'string') throw storageError('EINVAL', `path must be a string, got ${typeof path}`);
  if (Buffer.byteLength(path) > PATH_MAX) throw storageError('ENAMETOOLONG', `path is longer than ${PATH_MAX} bytes`);
  if (path.includes('\0')) throw storageError('EINVAL', 'path contains a NUL byte');
  const names = path.split('/').filter((part) => part !== '' && part !== '.');
  for (const name of names) {
    if (name === '..') throw storageError('EXDEV', "paths may not contain '..'", { path });
    checkName(name);
  }
  return names;
}

export const joinPath = (parent: string, name: string): string => (parent === '' ? name : `${parent}/${name}`);
