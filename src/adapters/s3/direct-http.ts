// The HTTP of the direct requests (direct-head.ts, direct-put.ts, direct-calls.ts): node:http (node:https for
// an https endpoint) with a keep-alive agent, the agent the SDK's client is given too when it is made
// (sdk.ts: one pool of kept-alive connections), each attempt given up after `timeout` ms of a silent socket
// (connecting, or waiting for the answer). Not the SDK's NodeHttpHandler: loading it (and @smithy/core's
// serde, protocols and endpoints under it) took 40-60 ms of a `persistfs backup` that sends a few blobs
// (BENCHMARKS.md, session 53). A request is sent as given: its path already encoded, its query encoded here
// as RFC 3986 says (what the signer signed).
import http from 'node:http';
import { createRequire } from 'node:module';
import type https from 'node:https';
import type { Readable } from 'node:stream';

const require = createRequire(import.meta.url);

/** A request as the signers (path-style-signer.ts) give it. */
export interface DirectRequest {
  method: string;
  /** 'http:' or 'https:' */
  protocol: string;
  hostname: string;
  port?: number | undefined;
  /** the path, each segment already encoded */
  path: string;
  query?: Record<string, string | string[] | null> | undefined;
  headers: Record<string, string>;
  /** the body, whole (a PUT's) */
  body?: Uint8Array | undefined;
}

export interface DirectResponse {
  statusCode: number;
  /** the answer's headers, names in lower case */
  headers: Record<string, string | undefined>;
  /** the answer's body: read or resume it, so that the connection serves again */
  body: Readable;
}

/** `text` percent-encoded as RFC 3986 says (what S3's signature and the SDK encode; encodeURIComponent leaves !'()* as they are). */
export const uriEscape = (text: string): string => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The query string of `query` (without '?'), its names and values encoded (uriEscape). */
export function queryString(query: DirectRequest['query']): string {
  const pairs: string[] = [];
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === null) pairs.push(uriEscape(name));
    else for (const one of Array.isArray(value) ? value : [value]) pairs.push(`${uriEscape(name)}=${uriEscape(one)}`);
  }
  return pairs.join('&');
}

/** connections to the store at once, at most (the SDK's NodeHttpHandler's default) */
const MAX_SOCKETS = 50;

/** The error of an attempt whose socket said nothing for `timeout` ms. */
const silent = (timeout: number) => Object.assign(new Error(`the object store said nothing for ${timeout} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' });

export class DirectHttp {
  readonly agent: http.Agent;
  private readonly send: typeof http.request;

  /** `protocol`: the endpoint's, 'http:' or 'https:'; `timeout`: ms of silence after which an attempt is given up (undefined: never) */
  constructor(
    protocol: string,
    private readonly timeout: number | undefined,
  ) {
    // node:https (and TLS with it) only for an https endpoint
    const module = protocol === 'https:' ? (require('node:https') as typeof https) : http;
    // at most 50 connections at once, as the SDK's handler allows
    this.agent = new module.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    this.send = module.request;
  }

  /** Sends `request`; resolves with the answer once its status and headers are in (its body still to read). */
  handle(request: DirectRequest): Promise<{ response: DirectResponse }> {
    return new Promise((resolve, reject) => {
      const query = queryString(request.query);
      const outgoing = this.send(
        {
          agent: this.agent,
          method: request.method,
          // an IPv6 address without its brackets (URL.hostname keeps them: [::1])
          hostname: request.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: request.port,
          path: query === '' ? request.path : `${request.path}?${query}`,
          headers: request.headers,
          timeout: this.timeout,
        },
        (answer) => resolve({ response: { statusCode: answer.statusCode ?? 0, headers: answer.headers as Record<string, string | undefined>, body: answer } }),
      );
      outgoing.on('error', reject);
      const { timeout } = this;
      if (timeout !== undefined) outgoing.on('timeout', () => outgoing.destroy(silent(timeout)));
      outgoing.end(request.body);
    });
  }

  /** Closes the kept-alive connections (requests under way end with an error). */
  destroy(): void {
    this.agent.destroy();
  }
}
