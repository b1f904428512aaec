// A PUT of content held in memory (a backup's blob, a file the mount uploads), without the SDK's middleware
// stack: signed (path-style-signer.ts) with the content's SHA-256 as its payload hash (the store refuses a
// body that is not that content), its metadata as signed x-amz-meta-* headers, and sent by direct-http.ts
// (the keep-alive connections the SDK's client shares, the same socket timeouts), as direct-head.ts does
// for a HEAD. The stack (serializer, endpoint rules, retry strategy, deserializer, a Command resolved per
// send) costs about 1.5 ms of CPU a request, what a backup of many small files, or the upload of many small
// files written through the mount, spends most of its CPU on (BENCHMARKS.md, branch backupfast; session 30).
// Only with an endpoint given and path-style addressing, and only metadata that goes into a header as it is
// (sendableMetadata); only a 200 with an ETag is answered here: anything else (an error, a refusal, a
// failure to connect) is 'ask-sdk', and the caller sends the PUT through the SDK (its retries and error
// mapping; the body is whole in memory, and a PUT of the same content again leaves the same object).
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

import type { ObjectMetadata } from './object-head.js';
import type { PathStyleSigner } from './path-style-signer.js';

/** a metadata name as a header name takes it (an HTTP token, in lower case as the store answers it) */
const METADATA_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** a value sent as it is: printable ASCII, no space at either end (which a header would lose) */
const METADATA_VALUE = /^(?:[!-~](?:[ -~]*[!-~])?)?$/;

/**
 * Whether `metadata` goes into x-amz-meta-* headers unchanged, so that the object gets exactly it (the
 * decimal strings of object-attributes.ts do); other metadata is the SDK's to send.
 */
export function sendableMetadata(metadata: ObjectMetadata): boolean {
  for (const [name, value] of Object.entries(metadata)) if (!METADATA_NAME.test(name) || !METADATA_VALUE.test(value)) return false;
  return true;
}

/** `headers` with `metadata` (sendableMetadata) added as the x-amz-meta-* headers the store keeps it from. */
export function withMetadata(headers: Record<string, string>, metadata: ObjectMetadata): Record<string, string> {
  for (const [name, value] of Object.entries(metadata)) headers[`x-amz-meta-${name}`] = value;
  return headers;
}

/** Direct PUTs of the signer's bucket, through the signer's HTTP (direct-http.ts). */
export class DirectPut {
  constructor(private readonly signer: PathStyleSigner) {}

  /**
   * Stores `body` (whose SHA-256 is `sha256`, hex) as `key` with `metadata` (sendableMetadata): resolves
   * with the ETag the store answered, or 'ask-sdk'. `onSend` is given the request's headers as it is sent.
   */
  async put(
    key: string,
    body: Uint8Array,
    sha256: string,
    metadata: ObjectMetadata,
    onSend?: (headers: Record<string, string>) => void,
  ): Promise<string | 'ask-sdk'> {
    try {
      const signed = await this.signer.sign('PUT', key, sha256, withMetadata({ 'content-length': String(body.length) }, metadata));
      signed.body = body;
      onSend?.(signed.headers);
      const { response } = await this.signer.handler.handle(signed);
      // drained before the next request, so that it finds the connection free again
      const answer = response.body as Readable | undefined;
      if (answer !== undefined) {
        answer.resume();
        await finished(answer);
      }
      const etag = (response.headers as Record<string, string | undefined>).etag;
      if (response.statusCode !== 200 || etag === undefined || etag === '') return 'ask-sdk';
      return etag;
    } catch {
      return 'ask-sdk';
    }
  }
}
