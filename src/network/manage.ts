import type { StoreContext } from '../engine/context.ts';
import type { Filters } from '../engine/engine.ts';
import { globMatch, matchLabels } from '../engine/filters.ts';
import { withLock } from '../store/lock.ts';
import { ConflictError } from '../util/errors.ts';
import { connectContainer, disconnectContainer } from './attach.ts';
import { createNetwork, DEFAULT_NETWORK, defaultNetwork, findNetwork, networkStore } from './networks.ts';
import type { NetworkCreateOptions, NetworkInspect, NetworkRecord } from './types.ts';

export function networkInspect(ctx: StoreContext, n: NetworkRecord): NetworkInspect {
  const store = networkStore(ctx);
  const prefix = n.subnet.split('/')[1];
  const containers: NetworkInspect['Containers'] = {};
  for (const a of store.attachmentsOf(n.id)) {
    const c = ctx.containers.get(a.containerId);
    // docker lists the endpoints of running containers only
    if (!c || (c.state.status !== 'running' && c.state.status !== 'paused')) continue;
    containers[c.id] = {
      Name: c.name,
      EndpointID: '',
      MacAddress: a.mac,
      IPv4Address: `${a.ip}/${prefix}`,
      IPv6Address: '',
    };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: {},
      Config: [{ Subnet: n.subnet, Gateway: n.gateway, ...(n.ipRange ? { IPRange: n.ipRange } : {}) }],
    },
    Internal: n.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options:
      n.name === DEFAULT_NETWORK
        ? { 'com.docker.network.bridge.name': n.iface, 'com.docker.network.bridge.default_bridge': 'true' }
        : n.options,
    Labels: n.labels,
  };
}

export function createNetworkOp(ctx: StoreContext, o: NetworkCreateOptions): string {
  return createNetwork(ctx, o).id;
}

function matches(n: NetworkRecord, f: Filters): boolean {
  const any = (key: string, test: (v: string) => boolean) => !f[key] || f[key]!.some(test);
  const builtin = n.name === DEFAULT_NETWORK;
  return (
    any('name', (v) => n.name.includes(v) || globMatch(v, n.name)) &&
    any('id', (v) => n.id.startsWith(v)) &&
    any('driver', (v) => v === n.driver) &&
    any('scope', (v) => v === 'local') &&
    any('type', (v) => (v === 'builtin' ? builtin : v === 'custom' ? !builtin : false)) &&
    matchLabels(n.labels, f.label)
  );
}

export function listNetworks(ctx: StoreContext, f: Filters): NetworkInspect[] {
  defaultNetwork(ctx);
  const store = networkStore(ctx);
  const all = store.list().filter((n) => matches(n, f));
  const dangling = f.dangling?.[0];
  return all
    .filter((n) => {
      if (dangling === undefined) return true;
      const unused = n.name !== DEFAULT_NETWORK && store.attachmentsOf(n.id).length === 0;
      return (dangling === 'true' || dangling === '1') === unused;
    })
    .map((n) => networkInspect(ctx, n));
}

export function removeNetwork(ctx: StoreContext, ref: string): void {
  const n = findNetwork(ctx, ref);
  if (n.name === DEFAULT_NETWORK)
    throw new ConflictError(`${n.name} is a pre-defined network and cannot be removed`);
  const store = networkStore(ctx);
  store.tx(() => {
    const users = store
      .attachmentsOf(n.id)
      .map((a) => ctx.containers.get(a.containerId)?.name)
      .filter((x): x is string => !!x);
    if (users.length)
      throw new ConflictError(
        `error while removing network: network ${n.name} id ${n.id} has active endpoints (${users.join(', ')}): remove or disconnect the containers first`,
      );
    store.delete(n.id);
  });
}

export function pruneNetworks(ctx: StoreContext, f: Filters): string[] {
  const store = networkStore(ctx);
  const removed: string[] = [];
  for (const n of store.list()) {
    if (n.name === DEFAULT_NETWORK || !matchLabels(n.labels, f.label)) continue;
    if (f.until?.length && Date.parse(n.created) >= Date.parse(f.until[0]!)) continue;
    try {
      removeNetwork(ctx, n.id);
      removed.push(n.name);
    } catch {
      // in use: kept
    }
  }
  return removed;
}

export async function connectOp(
  ctx: StoreContext,
  netRef: string,
  containerRef: string,
  o: { aliases: string[]; ip?: string },
): Promise<void> {
  const n = findNetwork(ctx, netRef);
  const c0 = ctx.containers.mustFind(containerRef);
  if (n.name === DEFAULT_NETWORK && (o.aliases.length || o.ip))
    throw new ConflictError('network-scoped aliases and --ip are supported for user defined networks only');
  await withLock(ctx.paths, c0.id, async () => {
    const c = ctx.containers.mustFind(c0.id);
    await connectContainer(ctx, c, n, { aliases: o.aliases, ipv4Address: o.ip ?? '' });
  });
}

export async function disconnectOp(ctx: StoreContext, netRef: string, containerRef: string): Promise<void> {
  const n = findNetwork(ctx, netRef);
  const c0 = ctx.containers.mustFind(containerRef);
  await withLock(ctx.paths, c0.id, async () => {
    const c = ctx.containers.mustFind(c0.id);
    await disconnectContainer(ctx, c, n);
  });
}
