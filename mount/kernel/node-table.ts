// The node table: what each node id the kernel holds stands for. A node is a name in a parent node (the
// path is rebuilt by walking up to the root, so a renamed directory moves its whole subtree at once), with
// the count of lookups the kernel has made of it: the kernel returns them with FORGET/BATCH_FORGET, and a
// node whose count reaches zero is dropped. Node ids are 64-bit and never reused while mounted (so the
// generation can stay 0). An unlinked node stays (the kernel may still hold it, a file may be open) but
// has no name any more.
//
// Names are name strings (ground/name-bytes.ts): the kernel's bytes, with bytes that are not UTF-8
// escaped, so a path is a lossless string and two byte-distinct names never meet.
import { FUSE_ROOT_ID } from './protocol.js';

export interface Node {
  readonly id: number;
  parent: Node | undefined;
  name: string;
  lookups: number;
  /** false once unlinked or replaced: the node then has no path */
  linked: boolean;
}

const keyOf = (parent: number, name: string): string => `${parent}/${name}`;

export class NodeTable {
  private readonly nodes = new Map<number, Node>();
  /** (parent id, name) -> the node known under that name */
  private readonly byName = new Map<string, Node>();
  private nextId = FUSE_ROOT_ID + 1;
  readonly root: Node = { id: FUSE_ROOT_ID, parent: undefined, name: '', lookups: 1, linked: true };

  constructor() {
    this.nodes.set(this.root.id, this.root);
  }

  get(id: number): Node | undefined {
    return this.nodes.get(id);
  }

  /** The path of a node from the root ('' for the root), or undefined for an unlinked node. */
  path(node: Node): string | undefined {
    const names: string[] = [];
    for (let at: Node | undefined = node; at !== this.root; at = at.parent) {
      if (!at || !at.linked) return undefined;
      names.push(at.name);
    }
    return names.reverse().join('/');
  }

  /** A successful lookup of `name` in `parent` (LOOKUP, CREATE, MKDIR, ... and each READDIRPLUS entry). */
  lookedUp(parent: Node, name: string): Node {
    const key = keyOf(parent.id, name);
    let node = this.byName.get(key);
    if (!node) {
      node = { id: this.nextId++, parent, name, lookups: 0, linked: true };
      this.nodes.set(node.id, node);
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
    if (node.linked && node.parent && this.byName.get(keyOf(node.parent.id, node.name)) === node) {
      this.byName.delete(keyOf(node.parent.id, node.name));
    }
  }

  /** `name` left `parent` (UNLINK, RMDIR, or replaced by a rename). */
  unlinked(parent: Node, name: string): void {
    const key = keyOf(parent.id, name);
    const node = this.byName.get(key);
    if (!node) return;
    this.byName.delete(key);
    node.linked = false;
  }

  /** `name` of `parent` is now `newName` of `newParent` (RENAME); whatever was there is unlinked. */
  renamed(parent: Node, name: string, newParent: Node, newName: string): void {
    const key = keyOf(parent.id, name);
    const node = this.byName.get(key);
    this.unlinked(newParent, newName);
    if (!node) return;
    this.byName.delete(key);
    node.parent = newParent;
    node.name = newName;
    this.byName.set(keyOf(newParent.id, newName), node);
  }

  /** RENAME_EXCHANGE: the two names swap their nodes. */
  exchanged(parent: Node, name: string, newParent: Node, newName: string): void {
    const a = this.byName.get(keyOf(parent.id, name));
    const b = this.byName.get(keyOf(newParent.id, newName));
    this.byName.delete(keyOf(parent.id, name));
    this.byName.delete(keyOf(newParent.id, newName));
    if (a) {
      a.parent = newParent;
      a.name = newName;
      this.byName.set(keyOf(newParent.id, newName), a);
    }
    if (b) {
      b.parent = parent;
      b.name = name;
      this.byName.set(keyOf(parent.id, name), b);
    }
  }

  get size(): number {
    return this.nodes.size;
  }
}
