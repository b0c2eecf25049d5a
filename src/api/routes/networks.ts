import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../engine/engine.ts';
import { decodeFilters } from '../decode/filters.ts';
import { decodeNetworkConnect, decodeNetworkDisconnect } from '../decode/network-connect.ts';
import { decodeNetworkCreate } from '../decode/network-create.ts';

type Params = { id: string };
type Query = Record<string, unknown>;

const LIST_FILTERS = ['name', 'id', 'driver', 'label', 'scope', 'type', 'dangling'];

/** Networks: docker's `/networks` routes over `Engine`. */
export function registerNetworkRoutes(app: FastifyInstance, engine: Engine): void {
  app.get('/networks', async (req) =>
    engine.networkList(decodeFilters((req.query as Query).filters, LIST_FILTERS)),
  );

  app.post('/networks/create', async (req, reply) => {
    const id = await engine.networkCreate(decodeNetworkCreate(req.body));
    return reply.code(201).send({ Id: id, Warning: '' });
  });

  app.post('/networks/prune', async (req) => {
    const deleted = await engine.networkPrune(
      decodeFilters((req.query as Query).filters, ['until', 'label']),
    );
    return { NetworksDeleted: deleted };
  });

  app.get<{ Params: Params }>('/networks/:id', async (req) => engine.networkInspect(req.params.id));

  app.delete<{ Params: Params }>('/networks/:id', async (req, reply) => {
    await engine.networkRemove(req.params.id);
    return reply.code(204).send();
  });

  app.post<{ Params: Params }>('/networks/:id/connect', async (req, reply) => {
    const b = decodeNetworkConnect(req.body);
    await engine.networkConnect(req.params.id, b.container, { aliases: b.aliases, ip: b.ip });
    return reply.code(200).send();
  });

  app.post<{ Params: Params }>('/networks/:id/disconnect', async (req, reply) => {
    const b = decodeNetworkDisconnect(req.body);
    await engine.networkDisconnect(req.params.id, b.container, b.force);
    return reply.code(200).send();
  });
}
