// How the compositions (namespaced, mount, sharded, tiered) reach the datastores they stack: a missing
// value as undefined, a child's query results as entries for the query engine, and the check that what
// they were given is a datastore.
import { storageError } from '../ground/errors.js';
import { isNotFound, type Datastore } from './datastore.js';
import type { SourceEntry, Want } from './query.js';

/** What `promise` resolves with, or undefined when it rejects with not-found. */
export async function unlessNotFound<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The entries of `child` under `prefix` (the child's key space), with keys mapped by `toKey`; undefined drops one. */
export async function* childEntries(child: Datastore, prefix: string, want: Want, toKey: (key: string) => string | undefined): AsyncIterable<SourceEntry> {
  for await (const result of child.query({ prefix, keysOnly: !want.values, returnSizes: want.sizes })) {
    const key = toKey(result.key);
    if (key !== undefined) yield { key, value: result.value, size: result.size };
  }
}

const METHODS = ['get', 'has', 'getSize', 'put', 'delete', 'query', 'sync', 'batch', 'close'] as const;

/** `value` if it has every Datastore method; EINVAL naming `what` otherwise. */
export function checkDatastore(value: unknown, what: string): Datastore {
  const missing = METHODS.filter((method) => typeof (value as Record<string, unknown> | null)?.[method] !== 'function');
  if (missing.length > 0) throw storageError('EINVAL', `${what} is not a Datastore (it lacks ${missing.join(', ')})`);
  return value as Datastore;
}

/** A non-empty array of datastores; EINVAL otherwise. */
export function checkDatastores(values: unknown, what: string): Datastore[] {
  if (!Array.isArray(values) || values.length === 0) throw storageError('EINVAL', `${what} must be a non-empty array of datastores`);
  return values.map((value, i) => checkDatastore(value, `${what}[${i}]`));
}

/** Closes every datastore, all of them even when one fails; then rejects with the first failure. */
export async function closeAll(children: readonly Datastore[]): Promise<void> {
  const outcomes = await Promise.allSettled(children.map((child) => child.close()));
  const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
