// A local HTTP server playing the object store, and an ObjectStore on it (bucket 'b', prefix 'p', fixed
// credentials, one attempt a request): what the direct-request tests drive. Both are closed when the test ends.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type test from 'tape';

import { ObjectStore } from '../../src/adapters/s3/object-store.js';
import { resolveS3Settings } from '../../src/adapters/s3/s3-settings.js';

export type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

/** Serves every request with `handler` on a port of its own; `requestTimeout` is the store's (ms). */
export async function localObjectStore(t: test.Test, handler: Handler, requestTimeout: number): Promise<ObjectStore> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const store = new ObjectStore(
    resolveS3Settings('s3://b/p', {
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'KEY', secretAccessKey: 'SECRET' },
      requestTimeout,
      maxAttempts: 1,
    }),
  );
  t.teardown(() => {
    store.close();
    server.closeAllConnections();
    server.close();
  });
  return store;
}

/** localObjectStore serving with `handler`, each request it was sent kept in `requests` (in order). */
export async function recordingObjectStore(
  t: test.Test,
  handler: Handler,
  requestTimeout = 60_000,
): Promise<{ store: ObjectStore; requests: http.IncomingMessage[] }> {
  const requests: http.IncomingMessage[] = [];
  const store = await localObjectStore(
    t,
    (request, response) => {
      requests.push(request);
      handler(request, response);
    },
    requestTimeout,
  );
  return { store, requests };
}
