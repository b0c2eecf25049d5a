import { chmodSync, existsSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { dirname } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { API_VERSION, MIN_API_VERSION } from '../engine/system.ts';
import { BerthError, InvalidArgumentError } from '../util/errors.ts';
import { prepareUpgrade, upgradeBody } from './hijack.ts';
import { registerBuildRoutes } from './routes/build.ts';
import { registerContainerRoutes } from './routes/containers.ts';
import { registerExecRoutes } from './routes/exec.ts';
import { registerImageRoutes } from './routes/images.ts';
import { registerNetworkRoutes } from './routes/networks.ts';
import { registerSystemRoutes } from './routes/system.ts';
import { registerVolumeRoutes } from './routes/volumes.ts';
import { SERVER_HEADERS } from './stream.ts';

export interface ApiServer {
  /** Stops listening and drops open connections (attached clients too); containers keep running. */
  close(): Promise<void>;
}

/** Large enough for an image or build context; bodies of that kind are streamed, not buffered. */
const BODY_LIMIT = 64 * 1024 * 1024;

function versionNumber(v: string): number {
  const [a = '0', b = '0'] = v.split('.');
  return Number(a) * 1000 + Number(b);
}

/** The `/vX.Y` prefix a request came with, when it had one. */
const REQUEST_VERSION = new WeakMap<IncomingMessage, string>();

export function requestApiVersion(req: IncomingMessage): string {
  return REQUEST_VERSION.get(req) ?? API_VERSION;
}

/** Builds the router: every route module registers on the same instance. */
export function buildApp(engine: Engine): FastifyInstance {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    logger: false,
    // Docker IDs and names never need case folding or trailing-slash games.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    serverFactory: (h) => {
      handler = h;
      return createServer(h);
    },
    rewriteUrl(req) {
      const url = req.url ?? '/';
      const m = /^\/v(\d+\.\d+)(\/.*)?$/.exec(url.split('?')[0]!);
      if (!m) return url;
      const v = m[1]!;
      REQUEST_VERSION.set(req, v);
      const rest = url.slice(m[0].length - (m[2]?.length ?? 0)) || '/';
      if (versionNumber(v) > versionNumber(API_VERSION) || versionNumber(v) < versionNumber(MIN_API_VERSION))
        return `/__bad-version/${v}`;
      return rest;
    },
  });
  HANDLERS.set(app, () => handler);

  const debug = !!process.env.BERTH_API_DEBUG;
  app.addHook('onRequest', async (req, reply) => {
    if (debug) process.stderr.write(`${new Date().toISOString()} -> ${req.method} ${req.raw.url}\n`);
    reply.headers(SERVER_HEADERS);
  });
  if (debug)
    app.addHook('onResponse', async (req, reply) => {
      process.stderr.write(
        `${new Date().toISOString()} <- ${reply.statusCode} ${req.method} ${req.raw.url}\n`,
      );
    });

  // Clients send `Content-Type: application/json` with empty bodies (start, stop, …): that is no body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'text/json'],
    { parseAs: 'string' },
    (req, body: string, done) => {
      const text = upgradeBody(req.raw)?.toString('utf8') ?? body;
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch (err) {
        done(new InvalidArgumentError(`invalid JSON: ${(err as Error).message}`), undefined);
      }
    },
  );
  // Tar bodies (archive PUT, image load, build) and anything else are left on req.raw as a stream.
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  app.setErrorHandler((err: FastifyError | BerthError | Error, _req, reply) => {
    // docker's client reads the message only when the type is exactly application/json (no charset).
    reply
      .code(statusOf(err))
      .type('application/json')
      .serializer(JSON.stringify)
      .send({ message: err.message });
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .type('application/json')
      .serializer(JSON.stringify)
      .send({ message: `page not found: ${req.method} ${req.url}` });
  });

  app.all('/__bad-version/:v', async (req) => {
    const v = (req.params as { v: string }).v;
    if (versionNumber(v) > versionNumber(API_VERSION))
      throw new InvalidArgumentError(
        `client version ${v} is too new. Maximum supported API version is ${API_VERSION}`,
      );
    throw new InvalidArgumentError(
      `client version ${v} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  });

  // Each area registers its routes here. Adding an area is one import and one call below.
  registerSystemRoutes(app, engine);
  registerContainerRoutes(app, engine);
  registerExecRoutes(app, engine);
  registerImageRoutes(app, engine);
  registerBuildRoutes(app, engine);
  registerVolumeRoutes(app, engine);
  registerNetworkRoutes(app, engine);
  return app;
}

const HANDLERS = new WeakMap<
  FastifyInstance,
  () => ((req: IncomingMessage, res: ServerResponse) => void) | undefined
>();

/** docker's statuses: 404 no such thing, 409 conflict, 400 bad request, else 500. */
export function statusOf(err: unknown): number {
  if (err instanceof BerthError) {
    if (err.status === 'notFound') return 404;
    if (err.status === 'conflict') return 409;
    if (err.status === 'invalid') return 400;
    return 500;
  }
  const code = (err as FastifyError).statusCode;
  if (typeof code === 'number' && code >= 400 && code < 600) return code;
  if (err instanceof SyntaxError) return 400;
  return 500;
}

interface Listener {
  server: Server;
  cleanup(): void;
}

/** Listens on `unix:///path` (mode 0660, a stale socket replaced) or `tcp://host:port`. */
async function listen(
  host: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  sockets: Set<Socket>,
): Promise<Listener> {
  const server = createServer(handler);
  // Streams (logs -f, events, wait, attach) last as long as they last.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 60_000;
  server.timeout = 0;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  // Upgrades (attach, exec start) go through the same routes, on a socket Node no longer parses.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    prepareUpgrade(req, socket, head).then(
      () => {
        req.headers['content-length'] = '0';
        const res = new ServerResponse(req);
        res.shouldKeepAlive = false;
        res.assignSocket(socket);
        res.on('finish', () => {
          if (!socket.destroyed) socket.end();
        });
        handler(req, res);
      },
      () => socket.destroy(),
    );
  });
  const url = new URL(host);
  if (url.protocol === 'unix:') {
    const path = decodeURIComponent(url.pathname);
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path) && lstatSync(path).isSocket()) rmSync(path);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o660);
    return { server, cleanup: () => rmSync(path, { force: true }) };
  }
  if (url.protocol === 'tcp:' || url.protocol === 'http:') {
    const port = Number(url.port || 2375);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, url.hostname || '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return { server, cleanup: () => undefined };
  }
  throw new InvalidArgumentError(
    `invalid host "${host}": want unix:///path/to/socket or tcp://127.0.0.1:PORT`,
  );
}

/** Serves the Engine API for `engine` on every host in `hosts`. */
export async function startServer(engine: Engine, hosts: string[]): Promise<ApiServer> {
  const app = buildApp(engine);
  await app.ready();
  const handler = HANDLERS.get(app)?.();
  if (!handler) throw new BerthError('API server: no request handler');
  const sockets = new Set<Socket>();
  const listeners: Listener[] = [];
  try {
    for (const h of hosts) listeners.push(await listen(h, handler, sockets));
  } catch (err) {
    for (const l of listeners) {
      l.server.close();
      l.cleanup();
    }
    throw err;
  }
  return {
    async close() {
      const closed = listeners.map(
        (l) =>
          new Promise<void>((resolve) => {
            l.server.close(() => resolve());
            l.server.closeAllConnections();
          }),
      );
      // Hijacked and streaming connections: dropping them detaches clients, not containers.
      for (const s of sockets) s.destroy();
      await Promise.all(closed);
      for (const l of listeners) l.cleanup();
      await app.close();
    },
  };
}
