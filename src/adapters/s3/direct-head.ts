// A HEAD of an object without the SDK's middleware stack: signed by the client's own signer and sent by its
// own HTTP handler (the same keep-alive connections and socket timeouts), its headers read here. The stack
// (serializer, endpoint rules, retry strategy, deserializer; a Command resolved per send) costs about 1.5 ms
// of CPU a request when the process is otherwise idle: 4.2 against 2.7 ms a HEAD on a loopback radosgw
// (BENCHMARKS.md, "The remote tier's reads, branch s3read"), and a cached file's open makes one.
// Only with an endpoint given and path-style addressing (the bucket in the path, no endpoint rules to
// follow); only a 200 or a 404 is answered here: anything else (an error, a redirect, a refusal, a failure
// to connect) is left to the SDK's HeadObject, with its retries, clock skew correction and error mapping (a
// store that stalls is waited for once more than the SDK's attempts: this request's socket timeout).
import type { S3Client } from '@aws-sdk/client-s3';

import type { ObjectHead, ObjectMetadata } from './object-head.js';

type Signer = Awaited<ReturnType<S3Client['config']['signer']>>;
type SignedRequest = Parameters<Signer['sign']>[0];

/** What a direct HEAD found: the object, none (404), or 'ask-sdk' for any other outcome. */
export type DirectHeadAnswer = ObjectHead | undefined | 'ask-sdk';

const META = 'x-amz-meta-';

/** A key as S3 wants it in a path: each segment percent-encoded as RFC 3986 says (the SDK's encoding). */
const encodedKey = (key: string): string =>
  key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');

export class DirectHead {
  private signer: Promise<Signer> | undefined;
  private readonly url: URL;

  private constructor(
    private readonly client: S3Client,
    endpoint: string,
    private readonly bucket: string,
  ) {
    this.url = new URL(endpoint);
  }

  /** A direct HEAD for `client`, or undefined when it needs the SDK's endpoint rules (no endpoint, or virtual-host style). */
  static for(client: S3Client, endpoint: string | undefined, forcePathStyle: boolean, bucket: string): DirectHead | undefined {
    if (endpoint === undefined || !forcePathStyle) return undefined;
    return new DirectHead(client, endpoint, bucket);
  }

  async head(key: string): Promise<DirectHeadAnswer> {
    try {
      const config = this.client.config;
      this.signer ??= config.signer();
      const base = this.url.pathname.replace(/\/+$/, '');
      const request: SignedRequest = {
        method: 'HEAD',
        protocol: this.url.protocol,
        hostname: this.url.hostname,
        port: this.url.port === '' ? undefined : Number(this.url.port),
        path: `${base}/${encodedKey(this.bucket)}/${encodedKey(key)}`,
        query: {},
        headers: { host: this.url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      };
      const signed = await (await this.signer).sign(request, { signingDate: new Date(Date.now() + (config.systemClockOffset ?? 0)) });
      const { response } = await config.requestHandler.handle(signed);
      (response.body as { resume?: () => void } | undefined)?.resume?.();
      if (response.statusCode === 404) return undefined;
      if (response.statusCode !== 200) return 'ask-sdk';
      return headOf(key, response.headers as Record<string, string | undefined>);
    } catch {
      // the signer too is asked for again next time (a failure to make one is not kept)
      this.signer = undefined;
      return 'ask-sdk';
    }
  }
}

/** The object's size, ETag, time and metadata from the headers of a HEAD's answer (names in lower case). */
function headOf(key: string, headers: Record<string, string | undefined>): ObjectHead | 'ask-sdk' {
  const size = Number(headers['content-length']);
  if (!Number.isSafeInteger(size) || size < 0) return 'ask-sdk';
  const modified = headers['last-modified'];
  const metadata: ObjectMetadata = {};
  for (const [name, value] of Object.entries(headers)) if (name.startsWith(META) && value !== undefined) metadata[name.slice(META.length)] = value;
  return { key, size, etag: headers.etag ?? '', lastModified: modified === undefined ? new Date(0) : new Date(modified), metadata };
}
