// The kernel transport: persistfs speaks the kernel's FUSE protocol itself. The native session
// (native/src/fuse) mounts /dev/fuse and reads requests on a thread per CPU (or takes them from its FUSE
// io_uring queues). The reads, writes, fsyncs and fstats of open files are answered there by the data
// path (native/src/fuse/data-path.h) on the handles attached at OPEN; the other requests reach handle()
// here in batches, raw. Each is decoded, answered by its operation (operations.ts) and replied to with one
// writev from this thread. A request that cannot be decoded is EINVAL, an opcode we do not serve ENOSYS,
// a failing operation its StorageError's errno, anything else EIO: always logged, never a crash.
import { execFile } from 'node:child_process';
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';

import type { Logger } from '../../src/log.js';
import { native, type NativeFuseSession } from '../../src/io/native.js';
import { errnoOf } from '../errno.js';
import type { PosixFs } from '../posix-fs.js';
import type { FuseUringMode } from '../fuse-glue.js';
import { dataPathTotals, OpStats, type StatsSnapshot } from '../stats.js';
import type { NativeAccess } from '../../src/adapters/adapter.js';
import { storageError } from '../../src/ground/errors.js';
import { settlesWithin } from '../../src/ground/settles-within.js';
import { InitError, negotiate, offersUring } from './init.js';
import { KernelOps, servesStatx, type KernelOpsOptions, type NativePort, type Operation, type ReplyBody } from './operations.js';
import { InitFlag, MAX_WRITE, Opcode, OPCODE_NAMES, READ_BUFFER_SIZE } from './protocol.js';
import { timeout } from './reply.js';
import { decodeRequest, ProtocolError, type Request } from './request.js';

const { EIO, EINVAL, ENOSYS, EPROTO } = constants.errno;
/** Entries per FUSE-over-io_uring queue: requests one CPU can have in flight at once. */
const URING_DEPTH = 16;
/**
 * READ replies of at least this many bytes whose data the page cache holds go from the storage's file to
 * /dev/fuse by splice (the kernel copies the data once; native/src/fuse/data-path.h ReplySplice).
 */
const SPLICE_READS_DEFAULT = 64 * 1024;

/**
 * Which READ replies go by splice: PERSISTFS_SPLICE_READS, a number of bytes (the smallest reply spliced; 1:
 * every one), `off` (every READ by copy), or `drain` (for tests: the default's READs are spliced into their
 * pipe, then read back and sent by copy, the path of a splice that fell short); unset, the default.
 */
export function spliceReads(value = process.env.PERSISTFS_SPLICE_READS): { minimum: number; drain: boolean } {
  if (value === undefined || value === '') return { minimum: SPLICE_READS_DEFAULT, drain: false };
  if (value === 'off') return { minimum: 0, drain: false };
  if (value === 'drain') return { minimum: SPLICE_READS_DEFAULT, drain: true };
  const bytes = Number(value);
  if (!Number.isSafeInteger(bytes) || bytes < 1)
    throw storageError('EINVAL', `PERSISTFS_SPLICE_READS=${JSON.stringify(value)}: expected a number of bytes (1 or more), off or drain`);
  return { minimum: bytes, drain: false };
}

export interface KernelMountOptions extends KernelOpsOptions {
  allowOther: boolean;
  debug: boolean;
  nativeDataPath?: boolean;
  fuseUring?: FuseUringMode;
  passthrough?: boolean;
  /** mounted read-only: MS_RDONLY as root, ro through fusermount3 */
  readOnly?: boolean;
}

const asRoot = (): boolean => process.getuid?.() === 0;
const execFileAsync = promisify(execFile);

/**
 * The mount options, in one place: as root, the mount(2) data after "fd=N"; otherwise the options for
 * fusermount3, which adds fd, rootmode, user_id and group_id itself (and allows allow_other only when
 * /etc/fuse.conf says user_allow_other).
 */
export function kernelMountOptions(options: KernelMountOptions, backing: string, root: boolean): string {
  const list = root
    ? ['rootmode=40000', `user_id=${process.getuid?.() ?? 0}`, `group_id=${process.getgid?.() ?? 0}`]
    : ['subtype=persistfs', ...(/[,\\]/.test(backing) ? [] : [`fsname=${backing}`])];
  list.push('default_permissions', `max_read=${MAX_WRITE}`); // the kernel checks permissions for the real caller
  if (options.allowOther) list.push('allow_other');
  if (options.readOnly && !root) list.push('ro'); // as root, MS_RDONLY: mount(2) data takes no ro
  return list.join(',');
}

/** attach()'s byStorage: the storage's sync(), flush() and stat() answer FSYNC, FLUSH and GETATTR (src/io/native.ts) */
const BY_STORAGE_SYNC = 1;
const BY_STORAGE_FLUSH = 2;
const BY_STORAGE_ATTRIBUTES = 4;

const opName = (opcode: number): string => OPCODE_NAMES.get(opcode) ?? `opcode ${opcode}`;

export class KernelMount {
  private readonly session: NativeFuseSession;
  private readonly ops: KernelOps;
  private readonly operations: Map<number, Operation>;
  private inflight = 0;
  private idle: (() => void) | undefined;
  private readonly unknown = new Set<number>();
  /** resolves when the kernel side is gone (unmounted from outside, or aborted) */
  readonly ended: Promise<number>;
  private gone = false;
  /** the readers run: the session's end (after its last reported releases) will come */
  private started = false;
  /** how requests arrived: many per event-loop wake-up when the kernel is busy */
  private readonly counts = { requests: 0, batches: 0, largestBatch: 0 };
  /** per operation, for persistfs stats: slots by opcode */
  private readonly stats = new OpStats();
  private readonly statSlots = new Map<number, number>();

  constructor(
    readonly mountpoint: string,
    private readonly backing: string,
    posix: PosixFs,
    private readonly options: KernelMountOptions,
    private readonly logger: Logger,
  ) {
    const port: NativePort = {
      attach:
        options.nativeDataPath === false
          ? undefined
          : (fh: number, node: number, access: NativeAccess) =>
              this.session.attach(
                fh,
                access.fd,
                node,
                access.sizeCell,
                (access.syncByStorage === true ? BY_STORAGE_SYNC : 0) |
                  (access.flushByStorage === true ? BY_STORAGE_FLUSH : 0) |
                  (access.attributesByStorage === true ? BY_STORAGE_ATTRIBUTES : 0),
                access.filling?.readyCell,
                access.filling?.servedCell,
                access.changeCell,
                access.modeCell,
              ),
      attachDirectory: options.nativeDataPath === false ? undefined : (node, fd, ino, born, kept) => this.session.attachDirectory(node, fd, ino, born, kept),
      detachDirectory: (node) => this.session.detachDirectory(node),
      attachAttributes: options.nativeDataPath === false ? undefined : (node, body, validNs) => this.session.attachAttributes(node, body, validNs),
      removed: options.nativeDataPath === false ? undefined : (node) => this.session.removed(node),
      hold: options.nativeDataPath === false ? undefined : (node, delta) => this.session.hold(node, delta),
      absentXattr: options.nativeDataPath === false ? undefined : (node, name) => this.session.absentXattr(node, name),
      forgetXattrs: () => this.session.forgetXattrs(),
      noXattrs: options.nativeDataPath === false ? undefined : (node) => this.session.noXattrs(node),
      absentName: options.nativeDataPath === false ? undefined : (name) => this.session.absentName(name),
      named: options.nativeDataPath === false ? undefined : (parent, name, node, ino, born) => this.session.named(parent, name, node, ino, born),
      unnamed: (parent, name) => this.session.unnamed(parent, name),
      settle: (node, lookups, drop) => this.session.settle(node, lookups, drop),
      giveCreateSlot: options.nativeDataPath === false ? undefined : (node, fh, sizeCell) => this.session.giveCreateSlot(node, fh, sizeCell),
      backingOpen: (fd) => this.session.backingOpen(fd),
      backingClose: (id) => this.session.backingClose(id),
    };
    this.ops = new KernelOps(posix, options, (code, body) => this.notify(code, body), port, logger);
    this.operations = this.ops.table();
    for (const [opcode, name] of OPCODE_NAMES) this.statSlots.set(opcode, this.stats.slot(name));
    let ended: (errno: number) => void = () => {};
    this.ended = new Promise((resolve) => (ended = resolve));
    this.session = new native.FuseSession(
      (batch, released) => {
        for (let i = 0; i < released.length; i += 2) this.released(released[i]!, released[i + 1]!);
        this.counts.batches++;
        this.counts.requests += batch.length;
        this.counts.largestBatch = Math.max(this.counts.largestBatch, batch.length);
        for (const raw of batch) {
          // nothing may escape into the native call: the batch's other requests still get served
          try {
            this.handle(raw);
          } catch (error) {
            this.logger.error({ err: error }, 'a request could not be handled');
          }
        }
      },
      (errno) => {
        this.gone = true;
        if (errno !== 0) this.logger.error({ errno }, 'reading /dev/fuse failed; the mount stops');
        ended(errno);
      },
    );
  }

  /** Mounts: as root with mount(2) itself, otherwise through fusermount3. */
  mount(): Promise<void> {
    if (asRoot())
      this.session.mount(this.backing, this.mountpoint, 'fuse.persistfs', kernelMountOptions(this.options, this.backing, true), this.options.readOnly === true);
    else this.session.mountWithFusermount(this.mountpoint, kernelMountOptions(this.options, this.backing, false));
    const attr = timeout(this.options.attrTimeout);
    const entry = timeout(this.options.entryTimeout);
    const splice = spliceReads();
    this.session.start(
      READ_BUFFER_SIZE,
      attr.sec,
      attr.nsec,
      entry.sec,
      entry.nsec,
      splice.minimum,
      splice.drain,
      servesStatx(this.options),
      this.options.readOnly !== true,
    );
    this.started = true;
    return Promise.resolve();
  }

  /** The data path answered a RELEASE: the storage's file closes here. */
  private released(fh: number, node: number): void {
    this.whileInFlight(this.ops.released(fh, node, true).catch((error: unknown) => this.logger.warn({ fh, err: error }, 'closing a released file failed')));
  }

  /** Counts `work` among the requests in flight until it settles (an unmount waits for them: settled). */
  private whileInFlight(work: Promise<unknown>): void {
    this.inflight++;
    void work.finally(() => {
      if (--this.inflight === 0 && this.idle) this.idle();
    });
  }

  private reply(request: Request, errno: number, body: ReplyBody): void {
    const parts = body === undefined ? [] : Array.isArray(body) ? body : [body];
    let result: number;
    try {
      result = this.session.reply(request.unique, -errno, ...parts);
    } catch (error) {
      // a body the native side refuses is our bug, but the caller must not wait forever for it
      this.logger.error({ op: opName(request.opcode), unique: request.unique, err: error }, 'a reply the session refused; answered EIO');
      result = this.session.reply(request.unique, -EIO);
    }
    if (this.options.debug) this.logger.info({ op: opName(request.opcode), unique: request.unique, errno }, 'reply');
    // -ENOENT: the request was interrupted and the kernel no longer waits for it
    if (result !== 0 && result !== -constants.errno.ENOENT) {
      this.logger.warn({ op: opName(request.opcode), unique: request.unique, error: -result }, 'the kernel refused a reply');
    }
  }

  /** A notification to the kernel; ENOENT means it holds no such node any more, which is fine. */
  private notify(code: number, body: Buffer): void {
    const result = this.session.reply(0, code, body);
    if (result !== 0 && result !== -constants.errno.ENOENT) this.logger.warn({ code, error: -result }, 'the kernel refused a notification');
  }

  private handle(raw: Buffer): void {
    let request: Request;
    try {
      request = decodeRequest(raw);
    } catch (error) {
      this.logger.error({ err: error, length: raw.length }, 'a request that cannot be decoded');
      // answerable when at least the unique id arrived
      if (raw.length >= 16) this.session.reply(raw.readUInt32LE(8) + raw.readUInt32LE(12) * 0x1_0000_0000, -EINVAL);
      return;
    }
    if (request.unlinkedHere) {
      const told = request.unlinkedHere;
      if (this.options.debug) this.logger.info({ op: opName(request.opcode), parent: request.nodeid, node: told.node }, 'made by the data path');
      this.noReply(request, () => this.ops.unlinkedHere(request, told));
      return;
    }
    if (request.answered) {
      const told = request.answered;
      if (this.options.debug)
        this.logger.info(
          { op: opName(request.opcode), unique: request.unique, node: request.nodeid, made: told.node, fh: told.fh },
          'answered by the data path',
        );
      // in flight until the storage took the file: an unmount waits for it
      this.noReply(request, () => this.whileInFlight(this.ops.answeredHere(request, told)));
      return;
    }
    if (this.options.debug)
      this.logger.info(
        { op: opName(request.opcode), unique: request.unique, node: request.nodeid, uid: request.uid, pid: request.pid, length: raw.length },
        'request',
      );
    switch (request.opcode) {
      case Opcode.INIT:
        this.init(request);
        return;
      case Opcode.FORGET:
        this.noReply(request, () => this.ops.forget(request));
        return;
      case Opcode.BATCH_FORGET:
        this.noReply(request, () => this.ops.batchForget(request));
        return;
      case Opcode.INTERRUPT:
        // the operations cannot be cancelled halfway; each is answered when it completes
        return;
      case Opcode.DESTROY:
        this.reply(request, 0, undefined);
        return;
    }
    const operation = this.operations.get(request.opcode);
    if (!operation) {
      if (!this.unknown.has(request.opcode)) {
        this.unknown.add(request.opcode);
        this.logger.debug({ op: opName(request.opcode) }, 'not served: ENOSYS (logged once)');
      }
      this.reply(request, ENOSYS, undefined);
      return;
    }
    const start = performance.now();
    let promise: Promise<ReplyBody>;
    // files of CREATEs the data path answered are being taken: the kernel may ask about them already
    const taking = this.ops.takingCreated();
    try {
      promise = taking ? taking.then(() => operation(request)) : operation(request);
    } catch (error) {
      promise = Promise.reject(error);
    }
    this.whileInFlight(
      promise
        .then(
          (body) => {
            this.record(request, start, 0, body);
            this.reply(request, 0, body);
          },
          (error: unknown) => {
            const errno = this.errnoOf(request, error);
            this.record(request, start, errno, undefined);
            this.reply(request, errno, undefined);
          },
        )
        .catch((error: unknown) => this.logger.error({ op: opName(request.opcode), err: error }, 'could not answer a request')),
    );
  }

  /** Counts an answered request for persistfs stats: its latency, whether it failed, the bytes it moved. */
  private record(request: Request, start: number, errno: number, body: ReplyBody): void {
    let bytes = 0;
    if (errno === 0 && body !== undefined) {
      if (request.opcode === Opcode.READ) bytes = Array.isArray(body) ? body.reduce((sum, part) => sum + part.length, 0) : body.length;
      else if (request.opcode === Opcode.WRITE) bytes = (Array.isArray(body) ? body[0]! : body).readUInt32LE(0); // fuse_write_out.size
    }
    this.stats.record(this.statSlots.get(request.opcode) ?? this.stats.slot(opName(request.opcode)), start, errno !== 0, bytes);
  }

  /** What this mount did so far, for persistfs stats. */
  statsSnapshot(): StatsSnapshot {
    const native = this.session.counters();
    return {
      version: 1,
      pid: process.pid,
      transport: 'kernel',
      mountpoint: this.mountpoint,
      now: performance.now(),
      inflight: this.inflight,
      ops: this.stats.snapshot(native.native ? native : undefined),
      ...(native.native ? { dataPath: dataPathTotals(native) } : {}),
      nodes: this.ops.nodes.size,
      madeAndClosed: this.ops.madeAndClosed,
    };
  }

  private errnoOf(request: Request, error: unknown): number {
    if (error instanceof ProtocolError) {
      this.logger.error({ op: opName(request.opcode), err: error }, 'a malformed request, answered EINVAL');
      return EINVAL;
    }
    const errno = errnoOf(error);
    if (errno !== undefined) {
      const { code, path, message } = error as { code?: string; path?: string; message?: string };
      this.logger.debug({ op: opName(request.opcode), node: request.nodeid, code, path, message }, 'operation failed');
      return errno;
    }
    this.logger.error({ op: opName(request.opcode), err: error }, 'unexpected failure, answered EIO');
    return EIO;
  }

  private noReply(request: Request, work: () => void): void {
    try {
      work();
    } catch (error) {
      this.logger.error({ op: opName(request.opcode), err: error }, 'a malformed request (no reply expected)');
    }
  }

  private init(request: Request): void {
    try {
      const uring = this.uringReady(request);
      const { reply, agreed } = negotiate(request, { ...this.options, uring, maxBackground: this.maxBackground(uring) });
      this.ops.agreed(agreed.flags);
      this.logger.debug({ minor: agreed.minor, flags: agreed.flags.toString(16) }, 'FUSE INIT agreed');
      if (agreed.flags & InitFlag.PASSTHROUGH) this.logger.info("FUSE passthrough: the kernel reads and writes open files' backing files itself");
      else if (this.options.passthrough === true && !this.options.writebackCache)
        this.logger.warn(
          '--passthrough: this kernel does not offer FUSE passthrough (Linux 6.9+ built with CONFIG_FUSE_PASSTHROUGH): files are served through the mount, without the writeback cache',
        );
      this.reply(request, 0, reply);
      if (agreed.flags & InitFlag.OVER_IO_URING) this.session.registerUring();
    } catch (error) {
      this.logger.error({ err: error }, 'FUSE INIT failed');
      this.reply(request, error instanceof InitError ? EPROTO : EINVAL, undefined);
    }
  }

  /**
   * The background requests the kernel may send at once when the /dev/fuse readers serve the data (not the
   * io_uring queues) with the writeback cache, whose flushes are background WRITEs: all but two of the
   * readers, since each large WRITE keeps its reader until the handle's writes before it are done
   * (native/src/fuse/data-path.h, ThreadReads). With 64, a file's flush could hold every reader, and a
   * request of another process waited for one (BENCHMARKS.md, session 51). Without the writeback cache the
   * WRITEs are the writers' own requests, not background ones: 64 as before. negotiate() keeps it within 1-64.
   */
  private maxBackground(uring: boolean): number | undefined {
    if (uring || this.options.nativeDataPath === false || !this.options.writebackCache) return undefined;
    const { native, readers } = this.session.counters();
    return native && readers > 0 ? readers - 2 : undefined;
  }

  /**
   * Whether INIT may agree on FUSE over io_uring: offered by the kernel, wanted (--fuse-uring auto or on),
   * and the queues' threads and rings ready before the answer (the kernel holds every request until they
   * register). With --fuse-uring on, not getting it fails INIT.
   */
  private uringReady(request: Request): boolean {
    const mode = this.options.fuseUring ?? 'auto';
    if (mode === 'off') return false;
    if (!offersUring(request)) {
      if (mode === 'on') throw new InitError('--fuse-uring on, but the kernel does not offer FUSE over io_uring (enable_uring)');
      return false;
    }
    try {
      const queues = this.session.startUring(URING_DEPTH, MAX_WRITE);
      this.logger.info({ queues, depth: URING_DEPTH }, 'FUSE over io_uring: one queue per CPU');
      return true;
    } catch (error) {
      if (mode === 'on') throw new InitError(`--fuse-uring on, but its queues could not start: ${(error as Error).message}`);
      this.logger.warn({ err: error }, 'FUSE over io_uring could not start; requests come through /dev/fuse');
      return false;
    }
  }

  /** Resolves when the session has ended, or after `ms` (logged: the end never came). */
  private async endedWithin(ms: number): Promise<void> {
    if (!(await settlesWithin(this.ended, ms))) this.logger.warn({ waitedMs: ms }, 'the FUSE session did not report its end after close');
  }

  /** Resolves once no request or reported release is being handled here. */
  private async settled(): Promise<void> {
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
  }

  /**
   * Detaches the mount (open files keep it alive until they close), answers every request still in
   * flight, then stops the reader and closes /dev/fuse.
   */
  async unmount(): Promise<void> {
    if (!this.gone && asRoot()) {
      const result = this.session.unmount(this.mountpoint, true);
      if (result !== 0 && result !== -EINVAL) this.logger.warn({ error: -result }, 'umount2 failed');
    } else if (!this.gone) {
      await execFileAsync('fusermount3', ['-u', '-z', this.mountpoint]).catch((error: Error) => this.logger.warn({ err: error }, 'fusermount3 -u failed'));
    }
    await this.settled();
    this.session.close();
    // The data path's last reported releases reach JavaScript in the same call as the session's end, which
    // can come after close() returns: wait for it, so that no release arrives after the storage closed.
    if (this.started) await this.endedWithin(5000);
    await this.settled(); // the releases the data path reported before it stopped
    const { ops: _byOperation, ...native } = this.session.counters(); // the latencies are for persistfs stats
    this.logger.info({ javascript: this.counts, native }, 'FUSE requests served');
  }
}
