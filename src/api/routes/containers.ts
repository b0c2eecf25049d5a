import { cpus } from 'node:os';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AttachIO, detachKeyFilter } from '../../container/attach.ts';
import { dockerTimestamp } from '../../container/logs.ts';
import type { AttachHandle, Engine, PathStat } from '../../engine/engine.ts';
import { BerthError, InvalidArgumentError } from '../../util/errors.ts';
import { parseTimestamp } from '../../util/units.ts';
import { decodeCreate } from '../decode/container-create.ts';
import { decodeUpdate } from '../decode/container-update.ts';
import { dockerStats } from '../encode/stats.ts';
import { contentType, frame, hijack, parseDetachKeys, STDERR, STDOUT } from '../hijack.ts';
import { type Query, qBool, qFilters, qInt, qStr } from '../params.ts';
import { openStream, SERVER_HEADERS } from '../stream.ts';
import { acceptWebSocket } from '../websocket.ts';

type IdParams = { id: string };
type Req = FastifyRequest<{ Params: IdParams }>;

interface Brief {
  id: string;
  tty: boolean;
  running: boolean;
  paused: boolean;
}

async function brief(engine: Engine, ref: string): Promise<Brief> {
  const c = await engine.inspectContainer(ref, { size: false });
  const s = c.State as { Running: boolean; Paused: boolean };
  return { id: String(c.Id), tty: (c.Config as { Tty: boolean }).Tty, running: s.Running, paused: s.Paused };
}

function timeQuery(q: Query, name: string): number | undefined {
  const v = qStr(q, name);
  if (!v || v === '0') return undefined;
  return parseTimestamp(v, Date.now());
}

/** Docker's `tail`: 'all' or a count. */
function tailQuery(q: Query): number | undefined {
  const v = qStr(q, 'tail');
  if (v === undefined || v === '' || v === 'all') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`invalid value for "tail": "${v}"`);
  return n < 0 ? undefined : n;
}

function pathStatHeader(s: PathStat): string {
  return Buffer.from(JSON.stringify(s)).toString('base64');
}

/** Writes a container's log entries to `out`, framed unless the container has a TTY. */
async function writeLogs(
  engine: Engine,
  id: string,
  o: {
    follow: boolean;
    stdout: boolean;
    stderr: boolean;
    timestamps: boolean;
    tail?: number;
    sinceMs?: number;
    untilMs?: number;
  },
  tty: boolean,
  write: (b: Buffer) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const entries = await engine.containerLogs(id, {
    follow: o.follow,
    tail: o.tail,
    sinceMs: o.sinceMs,
    untilMs: o.untilMs,
  });
  for await (const e of entries) {
    if (signal.aborted) return;
    if (e.stream === 'stdout' ? !o.stdout : !o.stderr) continue;
    const text = Buffer.from(o.timestamps ? `${dockerTimestamp(e.time)} ${e.text}` : e.text);
    await write(tty ? text : frame(e.stream === 'stderr' ? STDERR : STDOUT, text));
  }
}

/** Containers: create, list, inspect, lifecycle, attach, logs, stats, archive, … */
export function registerContainerRoutes(app: FastifyInstance, engine: Engine): void {
  app.post('/containers/create', async (req, reply) => {
    const q = req.query as Query;
    const d = decodeCreate(req.body, { name: qStr(q, 'name'), platform: qStr(q, 'platform') });
    // The API never pulls on create: docker's clients pull first when they get the 404.
    const r = await engine.createContainer(d.create, 'never');
    reply.code(201);
    return { Id: r.id, Warnings: r.warnings };
  });

  app.get('/containers/json', async (req) => {
    const q = req.query as Query;
    return engine.listContainers({
      all: qBool(q, 'all'),
      size: qBool(q, 'size'),
      limit: qInt(q, 'limit'),
      filters: qFilters(q),
    });
  });

  app.post('/containers/prune', async (req) => {
    const r = await engine.pruneContainers(qFilters(req.query as Query));
    return { ContainersDeleted: r.deleted.length ? r.deleted : null, SpaceReclaimed: r.spaceReclaimed };
  });

  app.get<{ Params: IdParams }>('/containers/:id/json', async (req) => {
    const c = await engine.inspectContainer(req.params.id, { size: qBool(req.query as Query, 'size') });
    // SDKs read logs only from the drivers they know (docker-py: json-file, journald); conmon's
    // k8s-file serves `logs` the same way, so clients are told the name they expect.
    const lc = (c.HostConfig as { LogConfig?: { Type: string } } | undefined)?.LogConfig;
    if (lc?.Type === 'k8s-file') lc.Type = 'json-file';
    return c;
  });

  app.post<{ Params: IdParams }>('/containers/:id/start', async (req, reply) => {
    const c = await brief(engine, req.params.id);
    if (c.running) return reply.code(304).send();
    await engine.startContainer(c.id);
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/stop', async (req, reply) => {
    const q = req.query as Query;
    const c = await brief(engine, req.params.id);
    if (!c.running) return reply.code(304).send();
    await engine.stopContainer(c.id, qInt(q, 't'), qStr(q, 'signal') || undefined);
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/restart', async (req, reply) => {
    await engine.restartContainer(req.params.id, qInt(req.query as Query, 't'));
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/kill', async (req, reply) => {
    await engine.killContainer(req.params.id, qStr(req.query as Query, 'signal') || 'KILL');
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/pause', async (req, reply) => {
    await engine.pauseContainer(req.params.id);
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/unpause', async (req, reply) => {
    await engine.unpauseContainer(req.params.id);
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/rename', async (req, reply) => {
    await engine.renameContainer(req.params.id, qStr(req.query as Query, 'name') ?? '');
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/resize', async (req, reply) => {
    const q = req.query as Query;
    const h = qInt(q, 'h') ?? 0;
    const w = qInt(q, 'w') ?? 0;
    const c = await brief(engine, req.params.id);
    if (c.running && h > 0 && w > 0) await engine.resizeContainer(c.id, h, w);
    return reply.code(200).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/update', async (req) => {
    const o = decodeUpdate(req.body);
    const { warnings } = await engine.updateContainer(req.params.id, o);
    return { Warnings: warnings };
  });

  app.delete<{ Params: IdParams }>('/containers/:id', async (req, reply) => {
    const q = req.query as Query;
    if (qBool(q, 'link')) throw new InvalidArgumentError('legacy container links are not supported by Berth');
    await engine.removeContainer(req.params.id, { force: qBool(q, 'force'), volumes: qBool(q, 'v') });
    return reply.code(204).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/wait', async (req, reply) => {
    const cond = qStr(req.query as Query, 'condition') || 'not-running';
    if (cond !== 'not-running' && cond !== 'next-exit' && cond !== 'removed')
      throw new InvalidArgumentError(`invalid condition: "${cond}"`);
    const waiting = engine.waitContainer(req.params.id, cond);
    // A missing container is a 404; after the headers have gone out errors go in the body.
    const early = await Promise.race([
      waiting.then(
        (r) => ({ r }),
        (e: unknown) => ({ e }),
      ),
      new Promise<undefined>((r) => setImmediate(() => r(undefined))),
    ]);
    if (early && 'e' in early) throw early.e;
    const s = openStream(req, reply, { 'Content-Type': 'application/json' });
    try {
      const r = early ? early.r : await waiting;
      s.end(`${JSON.stringify(r)}\n`);
    } catch (err) {
      s.end(`${JSON.stringify({ StatusCode: -1, Error: { Message: (err as Error).message } })}\n`);
    }
  });

  app.get<{ Params: IdParams }>('/containers/:id/top', async (req) => {
    const psArgs = qStr(req.query as Query, 'ps_args') ?? '';
    return engine.topContainer(req.params.id, psArgs.split(/\s+/).filter(Boolean));
  });

  app.get<{ Params: IdParams }>('/containers/:id/changes', async (req) => {
    const list = await engine.containerChanges(req.params.id);
    return list.length ? list : null;
  });

  app.get<{ Params: IdParams }>('/containers/:id/export', async (req, reply) => {
    await brief(engine, req.params.id);
    const s = openStream(req, reply, { 'Content-Type': 'application/x-tar' });
    try {
      await engine.exportContainer(req.params.id, s.res);
    } finally {
      s.end();
    }
  });

  app.get<{ Params: IdParams }>('/containers/:id/logs', async (req, reply) => {
    const q = req.query as Query;
    const stdout = qBool(q, 'stdout');
    const stderr = qBool(q, 'stderr');
    if (!stdout && !stderr)
      throw new InvalidArgumentError('Bad parameters: you must choose at least one stream');
    const c = await brief(engine, req.params.id);
    const o = {
      follow: qBool(q, 'follow'),
      stdout,
      stderr,
      timestamps: qBool(q, 'timestamps'),
      tail: tailQuery(q),
      sinceMs: timeQuery(q, 'since'),
      untilMs: timeQuery(q, 'until'),
    };
    const s = openStream(req, reply, { 'Content-Type': contentType(c.tty) });
    try {
      await writeLogs(engine, c.id, o, c.tty, (b) => s.write(b), s.signal);
    } finally {
      s.end();
    }
  });

  app.get<{ Params: IdParams }>('/containers/:id/stats', async (req, reply) => {
    const q = req.query as Query;
    const stream = qBool(q, 'stream', true) && !qBool(q, 'one-shot');
    const c = await brief(engine, req.params.id);
    const ncpu = cpus().length;
    const s = openStream(req, reply, { 'Content-Type': 'application/json' });
    let prev = new Date();
    try {
      for await (const rows of engine.containerStats([c.id], { stream, all: false })) {
        if (s.signal.aborted) break;
        const now = new Date();
        for (const r of rows) await s.write(`${JSON.stringify(dockerStats(r, ncpu, now, prev))}\n`);
        prev = now;
      }
    } finally {
      s.end();
    }
  });

  const archiveGet = async (req: Req, reply: FastifyReply, head: boolean) => {
    const path = qStr(req.query as Query, 'path');
    if (!path) throw new InvalidArgumentError('Bad parameters: path is required');
    let stream: ReturnType<typeof openStream> | undefined;
    const sink = { write: (b: Buffer) => stream?.write(b) };
    const out = new (await import('node:stream')).Writable({
      write(chunk: Buffer, _e, cb) {
        void Promise.resolve(sink.write(chunk)).then(() => cb());
      },
    });
    const stat = await engine.copyFromContainer(req.params.id, path, out, {
      followLink: false,
      onStat: (st) => {
        stream = openStream(req, reply, {
          'Content-Type': 'application/x-tar',
          'X-Docker-Container-Path-Stat': pathStatHeader(st),
        });
        return !head;
      },
    });
    if (stream) {
      await new Promise<void>((r) => out.end(r));
      stream.end();
      return;
    }
    reply.header('X-Docker-Container-Path-Stat', pathStatHeader(stat));
    return reply.code(200).send();
  };
  // fastify wants a custom HEAD declared before the GET it would otherwise derive one from.
  app.head<{ Params: IdParams }>('/containers/:id/archive', (req, reply) => archiveGet(req, reply, true));
  app.get<{ Params: IdParams }>('/containers/:id/archive', (req, reply) => archiveGet(req, reply, false));

  app.put<{ Params: IdParams }>('/containers/:id/archive', async (req, reply) => {
    const q = req.query as Query;
    const path = qStr(q, 'path');
    if (!path) throw new InvalidArgumentError('Bad parameters: path is required');
    await engine.copyToContainer(req.params.id, path, req.raw as Readable, {
      copyUidGid: qBool(q, 'copyUIDGID'),
    });
    return reply.code(200).send();
  });

  app.post<{ Params: IdParams }>('/containers/:id/attach', async (req, reply) => {
    const q = req.query as Query;
    const c = await brief(engine, req.params.id);
    const keys = qStr(q, 'detachKeys');
    const detachKeys = keys ? parseDetachKeys(keys) : undefined;
    const hj = hijack(req, reply, { tty: c.tty, headers: SERVER_HEADERS });
    const want = { stdin: qBool(q, 'stdin'), stdout: qBool(q, 'stdout'), stderr: qBool(q, 'stderr') };
    try {
      if (qBool(q, 'logs')) {
        const o = { follow: false, stdout: want.stdout, stderr: want.stderr, timestamps: false };
        const write = (b: Buffer) =>
          new Promise<void>((r) => {
            if (hj.socket.destroyed || hj.socket.write(b)) r();
            else hj.socket.once('drain', () => r());
          });
        await writeLogs(engine, c.id, o, c.tty, write, new AbortController().signal);
      }
      if (!qBool(q, 'stream')) return hj.end();
      const io: AttachIO = {
        stdin: want.stdin ? hj.stdin : undefined,
        stdout: want.stdout ? hj.stdout : undefined,
        stderr: want.stderr ? hj.stderr : undefined,
        detachKeys: want.stdin && c.tty ? detachKeyFilter(detachKeys) : undefined,
      };
      const handle: AttachHandle = await engine.attachContainer(c.id, io);
      // A client that goes away detaches; the container keeps running.
      void hj.gone.then(() => handle.close());
      void handle.done.then(() => hj.end());
    } catch (err) {
      hj.stderr.write(Buffer.from(`${(err as Error).message}\n`));
      hj.end();
    }
  });

  app.get<{ Params: IdParams }>('/containers/:id/attach/ws', async (req, reply) => {
    const q = req.query as Query;
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || !/websocket/i.test(String(req.headers.upgrade ?? '')))
      throw new InvalidArgumentError('attach/ws needs a WebSocket upgrade request');
    const c = await brief(engine, req.params.id);
    reply.hijack();
    const ws = acceptWebSocket(req.raw.socket, key, SERVER_HEADERS);
    try {
      if (qBool(q, 'logs')) {
        const o = {
          follow: false,
          stdout: qBool(q, 'stdout', true),
          stderr: qBool(q, 'stderr', true),
          timestamps: false,
        };
        await writeLogs(
          engine,
          c.id,
          o,
          true,
          (b) => new Promise<void>((r) => ws.output.write(b, () => r())),
          new AbortController().signal,
        );
      }
      if (!qBool(q, 'stream')) return ws.end();
      const handle = await engine.attachContainer(c.id, {
        stdin: qBool(q, 'stdin') ? ws.stdin : undefined,
        stdout: qBool(q, 'stdout', true) ? ws.output : undefined,
        stderr: qBool(q, 'stderr', true) ? ws.output : undefined,
      });
      void ws.gone.then(() => handle.close());
      void handle.done.then(() => ws.end());
    } catch (err) {
      if (err instanceof BerthError) ws.output.write(Buffer.from(`${err.message}\n`));
      ws.end();
    }
  });
}
