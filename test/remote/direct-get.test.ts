// ObjectStore.getWhole (src/adapters/s3/direct-get.ts), against a local HTTP server playing the object store:
// a 200 hands over the whole body in pieces, signed as the SDK signs; any other answer, chunked encoding or
// a refused connection is left to the SDK (undefined, nothing handed over); a body cut short or stalled
// fails with EIO naming the key and how far it got; an abort ends it.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import test from 'tape';

import { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { resolveS3Settings } from '../../src/adapters/s3/s3-settings.js';
import { restoreFile } from '../../src/backup/restore-file.js';
import { StorageError } from '../../src/ground/errors.js';
import { tempDir } from '../helpers.js';

import { type Handler, recordingObjectStore } from './local-object-store.js';

const serve = recordingObjectStore;

/** getWhole of `key`, the pieces gathered: its outcome. */
async function whole(
  store: ObjectStore,
  key: string,
  signal?: AbortSignal,
): Promise<{ size?: number | undefined; body: Buffer; error?: unknown; pieces: number }> {
  const pieces: Buffer[] = [];
  try {
    const size = await store.getWhole(key, (piece) => pieces.push(Buffer.from(piece)), signal);
    return { size, body: Buffer.concat(pieces), pieces: pieces.length };
  } catch (error) {
    return { error, body: Buffer.concat(pieces), pieces: pieces.length };
  }
}

test('getWhole: a 200 hands over the whole body (copied out of the reused buffer piece by piece), the GET signed', async (t) => {
  const content = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < content.length; i++) content[i] = (i * 7919) % 251;
  const { store, requests } = await serve(t, (_request, response) => {
    response.writeHead(200, { 'content-length': content.length });
    response.end(content);
  });
  const got = await whole(store, 'p/blobs/a b');
  t.equal(got.size, content.length, 'resolves with the size');
  t.ok(got.body.equals(content), `the body, whole and right (${got.pieces} pieces)`);
  t.equal(requests[0]?.url, '/b/p/blobs/a%20b', 'path-style, the key encoded');
  t.match(String(requests[0]?.headers.authorization), /^AWS4-HMAC-SHA256 Credential=KEY\//, 'signed');
  const empty = await serve(t, (_request, response) => {
    response.writeHead(200, { 'content-length': 0 });
    response.end();
  });
  t.equal((await whole(empty.store, 'p/e')).size, 0, 'an empty object: 0');
});

test('getWhole: a 404, a 500, chunked encoding or nobody listening is left to the SDK, nothing handed over', async (t) => {
  for (const [label, handler] of [
    ['404', (_request, response) => response.writeHead(404).end('<Error><Code>NoSuchKey</Code></Error>')],
    ['500', (_request, response) => response.writeHead(500).end()],
    [
      'chunked',
      (_request, response) => {
        response.writeHead(200);
        response.write('some');
        response.end('thing');
      },
    ],
  ] as Array<[string, Handler]>) {
    const { store } = await serve(t, handler);
    const got = await whole(store, 'p/k');
    t.ok(got.error === undefined && got.size === undefined && got.pieces === 0, `${label}: undefined, nothing handed over`);
  }
  const refused = new ObjectStore(
    resolveS3Settings('s3://b/p', { endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'K', secretAccessKey: 'S' }, maxAttempts: 1 }),
  );
  t.teardown(() => refused.close());
  const got = await whole(refused, 'p/k');
  t.ok(got.error === undefined && got.size === undefined, 'a refused connection: undefined');
});

test('getWhole: a body cut short, or silent past the request timeout, fails with EIO naming the key and how far it got', async (t) => {
  const cut = await serve(t, (_request, response) => {
    response.writeHead(200, { 'content-length': 1000 });
    response.write(Buffer.alloc(400, 1));
    setTimeout(() => response.socket?.destroy(), 50);
  });
  const short = await whole(cut.store, 'p/blobs/cut');
  t.ok(short.error instanceof StorageError && short.error.code === 'EIO', `cut short: EIO (${(short.error as Error)?.message})`);
  t.match((short.error as Error).message, /the GET of 'p\/blobs\/cut' from the object store broke after 400 of 1000 bytes/, 'naming the key and the bytes');
  t.equal(short.body.length, 400, 'the bytes that came were handed over');
  const stalled = await serve(
    t,
    (_request, response) => {
      response.writeHead(200, { 'content-length': 1000 });
      response.write(Buffer.alloc(10, 1));
    },
    300,
  );
  const silent = await whole(stalled.store, 'p/blobs/stalled');
  t.ok(silent.error instanceof StorageError && silent.error.code === 'EIO', `stalled: EIO (${(silent.error as Error)?.message})`);
  t.match((silent.error as Error).message, /broke after 10 of 1000 bytes \(silent for 300 ms\)/, 'saying it was silent');
});

test('getWhole: an abort ends the GET with the abort reason', async (t) => {
  const { store } = await serve(t, (_request, response) => {
    response.writeHead(200, { 'content-length': 1000 });
    response.write(Buffer.alloc(10, 1));
  });
  const stopper = new AbortController();
  setTimeout(() => stopper.abort(new Error('stopped here')), 100);
  const got = await whole(store, 'p/k', stopper.signal);
  t.equal((got.error as Error)?.message, 'stopped here', 'rejects with the reason');
});

test('getWhole: GETs one after the other share one kept-alive connection; one the store closed while idle is replaced, not left to the SDK; close() ends it', async (t) => {
  const content = Buffer.alloc(300 * 1024, 7);
  const { store, requests } = await serve(t, (_request, response) => {
    response.writeHead(200, { 'content-length': content.length });
    response.end(content);
  });
  const sizes: Array<number | undefined> = [];
  for (let i = 0; i < 5; i++) sizes.push((await whole(store, `p/blobs/k${i}`)).size);
  const sockets = [...new Set(requests.map((request) => request.socket))];
  t.deepEqual(sizes, [content.length, content.length, content.length, content.length, content.length], 'five whole bodies');
  t.equal(sockets.length, 1, 'over one connection');
  t.ok(
    requests.every((request) => !/aws-sdk/.test(String(request.headers['user-agent']))),
    'none of them by the SDK',
  );
  // the store closes the idle connection: the next GET goes on a new one, still not through the SDK
  sockets[0]!.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const after = await whole(store, 'p/blobs/after');
  t.equal(after.size, content.length, 'after the store closed it: the next GET whole');
  t.equal(requests.length, 6, 'one request more');
  t.ok(!/aws-sdk/.test(String(requests[5]?.headers['user-agent'])), 'not by the SDK');
  const last = requests[5]!.socket;
  t.notEqual(last, sockets[0], 'on a new connection');
  const closed = new Promise<boolean>((resolve) => last.once('close', () => resolve(true)));
  store.close();
  t.ok(await Promise.race([closed, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000))]), 'close() ends the kept connection');
});

test('getWhole: a kept connection the store closes just as the next GET is sent is replaced (the GET sent again on a new one)', async (t) => {
  let answered = 0;
  const { store, requests } = await serve(t, (request, response) => {
    answered++;
    // the second request meets a connection closed before any answer (a keep-alive timeout's race)
    if (answered === 2) {
      request.socket.destroy();
      return;
    }
    response.writeHead(200, { 'content-length': 10 });
    response.end(Buffer.alloc(10, 1));
  });
  t.equal((await whole(store, 'p/a')).size, 10, 'the first GET');
  const second = await whole(store, 'p/b');
  t.equal(second.size, 10, 'the second, whole, sent again');
  t.equal(requests.length, 3, 'three requests for two GETs');
  t.ok(
    requests.every((request) => !/aws-sdk/.test(String(request.headers['user-agent']))),
    'none by the SDK',
  );
});

test('getWhole: onSent is called once the request is sent, before any piece; what it throws fails the GET, nothing handed over', async (t) => {
  const content = Buffer.from('hello, store');
  const { store } = await serve(t, (_request, response) => {
    response.writeHead(200, { 'content-length': content.length });
    response.end(content);
  });
  const events: string[] = [];
  const size = await store.getWhole(
    'p/blobs/x',
    (piece) => events.push(`piece ${piece.length}`),
    undefined,
    () => events.push('sent'),
  );
  t.equal(size, content.length, 'the body, whole');
  t.deepEqual(events, ['sent', `piece ${content.length}`], 'onSent first, once');
  const refused = new StorageError('EACCES', 'EACCES: no, open');
  const pieces: Buffer[] = [];
  const error = await store
    .getWhole(
      'p/blobs/x',
      (piece) => pieces.push(piece),
      undefined,
      () => {
        throw refused;
      },
    )
    .then(
      () => undefined,
      (failure: unknown) => failure,
    );
  t.equal(error, refused, "onSent's error is the GET's");
  t.equal(pieces.length, 0, 'nothing handed over');
  t.equal((await whole(store, 'p/blobs/x')).size, content.length, 'the next GET is served');
});

test("restoreFile on a worker's path (its file made once the GET is sent): the file right and in place; a file that cannot be made is the open's error, not a missing blob", async (t) => {
  const content = Buffer.from('restored through the direct GET');
  const sha256 = createHash('sha256').update(content).digest('hex');
  const { store, requests } = await serve(t, (_request, response) => {
    response.writeHead(200, { 'content-length': content.length });
    response.end(content);
  });
  const dir = tempDir(t, 'persistfs-restorefast-');
  const entry = { path: 'd/f', kind: 'file' as const, mode: 0o640, mtimeNs: '1700000000123456789', size: content.length, sha256 };
  await restoreFile(store, 'p/', entry, Buffer.from(path.join(dir, 'f')), () => undefined, { syncWrites: true });
  t.ok(fs.readFileSync(path.join(dir, 'f')).equals(content), 'the content');
  t.equal(fs.statSync(path.join(dir, 'f')).mode & 0o7777, 0o640, 'its mode');
  t.equal(requests[0]?.url, `/b/p/blobs/${sha256}`, 'its blob asked for');
  const error = await restoreFile(store, 'p/', entry, Buffer.from(path.join(dir, 'gone', 'f')), () => undefined, { syncWrites: true }).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  t.ok(error instanceof StorageError, 'a StorageError');
  t.equal((error as StorageError).code, 'ENOENT', 'ENOENT');
  t.equal((error as StorageError).syscall, 'open', 'of the open');
  t.equal((error as StorageError).path, 'd/f', 'naming the file');
  t.doesNotMatch((error as StorageError).message, /missing from the object store/, 'not told as a missing blob');
  t.deepEqual(fs.readdirSync(dir), ['f'], 'no temporary left');
});
