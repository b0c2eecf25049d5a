import { readFileSync, statSync } from 'node:fs';
import { BerthError } from '../../util/errors.ts';
import { interpolateString, type Lookup } from './interpolate.ts';

/**
 * `.env` / `env_file` parsing as docker compose does it: `KEY=VALUE`, `export KEY=VALUE`,
 * `KEY: VALUE`, `# comments`, inline ` #` comments on unquoted values, single quotes literal,
 * double quotes with escapes and multi-line values, `${VAR}` expanded from `lookup` first and
 * then from keys defined earlier in the files; a bare `KEY` line takes KEY from `lookup`.
 */
export function parseDotenv(src: string, out: Record<string, string>, lookup: Lookup, file = ''): void {
  const fail = (line: number, msg: string): never => {
    throw new BerthError(`failed to read ${file || 'env file'}: line ${line}: ${msg}`, 1, 'invalid');
  };
  const resolve: Lookup = (k) => lookup(k) ?? out[k];
  let i = 0;
  let line = 1;
  const n = src.length;
  const isSpace = (c: string | undefined) =>
    c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v';
  while (i < n) {
    // skip blank space and comment lines
    while (i < n && (isSpace(src[i]) || src[i] === '\n')) {
      if (src[i] === '\n') line++;
      i++;
    }
    if (i >= n) break;
    if (src[i] === '#') {
      while (i < n && src[i] !== '\n') i++;
      continue;
    }
    if (src.startsWith('export', i) && isSpace(src[i + 6])) {
      i += 6;
      while (isSpace(src[i])) i++;
    }
    const keyStart = i;
    let sep = '';
    while (i < n) {
      const c = src[i] as string;
      if (c === '=' || c === ':' || c === '\n') {
        sep = c;
        break;
      }
      if (!/[\p{L}\p{N}_.\-[\] \t]/u.test(c))
        fail(line, `unexpected character "${c}" in variable name "${src.slice(keyStart).split('\n')[0]}"`);
      i++;
    }
    const key = src.slice(keyStart, i).trim();
    if (key.includes(' ') || key.includes('\t')) fail(line, 'key cannot contain a space');
    if (sep === '\n' || sep === '') {
      // a bare key inherits the value from the environment
      const v = lookup(key);
      if (v !== undefined) out[key] = v;
      continue;
    }
    i++; // past '=' or ':'
    while (isSpace(src[i])) i++;
    const q = src[i];
    if (q === '"' || q === "'") {
      let j = i + 1;
      let raw = '';
      let escaped = false;
      let closed = false;
      for (; j < n; j++) {
        const c = src[j] as string;
        if (c === '\n') line++;
        if (escaped) {
          raw += c === q ? c : `\\${c}`;
          escaped = false;
          continue;
        }
        if (c === '\\') {
          escaped = true;
          continue;
        }
        if (c === q) {
          closed = true;
          break;
        }
        raw += c;
      }
      if (!closed) fail(line, `unterminated quoted value ${src.slice(i).split('\n')[0]}`);
      out[key] = q === '"' ? interpolateString(expandEscapes(raw), { lookup: resolve }, key) : raw;
      i = j + 1;
      // the rest of the line after the closing quote is ignored (usually a comment)
      while (i < n && src[i] !== '\n') i++;
    } else {
      let end = src.indexOf('\n', i);
      if (end < 0) end = n;
      let value = src.slice(i, end);
      const hash = value.indexOf(' #');
      if (hash >= 0) value = value.slice(0, hash);
      value = value.trimEnd();
      out[key] = interpolateString(value, { lookup: resolve }, key);
      i = end;
    }
  }
}

const ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  c: '',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '"': '"',
  '\\': '\\',
};

function expandEscapes(s: string): string {
  return s.replace(/\\([abcfnrtv$"\\]|0[0-7]{0,3})/g, (m, c: string) => {
    if (c === '$') return '$$'; // keeps a literal `$` through interpolation
    if (c.startsWith('0')) return String.fromCharCode(Number.parseInt(c.slice(1) || '0', 8));
    return ESCAPES[c] ?? m;
  });
}

/**
 * Reads env files in order; later files override earlier ones, and `${VAR}` inside them sees
 * `lookup` (the shell environment) before values from the files.
 */
export function readEnvFiles(files: string[], lookup: Lookup): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(f);
    } catch {
      throw new BerthError(`couldn't find env file: ${f}`, 1, 'notFound');
    }
    if (st.isDirectory()) throw new BerthError(`${f} is a directory`, 1, 'invalid');
    parseDotenv(readFileSync(f, 'utf8'), out, lookup, f);
  }
  return out;
}
