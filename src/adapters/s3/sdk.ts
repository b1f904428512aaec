// The AWS SDK, loaded when first wanted. @aws-sdk/client-s3 costs about 0.2 s of CPU to load (and a client
// another ~0.05 s at its first request: its endpoint rules, credential chain and middleware), most of what a
// `persistfs backup` that sends a few blobs spends before its first request (BENCHMARKS.md, branch
// backupstart). A store with an endpoint, path-style addressing and its credentials given (the options or
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) makes its direct requests without any of the SDK (signed by
// aws4: static-signer.ts; sent by node:http: direct-http.ts); the client (and the SDK with it) loads only
// when a request needs it (a fallback, a multipart upload, a ranged read the direct GET leaves to it, any
// answer a direct request does not take), its HTTP handler then on the direct requests' agent. Loaded with
// require, not import: the SDK is CommonJS, and Node's ESM loader parses a CommonJS entry for its export
// names (and checks its syntax for ESM) before running it.
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

/** The HTTP handler an S3Client makes of its requestHandler options (NodeHttpHandler). */
export type HttpHandler = S3Client['config']['requestHandler'];

/**
 * The client's HTTP handler (NodeHttpHandler, loaded with the client), on `agent` when given: the keep-alive
 * agent of the direct requests (direct-http.ts), so that both use one pool of connections.
 */
export function s3HttpHandler(options: { agent?: unknown; socketTimeout?: number | undefined; connectionTimeout?: number | undefined }): HttpHandler {
  const { NodeHttpHandler } = fromClient<{ NodeHttpHandler: new (options: unknown) => HttpHandler }>('@smithy/node-http-handler');
  const { agent, ...timeouts } = options;
  return new NodeHttpHandler(agent === undefined ? timeouts : { ...timeouts, httpAgent: agent, httpsAgent: agent });
}
