// The blobs of a backup prefix: each content once, under its SHA-256. What is there already is learnt
// from one listing of blobs/ (a blob counts only when its size and ETag are those of the content: a
// damaged or partial one is sent again). A new blob under MULTIPART_THRESHOLD whose bytes the caller holds
// (read once, SHA-256 only: ensureBytes) goes up in one PUT signed with its SHA-256: the store refuses
// other bytes, so the ETag it answers is recorded as the blob's, with no MD5 computed (its MD5 is computed
// only when a blob of that name is already listed, to check that one). Otherwise a blob streams from disk
// (multipart above the threshold, through ObjectStore.put) and is then checked with a HEAD: its size and
// ETag must be those of the bytes hashed, or it is deleted and the backup fails naming the file.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { pipeline, Transform } from 'node:stream';

import { storageError, toStorageError } from '../ground/errors.js';
import { MULTIPART_THRESHOLD, type ObjectStore } from '../adapters/s3/object-store.js';
import { type ContentHash, type Digest, etagMatches, etagsOfBytes, quoted } from './content-hash.js';
import { blobKey, blobsPrefix } from './manifest.js';

/** Counts the bytes that pass, for the progress. */
function counter(onBytes: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
}

/** What ensure found or did: whether it sent the blob, and the ETags the blob has in the store. */
export interface Stored {
  sent: boolean;
  etags: string[];
}

export class BlobStore {
  private readonly present = new Map<string, { size: number; etag: string }>();
  /** uploads under way (resolving with the blob's ETags), so that two files with one content send it once */
  private readonly sending = new Map<string, Promise<string[]>>();

  constructor(
    readonly store: ObjectStore,
    readonly prefix: string,
  ) {}

  /** Learns which blobs are there (one listing); resolves with how many. */
  async load(): Promise<number> {
    const under = blobsPrefix(this.prefix);
    for await (const page of this.store.list(under, '')) {
      for (const object of page.objects) this.present.set(object.key.slice(under.length), { size: object.size, etag: object.etag });
    }
    return this.present.size;
  }

  /** Whether the blob of `hash` is in the store, whole (its size and ETag are the content's). */
  has(hash: ContentHash): boolean {
    const found = this.present.get(hash.sha256);
    return found !== undefined && found.size === hash.size && etagMatches(found.etag, hash.etags);
  }

  /**
   * Makes sure the blob of `hash` is there, streaming the file at `location` (named `path` in errors) when it
   * is not. `onBytes` hears of each chunk sent.
   */
  ensure(hash: ContentHash, location: Buffer, path: string, onBytes: (bytes: number) => void): Promise<Stored> {
    if (this.has(hash)) return Promise.resolve({ sent: false, etags: hash.etags });
    return this.once(hash, () => this.send(hash, location, path, onBytes).then(() => hash.etags));
  }

  /**
   * Makes sure the blob of `bytes` (a content under MULTIPART_THRESHOLD held in memory, whose SHA-256 and
   * size are `digest`) is there, sending those bytes when it is not (`onBytes` hears of them). A blob of that name already listed
   * with that size is checked by the MD5 of `bytes` (computed only then).
   */
  ensureBytes(digest: Digest, bytes: Uint8Array, onBytes: (bytes: number) => void): Promise<Stored> {
    const found = this.present.get(digest.sha256);
    if (found !== undefined && found.size === digest.size) {
      const etags = etagsOfBytes(bytes);
      if (etagMatches(found.etag, etags)) return Promise.resolve({ sent: false, etags });
    }
    return this.once(digest, () => this.sendBytes(digest, bytes, onBytes));
  }

  /** Runs `send` for the blob of `digest` unless an upload of it is under way (then waits for that one). */
  private async once(digest: Digest, send: () => Promise<string[]>): Promise<Stored> {
    const under = this.sending.get(digest.sha256);
    if (under !== undefined) return { sent: false, etags: await under };
    const sending = send();
    this.sending.set(digest.sha256, sending);
    return { sent: true, etags: await sending };
  }

  /**
   * Sends content held in memory in one PUT signed with its SHA-256 (the store checks the body against it,
   * and refuses another: EIO): no HEAD, no second read, no MD5. Resolves with the ETag the PUT answered.
   */
  private async sendBytes(digest: Digest, bytes: Uint8Array, onBytes: (bytes: number) => void): Promise<string[]> {
    const key = blobKey(this.prefix, digest.sha256);
    const etag = await this.store.put(key, bytes, bytes.length, {}, digest.sha256);
    onBytes(bytes.length);
    this.present.set(digest.sha256, { size: bytes.length, etag });
    return etag === '' ? [] : [quoted(etag)];
  }

  private async send(hash: ContentHash, location: Buffer, path: string, onBytes: (bytes: number) => void): Promise<void> {
    const key = blobKey(this.prefix, hash.sha256);
    if (hash.size < MULTIPART_THRESHOLD) {
      const bytes = await fs.promises.readFile(location).catch((error: unknown) => {
        throw toStorageError(error, 'read', path);
      });
      if (createHash('sha256').update(bytes).digest('hex') !== hash.sha256) throw changed(path);
      await this.store.put(key, bytes, bytes.length, {});
      onBytes(bytes.length);
    } else {
      // pipeline, not pipe: a read error reaches the upload (which then fails) instead of stalling it
      const body = pipeline(fs.createReadStream(location, { highWaterMark: 1024 * 1024 }), counter(onBytes), () => undefined);
      await this.store.put(key, body, hash.size, {});
    }
    const head = await this.store.head(key);
    if (head === undefined || head.size !== hash.size || !etagMatches(head.etag, hash.etags)) {
      await this.store.delete(key).catch(() => undefined);
      if (head !== undefined && head.size !== hash.size) throw changed(path);
      throw otherBytes(this.store, key, path, head?.etag, hash);
    }
    this.present.set(hash.sha256, { size: head.size, etag: head.etag });
  }
}

/** The error for a blob whose ETag in the store is not that of the content hashed. */
const otherBytes = (store: ObjectStore, key: string, path: string, etag: string | undefined, hash: ContentHash) =>
  storageError('EIO', `the object store holds other bytes than were sent for '${path}' (ETag ${etag || 'none'}, expected ${hash.etags.join(' or ')})`, {
    path: `s3://${store.bucket}/${key}`,
    hint: 'if the file changed while it was backed up, run the backup again; otherwise the object store damaged the upload',
  });

/** The error for a file that changed while it was read for the backup. */
export const changed = (path: string) =>
  storageError('EAGAIN', 'the file changed while it was backed up', {
    path,
    hint: 'back up a tree nothing writes to (for an LSM store: a checkpoint, or the store closed), or run the backup again',
  });
