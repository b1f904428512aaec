// Key ranges [smallest, largest] of SSTs (latin1 strings, as inside the store), and the lookups every
// part of the store does on a sorted run of them (a level >= 1): which one may hold a key, which ones
// meet a range. Tables are key ranges; so are the plain copies the compaction thread receives.
export interface KeyRange {
  readonly smallest: string;
  readonly largest: string;
}

/** The first range whose largest key is >= key (ranges.length when none). */
export function firstEndingAtOrAfter(ranges: readonly KeyRange[], key: string): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid]!.largest < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The range of a sorted run that may hold `key`, if any. */
export function rangeHolding<T extends KeyRange>(ranges: readonly T[], key: string): T | undefined {
  const t = firstEndingAtOrAfter(ranges, key);
  return t < ranges.length && ranges[t]!.smallest <= key ? ranges[t] : undefined;
}

/** The ranges of a sorted run that meet [smallest, largest]. */
export function overlapping<T extends KeyRange>(ranges: readonly T[], smallest: string, largest: string): T[] {
  const out: T[] = [];
  for (let t = firstEndingAtOrAfter(ranges, smallest); t < ranges.length && ranges[t]!.smallest <= largest; t++) out.push(ranges[t]!);
  return out;
}

/** The smallest and largest keys of some ranges (not empty), in any order. */
export function spanOf(ranges: readonly KeyRange[]): KeyRange {
  let { smallest, largest } = ranges[0]!;
  for (const range of ranges) {
    if (range.smallest < smallest) smallest = range.smallest;
    if (range.largest > largest) largest = range.largest;
  }
  return { smallest, largest };
}

/** `isBottom` of a merge: no range of the sorted runs `below` (the deeper levels) may hold `key`. */
export function bottomTest(below: readonly (readonly KeyRange[])[]): (key: string) => boolean {
  return (key) => below.every((ranges) => rangeHolding(ranges, key) === undefined);
}
