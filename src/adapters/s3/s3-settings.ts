// Where the remote objects are: endpoint, region, bucket, key prefix and credentials, from the caller's
// options, then the environment the AWS tools use. A root written `s3://bucket/prefix` names the bucket
// and prefix.
import { storageError } from '../../ground/errors.js';

export interface S3Options {
  /** http(s) URL of the S3 service (Ceph radosgw, MinIO, ...); AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL otherwise */
  endpoint?: string;
  /** AWS_REGION or AWS_DEFAULT_REGION otherwise, else us-east-1 */
  region?: string;
  bucket?: string;
  /** key prefix every name lives under ('' the whole bucket); a trailing '/' is added */
  prefix?: string;
  /** AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the SDK's other sources) otherwise */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** bucket in the path, not the host name (what Ceph and MinIO want); default true with an endpoint */
  forcePathStyle?: boolean;
  /** attempts per request before a failure is reported (the SDK retries with backoff); default 3 */
  maxAttempts?: number;
  /**
   * ms a request's connection may stay silent (nothing sent or received) before the attempt is given up
   * and retried: a store that stalls without closing fails the request instead of hanging it (and an
   * unmount waiting for it); default 60,000; 0: wait for ever. A slow transfer that keeps moving is not cut.
   */
  requestTimeout?: number;
  /**
   * ms a directory's listing is kept and answers lookups (names, sizes, attributes) without a request;
   * default 300,000 (5 min, as rclone's --dir-cache-time); 0: no cache, every lookup asks the bucket
   */
  dirCacheTime?: number;
}

export interface S3Settings {
  endpoint: string | undefined;
  region: string;
  bucket: string;
  /** '' or a prefix ending in '/' */
  prefix: string;
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  forcePathStyle: boolean;
  maxAttempts: number;
  requestTimeout: number;
  dirCacheTime: number;
}

/** How long a request's connection may stay silent by default (ms). */
export const DEFAULT_REQUEST_TIMEOUT = 60 * 1000;

/** How long a directory's listing is kept by default (ms): rclone's --dir-cache-time. */
export const DEFAULT_DIR_CACHE_TIME = 5 * 60 * 1000;

/** An s3 option that is a duration in ms, 0 or more, or its default when not given. */
function milliseconds(name: string, value: number | undefined, fallback: number): number {
  const ms = value ?? fallback;
  if (!Number.isFinite(ms) || ms < 0) throw storageError('EINVAL', `the s3 option ${name} must be a number of ms, 0 or more (got ${ms})`);
  return ms;
}

/** Bucket and prefix of `root` when it is written s3://bucket[/prefix]; undefined for other roots. */
export function parseS3Url(root: string): { bucket: string; prefix: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(root);
  if (match === null) return undefined;
  return { bucket: match[1]!, prefix: match[2]! };
}

export function resolveS3Settings(root: string, options: S3Options = {}, env: NodeJS.ProcessEnv = process.env): S3Settings {
  const fromUrl = parseS3Url(root);
  const bucket = options.bucket ?? fromUrl?.bucket;
  if (bucket === undefined || bucket === '') {
    throw storageError('EINVAL', 'an S3 storage needs a bucket', { hint: 'give the root as s3://bucket/prefix or set the s3 option bucket' });
  }
  let prefix = options.prefix ?? fromUrl?.prefix ?? '';
  prefix = prefix.replace(/^\/+/, '');
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  if (prefix.includes('//')) throw storageError('EINVAL', `the key prefix '${prefix}' has an empty path component`);
  const endpoint = options.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
    throw storageError('EINVAL', `the S3 endpoint '${endpoint}' is not an http(s) URL`, { hint: 'e.g. http://127.0.0.1:7480' });
  }
  let credentials = options.credentials;
  if (credentials === undefined && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY };
  }
  const requestTimeout = milliseconds('requestTimeout', options.requestTimeout, DEFAULT_REQUEST_TIMEOUT);
  const dirCacheTime = milliseconds('dirCacheTime', options.dirCacheTime, DEFAULT_DIR_CACHE_TIME);
  return {
    endpoint,
    region: options.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1'),
    bucket,
    prefix,
    credentials,
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    maxAttempts: options.maxAttempts ?? 3,
    requestTimeout,
    dirCacheTime,
  };
}
