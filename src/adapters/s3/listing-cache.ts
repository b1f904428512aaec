// The listing cache of the S3 and tiered adapters (the bucket's namespace as this process last saw it).
// A directory's listing (ListObjectsV2 with '/' as delimiter: its objects with size, ETag and
// LastModified, its subdirectories) is kept for `ttl` ms and answers lookups without a request, negative
// ones too: a name a fresh listing does not hold does not exist. Our own changes apply at once, as the
// object store reports them (StoreObserver: PUTs, copies, deletions, and what HEADs found), so this process
// always sees its own writes; another writer's changes show when the listing is loaded again, once `ttl`
// has passed, or when a HEAD of the name is made. A listing has no x-amz-meta-* (mode, owner, times): a
// file's metadata is known after our own PUT or a HEAD, and kept while its ETag stays. Directory markers'
// heads are kept apart (`markers`), for as long as listings.
import type { ObjectHead, ObjectMetadata, ObjectStore, StoreObserver } from './object-store.js';

/** A file in a cached listing: what the listing said, and its metadata once known. */
export interface CachedFile {
  size: number;
  etag: string;
  lastModified: Date;
  /** x-amz-meta-*, known after our own PUT or a HEAD; undefined until then */
  metadata: ObjectMetadata | undefined;
  /** this version is one this process stored: a new open may trust it without asking the bucket */
  own: boolean;
  /** lastModified is this process's clock at our PUT, not the store's (a reload keeps the entry on its ETag alone) */
  localTime: boolean;
}

export class Listing {
  /** the files, by key part (the key after the listing's prefix, as stored: key-names.ts) */
  readonly files = new Map<string, CachedFile>();
  /** the subdirectories (a marker object or keys below), by key part */
  readonly dirs = new Set<string>();
  /** whether the directory's own marker object exists */
  marker = false;

  constructor(readonly loadedAt: number) {}

  get empty(): boolean {
    return this.files.size === 0 && this.dirs.size === 0 && !this.marker;
  }
}

interface Loading {
  done: Promise<Listing>;
  /** our changes reported while the listing is being read: applied to it when it arrives */
  journal: Array<(listing: Listing) => void>;
  /** a change that could not be described happened meanwhile: the result is returned, not kept */
  discard: boolean;
}

/** The prefix ('' or ending in '/') that `path` (a key without its trailing '/') lies directly under, and the rest. */
export function splitKey(path: string): [prefix: string, part: string] {
  const slash = path.lastIndexOf('/');
  return [path.slice(0, slash + 1), path.slice(slash + 1)];
}

export class ListingCache implements StoreObserver {
  /** by prefix, least recently used first */
  private readonly listings = new Map<string, Listing>();
  private readonly loading = new Map<string, Loading>();
  /** directory markers' heads (null: no marker), by marker key */
  private readonly markers = new Map<string, { head: ObjectHead | null; at: number }>();

  constructor(
    private readonly store: ObjectStore,
    /** ms a listing answers; 0 turns the cache off */
    readonly ttl: number,
    /** listings kept at most (least recently used out first), and as many directory markers' heads */
    private readonly capacity = 4096,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.ttl > 0;
  }

  private fresh(at: number): boolean {
    return this.now() - at < this.ttl;
  }

  /** The listing of `prefix` ('' or ending in '/'): the cached one while fresh, else read from the bucket. */
  listing(prefix: string): Promise<Listing> {
    const cached = this.listings.get(prefix);
    if (cached !== undefined && this.fresh(cached.loadedAt)) {
      this.listings.delete(prefix);
      this.listings.set(prefix, cached);
      return Promise.resolve(cached);
    }
    let loading = this.loading.get(prefix);
    if (loading === undefined) {
      const started: Loading = { done: Promise.resolve(new Listing(0)), journal: [], discard: false };
      started.done = this.load(prefix, cached, started);
      this.loading.set(prefix, started);
      loading = started;
    }
    return loading.done;
  }

  private async load(prefix: string, previous: Listing | undefined, loading: Loading): Promise<Listing> {
    const listing = new Listing(this.now());
    try {
      for await (const page of this.store.list(prefix, '/')) {
        for (const object of page.objects) {
          const part = object.key.slice(prefix.length);
          if (part === '') {
            listing.marker = true;
            continue;
          }
          // what we knew of this version (its metadata, whether it is ours) stays while the ETag does
          const known = previous?.files.get(part);
          const same = known !== undefined && known.etag === object.etag && (known.localTime || known.lastModified.getTime() === object.lastModified.getTime());
          listing.files.set(part, {
            size: object.size,
            etag: object.etag,
            lastModified: object.lastModified,
            metadata: same ? known.metadata : undefined,
            own: same && known.own,
            localTime: false,
          });
        }
        for (const sub of page.prefixes) listing.dirs.add(sub.slice(prefix.length, -1));
      }
    } finally {
      if (this.loading.get(prefix) === loading) this.loading.delete(prefix);
    }
    for (const change of loading.journal) change(listing);
    if (!loading.discard) this.keep(prefix, listing);
    return listing;
  }

  private keep(prefix: string, listing: Listing): void {
    this.listings.delete(prefix);
    this.listings.set(prefix, listing);
    for (const [oldest] of this.listings) {
      if (this.listings.size <= this.capacity) break;
      this.listings.delete(oldest);
    }
  }

  /** A directory this process just made (its name was free): its listing is known, empty but for its marker. */
  madeEmpty(prefix: string): void {
    if (!this.enabled || this.loading.has(prefix)) return;
    const listing = new Listing(this.now());
    listing.marker = true;
    this.keep(prefix, listing);
  }

  /** The head of the marker object `key` (ending in '/'), undefined when there is none: kept, else one HEAD. */
  async marker(key: string): Promise<ObjectHead | undefined> {
    const known = this.enabled ? this.markers.get(key) : undefined;
    if (known !== undefined && this.fresh(known.at)) return known.head ?? undefined;
    return this.store.head(key);
  }

  /** Forgets the listing of `prefix` (read again at the next lookup). */
  private invalidate(prefix: string): void {
    this.listings.delete(prefix);
    const loading = this.loading.get(prefix);
    if (loading !== undefined) loading.discard = true;
  }

  /** Applies `change` to the listing of `prefix` where it is cached or being read. */
  private apply(prefix: string, change: (listing: Listing) => void): void {
    this.loading.get(prefix)?.journal.push(change);
    const listing = this.listings.get(prefix);
    if (listing !== undefined) change(listing);
  }

  /** An object was stored under `prefix`: every directory above it exists. */
  private ancestors(prefix: string): void {
    while (prefix !== '') {
      const [parent, part] = splitKey(prefix.slice(0, -1));
      this.apply(parent, (listing) => listing.dirs.add(part));
      prefix = parent;
    }
  }

  /** An object under `prefix` went: when nothing is left there, the directory is gone from its parent. */
  private emptied(prefix: string): void {
    if (prefix === '') return;
    const [parent, part] = splitKey(prefix.slice(0, -1));
    const listing = this.listings.get(prefix);
    if (listing === undefined || this.loading.has(prefix)) {
      // what is left there is not known here
      this.mayBeGone(parent, part);
      return;
    }
    if (!listing.empty) return;
    this.apply(parent, (parentListing) => parentListing.dirs.delete(part));
    this.emptied(parent);
  }

  /**
   * Whether directory `part` of `parent` still holds anything is not known: the parent's listing is read
   * again, and so, up the tree, is each listing that names a directory whose existence hangs on it (its
   * listing not known, or `part` all it held: no marker, no files, no other directory).
   */
  private mayBeGone(parent: string, part: string): void {
    const listing = this.listings.get(parent);
    const hangs =
      listing === undefined || this.loading.has(parent) || (!listing.marker && listing.files.size === 0 && listing.dirs.size === 1 && listing.dirs.has(part));
    this.invalidate(parent);
    if (hangs && parent !== '') this.mayBeGone(...splitKey(parent.slice(0, -1)));
  }

  private markerIs(key: string, head: ObjectHead | null): void {
    this.markers.delete(key);
    this.markers.set(key, { head, at: this.now() });
    for (const [oldest] of this.markers) {
      if (this.markers.size <= this.capacity) break;
      this.markers.delete(oldest);
    }
    this.apply(key, (listing) => {
      listing.marker = head !== null;
    });
  }

  stored(key: string, size: number, etag: string, metadata: ObjectMetadata): void {
    if (!this.enabled) return;
    const lastModified = new Date(this.now());
    if (key.endsWith('/')) {
      this.markerIs(key, { key, size, etag, lastModified, metadata });
      this.ancestors(key);
      return;
    }
    const [prefix, part] = splitKey(key);
    this.apply(prefix, (listing) => listing.files.set(part, { size, etag, lastModified, metadata, own: true, localTime: true }));
    this.ancestors(prefix);
  }

  headed(key: string, head: ObjectHead | undefined): void {
    if (!this.enabled) return;
    if (key.endsWith('/')) {
      this.markerIs(key, head ?? null);
      if (head !== undefined) this.ancestors(key);
      return;
    }
    const [prefix, part] = splitKey(key);
    if (head === undefined) {
      this.apply(prefix, (listing) => listing.files.delete(part));
      this.emptied(prefix);
      return;
    }
    this.apply(prefix, (listing) => {
      const known = listing.files.get(part);
      listing.files.set(part, {
        size: head.size,
        etag: head.etag,
        lastModified: head.lastModified,
        metadata: head.metadata,
        own: known?.own === true && known.etag === head.etag,
        localTime: false,
      });
    });
    this.ancestors(prefix);
  }

  copied(from: string, to: string, etag: string, metadata: ObjectMetadata | undefined): void {
    if (!this.enabled) return;
    const lastModified = new Date(this.now());
    if (to.endsWith('/')) {
      const source = this.markers.get(from)?.head;
      const kept = metadata ?? source?.metadata;
      if (kept === undefined) {
        this.markers.delete(to);
        this.apply(to, (listing) => {
          listing.marker = true;
        });
      } else {
        this.markerIs(to, { key: to, size: 0, etag, lastModified, metadata: kept });
      }
      this.ancestors(to);
      return;
    }
    const [fromPrefix, fromPart] = splitKey(from);
    const source = this.listings.get(fromPrefix)?.files.get(fromPart);
    const [prefix, part] = splitKey(to);
    if (source === undefined) {
      // the copy's size is not known here: the listing is read again
      this.invalidate(prefix);
    } else {
      const copy = { size: source.size, etag, lastModified, metadata: metadata ?? source.metadata, own: true, localTime: true };
      this.apply(prefix, (listing) => listing.files.set(part, copy));
    }
    this.ancestors(prefix);
  }

  deleted(key: string): void {
    if (!this.enabled) return;
    if (key.endsWith('/')) {
      this.markerIs(key, null);
      this.emptied(key);
      return;
    }
    const [prefix, part] = splitKey(key);
    this.apply(prefix, (listing) => listing.files.delete(part));
    this.emptied(prefix);
  }

  stale(key: string): void {
    if (!this.enabled || key.endsWith('/')) return;
    const [prefix, part] = splitKey(key);
    this.apply(prefix, (listing) => {
      const known = listing.files.get(part);
      if (known === undefined) return;
      // not the version we had: the next lookup that needs it asks the bucket
      known.metadata = undefined;
      known.own = false;
    });
  }
}
