// ObjectStore.put of content whose SHA-256 the caller gives (a backup's blob; src/adapters/s3/direct-put.ts),
// against a local HTTP server playing the object store: it goes without the SDK's middleware, signed with
// that SHA-256 as its payload hash, over kept-alive connections, and resolves with the ETag answered; any
// answer but a 200 with an ETag is sent again through the SDK (whose error then is the one thrown); a PUT
// with metadata, or without the SHA-256, is the SDK's as before.
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

test('put with its SHA-256: an answer but 200 is sent again through the SDK; its failure is the one thrown; metadata or no SHA-256: the SDK', async (t) => {
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
  const plain = await serve(t, () => 200);
  await plain.store.put('p/m', body, body.length, { mode: '644' }, sha256(body));
  await plain.store.put('p/n', body, body.length, {});
  t.deepEqual(
    plain.seen.map((request) => bySdk(request)),
    [true, true],
    'with metadata, or without the SHA-256: the SDK',
  );
});
