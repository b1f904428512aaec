// The FUSE kernel protocol as persistfs speaks it: opcodes, flags and the sizes of the fixed structures,
// written from the layout documented in the kernel (include/uapi/linux/fuse.h, Documentation/filesystems/
// fuse.rst). Every structure is little-endian with natural alignment, padded to 8 bytes. The byte offsets
// of each field are in request.ts (decoding) and reply.ts (encoding), next to their use.

export const FUSE_KERNEL_VERSION = 7;
/** The minor version we answer with: the kernel then speaks min(its own, ours). */
export const FUSE_KERNEL_MINOR_VERSION = 45;
export const FUSE_ROOT_ID = 1;

export const Opcode = {
  LOOKUP: 1,
  FORGET: 2, // no reply
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36, // no reply
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42, // no reply
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
  STATX: 52,
  COPY_FILE_RANGE_64: 53,
} as const;

export const OPCODE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(Opcode).map(([name, code]) => [code, name]));

/** Notifications the server sends (a write with unique 0 and the code in the error field). */
export const Notify = {
  /** fuse_notify_inval_inode_out: ino u64, off i64, len i64; off < 0 drops the cached attributes only */
  INVAL_INODE: 2,
} as const;

/** INIT flags (fuse_init_in/out.flags; bits 32..63 travel in flags2 once INIT_EXT is agreed). */
export const InitFlag = {
  ASYNC_READ: 1n << 0n,
  POSIX_LOCKS: 1n << 1n,
  ATOMIC_O_TRUNC: 1n << 3n,
  EXPORT_SUPPORT: 1n << 4n,
  BIG_WRITES: 1n << 5n,
  DONT_MASK: 1n << 6n,
  FLOCK_LOCKS: 1n << 10n,
  AUTO_INVAL_DATA: 1n << 12n,
  DO_READDIRPLUS: 1n << 13n,
  READDIRPLUS_AUTO: 1n << 14n,
  ASYNC_DIO: 1n << 15n,
  WRITEBACK_CACHE: 1n << 16n,
  PARALLEL_DIROPS: 1n << 18n,
  HANDLE_KILLPRIV: 1n << 19n,
  POSIX_ACL: 1n << 20n,
  ABORT_ERROR: 1n << 21n,
  MAX_PAGES: 1n << 22n,
  CACHE_SYMLINKS: 1n << 23n,
  HANDLE_KILLPRIV_V2: 1n << 28n,
  SETXATTR_EXT: 1n << 29n,
  INIT_EXT: 1n << 30n,
  PASSTHROUGH: 1n << 37n,
  OVER_IO_URING: 1n << 41n,
} as const;

/** fuse_setattr_in.valid */
export const FATTR = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

/** fuse_open_out.open_flags */
export const FOPEN = {
  DIRECT_IO: 1 << 0,
  KEEP_CACHE: 1 << 1,
  NONSEEKABLE: 1 << 2,
  CACHE_DIR: 1 << 3,
  /** reads and writes go to the backing file named by fuse_open_out.backing_id */
  PASSTHROUGH: 1 << 7,
} as const;

/**
 * The most COPY_FILE_RANGE (before 7.45) asks for: its reply, fuse_write_out, counts in a u32, and the
 * kernel limits the length to this when it falls back to it from COPY_FILE_RANGE_64.
 */
export const COPY_FILE_RANGE_MAX_32 = 0xfffff000;

export const GETATTR_FH = 1 << 0;
/** fuse_write_in.write_flags: the writer lacks CAP_FSETID, so suid/sgid go (HANDLE_KILLPRIV_V2) */
export const WRITE_KILL_SUIDGID = 1 << 2;
/** fuse_open_in.open_flags: an O_TRUNC open by a writer without CAP_FSETID (HANDLE_KILLPRIV_V2) */
export const OPEN_KILL_SUIDGID = 1 << 0;
/** fuse_setxattr_in.setxattr_flags (SETXATTR_EXT): the caller setting an access ACL may not keep the set-group-ID bit */
export const SETXATTR_ACL_KILL_SGID = 1 << 0;
export const FSYNC_FDATASYNC = 1 << 0;
/** renameat2 flags */
export const RENAME_NOREPLACE = 1 << 0;
export const RENAME_EXCHANGE = 1 << 1;
/** setxattr flags */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/** Sizes of the fixed structures, in bytes. */
export const Size = {
  IN_HEADER: 40,
  OUT_HEADER: 16,
  ATTR: 88,
  ENTRY_OUT: 40 + 88,
  ATTR_OUT: 16 + 88,
  /** fuse_statx_out: 32 bytes of header, then fuse_statx (256) */
  STATX_OUT: 32 + 256,
  OPEN_OUT: 16,
  WRITE_OUT: 8,
  STATFS_OUT: 80,
  INIT_OUT: 64,
  GETXATTR_OUT: 8,
  LSEEK_IN: 24,
  LSEEK_OUT: 8,
  COPY_FILE_RANGE_IN: 56,
  /** COPY_FILE_RANGE_64's reply: the same single u64 as LSEEK_OUT */
  COPY_FILE_RANGE_OUT: 8,
  DIRENT: 24, // before the name
  DIRENTPLUS: 128 + 24,
} as const;

/** The largest request we take: max_write bytes of data plus the WRITE header (see the native reader). */
export const MAX_WRITE = 1024 * 1024;
export const PAGE_SIZE = 4096;
export const MAX_PAGES = MAX_WRITE / PAGE_SIZE;
export const READ_BUFFER_SIZE = MAX_WRITE + 4096;
