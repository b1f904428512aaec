// The direct requests' signature (src/adapters/s3/static-signer.ts, by aws4) against the one the SDK's S3
// client makes for the same request at the same time: the same Authorization header, byte for byte, for
// each kind of request a direct call sends (a bucket's HEAD, a listing with an awkward prefix and token, a
// PUT with its payload hash and metadata, a copy, a DELETE, a ranged GET), with keys that need encoding. No store needed.
import { S3Client } from '@aws-sdk/client-s3';
import test from 'tape';

import type { DirectRequest } from '../../src/adapters/s3/direct-http.js';
import { encodedKey } from '../../src/adapters/s3/path-style-signer.js';
import { StaticSigner } from '../../src/adapters/s3/static-signer.js';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const signingDate = new Date('2026-12-07T21:13:39.123Z');
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const request = (method: string, path: string, headers: Record<string, string> = {}, query: Record<string, string> = {}): DirectRequest => ({
  method,
  protocol: 'http:',
  hostname: '127.0.0.1',
  port: 7480,
  path,
  query,
  headers: { host: '127.0.0.1:7480', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers },
});

const CASES: Array<[string, DirectRequest]> = [
  ['the bucket HEAD', request('HEAD', '/bucket')],
  [
    'a listing: a prefix with a space, +, / and é; a token with + / =',
    request('GET', '/bucket', {}, { 'list-type': '2', 'max-keys': '1000', prefix: 'dir a+b/é/', delimiter: '/', 'continuation-token': 'a+b/c==' }),
  ],
  ['a listing with an empty prefix', request('GET', '/bucket', {}, { 'list-type': '2', 'max-keys': '1', prefix: '' })],
  [
    "a PUT of key 'dir/a b+c?d#é(1)*!' with its SHA-256 and metadata",
    request('PUT', '/bucket/dir/a%20b%2Bc%3Fd%23%C3%A9%281%29%2A%21', { 'content-length': '5', 'x-amz-content-sha256': EMPTY, 'x-amz-meta-mode': '33188' }),
  ],
  ['a copy', request('PUT', '/bucket/to', { 'x-amz-copy-source': 'bucket/dir/a%20b', 'content-length': '0', 'x-amz-metadata-directive': 'REPLACE' })],
  ['a DELETE', request('DELETE', '/bucket/blobs/0123abc')],
  ['a ranged GET of a version', request('GET', '/bucket/dir/file', { range: 'bytes=0-1048575', 'if-match': '"0123abc"' })],
  // keys as PathStyleSigner writes them into the path (encodedKey)
  ...['a+b %41 %2F ~x', '日本語/😀 é', "!'()*?#&=", 'a//b', 'dir/', '/lead', './../x', 'tab\tnew\nline'].map((key): [string, DirectRequest] => [
    `the HEAD of key ${JSON.stringify(key)}`,
    request('HEAD', `/bucket/${encodedKey(key)}`),
  ]),
  [
    'a listing of an awkward prefix, an empty delimiter',
    request('GET', '/bucket', {}, { 'list-type': '2', prefix: '%2F a~b/日本/', delimiter: '', 'continuation-token': '1/+%==' }),
  ],
];

test('static signer: the Authorization the SDK signer makes, for every kind of direct request', async (t) => {
  const client = new S3Client({ region: 'us-east-1', credentials, endpoint: 'http://127.0.0.1:7480', forcePathStyle: true });
  t.teardown(() => client.destroy());
  const sdk = (await client.config.signer()) as unknown as { sign(request: DirectRequest, options: { signingDate: Date }): Promise<DirectRequest> };
  const ours = new StaticSigner('us-east-1', credentials);
  for (const [what, one] of CASES) {
    const theirs = await sdk.sign(structuredClone(one), { signingDate });
    const signed = ours.sign(structuredClone(one), { signingDate });
    const authorization = (headers: Record<string, string>) => headers.authorization ?? headers.Authorization;
    t.ok(authorization(signed.headers)?.startsWith('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/s3/aws4_request'), `${what}: signed`);
    t.equal(authorization(signed.headers), authorization(theirs.headers), `${what}: the SDK's Authorization`);
    t.equal(signed.headers['x-amz-date'], '20261207T211339Z', `${what}: the date given`);
  }
  const other = new StaticSigner('eu-west-1', credentials).sign(structuredClone(CASES[0]![1]), { signingDate });
  t.notEqual(other.headers.Authorization, ours.sign(structuredClone(CASES[0]![1]), { signingDate }).headers.Authorization, 'another region: another signature');
});
