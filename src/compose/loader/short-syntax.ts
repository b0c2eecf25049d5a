import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { isAbsolute, join, normalize, posix } from 'node:path';
import type { ServicePortConfig, ServiceVolumeConfig } from '../model.ts';
import { ComposeFileError } from './yaml-file.ts';

/** Parsers for the compose short syntaxes (ports, volumes) and path resolution. */

function parseRange(s: string, what: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new ComposeFileError(`invalid ${what} "${s}" in port spec "${spec}"`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 0 || b > 65535 || b < a)
    throw new ComposeFileError(`invalid ${what} range "${s}" in port spec "${spec}"`);
  return [a, b];
}

/**
 * `[ip:][host[-range]:]container[-range][/proto]`, as docker's nat.ParsePortSpec reads it. A
 * container range becomes one entry per port; a host range with one container port is kept as the
 * range to pick a free port from.
 */
export function parsePortSpec(spec: string): ServicePortConfig[] {
  let raw = spec;
  let protocol = 'tcp';
  const slash = raw.lastIndexOf('/');
  if (slash >= 0) {
    protocol = raw.slice(slash + 1).toLowerCase();
    raw = raw.slice(0, slash);
  }
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp')
    throw new ComposeFileError(`invalid protocol "${protocol}" in port spec "${spec}"`);
  let ip = '';
  let host = '';
  let container: string;
  if (raw.startsWith('[')) {
    const end = raw.indexOf(']');
    if (end < 0) throw new ComposeFileError(`invalid IP address in port spec "${spec}"`);
    ip = raw.slice(1, end);
    const rest = raw
      .slice(end + 1)
      .replace(/^:/, '')
      .split(':');
    if (rest.length === 1) [container] = rest as [string];
    else if (rest.length === 2) [host, container] = rest as [string, string];
    else throw new ComposeFileError(`invalid port spec "${spec}"`);
  } else {
    const parts = raw.split(':');
    const n = parts.length;
    container = parts[n - 1] as string;
    if (n === 2) host = parts[0] as string;
    else if (n >= 3) {
      host = parts[n - 2] as string;
      ip = parts
        .slice(0, n - 2)
        .join(':')
        .replace(/^\[(.*)\]$/, '$1');
    }
  }
  if (container === '') throw new ComposeFileError(`no port specified in port spec "${spec}"`);
  if (ip !== '' && isIP(ip) === 0)
    throw new ComposeFileError(`invalid IP address "${ip}" in port spec "${spec}"`);
  const [cStart, cEnd] = parseRange(container, 'container port', spec);
  const base = (target: number, published?: string): ServicePortConfig => {
    const p: ServicePortConfig = {
      target,
      protocol: protocol as ServicePortConfig['protocol'],
      mode: 'ingress',
    };
    if (published !== undefined && published !== '') p.published = published;
    if (ip !== '') p.host_ip = ip;
    return p;
  };
  if (host === '') {
    const out: ServicePortConfig[] = [];
    for (let t = cStart; t <= cEnd; t++) out.push(base(t));
    return out;
  }
  const [hStart, hEnd] = parseRange(host, 'host port', spec);
  if (cStart === cEnd) return [base(cStart, hStart === hEnd ? String(hStart) : `${hStart}-${hEnd}`)];
  if (hEnd - hStart !== cEnd - cStart)
    throw new ComposeFileError(`invalid ranges specified for container and host ports in "${spec}"`);
  const out: ServicePortConfig[] = [];
  for (let k = 0; k <= cEnd - cStart; k++) out.push(base(cStart + k, String(hStart + k)));
  return out;
}

export function isFilePath(s: string): boolean {
  return s.startsWith('.') || s.startsWith('/') || s.startsWith('~');
}

/** Resolves a host path of the compose file against `baseDir`; `~` is the user's home. */
export function resolveHostPath(baseDir: string, p: string): string {
  if (p === '~' || p.startsWith('~/')) return normalize(join(process.env.HOME || homedir(), p.slice(1)));
  if (isAbsolute(p)) return normalize(p);
  return normalize(join(baseDir, p));
}

/** `[source:]target[:options]` of a service's `volumes:` (compose-go format.ParseVolume). */
export function parseVolumeSpec(spec: string, baseDir: string): ServiceVolumeConfig {
  // split on ':' outside `${…}` (left over when interpolation is off)
  const parts: string[] = [];
  let buf = '';
  let depth = 0;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i] as string;
    if (c === '$' && spec[i + 1] === '{') depth++;
    else if (c === '}' && depth > 0) depth--;
    if (c === ':' && depth === 0) {
      parts.push(buf);
      buf = '';
    } else buf += c;
  }
  parts.push(buf);
  if (parts.some((p) => p === ''))
    throw new ComposeFileError(`invalid volume spec "${spec}": empty section between colons`);
  if (parts.length > 3) throw new ComposeFileError(`invalid volume spec "${spec}": too many colons`);
  if (parts.length === 1) return { type: 'volume', target: posix.normalize(parts[0] as string), volume: {} };
  const [source, target, opts] = parts as [string, string, string | undefined];
  const v: ServiceVolumeConfig = { type: 'volume', source, target: posix.normalize(target) };
  let readOnly = false;
  let nocopy = false;
  let propagation: string | undefined;
  let selinux: 'z' | 'Z' | undefined;
  for (const o of (opts ?? '').split(',')) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else if (o === 'nocopy') nocopy = true;
    else if (['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'].includes(o)) propagation = o;
    else if (o === 'z' || o === 'Z') selinux = o;
  }
  if (readOnly) v.read_only = true;
  if (isFilePath(source)) {
    v.type = 'bind';
    v.source = resolveHostPath(baseDir, source);
    v.bind = { create_host_path: true };
    if (propagation) v.bind.propagation = propagation;
    if (selinux) v.bind.selinux = selinux;
  } else {
    v.volume = nocopy ? { nocopy: true } : {};
  }
  return v;
}
