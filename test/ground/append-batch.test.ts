// Group commit's two steps (src/ground/append-batch.ts): which requests at the head of a queue form one
// batch, and what a batch's write answers when it succeeds and when it fails.
import test from 'tape';

import { takeBatch, writeBatch, type BatchedAppend } from '../../src/ground/append-batch.js';

interface Request extends BatchedAppend {
  name: string;
  fd: number;
  rejected?: unknown;
}

function request(name: string, bytes: number, fd = 1): Request {
  const made: Request = { name, fd, bytes, reject: (error) => (made.rejected = error) };
  return made;
}

const names = (requests: Request[]) => requests.map((r) => r.name).join('');
const bytesAtMost = (most: number) => ({ measure: (r: Request) => r.bytes, most });
const countAtMost = (most: number) => ({ measure: () => 1, most });

test('takeBatch: the head of the queue while every limit holds, taken off the queue', (t) => {
  const queue = [request('a', 3), request('b', 3), request('c', 3), request('d', 1)];
  t.equal(names(takeBatch(queue, [bytesAtMost(7)])), 'ab', 'a third request would pass the byte limit');
  t.equal(names(queue), 'cd', 'the rest stays, in order');
  t.equal(names(takeBatch(queue, [bytesAtMost(100), countAtMost(1)])), 'c', 'every limit counts');
  t.equal(names(takeBatch(queue, [])), 'd');
  t.deepEqual(takeBatch(queue, [bytesAtMost(1)]), [], 'an empty queue gives an empty batch');
  t.end();
});

test('takeBatch: a first request over a limit goes alone; one that does not belong ends the batch', (t) => {
  const queue = [request('a', 10), request('b', 1)];
  t.equal(names(takeBatch(queue, [bytesAtMost(5)])), 'a', 'over the limit by itself: alone');
  const mixed = [request('a', 1), request('b', 1), request('c', 1, 2), request('d', 1)];
  t.equal(names(takeBatch(mixed, [bytesAtMost(100)], (r) => r.fd === 1)), 'ab', 'stops at the first that does not belong');
  t.equal(names(mixed), 'cd');
  t.end();
});

test('writeBatch: where each request begins and where the batch ends; nothing is cut back', async (t) => {
  let cut = false;
  const batch = [request('a', 5), request('b', 0), request('c', 7)];
  const written = await writeBatch(
    batch,
    100,
    async () => undefined,
    async () => (cut = true),
  );
  t.deepEqual(written, { offsets: [100, 105, 105], end: 112 });
  t.notOk(cut, 'no cut back');
  t.ok(
    batch.every((r) => r.rejected === undefined),
    'no request failed',
  );
});

test('writeBatch: a failed write is cut back and fails every request with its error, even if the cut fails', async (t) => {
  const failure = new Error('ENOSPC');
  for (const cutFails of [false, true]) {
    let cuts = 0;
    const batch = [request('a', 5), request('b', 7)];
    const written = await writeBatch(
      batch,
      100,
      async () => {
        throw failure;
      },
      async () => {
        cuts++;
        if (cutFails) throw new Error('EIO');
      },
    );
    t.equal(written, undefined, `no answer (the cut ${cutFails ? 'fails' : 'succeeds'})`);
    t.equal(cuts, 1, 'cut back once');
    t.ok(
      batch.every((r) => r.rejected === failure),
      "every request fails with the write's error",
    );
  }
});
