// The data the private abstract-level API hands over and expects back. The store takes bytes and strings
// (a string is its UTF-8) as they are; what it gives back is a Buffer, turned into a string when the
// format asked for is 'utf8'. A Buffer is a Uint8Array, so it serves 'view' too.
import type { AbstractSnapshot } from 'abstract-level';

/** The formats the store takes natively (abstract-level transcodes every other encoding to one of them). */
export type Format = 'buffer' | 'view' | 'utf8';

/** A key or value in one of those formats. */
export type Encoded = Buffer | Uint8Array | string;

/** Bytes the store returned, in `format`. */
export function decodeAs(bytes: Buffer, format: Format | undefined): Encoded {
  return format === 'utf8' ? bytes.toString('utf8') : bytes;
}

/** The options abstract-level gives the private range calls (_iterator, _keys, _values, _clear). */
export interface PrivateRangeOptions {
  gt?: Encoded;
  gte?: Encoded;
  lt?: Encoded;
  lte?: Encoded;
  reverse: boolean;
  /** -1: no limit */
  limit: number;
  keys?: boolean;
  values?: boolean;
  keyEncoding: Format;
  valueEncoding?: Format;
  snapshot?: AbstractSnapshot;
  signal?: AbortSignal;
}

/**
 * The range bounds of `options` as the store takes them: Level's gte and lte take precedence over gt and lt
 * (the store would take the exclusive bound of a side given both), and a nullish bound is left out.
 */
export function bounds(options: PrivateRangeOptions): { gt?: Encoded; gte?: Encoded; lt?: Encoded; lte?: Encoded } {
  const range: { gt?: Encoded; gte?: Encoded; lt?: Encoded; lte?: Encoded } = {};
  if (options.gte != null) range.gte = options.gte;
  else if (options.gt != null) range.gt = options.gt;
  if (options.lte != null) range.lte = options.lte;
  else if (options.lt != null) range.lt = options.lt;
  return range;
}
