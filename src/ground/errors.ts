// Every failure of the storage API is a StorageError: a POSIX code (ENOENT, EEXIST, ...), the errno
// number, and a message that says what failed, on which path, and what to do about it where that is known.
import { constants } from 'node:os';

import { printableName } from './name-bytes.js';

const ERRNO: Record<string, number> = constants.errno as Record<string, number>;
const CODE_BY_ERRNO = new Map<number, string>(Object.entries(ERRNO).map(([code, errno]) => [errno, code]));

const DESCRIPTIONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENOTEMPTY: 'directory not empty',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EINVAL: 'invalid argument',
  ENAMETOOLONG: 'name too long',
  EBADF: 'bad file handle',
  EXDEV: 'path resolves outside the storage root',
  ELOOP: 'too many symbolic links, or a symbolic link where none is allowed',
  EBUSY: 'resource busy',
  EIO: 'input/output error',
  ESTALE: 'stale file handle',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files in the system',
  ENOSYS: 'not supported by this kernel',
  EOPNOTSUPP: 'operation not supported by this file system',
  EFBIG: 'file too large',
  EAGAIN: 'resource temporarily unavailable',
  EINTR: 'interrupted',
  EBADMSG: 'bad message (damaged data)',
  ENOMEM: 'out of memory',
  ENODEV: 'no such device',
  ENXIO: 'no such device or address (for a seek: no data, or no hole, at or after the offset)',
};

export interface ErrorDetails {
  syscall?: string;
  path?: string;
  cause?: unknown;
  /** what to do about it, said after the path */
  hint?: string;
}

export class StorageError extends Error {
  readonly code: string;
  readonly errno: number;
  syscall: string | undefined;
  path: string | undefined;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'StorageError';
    this.code = code;
    this.errno = ERRNO[code] ?? 0;
    this.syscall = details.syscall;
    this.path = details.path === undefined ? undefined : printableName(details.path);
  }
}

export function describe(code: string): string {
  return DESCRIPTIONS[code] ?? code;
}

/** An error for `code`, its message built from what failed and where. */
export function storageError(code: string, what: string, details: ErrorDetails = {}): StorageError {
  const where = details.path === undefined ? '' : ` '${printableName(details.path)}'`;
  const how = details.syscall === undefined ? '' : ` (${details.syscall})`;
  const hint = details.hint === undefined ? '' : `: ${details.hint}`;
  return new StorageError(code, `${code}: ${describe(code)}, ${what}${where}${how}${hint}`, details);
}

/** Errors made without a stack trace (see traceless). */
const untraced = new WeakSet<StorageError>();

/**
 * `make()` without a stack trace: capturing one costs more than the rest of an error (15-20 us here), and
 * some errors are hot answers rather than failures (ENOENT lookups, ENODATA xattrs).
 */
export function traceless(make: () => StorageError): StorageError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const error = make();
    untraced.add(error);
    return error;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** `make()`, relabelling `from`: with a stack trace only where `from` has one. */
export function tracedLike(from: StorageError, make: () => StorageError): StorageError {
  return untraced.has(from) ? traceless(make) : make();
}

/**
 * An error for a kernel result of -errno. Made without a stack trace: it is created where a completion is
 * reaped, so the trace would say nothing, and expected failures (ENOENT lookups, ENODATA xattrs) are hot.
 */
export function errnoError(errno: number, syscall: string, path?: string): StorageError {
  const code = CODE_BY_ERRNO.get(errno) ?? `E${errno}`;
  return traceless(() => storageError(code, syscall, { syscall, path }));
}

/** Anything thrown below the API (a Node fs error, a native TypeError) as a StorageError. */
export function toStorageError(error: unknown, syscall: string, path?: string): StorageError {
  if (error instanceof StorageError) return error;
  const e = error as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && e.code in ERRNO) {
    return storageError(e.code, syscall, { syscall, path, cause: error });
  }
  if (typeof (e as { errno?: unknown })?.errno === 'number' && (e.errno as number) < 0) {
    return errnoError(-(e.errno as number), syscall, path);
  }
  return storageError('EINVAL', `${syscall}: ${e instanceof Error ? e.message : String(e)}`, { syscall, path, cause: error });
}

/** Re-labels an error with the storage-relative path the caller knows (the engine only saw a name). */
export function withPath<T>(promise: Promise<T>, path: string): Promise<T> {
  return promise.catch((error: unknown) => {
    const e = toStorageError(error, 'io', path);
    if (e.path !== path) {
      throw tracedLike(e, () => storageError(e.code, e.syscall ?? 'io', { syscall: e.syscall, path, cause: e }));
    }
    throw e;
  });
}

export const isCode = (error: unknown, code: string): boolean => error instanceof StorageError && error.code === code;
