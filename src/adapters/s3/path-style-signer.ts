// Requests signed by an S3 client's own signer, for the direct requests that skip the SDK's middleware
// stack (direct-head.ts, direct-get.ts, direct-put.ts, direct-calls.ts): path-style (the bucket in the path
// of the endpoint), an unsigned payload (a PUT's: its SHA-256), the client's clock skew correction once the
// client is made. With the credentials given (the options, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)
// the signer is the one the client would make, made without the client (sdk.ts: its class and options);
// otherwise the client's own (the SDK's credential chain). Sent through `handler`, the HTTP handler the
// client is given too (one pool of kept-alive connections). The signer is made once and asked for again
// after a failure (a failure to make one is not kept).
import type { S3Client } from '@aws-sdk/client-s3';

import { type HttpHandler, type Signer, s3Signer, type StaticCredentials } from './sdk.js';

export type SignedRequest = Parameters<Signer['sign']>[0];

/** A key as S3 wants it in a path: each segment percent-encoded as RFC 3986 says (the SDK's encoding). */
const encodedKey = (key: string): string =>
  key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');

/** Where the signer comes from: the client (made when asked), or the credentials and region to make the client's kind of signer with. */
export interface SignerSource {
  /** the store's client (made on the first call) */
  client: () => S3Client;
  /** the client, if it was made: its clock skew correction applies */
  made: () => S3Client | undefined;
  credentials: StaticCredentials | undefined;
  region: string;
  /** the HTTP handler the client has (or will have) */
  handler: HttpHandler;
}

export class PathStyleSigner {
  private signer: Promise<Signer> | undefined;
  readonly url: URL;
  readonly handler: HttpHandler;

  constructor(
    private readonly source: SignerSource,
    endpoint: string,
    private readonly bucket: string,
  ) {
    this.url = new URL(endpoint);
    this.handler = source.handler;
  }

  /** A signer for direct requests, or undefined when they need the SDK's endpoint rules (no endpoint, or virtual-host style). */
  static for(source: SignerSource, endpoint: string | undefined, forcePathStyle: boolean, bucket: string): PathStyleSigner | undefined {
    if (endpoint === undefined || !forcePathStyle) return undefined;
    return new PathStyleSigner(source, endpoint, bucket);
  }

  /** Whether signing needs the client (no credentials given: the SDK's credential chain finds them). */
  get needsClient(): boolean {
    return this.source.credentials === undefined;
  }

  /**
   * `method` of object `key` (undefined: of the bucket), signed, its payload hash `payload` (a PUT's body's
   * SHA-256, hex) with `headers` and `query` more; throws what the signer throws (and asks for a new signer
   * next time).
   */
  async sign(
    method: 'GET' | 'HEAD' | 'PUT' | 'DELETE',
    key: string | undefined,
    payload = 'UNSIGNED-PAYLOAD',
    headers: Record<string, string> = {},
    query: Record<string, string> = {},
  ): Promise<SignedRequest> {
    try {
      const { credentials, region } = this.source;
      this.signer ??= credentials === undefined ? this.source.client().config.signer() : Promise.resolve(s3Signer(region, credentials));
      const base = this.url.pathname.replace(/\/+$/, '');
      const request: SignedRequest = {
        method,
        protocol: this.url.protocol,
        hostname: this.url.hostname,
        port: this.url.port === '' ? undefined : Number(this.url.port),
        path: key === undefined ? `${base}/${encodedKey(this.bucket)}` : `${base}/${encodedKey(this.bucket)}/${encodedKey(key)}`,
        query,
        headers: { ...headers, host: this.url.host, 'x-amz-content-sha256': payload },
      };
      const offset = this.source.made()?.config.systemClockOffset ?? 0;
      return await (await this.signer).sign(request, { signingDate: new Date(Date.now() + offset) });
    } catch (error) {
      this.signer = undefined;
      throw error;
    }
  }
}
