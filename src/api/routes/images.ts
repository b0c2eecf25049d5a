import { Writable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import type { ProgressEvent } from '../../engine/progress.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { decodeCommitConfig } from '../decode/commit-config.ts';
import { queryBool, queryList, queryString } from '../decode/fields.ts';
import { decodeFilters } from '../decode/filters.ts';
import { decodeRegistryAuth } from '../decode/registry-auth.ts';
import { streamed } from './json-stream.ts';

type Query = Record<string, unknown>;

/** docker's JSONMessage for one progress event. */
export function progressMessage(e: ProgressEvent): Record<string, unknown> {
  const detail =
    e.current !== undefined && e.total !== undefined ? { current: e.current, total: e.total } : {};
  return e.id !== undefined
    ? { status: e.status, progressDetail: detail, id: e.id }
    : { status: e.status, progressDetail: detail };
}

/** Whether a reference names a tag or digest itself (`a:1`, `a@sha256:…`, not `host:5000/a`). */
export function hasTagOrDigest(ref: string): boolean {
  return ref.includes('@') || ref.lastIndexOf(':') > ref.lastIndexOf('/');
}

/** `fromImage` + `tag` as moby joins them: a tag that is a digest is joined with `@`. */
export function joinTag(name: string, tag: string | undefined): string {
  if (!tag) return name;
  return tag.includes(':') ? `${name}@${tag}` : `${name}:${tag}`;
}

/**
 * The image operations that name an image in the path (`/images/{name}/json`): a name may hold
 * slashes (`127.0.0.1:5000/a/b:1`), so these routes take the rest of the path and split off the
 * operation, as moby's `{name:.*}` routes do.
 */
function splitOp(tail: string, ops: readonly string[]): { name: string; op: string } | undefined {
  const slash = tail.lastIndexOf('/');
  if (slash <= 0) return undefined;
  const op = tail.slice(slash + 1);
  return ops.includes(op) ? { name: tail.slice(0, slash), op } : undefined;
}

/** A tar response that sends its 200 with the first bytes, so an early error keeps its status code. */
function tarResponse(reply: FastifyReply): { out: Writable; started: () => boolean } {
  let started = false;
  const raw = reply.raw;
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!started) {
        started = true;
        reply.hijack();
        raw.writeHead(200, { 'Content-Type': 'application/x-tar' });
      }
      if (raw.write(chunk)) cb();
      else raw.once('drain', () => cb());
    },
  });
  return { out, started: () => started };
}

const notFound = (reply: FastifyReply, url: string) =>
  reply
    .code(404)
    .type('application/json')
    .serializer(JSON.stringify)
    .send({ message: `page not found: ${url}` });

/** Images: docker's `/images` routes and `/commit` over `Engine`. */
export function registerImageRoutes(app: FastifyInstance, engine: Engine): void {
  app.get('/images/json', async (req) => {
    const q = req.query as Query;
    const filters = decodeFilters(q.filters, ['dangling', 'label', 'reference', 'before', 'since', 'until']);
    return engine.listImages({ all: queryBool(q.all), filters });
  });

  app.post('/images/create', async (req, reply) => {
    const q = req.query as Query;
    const fromSrc = queryString(q.fromSrc);
    if (fromSrc !== undefined) {
      if (fromSrc !== '-')
        throw new InvalidArgumentError(
          `importing from a URL (${fromSrc}) is not supported: download it and send it as the body (fromSrc=-)`,
        );
      const platform = queryString(q.platform);
      const [os, architecture] = platform ? platform.split('/') : [];
      const repo = queryString(q.repo);
      const id = await engine.importImage(req.raw, {
        changes: queryList(q.changes),
        message: queryString(q.message) || undefined,
        reference: repo ? joinTag(repo, queryString(q.tag)) : undefined,
        sourceName: '-',
        platform: os && architecture ? { os, architecture } : undefined,
      });
      await streamed(reply, async (s) => s.write({ status: id }));
      return;
    }
    const fromImage = queryString(q.fromImage);
    if (!fromImage) throw new InvalidArgumentError('fromImage or fromSrc is required');
    const tag = queryString(q.tag);
    const ref = joinTag(fromImage, tag);
    const auth = decodeRegistryAuth(req.headers['x-registry-auth']);
    await streamed(reply, async (s) => {
      await engine.pullImage(
        ref,
        { allTags: !tag && !hasTagOrDigest(fromImage), platform: queryString(q.platform) || undefined, auth },
        (e) => s.write(progressMessage(e)),
      );
    });
  });

  app.get('/images/get', async (req, reply) => {
    const names = queryList((req.query as Query).names);
    if (names.length === 0) throw new InvalidArgumentError('names is required: the images to save');
    // `format=oci` is Berth's own parameter (its remote CLI's `save --format oci`); docker sends none.
    await saveTo(reply, names, queryString((req.query as Query).format) === 'oci' ? 'oci' : 'docker');
  });

  app.post('/images/load', async (req, reply) => {
    const quiet = queryBool((req.query as Query).quiet);
    await streamed(reply, async (s) => {
      const lines = await engine.loadImages(req.raw, (e) => {
        if (!quiet) s.write(progressMessage(e));
      });
      for (const l of lines) s.write({ stream: `${l}\n` });
    });
  });

  app.post('/images/prune', async (req) => {
    const filters = decodeFilters((req.query as Query).filters, ['dangling', 'until', 'label']);
    // docker: dangling=false prunes every unused image, the default only dangling ones.
    const all = filters.dangling?.some((v) => !queryBool(v)) ?? false;
    delete filters.dangling;
    const r = await engine.pruneImages({ all, filters });
    return {
      ImagesDeleted: r.deleted.map((d) =>
        d.startsWith('deleted: ') ? { Deleted: d.slice(9) } : { Untagged: d.replace(/^untagged: /, '') },
      ),
      SpaceReclaimed: r.spaceReclaimed,
    };
  });

  // docker's daemon asks Docker Hub's search index; Berth has none to ask (and no internet access
  // is assumed), so it says so instead of answering with an empty list that would look like "no match".
  app.get('/images/search', async (_req, reply) =>
    reply.code(501).type('application/json').serializer(JSON.stringify).send({
      message:
        'image search is not supported: Berth has no registry search index; browse the registry (e.g. GET /v2/_catalog) instead',
    }),
  );

  app.get('/images/*', async (req, reply) => {
    const tail = (req.params as { '*': string })['*'];
    const m = splitOp(tail, ['json', 'history', 'get']);
    if (!m) return notFound(reply, req.url);
    if (m.op === 'json') return engine.inspectImage(m.name);
    if (m.op === 'history') return engine.imageHistory(m.name);
    await saveTo(reply, [m.name], 'docker');
  });

  app.post('/images/*', async (req, reply) => {
    const tail = (req.params as { '*': string })['*'];
    const q = req.query as Query;
    const m = splitOp(tail, ['push', 'tag']);
    if (!m) return notFound(reply, req.url);
    if (m.op === 'tag') {
      const repo = queryString(q.repo);
      if (!repo) throw new InvalidArgumentError('repo is required: the new name');
      await engine.tagImage(m.name, joinTag(repo, queryString(q.tag)));
      return reply.code(201).send();
    }
    const tag = queryString(q.tag);
    const auth = decodeRegistryAuth(req.headers['x-registry-auth']);
    await streamed(reply, async (s) => {
      await engine.pushImage(joinTag(m.name, tag), { allTags: !tag && !hasTagOrDigest(m.name), auth }, (e) =>
        s.write(progressMessage(e)),
      );
    });
  });

  app.delete('/images/*', async (req) => {
    const q = req.query as Query;
    const name = (req.params as { '*': string })['*'];
    return engine.removeImage(name, { force: queryBool(q.force), noPrune: queryBool(q.noprune) });
  });

  app.post('/commit', async (req, reply) => {
    const q = req.query as Query;
    const container = queryString(q.container);
    if (!container) throw new InvalidArgumentError('container is required');
    const repo = queryString(q.repo);
    const pause = queryString(q.pause);
    const id = await engine.commitContainer(container, {
      reference: repo ? joinTag(repo, queryString(q.tag)) : undefined,
      changes: [
        ...decodeCommitConfig(req.body),
        ...queryList(q.changes).flatMap((c) => c.split('\n')),
      ].filter((c) => c.trim() !== ''),
      message: queryString(q.comment) || undefined,
      author: queryString(q.author) || undefined,
      // As moby since 1.13: pausing is the default when the parameter is absent.
      pause: pause === undefined || pause === '' ? true : queryBool(pause),
    });
    return reply.code(201).send({ Id: id });
  });

  async function saveTo(reply: FastifyReply, names: string[], format: 'docker' | 'oci'): Promise<void> {
    const { out, started } = tarResponse(reply);
    try {
      await engine.saveImages(names, out, { format });
    } catch (err) {
      if (!started()) throw err;
      reply.raw.destroy(err as Error);
      return;
    }
    if (!started()) {
      reply.hijack();
      reply.raw.writeHead(200, { 'Content-Type': 'application/x-tar' });
    }
    reply.raw.end();
  }
}
