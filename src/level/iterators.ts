// The three iterators of abstract-level (entries, keys, values) over one LsmIterator each. The LsmIterator
// is made when the Level iterator is, so it reads as of that moment (the implicit snapshot); its range,
// reverse and limit are abstract-level's, and a seek applies at the next read, as abstract-level wants.
import { AbstractIterator, AbstractKeyIterator, AbstractValueIterator } from 'abstract-level';
import type { LsmIterator } from '../lsm/iterator.js';
import type { Entry } from '../lsm/types.js';
import { abortError, levelCall } from './errors.js';
import { decodeAs, type Encoded, type PrivateRangeOptions } from './formats.js';

/** Entries one `all()` reads from the store at a time (between two looks at the abort signal). */
const ALL_CHUNK = 1000;

type Item = Encoded | undefined;

/** How an entry becomes one iterator kind's item, in the formats `options` ask for. */
type Projection<T> = (options: PrivateRangeOptions) => (entry: Entry) => T;

const toKey: Projection<Encoded> = (options) => {
  const format = options.keyEncoding;
  return (entry) => decodeAs(entry.key, format);
};

const toValue: Projection<Encoded> = (options) => {
  const format = options.valueEncoding;
  return (entry) => decodeAs(entry.value, format);
};

/** An entry pair, either side left undefined when the iterator was asked not to read it. */
const toEntry: Projection<[Item, Item]> = (options) => {
  const key = options.keys !== false ? toKey(options) : () => undefined;
  const value = options.values !== false ? toValue(options) : () => undefined;
  return (entry) => [key(entry), value(entry)];
};

/** The store's iterator read as one iterator kind's items, with a look at the abort signal after every read. */
class Cursor<T> {
  private readonly item: (entry: Entry) => T;
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly it: LsmIterator,
    options: PrivateRangeOptions,
    projection: Projection<T>,
  ) {
    this.item = projection(options);
    this.signal = options.signal ?? undefined;
  }

  async next(): Promise<T | undefined> {
    const entry = await levelCall(this.it.next());
    this.checkSignal();
    return entry === undefined ? undefined : this.item(entry);
  }

  async nextv(size: number): Promise<T[]> {
    return (await this.entries(size)).map(this.item);
  }

  /** Every remaining item (up to the limit), read in chunks so that an abort stops it between two. */
  async all(): Promise<T[]> {
    const items: T[] = [];
    for (;;) {
      const chunk = await this.entries(ALL_CHUNK);
      if (chunk.length === 0) return items;
      for (const entry of chunk) items.push(this.item(entry));
    }
  }

  seek(target: Encoded): void {
    this.it.seek(target);
  }

  close(): Promise<void> {
    return this.it.close();
  }

  private async entries(size: number): Promise<Entry[]> {
    const entries = await levelCall(this.it.nextv(size));
    this.checkSignal();
    return entries;
  }

  private checkSignal(): void {
    if (this.signal?.aborted) throw abortError();
  }
}

/**
 * The private calls abstract-level makes of each iterator kind, answered by its Cursor: `Base` is one of
 * abstract-level's three iterator classes, and the kind only says how an entry becomes its item.
 */
function readingCursor<T>() {
  // biome-ignore lint/suspicious/noExplicitAny: TypeScript's mixin pattern requires a constructor taking any[]
  return <B extends abstract new (...args: any[]) => object>(Base: B) => {
    abstract class ReadingCursor extends Base {
      // Public, not protected: TypeScript cannot declare a protected member of a class a function returns.
      abstract readonly cursor: Cursor<T>;

      _next(): Promise<T | undefined> {
        return this.cursor.next();
      }

      _nextv(size: number): Promise<T[]> {
        return this.cursor.nextv(size);
      }

      _all(): Promise<T[]> {
        return this.cursor.all();
      }

      _seek(target: Encoded): void {
        this.cursor.seek(target);
      }

      _close(): Promise<void> {
        return this.cursor.close();
      }
    }
    return ReadingCursor;
  };
}

/** TDb: the database (abstract-level keeps it as iterator.db). */
export class PersistIterator<TDb> extends readingCursor<[Item, Item]>()(AbstractIterator)<TDb, Encoded, Encoded> {
  readonly cursor: Cursor<[Item, Item]>;

  constructor(db: TDb, options: PrivateRangeOptions, it: LsmIterator) {
    super(db, options);
    this.cursor = new Cursor(it, options, toEntry);
  }
}

export class PersistKeyIterator<TDb> extends readingCursor<Encoded>()(AbstractKeyIterator)<TDb, Encoded> {
  readonly cursor: Cursor<Encoded>;

  constructor(db: TDb, options: PrivateRangeOptions, it: LsmIterator) {
    super(db, options);
    this.cursor = new Cursor(it, options, toKey);
  }
}

export class PersistValueIterator<TDb> extends readingCursor<Encoded>()(AbstractValueIterator)<TDb, Encoded, Encoded> {
  readonly cursor: Cursor<Encoded>;

  constructor(db: TDb, options: PrivateRangeOptions, it: LsmIterator) {
    super(db, options);
    this.cursor = new Cursor(it, options, toValue);
  }
}
