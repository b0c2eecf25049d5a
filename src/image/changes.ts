import { parseHealthcheckInstruction } from '../container/health-config.ts';
import { InvalidArgumentError } from '../util/errors.ts';
import type { ImageRuntimeConfig } from './types.ts';

/**
 * Applies `--change` instructions (the Dockerfile subset docker accepts for import and commit)
 * to an image's runtime config.
 */
export function applyChanges(config: ImageRuntimeConfig, changes: readonly string[]): ImageRuntimeConfig {
  const out: ImageRuntimeConfig = structuredClone(config);
  for (const change of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(change);
    if (!m) throw new InvalidArgumentError(`invalid --change "${change}": want INSTRUCTION ARGUMENTS`);
    const instr = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    switch (instr) {
      case 'CMD':
        out.Cmd = commandForm(rest);
        break;
      case 'ENTRYPOINT':
        out.Entrypoint = commandForm(rest);
        break;
      case 'ENV':
        for (const [k, v] of keyValues(rest, true)) {
          out.Env = (out.Env ?? []).filter((e) => !e.startsWith(`${k}=`));
          out.Env.push(`${k}=${v}`);
        }
        break;
      case 'LABEL':
        out.Labels = { ...out.Labels };
        for (const [k, v] of keyValues(rest, false)) out.Labels[k] = v;
        break;
      case 'WORKDIR':
        out.WorkingDir = rest;
        break;
      case 'USER':
        out.User = rest;
        break;
      case 'STOPSIGNAL':
        out.StopSignal = rest;
        break;
      case 'EXPOSE':
        out.ExposedPorts = { ...out.ExposedPorts };
        for (const p of rest.split(/\s+/)) out.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {};
        break;
      case 'VOLUME':
        out.Volumes = { ...out.Volumes };
        for (const v of rest.startsWith('[') ? jsonArray(rest) : rest.split(/\s+/)) out.Volumes[v] = {};
        break;
      case 'HEALTHCHECK':
        out.Healthcheck = parseHealthcheckInstruction(rest);
        break;
      case 'ONBUILD':
        out.OnBuild = [...(out.OnBuild ?? []), rest];
        break;
      default:
        throw new InvalidArgumentError(`${instr} is not a valid change command`);
    }
  }
  return out;
}

function jsonArray(s: string): string[] {
  try {
    const v: unknown = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // fall through to the error below
  }
  throw new InvalidArgumentError(`invalid JSON array: ${s}`);
}

/** Exec form when the argument is a JSON string array, shell form otherwise (as the Dockerfile does). */
function commandForm(s: string): string[] {
  if (s.startsWith('[')) {
    try {
      return jsonArray(s);
    } catch {
      // Dockerfile semantics: text that is not a valid JSON array is shell form.
    }
  }
  return ['/bin/sh', '-c', s];
}

function unquote(s: string): string {
  if (s.length >= 2 && (s[0] === '"' || s[0] === "'") && s.at(-1) === s[0]) {
    const inner = s.slice(1, -1);
    return s[0] === '"' ? inner.replace(/\\(.)/g, '$1') : inner;
  }
  return s.replace(/\\(.)/g, '$1');
}

function splitWords(s: string): string[] {
  const words: string[] = [];
  const re = /(?:[^\s"']|\\.|"(?:[^"\\]|\\.)*"|'[^']*')+/g;
  for (const m of s.matchAll(re)) words.push(m[0]);
  return words;
}

/** `K=V K2="v 2"` pairs, or the legacy `K V` form when `legacy` is allowed and there is no `=`. */
function keyValues(s: string, legacy: boolean): [string, string][] {
  const words = splitWords(s);
  if (legacy && words.length > 0 && !words[0]!.includes('=')) {
    const sp = s.search(/\s/);
    if (sp < 0) throw new InvalidArgumentError(`ENV ${s}: want KEY=VALUE or KEY VALUE`);
    return [[s.slice(0, sp), s.slice(sp).trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`invalid key=value "${w}"`);
    return [unquote(w.slice(0, eq)), unquote(w.slice(eq + 1))];
  });
}
