import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type LoaderOptions, loadProject } from '../../src/compose/loader/index.ts';
import type { Project } from '../../src/compose/model.ts';

/** A fresh project directory holding `files` (relative path → content). */
export function projectDir(files: Record<string, string>, name = 'proj'): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-compose-'));
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const f = join(dir, rel);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, content);
  }
  return dir;
}

/** Loads the project in `dir` with an environment of only `env` (no process environment). */
export async function load(
  dir: string,
  opts: Partial<LoaderOptions> = {},
): Promise<{ project: Project; warnings: string[] }> {
  const warnings: string[] = [];
  const project = await loadProject({
    env: {},
    projectDir: opts.files ? undefined : dir,
    onWarning: (m) => warnings.push(m),
    ...opts,
    files: opts.files?.map((f) => (f.startsWith('/') ? f : join(dir, f))),
  });
  return { project, warnings };
}
