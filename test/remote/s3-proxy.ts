// An endpoint in front of the test cluster's radosgw: every request passed on, each one seen (method, path,
// Range, bytes answered) and, when the test says so, held a while first. Closed when the test ends.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type test from 'tape';

export interface S3Proxy {
  endpoint: string;
  /** the requests passed on so far, as "METHOD /path?query" */
  readonly seen: string[];
  /** the requests passed on so far with their Range header and the bytes of the body answered (once it was) */
  readonly exchanges: Array<{ request: string; range: string | undefined; answered: number }>;
}

/** A proxy to `endpoint`; `delayOf` says how many ms to hold a request before passing it on (none: 0). */
export async function s3Proxy(t: test.Test, endpoint: string, delayOf: (request: http.IncomingMessage) => number = () => 0): Promise<S3Proxy> {
  const upstream = new URL(endpoint);
  const exchanges: S3Proxy['exchanges'] = [];
  const server = http.createServer((request, response) => {
    const exchange = { request: `${request.method} ${request.url}`, range: request.headers.range, answered: 0 };
    exchanges.push(exchange);
    setTimeout(() => {
      const { expect: _, ...headers } = request.headers;
      const forward = http.request({ host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('data', (chunk: Buffer) => {
          exchange.answered += chunk.length;
        });
        answer.pipe(response);
      });
      forward.on('error', () => response.destroy());
      request.pipe(forward);
    }, delayOf(request));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get seen() {
      return exchanges.map((exchange) => exchange.request);
    },
    exchanges,
  };
}
