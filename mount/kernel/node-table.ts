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
// Names are name strings (ground/name-bytes.ts): the kernel's bytes, with bytes that are not UTF-8
// escaped, so a path is a lossless string and two byte-distinct names never meet.
import { FUSE_ROOT_ID } from './protocol.js';

/** One name of a node: `name` in directory node `parent`. */
export interface Link {
  readonly parent: Node;
  readonly name: string;
}

export interface Node {
  readonly id: number;
  /** the inode number in the backing store (0n for the root, which is never looked up) */
  readonly ino: bigint;
  /** the node's names, oldest first; empty once every name was unlinked */
  links: Link[];
  lookups: number;
}

const keyOf = (parent: Node, name: string): string => `${parent.id}/${name}`;

export class NodeTable {
  private readonly nodes = new Map<number, Node>();
  /** (parent id, name) -> the node known under that name */
  private readonly byName = new Map<string, Node>();
  /** inode number -> the node of that inode, while it has a name */
  private readonly byIno = new Map<bigint, Node>();
  private nextId = FUSE_ROOT_ID + 1;
  readonly root: Node = { id: FUSE_ROOT_ID, ino: 0n, links: [], lookups: 1 };

  /** `gone` hears of every node that lost its last name or was dropped (once for each). */
  constructor(private readonly gone: (node: Node) => void = () => {}) {
    this.nodes.set(this.root.id, this.root);
  }

  get(id: number): Node | undefined {
    return this.nodes.get(id);
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
   * A successful lookup of `name` in `parent`, which is inode `ino` (LOOKUP, CREATE, MKDIR, LINK, ... and
   * each READDIRPLUS entry). Another name of a known inode gives its node; a name that now names another
   * inode than the table thought (changed behind the mount's back) is moved to that inode's node.
   */
  lookedUp(parent: Node, name: string, ino: bigint): Node {
    const key = keyOf(parent, name);
    let node = this.byName.get(key);
    if (node && node.ino !== ino) {
      this.unlinked(parent, name);
      node = undefined;
    }
    if (!node) {
      node = this.byIno.get(ino);
      if (!node) {
        node = { id: this.nextId++, ino, links: [], lookups: 0 };
        this.nodes.set(node.id, node);
        this.byIno.set(ino, node);
      }
      node.links.push({ parent, name });
      this.byName.set(key, node);
    }
    node.lookups++;
    return node;
  }

  /** The kernel dropped `count` lookups of node `id` (FORGET). */
  forget(id: number, count: number): void {
    const node = this.nodes.get(id);
    if (!node || node === this.root) return;
    node.lookups -= count;
    if (node.lookups > 0) return;
    this.nodes.delete(id);
    for (const link of node.links) this.byName.delete(keyOf(link.parent, link.name));
    const named = node.links.length > 0;
    node.links = [];
    if (this.byIno.get(node.ino) === node) this.byIno.delete(node.ino);
    if (named) this.gone(node);
  }

  /** `name` left `parent` (UNLINK, RMDIR, or replaced by a rename); returns the node it named, if known. */
  unlinked(parent: Node, name: string): Node | undefined {
    const key = keyOf(parent, name);
    const node = this.byName.get(key);
    if (!node) return undefined;
    this.byName.delete(key);
    node.links = node.links.filter((link) => link.parent !== parent || link.name !== name);
    if (node.links.length === 0) {
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
    this.relink(node, parent, name, { parent: newParent, name: newName });
  }

  /** RENAME_EXCHANGE: the two names swap their nodes. */
  exchanged(parent: Node, name: string, newParent: Node, newName: string): void {
    const a = this.byName.get(keyOf(parent, name));
    const b = this.byName.get(keyOf(newParent, newName));
    this.byName.delete(keyOf(parent, name));
    this.byName.delete(keyOf(newParent, newName));
    if (a) this.relink(a, parent, name, { parent: newParent, name: newName });
    if (b) this.relink(b, newParent, newName, { parent, name });
  }

  /** Replaces the link (`parent`, `name`) of `node` by `to`. */
  private relink(node: Node, parent: Node, name: string, to: Link): void {
    const index = node.links.findIndex((link) => link.parent === parent && link.name === name);
    if (index >= 0) node.links[index] = to;
    else node.links.push(to);
    this.byName.set(keyOf(to.parent, to.name), node);
  }

  get size(): number {
    return this.nodes.size;
  }
}
