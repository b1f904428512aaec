// The object store: the few S3 calls the remote adapters need, on the AWS SDK v3 client (it signs, retries
// and streams), with every failure turned into a StorageError that names the bucket or key and says what to
// check. Keys here are whole object keys (the adapter's prefix already applied).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

import type { GetObjectCommandOutput, S3Client as S3ClientType, S3ClientConfig } from '@aws-sdk/client-s3';
import type { Upload as UploadType } from '@aws-sdk/lib-storage';

import { StorageError, storageError } from '../../ground/errors.js';
import { copyObject, deleteObject, getObject, headBucket, type ListPage, listPage } from './direct-calls.js';
import { DirectGet, READ_BYTES } from './direct-get.js';
import { DirectHead } from './direct-head.js';
import { DirectHttp } from './direct-http.js';
import { DirectPut, sendableMetadata } from './direct-put.js';
import { PathStyleSigner } from './path-style-signer.js';
import { PiecePool } from './piece-pool.js';
import type { ObjectHead, ObjectMetadata } from './object-head.js';
import type { S3Settings } from './s3-settings.js';
import { clientS3, s3HttpHandler } from './sdk.js';

// The SDK's client loads at the first request that needs it (sdk.ts): a store whose requests all go direct
// (a backup, a restore's workers, with an endpoint, path-style and the credentials given) never loads it.
// lib-storage (multipart uploads) loads at the first large PUT.
const require = createRequire(import.meta.url);
let Upload: typeof UploadType | undefined;
const loadUpload = (): typeof UploadType => {
  Upload ??= (require('@aws-sdk/lib-storage') as typeof import('@aws-sdk/lib-storage')).Upload;
  return Upload;
};

export type { ObjectHead, ObjectMetadata } from './object-head.js';

export type { ListPage } from './direct-calls.js';

/**
 * Told of what this process's own requests found or changed, once the object store has answered: the
 * listing cache (listing-cache.ts) keeps its listings true to our own changes with it.
 */
export interface StoreObserver {
  /** `key` now holds `size` bytes, at `etag`, with `metadata` (our PUT) */
  stored(key: string, size: number, etag: string, metadata: ObjectMetadata): void;
  /** a HEAD of `key` answered `head` (undefined: no such object) */
  headed(key: string, head: ObjectHead | undefined): void;
  /** `from` was copied to `to` (at `etag`); with `metadata`, the copy has it, else the source's */
  copied(from: string, to: string, etag: string, metadata: ObjectMetadata | undefined): void;
  /** `key` was deleted */
  deleted(key: string): void;
  /** a read pinned to an ETag of `key` found another version there, or none */
  stale(key: string): void;
}

/** Bodies at or above this go up as a multipart upload, in parts of this size. */
export const MULTIPART_THRESHOLD = 16 * 1024 * 1024;

/** What an SDK error means for the caller, as a StorageError naming `what` (a bucket or key). */
export function s3Error(error: unknown, action: string, bucket: string, key?: string): StorageError {
  const failure = error as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = failure.$metadata?.httpStatusCode;
  // Network failures carry a system code (ECONNREFUSED, ...); answers from the service an error name.
  const name = failure.code !== undefined && /^E[A-Z]+$/.test(failure.code) ? failure.code : (failure.name ?? '');
  const path = key === undefined ? `s3://${bucket}` : `s3://${bucket}/${key}`;
  const details = { path, syscall: action, cause: error };
  switch (name) {
    case 'NoSuchBucket':
      return storageError('ENOENT', `the bucket '${bucket}' does not exist`, { ...details, hint: 'create it first, or check the bucket name' });
    case 'NoSuchKey':
    case 'NotFound':
      return storageError('ENOENT', 'no such object', details);
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'AccessDenied':
    case 'Forbidden':
      return storageError('EACCES', `the object store refused the credentials (${name})`, {
        ...details,
        hint: 'check the access key and secret (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or the s3 options)',
      });
    case 'CredentialsProviderError':
      // the SDK's chain (environment, ~/.aws, the instance's metadata) found none: nothing was sent
      return storageError('EACCES', `no credentials for the object store were found (${failure.message ?? name})`, {
        ...details,
        hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with ~/.aws/credentials), or give the s3 options credentials',
      });
    case 'PreconditionFailed':
      return storageError('ESTALE', 'the object changed in the object store since it was opened', { ...details, hint: 'open it again' });
    case 'InvalidRange':
      return storageError('EINVAL', 'a read past the end of the object', details);
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENOTFOUND':
    case 'TimeoutError':
      return storageError('EIO', `the object store cannot be reached (${name})`, { ...details, hint: 'check the endpoint and that the service is up' });
  }
  if (status === 404) return storageError('ENOENT', 'no such object', details);
  if (status === 403) {
    // HEAD answers have no body, so no error name: a 403 there is the credentials or the bucket's policy.
    return storageError('EACCES', 'the object store refused the request (403)', {
      ...details,
      hint: 'check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or the s3 options) and the bucket policy',
    });
  }
  if (status === 412) return storageError('ESTALE', 'the object changed in the object store since it was opened', details);
  return storageError('EIO', `the object store failed: ${name || 'error'}${failure.message ? ` (${failure.message})` : ''}`, details);
}

/** Whether `error` is a StorageError that a retry may cure (the store unreachable or failing), not a refusal. */
export function isTransient(error: unknown): boolean {
  return (error as { code?: string }).code === 'EIO';
}

// The SDK warns once per process that its releases from 2027 on need Node 22; the version in
// package-lock.json runs on Node 20, which this project targets. Set the variable to 'false' to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export class ObjectStore {
  readonly bucket: string;
  /** the SDK's client, made at the first request that needs it */
  private sdkClient: S3ClientType | undefined;
  /** the HTTP of the direct requests, when the endpoint allows them; the client's handler is given its agent (one pool of kept-alive connections) */
  private readonly http: DirectHttp | undefined;
  /** the signer of the direct requests, when the endpoint allows them */
  private readonly signer: PathStyleSigner | undefined;
  /** told of our requests' outcomes (the listing cache); none by default */
  observer: StoreObserver | undefined;
  /** HEADs without the SDK's middleware, when the endpoint allows (direct-head.ts) */
  private readonly directHead: DirectHead | undefined;
  /** PUTs of content whose SHA-256 the caller gives, without the SDK's middleware (direct-put.ts) */
  private readonly directPut: DirectPut | undefined;
  /** the buffers of the pieces of ranged GETs (stream), used again once given back (giveBack) */
  private readonly pieces = new PiecePool(READ_BYTES, 64);
  /** whole-object GETs without the SDK (direct-get.ts), made on first use: for a restore's worker threads */
  private directGet: DirectGet | undefined | null = null;
  /** told of each HEAD answered without the SDK (its middleware, where requests are counted, does not see those) */
  onDirectHead: ((key: string) => void) | undefined;
  /** told of each ranged GET without the SDK (stream) when it is sent and when it ended, however it did */
  onDirectRange: ((key: string, phase: 'sent' | 'ended') => void) | undefined;
  /** told of each PUT without the SDK when it is sent and when it ended, however it did, with its headers (as onDirectRange) */
  onDirectPut: ((key: string, phase: 'sent' | 'ended', headers: Record<string, string>) => void) | undefined;
  /** told of each HeadBucket, ListObjectsV2, GetObject, DeleteObject and CopyObject answered without the SDK (direct-calls.ts; as onDirectHead) */
  onDirectCall: ((command: 'HeadBucket' | 'ListObjectsV2' | 'GetObject' | 'DeleteObject' | 'CopyObject', key: string | undefined) => void) | undefined;

  constructor(readonly settings: S3Settings) {
    this.bucket = settings.bucket;
    // a silent connection (a store stalled without closing) fails the attempt instead of hanging it:
    // the socket's inactivity, not the request's whole duration (a big transfer that keeps moving goes on)
    const direct = settings.forcePathStyle ? settings.endpoint : undefined;
    if (direct !== undefined) {
      this.http = new DirectHttp(new URL(direct).protocol, settings.requestTimeout || undefined);
      // one signer for the direct requests (made once, asked for again after a failure)
      this.signer = new PathStyleSigner(
        { client: () => this.client, made: () => this.sdkClient, credentials: settings.credentials, region: settings.region, handler: this.http },
        direct,
        settings.bucket,
      );
    }
    this.directHead = this.signer && new DirectHead(this.signer);
    this.directPut = this.signer && new DirectPut(this.signer);
  }

  /** Whether the direct requests can be signed without the client (the credentials given): then they do not make it. */
  private get direct(): PathStyleSigner | undefined {
    return this.signer !== undefined && !this.signer.needsClient ? this.signer : undefined;
  }

  /** The SDK's client (the SDK loaded and the client made at the first call). */
  get client(): S3ClientType {
    if (this.sdkClient !== undefined) return this.sdkClient;
    const settings = this.settings;
    const config: S3ClientConfig = {
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      // Ceph radosgw (and other S3 services) reject the SDK's default checksums on streamed bodies.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // The SDK sends large bodies with 'Expect: 100-continue' and waits for the store's go-ahead before the
      // body: a round trip more per PUT (4 MiB PUTs to radosgw: 290 -> 213 ms median without it), to spare
      // a body the store would refuse (bad credentials), which then fails all the same.
      expectContinueHeader: false,
      maxAttempts: settings.maxAttempts,
      requestHandler: s3HttpHandler({
        agent: this.http?.agent,
        socketTimeout: settings.requestTimeout || undefined,
        connectionTimeout: settings.requestTimeout || undefined,
      }),
    };
    if (settings.endpoint !== undefined) config.endpoint = settings.endpoint;
    if (settings.credentials !== undefined) config.credentials = settings.credentials;
    this.sdkClient = new (clientS3().S3Client)(config);
    return this.sdkClient;
  }

  private async call<T>(action: string, key: string | undefined, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.failed(error, action, key);
    }
  }

  /** The StorageError of a failed request; a read that found another version (or none) tells the observer. */
  private failed(error: unknown, action: string, key: string | undefined): StorageError {
    const failure = s3Error(error, action, this.bucket, key);
    if (action === 'GetObject' && key !== undefined && (failure.code === 'ESTALE' || failure.code === 'ENOENT')) this.observer?.stale(key);
    return failure;
  }

  /** Checks that the bucket exists and the credentials are accepted (ENOENT, EACCES otherwise). */
  async checkBucket(): Promise<void> {
    if (this.direct !== undefined && (await headBucket(this.direct)) === true) {
      this.onDirectCall?.('HeadBucket', undefined);
      return;
    }
    const { HeadBucketCommand } = clientS3();
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // HEAD answers carry no error code: a 404 on the bucket is a missing bucket.
      if (status === 404) throw s3Error(Object.assign(new Error('no such bucket'), { name: 'NoSuchBucket' }), 'HeadBucket', this.bucket);
      throw s3Error(error, 'HeadBucket', this.bucket);
    }
  }

  /** The object's size, ETag and metadata; undefined when there is none. */
  async head(key: string): Promise<ObjectHead | undefined> {
    const direct = this.directHead === undefined ? 'ask-sdk' : await this.directHead.head(key);
    if (direct !== 'ask-sdk') {
      this.onDirectHead?.(key);
      this.observer?.headed(key, direct);
      return direct;
    }
    const { HeadObjectCommand } = clientS3();
    try {
      const answer = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const head = {
        key,
        size: answer.ContentLength ?? 0,
        etag: answer.ETag ?? '',
        lastModified: answer.LastModified ?? new Date(0),
        metadata: answer.Metadata ?? {},
      };
      this.observer?.headed(key, head);
      return head;
    } catch (error) {
      const failure = s3Error(error, 'HeadObject', this.bucket, key);
      if (failure.code !== 'ENOENT') throw failure;
      this.observer?.headed(key, undefined);
      return undefined;
    }
  }

  /**
   * Reads `length` bytes at `offset` into `into` (a ranged GET), only while the object's ETag is still
   * `etag` (ESTALE otherwise); resolves with the bytes read, fewer at the end of the object.
   */
  async readRange(key: string, offset: number, into: Uint8Array, etag: string | undefined): Promise<number> {
    if (into.length === 0) return 0;
    const { GetObjectCommand } = clientS3();
    return this.call('GetObject', key, async () => {
      let answer: GetObjectCommandOutput;
      try {
        answer = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${offset}-${offset + into.length - 1}`, IfMatch: etag || undefined }),
        );
      } catch (error) {
        if ((error as { name?: string }).name === 'InvalidRange') return 0;
        throw error;
      }
      let done = 0;
      for await (const chunk of answer.Body as AsyncIterable<Uint8Array>) {
        const room = into.length - done;
        into.set(chunk.length > room ? chunk.subarray(0, room) : chunk, done);
        done += Math.min(chunk.length, room);
      }
      return done;
    });
  }

  /**
   * The whole object `key` read without the SDK's HTTP stack into one reused buffer, each piece handed to
   * `onBody` synchronously (direct-get.ts): resolves with its size, or undefined when it was not read that
   * way (nothing handed over: the caller streams it with stream(), which the SDK serves). A connection that
   * breaks once the body has begun fails with EIO. `onSent`: called once the request is sent (direct-get.ts).
   */
  async getWhole(key: string, onBody: (piece: Buffer) => void, signal?: AbortSignal, onSent?: () => void): Promise<number | undefined> {
    const direct = this.directGets();
    if (direct === undefined) return undefined;
    const size = await direct.get(key, onBody, { signal, onSent });
    return size === 'ask-sdk' ? undefined : size;
  }

  /** Chunks of stream() (or views of them) nobody uses any more: their buffers serve again (others are ignored). */
  giveBack(chunks: readonly Uint8Array[]): void {
    this.pieces.giveBack(chunks);
  }

  /** The direct GETs (made on first use), or undefined where the endpoint does not allow them. */
  private directGets(): DirectGet | undefined {
    if (this.directGet === null) this.directGet = DirectGet.for(this.signer, this.bucket, this.settings.requestTimeout);
    return this.directGet;
  }

  /**
   * `length` bytes of `key` from `offset` (the version `etag`) by a direct GET (direct-get.ts), its pieces
   * copied out as they come; 'ask-sdk' when nothing came that way (any answer but the range: a 412, a 416,
   * an error) and the SDK is to be asked. A consumer that stops early ends the GET (its connection closed).
   */
  private async *directRange(
    direct: DirectGet,
    key: string,
    offset: number,
    length: number,
    etag: string | undefined,
    signal?: AbortSignal,
  ): AsyncGenerator<Buffer, 'ask-sdk' | undefined, undefined> {
    const pieces: Buffer[] = [];
    let wake: (() => void) | undefined;
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted === true) onAbort();
    let outcome: number | 'ask-sdk' | Error | undefined;
    this.onDirectRange?.(key, 'sent');
    direct
      .get(
        key,
        (piece) => {
          pieces.push(this.pieces.copy(piece));
          wake?.();
        },
        { signal: stop.signal, range: { offset, length, etag } },
      )
      .then(
        (done) => (outcome = done),
        (error: unknown) => (outcome = error instanceof Error ? error : new Error(String(error))),
      )
      .finally(() => {
        this.onDirectRange?.(key, 'ended');
        wake?.();
      });
    try {
      for (;;) {
        while (pieces.length > 0) yield pieces.shift()!;
        if (outcome !== undefined) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      if (outcome === 'ask-sdk') return 'ask-sdk';
      if (outcome instanceof Error) throw outcome instanceof StorageError || signal?.aborted ? outcome : this.failed(outcome, 'GetObject', key);
      return undefined;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (outcome === undefined) stop.abort(new Error('the reader stopped'));
    }
  }

  /**
   * The object from `offset` to its end (or `length` bytes of it) as a stream of chunks (one GET), while its
   * ETag is `etag`. `signal`, when it aborts, ends the GET (its connection closed) and the stream fails.
   * Chunks the caller no longer uses may be given back (giveBack): their memory serves the next GETs.
   */
  async *stream(key: string, offset: number, etag: string | undefined, length?: number, signal?: AbortSignal): AsyncGenerator<Buffer, void, undefined> {
    // the whole object, unpinned (a backup's manifest): one GET without the SDK when the answer is a 200
    if (offset === 0 && etag === undefined && length === undefined && signal === undefined && this.direct !== undefined) {
      const whole = await getObject(this.direct, key);
      if (whole !== 'ask-sdk') {
        this.onDirectCall?.('GetObject', key);
        yield whole;
        return;
      }
    }
    // a range: without the SDK's HTTP stack where the endpoint allows (a third of its CPU a byte)
    const direct = length !== undefined && length > 0 && this.direct !== undefined ? this.directGets() : undefined;
    if (direct !== undefined && (yield* this.directRange(direct, key, offset, length!, etag, signal)) !== 'ask-sdk') return;
    let body: AsyncIterable<Uint8Array>;
    const last = length === undefined ? '' : `${offset + length - 1}`;
    const { GetObjectCommand } = clientS3();
    try {
      const answer = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${offset}-${last}`, IfMatch: etag || undefined }),
        signal === undefined ? undefined : { abortSignal: signal },
      );
      body = answer.Body as AsyncIterable<Uint8Array>;
    } catch (error) {
      if ((error as { name?: string }).name === 'InvalidRange') return;
      throw this.failed(error, 'GetObject', key);
    }
    // the SDK stops watching the signal once the answer's headers are in: a body stalled mid-way is ended here
    const onAbort = () => (body as Readable).destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted === true) onAbort();
      for await (const chunk of body) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    } catch (error) {
      throw this.failed(error, 'GetObject', key);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Stores `body` as `key` with `metadata`, whole: readers see the old object or the new one, never a part.
   * Large bodies go up in parts (one multipart upload, completed at the end). Resolves with the new ETag.
   * A body sent in one PUT is signed with its SHA-256 as the payload hash (x-amz-content-sha256; `sha256`,
   * hex, when the caller knows it, else computed here): the store refuses a body that is not that content
   * (EIO). Such a PUT goes without the SDK's middleware when the endpoint allows and its metadata fits into
   * headers as it is (direct-put.ts), through the SDK otherwise or when that is not answered 200.
   */
  async put(key: string, body: Uint8Array | Readable, size: number, metadata: ObjectMetadata, sha256?: string): Promise<string> {
    if (size < MULTIPART_THRESHOLD && !(body instanceof Readable)) {
      // hashed here when the caller did not: a few microseconds a KiB, where the SDK's stack costs ~1.5 ms a request
      const hash = sha256 ?? (this.directPut === undefined ? undefined : createHash('sha256').update(body).digest('hex'));
      let sent: Record<string, string> | undefined;
      const direct =
        hash !== undefined && this.directPut !== undefined && sendableMetadata(metadata)
          ? await this.directPut
              .put(key, body, hash, metadata, (headers) => {
                sent = headers;
                this.onDirectPut?.(key, 'sent', headers);
              })
              .finally(() => sent && this.onDirectPut?.(key, 'ended', sent))
          : 'ask-sdk';
      if (direct !== 'ask-sdk') {
        this.observer?.stored(key, size, direct, metadata);
        return direct;
      }
      const command = new (clientS3().PutObjectCommand)({ Bucket: this.bucket, Key: key, Body: body, ContentLength: size, Metadata: metadata });
      if (hash !== undefined) {
        command.middlewareStack.add(
          (next) => (args) => {
            (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = hash;
            return next(args);
          },
          { step: 'build', name: 'persistfsContentSha256' },
        );
      }
      const answer = await this.call('PutObject', key, () => this.client.send(command));
      const etag = answer.ETag ?? '';
      this.observer?.stored(key, size, etag, metadata);
      return etag;
    }
    await this.call('MultipartUpload', key, () =>
      new (loadUpload())({
        client: this.client,
        params: { Bucket: this.bucket, Key: key, Body: body, Metadata: metadata },
        partSize: MULTIPART_THRESHOLD,
        queueSize: 4,
        leavePartsOnError: false,
      }).done(),
    );
    // radosgw answers CompleteMultipartUpload with an empty ETag: ask for it.
    const head = await this.head(key);
    if (head === undefined) throw storageError('EIO', 'the object store lost an object right after storing it', { path: `s3://${this.bucket}/${key}` });
    this.observer?.stored(key, head.size, head.etag, metadata);
    return head.etag;
  }

  /** Copies `from` to `to` on the server; with `metadata`, the copy gets it instead of the source's. */
  async copy(from: string, to: string, metadata?: ObjectMetadata): Promise<string> {
    const source = `${this.bucket}/${encodeURIComponent(from).replaceAll('%2F', '/')}`;
    let etag =
      this.direct !== undefined && (metadata === undefined || sendableMetadata(metadata)) ? await copyObject(this.direct, source, to, metadata) : 'ask-sdk';
    if (etag !== 'ask-sdk') this.onDirectCall?.('CopyObject', from);
    else {
      const answer = await this.call('CopyObject', from, () =>
        this.client.send(
          new (clientS3().CopyObjectCommand)({
            Bucket: this.bucket,
            Key: to,
            CopySource: source,
            ...(metadata === undefined ? {} : { Metadata: metadata, MetadataDirective: 'REPLACE' }),
          }),
        ),
      );
      etag = answer.CopyObjectResult?.ETag ?? '';
      // the SDK takes a 200 as a success unless its body ends in </Error>: one without an ETag is no copy
      // known to be made, and a rename must not delete its source after it
      if (etag === '')
        throw storageError('EIO', `the object store answered the copy of '${from}' without the copy's ETag: it may not have been made`, {
          path: `s3://${this.bucket}/${to}`,
          hint: 'try again; a rename leaves its source in place',
        });
    }
    // as HEAD and listings give it: radosgw's CopyObjectResult has the ETag without its quotes (the cache
    // compares ETags to tell a changed object)
    if (!etag.startsWith('"') && !etag.startsWith('W/')) etag = `"${etag}"`;
    this.observer?.copied(from, to, etag, metadata);
    return etag;
  }

  async delete(key: string): Promise<void> {
    if (this.direct !== undefined && (await deleteObject(this.direct, key)) === true) this.onDirectCall?.('DeleteObject', key);
    else await this.call('DeleteObject', key, () => this.client.send(new (clientS3().DeleteObjectCommand)({ Bucket: this.bucket, Key: key })));
    this.observer?.deleted(key);
  }

  /** Deletes `keys`, up to 1,000 a request; fails naming the first key the store refused. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000);
      const answer = await this.call('DeleteObjects', batch[0], () =>
        this.client.send(new (clientS3().DeleteObjectsCommand)({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })),
      );
      const refused = answer.Errors?.[0];
      const failed = new Set((answer.Errors ?? []).map((item) => item.Key));
      for (const key of batch) if (!failed.has(key)) this.observer?.deleted(key);
      if (refused !== undefined)
        throw storageError('EIO', `the object store refused to delete (${refused.Code})`, { path: `s3://${this.bucket}/${refused.Key}` });
    }
  }

  /**
   * The objects and common prefixes under `prefix`, page by page (with `delimiter` '/', one directory
   * level; with '' every object below). `limit` stops after that many keys.
   */
  async *list(prefix: string, delimiter: '/' | '', limit = Number.POSITIVE_INFINITY): AsyncGenerator<ListPage, void, undefined> {
    let token: string | undefined;
    let seen = 0;
    do {
      const maxKeys = Math.min(1000, limit - seen);
      const direct = this.direct === undefined ? 'ask-sdk' : await listPage(this.direct, prefix, delimiter || undefined, token, maxKeys);
      if (direct !== 'ask-sdk') {
        this.onDirectCall?.('ListObjectsV2', prefix);
        seen += direct.page.objects.length + direct.page.prefixes.length;
        yield direct.page;
        token = direct.truncated && seen < limit ? direct.next : undefined;
        continue;
      }
      const { ListObjectsV2Command } = clientS3();
      const answer = await this.call('ListObjectsV2', prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: delimiter || undefined,
            ContinuationToken: token,
            MaxKeys: maxKeys,
          }),
        ),
      );
      const page: ListPage = {
        objects: (answer.Contents ?? []).map((item) => ({
          key: item.Key ?? '',
          size: item.Size ?? 0,
          etag: item.ETag ?? '',
          lastModified: item.LastModified ?? new Date(0),
        })),
        prefixes: (answer.CommonPrefixes ?? []).map((item) => item.Prefix ?? ''),
      };
      seen += page.objects.length + page.prefixes.length;
      yield page;
      token = answer.IsTruncated && seen < limit ? answer.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Whether any object has a key starting with `prefix`. */
  async anyUnder(prefix: string): Promise<boolean> {
    for await (const page of this.list(prefix, '', 1)) return page.objects.length > 0;
    return false;
  }

  close(): void {
    if (this.directGet) this.directGet.close();
    this.sdkClient?.destroy();
    this.http?.destroy();
  }
}
