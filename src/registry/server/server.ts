import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BerthError } from '../../util/errors.ts';
import { flock, LOCK_NB, LOCK_SH, LOCK_UN } from '../../util/syscalls.ts';
import { Auth, AuthChallenge, type Need } from './auth.ts';
import { parseAddr, type ServerConfig } from './config.ts';
import { RegistryError } from './errors.ts';
import { OCI_INDEX, validateManifest } from './manifest.ts';
import { checkDigest, checkName, isDigest, isTag } from './names.ts';
import { RegistryStorage } from './storage.ts';
import { parseContentRange, Uploads } from './uploads.ts';

/**
 * `berth registry serve`: the OCI distribution spec v1.1 over node:http(s). Routes decode the
 * request, check access, and call the storage and upload modules; every answer carries
 * `Docker-Distribution-API-Version`, errors are the spec's `{"errors":[…]}`.
 */
export interface RegistryServer {
  server: Server;
  /** `http://127.0.0.1:PORT` (or https) */
  url: string;
  storage: RegistryStorage;
  uploads: Uploads;
  close(): Promise<void>;
}

type Route = 'tags' | 'manifest' | 'uploadStart' | 'upload' | 'blob' | 'referrers';

const ROUTES: Array<[RegExp, Route]> = [
  [/^\/v2\/(.+)\/tags\/list$/, 'tags'],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, 'manifest'],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, 'uploadStart'],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, 'upload'],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, 'blob'],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, 'referrers'],
];

const READ_CHUNK = 1 << 20;

const unsupported = (message = 'the operation is unsupported') => new RegistryError('UNSUPPORTED', message);

/** The lock file `registry gc` takes exclusively: a server holds it shared while it runs. */
export const rootLockFile = (root: string) => join(root, '.lock');

function contentLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new RegistryError('SIZE_INVALID', 'bad Content-Length');
  return n;
}

const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || (contentLength(req) ?? 0) > 0;

async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  const len = contentLength(req);
  const tooBig = () =>
    new RegistryError('SIZE_INVALID', `manifest is larger than the limit of ${limit} bytes`, { limit }, 413);
  if (len !== undefined && len > limit) throw tooBig();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw tooBig();
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function rangeHeader(size: number): string {
  return size === 0 ? '0-0' : `0-${size - 1}`;
}

/** A single `bytes=a-b` / `a-` / `-n` range, or 'bad' when it cannot be satisfied. */
function parseRange(v: string | undefined, size: number): { start: number; end: number } | 'bad' | undefined {
  if (!v) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(v.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'bad';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'bad';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return 'bad';
  return { start, end };
}

function paginate(
  all: string[],
  query: URLSearchParams,
): { items: string[]; next?: { n: number; last: string } } {
  const last = query.get('last');
  let items = last !== null ? all.filter((t) => t > last) : all;
  const nRaw = query.get('n');
  if (nRaw === null || nRaw === '') return { items };
  const n = Number(nRaw);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RegistryError('PAGINATION_NUMBER_INVALID', `invalid n=${nRaw}`, { n: nRaw });
  const more = items.length > n;
  items = items.slice(0, n);
  return more && n > 0 ? { items, next: { n, last: items[n - 1]! } } : { items };
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function empty(res: ServerResponse, status: number, headers: Record<string, string | number>): void {
  res.writeHead(status, { 'Content-Length': 0, ...headers });
  res.end();
}

export async function startRegistryServer(
  cfg: ServerConfig,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<RegistryServer> {
  const { host, port } = parseAddr(cfg.addr);
  const readPem = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new BerthError(`cannot read the TLS ${what} ${file}: ${(e as Error).message}`);
    }
  };
  const tls = cfg.tls && { cert: readPem(cfg.tls.cert, 'certificate'), key: readPem(cfg.tls.key, 'key') };
  const storage = new RegistryStorage(cfg.root);
  await storage.init();
  // Held shared for the server's life, so that `registry gc` (exclusive) never sweeps under it.
  const lockFd = openSync(rootLockFile(cfg.root), 'a');
  try {
    flock(lockFd, LOCK_SH | LOCK_NB);
  } catch {
    closeSync(lockFd);
    throw new BerthError(`${cfg.root} is locked by a running \`berth registry gc\`; wait for it to finish`);
  }
  const uploads = new Uploads(storage, cfg.uploadExpiryMs);
  const auth = new Auth(cfg.auth);
  const scheme = cfg.tls ? 'https' : 'http';
  const level = ['error', 'warn', 'info', 'debug'].indexOf(cfg.logLevel);

  const purged = await uploads.purge();
  if (purged > 0 && level >= 2) log(`purged ${purged} expired upload session(s)`);
  uploads.startPurging(cfg.uploadPurgeIntervalMs, (e) => log(`upload purge failed: ${String(e)}`));

  const checkWrite = () => {
    if (cfg.readOnly) throw unsupported('the registry is read-only');
  };
  const checkDelete = () => {
    checkWrite();
    if (!cfg.deleteEnabled)
      throw unsupported('deletes are disabled on this registry (start it with --delete)');
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    const base = `${scheme}://${req.headers.host ?? cfg.addr}`;
    const isRead = method === 'GET' || method === 'HEAD';

    if (path === '/token' && auth.tokenMode) {
      if (method !== 'GET') throw unsupported();
      json(res, 200, await auth.issueToken(req, query));
      return;
    }
    if (path === '/v2/' || path === '/v2') {
      if (!isRead) throw unsupported();
      await auth.check(req, undefined, base);
      json(res, 200, {});
      return;
    }
    if (path === '/v2/_catalog') {
      if (!isRead) throw unsupported();
      await auth.check(req, { type: 'registry', name: 'catalog', actions: ['*'] }, base);
      const { items, next } = paginate(await storage.repositories(), query);
      const headers: Record<string, string> = {};
      if (next) headers.Link = `</v2/_catalog?n=${next.n}&last=${encodeURIComponent(next.last)}>; rel="next"`;
      json(res, 200, { repositories: items }, headers);
      return;
    }
    let kind: Route | undefined;
    let m: RegExpExecArray | null = null;
    for (const [re, k] of ROUTES) {
      m = re.exec(path);
      if (m) {
        kind = k;
        break;
      }
    }
    if (!kind || !m) {
      json(res, 404, { errors: [{ code: 'NOT_FOUND', message: `no such endpoint: ${path.slice(0, 200)}` }] });
      return;
    }
    const name = checkName(m[1]!);
    const ref = m[2] ?? '';
    const need = (...actions: string[]): Need => ({ type: 'repository', name, actions });

    switch (kind) {
      case 'tags': {
        if (!isRead) throw unsupported();
        await auth.check(req, need('pull'), base);
        if (!(await storage.repoExists(name))) throw new RegistryError('NAME_UNKNOWN', undefined, { name });
        const { items, next } = paginate(await storage.tags(name), query);
        const headers: Record<string, string> = {};
        if (next)
          headers.Link = `</v2/${name}/tags/list?n=${next.n}&last=${encodeURIComponent(next.last)}>; rel="next"`;
        json(res, 200, { name, tags: items }, headers);
        return;
      }
      case 'manifest':
        if (isRead) {
          await auth.check(req, need('pull'), base);
          return getManifest(req, res, name, ref);
        }
        if (method === 'PUT') {
          await auth.check(req, need('pull', 'push'), base);
          checkWrite();
          return putManifest(req, res, name, ref);
        }
        if (method === 'DELETE') {
          await auth.check(req, need('delete'), base);
          checkDelete();
          const gone = isDigest(ref)
            ? await storage.deleteManifest(name, ref)
            : await storage.deleteTag(name, ref);
          if (!gone) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { name, reference: ref });
          empty(res, 202, {});
          return;
        }
        throw unsupported();
      case 'blob':
        if (isRead) {
          await auth.check(req, need('pull'), base);
          return getBlob(req, res, name, checkDigest(ref));
        }
        if (method === 'DELETE') {
          await auth.check(req, need('delete'), base);
          checkDelete();
          const digest = checkDigest(ref);
          if (!(await storage.unlinkBlob(name, digest)))
            throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
          empty(res, 202, { 'Docker-Content-Digest': digest });
          return;
        }
        throw unsupported();
      case 'uploadStart':
        if (method !== 'POST') throw unsupported();
        await auth.check(req, need('pull', 'push'), base);
        checkWrite();
        return startUpload(req, res, name, query, base);
      case 'upload': {
        await auth.check(req, need('pull', 'push'), base);
        const location = `/v2/${name}/blobs/uploads/${ref}`;
        const progress = (size: number) => ({
          Location: location,
          Range: rangeHeader(size),
          'Docker-Upload-UUID': ref,
        });
        if (isRead) {
          empty(res, 204, progress(await uploads.size(name, ref)));
          return;
        }
        checkWrite();
        if (method === 'PATCH') {
          const size = await uploads.append(
            name,
            ref,
            req,
            parseContentRange(req.headers['content-range']),
            contentLength(req),
          );
          empty(res, 202, progress(size));
          return;
        }
        if (method === 'PUT') {
          const digest = checkDigest(query.get('digest'));
          await uploads.finish(
            name,
            ref,
            digest,
            hasBody(req) ? req : undefined,
            parseContentRange(req.headers['content-range']),
            contentLength(req),
          );
          empty(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
          return;
        }
        if (method === 'DELETE') {
          await uploads.cancel(name, ref);
          empty(res, 204, {});
          return;
        }
        throw unsupported();
      }
      case 'referrers': {
        if (!isRead) throw unsupported();
        await auth.check(req, need('pull'), base);
        const digest = checkDigest(ref);
        let manifests = await storage.referrers(name, digest);
        const headers: Record<string, string> = {};
        const artifactType = query.get('artifactType');
        if (artifactType !== null) {
          manifests = manifests.filter((d) => d.artifactType === artifactType);
          headers['OCI-Filters-Applied'] = 'artifactType';
        }
        const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
        res.writeHead(200, {
          'Content-Type': OCI_INDEX,
          'Content-Length': Buffer.byteLength(body),
          ...headers,
        });
        res.end(body);
        return;
      }
    }
  }

  async function getManifest(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    ref: string,
  ): Promise<void> {
    const unknown = async () =>
      (await storage.repoExists(name))
        ? new RegistryError('MANIFEST_UNKNOWN', undefined, { name, reference: ref })
        : new RegistryError('NAME_UNKNOWN', undefined, { name });
    let digest: string | undefined;
    if (ref.includes(':')) digest = checkDigest(ref);
    else if (isTag(ref)) digest = await storage.resolveTag(name, ref);
    if (!digest) throw await unknown();
    const meta = await storage.manifestMeta(name, digest);
    if (!meta) throw await unknown();
    const headers = {
      'Content-Type': meta.mediaType,
      'Content-Length': meta.size,
      'Docker-Content-Digest': digest,
      ETag: `"${digest}"`,
    };
    if (req.method === 'HEAD') {
      res.writeHead(200, headers);
      res.end();
      return;
    }
    let body: Buffer;
    try {
      body = readFileSync(storage.blobPath(digest));
    } catch {
      throw await unknown();
    }
    res.writeHead(200, headers);
    res.end(body);
  }

  async function putManifest(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    ref: string,
  ): Promise<void> {
    const refIsDigest = ref.includes(':');
    if (refIsDigest) checkDigest(ref);
    else if (!isTag(ref)) throw new RegistryError('MANIFEST_INVALID', `invalid tag "${ref.slice(0, 200)}"`);
    const body = await readLimited(req, cfg.maxManifestBytes);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (refIsDigest && ref !== digest)
      throw new RegistryError('DIGEST_INVALID', 'the manifest does not match the digest it was pushed by', {
        expected: ref,
        actual: digest,
      });
    const v = await validateManifest(storage, name, body, req.headers['content-type']);
    await storage.putManifest(name, digest, body, v.meta, {
      tag: refIsDigest ? undefined : ref,
      subject: v.subject,
      annotations: v.annotations,
    });
    const headers: Record<string, string> = {
      Location: `/v2/${name}/manifests/${digest}`,
      'Docker-Content-Digest': digest,
    };
    if (v.subject) headers['OCI-Subject'] = v.subject;
    empty(res, 201, headers);
  }

  async function getBlob(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    digest: string,
  ): Promise<void> {
    if ((await storage.repoBlobSize(name, digest)) === undefined)
      throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(storage.blobPath(digest), 'r');
    } catch {
      throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    }
    try {
      const size = (await fh.stat()).size;
      const headers: Record<string, string | number> = {
        'Content-Type': 'application/octet-stream',
        'Docker-Content-Digest': digest,
        ETag: `"${digest}"`,
        'Accept-Ranges': 'bytes',
        'Cache-Control': 'max-age=31536000',
      };
      const range = parseRange(req.headers.range, size);
      if (range === 'bad') {
        res.writeHead(416, {
          ...headers,
          'Content-Range': `bytes */${size}`,
          'Content-Type': 'application/json',
        });
        res.end(new RegistryError('BLOB_UNKNOWN', 'requested range not satisfiable', { size }, 416).body());
        return;
      }
      const start = range?.start ?? 0;
      const end = range?.end ?? size - 1;
      headers['Content-Length'] = end - start + 1;
      if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      res.writeHead(range ? 206 : 200, headers);
      if (req.method === 'HEAD' || size === 0) {
        res.end();
        return;
      }
      const stream = fh.createReadStream({ start, end, highWaterMark: READ_CHUNK, autoClose: false });
      await pipeline(stream, res);
    } finally {
      await fh.close();
    }
  }

  async function startUpload(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    query: URLSearchParams,
    base: string,
  ): Promise<void> {
    const mount = query.get('mount');
    const from = query.get('from');
    if (mount && from) {
      const digest = checkDigest(mount);
      let fromName: string | undefined;
      try {
        fromName = checkName(from);
        await auth.check(req, { type: 'repository', name: fromName, actions: ['pull'] }, base);
      } catch {
        fromName = undefined; // no access to the source: a plain upload, as the spec allows
      }
      if (fromName && (await storage.repoBlobSize(fromName, digest)) !== undefined) {
        await storage.linkBlob(name, digest);
        empty(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
        return;
      }
    }
    const digestParam = query.get('digest');
    if (digestParam !== null) {
      const digest = checkDigest(digestParam);
      const uuid = await uploads.create(name);
      try {
        await uploads.finish(name, uuid, digest, req, undefined, contentLength(req));
      } catch (e) {
        // Nobody holds a Location for a monolithic upload: nothing to resume.
        await uploads.discard(uuid);
        throw e;
      }
      empty(res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      return;
    }
    const uuid = await uploads.create(name);
    empty(res, 202, {
      Location: `/v2/${name}/blobs/uploads/${uuid}`,
      Range: '0-0',
      'Docker-Upload-UUID': uuid,
    });
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const t0 = performance.now();
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (level >= 2) {
      res.on('close', () => {
        const ms = (performance.now() - t0).toFixed(1);
        const status = res.writableFinished ? String(res.statusCode) : `${res.statusCode}-aborted`;
        log(`${req.socket.remoteAddress ?? '-'} "${req.method} ${req.url}" ${status} ${ms}ms`);
      });
    }
    route(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof RegistryError) {
        if (e instanceof AuthChallenge) res.setHeader('WWW-Authenticate', e.challenge);
        const body = e.body();
        res.writeHead(e.status, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        });
        res.end(body);
        if (level >= 3) log(`  ${e.code}: ${e.message}`);
        return;
      }
      const err = e as NodeJS.ErrnoException;
      if (req.destroyed || err.code === 'ECONNRESET' || err.message === 'aborted') {
        res.destroy();
        return;
      }
      if (level >= 0) log(`error: ${req.method} ${req.url}: ${err.stack ?? String(e)}`);
      const body = new RegistryError('UNKNOWN', err.message).body();
      res.writeHead(500, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  };

  const server: Server = tls ? (createHttpsServer(tls, handler) as Server) : createHttpServer(handler);
  // Blob uploads can take longer than Node's default 5-minute request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  const releaseLock = () => {
    try {
      flock(lockFd, LOCK_UN);
    } finally {
      closeSync(lockFd);
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    uploads.stop();
    releaseLock();
    throw new BerthError(`cannot listen on ${cfg.addr}: ${(e as Error).message}`);
  }
  const a = server.address() as AddressInfo;
  const shownHost = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    server,
    url: `${scheme}://${shownHost}:${a.port}`,
    storage,
    uploads,
    async close() {
      uploads.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      releaseLock();
    },
  };
}
