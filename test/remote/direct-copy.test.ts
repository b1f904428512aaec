// What a CopyObject answer means, without a store: the object store's HTTP (the direct requests' and the
// SDK client's) answers every request with a given status and body. A copy can fail
// after its 200 was sent (radosgw sends <Progress> early; the body is then an Error, or ends without the
// ETag): the direct copy takes only a CopyObjectResult with an ETag, and the SDK's answer without an ETag
// is an error, so that a rename never deletes its source after a copy not known to be made.
import { Readable } from 'node:stream';

import test from 'tape';

import { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { rejection } from '../helpers.js';

const XML = '<?xml version="1.0" encoding="UTF-8"?>';
const RESULT = '<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">';

/** A store whose every request is answered `status` with `body`; counts the requests and the direct copies. */
function answering(status: number, body: string) {
  const store = new ObjectStore({
    endpoint: 'http://127.0.0.1:9',
    region: 'us-east-1',
    bucket: 'bucket',
    prefix: '',
    credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    forcePathStyle: true,
    maxAttempts: 1,
    requestTimeout: 1000,
    dirCacheTime: 0,
  } as ConstructorParameters<typeof ObjectStore>[0]);
  const seen = { requests: 0, direct: 0, copySources: [] as string[] };
  store.onDirectCall = (command) => {
    if (command === 'CopyObject') seen.direct++;
  };
  const handle = async (request: { headers: Record<string, string> }) => {
    seen.requests++;
    seen.copySources.push(String(request.headers['x-amz-copy-source']));
    return { response: { statusCode: status, headers: {}, body: Readable.from([Buffer.from(body)]) } };
  };
  // the direct requests' HTTP, and the client's (made now)
  (store as unknown as { http: { handle: typeof handle } }).http.handle = handle;
  (store.client.config.requestHandler as unknown as { handle: typeof handle }).handle = handle;
  return { store, seen };
}

test('a 200 with a CopyObjectResult and its ETag: the copy is made, answered without the SDK, its ETag quoted', async (t) => {
  const { store, seen } = answering(200, `${XML}${RESULT}<LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>abc123</ETag></CopyObjectResult>`);
  t.equal(await store.copy('dir/a b+c?d', 'dir/new'), '"abc123"', 'the ETag, quoted as HEAD gives it');
  t.deepEqual([seen.requests, seen.direct], [1, 1], 'one request, direct');
  t.equal(seen.copySources[0], 'bucket/dir/a%20b%2Bc%3Fd', 'the source: bucket and key, encoded as the SDK sends it');
  store.close();
});

test('radosgw early progress then the ETag: a success', async (t) => {
  const { store } = answering(
    200,
    `${XML}${RESULT}<Progress>1</Progress><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag></CopyObjectResult>`,
  );
  t.equal(await store.copy('a', 'b'), '"e1"', 'an ETag already quoted stays as it is');
  store.close();
});

for (const [what, body] of [
  [
    'an Error body after the 200 (ending in a newline, which the SDK does not see as an error)',
    `${XML}\n<Error><Code>InternalError</Code><Message>x</Message></Error>\n`,
  ],
  ['progress, then the answer cut off', `${XML}${RESULT}<Progress>1234</Progress>`],
  ['a CopyObjectResult without an ETag', `${XML}${RESULT}<Progress>1234</Progress></CopyObjectResult>`],
]) {
  test(`a 200 with ${what}: not a copy made (EIO), asked again through the SDK`, async (t) => {
    const { store, seen } = answering(200, body);
    await rejection(t, store.copy('a', 'b'), 'EIO', 'the copy');
    t.equal(seen.direct, 0, 'not taken as a direct copy');
    t.equal(seen.requests, 2, 'the direct request, then the SDK');
    store.close();
  });
}
