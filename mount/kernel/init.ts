// INIT: what we ask of the kernel, each flag a deliberate choice. The kernel offers its flags; we answer
// with those we want among them. Flags beyond bit 31 travel in flags2 and need INIT_EXT.
//
// Chosen:
// - ASYNC_READ: reads of one file may arrive in parallel (the storage serves them in parallel).
// - ATOMIC_O_TRUNC: OPEN carries O_TRUNC, one request instead of OPEN + SETATTR(size 0).
// - BIG_WRITES + MAX_PAGES: requests up to 1 MiB (max_pages 256), fewer round trips for big IO.
// - PARALLEL_DIROPS: lookups and readdirs of one directory are not serialised by the kernel.
// - DO_READDIRPLUS: a listing brings the attributes along (ls -l: one request, not one per entry).
// - CACHE_SYMLINKS: READLINK answers stay in the page cache.
// - HANDLE_KILLPRIV_V2: removing set-user-ID/set-group-ID on a write, truncate or O_TRUNC open by an
//   unprivileged user is ours (operations.ts killPrivileges); without it the kernel sends a SETATTR before
//   each such write. The mount writes as root, so the backing file system would keep the bits.
// - WRITEBACK_CACHE, by default (not with --no-writeback-cache or --passthrough): writes gather in the
//   kernel's page cache and come in large requests; the kernel keeps size and mtime meanwhile and sends
//   them with SETATTR. A small random write then costs no request at all until it is written back.
// - OVER_IO_URING, when offered and our queues are ready (--fuse-uring): requests come through one
//   io_uring queue per CPU (native/src/fuse/uring-queue.h) instead of read(2) on /dev/fuse.
// - PASSTHROUGH, when asked (--passthrough, root): reads and writes of regular files go from the kernel
//   straight to the storage's backing file; max_stack_depth 1 (the backing file system is not stacked).
//   The kernel takes it only without the writeback cache.
// - POSIX_ACL, when the backing keeps POSIX ACLs and we serve extended attributes (run-mount.ts): the
//   kernel then checks a file's ACL (system.posix_acl_access, asked by GETXATTR and cached) besides its
//   mode bits, as for a local file system; the backing file system keeps the mode and the ACL's mask in
//   step on chmod and setfacl, and applies a directory's default ACL to what is made in it. Without it
//   the ACLs were stored but never used for a decision. With it, SETXATTR_EXT: a SETXATTR carries
//   FUSE_SETXATTR_ACL_KILL_SGID when the caller setting an ACL may not keep the set-group-ID bit
//   (operations.ts setxattr), as the mount sets it as root and the backing would keep the bit. And
//   DONT_MASK: the caller's umask comes with each MKNOD, MKDIR and CREATE for us to apply, as Linux does,
//   except in a directory with a default ACL, where the ACL alone decides (operations.ts creationMode).
// Left out for now:
// - EXPORT_SUPPORT: no NFS export (no lookups of "." and "..").
// - POSIX_LOCKS / FLOCK_LOCKS: the kernel then keeps locks local to the mount, which is what we want.
import type { Request } from './request.js';
import { initIn } from './request.js';
import { FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, InitFlag, MAX_PAGES, MAX_WRITE, Size } from './protocol.js';

const WANTED =
  InitFlag.ASYNC_READ |
  InitFlag.ATOMIC_O_TRUNC |
  InitFlag.BIG_WRITES |
  InitFlag.MAX_PAGES |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.DO_READDIRPLUS |
  InitFlag.CACHE_SYMLINKS |
  InitFlag.HANDLE_KILLPRIV_V2 |
  InitFlag.INIT_EXT;

/**
 * Requests the kernel may have in the background (readahead, async reads, the writeback cache's WRITEs) at
 * once: 64, or as many as the mount says (`maxBackground`: all but two of its /dev/fuse readers while they
 * write large WRITEs themselves, so that two are never all taken by them; kernel-mount.ts maxBackground).
 */
const MAX_BACKGROUND = 64;

export interface Negotiated {
  major: number;
  minor: number;
  flags: bigint;
  maxWrite: number;
}

export class InitError extends Error {}

/** Whether the kernel offers FUSE over io_uring in this INIT. */
export function offersUring(request: Request): boolean {
  const init = initIn(request);
  return (init.flags & InitFlag.INIT_EXT) !== 0n && (init.flags & InitFlag.OVER_IO_URING) !== 0n;
}

/** The answer to INIT, and what was agreed. */
export function negotiate(
  request: Request,
  options: { writebackCache?: boolean; uring?: boolean; passthrough?: boolean; posixAcl?: boolean; maxBackground?: number } = {},
): { reply: Buffer; agreed: Negotiated } {
  const init = initIn(request);
  if (init.major !== FUSE_KERNEL_VERSION) throw new InitError(`the kernel speaks FUSE ${init.major}.${init.minor}; persistfs speaks 7.x`);
  if (init.minor < 28) throw new InitError(`the kernel speaks FUSE 7.${init.minor}; persistfs needs 7.28 or later`);
  const offered = init.flags & InitFlag.INIT_EXT ? init.flags : init.flags & 0xffff_ffffn;
  const asked =
    (options.writebackCache ? InitFlag.WRITEBACK_CACHE : 0n) |
    (options.uring ? InitFlag.OVER_IO_URING : 0n) |
    (options.passthrough && !options.writebackCache ? InitFlag.PASSTHROUGH : 0n) |
    // POSIX_ACL only with SETXATTR_EXT (7.33): without it an ACL set by a caller outside the file's group
    // could not drop its set-group-ID bit, and the backing (set by root) would keep it
    (options.posixAcl && offered & InitFlag.SETXATTR_EXT ? InitFlag.POSIX_ACL | InitFlag.SETXATTR_EXT | InitFlag.DONT_MASK : 0n);
  const flags = offered & (WANTED | asked);
  const minor = Math.min(init.minor, FUSE_KERNEL_MINOR_VERSION);

  // fuse_init_out: major u32, minor u32, max_readahead u32, flags u32, max_background u16,
  // congestion_threshold u16, max_write u32, time_gran u32, max_pages u16, map_alignment u16, flags2 u32,
  // max_stack_depth u32, request_timeout u16, unused
  const reply = Buffer.alloc(Size.INIT_OUT);
  reply.writeUInt32LE(FUSE_KERNEL_VERSION, 0);
  reply.writeUInt32LE(minor, 4);
  reply.writeUInt32LE(init.maxReadahead, 8);
  reply.writeUInt32LE(Number(flags & 0xffff_ffffn), 12);
  const background = Math.min(Math.max(options.maxBackground ?? MAX_BACKGROUND, 1), MAX_BACKGROUND);
  reply.writeUInt16LE(background, 16);
  reply.writeUInt16LE(Math.max(Math.floor((background * 3) / 4), 1), 18);
  reply.writeUInt32LE(MAX_WRITE, 20);
  reply.writeUInt32LE(1, 24); // time_gran: nanosecond timestamps
  reply.writeUInt16LE(MAX_PAGES, 28);
  reply.writeUInt32LE(Number(flags >> 32n), 32);
  if (flags & InitFlag.PASSTHROUGH) reply.writeUInt32LE(1, 36); // max_stack_depth
  return { reply, agreed: { major: FUSE_KERNEL_VERSION, minor, flags, maxWrite: MAX_WRITE } };
}
