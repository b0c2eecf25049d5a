import { BerthError } from '../util/errors.ts';
import type { Project, ServiceConfig } from './model.ts';

/**
 * Services needed to run `names`: the services themselves and, unless `noDeps`, everything they
 * depend on. A named service whose profile is not enabled is enabled by naming it, as in docker
 * compose; dependencies are pulled from the disabled ones too.
 */
export function selectServices(project: Project, names: string[], noDeps = false): ServiceConfig[] {
  const all = { ...project.disabled_services, ...project.services };
  if (names.length === 0) return Object.values(project.services);
  const out = new Map<string, ServiceConfig>();
  const visit = (name: string, from?: string) => {
    if (out.has(name)) return;
    const s = all[name];
    if (!s) {
      if (from) {
        const dep = all[from]?.depends_on[name];
        if (dep && !dep.required) return;
        throw new BerthError(
          `service "${from}" depends on undefined service "${name}": invalid compose project`,
        );
      }
      throw new BerthError(`no such service: ${name}`, 1, 'notFound');
    }
    out.set(name, s);
    if (!noDeps) for (const d of Object.keys(s.depends_on)) visit(d, name);
  };
  for (const n of names) visit(n);
  return [...out.values()];
}

/**
 * Dependency order: every service after the ones it depends on (within `services`); ties in file
 * order. Throws on a cycle, naming it.
 */
export function dependencyOrder(services: ServiceConfig[]): ServiceConfig[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const out: ServiceConfig[] = [];
  const visit = (s: ServiceConfig, path: string[]) => {
    const st = state.get(s.name);
    if (st === 'done') return;
    if (st === 'visiting')
      throw new BerthError(`dependency cycle detected: ${[...path, s.name].join(' -> ')}`);
    state.set(s.name, 'visiting');
    for (const d of Object.keys(s.depends_on)) {
      const dep = byName.get(d);
      if (dep) visit(dep, [...path, s.name]);
    }
    state.set(s.name, 'done');
    out.push(s);
  };
  for (const s of services) visit(s, []);
  return out;
}

/** Services (of `services`) that depend on `name`, directly; `filter` picks dependency kinds. */
export function dependents(
  services: ServiceConfig[],
  name: string,
  filter: (d: ServiceConfig['depends_on'][string]) => boolean = () => true,
): ServiceConfig[] {
  return services.filter((s) => s.depends_on[name] && filter(s.depends_on[name]!));
}
