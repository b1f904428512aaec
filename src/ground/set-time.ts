/**
 * A time to set (utimensat): nanoseconds since the epoch (a bigint: today's times need more than a
 * double's 53 bits, and times before 1970 are negative), 'now' (the backing file system's clock), or
 * 'omit' (leave that time as it is).
 */
export type SetTime = bigint | 'now' | 'omit';
