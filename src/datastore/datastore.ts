// The Datastore interface (seed 003): a uniform key-value store that simple stores (memory, flat files,
// the LSM) implement and that compositions (namespaced, mounted, sharded, tiered) stack.
//
// Contract for every implementation:
// - Keys are checked (key.ts); a bad key is EINVAL and changes nothing.
// - No method throws synchronously, whatever its arguments: each returns a promise that rejects (query
//   returns an iterable whose iteration rejects). Every failure is a StorageError with a POSIX code,
//   except an exception thrown by the caller's own filter or comparator, which reaches it unchanged.
// - A missing key is ENOENT (isNotFound) for get and getSize, false for has, and no error for delete.
// - After close() every call fails with EBADF; close() waits for the calls in progress and is idempotent.
import { StorageError, storageError } from '../ground/errors.js';

export interface Datastore {
  /** The value of `key` (a Buffer the caller may keep and change); ENOENT when it has none. */
  get(key: string): Promise<Buffer>;
  has(key: string): Promise<boolean>;
  /** The value's size in bytes, often without reading it; ENOENT when the key has no value. */
  getSize(key: string): Promise<number>;
  /** Stores a copy of `value` under `key`, replacing any value it had. */
  put(key: string, value: Uint8Array): Promise<void>;
  /** Removes `key`'s value; resolves as well when it had none. */
  delete(key: string): Promise<void>;
  /** The entries the query selects (query.ts); errors, bad queries included, surface while iterating. */
  query(q?: Query): AsyncIterable<QueryResult>;
  /**
   * Makes every put and delete under `prefix` ('/' for all) that resolved before sync was called survive
   * a crash. A no-op for stores whose writes are already durable, or that are never durable (memory).
   */
  sync(prefix: string): Promise<void>;
  /** A batch of puts and deletes applied by its commit() (batch.ts says how atomic that is). */
  batch(): Batch;
  close(): Promise<void>;
}

export interface Batch {
  /** Queues a put; the value is copied now. A bad argument is reported by commit(), which then applies nothing. */
  put(key: string, value: Uint8Array): void;
  delete(key: string): void;
  /** Applies the queued operations in order. A batch commits once; later calls on it are EINVAL. */
  commit(): Promise<void>;
}

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

/** What a filter function or a comparator sees: the whole entry, its value loaded. */
export interface QueryEntry {
  key: string;
  value: Buffer;
  size: number;
}

/**
 * Keeps the entries it matches. On the key: the comparisons use key order (key.ts: code point order) and
 * 'startsWith' is a plain string prefix ('/a/b' startsWith '/a/b' and '/a/bc'; Query.prefix is the
 * hierarchical one). On the value: byte order, and 'startsWith' is a byte prefix.
 */
export type Filter =
  | { field: 'key'; op: CompareOp | 'startsWith'; value: string }
  | { field: 'value'; op: CompareOp | 'startsWith'; value: Uint8Array }
  | ((entry: QueryEntry) => boolean);

/** Orders by key (code point order) or value (byte order), or by a comparator; ties go to the next order. */
export type Order = { field: 'key' | 'value'; descending?: boolean } | ((a: QueryEntry, b: QueryEntry) => number);

export interface Query {
  /** only keys strictly below this one: '/a' selects '/a/b', not '/ab' nor '/a'; '/' (default) selects all */
  prefix?: string;
  /** every filter must keep an entry */
  filters?: Filter[];
  /** without orders, results come in no promised order */
  orders?: Order[];
  /** at most this many results (undefined: no limit; 0: none) */
  limit?: number;
  /** skip this many results first (after filters and orders) */
  offset?: number;
  /** results without values */
  keysOnly?: boolean;
  /** results with the value's size */
  returnSizes?: boolean;
}

export interface QueryResult {
  key: string;
  /** absent when the query is keysOnly */
  value?: Buffer;
  /** present when the query has returnSizes */
  size?: number;
}

/** The error for a key without a value: ENOENT, naming the key. */
export function notFound(key: string, what = 'get'): StorageError {
  return storageError('ENOENT', `${what}: the datastore has no value for this key`, { path: key });
}

/** Whether `error` says a key has no value (get, getSize). */
export function isNotFound(error: unknown): boolean {
  return error instanceof StorageError && error.code === 'ENOENT';
}

/** Every value a datastore stores is a Buffer or Uint8Array; anything else is EINVAL. */
export function checkValue(value: unknown, key: string, what = 'put'): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw storageError('EINVAL', `${what}: a value must be a Buffer or Uint8Array, got ${value === null ? 'null' : typeof value}`, { path: key });
  }
  return value;
}
