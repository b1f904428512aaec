// AWS Signature Version 4 of the direct requests made with credentials given (the options, or
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), by the aws4 library: the signature the SDK's signer makes
// for the same request (test/remote/static-signer.test.ts compares them), without loading the SDK's signer,
// which pulls most of @smithy/core in (40-60 ms of a `persistfs backup` that sends a few blobs; BENCHMARKS.md,
// session 53). The request is signed as it is sent (direct-http.ts): its path already encoded, its query
// encoded as RFC 3986 says, its payload hash in x-amz-content-sha256, the time given as x-amz-date.
import { createRequire } from 'node:module';

import type Aws4 from 'aws4';

import { type DirectRequest, queryString } from './direct-http.js';

const require = createRequire(import.meta.url);

export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** `date` as SigV4 writes it: 20260102T030405Z. */
const amzDate = (date: Date): string => date.toISOString().replace(/[:-]|\.\d{3}/g, '');

export class StaticSigner {
  private readonly aws4 = require('aws4') as typeof Aws4;

  constructor(
    private readonly region: string,
    private readonly credentials: StaticCredentials,
  ) {}

  /** `request` with its x-amz-date (`options.signingDate`) and Authorization headers added. */
  sign(request: DirectRequest, options: { signingDate: Date }): DirectRequest {
    const query = queryString(request.query);
    const signed = this.aws4.sign(
      {
        service: 's3',
        region: this.region,
        method: request.method,
        hostname: request.hostname,
        port: request.port,
        path: query === '' ? request.path : `${request.path}?${query}`,
        headers: { ...request.headers, 'x-amz-date': amzDate(options.signingDate) },
        // aws4 leaves Range out of the signature; the SDK signs it (a ranged read's range is signed too)
        extraHeadersToInclude: { range: true },
      } as Aws4.Request,
      this.credentials,
    );
    return { ...request, headers: signed.headers as Record<string, string> };
  }
}
