import { InvalidArgumentError } from '../util/errors.ts';
import { parseDuration } from '../util/units.ts';

/**
 * docker's HealthConfig (api/types/container): durations in nanoseconds, 0 or absent = the default.
 * Test is `["NONE"]`, `["CMD", arg...]` or `["CMD-SHELL", command]`; empty inherits the image's.
 */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** Defaults and limits of moby's daemon/health.go. */
export const HEALTH_DEFAULTS = {
  interval: 30e9,
  timeout: 30e9,
  startPeriod: 0,
  startInterval: 5e9,
  retries: 3,
  maxOutput: 4096,
  maxLog: 5,
} as const;

const MINIMUM_NS = 1e6;

/** True when the healthcheck runs a probe (docker's getProbe is not nil). */
export function hasProbe(h: HealthConfig | undefined): h is HealthConfig & { Test: string[] } {
  const kind = h?.Test?.[0];
  return kind === 'CMD' || kind === 'CMD-SHELL';
}

/** Go's time.Duration.String(): `0s`, `500ms`, `1.5s`, `1m30s`, `2h0m0s`. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  let u = Math.abs(Math.round(ns));
  if (u < 1e3) return `${sign}${u}ns`;
  if (u < 1e6) return `${sign}${fraction(u, 1e3)}µs`;
  if (u < 1e9) return `${sign}${fraction(u, 1e6)}ms`;
  const h = Math.floor(u / 3.6e12);
  u -= h * 3.6e12;
  const m = Math.floor(u / 6e10);
  u -= m * 6e10;
  const s = `${fraction(u, 1e9)}s`;
  if (h) return `${sign}${h}h${m}m${s}`;
  if (m) return `${sign}${m}m${s}`;
  return `${sign}${s}`;
}

function fraction(v: number, unit: number): string {
  const whole = Math.floor(v / unit);
  const rest = v - whole * unit;
  if (rest === 0) return String(whole);
  const digits = String(unit).length - 1;
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}

/** A Go duration string in nanoseconds. */
export function durationNs(s: string): number {
  return Math.round(parseDuration(s) * 1e6);
}

/** The daemon's check of a HealthConfig (moby's validateHealthCheck). */
export function validateHealthcheck(h: HealthConfig | undefined): void {
  if (!h) return;
  const min = goDuration(MINIMUM_NS);
  const fields = ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const;
  for (const f of fields) {
    const v = h[f] ?? 0;
    if (v !== 0 && v < MINIMUM_NS)
      throw new InvalidArgumentError(`${f} in Healthcheck cannot be less than ${min}`);
  }
  if ((h.Retries ?? 0) < 0) throw new InvalidArgumentError('Retries in Healthcheck cannot be negative');
}

/** The container's healthcheck as docker merges it: the user's fields win one by one over the image's. */
export function mergeHealthcheck(
  image: HealthConfig | undefined,
  user: HealthConfig | undefined,
): HealthConfig | undefined {
  if (!user) return image ? compact(image) : undefined;
  if (!image) return compact(user);
  return compact({
    Test: user.Test?.length ? user.Test : image.Test,
    Interval: user.Interval || image.Interval,
    Timeout: user.Timeout || image.Timeout,
    StartPeriod: user.StartPeriod || image.StartPeriod,
    StartInterval: user.StartInterval || image.StartInterval,
    Retries: user.Retries || image.Retries,
  });
}

/** Drops zero fields, as Go's `omitempty` does when docker writes the config. */
function compact(h: HealthConfig): HealthConfig {
  const out: HealthConfig = {};
  if (h.Test?.length) out.Test = [...h.Test];
  if (h.Interval) out.Interval = h.Interval;
  if (h.Timeout) out.Timeout = h.Timeout;
  if (h.StartPeriod) out.StartPeriod = h.StartPeriod;
  if (h.StartInterval) out.StartInterval = h.StartInterval;
  if (h.Retries) out.Retries = h.Retries;
  return out;
}

/** The `--health-*` flags as the docker CLI reads them (durations already in ns; undefined = not given). */
export interface HealthFlags {
  cmd?: string;
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
  none: boolean;
}

/** docker CLI's opts.go: the user's HealthConfig, or undefined when no health flag was given. */
export function healthFromFlags(f: HealthFlags): HealthConfig | undefined {
  const have = !!f.cmd || !!f.interval || !!f.timeout || !!f.startPeriod || !!f.retries || !!f.startInterval;
  if (f.none) {
    if (have) throw new InvalidArgumentError('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!have) return undefined;
  const negative: [keyof HealthFlags, string][] = [
    ['interval', 'interval'],
    ['timeout', 'timeout'],
    ['retries', 'retries'],
    ['startPeriod', 'start-period'],
    ['startInterval', 'start-interval'],
  ];
  for (const [k, flag] of negative) {
    if (((f[k] as number | undefined) ?? 0) < 0)
      throw new InvalidArgumentError(`--health-${flag} cannot be negative`);
  }
  return {
    ...(f.cmd ? { Test: ['CMD-SHELL', f.cmd] } : {}),
    Interval: f.interval ?? 0,
    Timeout: f.timeout ?? 0,
    StartPeriod: f.startPeriod ?? 0,
    StartInterval: f.startInterval ?? 0,
    Retries: f.retries ?? 0,
  };
}

/**
 * The arguments of a HEALTHCHECK instruction (Dockerfile, `--change`):
 * `NONE`, or `[--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D] [--retries=N] CMD command`.
 */
export function parseHealthcheckInstruction(args: string): HealthConfig {
  let rest = args.trim();
  const flags = new Map<string, string>();
  for (let m = /^--([^\s=]+)(=(\S*))?(\s+|$)/.exec(rest); m; m = /^--([^\s=]+)(=(\S*))?(\s+|$)/.exec(rest)) {
    const name = m[1]!;
    if (!['interval', 'timeout', 'start-period', 'start-interval', 'retries'].includes(name))
      throw new InvalidArgumentError(`Unknown flag: ${name}`);
    if (m[2] === undefined) throw new InvalidArgumentError(`Missing a value on flag: --${name}`);
    flags.set(name, m[3]!);
    rest = rest.slice(m[0].length);
  }
  const sp = rest.search(/\s/);
  const typ = (sp < 0 ? rest : rest.slice(0, sp)).toUpperCase();
  const command = sp < 0 ? '' : rest.slice(sp).trim();
  if (typ === 'NONE') {
    if (flags.size > 0 || command) throw new InvalidArgumentError('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (typ !== 'CMD') throw new InvalidArgumentError(`Unknown type "${typ}" in HEALTHCHECK (try CMD)`);
  if (!command) throw new InvalidArgumentError('Missing command after HEALTHCHECK CMD');
  const out: HealthConfig = { Test: ['CMD-SHELL', command] };
  if (command.startsWith('[')) {
    try {
      const v: unknown = JSON.parse(command);
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out.Test = ['CMD', ...v];
    } catch {
      // not a JSON array: shell form, as the Dockerfile parser decides
    }
  }
  const interval = (name: string): number => {
    const s = flags.get(name);
    if (!s) return 0;
    const d = durationNs(s);
    if (d !== 0 && d < MINIMUM_NS)
      throw new InvalidArgumentError(`Interval "${name}" cannot be less than ${goDuration(MINIMUM_NS)}`);
    return d;
  };
  const fields: [keyof HealthConfig, string][] = [
    ['Interval', 'interval'],
    ['Timeout', 'timeout'],
    ['StartPeriod', 'start-period'],
    ['StartInterval', 'start-interval'],
  ];
  for (const [k, name] of fields) {
    const d = interval(name);
    if (d) (out as Record<string, unknown>)[k] = d;
  }
  const retries = flags.get('retries');
  if (retries) {
    if (!/^[+-]?\d+$/.test(retries))
      throw new InvalidArgumentError(`strconv.ParseInt: parsing "${retries}": invalid syntax`);
    const n = Number(retries);
    if (n < 0) throw new InvalidArgumentError(`--retries cannot be negative (${n})`);
    if (n) out.Retries = n;
  }
  return out;
}
