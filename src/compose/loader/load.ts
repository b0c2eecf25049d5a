import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { BerthError } from '../../util/errors.ts';
import type { LoadOptions, Project } from '../model.ts';
import { canonFile, type Dict } from './canonical.ts';
import { readEnvFiles } from './dotenv.ts';
import { InterpolationError, interpolateString, interpolateTree } from './interpolate.ts';
import { applyResets, mergeFiles, mergeService } from './merge.ts';
import { finalizeProject } from './normalize.ts';
import { checkProjectName, discoverFiles, normalizeProjectName } from './project-name.ts';
import { validateCompose } from './schema.ts';
import { resolveHostPath } from './short-syntax.ts';
import { ComposeFileError, type ParsedDoc, parseComposeYaml } from './yaml-file.ts';

/**
 * `loadProject`: compose files found or given, env files read, project name chosen, every file
 * parsed → interpolated → validated against the compose-spec schema → includes and extends
 * resolved → put in canonical form → merged in order, then normalized into the typed model.
 */

export interface LoaderOptions extends LoadOptions {
  /** Warnings (unset variables, several default files, …); default: printed to stderr. */
  onWarning?: (msg: string) => void;
}

const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

interface Ctx {
  env: Record<string, string>;
  interpolate: boolean;
  warn: (msg: string) => void;
  /** Unset variables already warned about. */
  unset: Set<string>;
  /** Parsed files by absolute path (stdin as `-`). */
  cache: Map<string, ParsedDoc[]>;
}

/** How a file is named in messages: relative to the cwd when inside it. */
export function displayPath(f: string): string {
  if (f === '-') return '(stdin)';
  const rel = relative(process.cwd(), f);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : f;
}

function readFile(path: string, ctx: Ctx): ParsedDoc[] {
  const hit = ctx.cache.get(path);
  if (hit) return hit;
  let text: string;
  try {
    text = path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BerthError(
      code === 'ENOENT'
        ? `open ${path}: no such file or directory`
        : `failed to read ${path}: ${(e as Error).message}`,
      1,
      code === 'ENOENT' ? 'notFound' : 'invalid',
    );
  }
  const docs = parseComposeYaml(text, displayPath(path));
  ctx.cache.set(path, docs);
  return docs;
}

function interpolated(doc: ParsedDoc, file: string, ctx: Ctx, env: Record<string, string>): Dict {
  if (!ctx.interpolate) return structuredClone(doc.data);
  try {
    return interpolateTree(doc.data, {
      lookup: (k) => env[k],
      onUnset: (k) => {
        if (ctx.unset.has(k)) return;
        ctx.unset.add(k);
        ctx.warn(`The "${k}" variable is not set. Defaulting to a blank string.`);
      },
    }) as Dict;
  } catch (e) {
    if (e instanceof InterpolationError) throw new InterpolationError(`${displayPath(file)}: ${e.message}`);
    throw e;
  }
}

/** A file's documents interpolated, validated and in canonical form, with their reset paths. */
interface LoadedDoc {
  data: Dict;
  resets: string[][];
  include: unknown[];
}

function loadDocs(path: string, baseDir: string, ctx: Ctx, env: Record<string, string>): LoadedDoc[] {
  return readFile(path, ctx).map((doc) => {
    const data = interpolated(doc, path, ctx, env);
    validateCompose(data, displayPath(path), doc.lineOf);
    const include = Array.isArray(data.include) ? data.include : [];
    delete data.include;
    return {
      data: canonFile(data, { baseDir, file: displayPath(path), lenient: !ctx.interpolate }),
      resets: [...doc.resets, ...doc.overrides],
      include,
    };
  });
}

function resolveExtends(
  services: Dict,
  file: string,
  baseDir: string,
  resets: string[][],
  ctx: Ctx,
  env: Record<string, string>,
  chain: string[],
): void {
  const resolveOne = (name: string, chainIn: string[]): Dict => {
    const svc = services[name] as Dict;
    const ext = svc?.extends as Dict | undefined;
    if (!ext) return svc;
    const ref = `${displayPath(file)}#${name}`;
    if (chainIn.includes(ref))
      throw new ComposeFileError(`circular reference in extends: ${[...chainIn, ref].join(' → ')}`);
    const chainOut = [...chainIn, ref];
    const baseName = String(ext.service);
    let base: Dict;
    if (ext.file !== undefined) {
      const other = resolveHostPath(baseDir, String(ext.file));
      if (!existsSync(other))
        throw new ComposeFileError(
          `cannot extend service "${name}" in ${displayPath(file)}: file ${displayPath(other)} not found`,
        );
      const docs = loadDocs(other, dirname(other), ctx, env);
      let otherServices: Dict = {};
      for (const d of docs)
        otherServices = mergeFiles({ services: otherServices }, { services: d.data.services ?? {} })
          .services as Dict;
      if (!isDict(otherServices[baseName]))
        throw new ComposeFileError(
          `cannot extend service "${name}" in ${displayPath(file)}: service "${baseName}" not found in ${displayPath(other)}`,
        );
      resolveExtends(otherServices, other, dirname(other), [], ctx, env, chainOut);
      base = otherServices[baseName] as Dict;
    } else {
      if (!isDict(services[baseName]))
        throw new ComposeFileError(
          `cannot extend service "${name}" in ${displayPath(file)}: service "${baseName}" not found`,
        );
      base = resolveOne(baseName, chainOut);
    }
    // `!reset` in the extending service removes what the base defines
    const wrapped: Dict = { services: { [name]: structuredClone(base) } };
    applyResets(
      wrapped,
      resets.filter((r) => r[0] === 'services' && r[1] === name),
    );
    const own = { ...svc };
    delete own.extends;
    const merged = mergeService((wrapped.services as Dict)[name] as Dict, own);
    delete merged.extends;
    services[name] = merged;
    return merged;
  };
  for (const name of Object.keys(services)) resolveOne(name, chain);
}

const RESOURCE_KINDS = ['services', 'volumes', 'networks', 'secrets', 'configs'] as const;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function loadInclude(
  entry: unknown,
  baseDir: string,
  file: string,
  ctx: Ctx,
  env: Record<string, string>,
  stack: string[],
): Dict {
  const e: Dict = isDict(entry) ? entry : { path: entry };
  const paths = (Array.isArray(e.path) ? e.path : [e.path]).map((p) => resolveHostPath(baseDir, String(p)));
  for (const p of paths)
    if (!existsSync(p))
      throw new ComposeFileError(`${displayPath(file)}: included file ${displayPath(p)} not found`);
  const projectDir =
    e.project_directory !== undefined
      ? resolveHostPath(baseDir, String(e.project_directory))
      : dirname(paths[0] as string);
  let envFiles: string[];
  if (e.env_file !== undefined)
    envFiles = (Array.isArray(e.env_file) ? e.env_file : [e.env_file]).map((f) =>
      resolveHostPath(baseDir, String(f)),
    );
  else {
    const dot = resolve(projectDir, '.env');
    envFiles = existsSync(dot) && statSync(dot).isFile() ? [dot] : [];
  }
  // the including project's environment wins over the included project's env files
  const incEnv = { ...readEnvFiles(envFiles, (k) => env[k]), ...env };
  return loadModel(paths, projectDir, ctx, incEnv, stack);
}

/** Loads and merges `files` (all relative paths resolved against `baseDir`) into canonical data. */
function loadModel(
  files: string[],
  baseDir: string,
  ctx: Ctx,
  env: Record<string, string>,
  stack: string[],
): Dict {
  let acc: Dict = {};
  for (const file of files) {
    if (stack.includes(file))
      throw new ComposeFileError(`include cycle detected: ${[...stack, file].map(displayPath).join(' → ')}`);
    for (const doc of loadDocs(file, baseDir, ctx, env)) {
      const data = doc.data;
      if (isDict(data.services)) resolveExtends(data.services, file, baseDir, doc.resets, ctx, env, []);
      for (const inc of doc.include) {
        const included = loadInclude(inc, baseDir, file, ctx, env, [...stack, file]);
        for (const kind of RESOURCE_KINDS) {
          const from = included[kind];
          if (!isDict(from)) continue;
          const into: Dict = isDict(data[kind]) ? (data[kind] as Dict) : {};
          for (const [k, v] of Object.entries(from)) {
            if (k in into && !sameJson(into[k], v))
              throw new ComposeFileError(
                `${displayPath(file)}: ${kind}.${k} conflicts with the one imported by include (${JSON.stringify(inc)})`,
              );
            into[k] = v;
          }
          data[kind] = into;
        }
      }
      applyResets(acc, doc.resets);
      acc = mergeFiles(acc, data);
    }
  }
  return acc;
}

function envFlag(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

/** The name a project gets without `-p`/COMPOSE_PROJECT_NAME: the last `name:` of the files. */
function nameFromFiles(files: string[], ctx: Ctx, env: Record<string, string>): string {
  let name = '';
  for (const f of files)
    for (const doc of readFile(f, ctx)) {
      const n = doc.data.name;
      if (typeof n === 'string' && n !== '') name = n;
    }
  if (name && ctx.interpolate) name = interpolateString(name, { lookup: (k) => env[k] }, 'name');
  return normalizeProjectName(name);
}

export async function loadProject(opts: LoaderOptions): Promise<Project> {
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`WARN[0000] ${m}\n`));
  const shellEnv = opts.env;
  const cwd = process.cwd();
  const ctx: Ctx = {
    env: {},
    interpolate: opts.interpolate !== false,
    warn,
    unset: new Set(),
    cache: new Map(),
  };

  const explicitEnvFiles = (opts.envFiles ?? []).filter((f) => f !== '').map((f) => resolve(cwd, f));
  const envFilesFor = (dir: string): string[] => {
    if (explicitEnvFiles.length > 0) return explicitEnvFiles;
    if (envFlag(shellEnv.COMPOSE_DISABLE_ENV_FILE)) return [];
    const dot = resolve(dir, '.env');
    return existsSync(dot) && statSync(dot).isFile() ? [dot] : [];
  };
  const projectEnv = (envFiles: string[]) => ({ ...readEnvFiles(envFiles, (k) => shellEnv[k]), ...shellEnv });

  // the .env of the working directory may itself say which files to use (COMPOSE_FILE)
  const dir0 = resolve(cwd, opts.projectDir ?? '.');
  let envFiles = envFilesFor(dir0);
  let env = projectEnv(envFiles);

  let files: string[];
  if (opts.files && opts.files.length > 0) files = opts.files.map((f) => (f === '-' ? f : resolve(cwd, f)));
  else if (env.COMPOSE_FILE) {
    const sep = env.COMPOSE_PATH_SEPARATOR || ':';
    files = env.COMPOSE_FILE.split(sep)
      .filter((f) => f !== '')
      .map((f) => resolve(dir0, f));
  } else {
    const found = discoverFiles(dir0);
    for (const w of found.warnings) warn(w);
    files = found.files;
  }
  const firstReal = files.find((f) => f !== '-');
  const projectDir = opts.projectDir ? dir0 : firstReal ? dirname(firstReal) : cwd;
  if (projectDir !== dir0) {
    envFiles = envFilesFor(projectDir);
    env = projectEnv(envFiles);
  }

  let name: string;
  if (opts.projectName) name = checkProjectName(opts.projectName);
  else if (env.COMPOSE_PROJECT_NAME) name = checkProjectName(env.COMPOSE_PROJECT_NAME);
  else name = nameFromFiles(files, ctx, env) || normalizeProjectName(basename(projectDir));
  if (!name) throw new BerthError('project name must not be empty', 1, 'invalid');
  env = { ...env, COMPOSE_PROJECT_NAME: name };
  ctx.env = env;

  let profiles = opts.profiles?.filter((p) => p !== '') ?? [];
  if (profiles.length === 0 && env.COMPOSE_PROFILES)
    profiles = env.COMPOSE_PROFILES.split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');

  const data = loadModel(files, projectDir, ctx, env, []);
  if (Object.keys(data).length === 0) throw new ComposeFileError('empty compose file');
  delete data.name;
  return finalizeProject({
    name,
    workingDir: projectDir,
    configFiles: files,
    envFiles,
    environment: env,
    profiles,
    data,
    warn,
  });
}
