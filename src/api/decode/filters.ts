import type { Filters } from '../../engine/engine.ts';
import { InvalidArgumentError } from '../../util/errors.ts';

/**
 * The `filters` query parameter: JSON, either docker's current `{"key":{"value":true}}` or the old
 * `{"key":["value"]}` that API 1.24-era clients send. Unknown keys are refused, as docker does.
 */
export function decodeFilters(raw: unknown, allowed: readonly string[]): Filters {
  const s = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  if (s === undefined || s === null || s === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(s));
  } catch {
    throw new InvalidArgumentError(`invalid filter: ${String(s)}`);
  }
  if (parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new InvalidArgumentError(`invalid filter: ${String(s)}`);
  const out: Filters = {};
  for (const [key, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.includes(key)) throw new InvalidArgumentError(`invalid filter '${key}'`);
    let values: string[];
    if (Array.isArray(v)) values = v.map(String);
    else if (v && typeof v === 'object')
      values = Object.entries(v as Record<string, unknown>)
        .filter(([, on]) => on === true)
        .map(([k]) => k);
    else throw new InvalidArgumentError(`invalid filter '${key}': expected a list or a map of values`);
    if (values.length) out[key] = values;
  }
  return out;
}

/** The inverse, for the remote engine: docker's current map form. */
export function encodeFilters(f: Filters): string {
  const out: Record<string, Record<string, boolean>> = {};
  for (const [k, vs] of Object.entries(f)) out[k] = Object.fromEntries(vs.map((v) => [v, true]));
  return JSON.stringify(out);
}
