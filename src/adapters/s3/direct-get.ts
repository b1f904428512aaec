// A GET without the SDK's HTTP stack, of a whole object (a restore's worker threads) or of a range of one
// while its ETag is the one given (the remote tier's block cache, 206 Partial Content): plain-http
// connections kept alive between GETs (path-style endpoint only), each request signed by the client's own
// signer (as direct-head.ts), the answer read into the connection's own buffer (net's `onread`: no Buffer
// allocated per chunk, reads of up to READ_BYTES) and each piece of the body handed to the caller
// synchronously, before the buffer is read into again. Node's HTTP client and the SDK's stream cost about
// 2 s of CPU a GiB (BENCHMARKS.md, branch restore), most of what a restore spends, and 4.5 ms a MiB of a
// ranged GET on this VM against 1.5 here (BENCHMARKS.md, session 28); a connection a GET (its connect, its
// close) cost about a third of a worker's CPU in a restore of 3,000 files of 4 KiB (branch backupfast).
// Only the answer asked for is read here (a 200 for a whole object, a 206 of exactly the range asked for,
// with a Content-Length); any other answer (an error, a 404, a 412 for another version, a 416, a redirect,
// chunked encoding) or a failure to connect is 'ask-sdk', before any byte of body was handed over: the
// caller then asks the SDK (its retries, its error mapping). A kept connection the store closed while it
// was idle is found so before any answer came: the GET is sent again on a new one. A connection that
// breaks or stalls (requestTimeout) once the body has begun fails with EIO naming the key.
import net from 'node:net';

import { storageError } from '../../ground/errors.js';
import type { PathStyleSigner, SignedRequest } from './path-style-signer.js';

/** The reads' buffer of a connection: what one recv takes at most (so the largest piece handed over). */
export const READ_BYTES = 256 * 1024;
/** An answer's headers longer than this are not one we read here. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Idle connections kept for the next GETs (a worker runs a few GETs at once). */
const MAX_IDLE = 8;

/** What a GET under way hears from its connection: each read (false: read no more), and its end. */
interface Listener {
  read(piece: Buffer): boolean;
  ended(why: string, timedOut: boolean): void;
}

/** One connection to the store, serving one GET at a time, its reads into its own buffer. */
class Connection {
  readonly socket: net.Socket;
  /** the GET it serves now (none while idle) */
  listener: Listener | undefined;
  /** whether a GET was answered on it before: a request on it may meet a close the store made while it was idle */
  reused = false;
  closed = false;

  constructor(
    url: URL,
    readonly buffer: Buffer,
    /** told when the connection ends while idle */
    private readonly lost: (connection: Connection) => void,
  ) {
    this.socket = net.connect({
      host: url.hostname,
      port: url.port === '' ? 80 : Number(url.port),
      onread: {
        buffer,
        callback: (bytes: number, into: Uint8Array): boolean => {
          const listener = this.listener;
          // bytes no GET asked for (on an idle connection): it cannot be trusted with another
          if (listener === undefined) {
            this.close();
            return false;
          }
          return listener.read(Buffer.from(into.buffer, into.byteOffset, bytes));
        },
      },
    });
    this.socket.setNoDelay(true);
    const ended = (why: string, timedOut = false) => {
      const listener = this.listener;
      this.close();
      if (listener !== undefined) listener.ended(why, timedOut);
    };
    this.socket.on('error', (error) => ended(error.message));
    this.socket.on('end', () => ended('the connection was closed'));
    this.socket.on('close', () => ended('the connection was closed'));
    this.socket.on('timeout', () => ended('silent', true));
  }

  /** Serves `listener` (the socket timing out after `timeout` ms of silence, 0: never). */
  serve(listener: Listener, timeout: number): void {
    this.listener = listener;
    this.socket.ref();
    this.socket.setTimeout(timeout);
  }

  /** Idle again, kept for the next GET (its end still heard: then it is dropped). */
  rest(): void {
    this.listener = undefined;
    this.reused = true;
    this.socket.setTimeout(0);
    this.socket.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener = undefined;
    this.socket.destroy();
    this.lost(this);
  }
}

/** A part of an object: `length` bytes (at least 1) from `offset`, of the version whose ETag is `etag` when given. */
export interface ByteRange {
  offset: number;
  length: number;
  etag?: string | undefined;
}

/** How a GET goes: `signal` ends it; `onSent` is called once the request is on its way; `range`: only those bytes. */
export interface GetOptions {
  signal?: AbortSignal | undefined;
  onSent?: (() => void) | undefined;
  range?: ByteRange | undefined;
}

export class DirectGet {
  private readonly url: URL;
  /** connections idle, kept for the next GETs */
  private readonly idle: Connection[] = [];
  /** the reads' buffers of connections closed, for new ones */
  private readonly free: Buffer[] = [];
  /** connections opened so far (a GET on a kept one opens none) */
  connections = 0;

  private constructor(
    private readonly signer: PathStyleSigner,
    private readonly bucket: string,
    private readonly timeout: number,
  ) {
    this.url = this.signer.url;
  }

  /** A direct GET signed by `signer` (a path-style endpoint's), or undefined when it needs the SDK (none, https). */
  static for(signer: PathStyleSigner | undefined, bucket: string, timeout: number): DirectGet | undefined {
    if (signer === undefined || signer.url.protocol !== 'http:') return undefined;
    return new DirectGet(signer, bucket, timeout);
  }

  /**
   * The object `key` (whole, or `options.range` of it), each piece handed to `onBody` (a view into a buffer
   * read into again after the call returns: use it before returning). Resolves with the body's size (a
   * range's is cut at the object's end), or 'ask-sdk' (nothing handed over). `options.onSent` is called once
   * the request is on its way (what it throws fails the GET), so that work of the caller's overlaps the
   * store's answering.
   */
  async get(key: string, onBody: (piece: Buffer) => void, options: GetOptions = {}): Promise<number | 'ask-sdk'> {
    const { range } = options;
    const headers: Record<string, string> = {};
    if (range !== undefined) {
      headers.range = `bytes=${range.offset}-${range.offset + range.length - 1}`;
      if (range.etag) headers['if-match'] = range.etag;
    }
    let signed: SignedRequest;
    try {
      signed = await this.signer.sign('GET', key, undefined, headers);
    } catch {
      return 'ask-sdk';
    }
    const lines = [`GET ${signed.path} HTTP/1.1`, ...Object.entries(signed.headers).map(([name, value]) => `${name}: ${value}`), '', ''];
    const request = lines.join('\r\n');
    const kept = this.idle.pop();
    const outcome = await this.exchange(kept ?? this.connect(), key, request, onBody, options);
    // a kept connection the store had closed before it answered anything: once more on a new one
    return outcome === 'again'
      ? this.exchange(this.connect(), key, request, onBody, options).then((again) => (again === 'again' ? 'ask-sdk' : again))
      : outcome;
  }

  /** Closes the idle connections (a GET under way keeps its own until it ends). */
  close(): void {
    for (const connection of this.idle.splice(0)) connection.close();
  }

  private connect(): Connection {
    this.connections++;
    return new Connection(this.url, this.free.pop() ?? Buffer.allocUnsafe(READ_BYTES), (connection) => {
      const at = this.idle.indexOf(connection);
      if (at >= 0) this.idle.splice(at, 1);
      this.free.push(connection.buffer);
    });
  }

  /** Sends `request` on `connection` and reads its answer; 'again' when a kept connection ended before any answer. */
  private exchange(
    connection: Connection,
    key: string,
    request: string,
    onBody: (piece: Buffer) => void,
    { signal, onSent, range }: GetOptions,
  ): Promise<number | 'ask-sdk' | 'again'> {
    return new Promise((resolve, reject) => {
      let head: Buffer | undefined = Buffer.alloc(0);
      let length = -1;
      let received = 0;
      let keep = false;
      let settled = false;
      /** Ends the GET: the connection kept when the answer was whole and the store keeps it open, else closed. */
      const finish = (outcome: number | 'ask-sdk' | 'again' | Error, reusable = false) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (reusable && keep && !connection.closed && this.idle.length < MAX_IDLE) {
          connection.rest();
          this.idle.push(connection);
        } else connection.close();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const broken = (why: string) =>
        storageError('EIO', `the GET of '${key}' from the object store broke after ${received} of ${length} bytes (${why})`, {
          path: `s3://${this.bucket}/${key}`,
          hint: 'check that the S3 service is up and reachable, then try again',
        });
      /** Whether a 206 holds the range asked for: from its first byte, `size` bytes, no more than asked. */
      const holdsRange = (asked: ByteRange, headers: Map<string, string>, size: number): boolean => {
        const [first, last] =
          /^bytes (\d+)-(\d+)\//
            .exec(headers.get('content-range') ?? '')
            ?.slice(1)
            .map(Number) ?? [];
        return first === asked.offset && last === first + size - 1 && size >= 1 && size <= asked.length;
      };
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
          // more than the body (nothing was asked for): the connection is not kept
          finish(length, take === piece.length);
          return !connection.closed;
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
        // the answer asked for: the whole object (200), or the range (206)
        const code = /^HTTP\/1\.[01] (\d{3}) /.exec(`${status} `)?.[1];
        if (
          code !== (range === undefined ? '200' : '206') ||
          headers.has('transfer-encoding') ||
          !Number.isSafeInteger(size) ||
          size < 0 ||
          (range !== undefined && !holdsRange(range, headers, size))
        ) {
          finish('ask-sdk');
          return false;
        }
        keep = status!.startsWith('HTTP/1.1') && headers.get('connection')?.toLowerCase() !== 'close';
        length = size;
        if (length === 0) {
          finish(0, rest.length === 0);
          return !connection.closed;
        }
        // `rest` is a view into the reads' buffer only when the head came whole in this read: copy-free either way
        return rest.length === 0 || body(rest);
      };
      connection.serve(
        {
          read: (piece) => (settled ? false : head === undefined ? body(piece) : answer(piece)),
          ended: (why, timedOut) => {
            if (length >= 0) finish(broken(timedOut ? `silent for ${this.timeout} ms` : why));
            else if (connection.reused && !timedOut && head !== undefined && head.length === 0) finish('again');
            else finish('ask-sdk');
          },
        },
        this.timeout,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted === true) onAbort();
      else {
        connection.socket.write(request);
        try {
          onSent?.();
        } catch (error) {
          finish(error as Error);
        }
      }
    });
  }
}
