// The thin glue between fuse-native (libfuse 2) and the POSIX operations: callbacks in, promises out,
// StorageError codes to negative errnos, nothing thrown across the boundary. Everything that depends on
// the binding's quirks is here:
// - fuse-native answers any operation still running after 15 s with ETIMEDOUT: turned off (timeout: false).
// - big_writes and max_write are not fuse-native options, but its option string reaches fuse_mount
//   unescaped, so they ride after fsname= (libfuse 2 otherwise sends 4 KiB writes; 128 KiB is protocol
//   7.19's largest request). Every option goes that way, so that zero timeouts are not dropped.
// - fsync's arguments arrive as (path, datasync, fd, cb).
// - handles pass as 32-bit values (PosixFs numbers them so), times as milliseconds.
// - getxattr and listxattr: the binding answers a value or list longer than the caller's buffer with its
//   length (the kernel rejects that reply and the caller gets EIO) and pads a size probe of listxattr by
//   128 bytes; ExactXattrFuse answers them itself (exact sizes, ERANGE when it does not fit).
// - utimens delivers the access time in both time arguments (the binding copies the wrong field), and
//   UTIME_NOW and UTIME_OMIT both arrive as 1073 ms (their tv_nsec read as milliseconds): taken as now.
// - paths and names arrive decoded as UTF-8, with U+FFFD for every byte that is not: lossy, so two names
//   would become one. Any path, name or target holding U+FFFD is refused (EINVAL) instead of aliased, and
//   names from the store that are not UTF-8 are listed with U+FFFD (visible, but refused when used).
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';

import Fuse from 'fuse-native';

import type { Logger } from '../src/log.js';
import type { SetTime } from '../src/ground/set-time.js';
import { settlesWithin } from '../src/ground/settles-within.js';
import { errnoOf } from './errno.js';
import { FUSE_SUBTYPE, mountedType } from './mountpoint.js';
import type { PosixFs } from './posix-fs.js';
import { OpStats, type StatsSnapshot } from './stats.js';

const EIO = constants.errno.EIO;
const EINVAL = constants.errno.EINVAL;
/** What fuse-native put where bytes of a name were not UTF-8: such a name cannot reach us intact. */
const REPLACEMENT = '\uFFFD';

/** How long a stop waits for fuse-native's unmount callback, then for the operations still running. */
const UNMOUNT_WAIT_MS = 10_000;

/** A name from the store as the binding takes it: text (lossy for bytes that are not UTF-8). */
const asText = (name: string | Buffer): string => (typeof name === 'string' ? name : name.toString('utf8'));
const ERANGE = constants.errno.ERANGE;
/** UTIME_NOW ((1 << 30) - 1 ns) and UTIME_OMIT ((1 << 30) - 2 ns) as fuse-native's milliseconds */
const UTIME_SPECIAL_MS = 1073;

/** fuse-native's milliseconds as a time to set (UTIME_NOW and UTIME_OMIT arrive as the same number: now) */
const utimeOf = (ms: number): SetTime => (ms === UTIME_SPECIAL_MS ? 'now' : BigInt(Math.round(ms)) * 1_000_000n);

export type FuseUringMode = 'auto' | 'on' | 'off';

export interface FuseMountOptions {
  allowOther: boolean;
  /** seconds the kernel caches attributes and directory entries */
  attrTimeout: number;
  entryTimeout: number;
  debug: boolean;
  /** A read-only mount (MS_RDONLY: the kernel answers EROFS to every change) on a read-only storage. */
  readOnly?: boolean;
  /**
   * Serve extended attributes. The kernel then asks for security.capability before every write, one
   * more round trip each; without them it answers ENOSYS once and the kernel stops asking.
   */
  xattr: boolean;
  /**
   * The kernel transport only: the kernel's writeback cache (writes gather in the page cache and reach
   * us in large requests, at the latest on fsync or close; the kernel keeps size and mtime meanwhile).
   * Undefined: on for the kernel transport unless passthrough is asked for (runMount decides).
   */
  writebackCache?: boolean;
  /**
   * The kernel transport only: native code answers the reads, writes, fsyncs and fstats of open files
   * (default true; false leaves every request to JavaScript, for comparison).
   */
  nativeDataPath?: boolean;
  /**
   * The kernel transport only: FUSE over io_uring (kernel 6.14+ with the fuse module's enable_uring), one
   * queue per CPU. auto (default): when the kernel offers it; on: refuse to mount without it; off: never.
   */
  fuseUring?: FuseUringMode;
  /**
   * The kernel transport only, as root, without the writeback cache: FUSE passthrough, the kernel reads
   * and writes regular files' backing files itself.
   */
  passthrough?: boolean;
}

/**
 * The libfuse option string, in one place. It rides after fsname=, so its first item is the mount table's
 * source: the backing directory, as the kernel transport has it (mount and df show where the data lives),
 * unless a comma or backslash in it would split or escape the options.
 */
export function fuseOptionString(options: FuseMountOptions, backing: string): string {
  const list = [
    /[,\\]/.test(backing) ? 'persistfs' : backing,
    `subtype=${FUSE_SUBTYPE}`, // the mount table's type, fuse.persistfs: how persistfs knows its own mounts
    'default_permissions', // the kernel checks permissions for the real caller
    'big_writes',
    'max_write=131072',
    'max_read=131072',
    // page cache kept across opens while the file's size and mtime are as cached (auto_cache, not
    // kernel_cache): libfuse 2 gives each name of a hard-linked file a node of its own, so a write through
    // one name leaves the other's pages stale unless an open compares
    'auto_cache',
    'use_ino', // inode numbers from the backing store, so hard links show as one inode
    `attr_timeout=${options.attrTimeout}`,
    `entry_timeout=${options.entryTimeout}`,
    `negative_timeout=0`,
  ];
  if (options.allowOther) list.push('allow_other');
  if (options.readOnly) list.push('ro');
  return list.join(',');
}

type XattrSignal = (result: number, buffer: ArrayBuffer) => void;
type XattrAnswer<T> = (result: number, value?: T) => void;

/**
 * What a getxattr or listxattr reply of `length` bytes says to a caller whose buffer is `buffer`: the
 * length when it asks for the size (an empty buffer), ERANGE when it does not fit, else the length once
 * `copy` has filled the buffer.
 */
function xattrReply(length: number, buffer: Buffer, copy: () => void): number {
  if (buffer.length === 0) return length;
  if (length > buffer.length) return -ERANGE;
  copy();
  return length;
}

/** fuse-native with getxattr and listxattr replies that fit the caller's buffer (see the top of this file). */
class ExactXattrFuse extends Fuse {
  _op_getxattr(signal: XattrSignal, path: string, name: string, buffer: Buffer, position: number): void {
    const getxattr = this.ops.getxattr as unknown as (path: string, name: string, position: number, cb: XattrAnswer<Buffer>) => void;
    getxattr(path, name, position, (result, value) =>
      signal(result !== 0 ? result : xattrReply(value!.length, buffer, () => value!.copy(buffer)), buffer.buffer as ArrayBuffer),
    );
  }

  _op_listxattr(signal: XattrSignal, path: string, buffer: Buffer): void {
    const listxattr = this.ops.listxattr as unknown as (path: string, cb: XattrAnswer<string[]>) => void;
    listxattr(path, (result, names) => {
      if (result !== 0) return signal(result, buffer.buffer as ArrayBuffer);
      const list = Buffer.from(names!.map((name) => `${name}\0`).join(''));
      signal(
        xattrReply(list.length, buffer, () => list.copy(buffer)),
        buffer.buffer as ArrayBuffer,
      );
    });
  }
}

export class FuseMount {
  private inflight = 0;
  private idle: (() => void) | undefined;
  private readonly fuse: Fuse;
  /** per operation, for persistfs stats */
  private readonly stats = new OpStats();

  constructor(
    readonly mountpoint: string,
    backing: string,
    private readonly posix: PosixFs,
    options: FuseMountOptions,
    private readonly logger: Logger,
  ) {
    this.fuse = new ExactXattrFuse(mountpoint, this.operations(options.xattr), {
      timeout: false,
      debug: options.debug,
      fsname: fuseOptionString(options, backing),
    });
  }

  /** Calls `work`, then `cb` with 0 and the results, or with the negative errno; never throws. */
  private answer(op: string, cb: (result: number, ...values: unknown[]) => void, work: () => Promise<unknown>, value: 'value' | 'count' | 'none'): void {
    this.inflight++;
    const start = performance.now();
    let promise: Promise<unknown>;
    try {
      promise = work();
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise
      .then(
        (result) => {
          this.stats.record(this.stats.slot(op), start, false, op === 'read' || op === 'write' ? (result as number) : 0);
          try {
            if (value === 'count') cb(result as number);
            else if (value === 'value') cb(0, result);
            else cb(0);
          } catch (error) {
            // the binding could not take the answer (a bug here): EIO for the caller, never a request
            // left unanswered or a crash of the mount
            this.logger.error({ op, err: error }, 'the binding refused an answer, answered EIO');
            cb(-EIO);
          }
        },
        (error: unknown) => {
          this.stats.record(this.stats.slot(op), start, true, 0);
          cb(-this.errnoOf(op, error));
        },
      )
      .catch((error: unknown) => this.logger.error({ op, err: error }, 'could not answer a FUSE request'))
      .finally(() => {
        if (--this.inflight === 0 && this.idle) this.idle();
      });
  }

  /** What this mount did so far, for persistfs stats. */
  statsSnapshot(): StatsSnapshot {
    return {
      version: 1,
      pid: process.pid,
      transport: 'fuse-native',
      mountpoint: this.mountpoint,
      now: performance.now(),
      inflight: this.inflight,
      ops: this.stats.snapshot(),
    };
  }

  private errnoOf(op: string, error: unknown): number {
    const errno = errnoOf(error);
    if (errno !== undefined) {
      this.logger.debug({ op, code: (error as { code?: string }).code, path: (error as { path?: string }).path }, 'operation failed');
      return errno;
    }
    this.logger.error({ op, err: error }, 'unexpected failure, answered EIO');
    return EIO;
  }

  private operations(xattr: boolean): Record<string, (...args: never[]) => void> {
    const p = this.posix;
    type Cb = (result: number, ...values: unknown[]) => void;
    const xattrs = {
      getxattr: (path: string, name: string, _position: number, cb: Cb) => this.answer('getxattr', cb, () => p.getxattr(path, name), 'value'),
      setxattr: (path: string, name: string, value: Buffer, _position: number, flags: number, cb: Cb) =>
        this.answer('setxattr', cb, () => p.setxattr(path, name, Buffer.from(value), flags), 'none'),
      listxattr: (path: string, cb: Cb) => this.answer('listxattr', cb, async () => (await p.listxattr(path)).map(asText), 'value'),
      removexattr: (path: string, name: string, cb: Cb) => this.answer('removexattr', cb, () => p.removexattr(path, name), 'none'),
    };
    return refusingLossyNames({
      ...(xattr ? xattrs : {}),
      getattr: (path: string, cb: Cb) => this.answer('getattr', cb, () => p.getattr(path), 'value'),
      fgetattr: (_path: string, fh: number, cb: Cb) => this.answer('fgetattr', cb, () => p.fgetattr(fh), 'value'),
      readdir: (path: string, cb: Cb) => this.answer('readdir', cb, async () => (await p.readdir(path)).map(asText), 'value'),
      open: (path: string, flags: number, cb: Cb) => this.answer('open', cb, () => p.open(path, flags), 'value'),
      create: (path: string, mode: number, cb: Cb) => this.answer('create', cb, () => p.create(path, mode), 'value'),
      read: (_path: string, fh: number, buffer: Buffer, length: number, position: number, cb: Cb) =>
        this.answer('read', cb, () => p.read(fh, buffer, length, position), 'count'),
      write: (_path: string, fh: number, buffer: Buffer, length: number, position: number, cb: Cb) =>
        this.answer('write', cb, () => p.write(fh, buffer, length, position), 'count'),
      flush: (_path: string, fh: number, cb: Cb) => this.answer('flush', cb, () => p.flush(fh), 'none'),
      fsync: (_path: string, datasync: number, fh: number, cb: Cb) => this.answer('fsync', cb, () => p.fsync(fh, datasync !== 0), 'none'),
      fsyncdir: (path: string, _datasync: number, _fh: number, cb: Cb) => this.answer('fsyncdir', cb, () => p.fsyncdir(path), 'none'),
      release: (_path: string, fh: number, cb: Cb) => this.answer('release', cb, () => p.release(fh), 'none'),
      truncate: (path: string, size: number, cb: Cb) => this.answer('truncate', cb, () => p.truncate(path, size), 'none'),
      ftruncate: (_path: string, fh: number, size: number, cb: Cb) => this.answer('ftruncate', cb, () => p.ftruncate(fh, size), 'none'),
      unlink: (path: string, cb: Cb) => this.answer('unlink', cb, () => p.unlink(path), 'none'),
      mkdir: (path: string, mode: number, cb: Cb) => this.answer('mkdir', cb, () => p.mkdir(path, mode), 'none'),
      mknod: (path: string, mode: number, device: number, cb: Cb) => this.answer('mknod', cb, () => p.mknod(path, mode, device), 'none'),
      rmdir: (path: string, cb: Cb) => this.answer('rmdir', cb, () => p.rmdir(path), 'none'),
      rename: (from: string, to: string, cb: Cb) => this.answer('rename', cb, () => p.rename(from, to), 'none'),
      chmod: (path: string, mode: number, cb: Cb) => this.answer('chmod', cb, () => p.chmod(path, mode), 'none'),
      chown: (path: string, uid: number, gid: number, cb: Cb) => this.answer('chown', cb, () => p.chown(path, uid, gid), 'none'),
      utimens: (path: string, atime: number, _mtimeIsAtime: number, cb: Cb) =>
        this.answer('utimens', cb, () => p.utimens(path, utimeOf(atime), utimeOf(atime)), 'none'),
      symlink: (target: string, path: string, cb: Cb) => this.answer('symlink', cb, () => p.symlink(target, path), 'none'),
      readlink: (path: string, cb: Cb) => this.answer('readlink', cb, async () => asText(await p.readlink(path)), 'value'),
      link: (from: string, to: string, cb: Cb) => this.answer('link', cb, () => p.link(from, to), 'none'),
      access: (path: string, _mode: number, cb: Cb) => this.answer('access', cb, () => p.access(path), 'none'),
      statfs: (_path: string, cb: Cb) => this.answer('statfs', cb, () => p.statfs(), 'value'),
    } as unknown as Record<string, (...args: unknown[]) => void>);
  }

  mount(): Promise<void> {
    return new Promise((resolve, reject) => this.fuse.mount((error) => (error ? reject(error) : resolve())));
  }

  /**
   * Unmounts (lazily, as fuse-native does) unless already gone, then waits for the operations still running.
   * Each wait is bounded (UNMOUNT_WAIT_MS): fuse-native's unmount callback once did not come after a SIGINT
   * though the mount was gone (a fresh-clone `make test`, 1 run in many; not understood), and the process
   * then never closed its storage. Past the bound the stop goes on, said in the log.
   */
  async unmount(): Promise<void> {
    if ((await mountedType(this.mountpoint)) !== undefined) {
      const unmounted = new Promise<void>((resolve, reject) => this.fuse.unmount((error) => (error ? reject(error) : resolve())));
      if (!(await settlesWithin(unmounted, UNMOUNT_WAIT_MS)))
        this.logger.warn({ mountpoint: this.mountpoint, waitedMs: UNMOUNT_WAIT_MS }, 'fuse-native did not report the unmount; going on');
    }
    if (this.inflight > 0) {
      const idle = new Promise<void>((resolve) => (this.idle = resolve));
      if (!(await settlesWithin(idle, UNMOUNT_WAIT_MS)))
        this.logger.warn({ inflight: this.inflight, waitedMs: UNMOUNT_WAIT_MS }, 'operations still running at the unmount; going on');
    }
  }
}

/**
 * The operations, each refusing (EINVAL, without calling it) a request whose path, name or symlink target
 * held bytes that are not UTF-8: fuse-native gave them to us as U+FFFD, so the name the caller meant is
 * lost and using the decoded one could reach another file.
 */
function refusingLossyNames(operations: Record<string, (...args: unknown[]) => void>): Record<string, (...args: never[]) => void> {
  const wrapped: Record<string, (...args: never[]) => void> = {};
  for (const [op, handler] of Object.entries(operations)) {
    wrapped[op] = ((...args: unknown[]) => {
      const cb = args[args.length - 1] as (result: number) => void;
      if (args.some((arg) => typeof arg === 'string' && arg.includes(REPLACEMENT))) return cb(-EINVAL);
      return handler(...args);
    }) as (...args: never[]) => void;
  }
  return wrapped;
}
