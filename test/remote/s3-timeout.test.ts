// A store that accepts the connection and then says nothing (a stalled radosgw, a half-dead proxy): each
// attempt is given up after requestTimeout ms of silence and the request fails with a clear error, instead
// of hanging every caller (and an unmount waiting for them). No Ceph needed: a TCP server that never answers.
import net from 'node:net';
import test from 'tape';

import { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { resolveS3Settings } from '../../src/adapters/s3/s3-settings.js';

const credentials = { accessKeyId: 'k', secretAccessKey: 's' };

async function silentServer(t: test.Test): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** What `work` did within `ms`: its outcome, or 'hung'. */
async function within<T>(ms: number, work: Promise<T>): Promise<{ outcome: 'resolved' | 'rejected' | 'hung'; error?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<{ outcome: 'hung' }>((resolve) => {
    timer = setTimeout(() => resolve({ outcome: 'hung' }), ms);
  });
  const done = work.then(
    () => ({ outcome: 'resolved' as const }),
    (error: unknown) => ({ outcome: 'rejected' as const, error }),
  );
  const result = await Promise.race([done, hung]);
  clearTimeout(timer);
  return result;
}

test('S3: a store that never answers fails the request after requestTimeout of silence', async (t) => {
  const endpoint = await silentServer(t);
  const store = new ObjectStore(resolveS3Settings('s3://bucket/p', { endpoint, credentials, maxAttempts: 1, requestTimeout: 300 }));
  const started = Date.now();
  const result = await within(10_000, store.head('p/some-key'));
  t.equal(result.outcome, 'rejected', `HeadObject gave up (${Date.now() - started} ms), it did not hang`);
  const error = result.error as { code?: string; message?: string };
  t.ok(typeof error?.code === 'string' && /^E[A-Z]+$/.test(error.code), `a StorageError with a POSIX code: ${error?.code}: ${error?.message}`);
  store.client.destroy();
});

test('S3 settings: requestTimeout defaults to 60 s, 0 waits for ever, a bad value is refused', (t) => {
  t.equal(resolveS3Settings('s3://b').requestTimeout, 60_000, 'default 60,000 ms');
  t.equal(resolveS3Settings('s3://b', { requestTimeout: 0 }).requestTimeout, 0, '0 allowed');
  t.throws(() => resolveS3Settings('s3://b', { requestTimeout: -1 }), /requestTimeout must be a number of ms/, 'a negative value is EINVAL');
  t.end();
});
