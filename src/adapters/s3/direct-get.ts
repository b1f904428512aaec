// A GET of a whole object without the SDK's HTTP stack, for a restore's worker threads: one plain-http
// connection per GET (path-style endpoint only), signed by the client's own signer (as direct-head.ts), the
// answer read into one reusable buffer (net's `onread`: no Buffer allocated per chunk, reads of up to
// BUFFER_BYTES) and each piece of the body handed to the caller synchronously, before the buffer is read
// into again. Node's HTTP client and the SDK's stream cost about 2 s of CPU a GiB (BENCHMARKS.md, branch
// restore), most of what a restore spends. Only a 200 with a Content-Length is read here; any other answer
// (an error, a 404, a redirect, chunked encoding) or a failure to connect is 'ask-sdk', before any byte
// of body was handed over: the caller then asks the SDK (its retries, its error mapping). A connection that
// breaks or stalls (requestTimeout) once the body has begun fails with EIO naming the key.
import net from 'node:net';

import type { S3Client } from '@aws-sdk/client-s3';

import { storageError } from '../../ground/errors.js';
import { PathStyleSigner, type SignedRequest } from './path-style-signer.js';

/** The reads' buffer: what one recv takes at most. */
const BUFFER_BYTES = 256 * 1024;
/** An answer's headers longer than this are not one we read here. */
const MAX_HEAD_BYTES = 64 * 1024;

export class DirectGet {
  private readonly signer: PathStyleSigner;
  private readonly url: URL;
  /** the reads' buffers of GETs done, for the next ones (one per GET under way) */
  private readonly free: Buffer[] = [];

  private constructor(
    client: S3Client,
    endpoint: string,
    private readonly bucket: string,
    private readonly timeout: number,
  ) {
    this.signer = new PathStyleSigner(client, endpoint, bucket);
    this.url = this.signer.url;
  }

  /** A direct GET for `client`, or undefined when it needs the SDK (no endpoint, virtual-host style, https). */
  static for(client: S3Client, endpoint: string | undefined, forcePathStyle: boolean, bucket: string, timeout: number): DirectGet | undefined {
    if (endpoint === undefined || !forcePathStyle || !endpoint.startsWith('http:')) return undefined;
    return new DirectGet(client, endpoint, bucket, timeout);
  }

  /**
   * The whole object `key`, each piece handed to `onBody` (a view into a buffer read into again after the
   * call returns: use it before returning). Resolves with the body's size, or 'ask-sdk' (nothing handed
   * over).
   */
  async get(key: string, onBody: (piece: Buffer) => void, signal?: AbortSignal): Promise<number | 'ask-sdk'> {
    let signed: SignedRequest;
    try {
      signed = await this.signer.sign('GET', key);
    } catch {
      return 'ask-sdk';
    }
    const lines = [`GET ${signed.path} HTTP/1.1`, ...Object.entries(signed.headers).map(([name, value]) => `${name}: ${value}`), 'connection: close', '', ''];
    return this.exchange(key, lines.join('\r\n'), onBody, signal);
  }

  private exchange(key: string, request: string, onBody: (piece: Buffer) => void, signal: AbortSignal | undefined): Promise<number | 'ask-sdk'> {
    const buffer = this.free.pop() ?? Buffer.allocUnsafe(BUFFER_BYTES);
    return new Promise((resolve, reject) => {
      let head: Buffer | undefined = Buffer.alloc(0);
      let length = -1;
      let received = 0;
      let settled = false;
      const finish = (outcome: number | 'ask-sdk' | Error) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        socket.destroy();
        this.free.push(buffer);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const broken = (why: string) =>
        storageError('EIO', `the GET of '${key}' from the object store broke after ${received} of ${length} bytes (${why})`, {
          path: `s3://${this.bucket}/${key}`,
          hint: 'check the S3 service, then run the restore again',
        });
      const onAbort = () => finish(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      /** The body's bytes in `piece`; false when the GET is over. */
      const body = (piece: Buffer): boolean => {
        const take = Math.min(piece.length, length - received);
        if (take > 0) {
          received += take;
          try {
            onBody(piece.subarray(0, take));
          } catch (error) {
            finish(error as Error);
            return false;
          }
        }
        if (received === length) {
          finish(length);
          return false;
        }
        return true;
      };
      /** The answer's head so far plus `piece`: once whole, its status and length decide. */
      const answer = (piece: Buffer): boolean => {
        head = Buffer.concat([head!, piece]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > MAX_HEAD_BYTES) finish('ask-sdk');
          return head.length <= MAX_HEAD_BYTES;
        }
        const text = head.subarray(0, end).toString('latin1');
        const rest = head.subarray(end + 4);
        head = undefined;
        const [status, ...fields] = text.split('\r\n');
        const headers = new Map(fields.map((field) => [field.slice(0, field.indexOf(':')).trim().toLowerCase(), field.slice(field.indexOf(':') + 1).trim()]));
        const size = Number(headers.get('content-length'));
        if (!/^HTTP\/1\.[01] 200 /.test(`${status} `) || headers.has('transfer-encoding') || !Number.isSafeInteger(size) || size < 0) {
          finish('ask-sdk');
          return false;
        }
        length = size;
        if (length === 0) {
          finish(0);
          return false;
        }
        // `rest` is a view into the reads' buffer only when the head came whole in this read: copy-free either way
        return rest.length === 0 || body(rest);
      };
      const socket = net.connect({
        host: this.url.hostname,
        port: this.url.port === '' ? 80 : Number(this.url.port),
        onread: {
          buffer,
          callback: (bytes: number, into: Uint8Array): boolean => {
            if (settled) return false;
            const piece = Buffer.from(into.buffer, into.byteOffset, bytes);
            return head === undefined ? body(piece) : answer(piece);
          },
        },
      });
      socket.setNoDelay(true);
      if (this.timeout > 0) socket.setTimeout(this.timeout, () => finish(length < 0 ? 'ask-sdk' : broken(`silent for ${this.timeout} ms`)));
      socket.on('error', (error) => finish(length < 0 ? 'ask-sdk' : broken(error.message)));
      socket.on('end', () => finish(length < 0 ? 'ask-sdk' : broken('the connection was closed')));
      socket.on('close', () => finish(length < 0 ? 'ask-sdk' : broken('the connection was closed')));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted === true) onAbort();
      socket.write(request);
    });
  }
}
