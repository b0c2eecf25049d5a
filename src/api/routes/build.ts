import type { FastifyInstance } from 'fastify';
import { BuildStepError } from '../../build/errors.ts';
import type { BuildEvent, BuildResult, BuildVertex } from '../../build/types.ts';
import type { Engine } from '../../engine/engine.ts';
import { familiarName } from '../../image/reference.ts';
import { parseBytes } from '../../util/units.ts';
import { decodeBuildQuery } from '../decode/build-query.ts';
import { queryBool, queryString } from '../decode/fields.ts';
import { decodeFilters } from '../decode/filters.ts';
import { streamed } from './json-stream.ts';

/** One of docker's JSON messages as the legacy builder writes them. */
export type BuildMessage =
  | { stream: string }
  | { aux: { ID: string } }
  | { errorDetail: { message: string }; error: string }
  /** Berth's own event, for Berth's remote client; docker's clients ignore unknown fields. */
  | { berthEvent: EncodedBuildEvent }
  | { berthResult: BuildResult };

export type EncodedBuildEvent =
  | Exclude<BuildEvent, { type: 'log' }>
  | { type: 'log'; vertex: BuildVertex; stream: 'stdout' | 'stderr'; data: string };

/** `[stage 2/3] RUN x` (BuildKit's vertex names): the step's numbers and the instruction. */
const STEP = /^\[(?:[^\]]*?\s)?(\d+)\/(\d+)\]\s+([\s\S]*)$/;

/**
 * Translates Berth's build events into the messages docker's legacy builder streams
 * (`Step 1/3 : FROM busybox`, ` ---> Using cache`, the RUN output, `Successfully built …`), which
 * is what `docker build` without BuildKit, docker-py and compose read. Internal vertices (loading
 * the context, the Dockerfile) have no legacy counterpart and are not shown.
 */
export class LegacyBuildMessages {
  constructor(
    private readonly quiet: boolean,
    private readonly withBerthEvents = false,
  ) {}

  event(e: BuildEvent): BuildMessage[] {
    const out: BuildMessage[] = [];
    if (this.withBerthEvents) out.push({ berthEvent: encodeBuildEvent(e) });
    if (this.quiet) return out;
    switch (e.type) {
      case 'start': {
        const m = STEP.exec(e.vertex.name);
        if (m) out.push({ stream: `Step ${m[1]}/${m[2]} : ${m[3]}\n` });
        break;
      }
      case 'log':
        if (e.data.length) out.push({ stream: e.data.toString('utf8') });
        break;
      case 'done':
        if (e.cached && STEP.test(e.vertex.name)) out.push({ stream: ' ---> Using cache\n' });
        break;
      case 'warning':
        out.push({ stream: `[Warning] ${e.message}\n` });
        break;
    }
    return out;
  }

  result(r: BuildResult, tags: readonly string[]): BuildMessage[] {
    const out: BuildMessage[] = [{ aux: { ID: r.imageId } }];
    if (this.withBerthEvents) out.push({ berthResult: r });
    if (this.quiet) {
      out.push({ stream: `${r.imageId}\n` });
      return out;
    }
    for (const w of r.warnings) out.push({ stream: `[Warning] ${w}\n` });
    out.push({ stream: `Successfully built ${r.imageId.replace(/^sha256:/, '').slice(0, 12)}\n` });
    for (const t of tags) out.push({ stream: `Successfully tagged ${familiarName(t)}\n` });
    return out;
  }
}

export function encodeBuildEvent(e: BuildEvent): EncodedBuildEvent {
  return e.type === 'log' ? { ...e, data: e.data.toString('base64') } : e;
}

export function decodeBuildEvent(e: EncodedBuildEvent): BuildEvent {
  return e.type === 'log' ? { ...e, data: Buffer.from(e.data, 'base64') } : e;
}

export function registerBuildRoutes(app: FastifyInstance, engine: Engine): void {
  app.post('/build', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const { options, quiet, notes } = decodeBuildQuery(q);
    // Berth's remote engine asks for its own events besides docker's messages (see remote.ts).
    const berthEvents = req.headers['x-berth-build-events'] === '1';
    const legacy = new LegacyBuildMessages(quiet, berthEvents);
    await streamed(reply, async (s) => {
      if (!quiet) for (const n of notes) s.write({ stream: `[Warning] ${n}\n` });
      let r: BuildResult;
      try {
        r = await engine.build({ ...options, context: { tar: req.raw } }, (e) => {
          for (const m of legacy.event(e)) s.write(m);
        });
      } catch (err) {
        // Berth's client shows the Dockerfile excerpt around a failed step: it needs the lines.
        if (!(berthEvents && err instanceof BuildStepError)) throw err;
        const step = { line: err.line, endLine: err.endLine, exitStatus: err.exitStatus };
        s.write({ errorDetail: { message: err.message, berthStep: step }, error: err.message });
        return;
      }
      for (const m of legacy.result(r, options.tags)) s.write(m);
    });
  });

  app.post('/build/prune', async (req) => {
    const q = req.query as Record<string, unknown>;
    const keep = queryString(q['keep-storage']) ?? queryString(q['reserved-space']);
    const r = await engine.pruneBuildCache({
      all: queryBool(q.all),
      filters: decodeFilters(q.filters, [
        'until',
        'id',
        'parent',
        'type',
        'description',
        'inuse',
        'shared',
        'private',
      ]),
      keepStorage: keep && keep !== '0' ? parseBytes(keep) : undefined,
    });
    return { CachesDeleted: r.deleted, SpaceReclaimed: r.spaceReclaimed };
  });
}
