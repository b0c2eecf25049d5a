import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import { queryBool } from '../decode/fields.ts';
import { decodeFilters } from '../decode/filters.ts';
import { decodeVolumeCreate } from '../decode/volume-create.ts';

type Params = { name: string };
type Query = Record<string, unknown>;

/** Volumes: docker's `/volumes` routes over `Engine`. */
export function registerVolumeRoutes(app: FastifyInstance, engine: Engine): void {
  app.get('/volumes', async (req) => {
    const filters = decodeFilters((req.query as Query).filters, ['name', 'label', 'driver', 'dangling']);
    return { Volumes: await engine.volumeList(filters), Warnings: [] };
  });

  app.post('/volumes/create', async (req, reply) => {
    const b = decodeVolumeCreate(req.body);
    const v = await engine.volumeCreate(b.name, { labels: b.labels, options: b.options });
    return reply.code(201).send(v);
  });

  app.post('/volumes/prune', async (req) => {
    const filters = decodeFilters((req.query as Query).filters, ['label', 'all']);
    // API 1.42+: anonymous volumes only, unless the filter says all=true.
    const all = filters.all?.some((v) => queryBool(v)) ?? false;
    delete filters.all;
    const r = await engine.volumePrune({ all, filters });
    return { VolumesDeleted: r.deleted, SpaceReclaimed: r.spaceReclaimed };
  });

  app.get<{ Params: Params }>('/volumes/:name', async (req) => engine.volumeInspect(req.params.name));

  app.delete<{ Params: Params }>('/volumes/:name', async (req, reply) => {
    await engine.volumeRemove(req.params.name, queryBool((req.query as Query).force));
    return reply.code(204).send();
  });
}
