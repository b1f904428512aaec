// Mode: the seed's three permissions, mapped onto the owner bits of a POSIX mode. Group and other bits,
// setuid/setgid/sticky and the owner's execute bit are kept as they are; a full POSIX mode may be given
// instead of a Mode wherever one is taken.
import { storageError } from '../ground/errors.js';

export enum Mode {
  Read = 'read',
  Write = 'write',
  ReadAndWrite = 'readwrite',
}

export type Permission = Mode | number;

const OWNER_RW = 0o600;
const OWNER_BITS: Record<Mode, number> = { [Mode.Read]: 0o400, [Mode.Write]: 0o200, [Mode.ReadAndWrite]: 0o600 };

export const DEFAULT_FILE_MODE = 0o644;
export const DEFAULT_DIR_MODE = 0o755;

function checkPermission(permission: Permission): void {
  if (typeof permission === 'number') {
    if (!Number.isInteger(permission) || permission < 0 || permission > 0o7777) {
      throw storageError('EINVAL', `permission ${permission} is not a POSIX mode (0 to 0o7777)`);
    }
  } else if (!(permission in OWNER_BITS)) {
    throw storageError('EINVAL', `permission '${String(permission)}' is not Mode.Read, Mode.Write or Mode.ReadAndWrite`);
  }
}

/** The POSIX mode bits (no file type) a new file or directory gets for `permission`. */
export function modeBits(permission: Permission, directory: boolean): number {
  checkPermission(permission);
  if (typeof permission === 'number') return permission;
  return withPermission(directory ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE, permission);
}

/** `current` (mode bits) with its owner read/write bits set from `permission`. */
export function withPermission(current: number, permission: Permission): number {
  checkPermission(permission);
  if (typeof permission === 'number') return permission;
  return (current & 0o7777 & ~OWNER_RW) | OWNER_BITS[permission];
}

/** The mode `permission` sets: a POSIX mode as given, or a Mode on the owner bits of the current mode
 * (asked for only then: a full mode needs no stat). */
export async function modeFor(permission: Permission, currentMode: () => Promise<number>): Promise<number> {
  if (typeof permission === 'number') return withPermission(0, permission);
  checkPermission(permission);
  return withPermission(await currentMode(), permission);
}

/** What the owner may do with a file or directory of this mode; undefined when neither read nor write. */
export function permissionOf(mode: number): Mode | undefined {
  const read = (mode & 0o400) !== 0;
  const write = (mode & 0o200) !== 0;
  if (read && write) return Mode.ReadAndWrite;
  if (read) return Mode.Read;
  if (write) return Mode.Write;
  return undefined;
}

export const canRead = (mode: Mode | undefined): boolean => mode === Mode.Read || mode === Mode.ReadAndWrite;
export const canWrite = (mode: Mode | undefined): boolean => mode === Mode.Write || mode === Mode.ReadAndWrite;

/** Whether an owner with `granted` may open for `wanted`. */
export const allows = (granted: Mode | undefined, wanted: Mode): boolean => (!canRead(wanted) || canRead(granted)) && (!canWrite(wanted) || canWrite(granted));
