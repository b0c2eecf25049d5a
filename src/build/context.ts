import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, isAbsolute, join, posix, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { Extractor, forEachEntry, Scope } from '../container/copy.ts';
import { openDir } from '../container/export.ts';
import type { StoreContext } from '../engine/context.ts';
import { BerthError, InvalidArgumentError } from '../util/errors.ts';
import { IgnoreMatcher, parseDockerignore } from './context/dockerignore.ts';
import type { BuildOptions } from './types.ts';

/** The files a build may read: a directory, with the `.dockerignore` rules that hide some of them. */
export interface BuildContext {
  /** The context's root directory (an empty one when the build has no context). */
  dir: string;
  ignore: IgnoreMatcher;
  dockerfileText: string;
  /** The Dockerfile's name as the user gave it, for messages. */
  dockerfileName: string;
  cleanup(): void;
}

export function buildTmpDir(ctx: StoreContext): string {
  const d = join(ctx.paths.root, 'build', 'tmp');
  fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  return d;
}

/** Reads the context the options name: a directory in place, a tar unpacked into a scratch directory. */
export async function openBuildContext(ctx: StoreContext, o: BuildOptions): Promise<BuildContext> {
  let dir: string;
  let scratch: string | undefined;
  if ('dir' in o.context) {
    dir = resolve(o.context.dir);
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      throw new InvalidArgumentError(`unable to prepare context: path "${o.context.dir}" not found`);
    }
    if (!st.isDirectory()) {
      throw new InvalidArgumentError(`unable to prepare context: "${o.context.dir}" is not a directory`);
    }
  } else {
    scratch = join(buildTmpDir(ctx), `ctx-${randomBytes(8).toString('hex')}`);
    fs.mkdirSync(scratch, { mode: 0o700 });
    dir = scratch;
    if ('tar' in o.context) {
      try {
        await extractContextTar(o.context.tar, scratch);
      } catch (err) {
        fs.rmSync(scratch, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const cleanup = () => {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  };
  try {
    let dockerfileText: string;
    let dockerfileName: string;
    let dockerfilePath: string | undefined;
    if (o.dockerfile && 'text' in o.dockerfile) {
      dockerfileText = o.dockerfile.text;
      dockerfileName = 'Dockerfile';
    } else {
      const given = o.dockerfile?.path ?? 'Dockerfile';
      dockerfilePath = isAbsolute(given) ? given : join(dir, given);
      dockerfileName = given;
      if (!isAbsolute(given) && relative(dir, dockerfilePath).startsWith('..')) {
        throw new InvalidArgumentError(`the Dockerfile (${given}) must be within the build context`);
      }
      try {
        dockerfileText = fs.readFileSync(dockerfilePath, 'utf8');
      } catch {
        // docker looks for `dockerfile` too when the default name is missing.
        const lower = join(dirname(dockerfilePath), 'dockerfile');
        if (!o.dockerfile && fs.existsSync(lower)) {
          dockerfileText = fs.readFileSync(lower, 'utf8');
          dockerfilePath = lower;
        } else {
          throw new InvalidArgumentError(
            `failed to read dockerfile: open ${given}: no such file or directory; give its path with -f`,
          );
        }
      }
    }
    const ignore = new IgnoreMatcher(readIgnoreFile(dir, dockerfilePath));
    return { dir, ignore, dockerfileText, dockerfileName, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** `<Dockerfile>.dockerignore` next to the Dockerfile wins over the context's `.dockerignore`. */
function readIgnoreFile(dir: string, dockerfilePath: string | undefined): string[] {
  const candidates = [];
  if (dockerfilePath)
    candidates.push(join(dirname(dockerfilePath), `${basename(dockerfilePath)}.dockerignore`));
  candidates.push(join(dir, '.dockerignore'));
  for (const c of candidates) {
    let text: string;
    try {
      text = fs.readFileSync(c, 'utf8');
    } catch {
      continue;
    }
    return parseDockerignore(text);
  }
  return [];
}

async function extractContextTar(input: Readable, dest: string): Promise<void> {
  const rootFd = openDir(dest);
  try {
    const ex = new Extractor(new Scope(rootFd), [], { owner: 'archive' });
    try {
      await forEachEntry(input, (h, body) => ex.apply(h, body));
    } finally {
      ex.finish();
    }
  } finally {
    fs.closeSync(rootFd);
  }
}

/** One path a COPY/ADD source names, relative to the root it comes from. */
export interface ContextSource {
  rel: string;
  /** A host path whose every component is a real directory of the root: no symlink is ever crossed. */
  abs: string;
  /** The source's own type and mode; a top-level symlink is followed (inside the root), as docker does. */
  stat: fs.Stats;
}

/** A tree COPY reads from: the build context, or another stage's or an image's root. */
export interface SourceRoot {
  dir: string;
  ignore: IgnoreMatcher | null;
}

const WILDCARD = /[*?[]/;

/**
 * The paths a COPY/ADD source pattern names, docker's way: cleaned, never above the root,
 * wildcards matched per path component (Go's filepath.Match), ignored files invisible, symlinks
 * resolved inside the root.
 */
export function resolveSources(
  root: SourceRoot,
  pattern: string,
  excludes: IgnoreMatcher | null,
): ContextSource[] {
  const clean = posix.normalize(`/${pattern}`).slice(1).replace(/\/+$/, '');
  const hidden = (rel: string) =>
    rel !== '' && ((root.ignore?.matches(rel) ?? false) || (excludes?.matches(rel) ?? false));
  if (!WILDCARD.test(clean)) {
    if (clean !== '' && hidden(clean)) throw sourceNotFound(pattern);
    const one = scopedSource(root.dir, clean);
    if (!one) throw sourceNotFound(pattern);
    return [one];
  }
  const parts = clean.split('/');
  const out: ContextSource[] = [];
  const walk = (relDir: string, i: number) => {
    let names: string[];
    try {
      names = fs.readdirSync(join(root.dir, relDir)).sort();
    } catch {
      return;
    }
    const re = globSegment(parts[i]!);
    for (const name of names) {
      if (!re.test(name)) continue;
      const rel = relDir ? `${relDir}/${name}` : name;
      if (hidden(rel)) continue;
      const st = fs.lstatSync(join(root.dir, rel));
      if (i === parts.length - 1) {
        const one = st.isSymbolicLink()
          ? scopedSource(root.dir, rel)
          : { rel, abs: join(root.dir, rel), stat: st };
        if (one) out.push(one);
      } else if (st.isDirectory()) walk(rel, i + 1);
    }
  };
  walk('', 0);
  if (out.length === 0) throw sourceNotFound(pattern);
  return out;
}

/** Resolves `rel` inside `dir` with every symlink expanded against `dir`; null when missing. */
function scopedSource(dir: string, rel: string): ContextSource | null {
  const rootFd = openDir(dir);
  try {
    const r = new Scope(rootFd).resolve(rel, { followLast: true });
    try {
      const abs = join(dir, ...r.parts);
      return { rel, abs, stat: fs.lstatSync(abs) };
    } finally {
      r.close();
    }
  } catch {
    return null;
  } finally {
    fs.closeSync(rootFd);
  }
}

function sourceNotFound(pattern: string): BerthError {
  return new BerthError(
    `failed to compute cache key: failed to calculate checksum: "/${pattern.replace(/^\/+/, '')}" not found`,
  );
}

/** Go's filepath.Match for one path component. */
export function globSegment(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < glob.length) re += escapeRe(glob[++i]!);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let cls = glob.slice(i + 1, end);
      if (cls.startsWith('^')) cls = `!${cls.slice(1)}`;
      re += cls.startsWith('!')
        ? `[^${cls.slice(1).replace(/\\/g, '\\\\')}]`
        : `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Every path below a source directory (relative to the source), depth first and sorted, with
 * ignored ones left out; a directory whose contents are all ignored is skipped whole.
 */
export function walkSource(
  root: SourceRoot,
  src: ContextSource,
  excludes: IgnoreMatcher | null,
): Array<{ rel: string; abs: string; stat: fs.Stats }> {
  const out: Array<{ rel: string; abs: string; stat: fs.Stats }> = [];
  const visit = (relInSrc: string) => {
    const abs = relInSrc ? join(src.abs, relInSrc) : src.abs;
    for (const name of fs.readdirSync(abs).sort()) {
      const r = relInSrc ? `${relInSrc}/${name}` : name;
      const ctxRel = src.rel ? `${src.rel}/${r}` : r;
      const a = join(abs, name);
      const st = fs.lstatSync(a);
      const ig = root.ignore?.matches(ctxRel) ?? false;
      // COPY --exclude patterns are read relative to the source, and to the root as well.
      const exRel = excludes?.matches(r) ? r : excludes?.matches(ctxRel) ? ctxRel : undefined;
      const ignored = ig || exRel !== undefined;
      if (st.isDirectory()) {
        const skip =
          (ig && root.ignore!.canSkipDir(ctxRel)) || (exRel !== undefined && excludes!.canSkipDir(exRel));
        if (skip) continue;
        if (!ignored) out.push({ rel: r, abs: a, stat: st });
        visit(r);
      } else if (!ignored) {
        out.push({ rel: r, abs: a, stat: st });
      }
    }
  };
  visit('');
  return out;
}
