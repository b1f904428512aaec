// What mount(8) says to mount.fuse.persistfs, as a `persistfs mount` command line. mount(8) (and systemd,
// for /etc/fstab) runs the helper as `mount.fuse.persistfs SOURCE MOUNTPOINT [-s] [-f] [-n] [-v]
// [-o OPTIONS] [-t TYPE]`; OPTIONS carry fstab's generic options beside persistfs's own. Those that
// concern mount(8) or systemd only (defaults, auto, noauto, nofail, _netdev, user, x-*, comment=, ...)
// and those persistfs mounts always are (rw, nosuid, nodev, exec, async, relatime) are dropped; ro and
// every `persistfs mount -o` option pass on; anything else is the usual one-line usage error (with -s,
// sloppy, it is dropped too).
import { isMountOption } from './mount-options.js';

const DROPPED = new Set([
  'defaults',
  'auto',
  'noauto',
  'nofail',
  '_netdev',
  'user',
  'users',
  'nouser',
  'owner',
  'group',
  'rw',
  'nosuid',
  'nodev',
  'exec',
  'async',
  'relatime',
]);
const DROPPED_PREFIXES = ['x-', 'comment='];

export class HelperUsageError extends Error {}

export interface HelperCall {
  /** -f: mount(8)'s fake mount: do everything but mount, here nothing */
  fake: boolean;
  /** -v */
  verbose: boolean;
  /** the arguments of `persistfs` */
  args: string[];
}

function dropped(item: string): boolean {
  const name = item.split('=')[0]!;
  return DROPPED.has(name) || DROPPED_PREFIXES.some((prefix) => item.startsWith(prefix));
}

export function helperCall(argv: readonly string[]): HelperCall {
  const positional: string[] = [];
  const options: string[] = [];
  let fake = false;
  let verbose = false;
  let sloppy = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-o' || arg === '-t') {
      const value = argv[++i];
      if (value === undefined) throw new HelperUsageError(`${arg} needs a value`);
      if (arg === '-o') options.push(...value.split(','));
    } else if (arg.startsWith('-o')) options.push(...arg.slice(2).split(','));
    else if (arg === '-f') fake = true;
    else if (arg === '-v') verbose = true;
    else if (arg === '-s') sloppy = true;
    else if (arg === '-n')
      continue; // no /etc/mtab to write
    else if (arg.startsWith('-') && arg !== '-') throw new HelperUsageError(`unknown argument ${arg}`);
    else positional.push(arg);
  }
  if (positional.length !== 2) throw new HelperUsageError(`needs the backing directory and the mount point, got ${positional.length} arguments`);
  const kept = options.filter((item) => item !== '' && !dropped(item) && (!sloppy || isMountOption(item)));
  const [source, target] = positional as [string, string];
  return { fake, verbose, args: ['mount', source, target, ...(kept.length > 0 ? ['-o', kept.join(',')] : []), '--daemon'] };
}
