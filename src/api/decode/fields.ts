import { InvalidArgumentError } from '../../util/errors.ts';

/**
 * Small typed readers for Engine API request bodies. docker's daemon decodes bodies with Go's
 * encoding/json; we are stricter about unknown fields (a typo must not be silently ignored) and give
 * the field's path in every message.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function objectOf(v: unknown, what: string, known?: readonly string[]): JsonObject {
  if (v === undefined || v === null || v === '') return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgumentError(`${what}: expected a JSON object`);
  const o = v as JsonObject;
  if (known) {
    const unknown = Object.keys(o).filter((k) => !known.includes(k));
    if (unknown.length) throw new InvalidArgumentError(`${what}: unknown field "${unknown[0]}"`);
  }
  return o;
}

export function str(o: JsonObject, key: string, what: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new InvalidArgumentError(`${what}.${key}: expected a string`);
  return v;
}

export function bool(o: JsonObject, key: string, what: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`${what}.${key}: expected true or false`);
  return v;
}

export function num(o: JsonObject, key: string, what: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new InvalidArgumentError(`${what}.${key}: expected a number`);
  return v;
}

export function strList(o: JsonObject, key: string, what: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new InvalidArgumentError(`${what}.${key}: expected a list of strings`);
  return v as string[];
}

export function strMap(o: JsonObject, key: string, what: string): Record<string, string> {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))
    throw new InvalidArgumentError(`${what}.${key}: expected an object of strings`);
  return { ...(v as Record<string, string>) };
}

/** A query flag as docker's httputils.BoolValue reads it: anything but '', '0', 'no', 'false', 'none'. */
export function queryBool(v: unknown): boolean {
  const s = (Array.isArray(v) ? v[v.length - 1] : v) as string | undefined;
  if (s === undefined) return false;
  return !['', '0', 'no', 'false', 'none'].includes(String(s).trim().toLowerCase());
}

/** A query value that may be given several times (`t=a&t=b`). */
export function queryList(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

export function queryString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return String(Array.isArray(v) ? v[v.length - 1] : v);
}

/** A query value holding JSON (`buildargs`, `labels`): an object of strings, or 400. */
export function queryJsonMap(v: unknown, name: string): Record<string, string> {
  const s = queryString(v);
  if (!s) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    throw new InvalidArgumentError(`${name}: invalid JSON`);
  }
  if (parsed === null) return {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(objectOf(parsed, name))) {
    // buildargs may map a name to null: "take it from the environment", which a daemon has not got.
    if (val === null) continue;
    if (typeof val !== 'string') throw new InvalidArgumentError(`${name}.${k}: expected a string`);
    out[k] = val;
  }
  return out;
}
