import type { Dict } from './canonical.ts';

/**
 * Merging of canonical compose data (compose-spec 13-merge.md): mappings merge key by key,
 * sequences append, `command`/`entrypoint`/`healthcheck.test` are replaced, and the "unique
 * resources" (ports, volumes, secrets, configs, …) replace an earlier entry with the same key.
 * `!reset` / `!override` paths of the overriding file are removed from the base first.
 */

const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

type KeyFn = (e: unknown) => string;

const exact: KeyFn = (e) => JSON.stringify(e);

/** Sequence keys (relative to a service) whose entries are unique by a key. */
const SERVICE_UNIQUE: Record<string, KeyFn> = {
  ports: (e) => {
    const p = e as Dict;
    return `${p.host_ip ?? '0.0.0.0'}:${p.published ?? ''}:${p.target}/${p.protocol ?? 'tcp'}`;
  },
  volumes: (e) => String((e as Dict).target),
  secrets: (e) => {
    const s = e as Dict;
    return String(s.target ?? `/run/secrets/${s.source}`);
  },
  configs: (e) => {
    const s = e as Dict;
    return String(s.target ?? `/${s.source}`);
  },
  env_file: (e) => String((e as Dict).path),
  extra_hosts: exact,
  dns: exact,
  dns_search: exact,
  dns_opt: exact,
  tmpfs: exact,
  cap_add: exact,
  cap_drop: exact,
  profiles: exact,
  expose: exact,
  links: exact,
  devices: (e) => {
    const parts = String(e).split(':');
    return parts[1] ?? parts[0] ?? '';
  },
  security_opt: exact,
  external_links: exact,
  volumes_from: exact,
  group_add: exact,
  label_file: exact,
};

/** Keys (relative to a service) that replace instead of merging. */
const SERVICE_REPLACE = new Set(['command', 'entrypoint', 'healthcheck.test']);

function mergeUnique(base: unknown[], over: unknown[], keyOf: KeyFn): unknown[] {
  // entries left as strings (interpolation off) are only equal to themselves
  const key = (e: unknown) => (typeof e === 'string' && keyOf !== exact ? `raw:${e}` : keyOf(e));
  const out = [...base];
  const index = new Map<string, number>();
  out.forEach((e, i) => {
    index.set(key(e), i);
  });
  for (const e of over) {
    const k = key(e);
    const i = index.get(k);
    if (i === undefined) {
      index.set(k, out.length);
      out.push(e);
    } else out[i] = isDict(out[i]) && isDict(e) ? mergeValue(out[i], e, '') : e;
  }
  return out;
}

/** Merges `over` into `base` (neither is modified); `rel` is the dot path inside a service. */
function mergeValue(base: unknown, over: unknown, rel: string, inService = false): unknown {
  if (over === undefined) return structuredClone(base);
  if (inService && SERVICE_REPLACE.has(rel)) return structuredClone(over);
  if (inService && rel === 'logging' && isDict(base) && isDict(over)) {
    // options merge only when both use the same driver (or one names none)
    if (base.driver !== undefined && over.driver !== undefined && base.driver !== over.driver)
      return structuredClone(over);
  }
  if (isDict(base) && isDict(over)) {
    const out: Dict = structuredClone(base);
    for (const [k, v] of Object.entries(over)) {
      const childRel = rel ? `${rel}.${k}` : k;
      out[k] = k in out ? mergeValue(out[k], v, childRel, inService) : structuredClone(v);
    }
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over)) {
    const key = inService ? SERVICE_UNIQUE[rel] : undefined;
    if (key) return mergeUnique(base, over, key);
    if (inService && (rel.endsWith('.aliases') || rel === 'build.cache_from' || rel === 'build.tags'))
      return mergeUnique(base, over, exact);
    if (rel.endsWith('ipam.config'))
      return mergeUnique(base, over, (e) => String((e as Dict).subnet ?? JSON.stringify(e)));
    return [...structuredClone(base), ...structuredClone(over)];
  }
  return structuredClone(over);
}

export function mergeService(base: Dict, over: Dict): Dict {
  return mergeValue(base, over, '', true) as Dict;
}

/** Deletes `paths` (from `!reset`/`!override`) from `data` in place. */
export function applyResets(data: Dict, paths: string[][]): void {
  for (const p of paths) {
    let cur: unknown = data;
    for (let i = 0; i < p.length - 1 && cur !== undefined; i++) {
      const k = p[i] as string;
      cur = isDict(cur) ? cur[k] : Array.isArray(cur) ? undefined : undefined;
    }
    const last = p[p.length - 1] as string;
    if (isDict(cur)) delete cur[last];
  }
}

/** Merges one canonical file into the accumulated project data. */
export function mergeFiles(base: Dict, over: Dict): Dict {
  const out: Dict = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    if (k === 'services' && isDict(v)) {
      const services: Dict = isDict(out.services) ? out.services : {};
      for (const [name, svc] of Object.entries(v))
        services[name] =
          isDict(services[name]) && isDict(svc)
            ? mergeService(services[name] as Dict, svc)
            : structuredClone(svc);
      out.services = services;
    } else if (k in out) out[k] = mergeValue(out[k], v, '');
    else out[k] = structuredClone(v);
  }
  return out;
}
