import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Engine } from '../engine/engine.ts';
import { BerthError } from '../util/errors.ts';
import type { Project } from './model.ts';
import type { ComposeRun } from './ops.ts';

/** The options every compose command shares (`berth compose -f … -p … SUBCOMMAND`). */
export interface ComposeGlobals {
  files: string[];
  projectName?: string;
  projectDir?: string;
  envFiles: string[];
  profiles: string[];
}

const CANDIDATES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

function processEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}

/** A project known only by name (no compose file): commands then act on its labelled containers. */
export function labelOnlyProject(name: string, dir: string): Project {
  return {
    name,
    working_dir: dir,
    services: {},
    networks: {},
    volumes: {},
    secrets: {},
    configs: {},
    config_files: [],
    env_files: [],
    environment: {},
    disabled_services: {},
    profiles: [],
  };
}

/**
 * Loads the project through the loader. Commands that only act on existing containers pass
 * `fileOptional`: with `-p` and no compose file they work from labels alone, like docker compose.
 */
export async function openProject(
  g: ComposeGlobals,
  o: { interpolate?: boolean; fileOptional?: boolean } = {},
): Promise<Project> {
  const dir = resolve(g.projectDir ?? process.cwd());
  const env = processEnv();
  if (
    o.fileOptional &&
    g.files.length === 0 &&
    !env.COMPOSE_FILE &&
    !CANDIDATES.some((c) => existsSync(join(dir, c)))
  ) {
    const name = g.projectName ?? env.COMPOSE_PROJECT_NAME;
    if (name) return labelOnlyProject(name, dir);
    throw new BerthError(
      `no configuration file provided: not found (looked for ${CANDIDATES.join(', ')} in ${dir})`,
      1,
    );
  }
  const { loadProject } = await import('./loader/index.ts');
  return loadProject({
    files: g.files.length ? g.files : undefined,
    projectName: g.projectName,
    projectDir: g.projectDir,
    envFiles: g.envFiles.length ? g.envFiles : undefined,
    profiles: g.profiles.length ? g.profiles : undefined,
    env,
    interpolate: o.interpolate,
  });
}

export function composeRun(engine: Engine, project: Project, err: NodeJS.WritableStream): ComposeRun {
  return { engine, project, err };
}

export function defaultProjectName(dir: string): string {
  return basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '');
}
