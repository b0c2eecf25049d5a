import type { Filters } from '../engine/engine.ts';
import { InvalidArgumentError } from '../util/errors.ts';

/** A request's query as fastify parses it: repeated keys become arrays. */
export type Query = Record<string, string | string[] | undefined>;

function one(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v.at(-1) : v;
}

export function qStr(q: Query, name: string): string | undefined {
  return one(q, name);
}

/** Repeated (`?t=a&t=b`) values, as docker's `r.Form[name]`. */
export function qList(q: Query, name: string): string[] {
  const v = q[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** docker's httputils.BoolValue: anything but '', '0', 'no', 'false', 'none' is true. */
export function qBool(q: Query, name: string, dflt = false): boolean {
  const v = one(q, name);
  if (v === undefined) return dflt;
  return !['', '0', 'no', 'false', 'none'].includes(v.trim().toLowerCase());
}

export function qInt(q: Query, name: string): number | undefined {
  const v = one(q, name);
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n))
    throw new InvalidArgumentError(`strconv.Atoi: parsing "${v}": invalid syntax (query parameter ${name})`);
  return n;
}

/**
 * docker's `filters` query: JSON `{"key":["v1","v2"]}`, or the pre-1.22 form `{"key":{"v1":true}}`.
 */
export function qFilters(q: Query, name = 'filters'): Filters {
  const raw = one(q, name);
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new InvalidArgumentError(`invalid filter: ${(err as Error).message}`);
  }
  if (parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new InvalidArgumentError('invalid filter: want a JSON object of filter names to values');
  const out: Filters = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v && typeof v === 'object')
      out[k] = Object.entries(v as Record<string, unknown>)
        .filter(([, on]) => on === true)
        .map(([x]) => x);
    else throw new InvalidArgumentError(`invalid filter: the value of '${k}' must be a list`);
  }
  return out;
}
