// Every name the store gives to what it keeps in its directory (README.md, "Files"), in one place.

export const MANIFEST_NAME = 'MANIFEST';
/** the directory of the WAL's segments and checkpoint (their names are the WAL's own: src/wal/format.ts) */
export const WAL_DIR = 'wal';
export const LOCK_NAME = 'LOCK';
/** the store's id, by which its tiering directory knows its owner (tier-owner.ts) */
export const STORE_ID_NAME = 'STORE-ID';
/** in a tiering directory: the id and path of the store it belongs to (tier-owner.ts) */
export const TIER_OWNER_NAME = 'TIER-OWNER';

/** Where a LOCK is written before it is linked into place: unique to the process. */
export const lockAsideName = (pid: number, token: string): string => `${LOCK_NAME}.${pid}.${token}`;

export const tableName = (number: number): string => `${String(number).padStart(6, '0')}.sst`;

export function parseTableName(name: string): number | undefined {
  const match = /^(\d{6,})\.sst$/.exec(name);
  return match ? Number(match[1]) : undefined;
}
