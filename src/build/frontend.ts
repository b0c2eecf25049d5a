import { formatPlatform, hostPlatform, parsePlatform } from '../image/platform.ts';
import { BerthError, InvalidArgumentError } from '../util/errors.ts';
import type { Dockerfile, Instruction } from './dockerfile/ast.ts';
import { expandWord } from './dockerfile/shell-words.ts';

/** One `FROM … [AS name]` section of a Dockerfile. */
export interface Stage {
  index: number;
  /** The `AS` name, lower-cased; undefined when the stage has none. */
  name?: string;
  /** What progress shows: the AS name or `stage-N`. */
  displayName: string;
  /** The FROM instruction. */
  from: Extract<Instruction, { kind: 'FROM' }>;
  /** FROM's image after expansion with the global ARGs: a stage index, 'scratch' or an image reference. */
  base: { stage: number } | { scratch: true } | { image: string };
  platform?: string;
  instructions: Instruction[];
}

export interface BuildPlan {
  stages: Stage[];
  /** Values of the ARGs declared before the first FROM, after --build-arg overrides. */
  metaArgs: Map<string, string>;
  /** The automatic platform ARGs (TARGETPLATFORM, BUILDARCH, …). */
  platformArgs: Map<string, string>;
  target: number;
  /** Stages the target needs, in an order where dependencies come first. */
  needed: number[];
  escape: '\\' | '`';
  /** --build-arg names used by no ARG: docker warns about them. */
  unusedArgs: string[];
}

export function platformArgs(target?: string): Map<string, string> {
  const build = hostPlatform();
  const t = target ? parsePlatform(target) : build;
  const m = new Map<string, string>();
  const put = (prefix: string, p: typeof build) => {
    m.set(`${prefix}PLATFORM`, formatPlatform(p));
    m.set(`${prefix}OS`, p.os);
    m.set(`${prefix}ARCH`, p.architecture);
    m.set(`${prefix}VARIANT`, p.variant ?? '');
  };
  put('BUILD', build);
  put('TARGET', t);
  return m;
}

/** Splits the Dockerfile into stages, resolves global ARGs and FROM lines, and picks what the target needs. */
export function planBuild(
  df: Dockerfile,
  buildArgs: Record<string, string>,
  target: string | undefined,
  platform: string | undefined,
): BuildPlan {
  const esc = df.directives.escape;
  const pargs = platformArgs(platform);
  const metaArgs = new Map<string, string>();
  const usedArgs = new Set<string>();
  const stages: Stage[] = [];
  let current: Stage | undefined;
  const lookupMeta = (name: string) => metaArgs.get(name) ?? pargs.get(name);
  for (const ins of df.instructions) {
    if (ins.kind === 'FROM') {
      const image = expandAt(ins.image, lookupMeta, esc, ins.line);
      const platFlag = ins.flags.find((f) => f.name === 'platform')?.value;
      const name = ins.stageName?.toLowerCase();
      if (name && stages.some((s) => s.name === name)) {
        throw new BerthError(`Dockerfile:${ins.line}: duplicate stage name "${ins.stageName}"`);
      }
      if (name && !/^[a-z][a-z0-9._-]*$/.test(name)) {
        throw new BerthError(
          `Dockerfile:${ins.line}: invalid stage name "${ins.stageName}": must start with a letter`,
        );
      }
      const idx = stages.length;
      const lower = image.toLowerCase();
      const prior = stages.find((s) => s.name === lower);
      let base: Stage['base'];
      if (prior) base = { stage: prior.index };
      else if (lower === 'scratch') base = { scratch: true };
      else if (image === '') throw new BerthError(`Dockerfile:${ins.line}: FROM requires an image name`);
      else base = { image };
      current = {
        index: idx,
        name,
        displayName: name ?? `stage-${idx}`,
        from: ins,
        base,
        platform: platFlag ? expandAt(platFlag, lookupMeta, esc, ins.line) : platform,
        instructions: [],
      };
      stages.push(current);
      continue;
    }
    if (!current) {
      if (ins.kind !== 'ARG') {
        throw new BerthError(
          `Dockerfile:${ins.line}: no build stage in current context: ${ins.kind} must come after a FROM (only ARG may precede the first FROM)`,
        );
      }
      for (const a of ins.args) {
        usedArgs.add(a.key);
        const def = a.value === undefined ? undefined : expandAt(a.value, lookupMeta, esc, ins.line);
        const v = Object.hasOwn(buildArgs, a.key) ? buildArgs[a.key] : def;
        if (v !== undefined) metaArgs.set(a.key, v);
      }
      continue;
    }
    if (ins.kind === 'ARG') for (const a of ins.args) usedArgs.add(a.key);
    current.instructions.push(ins);
  }
  if (stages.length === 0) throw new BerthError('the Dockerfile has no FROM instruction: nothing to build');
  let targetIdx = stages.length - 1;
  if (target !== undefined && target !== '') {
    const t = stages.find((s) => s.name === target.toLowerCase());
    if (!t) throw new InvalidArgumentError(`failed to reach build target ${target} in Dockerfile`);
    targetIdx = t.index;
  }
  const needed: number[] = [];
  const seen = new Set<number>();
  const visit = (i: number) => {
    if (seen.has(i)) return;
    seen.add(i);
    for (const d of stageDeps(stages, stages[i]!, esc, metaArgs)) visit(d);
    needed.push(i);
  };
  visit(targetIdx);
  const predefined = new Set(['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY']);
  const unusedArgs = Object.keys(buildArgs).filter(
    (k) => !usedArgs.has(k) && !predefined.has(k.toUpperCase()) && !pargs.has(k),
  );
  return { stages, metaArgs, platformArgs: pargs, target: targetIdx, needed, escape: esc, unusedArgs };
}

/** `--from=` of COPY and `from=` of RUN --mount: a stage (by name or index) or an image. */
export function resolveFrom(
  stages: Stage[],
  current: Stage,
  value: string,
): { stage: number } | { image: string } {
  const lower = value.toLowerCase();
  const named = stages.find((s) => s.name === lower && s.index < current.index);
  if (named) return { stage: named.index };
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n >= current.index) {
      throw new BerthError(
        `Dockerfile:${current.from.line}: invalid --from=${value}: a stage can only refer to an earlier stage`,
      );
    }
    return { stage: n };
  }
  if (stages.some((s) => s.name === lower)) {
    throw new BerthError(`invalid --from=${value}: stage "${value}" is defined after the stage that uses it`);
  }
  return { image: value };
}

function stageDeps(stages: Stage[], s: Stage, esc: '\\' | '`', meta: Map<string, string>): number[] {
  const out: number[] = [];
  if ('stage' in s.base) out.push(s.base.stage);
  const look = (n: string) => meta.get(n);
  for (const ins of s.instructions) {
    for (const f of ins.flags) {
      let v: string | undefined;
      if ((ins.kind === 'COPY' || ins.kind === 'ADD') && f.name === 'from' && f.value) v = f.value;
      if (ins.kind === 'RUN' && f.name === 'mount' && f.value) {
        const m = /(?:^|,)from=([^,]+)/.exec(f.value);
        if (m) v = m[1];
      }
      if (v === undefined) continue;
      let expanded = v;
      try {
        expanded = expandWord(v, look, esc);
      } catch {
        // An ARG only the stage defines: resolved when the stage runs.
      }
      const r = resolveFrom(stages, s, expanded);
      if ('stage' in r) out.push(r.stage);
    }
  }
  return out;
}

function expandAt(
  word: string,
  lookup: (n: string) => string | undefined,
  esc: '\\' | '`',
  line: number,
): string {
  try {
    return expandWord(word, lookup, esc);
  } catch (err) {
    throw new BerthError(`Dockerfile:${line}: ${(err as Error).message}`);
  }
}
