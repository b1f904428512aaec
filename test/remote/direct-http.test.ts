// The direct requests' HTTP (src/adapters/s3/direct-http.ts) against a local server: an IPv6 endpoint
// (URL.hostname keeps its brackets), the query as the signer signed it (RFC 3986), one kept-alive
// connection for requests one after another, a silent server given up after the timeout, and destroy().
import http from 'node:http';
import type net from 'node:net';

import test from 'tape';

import { DirectHttp, type DirectRequest, queryString } from '../../src/adapters/s3/direct-http.js';

interface Seen {
  url: string | undefined;
  socket: net.Socket;
}

/** A server on `host` answering 200 'ok' (or nothing, when `silent`); what it saw. */
async function serve(t: test.Test, host: string, silent = false): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    seen.push({ url: request.url, socket: request.socket });
    if (!silent) response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, seen };
}

const get = (hostname: string, port: number, path: string, query: DirectRequest['query'] = {}): DirectRequest => ({
  method: 'GET',
  protocol: 'http:',
  hostname,
  port,
  path,
  query,
  headers: {},
});

async function text(http: DirectHttp, request: DirectRequest): Promise<{ status: number; body: string }> {
  const { response } = await http.handle(request);
  let body = '';
  for await (const chunk of response.body) body += String(chunk);
  return { status: response.statusCode, body };
}

test('direct HTTP: an IPv6 endpoint ([::1]), the query as signed, one kept-alive connection', async (t) => {
  const { port, seen } = await serve(t, '::1');
  const direct = new DirectHttp('http:', 5000);
  t.teardown(() => direct.destroy());
  const query = { 'list-type': '2', prefix: "dir a+b/é/!'()*", 'continuation-token': 'a+b/c==', empty: '' };
  t.deepEqual(await text(direct, get('[::1]', port, '/bucket', query)), { status: 200, body: 'ok' }, 'answered over ::1');
  t.equal(seen[0]?.url, `/bucket?${queryString(query)}`, 'the path and the query as given');
  t.equal(
    queryString(query),
    'list-type=2&prefix=dir%20a%2Bb%2F%C3%A9%2F%21%27%28%29%2A&continuation-token=a%2Bb%2Fc%3D%3D&empty=',
    "the query encoded as RFC 3986 says (!'()* too)",
  );
  await text(direct, get('[::1]', port, '/bucket/key'));
  t.equal(seen.length, 2, 'a second request');
  t.equal(seen[1]?.socket, seen[0]?.socket, 'over the same connection');
});

test('direct HTTP: a silent server is given up after the timeout (ETIMEDOUT); destroy() ends a request under way', async (t) => {
  const { port } = await serve(t, '127.0.0.1', true);
  const direct = new DirectHttp('http:', 300);
  const started = Date.now();
  const failed = await direct.handle(get('127.0.0.1', port, '/bucket')).then(
    () => undefined,
    (error: NodeJS.ErrnoException) => error,
  );
  t.equal(failed?.code, 'ETIMEDOUT', `given up: ${failed?.message}`);
  t.ok(Date.now() - started < 3000, `within the timeout (${Date.now() - started} ms)`);
  const waiting = new DirectHttp('http:', undefined);
  const pending = waiting.handle(get('127.0.0.1', port, '/bucket'));
  setTimeout(() => waiting.destroy(), 100);
  const ended = await pending.then(
    () => undefined,
    (error: Error) => error,
  );
  t.ok(ended instanceof Error, `destroyed: the request fails (${ended?.message})`);
  direct.destroy();
});
