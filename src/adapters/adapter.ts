// The storage adapter interface: where bytes live. The storage API (src/storage) checks names, modes,
// arguments and handle state, then calls one of these. Adapters take single, already-checked names, as
// name strings (ground/name-bytes.ts: bytes that are not UTF-8 escaped), and list names the same way.
import type { SetTime, Stat } from '../io/engine.js';
import type { FsStats } from '../io/native.js';
import { native } from '../io/native.js';

// What the storage needs from the floors below it, handed up through the adapters (the storage does not
// reach io itself): file-system statistics, the fallocate modes, and memory-aligned buffers for O_DIRECT.
export type { FsStats };
export { FALLOC } from '../io/engine.js';
/** A buffer of `size` bytes whose memory starts on a multiple of `alignment` (a power of two). */
export const alignedMemory = (size: number, alignment: number): Buffer => native.alignedBuffer(size, alignment);
/** The largest power of two (up to 4096) that the address of `buffer`'s memory is a multiple of. */
export const addressAlignment = (buffer: Uint8Array): number => native.addressAlignment(buffer);

/** What a special file made by Dir.makeNode is: a FIFO, a unix socket's name, or a device node. */
export type NodeKind = 'fifo' | 'socket' | 'char-device' | 'block-device';

export type EntryKind = 'file' | 'directory' | 'symlink' | NodeKind | 'other';

/** The file type bits of a POSIX mode (S_IFMT) for each kind ('other': none known). */
export const TYPE_BITS: Readonly<Record<EntryKind, number>> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  fifo: 0o010000,
  socket: 0o140000,
  'char-device': 0o020000,
  'block-device': 0o060000,
  other: 0,
};

export const NODE_KINDS: readonly NodeKind[] = ['fifo', 'socket', 'char-device', 'block-device'];

export interface DirEntry {
  name: string;
  kind: EntryKind;
}

export interface EntryStat extends Stat {
  kind: EntryKind;
}

export interface OpenFlags {
  read: boolean;
  write: boolean;
  /** O_DIRECT: buffers, offsets and lengths must be aligned (see FileNode.alignment). */
  direct: boolean;
  /** O_DSYNC: every write is durable when it returns. */
  dsync: boolean;
  /**
   * O_TRUNC (with write): the caller empties the file right after this open (Dir.openFile does), so an
   * adapter that copies the content in at open may leave it out. Not a truncation by itself.
   */
  truncate?: boolean;
}

/** Buffered, without O_DSYNC: the flags an adapter opens its own files with (records, copies, caches). */
export const READ_ONLY: OpenFlags = Object.freeze({ read: true, write: false, direct: false, dsync: false });
export const READ_WRITE: OpenFlags = Object.freeze({ read: true, write: true, direct: false, dsync: false });

/** The extended attributes that hold a file's POSIX access ACL, and a directory's default ACL (for what is made in it). */
export const POSIX_ACL_ACCESS = 'system.posix_acl_access';
export const POSIX_ACL_DEFAULT = 'system.posix_acl_default';

/** Extended attributes of a file or directory (flags: 1 create only, 2 replace only). */
export interface XattrNode {
  getXattr(name: string): Promise<Buffer>;
  setXattr(name: string, value: Uint8Array, flags: number): Promise<void>;
  listXattrs(): Promise<string[]>;
  removeXattr(name: string): Promise<void>;
}

/** What an open file and an open directory share: their mode, owner, times and extended attributes. */
export interface AttributeNode extends XattrNode {
  chmod(mode: number): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  utimes(atime: SetTime, mtime: SetTime): Promise<void>;
}

/** A node whose extended attributes are those of `xattrs` (a descriptor's, an in-memory node's). */
export abstract class XattrsOf implements XattrNode {
  constructor(private readonly xattrs: XattrNode) {}

  getXattr(name: string): Promise<Buffer> {
    return this.xattrs.getXattr(name);
  }

  setXattr(name: string, value: Uint8Array, flags: number): Promise<void> {
    return this.xattrs.setXattr(name, value, flags);
  }

  listXattrs(): Promise<string[]> {
    return this.xattrs.listXattrs();
  }

  removeXattr(name: string): Promise<void> {
    return this.xattrs.removeXattr(name);
  }
}

/** What File.seek looks for: the next byte of data, or the next hole (the end of the file is one). */
export type SeekTarget = 'data' | 'hole';

/**
 * What native code needs to read and write a file itself while it is open (the mount's data path): the
 * descriptor, and the cell holding the size this process knows, which such writes raise past the end.
 */
export interface NativeAccess {
  fd: number;
  sizeCell: Float64Array;
  /**
   * The file's sync() does more than an fdatasync of `fd` (the tiered adapter's local copy also records
   * its upload durably): native code leaves fsync to sync().
   */
  syncByStorage?: boolean;
  /** The file's flush() does something (the tiered adapter's write-through upload): native code leaves FLUSH to it. */
  flushByStorage?: boolean;
  /**
   * `fd`'s own mode, owner and inode number are not the file's (the tiered adapter's local copies): native
   * code leaves the file's attributes to stat(), and writes that may remove its privilege bits to write(),
   * unless modeCell[0] (the file's mode, type bits included, kept current) says it has none to remove.
   */
  attributesByStorage?: boolean;
  modeCell?: Uint32Array;
  /**
   * Every write must reach the storage's count: native code raises changeCell[0] by one as each write it
   * serves ends, and the file is not handed to the kernel for FUSE passthrough (whose writes nobody counts).
   */
  changeCell?: Uint32Array;
  /**
   * A file still being filled (a remote object's blocks as they arrive): native code serves only READs
   * ending at or before readyCell[0], raises servedCell[0] to the end of each it serves, and leaves the
   * others to read(); never passed through to the kernel.
   */
  filling?: { readyCell: Float64Array; servedCell: Float64Array };
}

export interface FileNode extends AttributeNode {
  /** O_DIRECT alignment for memory, offsets and lengths; 0 when the file is not open for direct IO. */
  readonly alignment: number;
  /** The attributes the file had when this node opened (or made) it, read as part of the open. */
  readonly opened: EntryStat;
  /** Current size as this process knows it (all handles on one file share it). */
  size(): number;
  /** Reads into `buffer` at `position` until it is full or the file ends; returns the bytes read. */
  read(buffer: Uint8Array, position: number): Promise<number>;
  readv(buffers: readonly Uint8Array[], position: number): Promise<number>;
  /** Writes all of `buffers` at `position` (the file grows as needed). */
  write(buffers: readonly Uint8Array[], position: number): Promise<void>;
  /** Writes all of `buffers` at the end of the file, as one record; returns the offset it starts at. */
  append(buffers: readonly Uint8Array[]): Promise<number>;
  truncate(size: number): Promise<void>;
  sync(datasync: boolean): Promise<void>;
  /** a descriptor of the file was closed (close(2), FUSE FLUSH): what must be done before that returns (none: nothing) */
  flush?(): Promise<void>;
  stat(): Promise<EntryStat>;
  /** fallocate with `mode` (0 or FALLOC bits, checked by File); the size grows unless KEEP_SIZE */
  allocate(offset: number, length: number, mode: number): Promise<void>;
  /** lseek SEEK_DATA or SEEK_HOLE from `offset`, which is below the size */
  seek(offset: number, target: SeekTarget): Promise<number>;
  /**
   * One copy of up to `length` bytes of `source` from `sourceOffset` into this file at `offset` (the file
   * grows as needed); resolves with the bytes copied: fewer at the source's end, perhaps fewer anyway.
   */
  copyFrom(source: FileNode, sourceOffset: number, offset: number, length: number): Promise<number>;
  /**
   * The file from `offset` to its end as it arrives, in pieces of any size (one streamed request where the
   * bytes are remote); File.stream cuts them into its chunks. Without it, File.stream reads chunk by chunk.
   */
  stream?(offset: number): AsyncIterable<Buffer>;
  /** whether `other` is a handle on this same file (through this name or another) */
  sameFile(other: FileNode): boolean;
  /**
   * Gives this open file the name `name` in `to` (EEXIST if taken), as linkat(2) of the descriptor: a file
   * made by DirNode.createUnnamed gets its first name so, once (ENOENT after that once it has none again).
   * Absent where files cannot be named through a handle (the storage then answers EOPNOTSUPP).
   */
  linkInto?(to: DirNode, name: string): Promise<void>;
  /** the descriptor and size cell, where the file has a local descriptor with all its bytes (not in memory) */
  nativeAccess?(): NativeAccess | undefined;
  close(): Promise<void>;
}

/** How a rename treats an existing target: replace it (rename(2)), refuse (EEXIST), or swap the two. */
export type RenameMode = 'replace' | 'noreplace' | 'exchange';

/**
 * A file native code made in a directory as that directory's createFile makes one (the mount's data path:
 * native/src/fuse/data-path.cc ServeCreate), open as `fd`, with `stat` its statx. Whoever takes the
 * descriptor sets `taken`: until then, closing it (and removing the file) is its maker's job.
 */
export interface MadeFile {
  fd: number;
  stat: Stat;
  taken?: boolean;
  /** where native code keeps the file's size already (it writes the file): the storage's size cell for it */
  sizeCell?: Float64Array;
}

export interface DirNode extends AttributeNode {
  /** The extended attributes of the entry `name` itself (a symlink is not followed). */
  entryXattrs(name: string): XattrNode;
  mkdir(name: string, mode: number): Promise<void>;
  /** Makes the special file `name` (EEXIST if present) with permission `mode`; `device` for device nodes. */
  mknod(name: string, kind: NodeKind, mode: number, device: number): Promise<void>;
  openDir(name: string): Promise<DirNode>;
  /** Creates `name` (EEXIST if present) and opens it. */
  createFile(name: string, mode: number, flags: OpenFlags): Promise<FileNode>;
  /**
   * Creates a file with no name in this directory's file system and opens it (O_TMPFILE): nothing lists it,
   * and it is gone at its last close unless FileNode.linkInto names it. Absent where the storage has no
   * such files (the storage then answers EOPNOTSUPP); `flags.write` is always set.
   */
  createUnnamed?(mode: number, flags: OpenFlags): Promise<FileNode>;
  /**
   * createFile's open file for `made` (takes it), made here as `name` with `mode` by native code instead.
   * Where the directory has a descriptor(): native code makes files only there.
   */
  adoptFile?(name: string, mode: number, flags: OpenFlags, made: MadeFile): Promise<FileNode>;
  openFile(name: string, flags: OpenFlags): Promise<FileNode>;
  /** Atomically replaces or creates `name` with `buffers`, durable when it resolves; nothing is left on error. */
  flushWrite(name: string, buffers: readonly Uint8Array[], mode: number, flags: OpenFlags): Promise<FileNode>;
  list(): Promise<DirEntry[]>;
  /** Stat of `name`, not following a final symlink; of this directory when `name` is ''. */
  stat(name: string): Promise<EntryStat>;
  /** 'exchange' swaps two existing entries atomically (ENOENT when the target is missing) */
  rename(from: string, to: DirNode, toName: string, mode: RenameMode): Promise<void>;
  unlink(name: string): Promise<void>;
  rmdir(name: string): Promise<void>;
  symlink(target: string, name: string): Promise<void>;
  readlink(name: string): Promise<string>;
  link(name: string, to: DirNode, toName: string): Promise<void>;
  /** chmod of the entry `name` itself, without opening it (a symlink: EOPNOTSUPP) */
  chmodEntry(name: string, mode: number): Promise<void>;
  /** chown of the entry `name` itself, a symlink included (not followed) */
  chownEntry(name: string, uid: number, gid: number): Promise<void>;
  /** times of the entry `name` itself, a symlink included (not followed) */
  utimesEntry(name: string, atime: SetTime, mtime: SetTime): Promise<void>;
  /** fsync of the directory itself: makes creations, renames and deletions in it durable. */
  sync(): Promise<void>;
  statfs(): Promise<FsStats>;
  /** the descriptor, where the directory is a local one whose own stat is its attributes (for native code) */
  descriptor?(): number;
  close(): Promise<void>;
}

export interface Adapter {
  readonly kind: string;
  /** The IO mode the adapter's bytes move through ('memory' for the in-memory adapter). */
  readonly ioMode: string;
  openRoot(): Promise<DirNode>;
  close(): Promise<void>;
}

const KIND_BY_TYPE_BITS = new Map<number, EntryKind>(Object.entries(TYPE_BITS).map(([kind, bits]) => [bits, kind as EntryKind]));

export function kindOfMode(mode: number): EntryKind {
  return KIND_BY_TYPE_BITS.get(mode & 0o170000) ?? 'other';
}

/** The buffers left after the first `done` bytes of `buffers` (for resuming a short read or write). */
export function skipBytes(buffers: readonly Uint8Array[], done: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  for (const buffer of buffers) {
    if (done >= buffer.length) {
      done -= buffer.length;
      continue;
    }
    rest.push(done > 0 ? buffer.subarray(done) : buffer);
    done = 0;
  }
  return rest;
}

/**
 * A readv done as one read into a single buffer (for adapters whose reads are requests, not syscalls):
 * `read` fills that buffer from `position`, then its bytes are spread over `buffers`. `size` is the file's.
 */
export async function readvInOneRead(
  read: (buffer: Uint8Array, position: number) => Promise<number>,
  buffers: readonly Uint8Array[],
  position: number,
  size: number,
): Promise<number> {
  const whole = Buffer.allocUnsafe(Math.min(totalBytes(buffers), Math.max(0, size - position)));
  const got = await read(whole, position);
  let done = 0;
  for (const buffer of buffers) {
    if (done >= got) break;
    const n = Math.min(buffer.length, got - done);
    buffer.set(whole.subarray(done, done + n));
    done += n;
  }
  return got;
}

/** One copy step between files of any adapters: a read of up to `length` bytes (8 MiB at most), then a write. */
export async function copyByReadWrite(source: FileNode, sourceOffset: number, target: FileNode, offset: number, length: number): Promise<number> {
  const chunk = Buffer.allocUnsafe(Math.min(length, 8 * 1024 * 1024));
  const got = await source.read(chunk, sourceOffset);
  if (got > 0) await target.write([chunk.subarray(0, got)], offset);
  return got;
}

export const totalBytes = (buffers: readonly Uint8Array[]): number => {
  let total = 0;
  for (const buffer of buffers) total += buffer.length;
  return total;
};
