// Requests signed for the direct requests that skip the SDK's middleware stack (direct-head.ts,
// direct-get.ts, direct-put.ts, direct-calls.ts): path-style (the bucket in the path of the endpoint), an
// unsigned payload (a PUT's: its SHA-256), the client's clock skew correction once the client is made. With
// the credentials given (the options, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) signed by aws4
// (static-signer.ts), without the SDK; otherwise by the client's own signer (the SDK's credential chain).
// Sent through `handler` (direct-http.ts), whose keep-alive agent the client's HTTP handler is given too
// (one pool of connections). The signer is made once and asked for again after a failure (a failure to
// make one is not kept).
import type { S3Client } from '@aws-sdk/client-s3';

import { type DirectHttp, type DirectRequest, uriEscape } from './direct-http.js';
import { type StaticCredentials, StaticSigner } from './static-signer.js';

export type SignedRequest = DirectRequest;

/** What signs a request: aws4 (static-signer.ts) or the client's signer. */
interface RequestSigner {
  sign(request: DirectRequest, options: { signingDate: Date }): DirectRequest | Promise<DirectRequest>;
}

/** A key as S3 wants it in a path: each segment percent-encoded as RFC 3986 says (the SDK's encoding). */
export const encodedKey = (key: string): string => key.split('/').map(uriEscape).join('/');

/** Where the signer comes from: the client (made when asked), or the credentials and region to sign with. */
export interface SignerSource {
  /** the store's client (made on the first call) */
  client: () => S3Client;
  /** the client, if it was made: its clock skew correction applies */
  made: () => S3Client | undefined;
  credentials: StaticCredentials | undefined;
  region: string;
  /** the HTTP of the direct requests */
  handler: DirectHttp;
}

export class PathStyleSigner {
  private signer: Promise<RequestSigner> | undefined;
  readonly url: URL;
  readonly handler: DirectHttp;

  constructor(
    private readonly source: SignerSource,
    endpoint: string,
    private readonly bucket: string,
  ) {
    this.url = new URL(endpoint);
    this.handler = source.handler;
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
      this.signer ??=
        credentials === undefined
          ? (this.source.client().config.signer() as Promise<unknown> as Promise<RequestSigner>)
          : Promise.resolve(new StaticSigner(region, credentials));
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
