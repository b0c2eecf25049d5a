import { randomBytes } from 'node:crypto';
import type { StoreContext } from '../engine/context.ts';
import { ConflictError, InvalidArgumentError } from '../util/errors.ts';
import {
  type Cidr,
  contains,
  formatCidr,
  formatIp,
  hostRoutes,
  overlaps,
  parseCidr,
  parseIp,
  size,
} from './ipv4.ts';
import { NetworkStore } from './store.ts';
import type { NetworkCreateOptions, NetworkRecord } from './types.ts';

/** docker's name for the default network; its bridge is Berth's own, like docker0 or podman0. */
export const DEFAULT_NETWORK = 'bridge';
const DEFAULT_IFACE = 'berth0';
const DEFAULT_SUBNETS = ['10.88.0.0/16', '10.87.0.0/16', '10.86.0.0/16', '172.30.0.0/16'];

const stores = new WeakMap<StoreContext, NetworkStore>();

export function networkStore(ctx: StoreContext): NetworkStore {
  let s = stores.get(ctx);
  if (!s) {
    s = new NetworkStore(ctx.db);
    stores.set(ctx, s);
  }
  return s;
}

/** Subnets already taken: the host's routes (not through our own bridge `ownIface`) and Berth's networks. */
function takenSubnets(store: NetworkStore, ownIface?: string): Cidr[] {
  return [
    ...hostRoutes()
      .filter((r) => r.iface !== ownIface)
      .map((r) => r.cidr),
    ...store.list().map((n) => parseCidr(n.subnet)),
  ];
}

function free(c: Cidr, taken: Cidr[]): boolean {
  return !taken.some((t) => overlaps(c, t));
}

/** podman's choice for new networks: the first free 10.89.N.0/24. */
function chooseSubnet(store: NetworkStore): Cidr {
  const taken = takenSubnets(store);
  for (let n = 0; n < 256; n++) {
    const c = parseCidr(`10.89.${n}.0/24`);
    if (free(c, taken)) return c;
  }
  throw new ConflictError('no free subnet left in 10.89.0.0/16: give one with --subnet');
}

export function defaultNetwork(ctx: StoreContext): NetworkRecord {
  const store = networkStore(ctx);
  const found = store.find(DEFAULT_NETWORK);
  if (found) return found;
  const taken = takenSubnets(store, DEFAULT_IFACE);
  const subnet = DEFAULT_SUBNETS.map((s) => parseCidr(s)).find((c) => free(c, taken));
  if (!subnet) throw new ConflictError('no free subnet for the default network');
  const rec: NetworkRecord = {
    id: randomBytes(32).toString('hex'),
    name: DEFAULT_NETWORK,
    driver: 'bridge',
    subnet: formatCidr(subnet),
    gateway: formatIp(subnet.base + 1),
    ipRange: '',
    internal: false,
    labels: {},
    options: {},
    created: new Date().toISOString(),
    iface: DEFAULT_IFACE,
    // as docker's default bridge: no name resolution between containers
    dnsEnabled: false,
  };
  try {
    store.insert(rec);
  } catch {
    // another berth created it at the same moment
  }
  return store.mustFind(DEFAULT_NETWORK);
}

/** Finds a network by name or ID; `bridge` (and `default`) is created on first use. */
export function findNetwork(ctx: StoreContext, ref: string): NetworkRecord {
  if (ref === DEFAULT_NETWORK || ref === 'default') return defaultNetwork(ctx);
  return networkStore(ctx).mustFind(ref);
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function createNetwork(ctx: StoreContext, o: NetworkCreateOptions): NetworkRecord {
  const store = networkStore(ctx);
  if (!NAME_RE.test(o.name))
    throw new InvalidArgumentError(
      `invalid network name "${o.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  if (['host', 'none', 'bridge', 'default', 'private'].includes(o.name))
    throw new ConflictError(`${o.name} is a pre-defined network and cannot be created`);
  const driver = o.driver || 'bridge';
  if (driver !== 'bridge')
    throw new InvalidArgumentError(
      `network driver "${driver}" is not supported: Berth has the bridge driver`,
    );
  defaultNetwork(ctx);
  return store.tx(() => {
    if (store.find(o.name)) throw new ConflictError(`network with name ${o.name} already exists`);
    let subnet: Cidr;
    if (o.subnet) {
      subnet = parseCidr(o.subnet);
      const clash = store.list().find((n) => overlaps(parseCidr(n.subnet), subnet));
      if (clash)
        throw new ConflictError(
          `invalid pool request: Pool overlaps with other one on this address space (network ${clash.name}, ${clash.subnet})`,
        );
    } else {
      if (o.gateway || o.ipRange) throw new InvalidArgumentError('--gateway and --ip-range need --subnet');
      subnet = chooseSubnet(store);
    }
    const gateway = o.gateway ? parseIp(o.gateway) : subnet.base + 1;
    if (!contains(subnet, gateway) || gateway === subnet.base || gateway === subnet.base + size(subnet) - 1)
      throw new InvalidArgumentError(
        `gateway ${formatIp(gateway)} is not a host address of ${formatCidr(subnet)}`,
      );
    let ipRange = '';
    if (o.ipRange) {
      const r = parseCidr(o.ipRange);
      if (!contains(subnet, r.base) || r.prefix < subnet.prefix)
        throw new InvalidArgumentError(
          `--ip-range ${o.ipRange} is not inside --subnet ${formatCidr(subnet)}`,
        );
      ipRange = formatCidr(r);
    }
    const id = randomBytes(32).toString('hex');
    const rec: NetworkRecord = {
      id,
      name: o.name,
      driver: 'bridge',
      subnet: formatCidr(subnet),
      gateway: formatIp(gateway),
      ipRange,
      internal: o.internal,
      labels: o.labels,
      options: o.options,
      created: new Date().toISOString(),
      // as docker's br-<id>: unique per network even across Berth stores on one host
      iface: `br-${id.slice(0, 12)}`,
      dnsEnabled: true,
    };
    store.insert(rec);
    return rec;
  });
}

/** Picks the container's address: `wanted` (--ip) if free, else the lowest free one in the range. */
export function allocateIp(store: NetworkStore, n: NetworkRecord, wanted?: string): string {
  const subnet = parseCidr(n.subnet);
  const used = store.usedIps(n.id);
  used.add(n.gateway);
  const first = subnet.base + 1;
  const last = subnet.base + size(subnet) - 2;
  if (wanted) {
    const w = parseIp(wanted);
    if (!contains(subnet, w) || w < first || w > last)
      throw new InvalidArgumentError(
        `--ip ${wanted} is not a host address of network ${n.name} (${n.subnet})`,
      );
    if (used.has(formatIp(w)))
      throw new ConflictError(`IP address ${wanted} is already in use on network ${n.name}`);
    return formatIp(w);
  }
  const range = n.ipRange ? parseCidr(n.ipRange) : subnet;
  const lo = Math.max(first, range.base);
  const hi = Math.min(last, range.base + size(range) - 1);
  for (let ip = lo; ip <= hi; ip++) {
    const s = formatIp(ip);
    if (!used.has(s)) return s;
  }
  throw new ConflictError(`no free IP address left on network ${n.name} (${n.ipRange || n.subnet})`);
}
