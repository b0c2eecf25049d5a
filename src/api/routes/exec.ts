import type { FastifyInstance } from 'fastify';
import { type AttachIO, detachKeyFilter } from '../../container/attach.ts';
import type { Engine } from '../../engine/engine.ts';
import { ConflictError } from '../../util/errors.ts';
import { decodeExecCreate, decodeExecStart } from '../decode/exec-create.ts';
import { ExecSessions } from '../exec-sessions.ts';
import { hijack, parseDetachKeys } from '../hijack.ts';
import { type Query, qInt } from '../params.ts';
import { SERVER_HEADERS } from '../stream.ts';

type IdParams = { id: string };

/** Exec create, start (hijacked), resize and inspect. */
export function registerExecRoutes(app: FastifyInstance, engine: Engine): void {
  const sessions = new ExecSessions();

  app.post<{ Params: IdParams }>('/containers/:id/exec', async (req, reply) => {
    const d = decodeExecCreate(req.body);
    const c = await engine.inspectContainer(req.params.id, { size: false });
    const state = c.State as { Running: boolean; Paused: boolean };
    if (state.Paused)
      throw new ConflictError(`container ${c.Id} is paused, unpause the container before exec`);
    if (!state.Running) throw new ConflictError(`container ${c.Id} is not running`);
    if (d.detachKeys) parseDetachKeys(d.detachKeys);
    const s = sessions.create(String(c.Id), {
      options: d.options,
      attachStdout: d.attachStdout,
      attachStderr: d.attachStderr,
      detachKeys: d.detachKeys,
    });
    reply.code(201);
    return { Id: s.id };
  });

  app.post<{ Params: IdParams }>('/exec/:id/start', async (req, reply) => {
    const start = decodeExecStart(req.body);
    const s = sessions.get(req.params.id);
    sessions.claim(s);
    const o = s.options;
    if (start.detach) {
      const h = await engine.execContainer(s.containerId, { ...o, detach: true }, {});
      sessions.begin(s, h);
      reply.code(200).type('application/json');
      return '';
    }
    const hj = hijack(req, reply, { tty: o.tty, headers: SERVER_HEADERS });
    const io: AttachIO = {
      stdin: o.stdin ? hj.stdin : undefined,
      stdout: s.attachStdout ? hj.stdout : undefined,
      stderr: s.attachStderr ? hj.stderr : undefined,
      consoleSize: start.consoleSize,
      detachKeys:
        o.tty && o.stdin
          ? detachKeyFilter(s.detachKeys ? parseDetachKeys(s.detachKeys) : undefined)
          : undefined,
    };
    try {
      const h = await engine.execContainer(s.containerId, { ...o, detach: false }, io);
      sessions.begin(s, h);
      h.exitCode.then(
        () => hj.end(),
        () => hj.end(),
      );
      void h.detached.then((d) => {
        if (d) hj.end();
      });
    } catch (err) {
      sessions.finish(s, 126);
      // The connection is ours already: say what went wrong on it, as docker does.
      hj.stderr.write(Buffer.from(`${(err as Error).message}\n`));
      hj.end();
    }
  });

  app.post<{ Params: IdParams }>('/exec/:id/resize', async (req, reply) => {
    const s = sessions.get(req.params.id);
    const q = req.query as Query;
    const h = qInt(q, 'h') ?? 0;
    const w = qInt(q, 'w') ?? 0;
    if (s.handle && h > 0 && w > 0) s.handle.resize(h, w);
    reply.code(200);
    return '';
  });

  app.get<{ Params: IdParams }>('/exec/:id/json', async (req) => {
    const s = sessions.get(req.params.id);
    const o = s.options;
    return {
      ID: s.id,
      Running: s.running,
      ExitCode: s.exitCode,
      ProcessConfig: {
        tty: o.tty,
        entrypoint: o.cmd[0] ?? '',
        arguments: o.cmd.slice(1),
        privileged: o.privileged,
        user: o.user ?? '',
      },
      OpenStdin: o.stdin,
      OpenStderr: s.attachStderr,
      OpenStdout: s.attachStdout,
      CanRemove: !s.running && s.started,
      ContainerID: s.containerId,
      DetachKeys: s.detachKeys ?? '',
      Pid: s.running ? (s.handle?.pid ?? 0) : 0,
    };
  });
}
