// The names persistfs keeps for itself at a storage root: the adapters make them, the storage API hides
// them. On the ground floor so that both reach them without one importing the other.

/** persistfs's own directory at the storage root, for flushWrite's temporary files. */
export const RESERVED_NAME = '.persistfs-tmp';
/** persistfs's lock file at the storage root: whoever holds its lock owns the store. */
export const LOCK_NAME = '.persistfs-lock';
/** Names at the storage root that belong to persistfs: not listed, not usable through the API. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([RESERVED_NAME, LOCK_NAME]);
