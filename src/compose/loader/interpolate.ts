import { BerthError } from '../../util/errors.ts';

/**
 * Compose variable interpolation (compose-spec 12-interpolation.md): `$V`, `${V}`, `${V:-d}`,
 * `${V-d}`, `${V:?err}`, `${V?err}`, `${V:+x}`, `${V+x}`, `$$`, with nested expressions in the
 * default/error/alternative part. A `$` not followed by a name, `{` or `$` stays literal; a
 * malformed `${…}` is an error, as in docker compose.
 */

export type Lookup = (name: string) => string | undefined;

export class InterpolationError extends BerthError {
  constructor(message: string) {
    super(message, 1, 'invalid');
  }
}

export interface InterpolateOptions {
  lookup: Lookup;
  /** Called once per unset variable used without a default. */
  onUnset?: (name: string) => void;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/** Index of the `}` closing the `${` that starts at `open` (the index of `{`), or -1. */
function closingBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

class InvalidTemplate extends Error {}

export class MissingRequired extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(
      reason
        ? `required variable ${variable} is missing a value: ${reason}`
        : `required variable ${variable} is missing a value`,
    );
  }
}

function substituteBraced(body: string, opts: InterpolateOptions): string {
  let i = 0;
  if (!NAME_START.test(body[0] ?? '')) throw new InvalidTemplate();
  while (i < body.length && NAME_CHAR.test(body[i] as string)) i++;
  const name = body.slice(0, i);
  const value = opts.lookup(name);
  if (i === body.length) {
    if (value === undefined) opts.onUnset?.(name);
    return value ?? '';
  }
  let op = body[i] as string;
  let rest: string;
  if (op === ':') {
    const next = body[i + 1];
    if (next !== '-' && next !== '?' && next !== '+') throw new InvalidTemplate();
    op = `:${next}`;
    rest = body.slice(i + 2);
  } else if (op === '-' || op === '?' || op === '+') {
    rest = body.slice(i + 1);
  } else {
    throw new InvalidTemplate();
  }
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  switch (op) {
    case ':-':
      return nonEmpty ? (value as string) : substitute(rest, opts);
    case '-':
      return set ? (value as string) : substitute(rest, opts);
    case ':?':
      if (!nonEmpty) throw new MissingRequired(name, substitute(rest, opts));
      return value as string;
    case '?':
      if (!set) throw new MissingRequired(name, substitute(rest, opts));
      return value as string;
    case ':+':
      return nonEmpty ? substitute(rest, opts) : '';
    default: // '+'
      return set ? substitute(rest, opts) : '';
  }
}

function substitute(s: string, opts: InterpolateOptions): string {
  if (!s.includes('$')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = s[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{') {
      const end = closingBrace(s, i + 1);
      if (end < 0) throw new InvalidTemplate();
      out += substituteBraced(s.slice(i + 2, end), opts);
      i = end + 1;
    } else if (next !== undefined && NAME_START.test(next)) {
      let j = i + 1;
      while (j < s.length && NAME_CHAR.test(s[j] as string)) j++;
      const name = s.slice(i + 1, j);
      const value = opts.lookup(name);
      if (value === undefined) opts.onUnset?.(name);
      out += value ?? '';
      i = j;
    } else {
      out += '$';
      i++;
    }
  }
  return out;
}

/**
 * Interpolates one string. `where` names the value in errors (e.g. `services.web.image`).
 * Throws InterpolationError for malformed templates and missing required variables.
 */
export function interpolateString(s: string, opts: InterpolateOptions, where = ''): string {
  try {
    return substitute(s, opts);
  } catch (e) {
    if (e instanceof InvalidTemplate)
      throw new InterpolationError(
        `invalid interpolation format for ${where || 'value'}: "${s}"; you may need to escape any $ with another $`,
      );
    if (e instanceof MissingRequired)
      throw new InterpolationError(where ? `error while interpolating ${where}: ${e.message}` : e.message);
    throw e;
  }
}

type Cast = 'int' | 'float' | 'bool';

/** Values compose turns back into numbers/booleans after interpolation (compose-go's type-cast table). */
const CASTS: [string[], Cast][] = [
  [['services', '*', 'cpu_count'], 'int'],
  [['services', '*', 'cpu_percent'], 'float'],
  [['services', '*', 'cpu_period'], 'int'],
  [['services', '*', 'cpu_quota'], 'int'],
  [['services', '*', 'cpu_rt_period'], 'int'],
  [['services', '*', 'cpu_rt_runtime'], 'int'],
  [['services', '*', 'cpus'], 'float'],
  [['services', '*', 'cpu_shares'], 'int'],
  [['services', '*', 'init'], 'bool'],
  [['services', '*', 'depends_on', '*', 'required'], 'bool'],
  [['services', '*', 'depends_on', '*', 'restart'], 'bool'],
  [['services', '*', 'deploy', 'replicas'], 'int'],
  [['services', '*', 'deploy', 'restart_policy', 'max_attempts'], 'int'],
  [['services', '*', 'healthcheck', 'retries'], 'int'],
  [['services', '*', 'healthcheck', 'disable'], 'bool'],
  [['services', '*', 'oom_kill_disable'], 'bool'],
  [['services', '*', 'oom_score_adj'], 'int'],
  [['services', '*', 'pids_limit'], 'int'],
  [['services', '*', 'ports', '[]', 'target'], 'int'],
  [['services', '*', 'privileged'], 'bool'],
  [['services', '*', 'read_only'], 'bool'],
  [['services', '*', 'scale'], 'int'],
  [['services', '*', 'stdin_open'], 'bool'],
  [['services', '*', 'tty'], 'bool'],
  [['services', '*', 'ulimits', '*'], 'int'],
  [['services', '*', 'ulimits', '*', 'hard'], 'int'],
  [['services', '*', 'ulimits', '*', 'soft'], 'int'],
  [['services', '*', 'volumes', '[]', 'read_only'], 'bool'],
  [['services', '*', 'volumes', '[]', 'volume', 'nocopy'], 'bool'],
  [['networks', '*', 'external'], 'bool'],
  [['networks', '*', 'internal'], 'bool'],
  [['networks', '*', 'attachable'], 'bool'],
  [['networks', '*', 'enable_ipv4'], 'bool'],
  [['networks', '*', 'enable_ipv6'], 'bool'],
  [['volumes', '*', 'external'], 'bool'],
  [['secrets', '*', 'external'], 'bool'],
  [['configs', '*', 'external'], 'bool'],
];

function castFor(path: string[]): Cast | undefined {
  for (const [pattern, cast] of CASTS) {
    if (pattern.length !== path.length) continue;
    if (
      pattern.every((p, i) => p === '*' || p === path[i] || (p === '[]' && /^\d+$/.test(path[i] as string)))
    )
      return cast;
  }
  return undefined;
}

function cast(value: string, kind: Cast, where: string): string | number | boolean {
  if (kind === 'bool') {
    switch (value.toLowerCase()) {
      case 'true':
      case 'y':
      case 'yes':
      case 'on':
        return true;
      case 'false':
      case 'n':
      case 'no':
      case 'off':
        return false;
    }
    throw new InterpolationError(`error while interpolating ${where}: invalid boolean: "${value}"`);
  }
  // Strings such as "8080" for ulimits may also be non-numeric on purpose (e.g. "unlimited"):
  // only exact numbers are cast, and the schema then reports anything else.
  const n = kind === 'int' ? /^[-+]?\d+$/.test(value) : /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value);
  if (!n) throw new InterpolationError(`error while interpolating ${where}: "${value}" is not a number`);
  return Number(value);
}

/**
 * Interpolates every string value of a parsed compose document (keys stay as written, as the
 * spec says) and casts values the schema types as numbers or booleans.
 */
export function interpolateTree(value: unknown, opts: InterpolateOptions, path: string[] = []): unknown {
  if (typeof value === 'string') {
    const where = path.join('.');
    const s = interpolateString(value, opts, where);
    const kind = castFor(path);
    return kind ? cast(s, kind, where) : s;
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => interpolateTree(v, opts, [...path, String(i)]));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      out[k] = interpolateTree(v, opts, [...path, k]);
    return out;
  }
  return value;
}
