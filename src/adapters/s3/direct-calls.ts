// The bucket's HEAD, a page of ListObjectsV2, the GET of a whole small object (a backup's manifest), an
// object's DELETE (each file `rm` removes through the mount) and CopyObject (a rename through the mount)
// without the SDK's middleware stack, as
// direct-head.ts does for an object's HEAD: signed by path-style-signer.ts and sent by direct-http.ts, an
// answer read here (the listing's XML read for its few fields, as
// the SDK's deserializer reads them). Together with the direct HEAD and PUT they are every request a backup
// of files under the multipart threshold makes, so such a backup (and a restore) never loads the SDK's
// client (sdk.ts). Only the answer that means success is read here (200; for a GET, one with a
// Content-Length; for a DELETE, 204 or 200; for a copy, a 200 whose body is a CopyObjectResult, as a
// copy can fail after its 200 was sent, its body then an Error); anything else (an error, a 404, a redirect, a refusal, a
// failure to connect) is 'ask-sdk' and the caller makes the same request through the SDK: its retries,
// clock skew correction and error mapping (a missing bucket still ENOENT, refused credentials EACCES). A
// DELETE made twice (its answer lost, then the SDK's) leaves what one leaves: the key gone; so does a copy.
import type { Readable } from 'node:stream';

import { withMetadata } from './direct-put.js';
import type { PathStyleSigner, SignedRequest } from './path-style-signer.js';

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}

/** Sends `signed` through the signer's HTTP (direct-http.ts) and reads the whole answer. */
async function exchange(signer: PathStyleSigner, signed: SignedRequest): Promise<Answer> {
  const { response } = await signer.handler.handle(signed);
  const chunks: Buffer[] = [];
  const body = response.body as Readable | undefined;
  if (body !== undefined) for await (const chunk of body) chunks.push(chunk as Buffer);
  return { status: response.statusCode, headers: response.headers as Record<string, string | undefined>, body: Buffer.concat(chunks) };
}

/** HeadBucket: true when the store answered 200 (the bucket is there and the credentials accepted), else 'ask-sdk'. */
export async function headBucket(signer: PathStyleSigner): Promise<true | 'ask-sdk'> {
  try {
    const answer = await exchange(signer, await signer.sign('HEAD', undefined));
    return answer.status === 200 ? true : 'ask-sdk';
  } catch {
    return 'ask-sdk';
  }
}

export interface ListPage {
  /** objects directly under the prefix (their key and size) */
  objects: Array<{ key: string; size: number; etag: string; lastModified: Date }>;
  /** the "subdirectories": common prefixes ending in the delimiter */
  prefixes: string[];
}

/** One page of a listing and how to ask for the next one. */
export interface ListAnswer {
  page: ListPage;
  truncated: boolean;
  next: string | undefined;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML text with its entity and character references replaced (what an XML parser gives). */
const unescaped = (text: string): string =>
  text.includes('&')
    ? text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, name: string) => {
        if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
        if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
        return ENTITIES[name] ?? whole;
      })
    : text;

/** The text of the element `name` in `xml` (its first; undefined when none, or when it holds other elements or CDATA). */
function element(xml: string, name: string): string | undefined {
  const start = xml.indexOf(`<${name}>`);
  if (start < 0) return xml.includes(`<${name}/>`) ? '' : undefined;
  const from = start + name.length + 2;
  const end = xml.indexOf(`</${name}>`, from);
  if (end < 0) return undefined;
  const text = xml.slice(from, end);
  return text.includes('<') ? undefined : unescaped(text);
}

/** The bodies of each element `name` directly in `xml` (one level: those elements hold no element of that name). */
function each(xml: string, name: string): string[] {
  const found: string[] = [];
  for (let at = xml.indexOf(`<${name}>`); at >= 0; at = xml.indexOf(`<${name}>`, at)) {
    const end = xml.indexOf(`</${name}>`, at);
    if (end < 0) break;
    found.push(xml.slice(at + name.length + 2, end));
    at = end + name.length + 3;
  }
  return found;
}

/**
 * A ListBucketResult read for what a listing needs (each object's Key, Size, ETag and LastModified, the
 * common prefixes, IsTruncated and NextContinuationToken), as the SDK's deserializer reads them; undefined
 * for anything else (then the SDK's command is asked). The SDK's own XML parser, character by character,
 * takes 25-50 ms of CPU for a page of 266 objects (a backup prefix's blobs/ of the bench's checkpoint), this
 * under 1 ms. S3's answers hold no CDATA, comments or processing instructions past the declaration; an
 * element's text holds no '<'.
 */
function listBucketResult(xml: string): ListAnswer | undefined {
  const root = xml.indexOf('<ListBucketResult');
  if (root < 0 || xml.includes('<![CDATA[') || xml.includes('<!--')) return undefined;
  const body = xml.slice(root);
  const objects: ListPage['objects'] = [];
  for (const item of each(body, 'Contents')) {
    const key = element(item, 'Key');
    const size = Number(element(item, 'Size'));
    const modified = element(item, 'LastModified');
    if (key === undefined || !Number.isSafeInteger(size) || size < 0) return undefined;
    objects.push({ key, size, etag: element(item, 'ETag') ?? '', lastModified: modified === undefined ? new Date(0) : new Date(modified) });
  }
  const prefixes: string[] = [];
  for (const item of each(body, 'CommonPrefixes')) {
    const prefix = element(item, 'Prefix');
    if (prefix === undefined) return undefined;
    prefixes.push(prefix);
  }
  // IsTruncated and the token are the root's own, outside every object and prefix
  const top = body.replace(/<Contents>[\s\S]*?<\/Contents>|<CommonPrefixes>[\s\S]*?<\/CommonPrefixes>/g, '');
  const truncated = element(top, 'IsTruncated');
  const next = element(top, 'NextContinuationToken');
  if (truncated !== 'true' && truncated !== 'false') return undefined;
  return { page: { objects, prefixes }, truncated: truncated === 'true', next: next === '' ? undefined : next };
}

/** A page of ListObjectsV2 of the bucket (its query as the SDK sends it), or 'ask-sdk'. */
export async function listPage(
  signer: PathStyleSigner,
  prefix: string,
  delimiter: string | undefined,
  token: string | undefined,
  maxKeys: number,
): Promise<ListAnswer | 'ask-sdk'> {
  try {
    const query: Record<string, string> = { 'list-type': '2', 'max-keys': String(maxKeys), prefix };
    if (delimiter !== undefined) query.delimiter = delimiter;
    if (token !== undefined) query['continuation-token'] = token;
    const answer = await exchange(signer, await signer.sign('GET', undefined, undefined, {}, query));
    if (answer.status !== 200) return 'ask-sdk';
    return listBucketResult(answer.body.toString('utf8')) ?? 'ask-sdk';
  } catch {
    return 'ask-sdk';
  }
}

/** DeleteObject: true when the store answered 204 or 200 (the key is gone, whether it was there or not), else 'ask-sdk'. */
export async function deleteObject(signer: PathStyleSigner, key: string): Promise<true | 'ask-sdk'> {
  try {
    const answer = await exchange(signer, await signer.sign('DELETE', key));
    return answer.status === 204 || answer.status === 200 ? true : 'ask-sdk';
  } catch {
    return 'ask-sdk';
  }
}

/** The whole object `key` (one GET, no range), or 'ask-sdk'. */
export async function getObject(signer: PathStyleSigner, key: string): Promise<Buffer | 'ask-sdk'> {
  try {
    const answer = await exchange(signer, await signer.sign('GET', key));
    if (answer.status !== 200 || String(answer.body.length) !== answer.headers['content-length']) return 'ask-sdk';
    return answer.body;
  } catch {
    return 'ask-sdk';
  }
}

/**
 * CopyObject of `source` (the x-amz-copy-source value: bucket/key, encoded) to `to`, with `metadata`
 * instead of the source's when given (sendableMetadata): the copy's ETag, or 'ask-sdk'.
 */
export async function copyObject(
  signer: PathStyleSigner,
  source: string,
  to: string,
  metadata: Record<string, string> | undefined,
): Promise<string | 'ask-sdk'> {
  try {
    const headers: Record<string, string> = { 'x-amz-copy-source': source, 'content-length': '0' };
    if (metadata !== undefined) withMetadata(headers, metadata)['x-amz-metadata-directive'] = 'REPLACE';
    const answer = await exchange(signer, await signer.sign('PUT', to, undefined, headers));
    if (answer.status !== 200) return 'ask-sdk';
    const xml = answer.body.toString('utf8');
    const result = xml.indexOf('<CopyObjectResult');
    if (result < 0 || xml.includes('<Error>')) return 'ask-sdk';
    return element(xml.slice(result), 'ETag') || 'ask-sdk';
  } catch {
    return 'ask-sdk';
  }
}
