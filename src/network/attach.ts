import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpecInput } from '../container/oci-spec.ts';
import type { ContainerRecord, EndpointRequest, HostConfig } from '../container/types.ts';
import type { StoreContext } from '../engine/context.ts';
import { BerthError, ConflictError } from '../util/errors.ts';
import { parseCidr } from './ipv4.ts';
import {
  type NetavarkOptions,
  netavarkConfigDir,
  netavarkNetwork,
  netavarkSetup,
  netavarkTeardown,
  portMappings,
} from './netavark.ts';
import { createNetns, deleteNetns, ensureIpForward, netnsPath } from './netns.ts';
import { allocateIp, DEFAULT_NETWORK, defaultNetwork, findNetwork, networkStore } from './networks.ts';
import { hostPortFree, randomHostPort, samePortSpace } from './ports.ts';
import type { Attachment, NetworkRecord, PortMapping } from './types.ts';

/** How a container's network mode reads: host, none, another container's namespace, or networks. */
export type NetMode =
  | { kind: 'host' }
  | { kind: 'none' }
  | { kind: 'container'; ref: string }
  | { kind: 'networks' };

export function netMode(h: Pick<HostConfig, 'networkMode'>): NetMode {
  const m = h.networkMode || DEFAULT_NETWORK;
  if (m === 'host') return { kind: 'host' };
  if (m === 'none' || m === 'private') return { kind: 'none' };
  if (m.startsWith('container:')) return { kind: 'container', ref: m.slice('container:'.length) };
  return { kind: 'networks' };
}

/** The networks asked for at create, by name, with their endpoint settings. */
export function requestedNetworks(h: HostConfig): Record<string, EndpointRequest> {
  if (netMode(h).kind !== 'networks') return {};
  if (h.networks && Object.keys(h.networks).length) return h.networks;
  return { [h.networkMode || DEFAULT_NETWORK]: { aliases: [], ipv4Address: '' } };
}

/** Docker's checks at create: the networks exist, and what host/none/container: exclude. */
export function validateNetworking(ctx: StoreContext, h: HostConfig): void {
  const mode = netMode(h);
  if (mode.kind !== 'networks') {
    if (h.portBindings && Object.keys(h.portBindings).length && mode.kind !== 'none')
      throw new BerthError(`conflicting options: port publishing and the ${h.networkMode} network mode`);
    if (mode.kind === 'container') {
      if (h.dns?.length || h.dnsSearch?.length || h.dnsOptions?.length)
        throw new BerthError('conflicting options: dns and the network mode');
      ctx.containers.mustFind(mode.ref);
    }
    return;
  }
  for (const name of Object.keys(requestedNetworks(h))) findNetwork(ctx, name);
}

function addEndpoint(
  ctx: StoreContext,
  c: ContainerRecord,
  n: NetworkRecord,
  req: EndpointRequest,
): Attachment {
  const store = networkStore(ctx);
  return store.tx(() => {
    const existing = store.attachments(c.id);
    if (existing.some((a) => a.networkId === n.id))
      throw new ConflictError(`endpoint with name ${c.name} already exists in network ${n.name}`);
    const used = new Set(existing.map((a) => a.ifname));
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    const a: Attachment = {
      containerId: c.id,
      networkId: n.id,
      ip: allocateIp(store, n, req.ipv4Address || undefined),
      mac: '',
      aliases: [...new Set(req.aliases)],
      ifname: `eth${i}`,
    };
    store.attach(a);
    return a;
  });
}

/** Records the container's endpoints (addresses picked now, kept until rm) on the networks it asked for. */
export function initContainerNetworks(ctx: StoreContext, c: ContainerRecord): void {
  try {
    for (const [name, req] of Object.entries(requestedNetworks(c.config.host))) {
      addEndpoint(ctx, c, findNetwork(ctx, name), req);
    }
  } catch (err) {
    networkStore(ctx).forget(c.id);
    throw err;
  }
}

// ---- runtime state: what was set up, so teardown replays exactly that ----

interface SetupRecord {
  network: string;
  options: NetavarkOptions;
}

function stateFile(ctx: StoreContext, id: string): string {
  return join(netavarkConfigDir(ctx.paths), 'containers', `${id}.json`);
}

function readState(ctx: StoreContext, id: string): SetupRecord[] {
  try {
    return JSON.parse(readFileSync(stateFile(ctx, id), 'utf8')) as SetupRecord[];
  } catch {
    return [];
  }
}

function writeState(ctx: StoreContext, id: string, s: SetupRecord[]): void {
  const f = stateFile(ctx, id);
  mkdirSync(join(f, '..'), { recursive: true });
  writeFileSync(f, JSON.stringify(s));
}

function endpointOptions(
  c: ContainerRecord,
  n: NetworkRecord,
  a: Attachment,
  ports: readonly PortMapping[],
): NetavarkOptions {
  return {
    container_id: c.id,
    container_name: c.name,
    networks: {
      [n.name]: {
        interface_name: a.ifname,
        static_ips: [a.ip],
        // docker's MAC from the IP (02:42:…): a restarted container keeps its MAC, so neighbours' ARP
        // caches stay right (a fresh random MAC leaves the host sending to the old one for seconds)
        static_mac: macFromIp(a.ip),
        // aardvark-dns answers the container's name itself; docker also answers its short ID
        aliases: n.dnsEnabled ? [...a.aliases, c.id.slice(0, 12)] : [],
      },
    },
    network_info: { [n.name]: netavarkNetwork(n) },
    port_mappings: portMappings(ports),
    ...(c.config.host.dns?.length ? { dns_servers: c.config.host.dns } : {}),
  };
}

export function macFromIp(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** -p and -P resolved to host ports: at the first start, then kept so a restart keeps its ports. */
async function resolvePorts(ctx: StoreContext, c: ContainerRecord): Promise<PortMapping[]> {
  const store = networkStore(ctx);
  const known = store.ports(c.id);
  if (known) return known;
  const h = c.config.host;
  const wanted: { key: string; hostIp: string; hostPort: string }[] = [];
  for (const [key, list] of Object.entries(h.portBindings ?? {}))
    for (const b of list) wanted.push({ key, hostIp: b.hostIp, hostPort: b.hostPort });
  if (h.publishAll) {
    for (const e of c.config.exposedPorts) {
      const key = e.includes('/') ? e : `${e}/tcp`;
      if (!wanted.some((w) => w.key === key)) wanted.push({ key, hostIp: '', hostPort: '' });
    }
  }
  const others = store
    .allPorts()
    .filter((p) => p.containerId !== c.id && ctx.containers.get(p.containerId))
    .flatMap((p) => p.ports);
  const out: PortMapping[] = [];
  const taken = (m: PortMapping) => [...others, ...out].some((o) => samePortSpace(o, m));
  for (const w of wanted) {
    const [port = '', proto = 'tcp'] = w.key.split('/');
    const base = {
      hostIp: w.hostIp,
      containerPort: Number(port),
      protocol: proto as PortMapping['protocol'],
    };
    if (w.hostPort === '' || w.hostPort.includes('-')) {
      let chosen = 0;
      if (w.hostPort === '') {
        for (let tries = 0; tries < 20 && !chosen; tries++) {
          const p = await randomHostPort(w.hostIp);
          if (!taken({ ...base, hostPort: p })) chosen = p;
        }
      } else {
        const [lo = 0, hi = 0] = w.hostPort.split('-').map(Number);
        for (let p = lo; p <= hi && !chosen; p++)
          if (!taken({ ...base, hostPort: p }) && (await hostPortFree(w.hostIp, p))) chosen = p;
      }
      if (!chosen) throw new ConflictError(`no free host port for ${w.key} (${w.hostPort || 'random'})`);
      out.push({ ...base, hostPort: chosen });
      continue;
    }
    const m = { ...base, hostPort: Number(w.hostPort) };
    if (taken(m) || (proto === 'tcp' && !(await hostPortFree(w.hostIp, m.hostPort))))
      throw new ConflictError(
        `Bind for ${w.hostIp || '0.0.0.0'}:${m.hostPort} failed: port is already allocated`,
      );
    out.push(m);
  }
  store.setPorts(c.id, out);
  return out;
}

export interface ContainerAddress {
  network: string;
  networkId: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  aliases: string[];
}

export interface NetworkAttachResult {
  /** For the OCI spec. */
  spec: SpecInput['network'];
  addresses: ContainerAddress[];
  /** Nameservers the networks bring (aardvark-dns on the gateway of DNS-enabled networks). */
  dnsServers: string[];
  /** What `--add-host x:host-gateway` means: the gateway of the first network, else the default bridge's. */
  hostGateway: string;
  /** `container:<id>` mode: the container whose /etc/hosts and resolv.conf are shared. */
  shareEtcFrom?: string;
}

/**
 * Gives a starting container its network: host, none (the runtime's loopback-only namespace), another
 * container's namespace, or a namespace of its own wired by netavark to each of its networks.
 */
export async function attachContainerNetworks(
  ctx: StoreContext,
  c: ContainerRecord,
): Promise<NetworkAttachResult> {
  const mode = netMode(c.config.host);
  const fallbackGateway = () => {
    try {
      return defaultNetwork(ctx).gateway;
    } catch {
      return '';
    }
  };
  if (mode.kind === 'host')
    return { spec: { mode: 'host' }, addresses: [], dnsServers: [], hostGateway: '127.0.0.1' };
  if (mode.kind === 'none')
    return { spec: { mode: 'private' }, addresses: [], dnsServers: [], hostGateway: fallbackGateway() };
  if (mode.kind === 'container') {
    const other = ctx.containers.mustFind(mode.ref);
    if (other.state.status !== 'running' || !other.state.pid)
      throw new ConflictError(`cannot join network namespace of container ${other.name}: it is not running`);
    return {
      spec: { mode: 'path', path: `/proc/${other.state.pid}/ns/net`, joinsContainer: true },
      addresses: [],
      dnsServers: [],
      hostGateway: fallbackGateway(),
      shareEtcFrom: other.id,
    };
  }
  const store = networkStore(ctx);
  if (!store.attachments(c.id).length) initContainerNetworks(ctx, c);
  const atts = store.attachments(c.id);
  const ports = await resolvePorts(ctx, c);
  await detachContainerNetworks(ctx, c.id);
  const { path: ns, loopback } = await createNetns(c.id);
  const done: SetupRecord[] = [];
  const addresses: ContainerAddress[] = [];
  try {
    for (const [i, a] of atts.entries()) {
      const n = store.get(a.networkId);
      if (!n) continue;
      if (!n.internal) ensureIpForward();
      const options = endpointOptions(c, n, a, i === 0 ? ports : []);
      const status = await netavarkSetup(ctx.paths, ns, options);
      if (n.name === DEFAULT_NETWORK) anchorBridge(n.iface);
      done.push({ network: n.name, options });
      writeState(ctx, c.id, done);
      const mac = status[n.name]?.interfaces?.[a.ifname]?.mac_address ?? '';
      if (mac) store.setMac(c.id, n.id, mac);
      addresses.push(address(n, { ...a, mac }));
    }
    await loopback;
  } catch (err) {
    await loopback.catch(() => undefined); // settled before the namespace goes
    await detachContainerNetworks(ctx, c.id).catch(() => undefined);
    throw err;
  }
  const dnsServers = addresses
    .filter((x) => store.get(x.networkId)?.dnsEnabled)
    .map((x) => x.gateway)
    .filter((g, i, all) => g && all.indexOf(g) === i);
  return {
    spec: { mode: 'path', path: ns },
    addresses,
    dnsServers,
    hostGateway: addresses[0]?.gateway || fallbackGateway(),
  };
}

/**
 * Keeps the default bridge up between containers, as docker keeps docker0: netavark deletes a
 * bridge (and its firewall chains) when its last port goes, and rebuilding it on the next run costs
 * ~100 ms a container. A dummy interface enslaved to the bridge is a port that never goes.
 */
function anchorBridge(bridge: string): void {
  const anchor = `bk-${bridge}`.slice(0, 15);
  if (existsSync(`/sys/class/net/${anchor}`)) return;
  try {
    // A veth pair: this kernel may lack the dummy driver, never veth (netavark needs it).
    execFileSync('ip', ['link', 'add', anchor, 'type', 'veth', 'peer', 'name', `${anchor.slice(0, 13)}-p`], {
      stdio: 'ignore',
    });
    execFileSync('ip', ['link', 'set', anchor, 'master', bridge, 'up'], { stdio: 'ignore' });
  } catch {
    // Only speed is lost: netavark then rebuilds the bridge when it needs it.
  }
}

function address(n: NetworkRecord, a: Attachment): ContainerAddress {
  return {
    network: n.name,
    networkId: n.id,
    ip: a.ip,
    prefixLen: parseCidr(n.subnet).prefix,
    gateway: n.internal ? '' : n.gateway,
    mac: a.mac,
    aliases: a.aliases,
  };
}

/**
 * Undoes what attach set up (netavark teardown of each network, the namespace). Idempotent: conmon's
 * exit command, stop, rm and reconcile may all call it. `forget` also drops the container's endpoints
 * and ports (on rm).
 */
export async function detachContainerNetworks(
  ctx: StoreContext,
  containerId: string,
  o: { forget?: boolean } = {},
): Promise<void> {
  const ns = netnsPath(containerId);
  const errors: string[] = [];
  if (existsSync(ns)) {
    for (const s of readState(ctx, containerId).reverse()) {
      await netavarkTeardown(ctx.paths, ns, s.options).catch((e: Error) => errors.push(e.message));
    }
    await deleteNetns(containerId).catch((e: Error) => errors.push(e.message));
  }
  rmSync(stateFile(ctx, containerId), { force: true });
  if (o.forget) networkStore(ctx).forget(containerId);
  if (errors.length) throw new BerthError(errors.join('; '));
}

export function hasNetworkState(containerId: string): boolean {
  return existsSync(netnsPath(containerId));
}

/** `network connect`: a new endpoint; wired at once when the container runs. */
export async function connectContainer(
  ctx: StoreContext,
  c: ContainerRecord,
  n: NetworkRecord,
  req: EndpointRequest,
): Promise<void> {
  const mode = netMode(c.config.host);
  if (mode.kind !== 'networks')
    throw new ConflictError(
      `container ${c.name} cannot be connected to a network: its network mode is ${c.config.host.networkMode}`,
    );
  if (!networkStore(ctx).attachments(c.id).length && c.state.status === 'created')
    initContainerNetworks(ctx, c);
  const a = addEndpoint(ctx, c, n, req);
  const running = c.state.status === 'running' || c.state.status === 'paused';
  if (!running || !existsSync(netnsPath(c.id))) return;
  try {
    if (!n.internal) ensureIpForward();
    const options = endpointOptions(c, n, a, []);
    const status = await netavarkSetup(ctx.paths, netnsPath(c.id), options);
    writeState(ctx, c.id, [...readState(ctx, c.id), { network: n.name, options }]);
    const mac = status[n.name]?.interfaces?.[a.ifname]?.mac_address ?? '';
    if (mac) networkStore(ctx).setMac(c.id, n.id, mac);
  } catch (err) {
    networkStore(ctx).detach(c.id, n.id);
    throw err;
  }
}

/** `network disconnect`: tears the endpoint down when the container runs, and forgets it. */
export async function disconnectContainer(
  ctx: StoreContext,
  c: ContainerRecord,
  n: NetworkRecord,
): Promise<void> {
  const store = networkStore(ctx);
  if (!store.attachments(c.id).some((a) => a.networkId === n.id))
    throw new ConflictError(`container ${c.name} is not connected to network ${n.name}`);
  const state = readState(ctx, c.id);
  const mine = state.filter((s) => s.network === n.name);
  if (mine.length && existsSync(netnsPath(c.id))) {
    for (const s of mine) await netavarkTeardown(ctx.paths, netnsPath(c.id), s.options);
    writeState(
      ctx,
      c.id,
      state.filter((s) => s.network !== n.name),
    );
  }
  store.detach(c.id, n.id);
}

/** What inspect shows: each network's endpoint (addresses only while the container runs, as docker). */
export function containerAddresses(ctx: StoreContext, c: ContainerRecord): ContainerAddress[] {
  const store = networkStore(ctx);
  const out: ContainerAddress[] = [];
  for (const a of store.attachments(c.id)) {
    const n = store.get(a.networkId);
    if (n) out.push(address(n, a));
  }
  return out;
}

export function containerPortMappings(ctx: StoreContext, containerId: string): PortMapping[] | undefined {
  return networkStore(ctx).ports(containerId);
}
