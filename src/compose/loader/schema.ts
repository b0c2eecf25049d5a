import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { defaultPaths } from '../../store/paths.ts';
import { ComposeFileError } from './yaml-file.ts';

/**
 * Validation against the vendored compose-spec JSON schema (compose-spec.json, see NOTICE.md).
 * Compiling the schema takes ~120 ms, so the compiled validator is cached as ajv "standalone"
 * code under the store root (owner-only directory) and reloaded in a few ms.
 */

function schemaFile(): string {
  // the schema sits beside this module in src/; a tsc build of dist/ does not copy JSON, so
  // fall back to the source tree next to dist/
  const here = fileURLToPath(new URL('./compose-spec.json', import.meta.url));
  if (existsSync(here)) return here;
  return fileURLToPath(new URL('../../../src/compose/loader/compose-spec.json', import.meta.url));
}

let validator: ValidateFunction | undefined;

function cacheDir(): string | undefined {
  const dir = join(defaultPaths().root, 'cache');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    // code from the cache is executed: only trust a directory nobody else can write to
    if (st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

function loadValidator(): ValidateFunction {
  if (validator !== undefined) return validator;
  const text = readFileSync(schemaFile(), 'utf8');
  const key = createHash('sha256').update(text).update('ajv8-standalone-v1').digest('hex').slice(0, 24);
  const dir = cacheDir();
  const cached = dir ? join(dir, `compose-schema-${key}.cjs`) : undefined;
  const require = createRequire(import.meta.url);
  const run = (code: string): ValidateFunction => {
    const mod: { exports: Record<string, unknown> } = { exports: {} };
    new Function('require', 'module', 'exports', code)(require, mod, mod.exports);
    return (mod.exports.default ?? mod.exports) as ValidateFunction;
  };
  if (cached && existsSync(cached)) {
    try {
      const st = statSync(cached);
      if (st.uid === process.getuid?.() && (st.mode & 0o022) === 0) {
        const v = run(readFileSync(cached, 'utf8'));
        validator = v;
        return v;
      }
    } catch {
      // a broken cache entry is rebuilt below
    }
  }
  // ajv itself (~35 ms to import) is only needed on a cache miss
  const AjvClass = (require('ajv') as { Ajv: typeof Ajv }).Ajv;
  const standaloneCode = require('ajv/dist/standalone/index.js') as (ajv: Ajv, v: ValidateFunction) => string;
  // the schema's $schema (draft-07 over https) is unknown to ajv: skip meta-validation
  const ajv = new AjvClass({ strict: false, validateSchema: false, allErrors: true, code: { source: true } });
  const compiled = ajv.compile(JSON.parse(text));
  validator = compiled;
  if (cached !== undefined) {
    try {
      const tmp = `${cached}.${process.pid}.tmp`;
      writeFileSync(tmp, standaloneCode(ajv, compiled), { mode: 0o600 });
      renameSync(tmp, cached);
    } catch {
      // caching is an optimisation only
    }
  }
  return compiled;
}

type Path = (string | number)[];

function decodePointer(p: string): string[] {
  if (!p) return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean',
  object: 'a mapping',
  array: 'a list',
  null: 'null',
};

function listOf(items: string[]): string {
  const u = [...new Set(items)];
  if (u.length <= 1) return u.join('');
  return `${u.slice(0, -1).join(', ')} or ${u[u.length - 1]}`;
}

function describe(errors: ErrorObject[]): string {
  // type mismatches against the alternatives of a oneOf/anyOf: list what would be accepted,
  // unless the value has one of those types and failed deeper (reported as its own error)
  const typeErrs = errors.filter((e) => e.keyword === 'type');
  const other = errors.filter((e) => e.keyword !== 'type' && e.keyword !== 'oneOf' && e.keyword !== 'anyOf');
  if (other.length > 0) {
    const e = other[0] as ErrorObject;
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'additionalProperties':
        return `additional property ${JSON.stringify(params.additionalProperty)} is not allowed`;
      case 'required':
        return `missing required property ${JSON.stringify(params.missingProperty)}`;
      case 'enum':
        return `must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      case 'const':
        return `must be ${JSON.stringify(params.allowedValue)}`;
      case 'pattern':
        return `does not match ${JSON.stringify(params.pattern)}`;
      case 'uniqueItems':
        return `must not contain duplicate items (items ${params.j} and ${params.i} are the same)`;
      case 'minItems':
        return `must have at least ${params.limit} items`;
      case 'not':
        return 'is not allowed here';
      default:
        return e.message ?? 'is invalid';
    }
  }
  if (typeErrs.length > 0) {
    const names: string[] = [];
    for (const e of typeErrs) {
      const t = (e.params as { type: string | string[] }).type;
      for (const x of Array.isArray(t) ? t : [t]) names.push(TYPE_NAMES[x] ?? x);
    }
    return `must be ${listOf(names)}`;
  }
  return errors[0]?.message ?? 'is invalid';
}

/**
 * Validates one compose file's data; throws naming the file and the key path, e.g.
 * `compose.yaml: services.web.ports.0 must be a number, a string or a mapping`.
 */
export function validateCompose(data: unknown, file: string, lineOf?: (p: Path) => number | undefined): void {
  const validate = loadValidator();
  if (validate(data)) return;
  const errors = validate.errors ?? [];
  // report the most specific place: the deepest instance path with errors
  let deepest: string[] = [];
  for (const e of errors) {
    const p = decodePointer(e.instancePath);
    if (p.length > deepest.length) deepest = p;
  }
  const encoded = deepest.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1'));
  const pointer = encoded.length ? `/${encoded.join('/')}` : '';
  const group = errors.filter((e) => e.instancePath === pointer);
  let path = deepest;
  let message = describe(group);
  // an unknown key is named in the path itself, which is what users search their file for
  const extra = group.find((e) => e.keyword === 'additionalProperties');
  if (extra && message.startsWith('additional property')) {
    const prop = String((extra.params as { additionalProperty: string }).additionalProperty);
    if (path.length === 0) {
      path = [prop];
      message = 'is not allowed at the top level';
    } else {
      path = [...path, prop];
      const top = deepest[0] as string;
      message =
        path.length === 2 && ['services', 'volumes', 'networks', 'secrets', 'configs'].includes(top)
          ? `is not a valid ${top.replace(/s$/, '')} name`
          : 'is not allowed';
    }
  }
  const line = lineOf?.(path);
  const where = path.length ? path.join('.') : '(top level)';
  throw new ComposeFileError(`${file}${line !== undefined ? `:${line}` : ''}: ${where} ${message}`);
}
