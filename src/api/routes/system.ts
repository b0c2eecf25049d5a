import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import { API_VERSION, versionInfo } from '../../engine/system.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { type Query, qFilters, qStr } from '../params.ts';
import { openStream } from '../stream.ts';

/** `_ping`, `version`, `info`, `events`, `system/df`, `auth`. */
export function registerSystemRoutes(app: FastifyInstance, engine: Engine): void {
  // fastify answers HEAD from the GET route itself.
  app.get('/_ping', async (_req, reply) => {
    reply
      .headers({
        'API-Version': API_VERSION,
        // The legacy builder: the docker CLI without buildx then sends POST /build.
        'Builder-Version': '1',
        'Cache-Control': 'no-cache, no-store, must-revalidate',
        Pragma: 'no-cache',
        Swarm: 'inactive',
      })
      .type('text/plain; charset=utf-8');
    return 'OK';
  });

  app.get('/version', async () => versionInfo());

  app.get('/info', async () => engine.systemInfo());

  app.get('/system/df', async () => engine.systemDf());

  app.post('/auth', async (req) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const user = typeof b.username === 'string' ? b.username : '';
    const pass = typeof b.password === 'string' ? b.password : '';
    const server = typeof b.serveraddress === 'string' && b.serveraddress ? b.serveraddress : 'docker.io';
    if (!user) throw new InvalidArgumentError('username is required');
    const status = await engine.login(server, user, pass);
    return { Status: status, IdentityToken: '' };
  });

  app.get('/events', async (req, reply) => {
    const q = req.query as Query;
    const ac = new AbortController();
    const it = engine.events(
      { since: qStr(q, 'since'), until: qStr(q, 'until'), filters: qFilters(q) },
      ac.signal,
    );
    // Errors in the query (bad filter, bad time) must be a 400, before the stream's headers go out.
    const iter = it[Symbol.asyncIterator]();
    const first = iter.next();
    const settled = await Promise.race([
      first.then(
        (r) => ({ r }),
        (e: unknown) => ({ e }),
      ),
      new Promise<undefined>((r) => setTimeout(r, 20)),
    ]);
    if (settled && 'e' in settled) throw settled.e;
    const s = openStream(req, reply, { 'Content-Type': 'application/json' });
    s.signal.addEventListener('abort', () => ac.abort());
    try {
      let next = settled ? settled.r : await first;
      while (!next.done && !s.signal.aborted) {
        await s.write(`${JSON.stringify(next.value)}\n`);
        next = await iter.next();
      }
    } catch {
      // the client went away or the store closed: the stream just ends
    }
    s.end();
  });
}
