// The three iterators of abstract-level (entries, keys, values) over one LsmIterator each. The LsmIterator
// is made when the Level iterator is, so it reads as of that moment (the implicit snapshot); its range,
// reverse and limit are abstract-level's, and a seek applies at the next read, as abstract-level wants.
import { AbstractIterator, AbstractKeyIterator, AbstractValueIterator } from 'abstract-level';
import type { LsmIterator } from '../lsm/iterator.js';
import type { Entry } from '../lsm/types.js';
import { abortError, levelCall } from './errors.js';
import { decodeAs, type Encoded, type Format, type PrivateRangeOptions } from './formats.js';

/** Entries one `all()` reads from the store at a time (between two looks at the abort signal). */
const ALL_CHUNK = 1000;

type Item = Encoded | undefined;

/** What the three iterators share: the store's iterator, the formats asked for, and the abort signal. */
export class Cursor {
  private readonly keyFormat: Format;
  private readonly valueFormat: Format | undefined;
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly it: LsmIterator,
    options: PrivateRangeOptions,
  ) {
    this.keyFormat = options.keyEncoding;
    this.valueFormat = options.valueEncoding;
    this.signal = options.signal ?? undefined;
  }

  key(entry: Entry): Encoded {
    return decodeAs(entry.key, this.keyFormat);
  }

  value(entry: Entry): Encoded {
    return decodeAs(entry.value, this.valueFormat);
  }

  async next(): Promise<Entry | undefined> {
    const entry = await levelCall(this.it.next());
    this.checkSignal();
    return entry;
  }

  async nextv(size: number): Promise<Entry[]> {
    const entries = await levelCall(this.it.nextv(size));
    this.checkSignal();
    return entries;
  }

  /** Every remaining entry (up to the limit), read in chunks so that an abort stops it between two. */
  async all(): Promise<Entry[]> {
    const entries: Entry[] = [];
    for (;;) {
      const chunk = await this.nextv(ALL_CHUNK);
      if (chunk.length === 0) return entries;
      for (const entry of chunk) entries.push(entry);
    }
  }

  seek(target: Encoded): void {
    this.it.seek(target);
  }

  close(): Promise<void> {
    return this.it.close();
  }

  private checkSignal(): void {
    if (this.signal?.aborted) throw abortError();
  }
}

/** The Cursor's entries as one iterator kind's items (an entry pair, a key or a value). */
class Items<T> {
  private readonly cursor: Cursor;
  private readonly item: (entry: Entry) => T;

  constructor(it: LsmIterator, options: PrivateRangeOptions, item: (cursor: Cursor) => (entry: Entry) => T) {
    this.cursor = new Cursor(it, options);
    this.item = item(this.cursor);
  }

  async next(): Promise<T | undefined> {
    const entry = await this.cursor.next();
    return entry === undefined ? undefined : this.item(entry);
  }

  async nextv(size: number): Promise<T[]> {
    return (await this.cursor.nextv(size)).map(this.item);
  }

  async all(): Promise<T[]> {
    return (await this.cursor.all()).map(this.item);
  }

  seek(target: Encoded): void {
    this.cursor.seek(target);
  }

  close(): Promise<void> {
    return this.cursor.close();
  }
}

/**
 * The private calls abstract-level makes of each iterator kind, answered by its Items: `Base` is one of
 * abstract-level's three iterator classes, and the kind only says how an entry becomes its item.
 */
function readingItems<T>() {
  return <B extends abstract new (...args: any[]) => object>(Base: B) => {
    abstract class ReadingItems extends Base {
      // Public, not protected: TypeScript cannot declare a protected member of a class a function returns.
      abstract readonly items: Items<T>;

      _next(): Promise<T | undefined> {
        return this.items.next();
      }

      _nextv(size: number): Promise<T[]> {
        return this.items.nextv(size);
      }

      _all(): Promise<T[]> {
        return this.items.all();
      }

      _seek(target: Encoded): void {
        this.items.seek(target);
      }

      _close(): Promise<void> {
        return this.items.close();
      }
    }
    return ReadingItems;
  };
}

/** TDb: the database (abstract-level keeps it as iterator.db). */
export class PersistIterator<TDb> extends readingItems<[Item, Item]>()(AbstractIterator)<TDb, Encoded, Encoded> {
  readonly items: Items<[Item, Item]>;

  constructor(db: TDb, options: PrivateRangeOptions, it: LsmIterator) {
    super(db, options);
    const keys = options.keys !== false;
    const values = options.values !== false;
    this.items = new Items(it, options, (cursor) => (entry) => [keys ? cursor.key(entry) : undefined, values ? cursor.value(entry) : undefined]);
  }
}

export class PersistKeyIterator<TDb> extends readingItems<Encoded>()(AbstractKeyIterator)<TDb, Encoded> {
  readonly items: Items<Encoded>;

  constructor(db: TDb, options: PrivateRangeOptions, it: LsmIterator) {
    super(db, options);
    this.items = new Items(it, options, (cursor) => (entry) => cursor.key(entry));
  }
}

export class PersistValueIterator<TDb> extends readingItems<Encoded>()(AbstractValueIterator)<TDb, Encoded, Encoded> {
  readonly items: Items<Encoded>;

  constructor(db: TDb, options: PrivateRangeOptions, it: LsmIterator) {
    super(db, options);
    this.items = new Items(it, options, (cursor) => (entry) => cursor.value(entry));
  }
}
