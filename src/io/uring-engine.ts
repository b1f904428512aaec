// The io_uring IO mode. Requests are prepared into the ring's submission queue as they arrive and submitted
// together: when `submitThreshold` are waiting, or at the end of the current tick (process.nextTick runs
// after the microtasks of the tick drain), whichever comes first: one io_uring_enter for the batch.
// A read or write of a descriptor opened O_DIRECT is submitted at once, with what waits before it, when the
// ring has nothing in the kernel (the device would otherwise idle while the rest of the batch is prepared),
// and with the ring busy either at once too or with the batch: src/io/direct-pacing.ts chooses by measuring
// both (which one is faster changed from one VM to the next). Page-cache reads stay batched: submitted one
// at a time they fell from 490K to 320K a second (BENCHMARKS.md, session 35).
//
// The ring has `queueDepth` slots. A request takes a free slot (its user_data); with none free it waits in
// `parked`, in order, until a completion frees one. Completions arrive in batches from the native poll
// handle (on the ring's descriptor); each frees its slot first, then settles its promise, so user code
// runs after the batch, never inside it, and whatever it queues is submitted before the loop sleeps.
//
// The request object holds the buffers (through its prep closure) until its completion is reaped, so the
// kernel never writes into memory that JavaScript has let go.
//
// Buffered writes (descriptors not opened O_DIRECT) go to libuv's pool as node:fs's do, not on the ring:
// ext4 cannot take one without blocking, so io_uring hands each to an io-wq worker, and on a quiet machine
// that round trip measured slower than the pool's, with more CPU for 4 KiB writes at 32 in flight
// (BENCHMARKS.md, session 34; session 14 had measured the pool costlier at a load of 13-15). O_DIRECT
// writes, which the kernel does without blocking, stay on the ring.
//
// A new file (createFile) is made in one pool call, not on the ring: its open, the default-ACL probe and
// chmod that give it its exact permission where the umask took bits, and its statx. On the ring the open
// alone goes to an io-wq worker (an O_CREAT open always does); the probe and the chmod were two more round
// trips through the pool, the statx a system call on the JavaScript thread (BENCHMARKS.md, session 45).
import { errnoError, storageError, toStorageError, type StorageError } from '../ground/errors.js';
import { O, type IoEngine, type Stat } from './engine.js';
import { cString, native, type NativeRing, type RingCounters } from './native.js';
import { DirectPacing, type DirectPacingMode } from './direct-pacing.js';
import { decodeStatx, STATX_MASK, STATX_SIZE, statxFlags } from './statx.js';
import { closedWhileOpening, PoolCalls } from './pool-calls.js';
import * as pool from './thread-pool.js';

const IORING_OP_FTRUNCATE = 55;

export interface UringOptions {
  queueDepth: number;
  submitThreshold: number;
  /** when a read or write of an O_DIRECT descriptor is submitted while the ring is busy (default adaptive) */
  directPacing?: DirectPacingMode;
}

interface Request {
  prep: (slot: number) => void;
  /** a read or write of an O_DIRECT descriptor: submitted at once when the ring is idle, or when the pacing says so */
  now: boolean;
  /** for those: when it was asked (performance.now()) and whether it went the eager way */
  asked: number;
  eager: boolean;
  resolve: (result: number) => void;
  reject: (error: StorageError) => void;
  syscall: string;
  path: string | undefined;
  /** the result is a descriptor this request opened (closed, and the request failed, if the engine is closing) */
  opens?: boolean;
}

export class UringEngine extends PoolCalls implements IoEngine {
  readonly mode = 'io_uring' as const;
  private readonly ring: NativeRing;
  private readonly results: Float64Array;
  private readonly inSlot: Array<Request | undefined>;
  private readonly freeSlots: number[] = [];
  private parked: Request[] = [];
  private parkedHead = 0;
  private prepared = 0;
  private flushScheduled = false;
  private readonly threshold: number;
  private readonly kernelFtruncate: boolean;
  private readonly flushNow = () => this.flush();
  private readonly pacing: DirectPacing;
  /** descriptors this engine opened with O_DIRECT, until it closes them: their writes go on the ring */
  private readonly directFds = new Set<number>();

  constructor(options: UringOptions) {
    super();
    const depth = options.queueDepth;
    this.results = new Float64Array(2 * 2 * depth);
    try {
      this.ring = new native.Ring(depth, (count) => this.complete(count), this.results);
    } catch (error) {
      throw toStorageError(error, 'io_uring_setup');
    }
    this.inSlot = new Array<Request | undefined>(depth).fill(undefined);
    for (let slot = depth - 1; slot >= 0; slot--) this.freeSlots.push(slot);
    this.threshold = Math.max(1, Math.min(options.submitThreshold, depth));
    this.kernelFtruncate = this.ring.supports(IORING_OP_FTRUNCATE);
    this.pacing = new DirectPacing(options.directPacing ?? 'adaptive');
  }

  /** Requests prepared, in the kernel, submitted and completed: the ring made observable. */
  counters(): RingCounters & { parked: number; poolCalls: number; directEager: boolean } {
    return { ...this.ring.counters(), parked: this.parked.length - this.parkedHead, poolCalls: this.poolCalls, directEager: this.pacing.eager };
  }

  private run(syscall: string, path: string | undefined, prep: (slot: number) => void, now = false, opens = false): Promise<number> {
    if (this.closed) return Promise.reject(storageError('EBADF', 'the IO engine is closed', { syscall, path }));
    return new Promise<number>((resolve, reject) => {
      const request: Request = { prep, now, asked: now ? performance.now() : 0, eager: false, resolve, reject, syscall, path, opens };
      const slot = this.freeSlots.pop();
      if (slot === undefined) this.parked.push(request);
      else this.start(slot, request);
    });
  }

  private start(slot: number, request: Request): void {
    try {
      request.prep(slot);
    } catch (error) {
      this.freeSlots.push(slot);
      request.reject(toStorageError(error, request.syscall, request.path));
      return;
    }
    this.inSlot[slot] = request;
    let atOnce = false;
    if (request.now) {
      request.eager = this.pacing.eager;
      // in the kernel: the slots taken (this one too) but those prepared and not yet submitted
      atOnce = request.eager || this.inSlot.length - this.freeSlots.length - 1 - this.prepared === 0;
    }
    if (++this.prepared >= this.threshold || atOnce) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushNow);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.prepared === 0) return;
    this.prepared -= this.ring.submit();
    // a submit the kernel refused (EAGAIN/EBUSY) is retried by the next completion, or here if none is due
    if (this.prepared > 0 && this.ring.counters().inKernel === 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
  }

  private complete(count: number): void {
    const results = this.results;
    let now = 0;
    for (let i = 0; i < count; i++) {
      const slot = results[2 * i]!;
      const result = results[2 * i + 1]!;
      const request = this.inSlot[slot];
      if (request === undefined) continue; // never prepared by us: nothing to settle
      this.inSlot[slot] = undefined;
      this.freeSlots.push(slot);
      if (request.now) {
        if (now === 0) now = performance.now();
        this.pacing.completed(request.eager, now - request.asked);
      }
      if (result < 0) request.reject(errnoError(-result, request.syscall, request.path));
      else if (request.opens === true && this.closed) {
        this.closeLate(result);
        request.reject(closedWhileOpening(request.syscall, request.path ?? ''));
      } else request.resolve(result);
    }
    this.unpark();
    if (this.prepared > 0) this.flush();
    this.checkDrained();
  }

  private unpark(): void {
    while (this.parkedHead < this.parked.length && this.freeSlots.length > 0) {
      const request = this.parked[this.parkedHead]!;
      this.parked[this.parkedHead++] = undefined as unknown as Request;
      this.start(this.freeSlots.pop()!, request);
    }
    if (this.parkedHead === this.parked.length) {
      this.parked = [];
      this.parkedHead = 0;
    }
  }

  protected idle(): boolean {
    return this.freeSlots.length === this.inSlot.length && this.parkedHead === this.parked.length && this.poolCalls === 0;
  }

  async openat(dirfd: number, path: string, flags: number, mode: number): Promise<number> {
    const bytes = cString(path);
    const fd = await this.run('openat2', path, (slot) => this.ring.openat2(slot, dirfd, bytes, flags, mode, pool.BENEATH), false, true);
    this.opened(fd, flags);
    return fd;
  }
  protected override opened(fd: number, flags: number): void {
    if ((flags & O.DIRECT) !== 0) this.directFds.add(fd);
  }
  async closeFd(fd: number): Promise<void> {
    this.directFds.delete(fd);
    await this.run('close', undefined, (slot) => this.ring.close(slot, fd));
  }
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.run('read', undefined, (slot) => this.ring.read(slot, fd, buffer, offset, length, position), this.directFds.has(fd));
  }
  readv(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number> {
    return this.run('readv', undefined, (slot) => this.ring.readv(slot, fd, buffers, position), this.directFds.has(fd));
  }
  // Writes of descriptors opened O_DIRECT go on the ring; buffered ones go to the pool (see the top).
  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (!this.directFds.has(fd)) return this.poolWrite(fd, buffer, offset, length, position);
    return this.run('write', undefined, (slot) => this.ring.write(slot, fd, buffer, offset, length, position), true);
  }
  writev(fd: number, buffers: readonly Uint8Array[], position: number): Promise<number> {
    if (!this.directFds.has(fd)) return this.poolWritev(fd, buffers, position);
    return this.run('writev', undefined, (slot) => this.ring.writev(slot, fd, buffers, position), true);
  }
  async fsync(fd: number, datasync: boolean): Promise<void> {
    await this.run(datasync ? 'fdatasync' : 'fsync', undefined, (slot) => this.ring.fsync(slot, fd, datasync));
  }
  async statx(dirfd: number, name: string): Promise<Stat> {
    const here = this.statHere(dirfd, name);
    if (here) return here;
    const bytes = cString(name);
    const out = new Uint8Array(STATX_SIZE);
    await this.run('statx', name, (slot) => this.ring.statx(slot, dirfd, bytes, statxFlags(name), STATX_MASK, out));
    return decodeStatx(out);
  }
  async renameat(fromDir: number, from: string, toDir: number, to: string, flags: number): Promise<void> {
    const a = cString(from);
    const b = cString(to);
    await this.run('renameat2', to, (slot) => this.ring.renameat2(slot, fromDir, a, toDir, b, flags));
  }
  async unlinkat(dirfd: number, name: string, flags: number): Promise<void> {
    const bytes = cString(name);
    await this.run(flags ? 'rmdir' : 'unlink', name, (slot) => this.ring.unlinkat(slot, dirfd, bytes, flags));
  }
  async mkdirat(dirfd: number, name: string, mode: number): Promise<void> {
    const bytes = cString(name);
    await this.run('mkdirat', name, (slot) => this.ring.mkdirat(slot, dirfd, bytes, mode));
  }
  async symlinkat(target: string, dirfd: number, name: string): Promise<void> {
    const a = cString(target);
    const b = cString(name);
    await this.run('symlinkat', name, (slot) => this.ring.symlinkat(slot, a, dirfd, b));
  }
  async linkat(fromDir: number, from: string, toDir: number, to: string, flags = 0): Promise<void> {
    const a = cString(from);
    const b = cString(to);
    await this.run('linkat', to, (slot) => this.ring.linkat(slot, fromDir, a, toDir, b, flags));
  }
  async fallocate(fd: number, mode: number, offset: number, length: number): Promise<void> {
    await this.run('fallocate', undefined, (slot) => this.ring.fallocate(slot, fd, mode, offset, length));
  }
  async ftruncate(fd: number, length: number): Promise<void> {
    if (!this.kernelFtruncate) return this.pooled('ftruncate', () => pool.ftruncate(fd, length));
    await this.run('ftruncate', undefined, (slot) => this.ring.ftruncate(slot, fd, length));
  }

  close(): Promise<void> {
    return this.closeOnce(() => this.ring.destroy());
  }
}
