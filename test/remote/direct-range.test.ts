// ObjectStore.stream of a range (the remote tier's block fetches) without the SDK (src/adapters/s3/direct-get.ts),
// against a local HTTP server playing the object store: a 206 of exactly the range asked for is read directly,
// the request signed and carrying Range and If-Match; any other answer (a 412 for another version, a 200 or a
// 206 of another range, a 416) goes to the SDK with nothing of it handed over, so its errors are the SDK
// path's; a reader that stops early ends the GET; the chunks' memory serves again once given back
// (src/adapters/s3/piece-pool.ts).
import type http from 'node:http';

import test from 'tape';

import type { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { PiecePool } from '../../src/adapters/s3/piece-pool.js';
import { StorageError } from '../../src/ground/errors.js';

import { type Handler, recordingObjectStore } from './local-object-store.js';

const CONTENT = Buffer.alloc(1024 * 1024 + 333);
for (let i = 0; i < CONTENT.length; i++) CONTENT[i] = (i * 7919 + 13) % 251;
const ETAG = '"v1"';

const bySdk = (request: http.IncomingMessage) => /aws-sdk/.test(String(request.headers['user-agent']));

/** Answers a GET as S3 does: the Range asked for (206, cut at the end; 416 past it), 412 when If-Match is not ETAG. */
const s3Like: Handler = (request, response) => {
  const match = request.headers['if-match'];
  if (match !== undefined && match !== ETAG) {
    response.writeHead(412, { 'content-type': 'application/xml' }).end('<Error><Code>PreconditionFailed</Code></Error>');
    return;
  }
  const range = /^bytes=(\d+)-(\d*)$/.exec(String(request.headers.range ?? ''));
  if (range === null) {
    response.writeHead(200, { 'content-length': CONTENT.length, etag: ETAG }).end(CONTENT);
    return;
  }
  const first = Number(range[1]);
  if (first >= CONTENT.length) {
    response.writeHead(416, { 'content-type': 'application/xml' }).end('<Error><Code>InvalidRange</Code></Error>');
    return;
  }
  const last = Math.min(CONTENT.length - 1, range[2] === '' ? CONTENT.length - 1 : Number(range[2]));
  response.writeHead(206, { 'content-length': last - first + 1, 'content-range': `bytes ${first}-${last}/${CONTENT.length}`, etag: ETAG });
  response.end(CONTENT.subarray(first, last + 1));
};

const serve = recordingObjectStore;

/** The chunks of a stream of `length` bytes from `offset`, or its error. */
async function range(store: ObjectStore, offset: number, length: number, etag: string | undefined = ETAG): Promise<{ chunks: Buffer[]; error?: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of store.stream('p/k', offset, etag, length)) chunks.push(chunk);
    return { chunks };
  } catch (error) {
    return { chunks, error };
  }
}

test('stream of a range: one GET without the SDK, signed, with Range and If-Match; the bytes of the range, cut at the end of the object', async (t) => {
  const { store, requests } = await serve(t, s3Like);
  const got = await range(store, 1000, 600_000);
  t.error(got.error, 'no error');
  t.ok(Buffer.concat(got.chunks).equals(CONTENT.subarray(1000, 601_000)), `the range's bytes (${got.chunks.length} chunks)`);
  t.equal(requests.length, 1, 'one request');
  t.notOk(bySdk(requests[0]!), 'not by the SDK');
  t.equal(requests[0]?.headers.range, 'bytes=1000-600999', 'Range');
  t.equal(requests[0]?.headers['if-match'], ETAG, 'If-Match');
  t.match(
    String(requests[0]?.headers.authorization),
    /^AWS4-HMAC-SHA256 Credential=KEY\/.*SignedHeaders=[^,]*if-match;[^,]*range/,
    'signed, Range and If-Match among the signed headers',
  );
  const tail = await range(store, CONTENT.length - 100, 4096);
  t.ok(Buffer.concat(tail.chunks).equals(CONTENT.subarray(CONTENT.length - 100)), 'a range past the end: the bytes up to the end');
  t.equal(requests.length, 2, 'one request for it');
  t.notOk(bySdk(requests[1]!), 'not by the SDK either');
  t.equal(new Set(requests.map((request) => request.socket)).size, 1, 'both over one kept-alive connection');
});

test('stream of a range: another version (412) is ESTALE and a range past the end (416) is empty, as through the SDK, nothing taken from the direct answer', async (t) => {
  const { store, requests } = await serve(t, s3Like);
  const stale = await range(store, 0, 100, '"v0"');
  t.ok(stale.error instanceof StorageError && stale.error.code === 'ESTALE', `another version: ESTALE (${(stale.error as Error)?.message})`);
  t.equal(stale.chunks.length, 0, 'no bytes');
  t.deepEqual(
    requests.map((request) => bySdk(request)),
    [false, true],
    'the direct GET, then the SDK asked',
  );
  const past = await range(store, CONTENT.length + 10, 100);
  t.error(past.error, 'past the end: no error');
  t.equal(past.chunks.length, 0, 'and no bytes');
});

test('stream of a range: an answer that is not the range asked for (a 200 of the whole object, a 206 from elsewhere) is left to the SDK, none of its bytes handed over', async (t) => {
  for (const [label, wrong] of [
    ['a 200 of the whole object', (response: http.ServerResponse) => response.writeHead(200, { 'content-length': CONTENT.length }).end(CONTENT)],
    [
      'a 206 of another range',
      (response: http.ServerResponse) =>
        response.writeHead(206, { 'content-length': 100, 'content-range': `bytes 0-99/${CONTENT.length}` }).end(CONTENT.subarray(0, 100)),
    ],
    [
      'a 206 longer than asked',
      (response: http.ServerResponse) =>
        response.writeHead(206, { 'content-length': 200, 'content-range': `bytes 500-699/${CONTENT.length}` }).end(CONTENT.subarray(500, 700)),
    ],
  ] as Array<[string, (response: http.ServerResponse) => void]>) {
    const { store, requests } = await serve(t, (request, response) => (bySdk(request) ? s3Like(request, response) : wrong(response)));
    const got = await range(store, 500, 100);
    t.error(got.error, `${label}: no error`);
    t.ok(Buffer.concat(got.chunks).equals(CONTENT.subarray(500, 600)), `${label}: the right bytes, from the SDK`);
    t.deepEqual(
      requests.map((request) => bySdk(request)),
      [false, true],
      `${label}: the direct GET, then the SDK`,
    );
  }
});

test('stream of a range: a body cut short fails EIO naming the key and how far it got; a reader that stops early ends the GET', async (t) => {
  const cut = await serve(t, (request, response) => {
    response.writeHead(206, { 'content-length': 1000, 'content-range': `bytes 0-999/${CONTENT.length}` });
    response.write(CONTENT.subarray(0, 400));
    setTimeout(() => request.socket.destroy(), 50);
  });
  const short = await range(cut.store, 0, 1000);
  t.ok(short.error instanceof StorageError && short.error.code === 'EIO', `cut short: EIO (${(short.error as Error)?.message})`);
  t.match((short.error as Error).message, /the GET of 'p\/k' from the object store broke after 400 of 1000 bytes/, 'naming the key and the bytes');
  t.equal(Buffer.concat(short.chunks).length, 400, 'the bytes that came were handed over');

  let closed: Promise<void> | undefined;
  const { store } = await serve(t, (request, response) => {
    closed = new Promise((resolve) => request.socket.once('close', () => resolve()));
    response.writeHead(206, { 'content-length': 1_000_000, 'content-range': `bytes 0-999999/${CONTENT.length}` });
    // the first part, then silence: a reader that stops must not wait for the rest
    response.write(CONTENT.subarray(0, 1000));
  });
  let first: Buffer | undefined;
  for await (const chunk of store.stream('p/k', 0, ETAG, 1_000_000)) {
    first = chunk;
    break;
  }
  t.ok(first?.equals(CONTENT.subarray(0, first.length)), 'the reader had its first chunk');
  const ended = await Promise.race([closed!.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000))]);
  t.ok(ended, 'the GET ended (its connection closed) once the reader stopped');
});

test('stream of a range: chunks given back serve the next GETs (the same memory); an abort ends the stream with its reason', async (t) => {
  const { store } = await serve(t, s3Like);
  const first = await range(store, 0, 200_000);
  const memories = new Set(first.chunks.map((chunk) => chunk.buffer));
  store.giveBack(first.chunks);
  const second = await range(store, 300_000, 200_000);
  t.ok(Buffer.concat(second.chunks).equals(CONTENT.subarray(300_000, 500_000)), 'the second range right');
  t.ok(
    second.chunks.some((chunk) => memories.has(chunk.buffer)),
    'in memory given back',
  );
  const stopper = new AbortController();
  const stalled = await serve(t, (_request, response) => {
    response.writeHead(206, { 'content-length': 1000, 'content-range': `bytes 0-999/${CONTENT.length}` });
    response.write(CONTENT.subarray(0, 10));
  });
  setTimeout(() => stopper.abort(new Error('stopped here')), 100);
  let error: unknown;
  try {
    for await (const _ of stalled.store.stream('p/k', 0, ETAG, 1000, stopper.signal)) {
      // reading until the abort
    }
  } catch (failure) {
    error = failure;
  }
  t.equal((error as Error)?.message, 'stopped here', 'the abort reason');
});

test("PiecePool: a copy in a buffer of the pool; given back, its memory is the next copy's, once however often it is given back; others are ignored", (t) => {
  const pool = new PiecePool(1024, 2);
  const a = pool.copy(Buffer.from('hello, a piece of a quarter of the buffer at least'.padEnd(256, '.')));
  t.ok(a.toString().startsWith('hello, a piece') && a.length === 256, 'the copy');
  t.equal(a.buffer.byteLength, 1024, 'in a buffer of the pool');
  pool.giveBack([a.subarray(1, 3)]);
  pool.giveBack([a]);
  const b = pool.copy(Buffer.from('world'.padEnd(300, '.')));
  const c = pool.copy(Buffer.from('again'.padEnd(300, '.')));
  t.equal(b.buffer, a.buffer, "a view given back: the buffer's memory serves again");
  t.notEqual(c.buffer, a.buffer, 'given back twice, lent once only');
  t.ok(b.toString().startsWith('world.'), 'the next copy');
  const foreign = Buffer.allocUnsafeSlow(1024);
  pool.giveBack([foreign]);
  const d = pool.copy(Buffer.alloc(300, 3));
  t.notEqual(d.buffer, foreign.buffer, 'a buffer not of the pool is not taken in');
  t.notEqual(d.buffer, b.buffer, 'nor a lent one handed out twice');
  const big = pool.copy(Buffer.alloc(2048, 1));
  t.ok(big.length === 2048 && big.buffer !== b.buffer && big.buffer !== c.buffer, 'a piece larger than the buffers: copied on its own');
  pool.giveBack([c]);
  const small = pool.copy(Buffer.from('tiny'));
  t.ok(small.toString() === 'tiny' && small.buffer !== c.buffer, 'a piece under a quarter of the buffers: copied on its own, not into a buffer of the pool');
  t.equal(pool.copy(Buffer.alloc(256, 2)).buffer, c.buffer, 'a quarter: into a buffer of the pool');
  t.end();
});
