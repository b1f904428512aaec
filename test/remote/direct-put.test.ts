// ObjectStore.put of content held in memory (src/adapters/s3/direct-put.ts), against a local HTTP server
// playing the object store: it goes without the SDK's middleware, signed with the SHA-256 the caller gives
// (a backup's blob) or one computed (a file the mount uploads) as its payload hash, its metadata as signed
// x-amz-meta-* headers, over kept-alive connections, and resolves with the ETag answered; any answer but a
// 200 with an ETag is sent again through the SDK (whose error then is the one thrown); metadata that does
// not go into a header as it is goes through the SDK.
import { createHash } from 'node:crypto';
import type http from 'node:http';

import test from 'tape';

import type { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { StorageError } from '../../src/ground/errors.js';

import { localObjectStore } from './local-object-store.js';

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  socket: unknown;
}

/** A server answering each PUT with `status` (from `answer`), and an ObjectStore on it. */
async function serve(t: test.Test, answer: (index: number) => number): Promise<{ store: ObjectStore; seen: Seen[] }> {
  const seen: Seen[] = [];
  const store = await localObjectStore(
    t,
    (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: request.method, url: request.url, headers: request.headers, body, socket: request.socket });
        const status = answer(seen.length - 1);
        if (status === 200) response.writeHead(200, { etag: `"${createHash('md5').update(body).digest('hex')}"` }).end();
        else response.writeHead(status, { 'content-type': 'application/xml' }).end('<Error><Code>InternalError</Code></Error>');
      });
    },
    10_000,
  );
  return { store, seen };
}

const bySdk = (seen: Seen) => /aws-sdk/.test(String(seen.headers['user-agent']));
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const md5 = (bytes: Buffer) => `"${createHash('md5').update(bytes).digest('hex')}"`;

test('put with its SHA-256: without the SDK, signed with that payload hash, over one kept-alive connection, the ETag answered', async (t) => {
  const { store, seen } = await serve(t, () => 200);
  const bodies = [Buffer.from('first blob'), Buffer.alloc(100_000, 3), Buffer.from('third')];
  const etags: string[] = [];
  for (const [i, body] of bodies.entries()) etags.push(await store.put(`p/blobs/b ${i}`, body, body.length, {}, sha256(body)));
  t.deepEqual(
    etags,
    bodies.map((body) => md5(body)),
    'resolves with the ETags answered',
  );
  t.ok(
    seen.every((request, i) => request.method === 'PUT' && request.body.equals(bodies[i]!)),
    'each body whole',
  );
  t.equal(seen[0]?.url, '/b/p/blobs/b%200', 'path-style, the key encoded');
  t.ok(
    seen.every((request, i) => request.headers['x-amz-content-sha256'] === sha256(bodies[i]!)),
    'the payload hash is the SHA-256 given',
  );
  t.match(
    String(seen[0]?.headers.authorization),
    /^AWS4-HMAC-SHA256 Credential=KEY\/.*SignedHeaders=[^,]*x-amz-content-sha256/,
    'signed, the payload hash with it',
  );
  t.ok(
    seen.every((request) => !bySdk(request)),
    'none by the SDK',
  );
  t.equal(new Set(seen.map((request) => request.socket)).size, 1, 'one connection for the three');
});

test('put with its SHA-256: an answer but 200 is sent again through the SDK; its failure is the one thrown', async (t) => {
  const retried = await serve(t, (index) => (index === 0 ? 500 : 200));
  const body = Buffer.from('content');
  t.equal(await retried.store.put('p/blobs/x', body, body.length, {}, sha256(body)), md5(body), 'a 500, then the SDK: its ETag');
  t.deepEqual(
    retried.seen.map((request) => bySdk(request)),
    [false, true],
    'the direct PUT, then the SDK',
  );
  t.equal(retried.seen[1]?.headers['x-amz-content-sha256'], sha256(body), 'the SDK sends the same payload hash');
  const failing = await serve(t, () => 500);
  const error = await failing.store.put('p/blobs/y', body, body.length, {}, sha256(body)).catch((failure: unknown) => failure);
  t.ok(error instanceof StorageError && error.code === 'EIO', `always 500: EIO (${(error as Error).message})`);
  t.ok(failing.seen.length >= 2 && !bySdk(failing.seen[0]!) && bySdk(failing.seen.at(-1)!), 'the last request by the SDK');
});

test('put with metadata: signed x-amz-meta-* headers without the SDK, the SHA-256 computed when not given', async (t) => {
  const { store, seen } = await serve(t, () => 200);
  const body = Buffer.from('a file the mount uploads');
  const metadata = { mode: '33188', uid: '0', 'mtime-ns': '1764806400123456789' };
  t.equal(await store.put('p/d/f', body, body.length, metadata), md5(body), 'the ETag answered');
  const [request] = seen;
  t.ok(request !== undefined && !bySdk(request), 'not by the SDK');
  t.equal(request?.headers['x-amz-content-sha256'], sha256(body), 'signed with the SHA-256 of the body, computed');
  t.deepEqual(
    [request?.headers['x-amz-meta-mode'], request?.headers['x-amz-meta-uid'], request?.headers['x-amz-meta-mtime-ns']],
    ['33188', '0', '1764806400123456789'],
    'the metadata as headers',
  );
  t.match(String(request?.headers.authorization), /SignedHeaders=[^,]*x-amz-meta-mode;x-amz-meta-mtime-ns;x-amz-meta-uid/, 'the metadata signed');
  t.ok(request?.body.equals(body), 'the body whole');
});

test('put with metadata a header would change (not printable ASCII, spaces at an end, an odd name): the SDK', async (t) => {
  const { store, seen } = await serve(t, () => 200);
  const body = Buffer.from('x');
  const odd: Array<Record<string, string>> = [{ note: 'café' }, { note: ' padded ' }, { note: 'line\nbreak' }, { 'a name': '1' }];
  for (const metadata of odd) {
    await store.put(`p/${Object.keys(metadata)[0]}`, body, body.length, metadata).catch(() => undefined);
  }
  t.equal(seen.length > 0 && seen.every((request) => bySdk(request)), true, `every one by the SDK (${seen.length} requests)`);
  const direct = await serve(t, () => 200);
  await direct.store.put('p/ok', body, body.length, { empty: '', inner: 'two words' });
  t.deepEqual(
    direct.seen.map((request) => [bySdk(request), request.headers['x-amz-meta-empty'], request.headers['x-amz-meta-inner']]),
    [[false, '', 'two words']],
    'an empty value, spaces inside: direct, as they are',
  );
});
