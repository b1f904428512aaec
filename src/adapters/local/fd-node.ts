// What a local file and a local directory share: an open descriptor, and the calls that act on it alone
// (mode, owner, times, extended attributes).
import type { IoEngine, SetTime, Stat } from '../../io/engine.js';
import { kindOfMode, XattrsOf, type EntryStat, type XattrNode } from '../adapter.js';

export const withKind = (stat: Stat): EntryStat => ({ ...stat, kind: kindOfMode(stat.mode) });

/** The extended attributes of `fd` itself (entry '') or of its entry `entry`, not followed. */
export function fdXattrs(engine: IoEngine, fd: number, entry: string): XattrNode {
  return {
    getXattr: (name) => engine.getxattr(fd, entry, name),
    setXattr: (name, value, flags) => engine.setxattr(fd, entry, name, value, flags),
    listXattrs: () => engine.listxattr(fd, entry),
    removeXattr: (name) => engine.removexattr(fd, entry, name),
  };
}

export abstract class FdNode extends XattrsOf {
  constructor(
    protected readonly engine: IoEngine,
    readonly fd: number,
  ) {
    super(fdXattrs(engine, fd, ''));
  }

  chmod(mode: number): Promise<void> {
    return this.engine.fchmod(this.fd, mode);
  }

  chown(uid: number, gid: number): Promise<void> {
    return this.engine.fchown(this.fd, uid, gid);
  }

  utimes(atime: SetTime, mtime: SetTime): Promise<void> {
    return this.engine.futimens(this.fd, atime, mtime);
  }
}
