import { createHash } from 'node:crypto';
import type { ServiceConfig } from './model.ts';

/** JSON with object keys sorted at every level, so the same config hashes the same anywhere. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
}

/**
 * docker compose's ServiceHash: sha256 of the service config without the keys that do not change a
 * container (build, pull_policy, scale, deploy.replicas, depends_on, profiles) nor its `name`
 * (compose-go does not serialise it). Keys are sorted so the hash is stable across runs and machines.
 */
export function serviceHash(s: ServiceConfig): string {
  const {
    name: _name,
    build: _build,
    pull_policy: _pull,
    scale: _scale,
    depends_on: _deps,
    profiles: _profiles,
    ...rest
  } = s;
  const o: Record<string, unknown> = { ...rest };
  if (s.deploy) {
    const { replicas: _r, ...deploy } = s.deploy;
    o.deploy = deploy;
  }
  return createHash('sha256').update(canonicalJson(o)).digest('hex');
}
