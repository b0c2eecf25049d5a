import { posix } from 'node:path';
import { parseBytes, parseDuration } from '../../util/units.ts';
import type { ServicePortConfig, ServiceVolumeConfig } from '../model.ts';
import { shellSplit } from './shell-split.ts';
import { isFilePath, parsePortSpec, parseVolumeSpec, resolveHostPath } from './short-syntax.ts';
import { ComposeFileError } from './yaml-file.ts';

/**
 * Per-file canonical form: one compose file's (validated) data with every short syntax expanded
 * into the long one the model uses, durations in ms, sizes in bytes and host paths made absolute
 * against the file's base directory. Files are merged in this form, so `"8080:80"` in one file
 * and `{target: 80, published: "8080"}` in another are the same port.
 */

export type Dict = Record<string, unknown>;

export interface CanonContext {
  /** Directory relative host paths are resolved against. */
  baseDir: string;
  /** For error messages. */
  file: string;
  /** Interpolation is off (`config --no-interpolate`): values still holding `${…}` stay as written. */
  lenient?: boolean;
}

// set for the duration of one synchronous canonFile() call
let lenient = false;

/** With interpolation off, a value still holding a variable cannot be parsed: keep it as written. */
function keepRaw(v: unknown): boolean {
  return lenient && typeof v === 'string' && v.includes('$');
}

const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  return String(v);
}

/** list `["K=V", "K"]` or mapping → mapping; `K` without a value maps to null. */
export function keyValueMap(v: unknown, keepNull = true): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(v)) {
    for (const e of v) {
      const s = str(e);
      const eq = s.indexOf('=');
      if (eq < 0) {
        if (keepNull) out[s] = null;
      } else out[s.slice(0, eq)] = s.slice(eq + 1);
    }
  } else if (isDict(v)) {
    for (const [k, e] of Object.entries(v)) {
      if (e === null || e === undefined) {
        if (keepNull) out[k] = null;
      } else out[k] = str(e);
    }
  }
  return out;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, e] of Object.entries(keyValueMap(v))) out[k] = e ?? '';
  return out;
}

function stringList(v: unknown): string[] {
  if (v === null || v === undefined) return [];
  if (Array.isArray(v)) return v.map(str);
  return [str(v)];
}

export function durationMs(v: unknown, where: string): number {
  if (typeof v === 'number') return v * 1000;
  if (keepRaw(v)) return v as unknown as number;
  try {
    return parseDuration(str(v));
  } catch (e) {
    throw new ComposeFileError(`${where}: invalid duration ${JSON.stringify(v)}: ${(e as Error).message}`);
  }
}

export function bytes(v: unknown, where: string): number {
  if (typeof v === 'number') return v;
  if (keepRaw(v)) return v as unknown as number;
  try {
    return parseBytes(str(v));
  } catch (e) {
    throw new ComposeFileError(`${where}: invalid size ${JSON.stringify(v)}: ${(e as Error).message}`);
  }
}

function num(v: unknown, where: string): number {
  if (keepRaw(v)) return v as unknown as number;
  const n = typeof v === 'number' ? v : Number(str(v));
  if (!Number.isFinite(n)) throw new ComposeFileError(`${where}: ${JSON.stringify(v)} is not a number`);
  return n;
}

function bool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  return ['true', 'yes', 'y', 'on', '1'].includes(str(v).toLowerCase());
}

function isRemote(ctx: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(ctx) || ctx.startsWith('git@') || ctx.startsWith('github.com/');
}

function extraHosts(v: unknown): string[] {
  const out: string[] = [];
  if (Array.isArray(v)) {
    for (const e of v) {
      const s = str(e);
      // docker's --add-host form is host:ip; compose also accepts host=ip
      const eq = s.indexOf('=');
      const colon = s.indexOf(':');
      if (eq >= 0 && (colon < 0 || eq < colon)) out.push(`${s.slice(0, eq)}:${s.slice(eq + 1)}`);
      else out.push(s);
    }
  } else if (isDict(v)) {
    for (const [host, ips] of Object.entries(v)) for (const ip of stringList(ips)) out.push(`${host}:${ip}`);
  }
  return out;
}

function fileMounts(v: unknown): Dict[] {
  if (!Array.isArray(v)) return [];
  return v.map((e) => {
    if (!isDict(e)) return { source: str(e) };
    const m: Dict = { ...e };
    if (m.mode !== undefined) m.mode = typeof m.mode === 'number' ? m.mode : Number.parseInt(str(m.mode), 8);
    if (m.uid !== undefined) m.uid = str(m.uid);
    if (m.gid !== undefined) m.gid = str(m.gid);
    return m;
  });
}

function canonPort(e: unknown, where: string, file: string): ServicePortConfig[] {
  if (typeof e === 'number') return [{ target: e, protocol: 'tcp', mode: 'ingress' }];
  if (typeof e === 'string') {
    if (keepRaw(e)) return [e as unknown as ServicePortConfig];
    try {
      return parsePortSpec(e);
    } catch (err) {
      throw new ComposeFileError(`${file}: ${where}: ${(err as Error).message}`);
    }
  }
  const d = e as Dict;
  if (d.target === undefined || d.target === null || d.target === '')
    throw new ComposeFileError(`${file}: ${where} is missing a target port`);
  const p: ServicePortConfig = {
    target: num(d.target, `${where}.target`),
    protocol: (str(d.protocol) || 'tcp').toLowerCase() as ServicePortConfig['protocol'],
    mode: (str(d.mode) || 'ingress') as ServicePortConfig['mode'],
  };
  if (d.published !== undefined && d.published !== null && d.published !== '') p.published = str(d.published);
  if (d.host_ip !== undefined) p.host_ip = str(d.host_ip);
  if (d.name !== undefined) p.name = str(d.name);
  if (d.app_protocol !== undefined) p.app_protocol = str(d.app_protocol);
  return [p];
}

function canonVolume(e: unknown, ctx: CanonContext, where: string): ServiceVolumeConfig {
  if (typeof e === 'string') {
    if (keepRaw(e) && e.includes('${')) return e as unknown as ServiceVolumeConfig;
    try {
      return parseVolumeSpec(e, ctx.baseDir);
    } catch (err) {
      throw new ComposeFileError(`${ctx.file}: ${where}: ${(err as Error).message}`);
    }
  }
  const d = { ...(e as Dict) } as Dict;
  if (typeof d.target !== 'string' || d.target === '')
    throw new ComposeFileError(`${ctx.file}: ${where} is missing a mount target`);
  if (d.type === 'bind' && (typeof d.source !== 'string' || d.source === ''))
    throw new ComposeFileError(`${ctx.file}: ${where} is a bind mount without a source`);
  const v = d as unknown as ServiceVolumeConfig;
  v.target = posix.normalize(str(d.target));
  if (v.type === 'bind' && typeof d.source === 'string' && d.source !== '' && !isRemote(d.source)) {
    v.source = resolveHostPath(ctx.baseDir, d.source);
  }
  if (d.read_only !== undefined) v.read_only = bool(d.read_only);
  if (isDict(d.tmpfs)) {
    const t: Dict = { ...d.tmpfs };
    if (t.size !== undefined) t.size = bytes(t.size, `${where}.tmpfs.size`);
    if (t.mode !== undefined) t.mode = num(t.mode, `${where}.tmpfs.mode`);
    v.tmpfs = t as ServiceVolumeConfig['tmpfs'];
  }
  if (isDict(d.bind)) {
    const b: Dict = { ...d.bind };
    if (b.create_host_path !== undefined) b.create_host_path = bool(b.create_host_path);
    v.bind = b as ServiceVolumeConfig['bind'];
  }
  return v;
}

function canonHealthcheck(h: Dict, where: string): Dict {
  const out: Dict = { ...h };
  if (typeof h.test === 'string') out.test = ['CMD-SHELL', h.test];
  else if (Array.isArray(h.test)) out.test = h.test.map(str);
  for (const k of ['interval', 'timeout', 'start_period', 'start_interval'])
    if (h[k] !== undefined) out[k] = durationMs(h[k], `${where}.${k}`);
  if (h.retries !== undefined) out.retries = num(h.retries, `${where}.retries`);
  if (h.disable !== undefined) out.disable = bool(h.disable);
  return out;
}

function canonResources(r: unknown, where: string): Dict | undefined {
  if (!isDict(r)) return undefined;
  const out: Dict = { ...r };
  if (r.cpus !== undefined) out.cpus = num(r.cpus, `${where}.cpus`);
  if (r.memory !== undefined) out.memory = bytes(r.memory, `${where}.memory`);
  if (r.pids !== undefined) out.pids = num(r.pids, `${where}.pids`);
  return out;
}

function canonDeploy(d: Dict, where: string): Dict {
  const out: Dict = { ...d };
  if (d.labels !== undefined) out.labels = stringMap(d.labels);
  if (d.replicas !== undefined && d.replicas !== null) out.replicas = num(d.replicas, `${where}.replicas`);
  if (isDict(d.resources)) {
    const res: Dict = { ...d.resources };
    const limits = canonResources(d.resources.limits, `${where}.resources.limits`);
    const reservations = canonResources(d.resources.reservations, `${where}.resources.reservations`);
    if (limits) res.limits = limits;
    if (reservations) res.reservations = reservations;
    out.resources = res;
  }
  if (isDict(d.restart_policy)) {
    const rp: Dict = { ...d.restart_policy };
    for (const k of ['delay', 'window'])
      if (rp[k] !== undefined) rp[k] = durationMs(rp[k], `${where}.restart_policy.${k}`);
    out.restart_policy = rp;
  }
  return out;
}

function canonBuild(b: unknown, ctx: CanonContext, where: string): Dict {
  const d: Dict = typeof b === 'string' ? { context: b } : { ...(b as Dict) };
  // no default here: an override file's `build:` without a context keeps the base file's
  if (d.context !== undefined && d.context !== null) {
    const context = str(d.context) || '.';
    d.context = isRemote(context) ? context : resolveHostPath(ctx.baseDir, context);
  }
  if (d.args !== undefined) d.args = keyValueMap(d.args);
  if (d.labels !== undefined) d.labels = stringMap(d.labels);
  if (d.extra_hosts !== undefined) d.extra_hosts = extraHosts(d.extra_hosts);
  if (d.shm_size !== undefined) d.shm_size = bytes(d.shm_size, `${where}.shm_size`);
  if (d.no_cache !== undefined) d.no_cache = bool(d.no_cache);
  if (d.pull !== undefined) d.pull = bool(d.pull);
  if (d.privileged !== undefined) d.privileged = bool(d.privileged);
  if (d.secrets !== undefined) d.secrets = fileMounts(d.secrets);
  if (d.ssh !== undefined)
    d.ssh = Array.isArray(d.ssh)
      ? d.ssh.map(str)
      : Object.entries(keyValueMap(d.ssh)).map(([k, v]) => (v === null ? k : `${k}=${v}`));
  if (d.additional_contexts !== undefined) {
    const ac: Record<string, string> = {};
    for (const [k, v] of Object.entries(stringMap(d.additional_contexts)))
      ac[k] = isFilePath(v) || !v.includes(':') ? resolveHostPath(ctx.baseDir, v) : v;
    d.additional_contexts = ac;
  }
  return d;
}

function canonDependsOn(v: unknown, where: string): Dict {
  const out: Dict = {};
  if (Array.isArray(v)) {
    for (const s of v) out[str(s)] = { condition: 'service_started', required: true, restart: false };
    return out;
  }
  for (const [k, e] of Object.entries((v as Dict) ?? {})) {
    const d = (e ?? {}) as Dict;
    if (!isDict(d)) throw new ComposeFileError(`${where}.${k} must be a mapping`);
    out[k] = {
      ...d,
      condition: d.condition ?? 'service_started',
      required: d.required === undefined ? true : bool(d.required),
      restart: d.restart === undefined ? false : bool(d.restart),
    };
  }
  return out;
}

function canonNetworks(v: unknown): Dict {
  if (Array.isArray(v)) {
    const out: Dict = {};
    for (const n of v) out[str(n)] = null;
    return out;
  }
  const out: Dict = {};
  for (const [k, e] of Object.entries((v as Dict) ?? {})) {
    if (!isDict(e)) {
      out[k] = null;
      continue;
    }
    const n: Dict = { ...e };
    if (n.aliases !== undefined) n.aliases = stringList(n.aliases);
    out[k] = n;
  }
  return out;
}

function canonDevelop(d: Dict, ctx: CanonContext): Dict {
  const out: Dict = { ...d };
  if (Array.isArray(d.watch)) {
    out.watch = d.watch.map((w) => {
      const r: Dict = { ...(w as Dict) };
      if (typeof r.path === 'string') r.path = resolveHostPath(ctx.baseDir, r.path);
      if (r.ignore !== undefined) r.ignore = stringList(r.ignore);
      if (r.include !== undefined) r.include = stringList(r.include);
      return r;
    });
  }
  return out;
}

/** One service definition in canonical form (keys the model does not know are kept as written). */
export function canonService(raw: Dict, ctx: CanonContext, name: string): Dict {
  const where = `services.${name}`;
  const out: Dict = {};
  for (const [k, v] of Object.entries(raw)) {
    const w = `${where}.${k}`;
    switch (k) {
      case 'build':
        out.build = canonBuild(v, ctx, w);
        break;
      case 'command':
      case 'entrypoint':
        out[k] = v === null ? null : typeof v === 'string' ? shellSplit(v, w) : stringList(v);
        break;
      case 'environment':
        out.environment = keyValueMap(v);
        break;
      case 'env_file':
        out.env_file = (Array.isArray(v) ? v : [v]).map((e) => {
          const d: Dict = isDict(e) ? { ...e } : { path: str(e) };
          d.path = resolveHostPath(ctx.baseDir, str(d.path));
          d.required = d.required === undefined ? true : bool(d.required);
          return d;
        });
        break;
      case 'label_file':
        out.label_file = stringList(v).map((p) => resolveHostPath(ctx.baseDir, p));
        break;
      case 'ports':
        out.ports = (v as unknown[]).flatMap((e, i) => canonPort(e, `${w}.${i}`, ctx.file));
        break;
      case 'expose':
        out.expose = stringList(v);
        break;
      case 'volumes':
        out.volumes = (v as unknown[]).map((e, i) => canonVolume(e, ctx, `${w}.${i}`));
        break;
      case 'networks':
        out.networks = canonNetworks(v);
        break;
      case 'depends_on':
        out.depends_on = canonDependsOn(v, w);
        break;
      case 'healthcheck':
        out.healthcheck = canonHealthcheck((v ?? {}) as Dict, w);
        break;
      case 'deploy':
        out.deploy = v === null ? null : canonDeploy(v as Dict, w);
        break;
      case 'labels':
      case 'annotations':
      case 'sysctls':
        out[k] = stringMap(v);
        break;
      case 'dns':
      case 'dns_search':
      case 'dns_opt':
      case 'tmpfs':
      case 'cap_add':
      case 'cap_drop':
      case 'profiles':
      case 'security_opt':
      case 'links':
      case 'external_links':
      case 'volumes_from':
      case 'group_add':
        out[k] = stringList(v);
        break;
      case 'extra_hosts':
        out.extra_hosts = extraHosts(v);
        break;
      case 'ulimits': {
        const u: Dict = {};
        for (const [n, l] of Object.entries((v as Dict) ?? {})) {
          if (isDict(l)) u[n] = { soft: num(l.soft, `${w}.${n}.soft`), hard: num(l.hard, `${w}.${n}.hard`) };
          else {
            const x = num(l, `${w}.${n}`);
            u[n] = { soft: x, hard: x };
          }
        }
        out.ulimits = u;
        break;
      }
      case 'secrets':
      case 'configs':
        out[k] = fileMounts(v);
        break;
      case 'stop_grace_period':
        out[k] = durationMs(v, w);
        break;
      case 'shm_size':
      case 'mem_limit':
      case 'memswap_limit':
      case 'mem_reservation':
        out[k] = typeof v === 'number' ? v : bytes(v, w);
        break;
      case 'cpus':
      case 'cpu_shares':
      case 'pids_limit':
      case 'oom_score_adj':
      case 'scale':
        out[k] = num(v, w);
        break;
      case 'devices':
        out.devices = (v as unknown[]).map((d) =>
          isDict(d)
            ? [d.source, d.target ?? d.source, d.permissions].filter((x) => x !== undefined).join(':')
            : str(d),
        );
        break;
      case 'pull_policy':
        out.pull_policy = v === 'if_not_present' ? 'missing' : v;
        break;
      case 'develop':
        out.develop = canonDevelop((v ?? {}) as Dict, ctx);
        break;
      case 'extends':
        out.extends = typeof v === 'string' ? { service: v } : { ...(v as Dict) };
        break;
      case 'init':
      case 'read_only':
      case 'privileged':
      case 'tty':
      case 'stdin_open':
        out[k] = bool(v);
        break;
      case 'attach':
        out[k] = bool(v);
        break;
      default:
        out[k] = structuredClone(v);
    }
  }
  return out;
}

/** A top-level volume/network/secret/config definition in canonical form. */
export function canonResource(kind: string, raw: unknown, ctx: CanonContext, key: string): Dict {
  const d: Dict = isDict(raw) ? structuredClone(raw) : {};
  if (d.labels !== undefined) d.labels = stringMap(d.labels);
  if (d.driver_opts !== undefined) d.driver_opts = stringMap(d.driver_opts);
  if (isDict(d.external)) {
    // legacy `external: {name: x}`
    const extName = d.external.name;
    if (extName !== undefined) {
      if (d.name !== undefined && d.name !== extName)
        throw new ComposeFileError(
          `${ctx.file}: ${kind}.${key}: name and external.name conflict; only use name`,
        );
      d.name = extName;
    }
    d.external = true;
  } else if (d.external !== undefined) d.external = bool(d.external);
  if ((kind === 'secrets' || kind === 'configs') && typeof d.file === 'string')
    d.file = resolveHostPath(ctx.baseDir, d.file);
  if (kind === 'networks' && isDict(d.ipam) && d.ipam.options !== undefined)
    d.ipam = { ...d.ipam, options: stringMap(d.ipam.options) };
  return d;
}

/** Canonical form of a whole (single) compose file's data. */
export function canonFile(data: Dict, ctx: CanonContext): Dict {
  lenient = ctx.lenient === true;
  try {
    return canonFileData(data, ctx);
  } finally {
    lenient = false;
  }
}

function canonFileData(data: Dict, ctx: CanonContext): Dict {
  const out: Dict = {};
  for (const [k, v] of Object.entries(data)) {
    if (k === 'services') {
      const s: Dict = {};
      for (const [name, svc] of Object.entries((v as Dict) ?? {}))
        s[name] = canonService((svc ?? {}) as Dict, ctx, name);
      out.services = s;
    } else if (k === 'volumes' || k === 'networks' || k === 'secrets' || k === 'configs') {
      const r: Dict = {};
      for (const [key, res] of Object.entries((v as Dict) ?? {})) r[key] = canonResource(k, res, ctx, key);
      out[k] = r;
    } else if (k === 'version') {
      // obsolete and ignored, as in docker compose
    } else out[k] = structuredClone(v);
  }
  return out;
}
