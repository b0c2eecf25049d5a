/**
 * `.dockerignore`: reading the file like moby/patternmatcher's ignorefile.ReadAll, and matching
 * context paths like its PatternMatcher.MatchesOrParentMatches (`*`, `?`, `[...]`, `**`, `\`
 * escapes; `!` re-includes; the last matching pattern wins; a pattern matching a directory
 * matches everything under it).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from '../../util/errors.ts';

/** Go's path/filepath.Clean for slash-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const joined = out.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

/** The patterns of a .dockerignore file: comments and blank lines dropped, each pattern cleaned. */
export function parseDockerignore(text: string): string[] {
  const patterns: string[] = [];
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  lines.forEach((rawLine, i) => {
    let line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (i === 0 && line.startsWith('\uFEFF')) line = line.slice(1);
    // A comment is a line starting with `#`, before any trimming.
    if (line.startsWith('#')) return;
    let pattern = line.trim();
    if (pattern === '') return;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      // `/a` means `a`: patterns are relative to the context.
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    patterns.push(invert ? '!' + pattern : pattern);
  });
  return patterns;
}

/** Go's filepath.Match syntax check: a bad `[...]` class or a trailing `\`. */
function validPattern(p: string): boolean {
  const c = Array.from(p);
  let i = 0;
  const getEsc = (): boolean => {
    if (i >= c.length || c[i] === '-' || c[i] === ']') return false;
    if (c[i] === '\\') {
      i++;
      if (i >= c.length) return false;
    }
    i++;
    return i < c.length;
  };
  while (i < c.length) {
    const ch = c[i];
    if (ch === '\\') {
      if (i + 1 >= c.length) return false;
      i += 2;
      continue;
    }
    if (ch !== '[') {
      i++;
      continue;
    }
    i++;
    if (c[i] === '^') i++;
    let nrange = 0;
    for (;;) {
      if (i < c.length && c[i] === ']' && nrange > 0) {
        i++;
        break;
      }
      if (!getEsc()) return false;
      if (c[i] === '-') {
        i++;
        if (!getEsc()) return false;
      }
      nrange++;
    }
  }
  return true;
}

const REGEX_SYNTAX = new Set(Array.from('^$\\.*+?()[]{}|/'));

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

/** One pattern compiled the way patternmatcher does (fast paths for exact, `x/**` and `**‍/x`). */
class Pattern {
  readonly type: MatchType;
  readonly re?: RegExp;

  constructor(
    readonly cleaned: string,
    readonly exclusion: boolean,
  ) {
    const c = Array.from(cleaned);
    let re = '^';
    let type: MatchType = 'exact';
    let inClass = false;
    for (let i = 0, k = 0; k < c.length; i++) {
      const ch = c[k++];
      if (ch === '*' && !inClass) {
        if (c[k] === '*') {
          k++;
          // `**/` is `**`
          if (c[k] === '/') k++;
          if (k >= c.length) {
            // A trailing `**` accepts everything below, like .gitignore.
            if (type === 'exact') type = 'prefix';
            else {
              re += '.*';
              type = 'regexp';
            }
          } else {
            // Any number of directories, including none.
            re += '(?:.*/)?';
            type = 'regexp';
          }
          if (i === 0) type = 'suffix';
        } else {
          re += '[^/]*';
          type = 'regexp';
        }
      } else if (ch === '?' && !inClass) {
        re += '[^/]';
        type = 'regexp';
      } else if (ch === '\\') {
        if (k < c.length) {
          const n = c[k++];
          re += REGEX_SYNTAX.has(n) || (n === '-' && inClass) ? '\\' + n : n;
          type = 'regexp';
        } else {
          re += '\\\\';
        }
      } else if (ch === '[' && !inClass) {
        inClass = true;
        re += '[';
        type = 'regexp';
        if (c[k] === '^') {
          re += '^';
          k++;
        }
      } else if (ch === ']' && inClass) {
        inClass = false;
        re += ']';
        type = 'regexp';
      } else if (inClass) {
        re += REGEX_SYNTAX.has(ch) ? '\\' + ch : ch;
      } else {
        re += REGEX_SYNTAX.has(ch) ? '\\' + ch : ch;
      }
    }
    this.type = type;
    if (type === 'regexp') this.re = new RegExp(re + '$', 'u');
  }

  match(p: string): boolean {
    switch (this.type) {
      case 'exact':
        return p === this.cleaned;
      case 'prefix':
        return p.startsWith(this.cleaned.slice(0, -2));
      case 'suffix': {
        const suffix = this.cleaned.slice(2);
        // `**/foo` also matches `foo` itself.
        return p.endsWith(suffix) || (suffix.startsWith('/') && p === suffix.slice(1));
      }
      case 'regexp':
        return this.re!.test(p);
    }
  }
}

/** Matches context-relative, slash-separated paths against .dockerignore patterns. */
export class IgnoreMatcher {
  readonly patterns: readonly Pattern[];
  /** Whether any `!` pattern exists. */
  readonly hasExclusions: boolean;

  constructor(patterns: readonly string[]) {
    const out: Pattern[] = [];
    for (const raw of patterns) {
      let p = raw.trim();
      if (p === '') continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw new InvalidArgumentError('illegal exclusion pattern: "!" in .dockerignore');
        exclusion = true;
        p = p.slice(1);
      }
      const bad = () =>
        new InvalidArgumentError(
          `invalid .dockerignore pattern ${JSON.stringify(raw)}: syntax error in pattern`,
        );
      if (!validPattern(p)) throw bad();
      try {
        out.push(new Pattern(p, exclusion));
      } catch {
        // e.g. a class range out of order, `[z-a]`
        throw bad();
      }
    }
    this.patterns = out;
    this.hasExclusions = out.some((p) => p.exclusion);
  }

  /** Whether the path is ignored (it, or a directory above it, matches; later patterns win). */
  matches(relPath: string): boolean {
    let file = cleanPath(relPath);
    if (file.startsWith('/')) file = cleanPath(file.slice(1));
    // The context root itself is never ignored.
    if (file === '.') return false;
    const slash = file.lastIndexOf('/');
    const parents = slash < 0 ? [] : file.slice(0, slash).split('/');
    let matched = false;
    for (const pattern of this.patterns) {
      // An include pattern cannot change a match, nor an exclusion a non-match.
      if (pattern.exclusion !== matched) continue;
      let hit = pattern.match(file);
      for (let i = 0; !hit && i < parents.length; i++) hit = pattern.match(parents.slice(0, i + 1).join('/'));
      if (hit) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * True when the directory is ignored and no `!` pattern could re-include anything under it, so a
   * walker need not descend. Errs on the side of false (descend) when a pattern might match.
   */
  canSkipDir(relDir: string): boolean {
    if (!this.matches(relDir)) return false;
    let dir = cleanPath(relDir);
    if (dir.startsWith('/')) dir = cleanPath(dir.slice(1));
    const segs = dir.split('/');
    return !this.patterns.some((p) => p.exclusion && couldMatchAtOrBelow(p.cleaned, segs));
  }
}

/** Whether a pattern could match the directory `segs`, an ancestor, or something below it. */
function couldMatchAtOrBelow(pattern: string, segs: string[]): boolean {
  const pdirs = pattern.split('/');
  for (let i = 0; i < segs.length; i++) {
    if (i >= pdirs.length) return true;
    const seg = pdirs[i];
    if (seg.includes('**')) return true;
    let segPattern: Pattern;
    try {
      segPattern = new Pattern(seg, false);
    } catch {
      // A class spanning a `/` cannot be judged per segment: assume it may match.
      return true;
    }
    if (!segPattern.match(segs[i])) return false;
  }
  return true;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The ignore patterns for a build: `<Dockerfile>.dockerignore` next to the Dockerfile when it exists
 * (e.g. `build/app.Dockerfile.dockerignore`), else `<context>/.dockerignore`, else none.
 * `dockerfilePath` is relative to the context dir or absolute; omit it for a Dockerfile from stdin.
 */
export async function dockerignoreFor(contextDir: string, dockerfilePath?: string): Promise<string[]> {
  if (dockerfilePath !== undefined) {
    const own = await readIfExists(path.resolve(contextDir, dockerfilePath) + '.dockerignore');
    if (own !== undefined) return parseDockerignore(own);
  }
  const shared = await readIfExists(path.join(contextDir, '.dockerignore'));
  return shared === undefined ? [] : parseDockerignore(shared);
}
