// persistfs: the persistence-storage API.
export { Storage, openStorage, type StorageOptions } from './storage/storage.js';
export { Dir, type OpenOptions } from './storage/dir.js';
export { File, type RenameOptions } from './storage/file.js';
export { Mode, type Permission } from './storage/mode.js';
export { StorageError, isCode } from './storage/errors.js';
export type { DirEntry, EntryKind, EntryStat } from './adapters/adapter.js';
export { loadConfig, DEFAULTS, type Config } from './config/config.js';
export { alignedBuffer } from './storage/aligned.js';
