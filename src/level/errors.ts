// Errors of the Level backend: the store fails with StorageErrors (POSIX codes); the Level ecosystem expects
// LEVEL_* codes (abstract-level's README, "Errors"). A LevelError carries the Level code and keeps the
// StorageError as its cause, so that both the Level code and the POSIX code stay reachable.
import { StorageError, storageError } from '../ground/errors.js';

export class LevelError extends Error {
  readonly code: string;

  constructor(code: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    // abstract-level names an abort 'AbortError' (web compatibility); other codes keep a name of their own
    this.name = code === 'LEVEL_ABORTED' ? 'AbortError' : 'LevelError';
  }
}

/** The Level code of a POSIX code, for the failures the Level API names. */
const LEVEL_CODES: Record<string, string> = {
  EBADMSG: 'LEVEL_CORRUPTION',
  EIO: 'LEVEL_IO_ERROR',
  ENOSPC: 'LEVEL_IO_ERROR',
  EDQUOT: 'LEVEL_IO_ERROR',
  EACCES: 'LEVEL_IO_ERROR',
  EPERM: 'LEVEL_IO_ERROR',
  EMFILE: 'LEVEL_IO_ERROR',
  ENFILE: 'LEVEL_IO_ERROR',
  ENOMEM: 'LEVEL_IO_ERROR',
  EROFS: 'LEVEL_READONLY',
  EBADF: 'LEVEL_DATABASE_NOT_OPEN',
};

/**
 * A failure of the store as the Level API reports it: a StorageError whose code has a Level equivalent
 * becomes a LevelError with that code (the StorageError is its cause); anything else (EINVAL for a
 * misuse, errors that are not the store's) is returned as it is.
 */
export function toLevelError(error: unknown): unknown {
  if (!(error instanceof StorageError)) return error;
  const code = LEVEL_CODES[error.code];
  return code === undefined ? error : new LevelError(code, error.message, error);
}

/** `promise`, its rejection mapped by toLevelError. */
export function levelCall<T>(promise: Promise<T>): Promise<T> {
  return promise.catch((error: unknown) => {
    throw toLevelError(error);
  });
}

/**
 * Why a database did not open, as the cause abstract-level wraps in LEVEL_DATABASE_NOT_OPEN: a missing
 * database (createIfMissing: false) or an existing one (errorIfExists) says so in its message; a store
 * another handle holds is LEVEL_LOCKED.
 */
export function openError(error: unknown, location: string): unknown {
  if (!(error instanceof StorageError)) return error;
  switch (error.code) {
    case 'ENOENT':
      return storageError('ENOENT', 'the database does not exist (open it with createIfMissing: true to create it)', { path: location, cause: error });
    case 'EEXIST':
      return storageError('EEXIST', 'the database already exists (errorIfExists: true)', { path: location, cause: error });
    case 'EBUSY':
      return new LevelError('LEVEL_LOCKED', `the database at '${location}' is open elsewhere: ${error.message}`, error);
    default:
      return toLevelError(error);
  }
}

export function abortError(): LevelError {
  return new LevelError('LEVEL_ABORTED', 'Operation has been aborted');
}
