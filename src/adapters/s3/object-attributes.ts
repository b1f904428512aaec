// A file's or directory's POSIX attributes as an object store keeps them: user metadata (x-amz-meta-mode,
// -uid, -gid, -mtime, in decimal; mtime in nanoseconds), with defaults for objects other tools wrote.
import { createHash } from 'node:crypto';

import type { SetTime } from '../../io/engine.js';
import { TYPE_BITS, type EntryKind, type EntryStat } from '../adapter.js';
import type { ObjectMetadata } from './object-store.js';

export interface Attributes {
  /** permission bits (07777) */
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  atimeNs: bigint;
}

export const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** Our process's user and group, the owner of what we make and of objects that name none (asked once: a system call each) */
const OWN_UID = process.getuid?.() ?? 0;
const OWN_GID = process.getgid?.() ?? 0;

export function newAttributes(mode: number): Attributes {
  const t = nowNs();
  return { mode: mode & 0o7777, uid: OWN_UID, gid: OWN_GID, mtimeNs: t, atimeNs: t };
}

function decimal(value: string | undefined, fallback: number): number {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : fallback;
}

/** A time kept in nanoseconds (ours), else in seconds (s3fs: whole; rclone: with a fraction), else `fallback`. */
function timeOf(nanos: string | undefined, seconds: string | undefined, fallback: bigint): bigint {
  if (nanos !== undefined && /^-?\d{1,22}$/.test(nanos)) return BigInt(nanos);
  const match = seconds === undefined ? null : /^(-?\d{1,13})(?:\.(\d{1,9}))?$/.exec(seconds);
  if (match === null) return fallback;
  const whole = BigInt(match[1]!) * 1_000_000_000n;
  const fraction = BigInt((match[2] ?? '').padEnd(9, '0'));
  return match[1]!.startsWith('-') ? whole - fraction : whole + fraction;
}

/** The attributes stored in `metadata`; what is missing comes from `kind`'s defaults and `lastModified`. */
export function attributesOf(metadata: ObjectMetadata, kind: EntryKind, lastModified: Date): Attributes {
  const modified = timeOf(metadata['mtime-ns'], metadata.mtime, BigInt(lastModified.getTime()) * 1_000_000n);
  return {
    mode: decimal(metadata.mode, kind === 'directory' ? 0o755 : 0o644) & 0o7777,
    uid: decimal(metadata.uid, OWN_UID),
    gid: decimal(metadata.gid, OWN_GID),
    mtimeNs: modified,
    atimeNs: timeOf(metadata['atime-ns'], metadata.atime, modified),
  };
}

/** Whole seconds (rounded down) of a time in nanoseconds. */
const seconds = (ns: bigint): string => String(ns >= 0n ? ns / 1_000_000_000n : -((-ns + 999_999_999n) / 1_000_000_000n));

/**
 * The attributes as object metadata, in the names and units s3fs and rclone read too: mode with its file
 * type bits, uid, gid, mtime and atime in whole seconds; and the times to the nanosecond in mtime-ns and
 * atime-ns (ours).
 */
export function metadataOf(attributes: Attributes, kind: EntryKind = 'file'): ObjectMetadata {
  return {
    mode: String(TYPE_BITS[kind] | attributes.mode),
    uid: String(attributes.uid),
    gid: String(attributes.gid),
    mtime: seconds(attributes.mtimeNs),
    atime: seconds(attributes.atimeNs),
    'mtime-ns': String(attributes.mtimeNs),
    'atime-ns': String(attributes.atimeNs),
  };
}

export function withTimes(attributes: Attributes, atime: SetTime, mtime: SetTime): Attributes {
  const t = nowNs();
  return {
    ...attributes,
    atimeNs: atime === 'omit' ? attributes.atimeNs : atime === 'now' ? t : atime,
    mtimeNs: mtime === 'omit' ? attributes.mtimeNs : mtime === 'now' ? t : mtime,
  };
}

/** A stable inode number for a key: the first 63 bits of its SHA-1 (never 0). */
export function inodeOf(key: string): bigint {
  const digest = createHash('sha1').update(key).digest();
  return (digest.readBigUInt64BE(0) >> 1n) | 1n;
}

export function entryStat(kind: EntryKind, key: string, size: number, attributes: Attributes): EntryStat {
  return {
    kind,
    mode: TYPE_BITS[kind] | attributes.mode,
    uid: attributes.uid,
    gid: attributes.gid,
    nlink: kind === 'directory' ? 2 : 1,
    ino: inodeOf(key),
    dev: 0,
    rdev: 0,
    size,
    blocks: Math.ceil(size / 512),
    blksize: 4096,
    atimeNs: attributes.atimeNs,
    mtimeNs: attributes.mtimeNs,
    ctimeNs: attributes.mtimeNs,
    birthtimeNs: attributes.mtimeNs,
    dioMemAlign: 0,
    dioOffsetAlign: 0,
  };
}
