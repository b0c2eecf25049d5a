import { InvalidArgumentError } from '../util/errors.ts';
import type { Filters } from './engine.ts';

/** Parses docker's repeated `--filter key=value` flags. */
export function parseFilters(args: readonly string[], allowed: readonly string[]): Filters {
  const out: Filters = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`bad format of filter (expected name=value): ${a}`);
    const key = a.slice(0, eq).trim().toLowerCase();
    if (!allowed.includes(key)) throw new InvalidArgumentError(`invalid filter '${key}'`);
    const values = out[key] ?? [];
    values.push(a.slice(eq + 1));
    out[key] = values;
  }
  return out;
}

/** `label=key` matches presence; `label=key=value` matches the value. */
export function matchLabels(labels: Record<string, string>, wanted: readonly string[] | undefined): boolean {
  if (!wanted) return true;
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return w in labels;
    return labels[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

/** Go's filepath.Match subset used by docker's reference filter: `*`, `?`, `[…]`. */
export function globMatch(pattern: string, s: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${re}$`).test(s);
}
