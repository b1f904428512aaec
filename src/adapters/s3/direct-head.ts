// A HEAD of an object without the SDK's middleware stack: signed and sent as path-style-signer.ts and
// direct-http.ts do (the keep-alive connections the SDK's client shares, the same socket timeouts), its
// headers read here. The stack
// (serializer, endpoint rules, retry strategy, deserializer; a Command resolved per send) costs about 1.5 ms
// of CPU a request when the process is otherwise idle: 4.2 against 2.7 ms a HEAD on a loopback radosgw
// (BENCHMARKS.md, "The remote tier's reads, branch s3read"), and a cached file's open makes one.
// Only with an endpoint given and path-style addressing (the bucket in the path, no endpoint rules to
// follow); only a 200 or a 404 is answered here: anything else (an error, a redirect, a refusal, a failure
// to connect) is left to the SDK's HeadObject, with its retries, clock skew correction and error mapping (a
// store that stalls is waited for once more than the SDK's attempts: this request's socket timeout).

import type { ObjectHead, ObjectMetadata } from './object-head.js';
import type { PathStyleSigner } from './path-style-signer.js';

/** What a direct HEAD found: the object, none (404), or 'ask-sdk' for any other outcome. */
export type DirectHeadAnswer = ObjectHead | undefined | 'ask-sdk';

const META = 'x-amz-meta-';

/** Direct HEADs of the signer's bucket, through the signer's HTTP (direct-http.ts). */
export class DirectHead {
  constructor(private readonly signer: PathStyleSigner) {}

  async head(key: string): Promise<DirectHeadAnswer> {
    try {
      const signed = await this.signer.sign('HEAD', key);
      const { response } = await this.signer.handler.handle(signed);
      (response.body as { resume?: () => void } | undefined)?.resume?.();
      if (response.statusCode === 404) return undefined;
      if (response.statusCode !== 200) return 'ask-sdk';
      return headOf(key, response.headers as Record<string, string | undefined>);
    } catch {
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
