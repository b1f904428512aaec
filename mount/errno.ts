// The errno a FUSE reply carries for an error of an operation: a StorageError's (or a Node error's) own,
// or undefined for anything else (a bug: the transports answer EIO and log it).
export function errnoOf(error: unknown): number | undefined {
  const errno = (error as { errno?: unknown })?.errno;
  const code = (error as { code?: unknown })?.code;
  return typeof errno === 'number' && errno !== 0 && typeof code === 'string' ? Math.abs(errno) : undefined;
}
