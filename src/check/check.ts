// persistfs check: verifies a WAL directory, an LSM store or a flatfs datastore on disk, told apart by
// their files (MANIFEST, flatfs.shard, *.wal) unless the kind is given. The directory is opened as a
// read-only storage (a shared lock beside other readers; never beside a writer of that same root, which
// is EBUSY naming it) and each engine's verify function reads it through read-only handles.
import { storageError } from '../ground/errors.js';
import type { VerifyProgress, VerifyReport } from '../ground/verify.js';
import type { Logger } from '../log.js';
import type { Dir } from '../storage/dir.js';
import { Storage } from '../storage/storage.js';
import { CHECKPOINT_NAME, parseSegmentName } from '../wal/format.js';
import { verifyWal } from '../wal/verify.js';
import { MANIFEST_NAME } from '../lsm/file-names.js';
import { verifyLsm } from '../lsm/verify.js';
import { SHARD_FILE } from '../datastore/flatfs-layout.js';
import { verifyFlatfs } from '../datastore/flatfs-verify.js';

export const STORE_KINDS = ['wal', 'lsm', 'flatfs'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export const KIND_NAMES: Record<StoreKind, string> = { wal: 'a WAL directory', lsm: 'an LSM store', flatfs: 'a flatfs datastore' };

export interface CheckOptions {
  /** what the directory holds; found from its files when not given */
  kind?: StoreKind | undefined;
  logger?: Logger;
  onProgress?: VerifyProgress;
}

export interface CheckResult extends VerifyReport {
  kind: StoreKind;
  /** the file the kind was told by, when it was not given */
  detectedBy?: string;
}

/** What `dir` holds, and the file that tells: EINVAL when it holds none of the three. */
export async function detectKind(dir: Dir, path: string): Promise<{ kind: StoreKind; by: string }> {
  const names = (await dir.read()).flatMap((entry) => (typeof entry.name === 'string' ? [entry.name] : []));
  if (names.includes(MANIFEST_NAME)) return { kind: 'lsm', by: MANIFEST_NAME };
  if (names.includes(SHARD_FILE)) return { kind: 'flatfs', by: SHARD_FILE };
  if (names.some((name) => parseSegmentName(name) !== undefined)) return { kind: 'wal', by: '*.wal segments' };
  if (names.includes(CHECKPOINT_NAME)) return { kind: 'wal', by: CHECKPOINT_NAME };
  throw storageError('EINVAL', `found no ${MANIFEST_NAME} (an LSM store), no ${SHARD_FILE} (a flatfs datastore) and no *.wal segment (a WAL) in`, {
    path,
    hint: 'name what it is with --kind wal|lsm|flatfs',
  });
}

/** Verifies the store in the directory `path` without changing it; the report lists every problem found. */
export async function checkStore(path: string, options: CheckOptions = {}): Promise<CheckResult> {
  const storage = await Storage.open(path, { readOnly: true, ...(options.logger ? { logger: options.logger } : {}) });
  try {
    const root = storage.root;
    const detected = options.kind === undefined ? await detectKind(root, path) : undefined;
    const kind = options.kind ?? detected!.kind;
    const verify = { wal: verifyWal, lsm: verifyLsm, flatfs: verifyFlatfs }[kind];
    const report = await verify(root, options.onProgress ? { onProgress: options.onProgress } : {});
    return { kind, ...(detected ? { detectedBy: detected.by } : {}), checked: report.checked, findings: report.findings };
  } finally {
    await storage.close();
  }
}
