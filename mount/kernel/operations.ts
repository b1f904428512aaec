// The FUSE operations of the kernel transport: each one decodes its request, does one thing through
// PosixFs (the POSIX layer both transports share) and returns the reply's body, or throws a StorageError
// whose code becomes the errno. Nodes are turned into paths through the node table; names stay bytes.
//
// New files, directories and symlinks belong to the caller: the request carries its uid and gid, and when
// the mount runs as root the new entry is chowned to them (a mount by an ordinary user can only make
// entries of its own).
import { closeSync } from 'node:fs';

import { decodeName, encodeName, isWellFormed } from '../../src/ground/name-bytes.js';
import { isCode, StorageError, traceless } from '../../src/ground/errors.js';
import { joinPath } from '../../src/storage/names.js';
import { kindOfMode, POSIX_ACL_ACCESS, type EntryStat, type MadeFile, type NativeAccess } from '../../src/adapters/adapter.js';
import type { SetTime } from '../../src/ground/set-time.js';
import { O, type Stat } from '../../src/io/engine.js';
import { decodeStatx, statxOfDescriptor } from '../../src/io/statx.js';
import { type PosixFs, writableIfTruncating } from '../posix-fs.js';
import type { Logger } from '../../src/log.js';
import { fileName, NodeTable, sameFile, type FileId, type KnownNames, type Node } from './node-table.js';
import { CreateSlots, type CreateSlot } from './create-slots.js';
import {
  COPY_FILE_RANGE_MAX_32,
  FATTR,
  FOPEN,
  FSYNC_FDATASYNC,
  GETATTR_FH,
  InitFlag,
  Notify,
  Opcode,
  OPEN_KILL_SUIDGID,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  SETXATTR_ACL_KILL_SGID,
  Size,
  WRITE_KILL_SUIDGID,
} from './protocol.js';
import {
  type AnsweredCreate,
  type BodyReader,
  copyFileRangeIn,
  createIn,
  fhIn,
  lseekIn,
  openIn,
  readIn,
  reader,
  setattrIn,
  writeIn,
  type Request,
} from './request.js';
import {
  attrOut,
  statxOut,
  copyFileRangeOut,
  direntplusSize,
  direntSize,
  direntType,
  entryOut,
  lseekOut,
  openOut,
  statfsOut,
  timeout,
  writeDirent,
  writeEntry,
  writeOut,
  xattrSizeOut,
  type Timeout,
} from './reply.js';

export interface KernelOpsOptions {
  attrTimeout: number;
  entryTimeout: number;
  xattr: boolean;
  writebackCache?: boolean;
  /**
   * the storage's inode numbers are made from its names (s3://: a key's hash, so a rename gives a file
   * another one): a path is not checked against the inode number of the node it names (atOwnPath)
   */
  inodesFromNames?: boolean;
  /** offer POSIX_ACL (the backing keeps POSIX ACLs: run-mount.ts); see init.ts */
  posixAcl?: boolean;
}

/**
 * Whether the mount answers STATX (the birth time). Not where inode numbers come from names (s3://): an
 * object's birth would be its last PUT; there the kernel is answered ENOSYS once, stops asking, and statx(2)
 * says the birth time is unknown. The data path answers STATX where it answers GETATTR when this is so.
 */
export const servesStatx = (options: KernelOpsOptions): boolean => !options.inodesFromNames;

/** A reply body (one or several buffers), or undefined for an empty reply. */
export type ReplyBody = Buffer | Buffer[] | undefined;
export type Operation = (request: Request) => Promise<ReplyBody>;
/** Sends a notification to the kernel (notify code, body). */
export type Notifier = (code: number, body: Buffer) => void;
/** What the operations ask of the native session beside replies. */
export interface NativePort {
  /** hands an open file's handle to the native data path (native/src/fuse/data-path.h); absent: none */
  attach?: (fh: number, node: number, access: NativeAccess) => void;
  /**
   * has the data path answer GETATTR of directory node `node`, inode `ino` born `born` (0n: not checked,
   * the root; born 0n: the inode number alone), open as `fd`,
   * and LOOKUP of names it does not have but `kept` (native/src/fuse/node-table.h): 0, or an errno; and
   * stop (detach)
   */
  attachDirectory?: (node: number, fd: number, ino: bigint, born: bigint, kept: readonly string[]) => number;
  detachDirectory?: (node: number) => void;
  /**
   * has the data path answer GETATTR of directory node `node` (a bucket's: no descriptor) with `body`, a
   * GETATTR reply, for `validNs` from now, or until detachDirectory (native/src/fuse/node-table.h)
   */
  attachAttributes?: (node: number, body: Buffer, validNs: number) => void;
  /** has the data path answer ENOENT to GETATTR and SETATTR of node `node`, which nothing can reach again */
  removed?: (node: number) => void;
  /**
   * node `node` gains (`delta` 1) or loses (-1) a hold: an open handle, or an OPEN under way; the data path
   * drops a handle's hold itself when it answers its RELEASE. An UNLINK the data path makes of a held node's
   * last name leaves marking it removed to JavaScript (native/src/fuse/node-table.h, "Unlinks")
   */
  hold?: (node: number, delta: number) => void;
  /**
   * absent extended attributes (native/src/fuse/node-table.h): the data path answers GETXATTR `name` (UTF-8)
   * of node `node` ENODATA until `forgetXattrs`, which a change to any attribute calls
   */
  absentXattr?: (node: number, name: string) => void;
  forgetXattrs?: () => void;
  /**
   * node `node` has no attributes at all: where its file is on the backing root's file system the data path
   * answers its GETXATTRs of names known absent there ENODATA, until `forgetXattrs`, and the answer is true
   */
  noXattrs?: (node: number) => boolean;
  /**
   * whether the storage answered GETXATTR `name` of a file on the backing root's file system ENODATA (a name
   * it does not keep, "foo" on ext4 or any on the S3 adapter, is EOPNOTSUPP instead, absent or not)
   */
  absentName?: (name: string) => boolean;
  /**
   * known names (native/src/fuse/node-table.h): the data path answers a LOOKUP of `name` (UTF-8) in
   * attached directory `parent` that finds inode `ino` born `born` (0n: any) with node `node`, counting the lookup; `unnamed`
   * takes a name back; `settle` adds the lookups counted natively to JavaScript's count and returns the
   * total, and with `drop` a total of 0 removes the node's names (atomically)
   */
  named?: (parent: number, name: string, node: number, ino: bigint, born: bigint) => void;
  unnamed?: (parent: number, name: string) => number;
  settle?: (node: number, lookups: number, drop: boolean) => number;
  /** a slot for a CREATE the data path answers itself (create-slots.ts) */
  giveCreateSlot?: (node: number, fh: number, sizeCell: Float64Array) => void;
  /** FUSE passthrough: a backing file id for descriptor fd, or -errno; and forgetting one */
  backingOpen(fd: number): number;
  backingClose(id: number): number;
}

/** A node's backing file for passthrough: one for all its open handles (the kernel wants the same one). */
interface Backing {
  id: number;
  handles: Set<number>;
}

/**
 * How a directory node is held (see hold): a name change in it under way (exclusive), requests using a
 * path through it (shared), and name changes waiting for those to end (new path users wait behind them).
 */
interface DirHold {
  changing: boolean;
  users: number;
  waiting: number;
}

/**
 * When a stat made without holding its directory was taken (see stillTrue): the count of names taken away
 * from the table so far, and for a stat made by path the count of renames begun (-1: one was under way;
 * undefined: made relative to the directory's own descriptor, which no rename moves).
 */
interface Seen {
  removals: number;
  renames: number | undefined;
}

/**
 * What the kernel's page cache of a node's file is known to match: the file's size, mtime and ctime at its
 * last open, or at the last release after a handle open for writing (`written`: one was open since).
 */
interface Cached {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  written: boolean;
}

const cachedAs = (stat: Stat, written: boolean): Cached => ({ size: stat.size, mtimeNs: stat.mtimeNs, ctimeNs: stat.ctimeNs, written });

interface OpenDir {
  node: Node;
  /** the listing taken at OPENDIR, '.' and '..' first: offsets index it */
  names: Buffer[];
  /** the directory open for the listing (PosixFs.openDirectory), where the storage has a descriptor */
  dh: number | undefined;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IXGRP = 0o0010;

/**
 * The privilege bits a write by an unprivileged user removes from a regular file: set-user-ID always,
 * set-group-ID when group-execute is set (without it, the bit marks mandatory locking and stays).
 */
export function privilegeBits(mode: number): number {
  if ((mode & S_IFMT) !== S_IFREG) return 0;
  return (mode & S_ISUID) | ((mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) ? S_ISGID : 0);
}

/**
 * With the writeback cache the kernel reads pages of files opened write-only (to fill a partly written
 * page), so every open for writing is read-write for us; it checked the caller's right to open already.
 */
const readableToo = (flags: number): number => ((flags & O.ACCMODE) === O.WRONLY ? (flags & ~O.ACCMODE) | O.RDWR : flags);

/** An errno answer to the kernel (no stack trace: a SETATTR of an unlinked file after every unlink is one). */
const errorOf = (code: string, message: string): StorageError => traceless(() => new StorageError(code, `${code}: ${message}`));

/** A statx the data path made, as the storage's stat of an entry. */
const entryStat = (stat: Stat): EntryStat => ({ ...stat, kind: kindOfMode(stat.mode) });

/** nodes remembered as having had their attributes listed by a GETXATTR (see getxattr) */
const XATTRS_LISTED = 65536;
/** A timeout of nothing: what an absent name's entry carries as its attributes' */
const NO_TIME: Timeout = { sec: 0, nsec: 0 };

/** How long after losing its last name a node's requests by name are ESTALE, not ENOENT (unnamedError). */
const RECENTLY_REMOVED_MS = 1000;

/** A name from the storage (a string, or bytes when not UTF-8) as bytes. */
const bytesOf = (name: string | Buffer): Buffer => (typeof name === 'string' ? Buffer.from(name, 'utf8') : name);

/** The new parent of a RENAME or RENAME2 (the first u64 of fuse_rename_in and fuse_rename2_in). */
const newDirectoryOf = (request: Request): number => reader(request).u64();

/** Nodes the kernel forgot that are kept, with their names known to the data path (node-table.ts). */
const KEEP_FORGOTTEN = 65_536;
/** slots kept given to the data path for the CREATEs it answers (create-slots.ts) */
const CREATE_SLOTS = 64;

export class KernelOps {
  readonly nodes: NodeTable;
  private readonly dirs = new Map<number, OpenDir>();
  private nextDirHandle = 1;
  /** open file handles by node: the node's attributes once unlinked come from one of them */
  private readonly openFiles = new Map<number, Set<number>>();
  private readonly entryValid: Timeout;
  private readonly attrValid: Timeout;
  private readonly asRoot = process.getuid?.() === 0;
  /** the writeback cache was agreed at INIT */
  private writeback = false;
  /** passthrough was agreed at INIT: open files get a backing file */
  private passthrough = false;
  /** SETXATTR_EXT was agreed at INIT (with POSIX_ACL): SETXATTR's header is 16 bytes, with setxattr_flags */
  private setxattrExt = false;
  /** DONT_MASK was agreed at INIT (with POSIX_ACL): the caller's umask is ours to apply (creationMode) */
  private dontMask = false;
  private readonly backings = new Map<number, Backing>();
  /** handles whose reads and writes bypass us (and the storage's idea of their size) */
  private readonly passedThrough = new Set<number>();
  /**
   * Nodes known to carry no set-user-ID/set-group-ID bit: a write by an unprivileged user to them has no
   * privileges to remove, and needs no stat. A change of mode or owner drops a node from the set.
   */
  private readonly unprivileged = new Set<number>();
  /** directory nodes held by requests under way (see hold); absent: not held */
  private readonly holds = new Map<number, DirHold>();
  /** settled when a hold ends, for requests waiting to take theirs */
  private holdEnded: { promise: Promise<void>; resolve: () => void } | undefined;
  /** directory nodes whose GETATTR the data path answers (or is being given) */
  private readonly attachedDirectories = new Set<number>();
  /** directory nodes without a descriptor (a bucket's) whose GETATTR reply the data path was given, and until when (performance.now()) */
  private readonly givenAttributes = new Map<number, number>();
  /** given attributes taken back so far: a GETATTR under way across one gives nothing (see getattr) */
  private attributesTaken = 0;
  /**
   * Names taken away from the table so far (the data path counts them when it has known names: its count
   * comes with its statx), and for each directory node the count when its last name was taken away.
   */
  private removals = 0;
  private readonly lastRemoval = new WeakMap<Node, number>();
  /** renames begun so far, and under way */
  private renamesBegun = 0;
  private renaming = 0;
  /** attribute changes (SETXATTR, REMOVEXATTR) begun or ended so far (see getxattr) */
  private xattrChanges = 0;
  /** nodes whose attributes a GETXATTR listed (at most XATTRS_LISTED, then emptied) */
  private readonly xattrsListed = new Set<number>();
  /** OPENs under way, by node id: a node that loses its last name meanwhile may still get a handle */
  private readonly opening = new Map<number, number>();
  /** when each node that lost its last name lost it (performance.now()) */
  private readonly lostName = new WeakMap<Node, number>();
  /** by node id: what its page cache matches (see keepCache) */
  private readonly cached = new Map<number, Cached>();
  /** node ids and handles the data path answers CREATEs with, when it does (agreed) */
  private createSlots: CreateSlots | undefined;
  /** by handle, the node: files the data path made and released before their CREATE's report was handled */
  private readonly releasedUntaken = new Map<number, number>();
  /** files the data path made and the storage never took, released first (takeReleased) */
  madeAndClosed = 0;

  constructor(
    private readonly posix: PosixFs,
    private readonly options: KernelOpsOptions,
    private readonly notify: Notifier = () => {},
    private readonly native?: NativePort,
    private readonly logger?: Logger,
  ) {
    this.entryValid = timeout(options.entryTimeout);
    this.attrValid = timeout(options.attrTimeout);
    const { named, unnamed, settle, attachDirectory } = native ?? {};
    const names = named && unnamed && settle && attachDirectory ? { named, unnamed, settle } : undefined;
    // without the data path's names a forgotten node kept would only hold memory
    // a node dropped however (a FORGET, or a kept forgotten node let go by an unlink or by the bound) takes
    // its entry in `unprivileged` along
    const dropped = (node: Node) => {
      this.unprivileged.delete(node.id);
      this.cached.delete(node.id);
    };
    const gone = (node: Node) => {
      this.lostName.set(node, performance.now());
      this.nodeGone(node);
    };
    this.nodes = new NodeTable(gone, this.knownNames(names), names ? KEEP_FORGOTTEN : 0, dropped, options.inodesFromNames === true);
  }

  /**
   * The table's names as the data path is told them, when it answers LOOKUPs: the names of attached
   * directories only (the only ones it looks up), and only names that are UTF-8 (it is told them as
   * strings). Every name taken away is counted (by the data path when there is one: see stillTrue).
   */
  private knownNames(native: Pick<Required<NativePort>, 'named' | 'unnamed' | 'settle'> | undefined): KnownNames {
    return {
      named: (parent, name, node) => {
        if (native && this.attachedDirectories.has(parent.id) && isWellFormed(name)) native.named(parent.id, name, node.id, node.ino, node.born);
      },
      unnamed: (parent, name) => {
        this.removals = native ? native.unnamed(parent.id, name) : this.removals + 1;
        this.lastRemoval.set(parent, this.removals);
      },
      settle: native?.settle ?? ((_id, lookups) => lookups),
    };
  }

  /** What INIT agreed on that changes how operations behave. */
  agreed(flags: bigint): void {
    this.writeback = (flags & InitFlag.WRITEBACK_CACHE) !== 0n;
    this.passthrough = (flags & InitFlag.PASSTHROUGH) !== 0n;
    this.setxattrExt = (flags & InitFlag.SETXATTR_EXT) !== 0n;
    this.dontMask = (flags & InitFlag.DONT_MASK) !== 0n;
    // the data path answers a CREATE itself where it makes the file (an attached directory, a writable
    // storage) and has a slot; not with passthrough, which JavaScript's OPEN gives files (opened)
    const give = this.native?.giveCreateSlot;
    if (give && this.native?.attachDirectory && !this.passthrough && !this.createSlots) {
      this.createSlots = new CreateSlots(CREATE_SLOTS, () => ({ node: this.nodes.reserveId(), fh: this.posix.reserveHandle() }), give);
      this.createSlots.fill();
    }
  }

  /** Settles when the files of the CREATEs the data path answered are taken; undefined when none is being taken. */
  takingCreated(): Promise<void> | undefined {
    return this.createSlots?.taking();
  }

  /** The operations by opcode; an opcode without one is answered ENOSYS. */
  table(): Map<number, Operation> {
    const ops: Array<[number, Operation]> = [
      [Opcode.LOOKUP, (r) => this.lookup(r)],
      [Opcode.GETATTR, (r) => this.getattr(r)],
      [Opcode.SETATTR, (r) => this.setattr(r)],
      [Opcode.READLINK, (r) => this.readlink(r)],
      [Opcode.SYMLINK, (r) => this.alone([r.nodeid], () => this.symlink(r))],
      [Opcode.MKNOD, (r) => this.alone([r.nodeid], () => this.mknod(r))],
      [Opcode.MKDIR, (r) => this.alone([r.nodeid], () => this.mkdir(r))],
      [Opcode.UNLINK, (r) => this.alone([r.nodeid], () => this.unlink(r))],
      [Opcode.RMDIR, (r) => this.alone([r.nodeid], () => this.rmdir(r))],
      [Opcode.RENAME, (r) => this.alone([r.nodeid, newDirectoryOf(r)], () => this.rename(r, false))],
      [Opcode.RENAME2, (r) => this.alone([r.nodeid, newDirectoryOf(r)], () => this.rename(r, true))],
      [Opcode.LINK, (r) => this.link(r)],
      [Opcode.OPEN, (r) => this.open(r)],
      [Opcode.CREATE, (r) => this.alone([r.nodeid], () => this.create(r))],
      ...(this.posix.makesUnnamedFiles ? [[Opcode.TMPFILE, (r: Request) => this.tmpfile(r)] as [number, Operation]] : []),
      [Opcode.READ, (r) => this.read(r)],
      [Opcode.WRITE, (r) => this.write(r)],
      [Opcode.FLUSH, (r) => this.posix.flush(fhIn(r).fh).then(() => undefined)],
      [Opcode.RELEASE, (r) => this.release(r)],
      [Opcode.FSYNC, (r) => this.fsync(r)],
      [Opcode.STATFS, async () => statfsOut(await this.posix.statfs())],
      [Opcode.OPENDIR, (r) => this.opendir(r)],
      [Opcode.READDIR, (r) => this.readdir(r, false)],
      [Opcode.READDIRPLUS, (r) => this.readdir(r, true)],
      [Opcode.RELEASEDIR, (r) => this.releasedir(r)],
      [Opcode.FSYNCDIR, (r) => this.atPath(this.node(r.nodeid), (path) => this.posix.fsyncdir(path)).then(() => undefined)],
      [Opcode.FALLOCATE, (r) => this.fallocate(r)],
      [Opcode.LSEEK, (r) => this.lseek(r)],
      [Opcode.COPY_FILE_RANGE, (r) => this.copyFileRange(r, false)],
      [Opcode.COPY_FILE_RANGE_64, (r) => this.copyFileRange(r, true)],
    ];
    if (servesStatx(this.options)) ops.push([Opcode.STATX, (r) => this.statx(r)]);
    if (this.options.xattr) {
      ops.push(
        [Opcode.GETXATTR, (r) => this.getxattr(r)],
        [Opcode.SETXATTR, (r) => this.setxattr(r)],
        [Opcode.LISTXATTR, (r) => this.listxattr(r)],
        [Opcode.REMOVEXATTR, (r) => this.removexattr(r)],
      );
    }
    return new Map(ops);
  }

  private node(id: number): Node {
    const node = this.nodes.get(id);
    if (!node) throw errorOf('ESTALE', `no node ${id}`);
    return node;
  }

  /** The path of node `id`; ENOENT once it was unlinked. */
  private pathOf(id: number): string {
    const path = this.nodes.path(this.node(id));
    if (path === undefined) throw errorOf('ENOENT', `node ${id} was removed`);
    return path;
  }

  /** The parent node of a request, the name it carries (as a name string) and the resulting path. */
  private child(request: Request, body: BodyReader = reader(request)): { parent: Node; name: string; path: string } {
    const parent = this.node(request.nodeid);
    const name = decodeName(body.name());
    return { parent, name, path: joinPath(this.pathOf(parent.id), name) };
  }

  /** Which file `stat` describes (see FileId): no birth time where inode numbers come from names (S3's is its mtime). */
  private fileOf(stat: Stat): FileId {
    return { ino: stat.ino, born: this.options.inodesFromNames ? 0n : stat.birthtimeNs };
  }

  /**
   * Whether `stat` describes node `node`'s file. Where inode numbers come from names (S3), a node's path is
   * its file, whatever number a rename gave it (the table's identityByName).
   */
  private isNode(node: Node, stat: Stat): boolean {
    return this.options.inodesFromNames === true || sameFile(node, this.fileOf(stat));
  }

  private entry(node: Node, stat: EntryStat): Buffer {
    return entryOut(node.id, stat, this.entryValid, this.attrValid);
  }

  /** The entry of `name` in `parent` (a lookup of it), which `stat` describes; `unnamed`: see NodeTable.lookedUp. */
  private entryOf(parent: Node, name: string, stat: EntryStat, unnamed?: Node): Buffer {
    return this.entry(this.nodes.lookedUp(parent, name, this.fileOf(stat), unnamed), stat);
  }

  /**
   * Gives a new entry to the caller, when we run as root and the caller is someone else: its uid, and its
   * gid unless the parent directory is set-group-ID (then the entry has the directory's group, which the
   * backing file system gave it, as POSIX says). `made`: the new entry's path, or a handle open on it.
   */
  private async ownedByCaller(made: string | { fh: number }, parent: Node, request: Request): Promise<boolean> {
    if (!this.asRoot || (request.uid === 0 && request.gid === 0)) return false;
    const parentPath = this.nodes.path(parent);
    const inherits = parentPath !== undefined && ((await this.posix.stat(parentPath)).mode & S_ISGID) !== 0;
    const gid = inherits ? -1 : request.gid;
    await (typeof made === 'string' ? this.posix.chown(made, request.uid, gid) : this.posix.fchown(made.fh, request.uid, gid));
    return true;
  }

  /**
   * LOOKUP: with the statx the data path made of the name when it came with one, else the storage's; an
   * absent name is an entry of node 0, which the kernel keeps for the entry timeout (a negative dentry). The
   * directory looked in is given to the data path, which then makes the statx of the next LOOKUPs in it (a
   * directory whose node the kernel dropped comes back by a LOOKUP, and nothing asks for its GETATTR while
   * its entries are only looked up: stat after the dentries were dropped).
   */
  private async lookup(request: Request): Promise<ReplyBody> {
    const { parent, name, path } = this.child(request);
    this.attachDirectory(parent.id);
    const seen = request.statx ? { removals: request.removals ?? 0, renames: undefined } : this.seen();
    const stat = request.statx ? entryStat(decodeStatx(request.statx)) : await this.statOrAbsent(path);
    if (this.stillTrue(parent, name, stat, seen)) return this.lookedUpEntry(parent, name, stat);
    return this.alone([parent.id], async () => {
      const fresh = await this.statOrAbsent(joinPath(this.pathOf(parent.id), name));
      return this.lookedUpEntry(parent, name, fresh);
    });
  }

  /** The storage's stat of `path`, or undefined when there is no such name. */
  private async statOrAbsent(path: string): Promise<EntryStat | undefined> {
    try {
      return await this.posix.stat(path);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
      return undefined;
    }
  }

  /** A LOOKUP's reply: the entry of `name` in `parent` that `stat` describes, or its absence. */
  private lookedUpEntry(parent: Node, name: string, stat: EntryStat | undefined): Buffer {
    // node 0 with the entry timeout: the kernel keeps the absence as the data path's answer has it kept
    if (!stat) return entryOut(0, undefined, this.entryValid, NO_TIME);
    return this.entryOf(parent, name, stat);
  }

  /**
   * Whether a stat of `name` in `parent` (or its absence) taken without holding the directory (a LOOKUP's,
   * or a READDIRPLUS entry's), when things were as `seen` says, may be given to the node table as it is.
   * The kernel revalidates a name it caches without the directory's lock, so a LOOKUP runs beside a
   * rename or unlink of that name; a listing holds its directory's lock, but not the locks of the
   * directories above, whose renames move the path its stats go by. So such a stat (ours, or the data
   * path's statx, made on another thread at a time JavaScript does not know) can show the directory from
   * before a change the table has learned since, or from after one it is still to learn. Taken as it is,
   * a stale stat would move the name to the wrong node (the node renamed there would lose its name, and
   * requests by path would reach the file now there for the node of another) or give a node back a name
   * it lost. A stat that finds the inode the table knows
   * there is true either way (answered as before the change). Any other is true when no name change in the
   * directory is under way and no name left it since the stat was taken, and, for a stat made by path, no
   * rename (of a directory above) began since; an absence needs only the last (a path that named nothing
   * because its directory was being renamed). What is not true is taken again (LOOKUP) or not given
   * (READDIRPLUS).
   */
  private stillTrue(parent: Node, name: string, stat: EntryStat | undefined, seen: Seen): boolean {
    if (!stat) return this.noRenameSince(seen);
    const known = this.nodes.at(parent, name);
    // where numbers come from names (S3) a stat always "finds" the node the name has now: it says nothing of
    // when it was taken (a stat of a file a rename has since replaced there would give its node the old
    // file's attributes), so it is judged as one of an unknown name
    if (known && !this.options.inodesFromNames) return this.isNode(known, stat);
    return this.noRenameSince(seen) && this.unchangedSince(parent, seen);
  }

  /** Whether no name change in directory `parent` is under way and no name left it since `seen`. */
  private unchangedSince(parent: Node, seen: Seen): boolean {
    return this.holds.get(parent.id)?.changing !== true && (this.lastRemoval.get(parent) ?? 0) <= seen.removals;
  }

  /** Whether no rename began since `seen` (a stat made by path: see stillTrue). */
  private noRenameSince(seen: Seen): boolean {
    return seen.renames === undefined || (seen.renames >= 0 && this.renaming === 0 && seen.renames === this.renamesBegun);
  }

  /** What a stat made now by path sees (see stillTrue). */
  private seen(): Seen {
    return { removals: this.removals, renames: this.renaming > 0 ? -1 : this.renamesBegun };
  }

  /**
   * Runs `work` (a name change: from its backing call to the node table's update; or a LOOKUP's stat taken
   * again) alone among those of directory nodes `ids` (see hold). The kernel already runs one name change
   * at a time in a directory (under its lock); this makes a LOOKUP's second stat wait for the one under way.
   */
  private alone<T>(ids: readonly number[], work: () => Promise<T>): Promise<T> {
    return this.hold(ids, undefined, () => work());
  }

  /**
   * Runs `work` with the path of node `node` while nothing changes the names it is made of: the node's
   * directories up to the root are held shared (see hold). So the path names the node's inode (the table and
   * the backing agree there; a change beside the mount excepted) for as long as `work` runs. A node without a
   * path: `unnamed`, else ESTALE when it lost it while this waited (a rename over its name or an unlink was
   * under way), or the error of a node that had none when asked (unnamedError).
   */
  private atPath<T>(node: Node, work: (path: string) => Promise<T>, unnamed?: () => Promise<T>, named = this.nodes.path(node) !== undefined): Promise<T> {
    return this.hold([], node, (path) => {
      if (path !== undefined) return work(path);
      if (unnamed) return unnamed();
      throw this.unnamedError(node, named);
    });
  }

  /**
   * atPath for a request that changes the file (or answers for it) by its path, checked first: the entry at
   * the path must be the node's inode. The table and the backing agree there unless something changed the
   * backing beside the mount (a file replaced or renamed there), and a change by path cannot be taken back:
   * one that would reach another file is ESTALE, and nothing is changed (the kernel looks the name up again).
   * Not where inode numbers come from names (inodesFromNames: on S3 a renamed file has another one).
   */
  private atOwnPath<T>(node: Node, work: (path: string) => Promise<T>, unnamed?: () => Promise<T>): Promise<T> {
    return this.atPath(
      node,
      async (path) => {
        await this.ownPath(node, path);
        return work(path);
      },
      unnamed,
    );
  }

  /** Fails ESTALE unless the entry at `path` (held) is node `node`'s inode (see atOwnPath). */
  private async ownPath(node: Node, path: string): Promise<void> {
    if (node === this.nodes.root || this.options.inodesFromNames) return;
    const found = await this.posix.stat(path).catch(() => undefined);
    if (found && this.isNode(node, found)) return;
    const there = found ? fileName(this.fileOf(found)) : 'nothing';
    throw errorOf('ESTALE', `node ${node.id}: its path holds ${there}, not ${fileName(node)}: changed beside the mount`);
  }

  /**
   * The error of a request that needs node `node`'s name when it has none: ESTALE when it lost it while the
   * request waited (`meanwhile`) or less than RECENTLY_REMOVED_MS ago (the kernel resolved the name before
   * a rename over it or an unlink: on ESTALE it looks the name up again and retries the call once, where a
   * local file system would still have reached the file it resolved), else ENOENT (removed: a process in a
   * deleted directory, say). The data path answers a removed node's GETATTR and SETATTR alike (node-table.h).
   */
  private unnamedError(node: Node, meanwhile = false): StorageError {
    if (meanwhile) return errorOf('ESTALE', `node ${node.id} lost its name meanwhile`);
    const lost = this.lostName.get(node);
    if (lost !== undefined && performance.now() - lost < RECENTLY_REMOVED_MS) return errorOf('ESTALE', `node ${node.id} lost its name moments ago`);
    return errorOf('ENOENT', `node ${node.id} was removed`);
  }

  /**
   * Runs `work` holding directory nodes `exclusive` (a name change in them: from its backing call to the node
   * table's update) and, shared, every directory their paths and `node`'s path are made of (to the root),
   * with `node`'s path at that time. Name changes in a directory exclude each other and its path users;
   * path users exclude none but the name changes; a name change waiting goes before path users that come
   * after it. Everything is taken at once and nothing held waits for another hold, so no two requests wait
   * for each other. JavaScript reaches files by path: a path taken while a name change along it is between
   * the backing and the table can be another file's (a rename or exchange over the name, or of a directory
   * above it), which is why a request that acts on a node's path holds it.
   */
  private async hold<T>(exclusive: readonly number[], node: Node | undefined, work: (path: string | undefined) => Promise<T>): Promise<T> {
    let shared = this.sharedFor(exclusive, node);
    if (!this.free(exclusive, shared)) {
      for (const id of exclusive) this.holdOf(id).waiting++;
      try {
        do {
          await this.nextHoldEnd();
          shared = this.sharedFor(exclusive, node);
        } while (!this.free(exclusive, shared));
      } finally {
        for (const id of exclusive) this.holdOf(id).waiting--;
      }
    }
    for (const id of exclusive) this.holdOf(id).changing = true;
    for (const id of shared) this.holdOf(id).users++;
    try {
      return await work(node && this.nodes.path(node));
    } finally {
      for (const id of exclusive) this.unheld(id, (hold) => (hold.changing = false));
      for (const id of shared) this.unheld(id, (hold) => hold.users--);
      const ended = this.holdEnded;
      this.holdEnded = undefined;
      ended?.resolve();
    }
  }

  /** Settles when the next hold ends (one promise for all waiters; made when someone waits). */
  private nextHoldEnd(): Promise<void> {
    if (!this.holdEnded) {
      let resolve!: () => void;
      const promise = new Promise<void>((settle) => (resolve = settle));
      this.holdEnded = { promise, resolve };
    }
    return this.holdEnded.promise;
  }

  /** The directories held shared with `exclusive`: those the paths of them and of `node` are made of. */
  private sharedFor(exclusive: readonly number[], node: Node | undefined): number[] {
    const shared: number[] = [];
    const add = (from: Node | undefined) => {
      for (let at = from; at && at !== this.nodes.root; ) {
        const up: Node | undefined = at.links[0]?.parent;
        if (up && !exclusive.includes(up.id) && !shared.includes(up.id)) shared.push(up.id);
        at = up;
      }
    };
    for (const id of exclusive) add(this.nodes.get(id));
    add(node);
    return shared;
  }

  /** Whether `exclusive` and `shared` can be held now (see hold). */
  private free(exclusive: readonly number[], shared: readonly number[]): boolean {
    for (const id of exclusive) {
      const hold = this.holds.get(id);
      if (hold && (hold.changing || hold.users > 0)) return false;
    }
    for (const id of shared) {
      const hold = this.holds.get(id);
      if (hold && (hold.changing || hold.waiting > 0)) return false;
    }
    return true;
  }

  private holdOf(id: number): DirHold {
    let hold = this.holds.get(id);
    if (!hold) {
      hold = { changing: false, users: 0, waiting: 0 };
      this.holds.set(id, hold);
    }
    return hold;
  }

  private unheld(id: number, change: (hold: DirHold) => void): void {
    const hold = this.holdOf(id);
    change(hold);
    if (!hold.changing && hold.users === 0 && hold.waiting === 0) this.holds.delete(id);
  }

  /**
   * The attributes of a node: through an open handle when asked (or when the node has no name left), else
   * by its path, checked: the file found there must be the node's inode. One that is not, or none, means
   * a name change along the path was under way: stat-ed again holding the path (atPath), then through an
   * open handle if the node lost its name meanwhile, else ESTALE (unnamedError if it had none when asked).
   */
  private async statOf(id: number, fh?: number): Promise<EntryStat> {
    if (fh !== undefined && this.openFiles.get(id)?.has(fh)) return this.posix.fstat(fh);
    const node = this.node(id);
    const path = this.nodes.path(node);
    if (path === undefined) return this.statUnnamed(node);
    if (node === this.nodes.root) return this.posix.stat(path);
    const stat = await this.posix.stat(path).catch(() => undefined);
    if (stat && this.isNode(node, stat)) return stat;
    return this.atPath(
      node,
      async (now) => {
        // the data path may have unlinked the name (node-table.h, "Unlinks") since this began: JavaScript
        // hears of it next; an open handle still answers, else ESTALE (a stat by path looks the name up again)
        const again = await this.posix.stat(now).catch((error: unknown) => {
          if (!isCode(error, 'ENOENT')) throw error;
          return undefined;
        });
        if (!again) return this.statUnnamed(node, errorOf('ESTALE', `node ${id}: no file at its path ${now} any more`));
        return this.isNode(node, again)
          ? again
          : this.statUnnamed(
              node,
              errorOf('ESTALE', `node ${id}: the file at its path is ${fileName(this.fileOf(again))}, not ${fileName(node)}: changed beside the mount`),
            );
      },
      () => this.statUnnamed(node, this.unnamedError(node, true)),
    );
  }

  /** The attributes of node `node` through one of its open handles; without one, `error` (see unnamedError). */
  private async statUnnamed(node: Node, error = this.unnamedError(node)): Promise<EntryStat> {
    const open = this.anyHandle(node.id);
    if (open === undefined) throw error;
    return this.posix.fstat(open);
  }

  private async getattr(request: Request): Promise<ReplyBody> {
    const taken = this.attributesTaken;
    const stat = await this.attributes(request);
    const body = attrOut(stat, this.attrValid);
    if (stat.kind === 'directory' && taken === this.attributesTaken) this.giveAttributes(request, body);
    return body;
  }

  /**
   * A directory without a descriptor (a bucket's, on an s3:// mount: the data path cannot statx it): the
   * data path is given its GETATTR reply and answers the next ones with it for the attribute timeout, as
   * long as the kernel would have kept this one, had a create or an unlink in the directory not made it
   * forget them (which under default_permissions brings a GETATTR of the parent before each next lookup:
   * one request to JavaScript per file created, whose answer does not change: a bucket's directory's
   * attributes are its marker's metadata). Taken back before and after any change this mount makes that can
   * change them (changingAttributes: SETATTR; an UNLINK or RMDIR in it, as a directory without a marker goes
   * with its last entry; RENAME, which changes the keys, so the inode numbers, below it) and when the node
   * goes (detachDirectory); a change made elsewhere (another mount of the bucket) shows once it expires,
   * as it would from the kernel's own cache (the data path counts the reply's age off its attr_valid).
   */
  private giveAttributes(request: Request, body: Buffer): void {
    const give = this.native?.attachAttributes;
    const validNs = this.attrValid.sec * 1e9 + this.attrValid.nsec;
    if (!give || !this.options.inodesFromNames || validNs === 0 || reader(request).u32() & GETATTR_FH) return;
    this.givenAttributes.set(request.nodeid, performance.now() + validNs / 1e6);
    give(request.nodeid, body, validNs);
  }

  /**
   * Takes back the attributes given for node `id`, or for every node (those expired need nothing: the data
   * path drops them at their next GETATTR, or when its table is full).
   */
  private takeAttributes(id?: number): void {
    this.attributesTaken++;
    if (id !== undefined) {
      if (this.givenAttributes.delete(id)) this.native?.detachDirectory?.(id);
      return;
    }
    const now = performance.now();
    for (const [given, until] of this.givenAttributes) if (until > now) this.native?.detachDirectory?.(given);
    this.givenAttributes.clear();
  }

  /**
   * `change`, which may change the attributes of node `id` (of every node when undefined), with any given to
   * the data path taken back before it and again after it: a GETATTR answered from the storage meanwhile may
   * have seen them from before the change, and given those.
   */
  private async changingAttributes<T>(id: number | undefined, change: () => Promise<T>): Promise<T> {
    this.takeAttributes(id);
    try {
      return await change();
    } finally {
      this.takeAttributes(id);
    }
  }

  /** The attributes GETATTR and STATX ask for (their bodies begin alike: getattr_flags u32, a u32, fh u64). */
  private async attributes(request: Request): Promise<EntryStat> {
    const r = reader(request);
    const flags = r.u32();
    const fh = r.skip(4).u64();
    const stat = await this.statOf(request.nodeid, flags & GETATTR_FH ? fh : undefined);
    if (stat.kind === 'directory') this.attachDirectory(request.nodeid);
    return stat;
  }

  /**
   * STATX (Linux 6.6+), which the kernel sends when a statx(2) asks for the birth time: GETATTR's
   * attributes with the storage's birth time (the request's sx_flags and sx_mask are hints the kernel
   * leaves at their defaults; every basic stat is answered, as the kernel caches them only then).
   */
  private async statx(request: Request): Promise<ReplyBody> {
    return statxOut(await this.attributes(request), this.attrValid);
  }

  /**
   * From the second GETATTR of a directory on, the data path answers it (a create or an unlink in a
   * directory brings one under default_permissions: the kernel forgets the directory's attributes), and
   * the LOOKUP of a name the directory does not have (each create starts with one), but the storage's own
   * names there, whatever they look like on disk. Given
   * the directory's descriptor while the node still has the name it was opened by; a directory renamed or
   * removed meanwhile is caught by the node table (detach) or by the data path (another inode).
   */
  private attachDirectory(id: number): void {
    const attach = this.native?.attachDirectory;
    if (!attach || this.attachedDirectories.has(id)) return;
    const node = this.nodes.get(id);
    const path = node && this.nodes.path(node);
    if (!node || path === undefined) return;
    this.attachedDirectories.add(id);
    this.posix
      .withDirectoryDescriptor(
        path,
        (fd, kept) => this.attachedDirectories.has(id) && this.nodes.path(node) === path && attach(id, fd, node.ino, node.born, kept) === 0,
      )
      .then((attached) => {
        if (!attached) this.attachedDirectories.delete(id);
      })
      .catch((error: unknown) => {
        this.attachedDirectories.delete(id);
        this.logger?.debug({ node: id, err: error }, 'a directory could not be given to the data path');
      });
  }

  /**
   * Node `node` lost its last name (it is still in the table) or the kernel forgot it. Without a name or
   * an open handle nothing reaches the file again, and its GETATTR and SETATTR are ENOENT: the data path
   * answers those (with the writeback cache, the kernel writes an unlinked file's new ctime back at once).
   */
  private nodeGone(node: Node): void {
    this.detachDirectory(node.id);
    // not while an OPEN of it is under way: it may succeed (the file opened before the rename or unlink),
    // and the data path would then answer fstat(2) of an open file with ENOENT
    if (this.nodes.get(node.id) === node && !this.openFiles.has(node.id) && !this.opening.has(node.id)) this.native?.removed?.(node.id);
  }

  /** The data path no longer answers for node `id` (it lost its name, or the kernel forgot it). */
  private detachDirectory(id: number): void {
    if (this.attachedDirectories.delete(id)) this.native?.detachDirectory?.(id);
    this.takeAttributes(id);
  }

  /** An open handle of node `id` (one open for writing when `write`), if it has one. */
  private anyHandle(id: number, write = false): number | undefined {
    for (const fh of this.openFiles.get(id) ?? []) if (!write || this.posix.writable(fh)) return fh;
    return undefined;
  }

  /**
   * SETATTR: mode, owner, size, times (NOW: the time of the request; OMIT: not in `valid`). With the
   * request's handle (ftruncate, open with O_TRUNC, the writeback cache's times) all through it: the open
   * file's own inode, whatever happened to its names. Else by name while the node has one, holding its path
   * and checked (atOwnPath: a change by path cannot be taken back, so it must never reach another file);
   * through an open handle once it was unlinked (fchmod of an unlinked open file).
   */
  private setattr(request: Request): Promise<ReplyBody> {
    return this.changingAttributes(request.nodeid, () => this.changeByRequest(request));
  }

  private async changeByRequest(request: Request): Promise<ReplyBody> {
    const s = setattrIn(request);
    const id = request.nodeid;
    if (s.valid & FATTR.FH && this.openFiles.get(id)?.has(s.fh)) return this.changeAttributes(s, id, undefined, s.fh);
    const node = this.node(id);
    // without a name (unlinked before the request came): any open handle, one open for writing when the size
    // changes (a truncate through a read-only handle is EBADF, which the caller of truncate(2) never asked
    // for); a node that lost its name while this waited is ESTALE (another open handle may be read-only:
    // the kernel looks the name up again instead)
    const byHandle = (meanwhile: boolean) => {
      const fh = meanwhile ? undefined : this.anyHandle(id, (s.valid & FATTR.SIZE) !== 0);
      if (fh === undefined) {
        const error = this.unnamedError(node, meanwhile);
        if (!meanwhile && this.anyHandle(id) !== undefined) error.message += ' and is not open for writing';
        throw error;
      }
      // another request's handle may be released while this uses it: then as if there were none
      return this.changeAttributes(s, id, undefined, fh).catch((error: unknown) => {
        if ((error as { code?: string }).code !== 'EBADF') throw error;
        throw this.unnamedError(node);
      });
    };
    if (this.nodes.path(node) === undefined) return byHandle(false);
    return this.atOwnPath(
      node,
      (path) => this.changeAttributes(s, id, path, undefined),
      async () => byHandle(true),
    );
  }

  /** SETATTR's changes: through handle `fh`, or by `path` (held and checked) without one. */
  private async changeAttributes(s: ReturnType<typeof setattrIn>, id: number, path: string | undefined, fh: number | undefined): Promise<ReplyBody> {
    const p = this.posix;
    if (s.valid & (FATTR.MODE | FATTR.UID | FATTR.GID)) this.unprivileged.delete(id);
    if (s.valid & FATTR.SIZE && s.valid & FATTR.KILL_SUIDGID) await this.killPrivileges(id, fh, path);
    if (s.valid & FATTR.MODE) await (fh !== undefined ? p.fchmod(fh, s.mode) : p.chmod(path!, s.mode));
    if (s.valid & (FATTR.UID | FATTR.GID)) {
      const uid = s.valid & FATTR.UID ? s.uid : -1;
      const gid = s.valid & FATTR.GID ? s.gid : -1;
      await (fh !== undefined ? p.fchown(fh, uid, gid) : p.chown(path!, uid, gid));
    }
    if (s.valid & FATTR.SIZE) await (fh !== undefined ? p.ftruncate(fh, s.size) : p.truncate(path!, s.size));
    if (s.valid & (FATTR.ATIME | FATTR.MTIME)) {
      const time = (set: number, now: number, ns: bigint): SetTime => (!(s.valid & set) ? 'omit' : s.valid & now ? 'now' : ns);
      const at = time(FATTR.ATIME, FATTR.ATIME_NOW, s.atimeNs);
      const mt = time(FATTR.MTIME, FATTR.MTIME_NOW, s.mtimeNs);
      await (fh !== undefined ? p.futimens(fh, at, mt) : p.utimens(path!, at, mt));
    }
    return attrOut(await (fh !== undefined ? p.fstat(fh) : p.stat(path!)), this.attrValid);
  }

  private async readlink(request: Request): Promise<ReplyBody> {
    return bytesOf(await this.atOwnPath(this.node(request.nodeid), (path) => this.posix.readlink(path)));
  }

  private async symlink(request: Request): Promise<ReplyBody> {
    const body = reader(request);
    const { parent, name, path } = this.child(request, body);
    await this.posix.symlink(body.name(), path);
    await this.ownedByCaller(path, parent, request);
    return this.entryOf(parent, name, await this.posix.stat(path));
  }

  /** MKNOD: a regular file, FIFO, socket or (as root) device node; the kernel serves a special file's IO. */
  private async mknod(request: Request): Promise<ReplyBody> {
    const body = reader(request);
    const mode = body.u32();
    const device = body.u32();
    const umask = body.u32();
    body.skip(4);
    const { parent, name, path } = this.child(request, body);
    await this.posix.mknod(path, await this.creationMode(parent, mode, umask), device);
    await this.ownedByCaller(path, parent, request);
    return this.entryOf(parent, name, await this.posix.stat(path));
  }

  private async mkdir(request: Request): Promise<ReplyBody> {
    const body = reader(request);
    const mode = body.u32();
    const umask = body.u32();
    const { parent, name, path } = this.child(request, body);
    await this.posix.mkdir(path, await this.creationMode(parent, mode, umask));
    await this.ownedByCaller(path, parent, request);
    return this.entryOf(parent, name, await this.posix.stat(path));
  }

  /**
   * The mode to make an entry with in directory `parent`, from the request's mode and the caller's umask.
   * Without DONT_MASK the kernel applied the umask itself: `mode` as it came. With it (agreed with
   * POSIX_ACL) the umask is ours to apply, as Linux does: not in a directory with a default ACL, whose
   * ACL alone decides (the backing applies it to the new entry: LocalDir), else `mode` without the umask.
   */
  private async creationMode(parent: Node, mode: number, umask: number): Promise<number> {
    if (!this.dontMask || (mode & umask & 0o777) === 0) return mode;
    return (await this.posix.hasDefaultAcl(this.pathOf(parent.id))) ? mode : mode & ~(umask & 0o777);
  }

  /**
   * An UNLINK the data path made and answered (native/src/fuse/node-table.h, "Unlinks"), told after: the table
   * learns it as after one of ours, if the name is still the file it unlinked (the data path took its own
   * copy of the name already). Synchronous: it is learned before any request the kernel sent after the reply.
   */
  unlinkedHere(request: Request, told: { node: number; ino: bigint; born: bigint }): void {
    const parent = this.nodes.get(request.nodeid);
    if (!parent) return;
    const name = decodeName(reader(request).name());
    const node = this.nodes.at(parent, name);
    if (!node || !sameFile(node, told)) return;
    const directory = this.nodes.path(parent);
    if (directory !== undefined) this.posix.removedBeside(joinPath(directory, name));
    this.nodes.unlinked(parent, name);
  }

  private async unlink(request: Request): Promise<ReplyBody> {
    const { parent, name, path } = this.child(request);
    // a bucket's directory without a marker goes with its last entry (see giveAttributes)
    await this.changingAttributes(parent.id, () => this.posix.unlink(path));
    this.nodes.unlinked(parent, name);
    return undefined;
  }

  private async rmdir(request: Request): Promise<ReplyBody> {
    const { parent, name, path } = this.child(request);
    await this.changingAttributes(parent.id, () => this.posix.rmdir(path));
    this.nodes.unlinked(parent, name);
    return undefined;
  }

  /** RENAME (fuse_rename_in: newdir u64) and RENAME2 (fuse_rename2_in: newdir u64, flags u32, padding). */
  private async rename(request: Request, withFlags: boolean): Promise<ReplyBody> {
    const body = reader(request);
    const newdir = body.u64();
    const flags = withFlags ? body.u32() : 0;
    if (withFlags) body.skip(4);
    const from = this.child(request, body);
    const newParent = this.node(newdir);
    const newName = decodeName(body.name());
    const to = joinPath(this.pathOf(newdir), newName);
    // RENAME_WHITEOUT is for overlay file systems: EINVAL, as a file system without it answers
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) {
      throw errorOf('EINVAL', `rename flags ${flags} are not supported`);
    }
    const exchange = (flags & RENAME_EXCHANGE) !== 0;
    // counted for stats made by path meanwhile: a directory renamed moves every path below it (stillTrue)
    this.renamesBegun++;
    this.renaming++;
    try {
      // a bucket's directory renamed changes the keys, so the inode numbers, of it and of all below it
      await this.changingAttributes(undefined, () =>
        this.posix.rename(from.path, to, exchange ? 'exchange' : flags & RENAME_NOREPLACE ? 'noreplace' : 'replace'),
      );
      if (exchange) this.nodes.exchanged(from.parent, from.name, newParent, newName);
      else this.nodes.renamed(from.parent, from.name, newParent, newName);
    } finally {
      this.renaming--;
    }
    return undefined;
  }

  /**
   * LINK: fuse_link_in (oldnodeid u64), then the new name; the request's node is the new parent. A name
   * change in the new parent, and a user of the source's path (held: a link to another file than the node's
   * would give it a name it must not have); a source that lost its name meanwhile, or whose path holds
   * another file (changed beside the mount), is ESTALE (see atPath, atOwnPath).
   */
  private link(request: Request): Promise<ReplyBody> {
    const body = reader(request);
    const source = this.node(body.u64());
    const named = this.nodes.path(source) !== undefined;
    return this.hold([request.nodeid], source, async (old) => {
      const { parent, name, path } = this.child(request, body);
      if (old === undefined) {
        // without a name: through an open handle, a file made by O_TMPFILE (linkat(2) refuses other files
        // that have none, before the kernel asks; the backing refuses them too)
        const fh = named ? undefined : this.anyHandle(source.id);
        if (fh === undefined) throw errorOf(named ? 'ESTALE' : 'ENOENT', `node ${source.id} ${named ? 'lost its name meanwhile' : 'was removed'}`);
        await this.posix.linkHandle(fh, path);
        return this.entryOf(parent, name, await this.posix.stat(path), source);
      }
      await this.ownPath(source, old);
      await this.posix.link(old, path);
      return this.entryOf(parent, name, await this.posix.stat(path));
    });
  }

  /** Records handle `fh` open on node `node`; the node's open handles. */
  private openFile(node: number, fh: number): Set<number> {
    const handles = this.openFiles.get(node) ?? new Set<number>();
    this.openFiles.set(node, handles.add(fh));
    return handles;
  }

  /**
   * A handle OPEN or CREATE made: what its reply says. With passthrough, the kernel reads and writes the
   * node's backing file itself; otherwise the data path serves its reads and writes when it can. The handle
   * holds its node (NativePort.hold): `held` when an OPEN's hold already does.
   */
  private opened(node: number, fh: number, held = false): Buffer {
    if (!held) this.native?.hold?.(node, 1);
    const handles = this.openFile(node, fh);
    const access = this.native ? this.posix.nativeAccess(fh) : undefined;
    // A file with set-user-ID/set-group-ID bits is not passed through: the kernel would write it as the
    // mount (root), which keeps them, where a write by another user must remove them (HANDLE_KILLPRIV_V2).
    const privileged = privilegeBits(this.posix.openedStat(fh).mode) !== 0;
    // A file still being filled is not either: the kernel would read its holes as zeros. Nor one the kernel
    // has open without passthrough (set-user-ID when that open was made): it takes an inode's opens all one
    // way or all the other while any is open, and fails the open (EIO) that breaks the rule.
    const openWithout = (): boolean => [...handles].some((other) => other !== fh && !this.passedThrough.has(other));
    if (
      access &&
      access.filling === undefined &&
      access.changeCell === undefined &&
      this.passthrough &&
      (!privileged || this.backings.has(node)) &&
      !openWithout()
    ) {
      const backing = this.backingOf(node, access.fd);
      if (backing !== undefined) {
        backing.handles.add(fh);
        this.passedThrough.add(fh);
        return openOut(fh, FOPEN.PASSTHROUGH, backing.id);
      }
    }
    if (access) this.native?.attach?.(fh, node, access);
    return openOut(fh, this.keepCache(node, this.posix.openedStat(fh), this.posix.writable(fh)) ? FOPEN.KEEP_CACHE : 0);
  }

  /**
   * Whether an OPEN of node `node`, whose file `stat` describes, keeps the kernel's page cache of it: only
   * when size, mtime and ctime are those the cache is known to match, so that a file changed beside the
   * mount (same size, new content) is read anew. The changes made through the mount are learned when the
   * last handle is released (released): the cache has them already. Records what the cache matches now.
   */
  private keepCache(node: number, stat: Stat, writable: boolean): boolean {
    const known = this.cached.get(node);
    const keep = known !== undefined && known.size === stat.size && known.mtimeNs === stat.mtimeNs && known.ctimeNs === stat.ctimeNs;
    this.cached.set(node, cachedAs(stat, writable || known?.written === true));
    return keep;
  }

  /** The node's backing file, registered from descriptor `fd` if it has none; undefined if refused. */
  private backingOf(node: number, fd: number): Backing | undefined {
    let backing = this.backings.get(node);
    if (backing === undefined) {
      const id = this.native?.backingOpen(fd) ?? -1;
      if (id < 0) {
        this.logger?.warn({ node, error: -id }, 'passthrough refused for a file: served without it');
        return undefined;
      }
      backing = { id, handles: new Set() };
      this.backings.set(node, backing);
    }
    return backing;
  }

  /**
   * Before an operation that depends on the size the storage knows (SEEK_DATA, copy_file_range,
   * fallocate): a passed-through handle's writes went around the storage, so its size is read anew.
   */
  private async sizeKnown(fh: number): Promise<void> {
    if (!this.passedThrough.has(fh)) return;
    const access = this.posix.nativeAccess(fh);
    if (access) access.sizeCell[0] = (await this.posix.fstat(fh)).size;
  }

  /**
   * OPEN: the node's file by its path, checked: the file opened must be the node's inode (its stat comes
   * with the open). O_TRUNC is applied after that check, through the handle, so that only the node's file is
   * ever truncated (by the open itself where inode numbers come from names).
   */
  private async open(request: Request): Promise<ReplyBody> {
    const { flags, openFlags } = openIn(request);
    const node = this.node(request.nodeid);
    this.opening.set(node.id, (this.opening.get(node.id) ?? 0) + 1);
    // held while under way; the hold becomes the handle's when it opens
    this.native?.hold?.(node.id, 1);
    let opened = false;
    try {
      // O_TRUNC empties the file (with write access, O_RDONLY too). Where inode numbers come from names (S3),
      // the file at the node's path is the node's by definition: the open empties it itself (a remote object
      // is then not fetched whole only to be cut)
      const wanted = writableIfTruncating(flags);
      const opening = this.writeback ? readableToo(wanted) : wanted;
      const truncateAtOpen = this.options.inodesFromNames === true && (flags & O.TRUNC) !== 0;
      const fh = await this.openChecked(node, opening & (truncateAtOpen ? ~0 : ~O.TRUNC));
      if (flags & O.TRUNC && !truncateAtOpen) {
        try {
          await this.posix.ftruncate(fh, 0);
        } catch (error) {
          await this.posix.release(fh);
          throw error;
        }
      }
      if (flags & O.TRUNC && openFlags & OPEN_KILL_SUIDGID) {
        try {
          await this.killPrivileges(node.id, fh);
        } catch (error) {
          await this.posix.release(fh);
          throw error;
        }
      }
      // recorded once nothing can fail: a handle of a failed OPEN gets no RELEASE
      const reply = this.opened(node.id, fh, true);
      opened = true;
      return reply;
    } finally {
      if (!opened) this.native?.hold?.(node.id, -1);
      const left = this.opening.get(node.id)! - 1;
      if (left > 0) this.opening.set(node.id, left);
      else {
        this.opening.delete(node.id);
        // it lost its name while this ran, and this OPEN failed: removed after all
        if (!this.nodes.linked(node)) this.nodeGone(node);
      }
    }
  }

  /**
   * A handle of node `node`'s file, opened by its path with `flags`. A file that is not the node's inode (or
   * none, or an error) means a name change along the path was under way: it is closed and the path opened
   * again while held (atPath), where a file still not the node's is ESTALE (changed beside the mount).
   */
  private async openChecked(node: Node, flags: number): Promise<number> {
    const path = this.nodes.path(node);
    if (path === undefined) throw this.unnamedError(node);
    const first = await this.posix.open(path, flags).catch(() => undefined);
    if (first !== undefined) {
      if (this.isNode(node, this.posix.openedStat(first)) || node === this.nodes.root) return first;
      await this.posix.release(first);
    }
    return this.atPath(
      node,
      async (now) => {
        const fh = await this.posix.open(now, flags);
        const opened = this.posix.openedStat(fh);
        if (this.isNode(node, opened)) return fh;
        await this.posix.release(fh);
        throw errorOf('ESTALE', `node ${node.id}: the file at its path is ${fileName(this.fileOf(opened))}, not ${fileName(node)}: changed beside the mount`);
      },
      undefined,
      true,
    );
  }

  /** CREATE: fuse_create_in (flags u32, mode u32, umask u32, open_flags u32), then the name. */
  private async create(request: Request): Promise<ReplyBody> {
    // the file the data path made already, when it did (native/src/fuse/data-path.cc ServeCreate): taken by the storage
    const made: MadeFile | undefined = request.created && { fd: request.created.fd, stat: decodeStatx(request.created.statx) };
    let path: string | undefined;
    try {
      const body = reader(request);
      const { flags, mode, umask } = createIn(body);
      const child = this.child(request, body);
      const { parent, name } = child;
      path = child.path;
      let fh: number;
      try {
        // made: with the caller's umask applied there, the directory having no default ACL
        const permission = made !== undefined ? made.stat.mode & 0o7777 : await this.creationMode(parent, mode, umask);
        fh = await this.posix.create(path, permission, made);
      } catch (error) {
        // without O_EXCL, a name made beside the mount while the kernel kept its absence: ESTALE has the
        // kernel look the name up again and OPEN the file there, with its permission checks (open(2) on a
        // name that exists; a successful CREATE would skip them)
        if (isCode(error, 'EEXIST') && (flags & O.EXCL) === 0) throw errorOf('ESTALE', `'${name}' was made beside the mount meanwhile`);
        throw error;
      }
      return await this.madeOpen(fh, parent, request, (stat) => this.nodes.lookedUp(parent, name, this.fileOf(stat)));
    } catch (error) {
      if (made !== undefined && !made.taken) await this.dropMade(made, path);
      throw error;
    }
  }

  /**
   * A file the data path made for a CREATE that failed before the storage took it: its descriptor closed,
   * its name `path` removed if still that file (best effort; the CREATE's error is what the caller hears).
   */
  private async dropMade(made: MadeFile, path: string | undefined): Promise<void> {
    closeSync(made.fd);
    if (path === undefined) return;
    try {
      const there = await this.posix.stat(path);
      if (there.ino === made.stat.ino && there.birthtimeNs === made.stat.birthtimeNs) await this.posix.unlink(path);
    } catch {
      // its parent or its name is gone already
    }
  }

  /**
   * A CREATE the data path made and answered (native/src/fuse/data-path.cc AnswerCreate) with the slot of
   * node `told.node` and handle `told.fh`: it attached the file (a duplicate of `told.fd`, its own), named it,
   * and holds the node for the handle. Here, before anything else is handled, the table learns the node and
   * the handle; then the storage takes the file (`told.fd`), while every request waits (takingCreated).
   */
  answeredHere(request: Request, told: AnsweredCreate): Promise<void> {
    const released = this.releasedUntaken.get(told.fh);
    this.releasedUntaken.delete(told.fh);
    if (released !== undefined && this.takeReleased(request, told)) return Promise.resolve();
    const used = this.createSlots?.use(told.fh, (slot) => this.takeAnswered(request, told, slot));
    if (!used) {
      closeSync(told.fd);
      throw new Error(`a CREATE answered with handle ${told.fh}, which no slot had`);
    }
    this.createSlots?.fill();
    if (released === undefined) return used.taken;
    // the release it came after, as KernelMount.released does it
    return used.taken.then(() =>
      this.released(told.fh, released, true).catch((error: unknown) => this.logger?.warn({ fh: told.fh, err: error }, 'closing a released file failed')),
    );
  }

  /**
   * answeredHere of a file already released (a create and close, such as fio's or touch's, with both reports
   * in one wake-up): the table learns the node, the page cache's state is noted, and the descriptor JavaScript
   * was given is closed, at once; the storage never takes the file (it would close it again straight away).
   * No hold is waited for: the path serves only to forget absent attributes there, which a rename under way
   * along it forgets again for its whole subtree when it ends. False, with nothing done, when the directory
   * or the slot is unknown (answeredHere's usual way then fails and says so).
   */
  private takeReleased(request: Request, told: AnsweredCreate): boolean {
    const parent = this.nodes.get(request.nodeid);
    const slot = parent && this.createSlots?.drop(told.fh);
    if (!parent || !slot) return false;
    this.madeAndClosed++;
    let path: string | undefined;
    try {
      const made = decodeStatx(told.statx);
      const { node } = this.createdHere(request, parent, made, told);
      path = this.nodes.path(node);
      // written through the data path: as the writes left it (what the last release's learnWritten learns)
      this.cached.set(node.id, cachedAs(slot.sizeCell[0] === made.size ? made : statxOfDescriptor(told.fd), false));
    } catch (error) {
      this.logger?.error({ err: error, fh: told.fh, node: told.node }, 'a file the data path made and released could not be learned');
    } finally {
      this.posix.madeAndClosed(path, told.fh);
      closeSync(told.fd);
    }
    this.createSlots?.fill();
    return true;
  }

  /** The table's part of a CREATE the data path answered in `parent` (takeAnswered, takeReleased): the node of the request's name. */
  private createdHere(request: Request, parent: Node, stat: Stat, told: AnsweredCreate): { node: Node; name: string } {
    const body = reader(request);
    createIn(body);
    const name = decodeName(body.name());
    return { node: this.nodes.created(parent, name, this.fileOf(stat), told.node), name };
  }

  /** answeredHere's work: the table's part at once, the storage's after. */
  private async takeAnswered(request: Request, told: AnsweredCreate, slot: CreateSlot): Promise<void> {
    const made: MadeFile = { fd: told.fd, stat: decodeStatx(told.statx), sizeCell: slot.sizeCell };
    try {
      const parent = this.node(request.nodeid);
      const { node, name } = this.createdHere(request, parent, made.stat, told);
      this.openFile(node.id, told.fh);
      this.cached.set(node.id, cachedAs(made.stat, true));
      // by the directory's path once no rename along it is under way (as the CREATE JavaScript answers)
      await this.atPath(parent, (directory) => this.posix.adopt(joinPath(directory, name), made, told.fh));
      // a file the storage had open already keeps its own size cell: the data path is pointed at it
      const access = this.posix.nativeAccess(told.fh);
      if (access && access.sizeCell !== slot.sizeCell) {
        this.native?.attach?.(told.fh, node.id, access);
        if (slot.sizeCell[0]! > access.sizeCell[0]!) access.sizeCell[0] = slot.sizeCell[0]!;
      }
    } catch (error) {
      if (!made.taken) closeSync(made.fd);
      // the data path still serves the handle's reads and writes on its own descriptor; what JavaScript
      // serves for it is EBADF, and the storage knows the file when it is opened again
      this.logger?.error({ err: error, fh: told.fh }, 'the storage could not take a file the data path made and answered for');
    }
  }

  /**
   * TMPFILE (open(2) with O_TMPFILE): CREATE's body, whose name the kernel made up ("/"). A file with no name
   * in the directory node's file system, open; its node has no path (as an unlinked open file's) until a
   * LINK names it through the handle (link). Served where the storage makes such files (local).
   */
  private async tmpfile(request: Request): Promise<ReplyBody> {
    const { mode, umask } = createIn(reader(request));
    const parent = this.node(request.nodeid);
    const fh = await this.atPath(parent, async (path) => this.posix.createUnnamed(path, await this.creationMode(parent, mode, umask)));
    return this.madeOpen(fh, parent, request, (stat) => this.nodes.unnamed(this.fileOf(stat)));
  }

  /** The reply to a CREATE or TMPFILE that made and opened handle `fh` in `parent`, whose node `node` gives (released on failure). */
  private async madeOpen(fh: number, parent: Node, request: Request, node: (stat: EntryStat) => Node): Promise<ReplyBody> {
    try {
      // the file as made, unless a chown for the caller changed it since
      const stat = (await this.ownedByCaller({ fh }, parent, request)) ? await this.posix.fstat(fh) : this.posix.openedStat(fh);
      const made = node(stat);
      return [this.entry(made, stat), this.opened(made.id, fh)];
    } catch (error) {
      await this.posix.release(fh);
      throw error;
    }
  }

  private async read(request: Request): Promise<ReplyBody> {
    const { fh, offset, size } = readIn(request);
    const buffer = Buffer.allocUnsafe(size);
    const n = await this.posix.read(fh, buffer, size, offset);
    return buffer.subarray(0, n);
  }

  private async write(request: Request): Promise<ReplyBody> {
    const { fh, offset, data, writeFlags } = writeIn(request);
    if (writeFlags & WRITE_KILL_SUIDGID) await this.killPrivileges(request.nodeid, fh);
    return writeOut(await this.posix.write(fh, data, data.length, offset));
  }

  /**
   * HANDLE_KILLPRIV_V2: a write, truncate or O_TRUNC open by a user without CAP_FSETID removes the file's
   * set-user-ID and set-group-ID bits (the kernel leaves that to us, and the backing file system would not
   * do it: the mount writes as root). Once a node is known to have none, later writes cost nothing.
   */
  private async killPrivileges(id: number, fh: number | undefined, path?: string): Promise<void> {
    if (this.unprivileged.has(id)) return;
    // by `path` only when the caller holds it (SETATTR); else through the handle
    const stat = await (fh === undefined && path !== undefined ? this.posix.stat(path) : this.statOf(id, fh));
    const bits = privilegeBits(stat.mode);
    if (bits !== 0) {
      const mode = stat.mode & 0o7777 & ~bits;
      await (fh !== undefined || path === undefined ? this.posix.fchmod(fh ?? this.anyHandle(id)!, mode) : this.posix.chmod(path, mode));
      this.attributesChanged(id);
    }
    this.unprivileged.add(id);
  }

  /**
   * Tells the kernel its cached attributes of node `id` are stale (a change it did not ask for, such as
   * the privileges a write removed: a WRITE reply carries no attributes).
   */
  private attributesChanged(id: number): void {
    const body = Buffer.alloc(24);
    body.writeBigUInt64LE(BigInt(id), 0);
    body.writeBigInt64LE(-1n, 8); // attributes only, no page-cache range
    this.notify(Notify.INVAL_INODE, body);
  }

  private async release(request: Request): Promise<ReplyBody> {
    await this.released(fhIn(request).fh, request.nodeid);
    return undefined;
  }

  /**
   * Handle `fh` of `node` is released (here, or `byDataPath`, which answered the RELEASE and dropped the
   * handle's hold of its node). The last one
   * of a node with a handle open for writing since its last OPEN learns the file as the writes left it: the
   * page cache has them (keepCache).
   */
  async released(fh: number, node: number, byDataPath = false): Promise<void> {
    // a file the data path made, released before JavaScript heard of its CREATE (whose report is handled
    // after the releases of its wake-up): answeredHere closes it
    if (byDataPath && this.createSlots?.isUnused(fh)) {
      this.releasedUntaken.set(fh, node);
      return;
    }
    // a file the data path made, released before the storage took it
    const taking = this.createSlots?.takenBy(fh);
    if (taking) await taking;
    const handles = this.openFiles.get(node);
    if (handles?.delete(fh) && !byDataPath) this.native?.hold?.(node, -1);
    const last = handles?.size === 0;
    if (last) this.openFiles.delete(node);
    const learning = last && this.cached.get(node)?.written ? this.learnWritten(node, fh) : undefined;
    const backing = this.backings.get(node);
    if (backing?.handles.delete(fh) && backing.handles.size === 0) {
      this.backings.delete(node);
      this.native?.backingClose(backing.id);
    }
    this.passedThrough.delete(fh);
    await learning;
    return this.posix.release(fh);
  }

  /** What the page cache of `node` matches after its writes: handle `fh`'s stat (none known if it fails). */
  private async learnWritten(node: number, fh: number): Promise<void> {
    try {
      const stat = await this.posix.fstat(fh);
      // an OPEN meanwhile recorded its own stat
      if (!this.openFiles.has(node)) this.cached.set(node, cachedAs(stat, false));
    } catch {
      this.cached.delete(node);
    }
  }

  private async fsync(request: Request): Promise<ReplyBody> {
    const { fh, flags } = fhIn(request);
    await this.posix.fsync(fh, (flags & FSYNC_FDATASYNC) !== 0);
    return undefined;
  }

  /**
   * FALLOCATE: fuse_fallocate_in (fh u64, offset u64, length u64, mode u32, padding u32). The kernel passes
   * on KEEP_SIZE, PUNCH_HOLE and ZERO_RANGE only; the storage refuses other combinations (EOPNOTSUPP).
   */
  private async fallocate(request: Request): Promise<ReplyBody> {
    const body = reader(request);
    const fh = body.u64();
    const offset = body.u64();
    const length = body.u64();
    await this.sizeKnown(fh);
    await this.posix.fallocate(fh, offset, length, body.u32());
    return undefined;
  }

  /**
   * LSEEK: the kernel asks for SEEK_DATA and SEEK_HOLE (it moves SET, CUR and END itself). With the
   * writeback cache the storage cannot answer: written data may still be in the kernel's page cache, past
   * the storage's end or over what it holds as a hole (and cp would skip it as one). ENOSYS then, and the
   * kernel answers from its own size for the rest of the mount: data up to the end, the hole at the end.
   */
  private async lseek(request: Request): Promise<ReplyBody> {
    if (this.writeback) throw errorOf('ENOSYS', 'SEEK_DATA/SEEK_HOLE with the writeback cache: the kernel answers from its own size');
    const { fh, offset, whence } = lseekIn(request);
    await this.sizeKnown(fh);
    return lseekOut(await this.posix.lseek(fh, offset, whence));
  }

  /**
   * COPY_FILE_RANGE_64 (7.45: the count comes back as a u64), which the kernel tries first, and
   * COPY_FILE_RANGE (the count in fuse_write_out's u32, so at most COPY_FILE_RANGE_MAX_32 bytes). The data
   * never passes through here: the storage has the kernel copy it between the backing files.
   */
  private async copyFileRange(request: Request, wide: boolean): Promise<ReplyBody> {
    const c = copyFileRangeIn(request);
    if (!this.openFiles.get(c.nodeOut)?.has(c.fhOut)) throw errorOf('EBADF', `no open file ${c.fhOut} on node ${c.nodeOut}`);
    if (c.flags !== 0) throw errorOf('EINVAL', `copy_file_range flags ${c.flags}: there are none`);
    const length = wide ? c.length : Math.min(c.length, COPY_FILE_RANGE_MAX_32);
    await this.sizeKnown(c.fhIn);
    await this.sizeKnown(c.fhOut);
    const copied = await this.posix.copyFileRange(c.fhIn, c.offsetIn, c.fhOut, c.offsetOut, length);
    return wide ? copyFileRangeOut(copied) : writeOut(copied);
  }

  /**
   * OPENDIR opens the directory (holding its path) and takes the listing; READDIR(PLUS) pages through it
   * by index and stats through the open directory (its descriptor), so a rename of it or of one above
   * changes nothing for the listing and waits for none of it. Where the storage has no descriptor (a
   * remote tier), the listing and its stats go by the directory's path, held.
   */
  private async opendir(request: Request): Promise<ReplyBody> {
    const node = this.node(request.nodeid);
    const { dh, entries } = await this.atPath(node, async (path) => {
      const dh = await this.posix.openDirectory(path);
      if (dh === undefined) return { dh, entries: await this.posix.list(path) };
      return {
        dh,
        entries: await this.posix.listDirectory(dh).catch(async (error: unknown) => {
          await this.posix.closeDirectory(dh);
          throw error;
        }),
      };
    });
    const fh = this.nextDirHandle++;
    this.dirs.set(fh, { node, dh, names: [Buffer.from('.'), Buffer.from('..'), ...entries.map((entry) => bytesOf(entry.name))] });
    // a directory listed is given to the data path: the names of its READDIRPLUS entries become known there
    // (a cold `ls -l` asks two GETXATTRs of each: the data path lists their attributes itself, node-table.h)
    this.attachDirectory(node.id);
    return openOut(fh, 0);
  }

  private async releasedir(request: Request): Promise<ReplyBody> {
    const { fh } = fhIn(request);
    const dir = this.dirs.get(fh);
    this.dirs.delete(fh);
    if (dir?.dh !== undefined) await this.posix.closeDirectory(dir.dh);
    return undefined;
  }

  /** The stats of a page's entries (`index` into dir.names; '.' and '..' the directory's own), ENOENT undefined. */
  private async pageStats(dir: OpenDir, page: number[], plus: boolean): Promise<{ stats: Array<EntryStat | undefined>; seen: Seen }> {
    const statAll = (stat: (name?: string) => Promise<EntryStat>) =>
      Promise.all(
        page.map((index) => {
          if (index < 2) return plus ? stat() : undefined;
          return stat(decodeName(dir.names[index]!)).catch((error: unknown) => {
            if ((error as { code?: string }).code === 'ENOENT') return undefined;
            throw error;
          });
        }),
      );
    const { dh } = dir;
    if (dh !== undefined) {
      const seen: Seen = { removals: this.removals, renames: undefined };
      return { stats: await statAll((name) => this.posix.statInDirectory(dh, name)), seen };
    }
    // by the directory's path, held (atPath): a rename of it or of a directory above waits for them
    let seen = this.seen();
    const stats = await this.atPath(
      dir.node,
      (dirPath) => {
        seen = this.seen();
        return statAll((name) => this.posix.stat(name === undefined ? dirPath : joinPath(dirPath, name)));
      },
      async () => page.map(() => undefined),
    );
    return { stats, seen };
  }

  /**
   * READDIR and READDIRPLUS: the entries from index `offset` that fit in `size` bytes; each carries the
   * offset of the next. The page's entries are stat-ed together (pageStats). READDIRPLUS brings each
   * entry's attributes and counts as a lookup of it, except for '.' and '..' (node id 0: the kernel takes
   * nothing from them). An entry that vanished since OPENDIR is skipped.
   */
  private async readdir(request: Request, plus: boolean): Promise<ReplyBody> {
    const { fh, offset, size } = readIn(request);
    const dir = this.dirs.get(fh);
    if (!dir) throw errorOf('EBADF', `no open directory ${fh}`);
    const sizeOf = (index: number) => (plus ? direntplusSize : direntSize)(dir.names[index]!.length);
    const page: number[] = [];
    for (let index = offset, room = size; index < dir.names.length && sizeOf(index) <= room; index++) {
      room -= sizeOf(index);
      page.push(index);
    }
    const { stats, seen } = await this.pageStats(dir, page, plus);
    const out = Buffer.alloc(size);
    let used = 0;
    page.forEach((index, i) => {
      const name = dir.names[index]!;
      const dots = index < 2;
      const stat = stats[i];
      if (!stat && !dots) return;
      const ino = stat?.ino ?? 1n; // '.' and '..' of plain READDIR: the kernel does not use their inode numbers
      const type = stat ? direntType(stat.mode) : 4;
      if (plus) {
        // the stats are of the node's own directory (its descriptor, or its path held), and the kernel
        // holds its lock, so its names change only beside the mount (an entry that disagrees with the
        // table is learned, as a LOOKUP's would be); an entry stat-ed by path gives no node when a rename
        // began since (the kernel looks it up when it wants it). A name merely leaving the directory
        // meanwhile (a LOOKUP beside it) does not stop it: on S3 a renamed directory must move to its new
        // node (c09a29f; `mv d e; ls e` failed ESTALE otherwise)
        const named = dots || !stat ? undefined : decodeName(name);
        const learn = named !== undefined && (this.stillTrue(dir.node, named, stat, seen) || this.noRenameSince(seen));
        const node = learn ? this.nodes.lookedUp(dir.node, named, this.fileOf(stat!)) : undefined;
        writeEntry(out, used, node?.id ?? 0, node ? stat : undefined, this.entryValid, this.attrValid);
        writeDirent(out, used + Size.ENTRY_OUT, ino, index + 1, type, name);
      } else {
        writeDirent(out, used, ino, index + 1, type, name);
      }
      used += sizeOf(index);
    });
    return out.subarray(0, used);
  }

  // Extended attributes. A size of 0 asks for the size only; a value longer than `size` is ERANGE.

  private sized(value: Buffer, size: number): Buffer {
    if (size === 0) return xattrSizeOut(value.length);
    if (value.length > size) throw errorOf('ERANGE', `the value (${value.length} bytes) is longer than ${size} bytes`);
    return value;
  }

  /**
   * GETXATTR: fuse_getxattr_in (size u32, padding u32), then the attribute name. An absence is the data
   * path's to answer next time, unless an attribute was set or removed while it was being found out. The
   * first GETXATTR of a node lists its attributes instead (one call either way): most files have none,
   * and then the data path answers every later GETXATTR of the node (`ls -l` asks two of every file) with
   * a name the storage was seen to answer ENODATA (absentName); another name is asked for.
   */
  private async getxattr(request: Request): Promise<ReplyBody> {
    const body = reader(request);
    const size = body.u32();
    const name = decodeName(body.skip(4).name());
    const node = this.node(request.nodeid);
    const changes = this.xattrChanges;
    const learned = () => changes === this.xattrChanges;
    try {
      if (this.native?.noXattrs && !this.xattrsListed.has(node.id)) {
        if (this.xattrsListed.size >= XATTRS_LISTED) this.xattrsListed.clear();
        this.xattrsListed.add(node.id);
        const names = await this.atPathOrHandle(
          node,
          (path) => this.posix.listxattr(path),
          (fh) => this.posix.flistxattr(fh),
        );
        const none = names.length === 0 && learned() && this.native.noXattrs(node.id);
        if (none && isWellFormed(name) && this.native.absentName?.(name)) throw errorOf('ENODATA', `no attribute ${name}`);
      }
      const value = await this.atPathOrHandle(
        node,
        (path) => this.posix.getxattr(path, name),
        (fh) => this.posix.fgetxattr(fh, name),
      );
      return this.sized(value, size);
    } catch (error) {
      if (isCode(error, 'ENODATA') && learned() && isWellFormed(name)) this.native?.absentXattr?.(node.id, name);
      throw error;
    }
  }

  /**
   * Sets or removes an attribute (`change`): what is known absent is forgotten before it (no absence is
   * answered natively while it runs) and after it (an absence found out meanwhile is not learned: see getxattr).
   */
  private async changeXattr(change: () => Promise<void>): Promise<void> {
    this.xattrChanges++;
    this.native?.forgetXattrs?.();
    try {
      await change();
    } finally {
      this.xattrChanges++;
      this.native?.forgetXattrs?.();
    }
  }

  /** LISTXATTR: fuse_getxattr_in; the answer is the names, each NUL-terminated. */
  private async listxattr(request: Request): Promise<ReplyBody> {
    const size = reader(request).u32();
    const node = this.node(request.nodeid);
    const names = await this.atPathOrHandle(
      node,
      (path) => this.posix.listxattr(path),
      (fh) => this.posix.flistxattr(fh),
    );
    const list = Buffer.concat(names.flatMap((name) => [typeof name === 'string' ? encodeName(name) : name, Buffer.of(0)]));
    return this.sized(list, size);
  }

  /**
   * SETXATTR: fuse_setxattr_in (size u32, flags u32; with SETXATTR_EXT setxattr_flags u32 and a u32 of
   * padding), the name, the value. An access ACL set with FUSE_SETXATTR_ACL_KILL_SGID drops the file's
   * set-group-ID bit, as Linux does when the caller is neither in the file's group nor privileged (the
   * mount sets it as root, so the backing file system keeps the bit).
   */
  private async setxattr(request: Request): Promise<ReplyBody> {
    const body = reader(request);
    const size = body.u32();
    const flags = body.u32();
    const killSgid = this.setxattrExt && (body.u32() & SETXATTR_ACL_KILL_SGID) !== 0;
    if (this.setxattrExt) body.skip(4);
    const name = decodeName(body.name());
    const value = body.rest();
    if (value.length !== size) throw errorOf('EINVAL', `a value of ${size} bytes carried ${value.length}`);
    const id = request.nodeid;
    const node = this.node(id);
    // An access ACL set by a caller outside the file's group: the set-group-ID bit goes (by path or handle).
    const killed = async (stat: () => Promise<EntryStat>, chmod: (mode: number) => Promise<void>) => {
      if (!killSgid || name !== POSIX_ACL_ACCESS) return;
      const { mode } = await stat();
      if ((mode & S_ISGID) === 0) return;
      await chmod(mode & 0o7777 & ~S_ISGID);
      this.attributesChanged(id);
    };
    await this.changeXattr(() =>
      this.atPathOrHandle(
        node,
        async (path) => {
          await this.posix.setxattr(path, name, Buffer.from(value), flags);
          await killed(
            () => this.posix.stat(path),
            (mode) => this.posix.chmod(path, mode),
          );
        },
        async (fh) => {
          await this.posix.fsetxattr(fh, name, Buffer.from(value), flags);
          await killed(
            () => this.posix.fstat(fh),
            (mode) => this.posix.fchmod(fh, mode),
          );
        },
        true,
      ),
    );
    return undefined;
  }

  /**
   * `byPath` with node `node`'s path (atPath; atOwnPath when `own`: a change), or, when the node has no
   * name (unlinked while open, or made by O_TMPFILE), `byHandle` through one of its open handles, as
   * fgetxattr(2) and its kind reach an open file; without one, the error of a node without a name.
   */
  private atPathOrHandle<T>(node: Node, byPath: (path: string) => Promise<T>, byHandle: (fh: number) => Promise<T>, own = false): Promise<T> {
    const named = this.nodes.path(node) !== undefined;
    const unnamed = () => {
      const fh = this.anyHandle(node.id);
      return fh === undefined ? Promise.reject(this.unnamedError(node, named)) : byHandle(fh);
    };
    return own ? this.atOwnPath(node, byPath, unnamed) : this.atPath(node, byPath, unnamed);
  }

  private async removexattr(request: Request): Promise<ReplyBody> {
    const name = decodeName(reader(request).name());
    const node = this.node(request.nodeid);
    await this.changeXattr(() =>
      this.atPathOrHandle(
        node,
        (path) => this.posix.removexattr(path, name),
        (fh) => this.posix.fremovexattr(fh, name),
        true,
      ),
    );
    return undefined;
  }

  forget(request: Request): void {
    this.forgotten(request.nodeid, reader(request).u64());
  }

  private forgotten(id: number, count: number): void {
    this.nodes.forget(id, count);
  }

  /** BATCH_FORGET: fuse_batch_forget_in (count u32, dummy u32), then count x (nodeid u64, nlookup u64). */
  batchForget(request: Request): void {
    const body = reader(request);
    const count = body.u32();
    body.skip(4);
    for (let i = 0; i < count; i++) this.forgotten(body.u64(), body.u64());
  }
}
