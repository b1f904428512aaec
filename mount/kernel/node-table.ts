// The node table: what each node id the kernel holds stands for. A node is one inode of the backing store,
// known under one or more names (hard links), each a name in a parent node; its path is rebuilt by walking
// up to the root, so a renamed directory moves its whole subtree at once. The kernel counts its lookups of
// a node and returns them with FORGET/BATCH_FORGET; a node whose count reaches zero is dropped.
//
// Why one node per inode and not per name: the kernel keeps a file's attributes and page cache per node.
// With a node per name, a write through one hard link would leave the other name's cached pages and nlink
// stale; with one node, the kernel sees what POSIX says: two names of one file.
//
// Node ids are 64-bit and never reused while mounted (so the generation can stay 0). A node that lost its
// last name stays while the kernel holds it (a file may still be open) but has no path, and its inode
// number is released at once: the backing file system may give it to a new file, which must be a new node.
//
// Known names (native/src/fuse/node-table.h): each name the table gives a node is told to `names`, and each
// it takes away, before the reply of the request that changed it, so that the data path can answer a
// LOOKUP of a name whose node is known without JavaScript. Those lookups are counted on the native side;
// a FORGET that brings a node's count here to zero settles it with them (one native call under the native
// mutex), and only a total of zero forgets it.
//
// Forgotten nodes kept: a node the kernel forgot (its total at zero) while it still has a name is kept, up
// to `keepForgotten` of them (oldest let go first), with its names known to the data path: the kernel drops
// its inodes when the memory is wanted (and drop_caches), and the next LOOKUP of the name gives the same node
// again, answered natively. A node id may be given again after FORGET: for the kernel it is a new inode of
// that id (node-table.h). Such a node is only ever reached by its own names: a lookup by another name of
// its inode number (a hard link, or the number reused by a file made beside the mount) lets it go first,
// unless the data path gave it out meanwhile.
//
// Names are name strings (ground/name-bytes.ts): the kernel's bytes, with bytes that are not UTF-8
// escaped, so a path is a lossless string and two byte-distinct names never meet.
import { FUSE_ROOT_ID } from './protocol.js';

/** One name of a node: `name` in directory node `parent`. */
export interface Link {
  readonly parent: Node;
  readonly name: string;
}

/**
 * What tells one backing file from another: its inode number, and its birth time (ns) where the backing has
 * one (0n where not: S3, whose inode numbers come from names). ext4 gives a new file the number of one just
 * deleted, so a file made beside the mount can carry the number of a node the table still has.
 */
export interface FileId {
  readonly ino: bigint;
  readonly born: bigint;
}

/** Whether `a` and `b` are one file: the same inode number, born at the same time where both say. */
export const sameFile = (a: FileId, b: FileId): boolean => a.ino === b.ino && (a.born === b.born || a.born === 0n || b.born === 0n);

/** A file as a message names it: `inode 12`, or `inode 12 born 1764...` where its birth time is known. */
export const fileName = (file: FileId): string => `inode ${file.ino}${file.born === 0n ? '' : ` born ${file.born}`}`;

export interface Node {
  readonly id: number;
  /**
   * the inode number in the backing store (0n for the root, which is never looked up); where numbers come
   * from names (NodeTable's identityByName), the number its name has now
   */
  ino: bigint;
  /** its birth time (0n where unknown) */
  readonly born: bigint;
  /** the node's names, oldest first; empty once every name was unlinked */
  links: Link[];
  lookups: number;
}

const keyOf = (parent: Node, name: string): string => `${parent.id}/${name}`;

/** The data path's table of known names (native/src/fuse/node-table.h). */
export interface KnownNames {
  /** `name` in `parent` is node `node` (its inode number and birth time) */
  named(parent: Node, name: string, node: Node): void;
  /** `name` in `parent` names that node no longer */
  unnamed(parent: Node, name: string): void;
  /** JavaScript's count `lookups` of node `id` plus the lookups answered natively (taken); with `drop`, a total of 0 also removes its names */
  settle(id: number, lookups: number, drop: boolean): number;
}

export class NodeTable {
  private readonly nodes = new Map<number, Node>();
  /** (parent id, name) -> the node known under that name */
  private readonly byName = new Map<string, Node>();
  /** inode number -> the node of the file with that number (see FileId), while it has a name */
  private readonly byIno = new Map<bigint, Node>();
  private nextId = FUSE_ROOT_ID + 1;
  readonly root: Node = { id: FUSE_ROOT_ID, ino: 0n, born: 0n, links: [], lookups: 1 };

  /** nodes the kernel forgot that are kept with their names, oldest first */
  private readonly forgotten = new Set<Node>();

  /**
   * `gone` hears of every node that lost its last name or was dropped (once for each); `dropped` of every node
   * that leaves the table (whatever is kept per node id elsewhere goes with it).
   */
  constructor(
    private readonly gone: (node: Node) => void = () => {},
    private readonly names?: KnownNames,
    private readonly keepForgotten = 0,
    private readonly dropped: (node: Node) => void = () => {},
    /**
     * the backing's inode numbers are made from names (S3: a key's hash): a name is its file, whatever
     * number it has now (a rename of it or of a directory above gives it another), and two names are never
     * one file (no hard links), even where their numbers meet (a new file at a renamed one's old name)
     */
    private readonly identityByName = false,
  ) {
    this.nodes.set(this.root.id, this.root);
  }

  get(id: number): Node | undefined {
    return this.nodes.get(id);
  }

  /** The node the table knows as `name` in `parent`, if any. */
  at(parent: Node, name: string): Node | undefined {
    return this.byName.get(keyOf(parent, name));
  }

  /** The path of a node from the root ('' for the root), or undefined for a node without a name. */
  path(node: Node): string | undefined {
    const names: string[] = [];
    for (let at = node; at !== this.root; ) {
      const link = at.links[0];
      if (!link) return undefined;
      names.push(link.name);
      at = link.parent;
    }
    return names.reverse().join('/');
  }

  /** Whether `node` still has a name. */
  linked(node: Node): boolean {
    return node === this.root || node.links.length > 0;
  }

  /**
   * A successful lookup of `name` in `parent`, which is file `file` (LOOKUP, CREATE, MKDIR, LINK, ... and
   * each READDIRPLUS entry). Another name of a known file gives its node; a name that now names another
   * file than the table thought (changed behind the mount's back) is moved to that file's node. A file with
   * the inode number of a known node but another birth time is a new file (the node's was deleted).
   * `unnamed`: the node without a name that `file` is (a file made by O_TMPFILE, named by LINK).
   */
  lookedUp(parent: Node, name: string, file: FileId, unnamed?: Node): Node {
    const key = keyOf(parent, name);
    let node = this.byName.get(key);
    // a node the name gave before, which is not the unnamed node being named, is stale (the file it stood
    // for went beside the mount; without birth times its inode number may be the new file's)
    if (node && (unnamed ? node !== unnamed : !this.identityByName && !sameFile(node, file))) {
      this.unlinked(parent, name);
      node = undefined;
    }
    // the number a rename gave the name's file (identityByName)
    if (node && this.identityByName) node.ino = file.ino;
    if (!node) {
      node = unnamed ?? (this.identityByName ? undefined : this.byIno.get(file.ino));
      if (node && !sameFile(node, file)) node = undefined;
      // a forgotten node is reached by its own names only (see above)
      if (node && this.forgotten.has(node) && this.letGo(node)) node = undefined;
      if (!node) {
        node = { id: this.nextId++, ino: file.ino, born: file.born, links: [], lookups: 0 };
        this.nodes.set(node.id, node);
      }
      if (node.links.length === 0 && !this.identityByName) this.byIno.set(file.ino, node);
      node.links.push({ parent, name });
      this.byName.set(key, node);
    }
    this.names?.named(parent, name, node);
    this.forgotten.delete(node);
    node.lookups++;
    return node;
  }

  /** A node id no node has or will be given, for a node the data path makes (created). */
  reserveId(): number {
    return this.nextId++;
  }

  /**
   * A file the data path made as `name` in `parent` (O_CREAT|O_EXCL: the name was free there) and answered for
   * with node id `id` (reserveId), which is `file`: a new node the kernel holds once. What the table had under
   * the name went beside the mount.
   */
  created(parent: Node, name: string, file: FileId, id: number): Node {
    const key = keyOf(parent, name);
    const replaced = this.byName.has(key);
    if (replaced) this.unlinked(parent, name);
    const node: Node = { id, ino: file.ino, born: file.born, links: [{ parent, name }], lookups: 1 };
    this.nodes.set(id, node);
    if (!this.identityByName) this.byIno.set(file.ino, node);
    this.byName.set(key, node);
    // the data path named it as it answered (AnswerCreate): again only where the unlink above took that name
    if (replaced) this.names?.named(parent, name, node);
    return node;
  }

  /**
   * A file made without a name (O_TMPFILE), which is `file`: a new node the kernel holds once, with no path
   * and not found by its inode number (as a node that lost its names) until a LINK names it (lookedUp).
   */
  unnamed(file: FileId): Node {
    const node: Node = { id: this.nextId++, ino: file.ino, born: file.born, links: [], lookups: 1 };
    this.nodes.set(node.id, node);
    return node;
  }

  /** The kernel dropped `count` lookups of node `id` (FORGET). */
  forget(id: number, count: number): void {
    const node = this.nodes.get(id);
    if (!node || node === this.root) return;
    node.lookups -= count;
    if (node.lookups > 0) return;
    const keep = this.keepForgotten > 0 && node.links.length > 0;
    if (this.names) node.lookups = this.names.settle(id, node.lookups, !keep);
    if (node.lookups > 0) return;
    if (keep) {
      this.forgotten.delete(node);
      this.forgotten.add(node);
      if (this.forgotten.size > this.keepForgotten) this.letGo(this.forgotten.values().next().value!);
      return;
    }
    this.drop(node);
  }

  /**
   * Drops forgotten node `node` unless the data path gave it out again since (then it is the kernel's again,
   * with that count): whether it was dropped.
   */
  private letGo(node: Node): boolean {
    this.forgotten.delete(node);
    if (this.names) node.lookups = this.names.settle(node.id, node.lookups, true);
    if (node.lookups > 0) return false;
    this.drop(node);
    return true;
  }

  /** Node `node` leaves the table (its native names are gone already, or never were). */
  private drop(node: Node): void {
    this.nodes.delete(node.id);
    for (const link of node.links) this.byName.delete(keyOf(link.parent, link.name));
    const named = node.links.length > 0;
    node.links = [];
    if (this.byIno.get(node.ino) === node) this.byIno.delete(node.ino);
    if (named) this.gone(node);
    this.dropped(node);
  }

  /** `name` left `parent` (UNLINK, RMDIR, or replaced by a rename); returns the node it named, if known. */
  unlinked(parent: Node, name: string): Node | undefined {
    const key = keyOf(parent, name);
    const node = this.byName.get(key);
    if (!node) return undefined;
    this.byName.delete(key);
    this.names?.unnamed(parent, name);
    node.links = node.links.filter((link) => link.parent !== parent || link.name !== name);
    if (node.links.length === 0) {
      // a forgotten node that lost its last name goes, unless the data path gave it out meanwhile
      if (this.forgotten.has(node) && this.letGo(node)) {
        this.gone(node);
        return node;
      }
      if (this.byIno.get(node.ino) === node) this.byIno.delete(node.ino);
      this.gone(node);
    }
    return node;
  }

  /** `name` of `parent` is now `newName` of `newParent` (RENAME); whatever was there is unlinked. */
  renamed(parent: Node, name: string, newParent: Node, newName: string): void {
    const node = this.byName.get(keyOf(parent, name));
    if (node && this.byName.get(keyOf(newParent, newName)) === node) return; // two names of one file: a no-op
    this.unlinked(newParent, newName);
    if (!node) return;
    this.byName.delete(keyOf(parent, name));
    this.names?.unnamed(parent, name);
    this.relink(node, parent, name, { parent: newParent, name: newName });
  }

  /** RENAME_EXCHANGE: the two names swap their nodes. */
  exchanged(parent: Node, name: string, newParent: Node, newName: string): void {
    const a = this.byName.get(keyOf(parent, name));
    const b = this.byName.get(keyOf(newParent, newName));
    this.byName.delete(keyOf(parent, name));
    this.byName.delete(keyOf(newParent, newName));
    this.names?.unnamed(parent, name);
    this.names?.unnamed(newParent, newName);
    if (a) this.relink(a, parent, name, { parent: newParent, name: newName });
    if (b) this.relink(b, newParent, newName, { parent, name });
  }

  /** Replaces the link (`parent`, `name`) of `node` by `to`. */
  private relink(node: Node, parent: Node, name: string, to: Link): void {
    const index = node.links.findIndex((link) => link.parent === parent && link.name === name);
    if (index >= 0) node.links[index] = to;
    else node.links.push(to);
    this.byName.set(keyOf(to.parent, to.name), node);
    this.names?.named(to.parent, to.name, node);
  }

  get size(): number {
    return this.nodes.size;
  }
}
