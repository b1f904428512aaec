// The query engine every datastore shares. A store hands it a QuerySource (the entries under a prefix,
// plus get/getSize for values it did not list) and the engine applies, in this order: the prefix, the
// filters, the orders, the offset, the limit, then keysOnly/returnSizes.
//
// Without orders, results stream: the scan stops as soon as the limit is reached, and values are read
// only for entries that passed the key filters. With orders every selected entry is held (with its value
// only when an order or a filter needs it) and sorted; values for the results are read after the offset
// and limit cut. An entry deleted while the query runs (its value no longer there) is left out. A filter
// function or comparator that throws ends the query with its own exception.
import { storageError } from '../ground/errors.js';
import { isNotFound, type CompareOp, type Filter, type Order, type Query, type QueryEntry, type QueryResult } from './datastore.js';
import * as Key from './key.js';

/** An entry as a source lists it: the value and size when it has them at hand. */
export interface SourceEntry {
  key: string;
  value?: Buffer;
  size?: number;
}

/** What the query will read for every entry; a source may list more than asked, never less than keys. */
export interface Want {
  values: boolean;
  sizes: boolean;
}

export interface QuerySource {
  /** The entries under `prefix` (a source may list others: the engine keeps only those under it). */
  scan(prefix: string, want: Want): AsyncIterable<SourceEntry>;
  /** For entries listed without a value; a not-found rejection leaves the entry out. */
  get(key: string): Promise<Buffer>;
  getSize(key: string): Promise<number>;
}

interface Plan {
  prefix: string;
  keyFilters: Array<(key: string) => boolean>;
  entryFilters: Array<(entry: QueryEntry) => boolean>;
  compare: ((a: Candidate, b: Candidate) => number) | undefined;
  /** some filter or order reads values */
  filtersNeedValues: boolean;
  ordersNeedValues: boolean;
  offset: number;
  limit: number;
  keysOnly: boolean;
  returnSizes: boolean;
}

/** An entry on its way through the engine: the value and size once read. */
interface Candidate {
  key: string;
  value: Buffer | undefined;
  size: number | undefined;
}

const QUERY_FIELDS = new Set(['prefix', 'filters', 'orders', 'limit', 'offset', 'keysOnly', 'returnSizes']);
const OPS = new Set(['==', '!=', '<', '<=', '>', '>=', 'startsWith']);

const invalid = (why: string) => storageError('EINVAL', `query: ${why}`);

function count(value: unknown, name: string, otherwise: number): number {
  if (value === undefined) return otherwise;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

function flag(value: unknown, name: string): boolean {
  if (value !== undefined && typeof value !== 'boolean') throw invalid(`${name} must be a boolean, got ${typeof value}`);
  return value === true;
}

function list<T>(value: unknown, name: string): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${name} must be an array`);
  return value as T[];
}

/** Whether `compare`'s result (<0, 0, >0) satisfies `op`. */
function satisfies(op: CompareOp, compared: number): boolean {
  switch (op) {
    case '==':
      return compared === 0;
    case '!=':
      return compared !== 0;
    case '<':
      return compared < 0;
    case '<=':
      return compared <= 0;
    case '>':
      return compared > 0;
    case '>=':
      return compared >= 0;
  }
}

function keyFilter(op: CompareOp | 'startsWith', operand: unknown): (key: string) => boolean {
  if (typeof operand !== 'string') throw invalid('a key filter compares with a string');
  if (op === 'startsWith') return (key) => key.startsWith(operand);
  return (key) => satisfies(op, Key.compare(key, operand));
}

function valueFilter(op: CompareOp | 'startsWith', operand: unknown): (entry: QueryEntry) => boolean {
  if (!(operand instanceof Uint8Array)) throw invalid('a value filter compares with a Buffer or Uint8Array');
  const bytes = Buffer.from(operand); // a copy: the caller may change its array while the query runs
  if (op === 'startsWith') return ({ value }) => value.length >= bytes.length && bytes.equals(value.subarray(0, bytes.length));
  return ({ value }) => satisfies(op, Buffer.compare(value, bytes));
}

function comparator(order: unknown): { compare: (a: Candidate, b: Candidate) => number; needsValues: boolean } {
  if (typeof order === 'function') {
    const compare = order as (a: QueryEntry, b: QueryEntry) => number;
    return { compare: (a, b) => compare(entryOf(a), entryOf(b)), needsValues: true };
  }
  const { field, descending } = (order ?? {}) as { field?: unknown; descending?: unknown };
  if (descending !== undefined && typeof descending !== 'boolean') throw invalid("an order's descending must be a boolean");
  const sign = descending === true ? -1 : 1;
  if (field === 'key') return { compare: (a, b) => sign * Key.compare(a.key, b.key), needsValues: false };
  if (field === 'value') return { compare: (a, b) => sign * Buffer.compare(a.value!, b.value!), needsValues: true };
  throw invalid("an order is { field: 'key' | 'value', descending? } or a comparator function");
}

const entryOf = (candidate: Candidate): QueryEntry => ({ key: candidate.key, value: candidate.value!, size: candidate.size! });

/** The query checked and compiled; EINVAL naming the first problem. */
export function plan(query: unknown): Plan {
  if (query === undefined) query = {};
  if (query === null || typeof query !== 'object' || Array.isArray(query)) throw invalid('a query is an object (or nothing)');
  const q = query as Query;
  for (const field of Object.keys(q)) {
    if (!QUERY_FIELDS.has(field)) throw invalid(`unknown field '${field}' (known: ${[...QUERY_FIELDS].join(', ')})`);
  }
  const result: Plan = {
    prefix: Key.checkPrefix(q.prefix, 'query prefix'),
    keyFilters: [],
    entryFilters: [],
    compare: undefined,
    filtersNeedValues: false,
    ordersNeedValues: false,
    offset: count(q.offset, 'offset', 0),
    limit: count(q.limit, 'limit', Infinity),
    keysOnly: flag(q.keysOnly, 'keysOnly'),
    returnSizes: flag(q.returnSizes, 'returnSizes'),
  };
  for (const filter of list<Filter>(q.filters, 'filters')) {
    if (typeof filter === 'function') {
      result.entryFilters.push(filter);
      continue;
    }
    const { field, op, value } = (filter ?? {}) as { field?: unknown; op?: unknown; value?: unknown };
    if (typeof op !== 'string' || !OPS.has(op)) throw invalid(`a filter's op is one of ${[...OPS].join(' ')}, got ${String(op)}`);
    const known = op as CompareOp | 'startsWith';
    if (field === 'key') result.keyFilters.push(keyFilter(known, value));
    else if (field === 'value') result.entryFilters.push(valueFilter(known, value));
    else throw invalid("a filter is { field: 'key' | 'value', op, value } or a function");
  }
  result.filtersNeedValues = result.entryFilters.length > 0;
  const compares = list<Order>(q.orders, 'orders').map(comparator);
  result.ordersNeedValues = compares.some((c) => c.needsValues);
  if (compares.length > 0) {
    result.compare = (a, b) => {
      for (const { compare } of compares) {
        const compared = compare(a, b);
        if (compared !== 0) return compared;
      }
      return 0;
    };
  }
  return result;
}

/** Reads what `candidate` lacks of value and size; false when the entry was deleted meanwhile. */
async function complete(candidate: Candidate, source: QuerySource, value: boolean, size: boolean): Promise<boolean> {
  try {
    if (value && candidate.value === undefined) candidate.value = await source.get(candidate.key);
    if (size && candidate.size === undefined) {
      candidate.size = candidate.value === undefined ? await source.getSize(candidate.key) : candidate.value.length;
    }
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

function result(candidate: Candidate, p: Plan): QueryResult {
  const out: QueryResult = { key: candidate.key };
  if (!p.keysOnly) out.value = candidate.value!;
  if (p.returnSizes) out.size = candidate.size!;
  return out;
}

/**
 * Runs `query` on `source`. An async generator: nothing runs, and nothing can throw, until the first
 * next(); a bad query rejects it. `check` runs before each step (a closed store's EBADF).
 */
export async function* runQuery(query: unknown, source: QuerySource, check: () => void): AsyncGenerator<QueryResult, void, undefined> {
  check();
  const p = plan(query);
  if (p.limit === 0) return;
  const holdNeeds = p.filtersNeedValues || p.ordersNeedValues;
  const outputValues = !p.keysOnly;
  // with orders, the results' values are read after the cut (below), not held for every entry
  const want: Want = { values: holdNeeds || (outputValues && p.compare === undefined), sizes: p.returnSizes };
  const held: Candidate[] = [];
  let skipped = 0;
  let emitted = 0;
  for await (const entry of source.scan(p.prefix, want)) {
    check();
    if (!Key.isAncestorOf(p.prefix, entry.key) || !p.keyFilters.every((keep) => keep(entry.key))) continue;
    const candidate: Candidate = { key: entry.key, value: entry.value, size: entry.size ?? entry.value?.length };
    if (p.compare !== undefined) {
      if (!(await complete(candidate, source, holdNeeds, holdNeeds))) continue;
      if (p.entryFilters.every((keep) => keep(entryOf(candidate)))) held.push(candidate);
      continue;
    }
    if (!(await complete(candidate, source, holdNeeds || outputValues, holdNeeds || p.returnSizes))) continue;
    if (!p.entryFilters.every((keep) => keep(entryOf(candidate)))) continue;
    if (skipped < p.offset) {
      skipped++;
      continue;
    }
    yield result(candidate, p);
    if (++emitted >= p.limit) return;
  }
  if (p.compare === undefined) return;
  held.sort(p.compare);
  for (const candidate of held.slice(p.offset, p.offset + p.limit)) {
    check();
    if (await complete(candidate, source, outputValues, p.returnSizes)) yield result(candidate, p);
  }
}
