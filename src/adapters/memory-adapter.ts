// The in-memory adapter: a tree of nodes in this process, for tests and for callers that want the storage
// API without a disk. It keeps POSIX semantics (handles stay valid across renames, unlinked files stay
// readable through open handles, ENOTEMPTY, EEXIST, ...) and can be given a capacity to exercise ENOSPC.
import { constants as bufferConstants } from 'node:buffer';

import { nameByteLength } from '../ground/name-bytes.js';
import { FALLOC, type SetTime } from '../io/engine.js';
import type { FsStats } from '../io/native.js';
import { storageError } from '../ground/errors.js';
import {
  totalBytes,
  TYPE_BITS,
  type Adapter,
  type DirEntry,
  type DirNode,
  type EntryKind,
  type EntryStat,
  type FileNode,
  type NodeKind,
  type OpenFlags,
  type RenameMode,
  type SeekTarget,
  type XattrNode,
  XattrsOf,
} from './adapter.js';

/** The largest file the adapter holds: one Buffer's worth, at most 4 GiB (larger ones fail to allocate). */
const MAX_FILE_SIZE = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32);

interface Node {
  kind: EntryKind;
  mode: number;
  uid: number;
  gid: number;
  ino: number;
  nlink: number;
  /** open handles: an unlinked file keeps its data while one is open */
  opens: number;
  /** a file made without a name (createUnnamed) that was not named yet: linkInto may give it one */
  linkable?: boolean;
  data: Buffer;
  size: number;
  /** the device of a device node (dev_t) */
  rdev: number;
  target: string;
  children: Map<string, Node>;
  xattrs: Map<string, Buffer>;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
}

const now = (): bigint => BigInt(Date.now()) * 1_000_000n;

export interface MemoryOptions {
  /** total bytes of file data the adapter holds before answering ENOSPC */
  capacityBytes?: number;
}

export class MemoryAdapter implements Adapter {
  readonly kind = 'memory';
  readonly ioMode = 'memory';
  private nextIno = 1;
  used = 0;
  readonly capacity: number;
  private readonly rootNode: Node;

  constructor(options: MemoryOptions = {}) {
    this.capacity = options.capacityBytes ?? Number.MAX_SAFE_INTEGER;
    this.rootNode = this.node('directory', 0o755);
  }

  node(kind: EntryKind, mode: number): Node {
    const t = now();
    return {
      kind,
      mode: TYPE_BITS[kind] | (mode & 0o7777),
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      ino: this.nextIno++,
      nlink: kind === 'directory' ? 2 : 1,
      opens: 0,
      data: Buffer.alloc(0),
      size: 0,
      rdev: 0,
      target: '',
      children: new Map(),
      xattrs: new Map(),
      atimeNs: t,
      mtimeNs: t,
      ctimeNs: t,
      birthtimeNs: t,
    };
  }

  /** Grows `node` to hold `size` bytes, within the capacity. */
  reserve(node: Node, size: number): void {
    if (size > MAX_FILE_SIZE) throw storageError('EFBIG', `the memory adapter holds files of at most ${MAX_FILE_SIZE} bytes`);
    const growth = size - node.size;
    if (growth > 0 && this.used + growth > this.capacity) {
      throw storageError('ENOSPC', `memory adapter capacity of ${this.capacity} bytes reached`);
    }
    if (size > node.data.length) {
      const data = Buffer.alloc(Math.max(size, node.data.length * 2, 64));
      node.data.copy(data, 0, 0, node.size);
      node.data = data;
    } else if (size < node.size) {
      node.data.fill(0, size, node.size);
    }
    this.used += growth;
    node.size = size;
    node.mtimeNs = node.ctimeNs = now();
  }

  release(node: Node): void {
    if (node.kind === 'file' && node.nlink === 0 && node.opens === 0) {
      this.used -= node.size;
      node.size = 0;
      node.data = Buffer.alloc(0);
    }
  }

  async openRoot(): Promise<DirNode> {
    return new MemoryDir(this, this.rootNode);
  }

  async close(): Promise<void> {}
}

function stat(node: Node): EntryStat {
  return {
    kind: node.kind,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    nlink: node.nlink,
    ino: BigInt(node.ino),
    dev: 0,
    rdev: node.rdev,
    size: node.kind === 'symlink' ? nameByteLength(node.target) : node.size,
    blocks: Math.ceil(node.size / 512),
    blksize: 4096,
    atimeNs: node.atimeNs,
    mtimeNs: node.mtimeNs,
    ctimeNs: node.ctimeNs,
    birthtimeNs: node.birthtimeNs,
    dioMemAlign: 0,
    dioOffsetAlign: 0,
  };
}

const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

/** Extended attributes kept on the node, with the kernel's errors. */
function nodeXattrs(node: Node): XattrNode {
  return {
    async getXattr(name) {
      const value = node.xattrs.get(name);
      if (!value) throw storageError('ENODATA', 'no such attribute', { path: name });
      return Buffer.from(value);
    },
    async setXattr(name, value, flags) {
      const exists = node.xattrs.has(name);
      if (flags & XATTR_CREATE && exists) throw storageError('EEXIST', 'attribute exists', { path: name });
      if (flags & XATTR_REPLACE && !exists) throw storageError('ENODATA', 'no such attribute', { path: name });
      node.xattrs.set(name, Buffer.from(value));
      node.ctimeNs = now();
    },
    async listXattrs() {
      return [...node.xattrs.keys()];
    },
    async removeXattr(name) {
      if (!node.xattrs.delete(name)) throw storageError('ENODATA', 'no such attribute', { path: name });
    },
  };
}

function setTimes(node: Node, atime: SetTime, mtime: SetTime): void {
  const t = now();
  if (atime !== 'omit') node.atimeNs = atime === 'now' ? t : atime;
  if (mtime !== 'omit') node.mtimeNs = mtime === 'now' ? t : mtime;
  node.ctimeNs = t;
}

/** What a file and a directory handle share: the node, its mode, owner, times and attributes. */
abstract class MemoryHandle extends XattrsOf {
  constructor(readonly node: Node) {
    super(nodeXattrs(node));
  }

  async chmod(mode: number): Promise<void> {
    this.node.mode = (this.node.mode & ~0o7777) | (mode & 0o7777);
    this.node.ctimeNs = now();
  }

  async chown(uid: number, gid: number): Promise<void> {
    if (uid >= 0) this.node.uid = uid;
    if (gid >= 0) this.node.gid = gid;
  }

  async utimes(atime: SetTime, mtime: SetTime): Promise<void> {
    setTimes(this.node, atime, mtime);
  }
}

class MemoryFile extends MemoryHandle implements FileNode {
  readonly alignment = 0;
  readonly opened: EntryStat;

  constructor(
    private readonly adapter: MemoryAdapter,
    node: Node,
  ) {
    super(node);
    node.opens++;
    this.opened = stat(node);
  }

  size(): number {
    return this.node.size;
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    const end = Math.min(this.node.size, position + buffer.length);
    if (end <= position) return 0;
    this.node.data.copy(buffer, 0, position, end);
    return end - position;
  }

  async readv(buffers: readonly Uint8Array[], position: number): Promise<number> {
    let done = 0;
    for (const buffer of buffers) {
      const n = await this.read(buffer, position + done);
      done += n;
      if (n < buffer.length) break;
    }
    return done;
  }

  async write(buffers: readonly Uint8Array[], position: number): Promise<void> {
    const end = position + totalBytes(buffers);
    if (end > this.node.size) this.adapter.reserve(this.node, end);
    let at = position;
    for (const buffer of buffers) {
      this.node.data.set(buffer, at);
      at += buffer.length;
    }
    this.node.mtimeNs = this.node.ctimeNs = now();
  }

  async append(buffers: readonly Uint8Array[]): Promise<number> {
    const offset = this.node.size;
    await this.write(buffers, offset);
    return offset;
  }

  async truncate(size: number): Promise<void> {
    this.adapter.reserve(this.node, size);
  }

  async sync(): Promise<void> {}

  async stat(): Promise<EntryStat> {
    return stat(this.node);
  }

  /** Holds no holes: a punched or zeroed range reads as zeros, which is all a reader can tell. */
  async allocate(offset: number, length: number, mode: number): Promise<void> {
    const end = offset + length;
    if (!(mode & FALLOC.KEEP_SIZE) && end > this.node.size) this.adapter.reserve(this.node, end);
    if (mode & (FALLOC.PUNCH_HOLE | FALLOC.ZERO_RANGE) && offset < this.node.size) {
      this.node.data.fill(0, offset, Math.min(end, this.node.size));
      this.node.mtimeNs = this.node.ctimeNs = now();
    }
  }

  /** Every byte below the size is data, as lseek says on a file system without holes. */
  async seek(offset: number, target: SeekTarget): Promise<number> {
    return target === 'data' ? offset : this.node.size;
  }

  async copyFrom(source: FileNode, sourceOffset: number, offset: number, length: number): Promise<number> {
    if (!(source instanceof MemoryFile)) throw storageError('EINVAL', 'copy: the source is not a memory file'); // File checked
    const from = source.node;
    const n = Math.max(0, Math.min(length, from.size - sourceOffset));
    if (n === 0) return 0;
    // through a copy: the source and this file may be the same node
    await this.write([Buffer.from(from.data.subarray(sourceOffset, sourceOffset + n))], offset);
    return n;
  }

  sameFile(other: FileNode): boolean {
    return other instanceof MemoryFile && other.node === this.node;
  }

  async linkInto(to: DirNode, name: string): Promise<void> {
    if (!(to instanceof MemoryDir)) throw storageError('EXDEV', 'a memory file is named only in a memory directory', { path: name });
    // as linkat(2): a file that lost its names is not given one again, but for one made without a name
    if (this.node.nlink === 0 && !this.node.linkable) throw storageError('ENOENT', 'the file has no name left', { path: name });
    to.add(name, this.node);
    this.node.nlink++;
    this.node.linkable = false;
    this.node.ctimeNs = now();
  }

  async close(): Promise<void> {
    this.node.opens--;
    this.adapter.release(this.node);
  }
}

class MemoryDir extends MemoryHandle implements DirNode {
  constructor(
    private readonly adapter: MemoryAdapter,
    node: Node,
  ) {
    super(node);
  }

  /** The entry `name`, or ENOENT; ENOENT too for every entry of a directory that was removed. */
  private entry(name: string): Node {
    const child = this.node.nlink > 0 ? this.node.children.get(name) : undefined;
    if (!child) throw storageError('ENOENT', 'no entry', { path: name });
    return child;
  }

  /** `child` becomes the entry `name` here (EEXIST if taken). */
  add(name: string, child: Node): void {
    if (this.node.nlink === 0) throw storageError('ENOENT', 'directory was removed', { path: name });
    if (this.node.children.has(name)) throw storageError('EEXIST', 'entry exists', { path: name });
    this.node.children.set(name, child);
    if (child.kind === 'directory') this.node.nlink++;
    this.node.mtimeNs = this.node.ctimeNs = now();
  }

  private fileOf(name: string): Node {
    const child = this.entry(name);
    if (child.kind === 'directory') throw storageError('EISDIR', 'cannot open a directory as a file', { path: name });
    if (child.kind !== 'file') throw storageError('EINVAL', 'not a regular file', { path: name });
    return child;
  }

  async mkdir(name: string, mode: number): Promise<void> {
    this.add(name, this.adapter.node('directory', mode));
  }

  async mknod(name: string, kind: NodeKind, mode: number, device: number): Promise<void> {
    // as the kernel does: making a device node needs privilege (CAP_MKNOD, here root)
    if ((kind === 'char-device' || kind === 'block-device') && process.geteuid?.() !== 0) {
      throw storageError('EPERM', 'making a device node needs root', { path: name });
    }
    const node = this.adapter.node(kind, mode);
    node.rdev = device;
    this.add(name, node);
  }

  async openDir(name: string): Promise<DirNode> {
    const child = this.entry(name);
    if (child.kind !== 'directory') throw storageError('ENOTDIR', 'not a directory', { path: name });
    return new MemoryDir(this.adapter, child);
  }

  async createFile(name: string, mode: number, _flags: OpenFlags): Promise<FileNode> {
    const child = this.adapter.node('file', mode);
    this.add(name, child);
    return new MemoryFile(this.adapter, child);
  }

  async openFile(name: string, _flags: OpenFlags): Promise<FileNode> {
    return new MemoryFile(this.adapter, this.fileOf(name));
  }

  async createUnnamed(mode: number, _flags: OpenFlags): Promise<FileNode> {
    if (this.node.nlink === 0) throw storageError('ENOENT', 'directory was removed');
    const child = this.adapter.node('file', mode);
    child.nlink = 0;
    child.linkable = true;
    return new MemoryFile(this.adapter, child);
  }

  async flushWrite(name: string, buffers: readonly Uint8Array[], mode: number, _flags: OpenFlags): Promise<FileNode> {
    const existing = this.node.children.get(name);
    if (existing?.kind === 'directory') throw storageError('EISDIR', 'cannot replace a directory with a file', { path: name });
    const child = this.adapter.node('file', mode);
    const bytes = totalBytes(buffers);
    const freed = existing?.kind === 'file' && existing.nlink === 1 ? existing.size : 0;
    if (this.adapter.used - freed + bytes > this.adapter.capacity) {
      throw storageError('ENOSPC', `memory adapter capacity of ${this.adapter.capacity} bytes reached`, { path: name });
    }
    this.adapter.reserve(child, bytes);
    Buffer.concat(buffers as Uint8Array[]).copy(child.data);
    if (existing) this.detach(name, existing);
    this.add(name, child);
    return new MemoryFile(this.adapter, child);
  }

  private detach(name: string, child: Node): void {
    this.node.children.delete(name);
    if (child.kind === 'directory') {
      this.node.nlink--;
      child.nlink = 0;
    } else {
      child.nlink--;
      this.adapter.release(child);
    }
    this.node.mtimeNs = this.node.ctimeNs = now();
  }

  async list(): Promise<DirEntry[]> {
    if (this.node.nlink === 0) throw storageError('ENOENT', 'directory was removed');
    return [...this.node.children].map(([name, child]) => ({ name, kind: child.kind }));
  }

  async stat(name: string): Promise<EntryStat> {
    return stat(name === '' ? this.node : this.entry(name));
  }

  async rename(from: string, to: DirNode, toName: string, mode: RenameMode): Promise<void> {
    const child = this.entry(from);
    const target = to as MemoryDir;
    if (child.kind === 'directory' && isWithin(target.node, child)) {
      throw storageError('EINVAL', 'cannot move a directory into itself', { path: toName });
    }
    const existing = target.node.children.get(toName);
    if (existing === child) return;
    if (mode === 'exchange') return this.exchange(from, child, target, toName, existing);
    if (existing) {
      if (mode === 'noreplace') throw storageError('EEXIST', 'target exists', { path: toName });
      if (existing.kind === 'directory' && child.kind !== 'directory') throw storageError('EISDIR', 'target is a directory', { path: toName });
      if (existing.kind !== 'directory' && child.kind === 'directory') throw storageError('ENOTDIR', 'target is not a directory', { path: toName });
      if (existing.kind === 'directory' && existing.children.size > 0) throw storageError('ENOTEMPTY', 'target directory is not empty', { path: toName });
      target.detach(toName, existing);
    }
    this.node.children.delete(from);
    if (child.kind === 'directory') this.node.nlink--;
    target.add(toName, child);
  }

  /** RENAME_EXCHANGE: `from` here and `toName` in `target` swap their nodes. */
  private exchange(from: string, child: Node, target: MemoryDir, toName: string, existing: Node | undefined): void {
    if (!existing) throw storageError('ENOENT', 'no entry to exchange with', { path: toName });
    if (existing.kind === 'directory' && isWithin(this.node, existing)) {
      throw storageError('EINVAL', 'cannot move a directory into itself', { path: from });
    }
    this.node.children.delete(from);
    if (child.kind === 'directory') this.node.nlink--;
    target.node.children.delete(toName);
    if (existing.kind === 'directory') target.node.nlink--;
    target.add(toName, child);
    this.add(from, existing);
  }

  async unlink(name: string): Promise<void> {
    const child = this.entry(name);
    if (child.kind === 'directory') throw storageError('EISDIR', 'is a directory; use rmdir', { path: name });
    this.detach(name, child);
  }

  async rmdir(name: string): Promise<void> {
    const child = this.entry(name);
    if (child.kind !== 'directory') throw storageError('ENOTDIR', 'not a directory', { path: name });
    if (child.children.size > 0) throw storageError('ENOTEMPTY', 'directory not empty', { path: name });
    this.detach(name, child);
  }

  async symlink(target: string, name: string): Promise<void> {
    const link = this.adapter.node('symlink', 0o777);
    link.target = target;
    this.add(name, link);
  }

  async readlink(name: string): Promise<string> {
    const child = this.entry(name);
    if (child.kind !== 'symlink') throw storageError('EINVAL', 'not a symbolic link', { path: name });
    return child.target;
  }

  async link(name: string, to: DirNode, toName: string): Promise<void> {
    const child = this.entry(name);
    if (child.kind === 'directory') throw storageError('EPERM', 'cannot hard-link a directory', { path: name });
    (to as MemoryDir).add(toName, child);
    child.nlink++;
  }

  entryXattrs(name: string): XattrNode {
    const of = () => nodeXattrs(this.entry(name));
    return {
      getXattr: (attribute) => of().getXattr(attribute),
      setXattr: (attribute, value, flags) => of().setXattr(attribute, value, flags),
      listXattrs: () => of().listXattrs(),
      removeXattr: (attribute) => of().removeXattr(attribute),
    };
  }

  async chmodEntry(name: string, mode: number): Promise<void> {
    const child = this.entry(name);
    if (child.kind === 'symlink') throw storageError('EOPNOTSUPP', 'a symlink has no mode of its own', { path: name });
    child.mode = (child.mode & ~0o7777) | (mode & 0o7777);
    child.ctimeNs = now();
  }

  async chownEntry(name: string, uid: number, gid: number): Promise<void> {
    const child = this.entry(name);
    if (uid >= 0) child.uid = uid;
    if (gid >= 0) child.gid = gid;
    child.ctimeNs = now();
  }

  async utimesEntry(name: string, atime: SetTime, mtime: SetTime): Promise<void> {
    setTimes(this.entry(name), atime, mtime);
  }

  async sync(): Promise<void> {}

  async statfs(): Promise<FsStats> {
    const blocks = Math.floor(Math.min(this.adapter.capacity, 2 ** 50) / 4096);
    const free = Math.max(0, blocks - Math.ceil(this.adapter.used / 4096));
    return { bsize: 4096, frsize: 4096, blocks, bfree: free, bavail: free, files: 2 ** 32, ffree: 2 ** 32, namemax: 255 };
  }

  async close(): Promise<void> {}
}

function isWithin(node: Node, ancestor: Node): boolean {
  if (node === ancestor) return true;
  for (const child of ancestor.children.values()) {
    if (child.kind === 'directory' && isWithin(node, child)) return true;
  }
  return false;
}
