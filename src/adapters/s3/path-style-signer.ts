// Requests for one object signed by an S3 client's own signer, for the direct HEAD, GET and PUT that skip
// the SDK's middleware stack (direct-head.ts, direct-get.ts, direct-put.ts): path-style (the bucket in the
// path of the endpoint), an unsigned payload (a PUT's: its SHA-256), the client's clock skew correction. The signer is made once and asked for
// again after a failure (a failure to make one is not kept).
import type { S3Client } from '@aws-sdk/client-s3';

type Signer = Awaited<ReturnType<S3Client['config']['signer']>>;
export type SignedRequest = Parameters<Signer['sign']>[0];

/** A key as S3 wants it in a path: each segment percent-encoded as RFC 3986 says (the SDK's encoding). */
const encodedKey = (key: string): string =>
  key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');

export class PathStyleSigner {
  private signer: Promise<Signer> | undefined;
  readonly url: URL;

  constructor(
    readonly client: S3Client,
    endpoint: string,
    private readonly bucket: string,
  ) {
    this.url = new URL(endpoint);
  }

  /** A signer for `client`'s direct requests, or undefined when they need the SDK's endpoint rules (no endpoint, or virtual-host style). */
  static for(client: S3Client, endpoint: string | undefined, forcePathStyle: boolean, bucket: string): PathStyleSigner | undefined {
    if (endpoint === undefined || !forcePathStyle) return undefined;
    return new PathStyleSigner(client, endpoint, bucket);
  }

  /**
   * `method` of object `key`, signed, its payload hash `payload` (a PUT's body's SHA-256, hex) with `headers`
   * more; throws what the signer throws (and asks for a new signer next time).
   */
  async sign(method: 'GET' | 'HEAD' | 'PUT', key: string, payload = 'UNSIGNED-PAYLOAD', headers: Record<string, string> = {}): Promise<SignedRequest> {
    try {
      const config = this.client.config;
      this.signer ??= config.signer();
      const base = this.url.pathname.replace(/\/+$/, '');
      const request: SignedRequest = {
        method,
        protocol: this.url.protocol,
        hostname: this.url.hostname,
        port: this.url.port === '' ? undefined : Number(this.url.port),
        path: `${base}/${encodedKey(this.bucket)}/${encodedKey(key)}`,
        query: {},
        headers: { ...headers, host: this.url.host, 'x-amz-content-sha256': payload },
      };
      return await (await this.signer).sign(request, { signingDate: new Date(Date.now() + (config.systemClockOffset ?? 0)) });
    } catch (error) {
      this.signer = undefined;
      throw error;
    }
  }
}
