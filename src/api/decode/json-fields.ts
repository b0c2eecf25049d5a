import { InvalidArgumentError } from '../../util/errors.ts';

/**
 * Typed reads of a decoded JSON body, with Go's encoding/json strictness about types (a string
 * where a number belongs is a 400 naming the field) and its leniency about unknown fields and nulls.
 */
export type Json = Record<string, unknown>;

function bad(path: string, want: string, v: unknown): InvalidArgumentError {
  const got = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  return new InvalidArgumentError(
    `json: cannot unmarshal ${got} into Go struct field ${path} of type ${want}`,
  );
}

export function obj(o: Json, key: string, path: string): Json | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(`${path}.${key}`, 'object', v);
  return v as Json;
}

export function str(o: Json, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${path}.${key}`, 'string', v);
  return v;
}

export function num(o: Json, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${path}.${key}`, 'int64', v);
  return v;
}

export function bool(o: Json, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(`${path}.${key}`, 'bool', v);
  return v;
}

export function strs(o: Json, key: string, path: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`${path}.${key}`, '[]string', v);
  return v as string[];
}

/** docker's StrSlice: a JSON string or an array of strings. */
export function strSlice(o: Json, key: string, path: string): string[] | undefined {
  const v = o[key];
  if (typeof v === 'string') return [v];
  return strs(o, key, path);
}

export function strMap(o: Json, key: string, path: string): Record<string, string> | undefined {
  const m = obj(o, key, path);
  if (!m) return undefined;
  for (const [k, v] of Object.entries(m))
    if (typeof v !== 'string') throw bad(`${path}.${key}.${k}`, 'string', v);
  return m as Record<string, string>;
}

export function objList(o: Json, key: string, path: string): Json[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => !x || typeof x !== 'object' || Array.isArray(x)))
    throw bad(`${path}.${key}`, '[]object', v);
  return v as Json[];
}

/** The request body as an object; a missing body is an empty one. */
export function bodyObject(body: unknown, what: string): Json {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new InvalidArgumentError(
      `json: cannot unmarshal ${Array.isArray(body) ? 'array' : typeof body} into ${what}`,
    );
  return body as Json;
}
