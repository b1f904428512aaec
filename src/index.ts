// persistfs: the persistence-storage API.
export { Storage, openStorage, type StorageOptions } from './storage/storage.js';
export { Dir, type OpenOptions } from './storage/dir.js';
export { File, type RenameOptions } from './storage/file.js';
export { Mode, type Permission } from './storage/mode.js';
export { StorageError, isCode } from './storage/errors.js';
export type { DirEntry, EntryKind, EntryStat } from './adapters/adapter.js';
export { loadConfig, DEFAULTS, type Config } from './config/config.js';
export { alignedBuffer } from './storage/aligned.js';
export { Wal, type WalOptions, type WalRecord, type WalPosition, type SyncPolicy, type RecoveryReport } from './wal/wal.js';
export { DirSegmentStore, MemorySegmentStore, type SegmentStore } from './wal/segment-store.js';
export type { StorageBackend } from './backend/backend.js';
export { MemoryBackend } from './backend/memory-backend.js';
export { FileBackend } from './backend/file-backend.js';
export { CrashingBackend, type CrashPlan } from './backend/crash-backend.js';
export { PersistLevel, type PersistLevelOptions } from './level/persist-level.js';
export { LevelError } from './level/errors.js';
