import { createServer } from 'node:net';
import type { PortBinding } from '../container/types.ts';
import { InvalidArgumentError } from '../util/errors.ts';
import type { PortMapping } from './types.ts';

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

function parseRange(s: string, what: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  const lo = m ? Number(m[1]) : Number.NaN;
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || hi < lo)
    throw new InvalidArgumentError(
      `invalid ${what} port "${s}" in "${spec}": use a number or range in 1-65535`,
    );
  return [lo, hi];
}

/**
 * Parses one `-p` value as docker does (`[ip:][hostPort]:containerPort[/proto]`, ranges such as
 * `8000-8001:80-81`, a host range for one container port, `ip::80` for a random host port) into
 * docker's PortBindings entries keyed `port/proto`.
 */
export function parsePublish(spec: string): [string, PortBinding][] {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
    if (!PROTOCOLS.has(proto)) throw new InvalidArgumentError(`invalid proto: ${proto}`);
  }
  let ip = '';
  const bracket = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  if (bracket) {
    ip = bracket[1]!;
    rest = bracket[2]!;
  }
  const parts = rest.split(':');
  let host = '';
  let container: string;
  if (parts.length === 1) container = parts[0]!;
  else if (parts.length === 2) [host = '', container = ''] = parts;
  else {
    if (bracket) throw new InvalidArgumentError(`invalid port format: "${spec}"`);
    container = parts.pop()!;
    host = parts.pop()!;
    ip = parts.join(':');
  }
  if (!container) throw new InvalidArgumentError(`no port specified: ${spec}<empty>`);
  const [cLo, cHi] = parseRange(container, 'container', spec);
  const out: [string, PortBinding][] = [];
  if (!host) {
    for (let p = cLo; p <= cHi; p++) out.push([`${p}/${proto}`, { hostIp: ip, hostPort: '' }]);
    return out;
  }
  const [hLo, hHi] = parseRange(host, 'host', spec);
  if (cLo === cHi && hHi > hLo) return [[`${cLo}/${proto}`, { hostIp: ip, hostPort: `${hLo}-${hHi}` }]];
  if (hHi - hLo !== cHi - cLo)
    throw new InvalidArgumentError(`invalid ranges specified for container and host ports: "${spec}"`);
  for (let i = 0; i <= cHi - cLo; i++)
    out.push([`${cLo + i}/${proto}`, { hostIp: ip, hostPort: String(hLo + i) }]);
  return out;
}

/** Tries to bind the port on the host: a process already listening there would get no traffic. */
export function hostPortFree(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: ip || '0.0.0.0', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port the kernel hands out as free (its ephemeral range, as docker's 32768-60999). */
export function randomHostPort(ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: ip || '0.0.0.0', port: 0, exclusive: true }, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function samePortSpace(a: PortMapping, b: PortMapping): boolean {
  const anyIp = (ip: string) => ip === '' || ip === '0.0.0.0';
  return (
    a.hostPort === b.hostPort &&
    a.protocol === b.protocol &&
    (anyIp(a.hostIp) || anyIp(b.hostIp) || a.hostIp === b.hostIp)
  );
}

/** docker's NetworkSettings.Ports: every exposed or published port, with its host bindings or null. */
export function portsMap(
  exposed: readonly string[],
  mappings: readonly PortMapping[] | undefined,
): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const e of exposed) out[e.includes('/') ? e : `${e}/tcp`] = null;
  for (const m of mappings ?? []) {
    const key = `${m.containerPort}/${m.protocol}`;
    const list = out[key] ?? [];
    list.push({ HostIp: m.hostIp || '0.0.0.0', HostPort: String(m.hostPort) });
    out[key] = list;
  }
  return out;
}

/** `ps`'s PORTS column: `127.0.0.1:8080->80/tcp, 443/tcp`. */
export function portsText(
  ports: { PrivatePort: number; PublicPort?: number; Type: string; IP?: string }[],
): string {
  const published = ports
    .filter((p) => p.PublicPort)
    .map((p) => `${p.IP || '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`);
  const exposed = ports
    .filter(
      (p) =>
        !p.PublicPort &&
        !ports.some((q) => q.PublicPort && q.PrivatePort === p.PrivatePort && q.Type === p.Type),
    )
    .map((p) => `${p.PrivatePort}/${p.Type}`);
  return [...new Set([...published, ...exposed])].join(', ');
}
