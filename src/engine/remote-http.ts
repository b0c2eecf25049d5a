import type { Duplex, Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { BerthError, ConflictError, InvalidArgumentError, NotFoundError } from '../util/errors.ts';

/**
 * The HTTP side of the remote engine: one undici agent to `unix://PATH`, `tcp://HOST:PORT` or
 * `http://HOST:PORT`, requests with docker's query and body conventions, and the server's
 * `{"message": …}` errors turned back into the BerthError the local engine would have thrown, so
 * the CLI prints the same text and exits with the same code.
 */

export type QueryValue = string | number | boolean | undefined | readonly string[];
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  query?: Query;
  /** An object is sent as JSON; a stream as it is (tar bodies). */
  body?: unknown;
  headers?: Record<string, string>;
  contentType?: string;
  signal?: AbortSignal;
}

/** Whether a host string is one Berth can talk to; the CLI validates `--host` with it. */
export function parseHost(host: string): { socketPath?: string; origin: string } {
  if (host.startsWith('unix://')) return { socketPath: host.slice(7), origin: 'http://localhost' };
  if (host.startsWith('/')) return { socketPath: host, origin: 'http://localhost' };
  const m = /^(?:tcp|http):\/\/([^/]+)\/?$/.exec(host);
  if (m) return { origin: `http://${m[1]}` };
  if (host.startsWith('https://') || host.startsWith('ssh://') || host.startsWith('npipe://'))
    throw new InvalidArgumentError(`host ${host}: only unix:// and tcp:// (plain HTTP) are supported`);
  throw new InvalidArgumentError(`unable to parse docker host \`${host}\``);
}

/** docker's exit codes for a failed start are read from the message, by its CLI as by ours. */
function execExitCode(message: string): number {
  if (/executable file not found|no such file or directory|not found in \$PATH/i.test(message)) return 127;
  if (/permission denied|exec format error|is a directory/i.test(message)) return 126;
  return 125;
}

export function errorFor(status: number, message: string): BerthError {
  if (status === 404) return new NotFoundError(message);
  if (status === 409) return new ConflictError(message);
  if (status === 400) return new InvalidArgumentError(message);
  return new BerthError(message, execExitCode(message));
}

/** Path segments keep `/`, `:` and `@`: image names are sent as docker's client sends them. */
export function pathPart(s: string): string {
  return encodeURIComponent(s).replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%40/gi, '@');
}

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, x);
    else if (typeof v === 'boolean') p.append(k, v ? '1' : '0');
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & AsyncIterable<Buffer>;
}

export class Transport {
  readonly origin: string;
  private readonly agent: Agent;

  constructor(readonly host: string) {
    const h = parseHost(host);
    this.origin = h.origin;
    this.agent = new Agent({
      connect: h.socketPath ? { socketPath: h.socketPath } : {},
      // Streams (logs -f, events, attach) stay open as long as they are used.
      bodyTimeout: 0,
      headersTimeout: 0,
    });
  }

  private opts(method: string, path: string, o: RequestOptions): Dispatcher.RequestOptions {
    const headers: Record<string, string> = { ...o.headers };
    let body: Dispatcher.RequestOptions['body'];
    if (o.body !== undefined) {
      if (isStream(o.body)) {
        body = o.body;
        headers['content-type'] = o.contentType ?? 'application/x-tar';
      } else {
        body = JSON.stringify(o.body);
        headers['content-type'] = 'application/json';
      }
    }
    return {
      origin: this.origin,
      path: `${path}${queryString(o.query)}`,
      method: method as Dispatcher.HttpMethod,
      headers,
      body,
      signal: o.signal,
    };
  }

  /** Sends the request; a status of 400 or more becomes the matching BerthError. */
  async request(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    let r: Dispatcher.ResponseData;
    try {
      r = await this.agent.request(this.opts(method, path, o));
    } catch (err) {
      throw this.connectError(err);
    }
    if (r.statusCode >= 400) {
      const text = await r.body.text();
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {
        // a plain-text error body is its own message
      }
      throw errorFor(r.statusCode, message || `HTTP ${r.statusCode} from ${method} ${path}`);
    }
    return { status: r.statusCode, headers: r.headers, body: r.body as Response['body'] };
  }

  async json<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const r = await this.request(method, path, o);
    const text = await (r.body as unknown as Dispatcher.ResponseData['body']).text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A request whose answer carries no body worth reading (204s, 201s). */
  async call(method: string, path: string, o: RequestOptions = {}): Promise<void> {
    const r = await this.request(method, path, o);
    await (r.body as unknown as Dispatcher.ResponseData['body']).dump();
  }

  /** An `Upgrade: tcp` request (attach, exec start): the raw connection after `101 UPGRADED`. */
  async upgrade(
    path: string,
    o: RequestOptions = {},
  ): Promise<{ socket: Duplex; headers: Response['headers'] }> {
    const base = this.opts('POST', path, o);
    try {
      const r = await this.agent.upgrade({
        ...base,
        protocol: 'tcp',
        headers: base.headers as Record<string, string>,
      });
      return { socket: r.socket, headers: r.headers };
    } catch (err) {
      // A refused upgrade is an ordinary error response: undici reports it without the body, so ask again.
      const e = err as { code?: string; statusCode?: number };
      if (e.code === 'UND_ERR_SOCKET' || e.code === 'ECONNREFUSED' || e.code === 'ENOENT')
        throw this.connectError(err);
      throw err;
    }
  }

  private connectError(err: unknown): Error {
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    const code = e.code ?? e.cause?.code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES')
      return new BerthError(
        `Cannot connect to the Berth engine at ${this.host}. Is \`berth serve\` running there?`,
        1,
      );
    return err as Error;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

function isStream(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function';
}

/** docker's JSON-messages streams: one JSON value per line (pull, push, load, build, events). */
export async function* jsonLines<T>(body: AsyncIterable<Buffer>): AsyncIterable<T> {
  let rest = '';
  for await (const chunk of body) {
    rest += chunk.toString('utf8');
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) yield JSON.parse(line) as T;
      nl = rest.indexOf('\n');
    }
  }
  if (rest.trim()) yield JSON.parse(rest) as T;
}

/**
 * Splits docker's multiplexed stream (8-byte headers: stream, 3 zero bytes, big-endian length)
 * into stdout and stderr as the bytes arrive.
 */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly emit: (stream: 1 | 2, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) return;
      const kind = this.buf[0];
      const data = this.buf.subarray(8, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      if (kind === 1 || kind === 2) this.emit(kind, data);
      // kind 0 (stdin) and 3 (systemerr) are not output
      else if (kind === 3) this.emit(2, data);
    }
  }
}
