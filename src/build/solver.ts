import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { Scope } from '../container/copy.ts';
import { fdPath, openDir } from '../container/export.ts';
import { resolveUser } from '../container/user.ts';
import type { StoreContext } from '../engine/context.ts';
import type { Engine } from '../engine/engine.ts';
import { noProgress } from '../engine/progress.ts';
import type { ImageConfig, ImageRecord } from '../image/types.ts';
import { goArch } from '../image/types.ts';
import { BerthError } from '../util/errors.ts';
import { parseDuration } from '../util/units.ts';
import type { MountSpec } from '../volume/mount-spec.ts';
import type { BuildCache } from './cache.ts';
import { sourcesDigest } from './checksum.ts';
import { IgnoreMatcher } from './context/dockerignore.ts';
import type { BuildContext, SourceRoot } from './context.ts';
import { resolveSources } from './context.ts';
import type { CopyItem } from './copy-step.ts';
import type { CommandArgs, Heredoc, Instruction } from './dockerfile/ast.ts';
import { parseInstructionLine } from './dockerfile/parser.ts';
import { expandWord, expandWords } from './dockerfile/shell-words.ts';
import { BuildStepError, StepFailedError } from './errors.ts';
import { type BuildPlan, resolveFrom, type Stage } from './frontend.ts';
import { cacheMountDir, parseRunMount, type RunMount, secretBytes, secretMount } from './mounts.ts';
import type { RunSpec } from './run-step.ts';

/** The snapshot code (overlay mounts, layer packing) loads only when a step runs: cached builds skip it. */
const snapshot = () => import('./snapshot.ts');

import {
  addHistory,
  type BuildState,
  cacheKey,
  cloneState,
  DEFAULT_PATH,
  envValue,
  goQuoteList,
  layerRecord,
  runtimeConfig,
  setEnv,
} from './state.ts';
import type { BuildOptions, BuildProgressSink, BuildVertex } from './types.ts';

/** Everything one step needs to know about where it runs. */
interface StageScope {
  stage: Stage;
  state: BuildState;
  /** ARGs declared in this stage, with their values. */
  args: Map<string, string>;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  step: number;
  steps: number;
}

/** Dockerfile lines that produce a vertex of their own in BuildKit's display. */
const VERTEX_KINDS = new Set(['RUN', 'COPY', 'ADD', 'WORKDIR']);

/**
 * Walks the build plan: each needed stage is solved once (concurrently with the stages it does
 * not depend on), step by step, each step's cache key computed from its parent's key, the
 * instruction as expanded and the digests of what it reads; a step whose key is in the cache is
 * not run.
 */
export class Solver {
  private readonly stages = new Map<number, Promise<BuildState>>();
  private vertexSeq = 0;

  constructor(
    private readonly ctx: StoreContext,
    private readonly engine: Engine,
    private readonly plan: BuildPlan,
    private readonly bc: BuildContext,
    private readonly o: BuildOptions,
    private readonly cache: BuildCache,
    private readonly progress: BuildProgressSink,
  ) {}

  solve(index: number): Promise<BuildState> {
    let p = this.stages.get(index);
    if (!p) {
      p = this.solveStage(this.plan.stages[index]!);
      this.stages.set(index, p);
      // A failure is reported by whoever awaits it; no unhandled rejection meanwhile.
      p.catch(() => undefined);
    }
    return p;
  }

  private async solveStage(stage: Stage): Promise<BuildState> {
    const steps = 1 + stage.instructions.filter((i) => VERTEX_KINDS.has(i.kind)).length;
    const fromText = `FROM ${'image' in stage.base ? this.displayRef(stage.base.image) : stage.from.image}`;
    const base = await this.vertex(`[${stage.displayName} 1/${steps}] ${fromText}`, () =>
      this.baseState(stage),
    );
    const scope: StageScope = {
      stage,
      state: cloneState(base.value),
      args: new Map(),
      cmdSet: false,
      step: 1,
      steps,
    };
    const rc = runtimeConfig(scope.state);
    if (!rc.Env?.some((e) => e.startsWith('PATH='))) rc.Env = [DEFAULT_PATH, ...(rc.Env ?? [])];
    // ONBUILD triggers of the base image run first, then leave the new image.
    const triggers = rc.OnBuild ?? [];
    if (triggers.length > 0) {
      delete rc.OnBuild;
      for (const t of triggers) {
        const ins = parseInstructionLine(t, this.plan.escape);
        await this.step(scope, ins, true).catch((err: unknown) => {
          throw atLine(err, scope.stage.from);
        });
      }
    }
    for (const ins of stage.instructions) {
      await this.step(scope, ins, false).catch((err: unknown) => {
        throw atLine(err, ins);
      });
    }
    return scope.state;
  }

  private displayRef(ref: string): string {
    return ref.includes('/') || ref.includes('.')
      ? ref
      : `docker.io/library/${ref.includes(':') ? ref : `${ref}:latest`}`;
  }

  private async baseState(stage: Stage): Promise<{ value: BuildState; cached: boolean }> {
    if ('stage' in stage.base) return { value: await this.solve(stage.base.stage), cached: true };
    if ('scratch' in stage.base) {
      const config: ImageConfig = {
        architecture: goArch(),
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [] },
        history: [],
      };
      return {
        value: { key: cacheKey('scratch', stage.platform ?? ''), layers: [], config, baseImageId: '' },
        cached: true,
      };
    }
    const { img, cached } = await this.image(stage.base.image, stage.platform);
    return {
      value: {
        key: cacheKey('image', img.id),
        layers: [...img.layers],
        config: structuredClone(img.config),
        baseImageId: img.id,
      },
      cached,
    };
  }

  private readonly images = new Map<string, Promise<{ img: ImageRecord; cached: boolean }>>();

  /** A base or --from image: the local one, pulled when missing (or always with --pull). */
  private image(ref: string, platform: string | undefined): Promise<{ img: ImageRecord; cached: boolean }> {
    let p = this.images.get(ref);
    if (!p) {
      p = (async () => {
        const local = this.ctx.images.find(ref);
        if (local && !this.o.pull) return { img: local, cached: true };
        const { pullImage } = await import('../registry/pull.ts');
        try {
          const [id] = await pullImage(this.ctx, ref, { allTags: false, platform }, noProgress);
          return { img: this.ctx.images.mustFind(id!), cached: false };
        } catch (err) {
          if (local) return { img: local, cached: true };
          throw new BerthError(`failed to resolve source metadata for ${ref}: ${(err as Error).message}`);
        }
      })();
      this.images.set(ref, p);
    }
    return p;
  }

  private async vertex<T>(
    name: string,
    fn: (v: BuildVertex) => Promise<{ value: T; cached: boolean }>,
  ): Promise<{ value: T; cached: boolean }> {
    const v: BuildVertex = { id: String(++this.vertexSeq), name };
    this.progress({ type: 'start', vertex: v, at: Date.now() });
    try {
      const r = await fn(v);
      this.progress({ type: 'done', vertex: v, at: Date.now(), cached: r.cached });
      return r;
    } catch (err) {
      this.progress({
        type: 'done',
        vertex: v,
        at: Date.now(),
        cached: false,
        error: (err as Error).message,
      });
      throw err;
    }
  }

  private lookup(scope: StageScope): (name: string) => string | undefined {
    const env = runtimeConfig(scope.state).Env;
    return (name) => envValue(env, name) ?? scope.args.get(name);
  }

  private expand(scope: StageScope, ins: Instruction, word: string): string {
    try {
      return expandWord(word, this.lookup(scope), this.plan.escape);
    } catch (err) {
      throw new BerthError(`Dockerfile:${ins.line}: ${(err as Error).message}`);
    }
  }

  private expandList(scope: StageScope, ins: Instruction, word: string): string[] {
    try {
      return expandWords(word, this.lookup(scope), this.plan.escape);
    } catch (err) {
      throw new BerthError(`Dockerfile:${ins.line}: ${(err as Error).message}`);
    }
  }

  private flag(scope: StageScope, ins: Instruction, name: string): string | undefined {
    const f = ins.flags.find((x) => x.name === name);
    if (!f) return undefined;
    return f.value === undefined ? '' : this.expand(scope, ins, f.value);
  }

  private flags(scope: StageScope, ins: Instruction, name: string): string[] {
    return ins.flags.filter((x) => x.name === name).map((f) => this.expand(scope, ins, f.value ?? ''));
  }

  /**
   * Metadata steps: the config changes, history records the line (unless `createdBy` is null:
   * BuildKit writes none for ONBUILD), the cache keeps the time.
   */
  private meta(
    scope: StageScope,
    ins: Instruction,
    createdBy: string | null,
    apply: () => void,
    parts: unknown[],
  ): void {
    apply();
    const key = cacheKey(scope.state.key, ins.kind, ...parts);
    const hit = this.o.noCache ? undefined : this.cache.get(key);
    const created = hit?.created ?? new Date().toISOString();
    if (hit) this.cache.touch(key);
    else this.cache.put({ key, diffId: '', size: 0, created, description: createdBy ?? ins.original });
    scope.state.key = key;
    if (createdBy === null) return;
    addHistory(scope.state, {
      created,
      created_by: createdBy,
      comment: 'buildkit.dockerfile.v0',
      empty_layer: true,
    });
    scope.state.config.created = created;
  }

  private async step(scope: StageScope, ins: Instruction, trigger: boolean): Promise<void> {
    const rc = runtimeConfig(scope.state);
    switch (ins.kind) {
      case 'ENV': {
        const values = ins.pairs.map((p) => [p.key, this.expand(scope, ins, p.value ?? '')] as const);
        const text = values.map(([k, v]) => `${k}=${v}`).join(' ');
        return this.meta(
          scope,
          ins,
          `ENV ${text}`,
          () => {
            for (const [k, v] of values) rc.Env = setEnv(rc.Env, k, v);
          },
          values as unknown[],
        );
      }
      case 'LABEL': {
        const values = ins.pairs.map(
          (p) => [this.expand(scope, ins, p.key), this.expand(scope, ins, p.value ?? '')] as const,
        );
        return this.meta(
          scope,
          ins,
          `LABEL ${values.map(([k, v]) => `${k}=${v}`).join(' ')}`,
          () => {
            rc.Labels = { ...(rc.Labels ?? {}) };
            for (const [k, v] of values) rc.Labels[k] = v;
          },
          values as unknown[],
        );
      }
      case 'ARG': {
        const values: Array<[string, string | null]> = [];
        for (const a of ins.args) {
          let v: string | undefined;
          if (Object.hasOwn(this.o.buildArgs, a.key)) v = this.o.buildArgs[a.key];
          else if (a.value !== undefined) v = this.expand(scope, ins, a.value);
          else v = this.plan.metaArgs.get(a.key) ?? this.plan.platformArgs.get(a.key);
          values.push([a.key, v ?? null]);
        }
        // An ARG changes no config, but its value reaches later RUN steps: it is part of the key.
        // History records the values used, as BuildKit's does.
        return this.meta(
          scope,
          ins,
          `ARG ${values.map(([k, v]) => (v === null ? k : `${k}=${v}`)).join(' ')}`,
          () => {
            for (const [k, v] of values) if (v !== null) scope.args.set(k, v);
          },
          values,
        );
      }
      case 'WORKDIR': {
        const p = this.expand(scope, ins, ins.path);
        const dir = posix.resolve(rc.WorkingDir || '/', p);
        rc.WorkingDir = dir;
        const label = `[${scope.stage.displayName} ${++scope.step}/${scope.steps}] WORKDIR ${dir}`;
        if (dir === '/') return this.meta(scope, ins, 'WORKDIR /', () => {}, [dir]);
        // BuildKit makes the directory (and its parents, owned by USER) as a step of its own;
        // when it exists already the step adds no layer.
        const user = rc.User ?? '';
        return this.layerStep(
          scope,
          'WORKDIR',
          [dir, user],
          { label, createdBy: `WORKDIR ${dir}` },
          async () =>
            (await snapshot()).changeLayers(this.ctx, scope.state.layers, async (root) =>
              makeDir(root, dir, user),
            ),
        );
      }
      case 'USER': {
        const u = this.expand(scope, ins, ins.user);
        return this.meta(
          scope,
          ins,
          `USER ${u}`,
          () => {
            rc.User = u;
          },
          [u],
        );
      }
      case 'EXPOSE': {
        const ports: string[] = [];
        for (const raw of ins.ports)
          for (const w of this.expandList(scope, ins, raw)) ports.push(...exposePorts(w, ins.line));
        return this.meta(
          scope,
          ins,
          `EXPOSE [${ports.join(' ')}]`,
          () => {
            rc.ExposedPorts = { ...(rc.ExposedPorts ?? {}) };
            for (const p of ports) rc.ExposedPorts[p] = {};
          },
          ports,
        );
      }
      case 'VOLUME': {
        const paths = ins.json
          ? ins.paths.map((p) => this.expand(scope, ins, p))
          : ins.paths.flatMap((p) => this.expandList(scope, ins, p));
        if (paths.some((p) => p.trim() === ''))
          throw new BerthError(`Dockerfile:${ins.line}: VOLUME specified can not be an empty string`);
        return this.meta(
          scope,
          ins,
          `VOLUME [${paths.join(' ')}]`,
          () => {
            rc.Volumes = { ...(rc.Volumes ?? {}) };
            for (const p of paths) rc.Volumes[p] = {};
          },
          paths,
        );
      }
      case 'STOPSIGNAL': {
        const s = this.expand(scope, ins, ins.signal);
        return this.meta(
          scope,
          ins,
          `STOPSIGNAL ${s}`,
          () => {
            rc.StopSignal = s;
          },
          [s],
        );
      }
      case 'MAINTAINER':
        return this.meta(
          scope,
          ins,
          `MAINTAINER ${ins.name}`,
          () => {
            scope.state.config.author = ins.name;
          },
          [ins.name],
        );
      case 'CMD': {
        const cmd = this.commandOf(scope, ins);
        scope.cmdSet = true;
        return this.meta(
          scope,
          ins,
          `CMD ${goQuoteList(cmd)}`,
          () => {
            rc.Cmd = cmd;
          },
          cmd,
        );
      }
      case 'ENTRYPOINT': {
        const ep = this.commandOf(scope, ins);
        return this.meta(
          scope,
          ins,
          `ENTRYPOINT ${goQuoteList(ep)}`,
          () => {
            rc.Entrypoint = ep;
            if (!scope.cmdSet) rc.Cmd = null;
          },
          ep,
        );
      }
      case 'SHELL':
        return this.meta(
          scope,
          ins,
          `SHELL [${ins.args.join(' ')}]`,
          () => {
            rc.Shell = [...ins.args];
          },
          ins.args,
        );
      case 'HEALTHCHECK': {
        const hc = this.healthcheck(scope, ins);
        return this.meta(
          scope,
          ins,
          `HEALTHCHECK ${goHealthcheck(hc)}`,
          () => {
            rc.Healthcheck = hc;
          },
          [hc],
        );
      }
      case 'ONBUILD':
        return this.meta(
          scope,
          ins,
          null,
          () => {
            rc.OnBuild = [...(rc.OnBuild ?? []), ins.triggerText];
          },
          [ins.triggerText],
        );
      case 'RUN':
        return this.runInstruction(scope, ins, trigger);
      case 'COPY':
      case 'ADD':
        return this.copyInstruction(scope, ins);
      case 'FROM':
        throw new BerthError(`Dockerfile:${ins.line}: FROM cannot be used here`);
    }
  }

  private commandOf(scope: StageScope, ins: Instruction & CommandArgs): string[] {
    if (ins.json) return [...ins.args];
    const shell = runtimeConfig(scope.state).Shell ?? ['/bin/sh', '-c'];
    return [...shell, ins.args[0] ?? ''];
  }

  private healthcheck(scope: StageScope, ins: Extract<Instruction, { kind: 'HEALTHCHECK' }>) {
    if (ins.none || !ins.command) return { Test: ['NONE'] };
    const hc: {
      Test: string[];
      Interval?: number;
      Timeout?: number;
      StartPeriod?: number;
      StartInterval?: number;
      Retries?: number;
    } = {
      Test: ins.command.json ? ['CMD', ...ins.command.args] : ['CMD-SHELL', ins.command.args[0] ?? ''],
    };
    const dur = (name: string) => {
      const v = this.flag(scope, ins, name);
      if (v === undefined || v === '') return undefined;
      const ms = parseDuration(v);
      if (ms !== 0 && ms < 1)
        throw new BerthError(`Dockerfile:${ins.line}: Interval "${name}" cannot be less than 1ms`);
      return Math.round(ms * 1e6);
    };
    const i = dur('interval');
    if (i !== undefined) hc.Interval = i;
    const t = dur('timeout');
    if (t !== undefined) hc.Timeout = t;
    const sp = dur('start-period');
    if (sp !== undefined) hc.StartPeriod = sp;
    const si = dur('start-interval');
    if (si !== undefined) hc.StartInterval = si;
    const r = this.flag(scope, ins, 'retries');
    if (r !== undefined && r !== '') {
      const n = Number(r);
      if (!Number.isInteger(n) || n < 0)
        throw new BerthError(`Dockerfile:${ins.line}: --retries must be a non-negative integer`);
      hc.Retries = n;
    }
    return hc;
  }

  /** Args and env a RUN sees: the config's Env, then the stage's ARGs that ENV does not shadow. */
  private runEnv(scope: StageScope): { env: string[]; argPrefix: string } {
    const config = [...(runtimeConfig(scope.state).Env ?? [])];
    let env = config;
    const used: string[] = [];
    for (const [k, v] of scope.args) {
      // History lists every ARG of the stage with the value the step sees (ENV shadows ARG).
      used.push(`${k}=${envValue(config, k) ?? v}`);
      if (envValue(config, k) !== undefined) continue;
      env = [...env, `${k}=${v}`];
    }
    return { env, argPrefix: used.length > 0 ? `|${used.length} ${used.join(' ')} ` : '' };
  }

  private async runInstruction(
    scope: StageScope,
    ins: Extract<Instruction, { kind: 'RUN' }>,
    trigger: boolean,
  ): Promise<void> {
    const rc = runtimeConfig(scope.state);
    const shell = rc.Shell ?? ['/bin/sh', '-c'];
    let argv: string[];
    if (ins.json) argv = [...ins.args];
    else argv = [...shell, heredocScript(ins.args[0] ?? '', ins.heredocs)];
    // `RUN <<EOF` whose body starts with #! is a script file BuildKit mounts at /dev/pipes/NAME
    // and runs by path, so its own interpreter reads it.
    const lone = !ins.json && ins.heredocs.length === 1 && onlyHeredoc(ins.args[0] ?? '');
    const script = lone && ins.heredocs[0]!.content.startsWith('#!') ? ins.heredocs[0]! : undefined;
    if (script) argv = [...shell, `/dev/pipes/${script.name}`];
    const network = this.flag(scope, ins, 'network') ?? 'default';
    if (!['default', 'none', 'host'].includes(network)) {
      throw new BerthError(
        `Dockerfile:${ins.line}: unsupported RUN --network=${network}: use default, none or host`,
      );
    }
    const security = this.flag(scope, ins, 'security');
    if (security && security !== 'sandbox') {
      throw new BerthError(
        `Dockerfile:${ins.line}: RUN --security=${security} needs an entitlement berth build does not grant`,
      );
    }
    const mounts = this.flags(scope, ins, 'mount').map((m) => parseRunMount(m, ins.line));
    const { env, argPrefix } = this.runEnv(scope);
    const user = rc.User ?? '';
    const workdir = rc.WorkingDir || '/';
    const shown = argv.join(' ');
    const mountKeys = await Promise.all(mounts.map((m) => this.mountKey(scope, m)));
    const createdBy = `RUN ${argPrefix}${shown} # buildkit`;
    const label = `[${scope.stage.displayName} ${++scope.step}/${scope.steps}] ${trigger ? 'ONBUILD ' : ''}RUN ${ins.json ? JSON.stringify(ins.args) : (ins.args[0] ?? '')}`;
    await this.layerStep(
      scope,
      'RUN',
      [argv, script?.content ?? null, env, user, workdir, network, mountKeys, this.o.extraHosts ?? []],
      { label, createdBy },
      async (v) => {
        const cleanup: string[] = [];
        try {
          const spec: RunSpec = {
            argv,
            env,
            user,
            workdir,
            network:
              network === 'default'
                ? this.o.network && this.o.network !== 'default'
                  ? this.o.network
                  : 'bridge'
                : network,
            mounts: [],
            tmpfs: {},
            extraHosts: this.o.extraHosts ?? [],
            shown,
          };
          const release: Array<() => void> = [];
          try {
            for (const m of mounts) await this.materializeMount(scope, m, spec, cleanup, release);
            if (script) {
              const dir = join(this.ctx.paths.root, 'build', 'tmp', `pipe-${randomBytes(8).toString('hex')}`);
              fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
              cleanup.push(dir);
              fs.writeFileSync(join(dir, script.name), script.content, { mode: 0o755 });
              spec.mounts.push({
                type: 'bind',
                source: join(dir, script.name),
                target: `/dev/pipes/${script.name}`,
                readonly: true,
              });
            }
            const { runStep } = await import('./run-step.ts');
            const r = await runStep(this.ctx, this.engine, scope.state, spec, (stream, data) =>
              this.progress({ type: 'log', vertex: v, stream, data }),
            );
            return r;
          } finally {
            for (const f of release) f();
          }
        } finally {
          for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
        }
      },
    );
  }

  /** What of a RUN mount goes into the step's key: never a secret's value or a cache's contents. */
  private async mountKey(scope: StageScope, m: RunMount): Promise<unknown> {
    const base = {
      type: m.type,
      target: m.target,
      readonly: m.readonly,
      id: m.id,
      mode: m.mode,
      uid: m.uid,
      gid: m.gid,
      env: m.env,
    };
    if (m.type !== 'bind') return base;
    const src = m.source ?? '/';
    if (!m.from) {
      const root: SourceRoot = { dir: this.bc.dir, ignore: this.bc.ignore };
      const sources = resolveSources(root, src, null);
      return { ...base, source: src, digest: sourcesDigest(this.ctx, root, sources, null) };
    }
    const from = await this.fromState(scope, m.from);
    return { ...base, source: src, from: from.key };
  }

  private async materializeMount(
    scope: StageScope,
    m: RunMount,
    spec: RunSpec,
    cleanup: string[],
    release: Array<() => void>,
  ): Promise<void> {
    switch (m.type) {
      case 'tmpfs':
        spec.tmpfs[m.target] = m.size ? `size=${m.size}` : '';
        return;
      case 'cache': {
        const dir = cacheMountDir(this.ctx, m);
        if (m.sharing === 'locked') {
          const { lockFile } = await import('./cache-lock.ts');
          release.push(await lockFile(`${dir}.lock`));
        }
        spec.mounts.push({ type: 'bind', source: dir, target: m.target, readonly: m.readonly });
        return;
      }
      case 'secret': {
        const data = secretBytes(this.o.secrets, m.id ?? '');
        if (data === undefined) {
          if (m.required)
            throw new BerthError(
              `secret ${m.id} is required but was not given: pass --secret id=${m.id},src=FILE`,
            );
          return;
        }
        if (m.env) spec.env = [...spec.env, `${m.env}=${data.toString()}`];
        if (m.target) spec.mounts.push(secretMount(this.ctx, m, data, cleanup));
        return;
      }
      case 'bind': {
        const src = m.source ?? '/';
        if (!m.from) {
          const [s] = resolveSources({ dir: this.bc.dir, ignore: this.bc.ignore }, src, null);
          spec.mounts.push(await this.bindSource(s!.abs, m, cleanup));
          return;
        }
        const from = await this.fromState(scope, m.from);
        // A stage's files are mounted from a private copy: the step must not see a live overlay go away.
        const tmp = join(this.ctx.paths.root, 'build', 'tmp', `bind-${randomBytes(8).toString('hex')}`);
        cleanup.push(tmp);
        await (await snapshot()).withLayersReadonly(this.ctx, from.layers, async (root) => {
          const [s] = resolveSources({ dir: root, ignore: null }, src, null);
          fs.cpSync(s!.abs, tmp, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
        });
        spec.mounts.push({ type: 'bind', source: tmp, target: m.target, readonly: m.readonly });
        return;
      }
      default:
        throw new BerthError(`RUN --mount=type=${m.type} is not supported`);
    }
  }

  /** A context path bound into a step; writable ones get a throwaway copy (BuildKit discards the writes). */
  private async bindSource(abs: string, m: RunMount, cleanup: string[]): Promise<MountSpec> {
    if (m.readonly) return { type: 'bind', source: abs, target: m.target, readonly: true };
    const tmp = join(this.ctx.paths.root, 'build', 'tmp', `bind-${randomBytes(8).toString('hex')}`);
    cleanup.push(tmp);
    fs.cpSync(abs, tmp, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    return { type: 'bind', source: tmp, target: m.target, readonly: false };
  }

  /** The state a `--from=` names: an earlier stage's result or an image's. */
  private async fromState(scope: StageScope, value: string): Promise<BuildState> {
    const r = resolveFrom(this.plan.stages, scope.stage, value);
    if ('stage' in r) return this.solve(r.stage);
    const { img } = await this.image(r.image, scope.stage.platform);
    return {
      key: cacheKey('image', img.id),
      layers: [...img.layers],
      config: img.config,
      baseImageId: img.id,
    };
  }

  private async copyInstruction(
    scope: StageScope,
    ins: Extract<Instruction, { kind: 'COPY' | 'ADD' }>,
  ): Promise<void> {
    const rc = runtimeConfig(scope.state);
    const isAdd = ins.kind === 'ADD';
    const fromValue = this.flag(scope, ins, 'from');
    if (isAdd && fromValue !== undefined)
      throw new BerthError(`Dockerfile:${ins.line}: ADD does not support --from; use COPY --from`);
    const chownValue = this.flag(scope, ins, 'chown');
    const chmodValue = this.flag(scope, ins, 'chmod');
    const checksum = this.flag(scope, ins, 'checksum');
    const excludePatterns = this.flags(scope, ins, 'exclude');
    const excludes = excludePatterns.length > 0 ? new IgnoreMatcher(excludePatterns) : null;
    let chmod: number | undefined;
    if (chmodValue) {
      if (!/^[0-7]{3,4}$/.test(chmodValue)) {
        throw new BerthError(
          `Dockerfile:${ins.line}: invalid --chmod=${chmodValue}: give an octal mode such as 0755`,
        );
      }
      chmod = Number.parseInt(chmodValue, 8);
    }
    const rawSources = ins.json ? ins.sources : ins.sources;
    const heredocNames = new Map(ins.heredocs.map((h) => [h.name, h]));
    const srcWords = rawSources.map((s) => (s.startsWith('<<') ? s : this.expand(scope, ins, s)));
    const destWord = this.expand(scope, ins, ins.dest);
    const workdir = rc.WorkingDir || '/';
    const dest = posix.resolve(workdir, destWord);
    const destIsDir = destWord.endsWith('/') || destWord === '.' || destWord.endsWith('/.');
    if (srcWords.length > 1 && !destIsDir) {
      throw new BerthError(
        `Dockerfile:${ins.line}: When using ${ins.kind} with more than one source file, the destination must be a directory and end with a /`,
      );
    }
    // Sources, and what of them goes into the key.
    let fromState: BuildState | undefined;
    if (fromValue) fromState = await this.fromState(scope, fromValue);
    const keyParts: unknown[] = [];
    const plans: Array<(root: SourceRoot | null) => Promise<CopyItem[]>> = [];
    for (const w of srcWords) {
      if (w.startsWith('<<')) {
        const name = w.replace(/^<<-?/, '').replace(/^["']|["']$/g, '');
        const h = heredocNames.get(name);
        if (!h) throw new BerthError(`Dockerfile:${ins.line}: heredoc ${name} has no body`);
        const content = h.expand ? this.expand(scope, ins, h.content) : h.content;
        keyParts.push(['heredoc', name, content]);
        const data = Buffer.from(content);
        plans.push(async () => [
          {
            kind: 'bytes',
            name,
            data: () => Readable.from([data]),
            size: data.length,
            mode: 0o644,
            mtime: new Date(0),
          },
        ]);
        continue;
      }
      if (isAdd && /^https?:\/\//.test(w)) {
        const { fetchUrl } = await import('./add-sources.ts');
        const got = await fetchUrl(this.ctx, w, checksum);
        keyParts.push(['url', w, got.digest]);
        plans.push(async () => [
          {
            kind: 'bytes',
            name: got.name,
            data: () => fs.createReadStream(got.path),
            size: got.size,
            mode: 0o600,
            mtime: got.mtime,
          },
        ]);
        continue;
      }
      if (isAdd && /^git@|\.git(#|$)/.test(w)) {
        throw new BerthError(
          `Dockerfile:${ins.line}: ADD of a git repository is not supported by berth build; clone it into the context`,
        );
      }
      if (fromState) {
        keyParts.push(['from', fromState.key, w, excludePatterns]);
        plans.push(async (root) => {
          const sroot = root!;
          return resolveSources(sroot, w, excludes).map(
            (source) => ({ kind: 'path', root: sroot, source, excludes }) as CopyItem,
          );
        });
        continue;
      }
      const root: SourceRoot = { dir: this.bc.dir, ignore: this.bc.ignore };
      const sources = resolveSources(root, w, excludes);
      keyParts.push(['context', w, sourcesDigest(this.ctx, root, sources, excludes)]);
      plans.push(async () => {
        const items: CopyItem[] = [];
        for (const source of sources) {
          const { openArchive, sniffArchive } = await import('./add-sources.ts');
          const kind = isAdd && source.stat.isFile() ? await sniffArchive(source.abs) : null;
          if (kind)
            items.push({ kind: 'archive', name: source.rel, open: () => openArchive(source.abs, kind) });
          else items.push({ kind: 'path', root, source, excludes });
        }
        return items;
      });
    }
    if (checksum && !srcWords.some((w) => /^https?:\/\//.test(w))) {
      throw new BerthError(`Dockerfile:${ins.line}: ADD --checksum is only supported for HTTP(S) sources`);
    }
    const flagText = [
      fromValue !== undefined ? `--from=${fromValue}` : '',
      chownValue ? `--chown=${chownValue}` : '',
      chmodValue ? `--chmod=${chmodValue}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    const shownArgs = [...rawSources, ins.dest].join(' ');
    const label = `[${scope.stage.displayName} ${++scope.step}/${scope.steps}] ${ins.kind} ${flagText ? `${flagText} ` : ''}${shownArgs}`;
    // BuildKit's history line: --chown/--chmod (never --from), the expanded sources (heredocs as
    // <<NAME, after the paths), the expanded destination.
    const historyFlags = [
      chownValue ? `--chown=${chownValue}` : '',
      chmodValue ? `--chmod=${chmodValue}` : '',
    ];
    const heredocWord = (w: string) => `<<${w.replace(/^<<-?/, '').replace(/^["']|["']$/g, '')}`;
    const createdBy = [
      ins.kind,
      ...historyFlags,
      ...srcWords.filter((w) => !w.startsWith('<<')),
      ...srcWords.filter((w) => w.startsWith('<<')).map(heredocWord),
      destWord,
      '# buildkit',
    ]
      .filter(Boolean)
      .join(' ');
    await this.layerStep(
      scope,
      ins.kind,
      [keyParts, dest, destIsDir, chownValue ?? '', chmod ?? null, rc.User ?? ''],
      { label, createdBy },
      async () => {
        const { changeLayers, withLayersReadonly } = await snapshot();
        const { copyInto } = await import('./copy-step.ts');
        const run = async (sroot: SourceRoot | null) => {
          const items: CopyItem[] = [];
          for (const p of plans) items.push(...(await p(sroot)));
          return changeLayers(this.ctx, scope.state.layers, async (root) => {
            let owner = { uid: 0, gid: 0 };
            if (chownValue) {
              const u = resolveUser(root, chownValue);
              owner = { uid: u.uid, gid: chownValue.includes(':') ? u.gid : u.gid };
            } else if (isAdd) owner = { uid: -1, gid: -1 };
            const fixed = owner.uid === -1 ? { uid: 0, gid: 0 } : owner;
            const archives = items.filter((i) => i.kind === 'archive');
            const others = items.filter((i) => i.kind !== 'archive');
            if (others.length > 0)
              await copyInto(root, others, {
                dest,
                destIsDir: destIsDir || others.length > 1,
                owner: fixed,
                chmod,
              });
            if (archives.length > 0) await copyInto(root, archives, { dest, destIsDir: true, owner, chmod });
          });
        };
        if (fromState)
          return withLayersReadonly(this.ctx, fromState.layers, (root) => run({ dir: root, ignore: null }));
        return run(null);
      },
    );
  }

  /**
   * A step that may add a layer: on a cache hit its recorded layer is reused without running
   * anything; otherwise `exec` produces the change, which is stored and recorded.
   */
  private async layerStep(
    scope: StageScope,
    kind: string,
    parts: unknown[],
    show: { label: string; createdBy: string },
    exec: (v: BuildVertex) => Promise<{ diffId: string; size: number } | null>,
  ): Promise<void> {
    const key = cacheKey(scope.state.key, kind, ...parts);
    const label = show.label;
    const { value: rec } = await this.vertex(label, async (v) => {
      const hit = this.o.noCache ? undefined : this.cache.get(key);
      if (hit) {
        this.cache.touch(key);
        return { value: { diffId: hit.diffId, size: hit.size, created: hit.created }, cached: true };
      }
      const r = await exec(v);
      const created = new Date().toISOString();
      this.cache.put({
        key,
        diffId: r?.diffId ?? '',
        size: r?.size ?? 0,
        created,
        description: show.createdBy,
      });
      return { value: { diffId: r?.diffId ?? '', size: r?.size ?? 0, created }, cached: false };
    });
    scope.state.key = key;
    if (rec.diffId) {
      scope.state.layers.push(layerRecord(scope.state.layers, rec.diffId, rec.size));
      scope.state.config.rootfs = { type: 'layers', diff_ids: scope.state.layers.map((l) => l.diffId) };
    }
    addHistory(scope.state, {
      created: rec.created,
      created_by: show.createdBy,
      comment: 'buildkit.dockerfile.v0',
      ...(rec.diffId ? {} : { empty_layer: true }),
    });
    scope.state.config.created = rec.created;
  }
}

/** Errors of a step carry its Dockerfile lines (once: the innermost step is the one to show). */
function atLine(err: unknown, ins: Instruction): unknown {
  if (err instanceof BuildStepError) return err;
  const status = err instanceof StepFailedError ? err.exitStatus : 1;
  const msg = err instanceof Error ? err.message : String(err);
  return new BuildStepError(msg, ins.line, ins.endLine, status);
}

/** `RUN <<EOF` alone runs the heredoc as the script; other heredocs go to the shell with the line. */
export function heredocScript(cmd: string, heredocs: Heredoc[]): string {
  if (heredocs.length === 0) return cmd;
  const only = heredocs.length === 1 && onlyHeredoc(cmd);
  if (only) return heredocs[0]!.content;
  let script = cmd;
  for (const h of heredocs) script += `\n${h.content}${h.name}`;
  return script;
}

function exposePorts(w: string, line: number): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
  if (!m) throw new BerthError(`Dockerfile:${line}: invalid containerPort: ${w}`);
  const lo = Number(m[1]);
  const hi = m[2] ? Number(m[2]) : lo;
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

export function digestOf(s: string): string {
  return `sha256:${createHash('sha256').update(s).digest('hex')}`;
}

/** `mkdir -p` inside the root (never through its symlinks), new directories owned by `user`. */
function makeDir(root: string, dir: string, user: string): void {
  const owner = user ? resolveUser(root, user) : { uid: 0, gid: 0 };
  const rootFd = openDir(root);
  try {
    new Scope(rootFd)
      .resolve(dir, {
        dir: true,
        mkdir: (fd, name) => {
          const p = fdPath(fd, name);
          fs.mkdirSync(p, 0o755);
          fs.lchownSync(p, owner.uid, owner.gid);
        },
      })
      .close();
  } finally {
    fs.closeSync(rootFd);
  }
}

/** Go's `%+v` of BuildKit's HealthcheckConfig, as its history line shows it. */
function goHealthcheck(hc: {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}): string {
  const d = (ns: number | undefined) => goDuration(ns ?? 0);
  return `{Test:[${hc.Test.join(' ')}] Interval:${d(hc.Interval)} Timeout:${d(hc.Timeout)} StartPeriod:${d(hc.StartPeriod)} StartInterval:${d(hc.StartInterval)} Retries:${hc.Retries ?? 0}}`;
}

/** Go's time.Duration.String() of a count of nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  const trim = (x: string) => x.replace(/\.?0+$/, '');
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trim((n / 1e3).toFixed(3))}µs`;
  else if (n < 1e9) out = `${trim((n / 1e6).toFixed(6))}ms`;
  else {
    const h = Math.floor(n / 3.6e12);
    n -= h * 3.6e12;
    const m = Math.floor(n / 6e10);
    n -= m * 6e10;
    const sec = `${trim((n / 1e9).toFixed(9))}s`;
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

/** The RUN line is a lone `<<EOF` (its heredoc is the whole script). */
function onlyHeredoc(cmd: string): boolean {
  return /^<<-?["']?[A-Za-z0-9_]+["']?$/.test(cmd.trim());
}
