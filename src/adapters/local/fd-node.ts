// What a local file and a local directory share: an open descriptor, and the calls that act on it alone
// (mode, owner, times, extended attributes).
import type { IoEngine, SetTime, Stat } from '../../io/engine.js';
import { kindOfMode, XattrsOf, type EntryStat, type XattrNode } from '../adapter.js';

export const withKind = (stat: Stat): EntryStat => ({ ...stat, kind: kindOfMode(stat.mode) });

/** The extended attributes of `fd` itself (entry '') or of its entry `entry`, not followed. */
class FdXattrs implements XattrNode {
  constructor(
    private readonly engine: IoEngine,
    private readonly fd: number,
    private readonly entry: string,
  ) {}

  getXattr(name: string): Promise<Buffer> {
    return this.engine.getxattr(this.fd, this.entry, name);
  }

  setXattr(name: string, value: Uint8Array, flags: number): Promise<void> {
    return this.engine.setxattr(this.fd, this.entry, name, value, flags);
  }

  listXattrs(): Promise<string[]> {
    return this.engine.listxattr(this.fd, this.entry);
  }

  removeXattr(name: string): Promise<void> {
    return this.engine.removexattr(this.fd, this.entry, name);
  }
}

export const fdXattrs = (engine: IoEngine, fd: number, entry: string): XattrNode => new FdXattrs(engine, fd, entry);

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
