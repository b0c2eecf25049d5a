import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher, EnvHttpProxyAgent, request } from 'undici';
import { MediaTypes } from '../image/types.ts';
import { BerthError } from '../util/errors.ts';
import { type Credentials, getCredentials } from './credentials.ts';

/**
 * A client of the OCI distribution spec (Docker Registry HTTP API v2): manifests, blobs, uploads,
 * tag lists, with anonymous, Basic and Bearer-token authentication.
 */

/** Manifests larger than this are refused before they are parsed (containerd and distribution use 4 MiB too). */
export const MAX_MANIFEST_SIZE = 4 << 20;
/** Blobs up to this size are uploaded in one PUT; larger ones in PATCH chunks of this size. */
export const MONOLITHIC_UPLOAD_MAX = 16 << 20;
const UPLOAD_CHUNK = 16 << 20;
const TRIES = 3;
const MAX_REDIRECTS = 5;
const USER_AGENT = 'berth/0.1.0';

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
];

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerManifestList];

const SCHEMA1_TYPES = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];

/** An error answer from a registry; `codes` are the distribution error codes (MANIFEST_UNKNOWN, …). */
export class RegistryError extends BerthError {
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly codes: string[] = [],
    /** The registry's own words, without what was being done. */
    readonly detail = message,
  ) {
    super(message, 125, httpStatus === 404 ? 'notFound' : 'internal');
    this.name = 'RegistryError';
  }

  get unauthorized(): boolean {
    return (
      this.httpStatus === 401 ||
      this.httpStatus === 403 ||
      this.codes.includes('UNAUTHORIZED') ||
      this.codes.includes('DENIED')
    );
  }
}

type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Req {
  method: HttpMethod;
  /** A path on the registry (`/v2/…`) or an absolute URL (an upload location). */
  url: string;
  /** Token scopes the request needs (`repository:name:pull`). */
  scopes: string[];
  headers?: Record<string, string>;
  /** A stream body is given as a factory, so that the request can be sent again after a 401 or a 5xx. */
  body?: Buffer | (() => Readable);
  signal?: AbortSignal;
}

type ResponseBody = Dispatcher.ResponseData['body'];

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
  url: string;
}

interface Challenge {
  scheme: 'basic' | 'bearer';
  realm?: string;
  service?: string;
  scope?: string;
}

export interface FetchedManifest {
  mediaType: string;
  digest: string;
  bytes: Buffer;
  json: Record<string, unknown>;
}

export interface ClientOptions {
  /** undefined: the stored credentials for the registry; null: anonymous. */
  credentials?: Credentials | null;
  /** Plain HTTP even though the host is not local nor listed in BERTH_INSECURE_REGISTRIES. */
  insecure?: boolean;
}

// ---- hosts ----

/** The host a reference's domain is reached at: Docker Hub's API lives on registry-1.docker.io. */
export function registryEndpoint(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

function hostOf(domain: string): string {
  if (domain.startsWith('[')) return domain.slice(1, domain.indexOf(']'));
  const colon = domain.lastIndexOf(':');
  return colon >= 0 ? domain.slice(0, colon) : domain;
}

/** Local registries and the ones the user listed are spoken to in plain HTTP. */
export function isInsecureRegistry(domain: string, extra: readonly string[] = []): boolean {
  const host = hostOf(domain).toLowerCase();
  if (host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)) return true;
  const listed = (process.env.BERTH_INSECURE_REGISTRIES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .concat(extra);
  return listed.some((e) => {
    const entry = e.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
    return entry === domain || entry === host;
  });
}

// ---- TLS trust ----

let systemCas: string[] | undefined;

/** Node's bundled roots, the system bundle (Debian's ca-certificates) and SSL_CERT_FILE. */
function trustedCas(): string[] {
  if (!systemCas) {
    systemCas = [...rootCertificates];
    for (const f of ['/etc/ssl/certs/ca-certificates.crt', process.env.SSL_CERT_FILE]) {
      if (f && existsSync(f)) {
        try {
          systemCas.push(readFileSync(f, 'utf8'));
        } catch {
          // an unreadable bundle only means fewer trusted roots
        }
      }
    }
  }
  return systemCas;
}

/** docker's per-registry CA files: /etc/docker/certs.d/<host:port>/*.crt (and Berth's own directory). */
function registryCas(endpoint: string): string[] {
  const out: string[] = [];
  for (const base of ['/etc/berth/certs.d', '/etc/docker/certs.d']) {
    const dir = join(base, endpoint);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      if (f.endsWith('.crt')) out.push(readFileSync(join(dir, f), 'utf8'));
    }
  }
  return out;
}

const dispatchers = new Map<string, Dispatcher>();

function dispatcherFor(url: URL): Dispatcher {
  const key = url.host;
  let d = dispatchers.get(key);
  if (!d) {
    const opts = { connect: { ca: [...trustedCas(), ...registryCas(url.host)] } };
    const proxied = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((v) => process.env[v]);
    d = proxied ? new EnvHttpProxyAgent(opts) : new Agent(opts);
    dispatchers.set(key, d);
  }
  return d;
}

// ---- auth state, shared by every client of the process ----

const challenges = new Map<string, Challenge | null>();
const tokens = new Map<string, { token: string; expires: number }>();

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm=…`). */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  let basic: Challenge | undefined;
  for (const v of values) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(v);
    if (!m) continue;
    const scheme = m[1]!.toLowerCase();
    const params: Record<string, string> = {};
    for (const p of m[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
      params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    }
    if (scheme === 'bearer') {
      return { scheme: 'bearer', realm: params.realm, service: params.service, scope: params.scope };
    }
    if (scheme === 'basic') basic = { scheme: 'basic', realm: params.realm };
  }
  return basic;
}

// ---- helpers ----

function header(res: Res, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function errCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } } | null;
  return e?.code ?? e?.cause?.code ?? '';
}

function retryable(err: unknown): boolean {
  if ((err as Error)?.name === 'AbortError') return false;
  const code = errCode(err);
  if (code === 'ENOTFOUND' || code.startsWith('CERT_') || code.includes('CERT') || code === 'UND_ERR_ABORTED')
    return false;
  return true;
}

function describeNetworkError(err: unknown): string {
  const e = err as Error & { code?: string; cause?: Error & { code?: string } };
  const code = errCode(err);
  const msg = e.cause?.message ?? e.message;
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}

export const pullScope = (repo: string) => `repository:${repo}:pull`;
export const pushScope = (repo: string) => `repository:${repo}:pull,push`;

/** Reads a whole (small) body, refusing more than `max` bytes. */
export async function readLimited(
  body: Readable,
  max: number,
  tooBig: () => BerthError,
  declared?: string,
): Promise<Buffer> {
  if (declared !== undefined && Number(declared) > max) {
    body.destroy();
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const chunk = c as Buffer;
    n += chunk.length;
    if (n > max) {
      body.destroy();
      throw tooBig();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A pass-through that reports how many bytes went by. */
export function counter(onBytes: (total: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onBytes(n);
      cb(null, chunk);
    },
  });
}

function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.append(k, v);
  return u.href;
}

export class RegistryClient {
  /** The registry as references name it (`docker.io`, `127.0.0.1:5000`). */
  readonly domain: string;
  /** host[:port] actually contacted. */
  readonly endpoint: string;
  readonly base: string;
  private readonly creds: Credentials | undefined;

  constructor(domain: string, o: ClientOptions = {}) {
    this.domain = domain;
    this.endpoint = registryEndpoint(domain);
    const scheme = o.insecure || isInsecureRegistry(domain) ? 'http' : 'https';
    this.base = `${scheme}://${this.endpoint}`;
    this.creds = o.credentials === null ? undefined : (o.credentials ?? getCredentials(domain));
  }

  get hasCredentials(): boolean {
    return this.creds !== undefined;
  }

  /** GET /v2/ with the credentials (through the token flow if the registry uses one). */
  async ping(): Promise<void> {
    const res = await this.send({ method: 'GET', url: '/v2/', scopes: [] });
    if (res.status === 200) {
      await res.body.dump();
      return;
    }
    if (res.status === 401) {
      await res.body.dump();
      throw new RegistryError(
        `Get "${this.base}/v2/": unauthorized: ${this.creds ? 'incorrect username or password' : 'authentication required'}`,
        401,
        ['UNAUTHORIZED'],
      );
    }
    throw await this.failure(res, `Get "${this.base}/v2/"`);
  }

  async getManifest(repo: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const what = `manifest for ${this.domain}/${repo}${reference.includes(':') ? '@' : ':'}${reference}`;
    const res = await this.send({
      method: 'GET',
      url: `/v2/${repo}/manifests/${reference}`,
      scopes: [pullScope(repo)],
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      signal,
    });
    if (res.status !== 200) {
      const err = await this.failure(res, what);
      if (res.status === 404)
        throw new RegistryError(`${what} not found: ${err.detail}`, 404, err.codes, err.detail);
      throw err;
    }
    const bytes = await readLimited(
      res.body,
      MAX_MANIFEST_SIZE,
      () =>
        new BerthError(
          `${what} is larger than ${MAX_MANIFEST_SIZE >> 20} MiB; refusing it (a manifest that large is not an image manifest)`,
        ),
      header(res, 'content-length'),
    );
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.includes(':') && reference !== digest) {
      throw new BerthError(
        `${what}: the registry sent content with digest ${digest}; refusing it, it is not the content asked for`,
      );
    }
    const said = header(res, 'docker-content-digest');
    if (!reference.includes(':') && said?.startsWith('sha256:') && said !== digest) {
      throw new BerthError(
        `${what}: the registry says its digest is ${said}, but the content hashes to ${digest}; refusing it`,
      );
    }
    const { mediaType, json } = manifestMediaType(what, header(res, 'content-type'), bytes);
    return { mediaType, digest, bytes, json };
  }

  async blobExists(repo: string, digest: string, scopes = [pullScope(repo)]): Promise<boolean> {
    const res = await this.send({ method: 'HEAD', url: `/v2/${repo}/blobs/${digest}`, scopes });
    await res.body.dump();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.failure(res, `checking blob ${digest} in ${this.domain}/${repo}`);
  }

  /** Opens a blob for reading (following the redirects registries use to send blobs from storage). */
  async getBlob(
    repo: string,
    digest: string,
    signal?: AbortSignal,
  ): Promise<{ stream: Readable; length?: number }> {
    const res = await this.send({
      method: 'GET',
      url: `/v2/${repo}/blobs/${digest}`,
      scopes: [pullScope(repo)],
      signal,
    });
    if (res.status !== 200)
      throw await this.failure(res, `fetching blob ${digest} from ${this.domain}/${repo}`);
    const len = header(res, 'content-length');
    return { stream: res.body, length: len === undefined ? undefined : Number(len) };
  }

  /** A small blob (an image config), checked against its descriptor's size and digest. */
  async getBlobBytes(repo: string, digest: string, size: number, max: number, what: string): Promise<Buffer> {
    if (size > max) throw new BerthError(`${what} ${digest} is ${size} bytes, more than ${max}; refusing it`);
    const { stream, length } = await this.getBlob(repo, digest);
    const bytes = await readLimited(
      stream,
      size,
      () => new BerthError(`${what} ${digest} is larger than its descriptor's size ${size}; refusing it`),
      length === undefined ? undefined : String(length),
    );
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (bytes.length !== size || got !== digest) {
      throw new BerthError(
        `${what} ${digest}: the registry sent ${bytes.length} bytes with digest ${got}; refusing it (want ${size} bytes)`,
      );
    }
    return bytes;
  }

  /** Every tag of a repository, following the `Link: <…>; rel="next"` pagination. */
  async listTags(repo: string): Promise<string[]> {
    const out: string[] = [];
    let url = `/v2/${repo}/tags/list`;
    for (let page = 0; page < 1000 && url; page++) {
      const res = await this.send({ method: 'GET', url, scopes: [pullScope(repo)] });
      if (res.status !== 200) throw await this.failure(res, `listing tags of ${this.domain}/${repo}`);
      const body = await readLimited(
        res.body,
        MAX_MANIFEST_SIZE,
        () => new BerthError(`the tag list of ${this.domain}/${repo} is too large`),
      );
      let parsed: { tags?: unknown };
      try {
        parsed = JSON.parse(body.toString('utf8')) as { tags?: unknown };
      } catch {
        throw new BerthError(`the registry's tag list for ${this.domain}/${repo} is not valid JSON`);
      }
      if (Array.isArray(parsed.tags)) for (const t of parsed.tags) if (typeof t === 'string') out.push(t);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '');
      url = next ? new URL(next[1]!, res.url).href : '';
    }
    return out;
  }

  /** Asks the registry to link a blob another repository has; otherwise returns the upload it started. */
  async mountBlob(
    repo: string,
    digest: string,
    from: string,
  ): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const q = new URLSearchParams({ mount: digest, from });
    const res = await this.send({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/?${q}`,
      scopes: [pushScope(repo), pullScope(from)],
      headers: { 'content-length': '0' },
    });
    await res.body.dump();
    if (res.status === 201) return { mounted: true };
    if (res.status === 202) return { mounted: false, location: this.location(res) };
    throw await this.failure(res, `mounting blob ${digest} from ${from} into ${this.domain}/${repo}`);
  }

  async startUpload(repo: string): Promise<string> {
    const res = await this.send({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/`,
      scopes: [pushScope(repo)],
      headers: { 'content-length': '0' },
    });
    await res.body.dump();
    if (res.status !== 202) throw await this.failure(res, `starting an upload to ${this.domain}/${repo}`);
    return this.location(res);
  }

  /**
   * Uploads a blob into a started upload: one PUT for small blobs, PATCH chunks with Content-Range
   * then a closing PUT for large ones. `open(start, end)` reads bytes start..end inclusive.
   */
  async uploadBlob(
    repo: string,
    location: string,
    digest: string,
    size: number,
    open: (start: number, end: number) => Readable,
    onBytes: (done: number) => void = () => undefined,
  ): Promise<void> {
    const scopes = [pushScope(repo)];
    const what = `uploading blob ${digest} to ${this.domain}/${repo}`;
    const streamOf = (start: number, end: number) => () =>
      open(start, end).pipe(counter((n) => onBytes(start + n)));
    if (size <= MONOLITHIC_UPLOAD_MAX) {
      const res = await this.send({
        method: 'PUT',
        url: withQuery(location, { digest }),
        scopes,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: size === 0 ? Buffer.alloc(0) : streamOf(0, size - 1),
      });
      await res.body.dump();
      if (res.status !== 201 && res.status !== 204) throw await this.failure(res, what);
      return;
    }
    let loc = location;
    for (let start = 0; start < size; start += UPLOAD_CHUNK) {
      const end = Math.min(size, start + UPLOAD_CHUNK) - 1;
      const res = await this.send({
        method: 'PATCH',
        url: loc,
        scopes,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(end - start + 1),
          'content-range': `${start}-${end}`,
        },
        body: streamOf(start, end),
      });
      await res.body.dump();
      if (res.status !== 202 && res.status !== 204) throw await this.failure(res, what);
      loc = this.location(res, loc);
    }
    const res = await this.send({
      method: 'PUT',
      url: withQuery(loc, { digest }),
      scopes,
      headers: { 'content-length': '0' },
      body: Buffer.alloc(0),
    });
    await res.body.dump();
    if (res.status !== 201 && res.status !== 204) throw await this.failure(res, what);
  }

  /** PUTs a manifest under a tag or digest; returns its digest. */
  async putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const res = await this.send({
      method: 'PUT',
      url: `/v2/${repo}/manifests/${reference}`,
      scopes: [pushScope(repo)],
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
    });
    await res.body.dump();
    if (res.status !== 201 && res.status !== 200 && res.status !== 202)
      throw await this.failure(res, `pushing the manifest of ${this.domain}/${repo}:${reference}`);
    const said = header(res, 'docker-content-digest');
    if (said?.startsWith('sha256:') && said !== digest) {
      throw new BerthError(
        `the registry stored the manifest of ${this.domain}/${repo}:${reference} as ${said}, not ${digest}`,
      );
    }
    return digest;
  }

  // ---- transport ----

  private location(res: Res, fallback?: string): string {
    const loc = header(res, 'location') ?? fallback;
    if (!loc) throw new BerthError(`the registry ${this.domain} started an upload but sent no Location`);
    return new URL(loc, res.url).href;
  }

  /** Turns an error answer into a RegistryError carrying the registry's own codes and messages. */
  async failure(res: Res, what: string): Promise<RegistryError> {
    let codes: string[] = [];
    let detail = '';
    try {
      const text = (
        await readLimited(res.body, 64 << 10, () => new BerthError('error body too large'))
      ).toString('utf8');
      try {
        const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
        if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
          codes = parsed.errors.map((e) => String(e.code ?? ''));
          detail = parsed.errors
            .map((e) => {
              const code = String(e.code ?? '')
                .toLowerCase()
                .replace(/_/g, ' ');
              return e.message ? `${code}: ${e.message}` : code;
            })
            .join('; ');
        }
      } catch {
        detail = text.trim().split('\n')[0]!.slice(0, 200);
      }
    } catch {
      // the body is only a nicety
    }
    if (res.status === 401 && codes.length === 0) codes = ['UNAUTHORIZED'];
    if (!detail) {
      detail =
        res.status === 401
          ? 'unauthorized: authentication required'
          : `${res.status} ${statusText(res.status)}`;
    } else if (res.status === 401 && !detail.toLowerCase().includes('unauthorized')) {
      detail = `unauthorized: ${detail}`;
    }
    return new RegistryError(`${what}: ${detail}`, res.status, codes, detail);
  }

  /**
   * Sends a request with authentication, retrying network errors, 5xx and 429 with back-off,
   * and answering one 401 challenge (Basic, or a Bearer token for the needed scopes).
   */
  private async send(req: Req): Promise<Res> {
    let scopes = req.scopes;
    let answeredChallenge = false;
    for (let attempt = 1; ; ) {
      let res: Res;
      try {
        res = await this.sendOnce(req, await this.authorization(scopes));
      } catch (err) {
        if (err instanceof BerthError) throw err;
        if (attempt < TRIES && retryable(err) && !req.signal?.aborted) {
          await sleep(backoff(attempt++));
          continue;
        }
        throw new BerthError(
          `cannot reach the registry ${this.endpoint} (${req.method} ${this.absolute(req.url)}): ${describeNetworkError(err)}${
            this.base.startsWith('https:') && /ssl|tls|certificate|wrong version/i.test(String(err))
              ? '; if it serves plain HTTP, list it in BERTH_INSECURE_REGISTRIES'
              : ''
          }`,
        );
      }
      if (res.status === 401 && !answeredChallenge) {
        const ch = parseChallenge(res.headers['www-authenticate']);
        if (ch && (ch.scheme === 'bearer' || this.creds)) {
          await res.body.dump();
          answeredChallenge = true;
          challenges.set(this.endpoint, ch);
          if (ch.scheme === 'bearer') {
            if (ch.scope && !scopes.includes(ch.scope)) scopes = [...scopes, ch.scope];
            tokens.delete(this.tokenKey(ch, scopes));
          }
          continue;
        }
      }
      if ((res.status >= 500 || res.status === 429) && attempt < TRIES) {
        await res.body.dump();
        const after = Number(header(res, 'retry-after'));
        await sleep(after > 0 ? Math.min(after, 10) * 1000 : backoff(attempt));
        attempt++;
        continue;
      }
      return res;
    }
  }

  private absolute(url: string): string {
    return new URL(url, this.base).href;
  }

  private async sendOnce(req: Req, authorization: string | undefined): Promise<Res> {
    let url = this.absolute(req.url);
    const origin = new URL(this.base).origin;
    const follow = req.method === 'GET' || req.method === 'HEAD';
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const target = new URL(url);
      const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...req.headers };
      // Credentials go to the registry only: a redirect to storage elsewhere must not carry them.
      if (authorization && target.origin === origin) headers.authorization = authorization;
      const body = typeof req.body === 'function' ? req.body() : req.body;
      const r = await request(target, {
        method: req.method,
        headers,
        body,
        signal: req.signal,
        dispatcher: dispatcherFor(target),
      });
      const loc = r.headers.location;
      if (follow && [301, 302, 303, 307, 308].includes(r.statusCode) && loc) {
        await r.body.dump();
        url = new URL(Array.isArray(loc) ? loc[0]! : loc, target).href;
        continue;
      }
      return { status: r.statusCode, headers: r.headers, body: r.body, url: target.href };
    }
    throw new BerthError(`${req.method} ${this.absolute(req.url)}: too many redirects`);
  }

  private tokenKey(ch: Challenge, scopes: string[]): string {
    return [this.endpoint, this.creds?.username ?? '', ch.realm, ch.service, ...[...scopes].sort()].join('|');
  }

  private async authorization(scopes: string[]): Promise<string | undefined> {
    const ch = challenges.get(this.endpoint);
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      return this.creds
        ? `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}`
        : undefined;
    }
    return `Bearer ${await this.token(ch, scopes)}`;
  }

  /** The token flow: GET realm?service=…&scope=… (with Basic credentials when known). */
  private async token(ch: Challenge, scopes: string[]): Promise<string> {
    const key = this.tokenKey(ch, scopes);
    const cached = tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.token;
    if (!ch.realm) throw new BerthError(`the registry ${this.domain} asked for a token but named no realm`);
    let realm: URL;
    try {
      realm = new URL(ch.realm);
    } catch {
      throw new BerthError(`the registry ${this.domain} named an invalid token realm "${ch.realm}"`);
    }
    if (ch.service) realm.searchParams.set('service', ch.service);
    for (const s of scopes) realm.searchParams.append('scope', s);
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    if (this.creds) {
      headers.authorization = `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}`;
    }
    let r: Dispatcher.ResponseData | undefined;
    for (let attempt = 1; !r; attempt++) {
      try {
        r = await request(realm, { method: 'GET', headers, dispatcher: dispatcherFor(realm) });
        if ((r.statusCode >= 500 || r.statusCode === 429) && attempt < TRIES) {
          await r.body.dump();
          r = undefined;
          await sleep(backoff(attempt));
        }
      } catch (err) {
        if (attempt >= TRIES || !retryable(err))
          throw new BerthError(
            `cannot reach the token server ${realm.origin} of ${this.domain}: ${describeNetworkError(err)}`,
          );
        await sleep(backoff(attempt));
      }
    }
    const res: Res = { status: r.statusCode, headers: r.headers, body: r.body, url: realm.href };
    if (r.statusCode === 401 || r.statusCode === 403) {
      await r.body.dump();
      throw new RegistryError(
        `Get "${realm.origin}${realm.pathname}": unauthorized: ${this.creds ? 'incorrect username or password' : 'authentication required'}`,
        401,
        ['UNAUTHORIZED'],
      );
    }
    if (r.statusCode !== 200) throw await this.failure(res, `getting a token from ${realm.origin}`);
    const text = await readLimited(r.body, 1 << 20, () => new BerthError('the token answer is too large'));
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(text.toString('utf8')) as typeof parsed;
    } catch {
      throw new BerthError(`the token server ${realm.origin} answered with something other than JSON`);
    }
    const token = parsed.token || parsed.access_token;
    if (!token) throw new BerthError(`the token server ${realm.origin} sent no token`);
    const ttl = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    tokens.set(key, { token, expires: Date.now() + Math.max(ttl - 10, 5) * 1000 });
    return token;
  }
}

function backoff(attempt: number): number {
  return 250 * 4 ** (attempt - 1);
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    413: 'Payload Too Large',
    416: 'Range Not Satisfiable',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
  };
  return texts[status] ?? 'error';
}

/**
 * The manifest's media type, from its `mediaType` field, the Content-Type, or (OCI allows leaving
 * it out) its shape. Anything but the four image manifest types is refused.
 */
function manifestMediaType(
  what: string,
  contentType: string | undefined,
  bytes: Buffer,
): { mediaType: string; json: Record<string, unknown> } {
  const ct = contentType ? contentType.split(';')[0]!.trim().toLowerCase() : undefined;
  let json: Record<string, unknown>;
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    json = parsed as Record<string, unknown>;
  } catch {
    if (ct && !MANIFEST_MEDIA_TYPES.includes(ct) && !ct.endsWith('json')) throw unsupported(what, ct);
    throw new BerthError(`${what} is not valid JSON; the registry sent something that is not a manifest`);
  }
  const declared = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  let mediaType = declared ?? (ct && ct !== 'application/json' ? ct : undefined);
  if (json.schemaVersion === 1 || (mediaType && SCHEMA1_TYPES.includes(mediaType))) {
    throw new BerthError(
      `${what} is a Docker schema 1 manifest, which Berth does not support (docker dropped it too); push the image again with a current client`,
    );
  }
  if (!mediaType) {
    if (Array.isArray(json.manifests)) mediaType = MediaTypes.ociIndex;
    else if (json.config && Array.isArray(json.layers)) mediaType = MediaTypes.ociManifest;
  }
  if (!mediaType || !MANIFEST_MEDIA_TYPES.includes(mediaType)) throw unsupported(what, mediaType ?? ct);
  if (json.schemaVersion !== 2)
    throw new BerthError(`${what} has schemaVersion ${String(json.schemaVersion)}; want 2`);
  return { mediaType, json };
}

function unsupported(what: string, mediaType: string | undefined): BerthError {
  return new BerthError(
    `${what} has unsupported media type "${mediaType ?? 'none'}": Berth pulls OCI image manifests and indexes and Docker schema 2 manifests and manifest lists`,
  );
}
