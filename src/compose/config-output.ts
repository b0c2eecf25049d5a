import { stringify } from 'yaml';
import { serviceImage } from './convert.ts';
import { serviceHash } from './hash.ts';
import type { Project, ServiceConfig } from './model.ts';

export interface ConfigOutputOptions {
  services?: boolean;
  volumes?: boolean;
  networks?: boolean;
  profiles?: boolean;
  images?: boolean;
  hash?: boolean;
  quiet?: boolean;
  format: string;
  /** Services to print (all when empty). */
  only: string[];
}

/** Go's time.Duration.String() of milliseconds, as docker compose prints durations. */
export function goDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const sec = `${Number(s.toFixed(3))}s`;
  if (h) return `${h}h${m}m${sec}`;
  if (m) return `${m}m${sec}`;
  return sec;
}

function withDurations(s: ServiceConfig): Record<string, unknown> {
  const { name: _n, ...o } = structuredClone(s) as ServiceConfig & Record<string, unknown>;
  const out = o as Record<string, unknown>;
  if (s.healthcheck) {
    const h: Record<string, unknown> = { ...s.healthcheck };
    for (const k of ['interval', 'timeout', 'start_period', 'start_interval'])
      if (typeof h[k] === 'number') h[k] = goDurationMs(h[k] as number);
    out.healthcheck = h;
  }
  if (s.stop_grace_period !== undefined) out.stop_grace_period = goDurationMs(s.stop_grace_period);
  const rp = s.deploy?.restart_policy;
  if (rp) {
    const r: Record<string, unknown> = { ...rp };
    for (const k of ['delay', 'window']) if (typeof r[k] === 'number') r[k] = goDurationMs(r[k] as number);
    out.deploy = { ...s.deploy, restart_policy: r };
  }
  for (const p of s.ports) if (p.published !== undefined) p.published = String(p.published);
  if (Object.keys(s.environment).length === 0) delete out.environment;
  for (const k of ['ports', 'expose', 'volumes'] as const) if (s[k].length === 0) delete out[k];
  if (Object.keys(s.labels).length === 0) delete out.labels;
  if (Object.keys(s.depends_on).length === 0) delete out.depends_on;
  return sortKeys(out);
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `compose config`: the resolved model as docker compose prints it, or one of its lists. */
export function renderConfig(project: Project, o: ConfigOutputOptions): string {
  const services = Object.values(project.services).filter((s) => o.only.length === 0 || o.only.includes(s.name));
  const lines = (xs: Iterable<string>) => [...xs].map((x) => `${x}\n`).join('');
  if (o.quiet) return '';
  if (o.services) return lines(services.map((s) => s.name));
  if (o.volumes) return lines(Object.keys(project.volumes));
  if (o.networks) return lines(Object.keys(project.networks));
  if (o.profiles) {
    const all = new Set<string>();
    for (const s of [...Object.values(project.services), ...Object.values(project.disabled_services)])
      for (const p of s.profiles ?? []) all.add(p);
    return lines([...all].sort());
  }
  if (o.images) return lines(services.map((s) => serviceImage(project, s)));
  if (o.hash) return lines(services.map((s) => `${s.name} ${serviceHash(s)}`));
  const doc: Record<string, unknown> = { name: project.name };
  doc.services = Object.fromEntries(services.sort((a, b) => a.name.localeCompare(b.name)).map((s) => [s.name, withDurations(s)]));
  for (const k of ['networks', 'volumes', 'secrets', 'configs'] as const)
    if (Object.keys(project[k]).length) doc[k] = project[k];
  if (project.extensions) Object.assign(doc, project.extensions);
  if (o.format === 'json') return `${JSON.stringify(doc, null, 2)}\n`;
  return stringify(doc, { aliasDuplicateObjects: false, lineWidth: 0 });
}
