import type { ContainerRecord, HostConfig } from '../container/types.ts';
import type { StoreContext } from '../engine/context.ts';
import { containerAddresses, containerPortMappings, netMode } from './attach.ts';
import { netnsPath } from './netns.ts';
import { DEFAULT_NETWORK } from './networks.ts';
import { portsMap } from './ports.ts';

const running = (c: ContainerRecord) => c.state.status === 'running' || c.state.status === 'paused';

/** docker's NetworkSettings for a container: Networks, Ports and the legacy top-level address fields. */
export function networkSettings(ctx: StoreContext, c: ContainerRecord): Record<string, unknown> {
  const live = running(c);
  const mode = netMode(c.config.host);
  const networks: Record<string, unknown> = {};
  if (mode.kind === 'host' || mode.kind === 'none') {
    networks[mode.kind] = endpoint('', '', 0, '', '', []);
  }
  const addrs = containerAddresses(ctx, c);
  for (const a of addrs) {
    networks[a.network] = endpoint(
      a.networkId,
      live ? a.ip : '',
      live ? a.prefixLen : 0,
      live ? a.gateway : '',
      live ? a.mac : '',
      a.network === DEFAULT_NETWORK ? null : [...a.aliases, c.id.slice(0, 12)],
    );
  }
  const primary = addrs.find((a) => a.network === DEFAULT_NETWORK);
  return {
    SandboxKey: live && mode.kind === 'networks' ? netnsPath(c.id) : '',
    Ports: live ? portsMap(c.config.exposedPorts, containerPortMappings(ctx, c.id)) : {},
    // docker fills these for the default bridge only
    IPAddress: live && primary ? primary.ip : '',
    IPPrefixLen: live && primary ? primary.prefixLen : 0,
    Gateway: live && primary ? primary.gateway : '',
    MacAddress: live && primary ? primary.mac : '',
    Networks: networks,
  };
}

function endpoint(
  networkId: string,
  ip: string,
  prefixLen: number,
  gateway: string,
  mac: string,
  aliases: string[] | null,
): Record<string, unknown> {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: aliases,
    MacAddress: mac,
    NetworkID: networkId,
    EndpointID: ip ? `${networkId.slice(0, 32)}${ip.replace(/\./g, '').padEnd(32, '0')}`.slice(0, 64) : '',
    Gateway: gateway,
    IPAddress: ip,
    IPPrefixLen: prefixLen,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DriverOpts: null,
  };
}

/** The networking part of docker's HostConfig. */
export function hostConfigNetworking(h: HostConfig): Record<string, unknown> {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const [k, list] of Object.entries(h.portBindings ?? {}))
    bindings[k] = list.map((b) => ({ HostIp: b.hostIp, HostPort: b.hostPort }));
  return {
    NetworkMode: h.networkMode === 'private' ? 'none' : h.networkMode || DEFAULT_NETWORK,
    PortBindings: bindings,
    PublishAllPorts: h.publishAll ?? false,
    Dns: h.dns ?? [],
    DnsOptions: h.dnsOptions ?? [],
    DnsSearch: h.dnsSearch ?? [],
  };
}

/** `ps`'s Ports: the published ports of a running container and the exposed ones. */
export function summaryPorts(
  ctx: StoreContext,
  c: ContainerRecord,
): { PrivatePort: number; PublicPort?: number; Type: string; IP?: string }[] {
  const out: { PrivatePort: number; PublicPort?: number; Type: string; IP?: string }[] = [];
  const maps = running(c) ? (containerPortMappings(ctx, c.id) ?? []) : [];
  for (const m of maps)
    out.push({
      IP: m.hostIp || '0.0.0.0',
      PrivatePort: m.containerPort,
      PublicPort: m.hostPort,
      Type: m.protocol,
    });
  for (const e of c.config.exposedPorts) {
    const [port = '', proto = 'tcp'] = e.split('/');
    if (!maps.some((m) => m.containerPort === Number(port) && m.protocol === proto))
      out.push({ PrivatePort: Number(port), Type: proto });
  }
  return out;
}

export function summaryNetworks(ctx: StoreContext, c: ContainerRecord): Record<string, unknown> {
  return (networkSettings(ctx, c).Networks ?? {}) as Record<string, unknown>;
}
