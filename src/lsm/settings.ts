// The options of a store with their defaults, checked once at open.
import { storageError } from '../ground/errors.js';
import type { LsmOptions } from './types.js';

type Required<T> = { [K in keyof T]-?: T[K] };
export type Settings = Required<Omit<LsmOptions, 'logger' | 'tiering'>>;

const DEFAULTS: Settings = {
  memtableSize: 4 * 1024 * 1024,
  blockSize: 4096,
  bloomBitsPerKey: 10,
  // LevelDB's default: a block the cache dropped is read back from the page cache on the calling thread
  // (Table.readNow), and the decoded blocks a larger cache keeps raised the peak RSS of the LSM bench by
  // ~70 MiB at 32 MiB (BENCHMARKS.md, session 23) for 8-10% more gets/s at 64 in flight
  blockCacheSize: 8 * 1024 * 1024,
  // LevelDB maps its tables too; here a get of a block the cache dropped went from ~6.5 to ~3.6 us of CPU
  // (the preadv2 system call is most of a read on this VM: BENCHMARKS.md, session 26)
  mmapReads: true,
  tableFileSize: 2 * 1024 * 1024,
  l0CompactionTrigger: 4,
  l0StopWrites: 12,
  levelBaseBytes: 10 * 1024 * 1024,
  levelMultiplier: 10,
  sync: 'none',
  readOnly: false,
  createIfMissing: true,
  errorIfExists: false,
  autoCompact: true,
  compactionThread: true,
  walRecovery: 'strict',
  walInlineWriteLimit: 64 * 1024,
  walRecycle: 2,
};

export function checkSettings(options: LsmOptions): Settings {
  const settings = { ...DEFAULTS };
  for (const [name, value] of Object.entries(options)) {
    if (name === 'logger' || name === 'tiering' || value === undefined) continue;
    if (!(name in DEFAULTS)) throw storageError('EINVAL', `unknown LSM option '${name}'`);
    const expected = typeof DEFAULTS[name as keyof Settings];
    if (typeof value !== expected) throw storageError('EINVAL', `LSM option ${name} must be a ${expected}`);
    (settings as Record<string, unknown>)[name] = value;
  }
  for (const name of ['walInlineWriteLimit', 'walRecycle'] as const) {
    if (!Number.isSafeInteger(settings[name]) || settings[name] < 0) throw storageError('EINVAL', `LSM option ${name} must be a non-negative integer`);
  }
  for (const name of ['memtableSize', 'blockSize', 'tableFileSize', 'l0CompactionTrigger', 'l0StopWrites', 'levelBaseBytes', 'levelMultiplier'] as const) {
    if (!Number.isSafeInteger(settings[name]) || settings[name] < 1) throw storageError('EINVAL', `LSM option ${name} must be a positive integer`);
  }
  if (!(settings.bloomBitsPerKey >= 0 && settings.bloomBitsPerKey <= 64)) throw storageError('EINVAL', 'bloomBitsPerKey must be 0..64');
  if (!(settings.blockCacheSize >= 0)) throw storageError('EINVAL', 'blockCacheSize must be >= 0');
  if (settings.sync !== 'always' && settings.sync !== 'none') throw storageError('EINVAL', "LSM option sync must be 'always' or 'none'");
  if (settings.walRecovery !== 'strict' && settings.walRecovery !== 'point-in-time') {
    throw storageError('EINVAL', "LSM option walRecovery must be 'strict' or 'point-in-time'");
  }
  if (settings.l0StopWrites < settings.l0CompactionTrigger) throw storageError('EINVAL', 'l0StopWrites must be >= l0CompactionTrigger');
  return settings;
}

/** The tiering option, checked: a directory handle and a level from 1 to `maxLevels - 1`. */
export function checkTiering(tiering: LsmOptions['tiering'], maxLevels: number): LsmOptions['tiering'] {
  if (tiering === undefined) return undefined;
  const { dir, fromLevel } = tiering;
  if (typeof dir !== 'object' || dir === null || typeof dir.openFile !== 'function') throw storageError('EINVAL', 'LSM option tiering.dir must be a Dir');
  if (!Number.isInteger(fromLevel) || fromLevel < 1 || fromLevel >= maxLevels) {
    throw storageError('EINVAL', `LSM option tiering.fromLevel must be an integer from 1 to ${maxLevels - 1}`);
  }
  return tiering;
}
