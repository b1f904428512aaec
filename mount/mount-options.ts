// `-o key[=value],...` as mount(8), sshfs and rclone take it: each key is one of the mount's long options
// (allow_other or allow-other for --allow-other, attr_timeout=2 for --attr-timeout 2, no_xattr for
// --no-xattr; ro and rw as mount(8) means them), expanded into those before the command line is parsed. An
// unknown key is a usage error.

/** The long options of `persistfs mount` that -o may name, with whether each takes a value. */
const MOUNT_OPTIONS: ReadonlyMap<string, 'flag' | 'value'> = new Map([
  ['transport', 'value'],
  ['io-mode', 'value'],
  ['config', 'value'],
  ['log-level', 'value'],
  ['log-format', 'value'],
  ['allow-other', 'flag'],
  ['attr-timeout', 'value'],
  ['entry-timeout', 'value'],
  ['xattr', 'flag'],
  ['writeback-cache', 'flag'],
  ['native-data-path', 'flag'],
  ['fuse-uring', 'value'],
  ['passthrough', 'flag'],
  ['debug', 'flag'],
  ['read-only', 'flag'],
  ['daemon', 'flag'],
  ['log-file', 'value'],
  // an s3://bucket/prefix backing's (so an fstab line can mount one)
  ['cache-dir', 'value'],
  ['endpoint', 'value'],
  ['region', 'value'],
  ['cache-size', 'value'],
  ['write-through', 'flag'],
  ['write-back-delay', 'value'],
  ['dir-cache-time', 'value'],
]);

/** mount(8)'s own names for some of them: -o ro is --read-only, -o rw its opposite. */
const ALIASES: ReadonlyMap<string, string> = new Map([
  ['ro', 'read-only'],
  ['rw', 'no-read-only'],
]);

/** Whether `-o item` names an option of `persistfs mount` (the mount helper drops others when sloppy, -s). */
export function isMountOption(item: string): boolean {
  try {
    longOption(item);
    return true;
  } catch {
    return false;
  }
}

export class MountOptionError extends Error {}

/** `argv` with every `-o list` (or `-olist`) replaced by the long options it names. */
export function expandMountOptions(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg !== '-o' && !(arg.startsWith('-o') && !arg.startsWith('--'))) {
      out.push(arg);
      continue;
    }
    const list = arg === '-o' ? argv[++i] : arg.slice(2);
    if (list === undefined || list === '') throw new MountOptionError('-o needs a list of options, e.g. -o allow_other,attr_timeout=2');
    for (const item of list.split(',').filter((part) => part !== '')) out.push(...longOption(item));
  }
  return out;
}

function longOption(item: string): string[] {
  const equals = item.indexOf('=');
  const written = (equals < 0 ? item : item.slice(0, equals)).replaceAll('_', '-');
  const key = ALIASES.get(written) ?? written;
  const value = equals < 0 ? undefined : item.slice(equals + 1);
  const negated = key.startsWith('no-') && MOUNT_OPTIONS.get(key.slice(3)) === 'flag';
  const kind = negated ? 'flag' : MOUNT_OPTIONS.get(key);
  if (kind === undefined) throw new MountOptionError(`unknown mount option -o ${item}`);
  if (kind === 'flag' && value !== undefined) throw new MountOptionError(`-o ${key} takes no value`);
  if (kind === 'value' && value === undefined) throw new MountOptionError(`-o ${key} needs a value: -o ${key}=...`);
  return value === undefined ? [`--${key}`] : [`--${key}`, value];
}
