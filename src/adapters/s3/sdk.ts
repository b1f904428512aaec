// The AWS SDK, loaded when first wanted. @aws-sdk/client-s3 costs about 0.2 s of CPU to load (and a client
// another ~0.05 s at its first request: its endpoint rules, credential chain and middleware), most of what a
// `persistfs backup` that sends a few blobs spends before its first request (BENCHMARKS.md, branch
// backupstart). A store with an endpoint, path-style addressing and its credentials given (the options or
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) makes its direct requests with the pieces of the SDK the client
// itself would use (its signer class with the client's options, its HTTP handler), resolved
// from where @aws-sdk/client-s3 is installed, so they are the very modules the client would load; the
// client (and the rest of the SDK) loads only when a request needs it (a fallback, a multipart upload,
// a ranged read the direct GET leaves to it, any answer a direct request does not take). Loaded with require, not import: the SDK is CommonJS, and Node's
// ESM loader parses a CommonJS entry for its export names (and checks its syntax for ESM) before running it.
import { createRequire } from 'node:module';

import type { S3Client } from '@aws-sdk/client-s3';

const require = createRequire(import.meta.url);

let clientModule: typeof import('@aws-sdk/client-s3') | undefined;

/** @aws-sdk/client-s3, loaded at the first call. */
export function clientS3(): typeof import('@aws-sdk/client-s3') {
  clientModule ??= require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');
  return clientModule;
}

/** Whether @aws-sdk/client-s3 was loaded by this process (or thread) through clientS3(). */
export const clientS3Loaded = (): boolean => clientModule !== undefined;

let sdkRequire: NodeJS.Require | undefined;

/** A module as @aws-sdk/client-s3 itself resolves it (the copy it would load, wherever npm put it). */
function fromClient<T>(name: string): T {
  sdkRequire ??= createRequire(require.resolve('@aws-sdk/client-s3'));
  return sdkRequire(name) as T;
}

/** The S3 client's signer as its config.signer() makes it: its signer class with the client's options. */
export type Signer = Awaited<ReturnType<S3Client['config']['signer']>>;

export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * The signer an S3Client of `region` with `credentials` makes (resolveAwsSdkSigV4Config in @aws-sdk/core:
 * client-s3's signerConstructor SignatureV4MultiRegion, service 's3', its sha256 Sha256, signingEscapePath
 * false), without loading the client.
 */
export function s3Signer(region: string, credentials: StaticCredentials): Signer {
  const { SignatureV4MultiRegion } = fromClient<typeof import('@aws-sdk/signature-v4-multi-region')>('@aws-sdk/signature-v4-multi-region');
  const { Sha256 } = fromClient<{ Sha256: new (secret?: unknown) => unknown }>('@smithy/core/checksum');
  return new SignatureV4MultiRegion({
    credentials,
    region,
    service: 's3',
    sha256: Sha256 as never,
    uriEscapePath: false,
  }) as unknown as Signer;
}

/** The HTTP handler an S3Client makes of its requestHandler options (NodeHttpHandler), made here to be shared with it. */
export type HttpHandler = S3Client['config']['requestHandler'];

export function s3HttpHandler(options: { socketTimeout?: number | undefined; connectionTimeout?: number | undefined }): HttpHandler {
  const { NodeHttpHandler } = fromClient<{ NodeHttpHandler: new (options: unknown) => HttpHandler }>('@smithy/node-http-handler');
  return new NodeHttpHandler(options);
}
