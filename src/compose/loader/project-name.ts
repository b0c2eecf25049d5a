import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BerthError } from '../../util/errors.ts';

/** docker compose's NormalizeProjectName: lowercase, keep [a-z0-9_-], no leading `_` or `-`. */
export function normalizeProjectName(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/^[_-]+/, '');
}

export function isValidProjectName(s: string): boolean {
  return s !== '' && normalizeProjectName(s) === s;
}

/** A name given explicitly (`-p`, COMPOSE_PROJECT_NAME) must already be normalized. */
export function checkProjectName(s: string): string {
  if (!isValidProjectName(s))
    throw new BerthError(
      `invalid project name "${s}": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`,
      1,
      'invalid',
    );
  return s;
}

export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
export const OVERRIDE_FILES = [
  'compose.override.yml',
  'compose.override.yaml',
  'docker-compose.override.yml',
  'docker-compose.override.yaml',
];

function firstExisting(dir: string, names: string[]): string[] {
  return names.map((n) => join(dir, n)).filter((f) => existsSync(f) && statSync(f).isFile());
}

export interface Discovered {
  files: string[];
  warnings: string[];
}

/**
 * docker compose's file discovery: the first of the default names in `dir` or the nearest parent
 * that has one, plus the first override file beside it.
 */
export function discoverFiles(dir: string): Discovered {
  const warnings: string[] = [];
  let cur = dir;
  for (;;) {
    const found = firstExisting(cur, DEFAULT_FILES);
    if (found.length > 0) {
      const files = [found[0] as string];
      if (found.length > 1)
        warnings.push(
          `Found multiple config files with supported names: ${found.join(', ')}`,
          `Using ${found[0]}`,
        );
      const overrides = firstExisting(cur, OVERRIDE_FILES);
      if (overrides.length > 1)
        warnings.push(
          `Found multiple override files with supported names: ${overrides.join(', ')}`,
          `Using ${overrides[0]}`,
        );
      if (overrides.length > 0) files.push(overrides[0] as string);
      return { files, warnings };
    }
    const parent = dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  throw new BerthError(
    `no configuration file provided: not found (looked for ${DEFAULT_FILES.join(', ')} in ${dir} and its parents)`,
    1,
    'notFound',
  );
}
