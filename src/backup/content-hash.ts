// What a file's content is called and what the object store will say it is, from one streaming read:
// its SHA-256 (the blob's address and what restore checks) and the ETag S3 gives it, both as one PUT (the
// MD5) and as a multipart upload in parts of MULTIPART_THRESHOLD (the MD5 of the parts' MD5s, "-<parts>").
// Comparing the ETag after upload shows that what arrived is what was hashed. Content held in memory (a
// file under MULTIPART_THRESHOLD) gets its SHA-256 alone (digestBytes), its ETags only when needed.
import { createHash } from 'node:crypto';
import fs from 'node:fs';

import { MULTIPART_THRESHOLD } from '../adapters/s3/object-store.js';

/** What a content is called: its SHA-256 (hex) and size. */
export interface Digest {
  sha256: string;
  size: number;
}

export interface ContentHash extends Digest {
  /** the ETags S3 may give these bytes (quoted, as HEAD answers): one PUT, and multipart when over one part */
  etags: string[];
}

/** The SHA-256 of the empty content. */
export const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** Hashes the file at `path` as it streams from disk; `onBytes` hears of each chunk read. */
export async function hashFile(path: string | Buffer, onBytes: (bytes: number) => void = () => undefined): Promise<ContentHash> {
  const sha = createHash('sha256');
  const whole = createHash('md5');
  const parts: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  let size = 0;
  for await (const chunk of fs.createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    sha.update(chunk);
    whole.update(chunk);
    size += chunk.length;
    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(chunk.length - at, MULTIPART_THRESHOLD - inPart);
      part.update(chunk.subarray(at, at + take));
      inPart += take;
      at += take;
      if (inPart === MULTIPART_THRESHOLD) {
        parts.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
    onBytes(chunk.length);
  }
  if (inPart > 0) parts.push(part.digest());
  return { sha256: sha.digest('hex'), size, etags: etagsOf(whole.digest(), parts) };
}

/** The ETags of a content whose MD5 is `whole` and whose parts' MD5s are `parts` (none for the empty content). */
function etagsOf(whole: Buffer, parts: readonly Buffer[]): string[] {
  const etags = [`"${whole.toString('hex')}"`];
  if (parts.length > 0) etags.push(`"${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-${parts.length}"`);
  return etags;
}

/**
 * The ETags S3 may give content held in memory (as hashFile's): a content of one part (under
 * MULTIPART_THRESHOLD) has its whole MD5 as its part's.
 */
export function etagsOfBytes(bytes: Uint8Array): string[] {
  const whole = createHash('md5').update(bytes).digest();
  const parts: Buffer[] = [];
  if (bytes.length >= MULTIPART_THRESHOLD) {
    for (let at = 0; at < bytes.length; at += MULTIPART_THRESHOLD)
      parts.push(
        createHash('md5')
          .update(bytes.subarray(at, at + MULTIPART_THRESHOLD))
          .digest(),
      );
  } else if (bytes.length > 0) parts.push(whole);
  return etagsOf(whole, parts);
}

/**
 * The SHA-256 of content held in memory, and no MD5: a blob sent in one PUT is proven by its signed SHA-256
 * (blob-store.ts), so its MD5 is computed only when a blob of that name is already there, to check it.
 */
export const digestBytes = (bytes: Uint8Array): Digest => ({ sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });

/** An ETag as HEAD and listings give it, quoted. */
export const quoted = (etag: string): string => (etag.startsWith('"') ? etag : `"${etag}"`);

/** Whether an ETag from the store (quoted or not) is one of `etags`. */
export const etagMatches = (etag: string, etags: readonly string[]): boolean => etags.includes(quoted(etag));
