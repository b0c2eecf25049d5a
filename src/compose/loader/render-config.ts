import { stringify } from 'yaml';
import type { Project, ServiceConfig } from '../model.ts';

/**
 * `compose config` output: the resolved model as YAML (or JSON) shaped like docker compose's:
 * keys sorted, durations as Go durations (`1m30s`), memory sizes as byte strings, ports and
 * volumes in long syntax, empty collections left out. `--services`, `--volumes`, `--profiles`,
 * `--images`, `--networks` print one name per line instead; `quiet` prints nothing.
 */
export interface RenderOptions {
  format?: 'yaml' | 'json';
  services?: boolean;
  volumes?: boolean;
  networks?: boolean;
  profiles?: boolean;
  images?: boolean;
  quiet?: boolean;
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Go's time.Duration.String() for a duration in milliseconds. */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let ns = Math.round(Math.abs(ms) * 1e6);
  let out: string;
  if (ns < 1e9) {
    const [unit, div] = ns < 1e3 ? ['ns', 1] : ns < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = `${trimFloat(ns / (div as number))}${unit}`;
  } else {
    const h = Math.floor(ns / 3.6e12);
    ns -= h * 3.6e12;
    const m = Math.floor(ns / 6e10);
    ns -= m * 6e10;
    const s = `${trimFloat(ns / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trimFloat(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(9)));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isDict(v)) {
    const out: Dict = {};
    for (const k of Object.keys(v).sort()) {
      const x = v[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

const isEmpty = (v: unknown) =>
  Array.isArray(v) ? v.length === 0 : isDict(v) ? Object.keys(v).length === 0 : false;

function durations(d: Dict | undefined, keys: string[]): Dict | undefined {
  if (!d) return d;
  const out: Dict = { ...d };
  for (const k of keys) if (typeof out[k] === 'number') out[k] = goDuration(out[k] as number);
  return out;
}

function renderService(s: ServiceConfig): Dict {
  const out: Dict = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'name' || k === 'extensions' || v === undefined) continue;
    if (
      (k === 'ports' ||
        k === 'expose' ||
        k === 'volumes' ||
        k === 'labels' ||
        k === 'depends_on' ||
        k === 'environment') &&
      isEmpty(v)
    )
      continue;
    out[k] = v;
  }
  if (s.extensions) Object.assign(out, s.extensions);
  if (s.build) {
    const b: Dict = { ...s.build };
    if (b.dockerfile === undefined && b.dockerfile_inline === undefined) b.dockerfile = 'Dockerfile';
    if (typeof b.shm_size === 'number') b.shm_size = String(b.shm_size);
    out.build = b;
  }
  if (s.healthcheck)
    out.healthcheck = durations(s.healthcheck as Dict, [
      'interval',
      'timeout',
      'start_period',
      'start_interval',
    ]);
  if (s.stop_grace_period !== undefined) out.stop_grace_period = goDuration(s.stop_grace_period);
  for (const k of ['shm_size', 'mem_limit', 'memswap_limit', 'mem_reservation'] as const)
    if (typeof s[k] === 'number') out[k] = String(s[k]);
  if (s.deploy) {
    const d: Dict = { ...s.deploy };
    if (d.restart_policy) d.restart_policy = durations(d.restart_policy as Dict, ['delay', 'window']);
    if (isDict(d.resources)) {
      const r: Dict = { ...d.resources };
      for (const k of ['limits', 'reservations'])
        if (isDict(r[k]) && typeof (r[k] as Dict).memory === 'number')
          r[k] = { ...(r[k] as Dict), memory: String((r[k] as Dict).memory) };
      d.resources = r;
    }
    out.deploy = d;
  }
  if (s.depends_on && !isEmpty(s.depends_on)) {
    const deps: Dict = {};
    for (const [n, d] of Object.entries(s.depends_on)) {
      const x: Dict = { condition: d.condition, required: d.required };
      if (d.restart) x.restart = true;
      deps[n] = x;
    }
    out.depends_on = deps;
  }
  if (s.ulimits) {
    const u: Dict = {};
    for (const [n, l] of Object.entries(s.ulimits)) u[n] = l.soft === l.hard ? l.soft : l;
    out.ulimits = u;
  }
  if (s.develop?.watch) out.develop = { ...s.develop };
  return out;
}

/** The resolved model as docker compose prints it (enabled services only). */
export function projectToConfig(project: Project): Dict {
  const services: Dict = {};
  for (const [n, s] of Object.entries(project.services)) services[n] = renderService(s);
  const out: Dict = { name: project.name, services: sortKeys(services) };
  for (const kind of ['networks', 'volumes', 'secrets', 'configs'] as const) {
    const r = project[kind];
    if (r && Object.keys(r).length) out[kind] = sortKeys(r);
  }
  if (project.extensions) for (const [k, v] of Object.entries(project.extensions)) out[k] = sortKeys(v);
  return out;
}

function imageOf(project: Project, s: ServiceConfig): string {
  // docker compose names a built image <project>-<service>
  return s.image ?? `${project.name}-${s.name}`;
}

export function renderConfig(project: Project, opts: RenderOptions = {}): string {
  if (opts.quiet) return '';
  const lines = (xs: string[]) => (xs.length ? `${xs.join('\n')}\n` : '');
  if (opts.services) return lines(Object.keys(project.services).sort());
  if (opts.volumes) return lines(Object.keys(project.volumes).sort());
  if (opts.networks) return lines(Object.keys(project.networks).sort());
  if (opts.profiles) {
    const all = new Set<string>();
    for (const s of [...Object.values(project.services), ...Object.values(project.disabled_services)])
      for (const p of s.profiles ?? []) all.add(p);
    return lines([...all].sort());
  }
  if (opts.images)
    return lines(
      Object.values(project.services)
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((s) => imageOf(project, s)),
    );
  const model = projectToConfig(project);
  if (opts.format === 'json') return `${JSON.stringify(model, null, 2)}\n`;
  return stringify(model, { lineWidth: 0, aliasDuplicateObjects: false });
}
