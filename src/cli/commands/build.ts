import * as fs from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { BuildStepError, dockerfileExcerpt } from '../../build/errors.ts';
import type { BuildOptions, BuildOutput } from '../../build/types.ts';
import { parseFilters } from '../../engine/filters.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { parseBytes } from '../../util/units.ts';
import { BuildProgressPrinter, TtyBuildProgress } from '../build-progress.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagString, flagStrings } from '../flags.ts';
import { printPruned, pruneConfirmed } from '../prune.ts';
import type { Command } from '../registry.ts';

const buildSpec: CommandSpec = {
  name: 'build',
  usage: 'berth build [OPTIONS] PATH | -',
  description: 'Build an image from a Dockerfile',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [
    {
      name: 'tag',
      short: 't',
      kind: 'stringArray',
      description: 'Name and optionally a tag (format: "name:tag")',
    },
    {
      name: 'file',
      short: 'f',
      kind: 'string',
      description: 'Name of the Dockerfile (default: "PATH/Dockerfile")',
    },
    { name: 'build-arg', kind: 'stringArray', description: 'Set build-time variables' },
    { name: 'target', kind: 'string', description: 'Set the target build stage to build' },
    { name: 'label', kind: 'stringArray', description: 'Set metadata for an image' },
    { name: 'no-cache', kind: 'bool', description: 'Do not use cache when building the image' },
    { name: 'pull', kind: 'bool', description: 'Always attempt to pull a newer version of the image' },
    {
      name: 'secret',
      kind: 'stringArray',
      description: 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")',
    },
    { name: 'iidfile', kind: 'string', description: 'Write the image ID to the file' },
    {
      name: 'output',
      short: 'o',
      kind: 'stringArray',
      description: 'Output destination (format: "type=local,dest=path")',
    },
    {
      name: 'quiet',
      short: 'q',
      kind: 'bool',
      description: 'Suppress the build output and print image ID on success',
    },
    {
      name: 'progress',
      kind: 'string',
      default: 'auto',
      description: 'Set type of progress output (auto, plain, tty, quiet)',
    },
    { name: 'platform', kind: 'string', description: 'Set platform if server is multi-platform capable' },
    {
      name: 'network',
      kind: 'string',
      description: 'Set the networking mode for the RUN instructions during build',
    },
    { name: 'add-host', kind: 'stringArray', description: 'Add a custom host-to-IP mapping ("host:ip")' },
    {
      name: 'rm',
      kind: 'bool',
      default: true,
      description: 'Remove intermediate containers after a successful build',
    },
    { name: 'force-rm', kind: 'bool', description: 'Always remove intermediate containers' },
    {
      name: 'cache-from',
      kind: 'stringArray',
      description: 'Images to consider as cache sources',
      hidden: true,
    },
  ],
};

function keyValues(list: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq === 0) throw new InvalidArgumentError(`invalid ${what} "${kv}": want key=value`);
    // `--build-arg NAME` takes the value from the environment, as docker does.
    if (eq < 0) {
      const v = process.env[kv];
      if (v !== undefined) out[kv] = v;
    } else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function csv(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of s.split(',')) {
    const eq = f.indexOf('=');
    out[(eq < 0 ? f : f.slice(0, eq)).trim()] = eq < 0 ? '' : f.slice(eq + 1);
  }
  return out;
}

function parseSecret(s: string): { id: string; src?: string; env?: string } {
  const f = csv(s);
  const id = f.id;
  if (!id) throw new InvalidArgumentError(`invalid secret "${s}": id= is required`);
  const src = f.src ?? f.source;
  if (f.type === 'env' || (f.env !== undefined && !src)) return { id, env: f.env || id };
  if (src) {
    if (!fs.existsSync(src))
      throw new InvalidArgumentError(`failed to stat secret ${id}: ${src}: no such file`);
    return { id, src: resolve(src) };
  }
  return { id, env: id };
}

function parseOutput(s: string): BuildOutput {
  if (s === '-') return { type: 'tar', dest: '-' };
  if (!s.includes('=')) return { type: 'local', dest: resolve(s) };
  const f = csv(s);
  const type = f.type ?? 'local';
  if (type === 'image' || type === 'docker') return { type: 'image' };
  const dest = f.dest;
  if (!dest) throw new InvalidArgumentError(`invalid output "${s}": dest= is required for type=${type}`);
  if (type === 'local') return { type: 'local', dest: resolve(dest) };
  if (type === 'tar') return { type: 'tar', dest: dest === '-' ? '-' : resolve(dest) };
  throw new InvalidArgumentError(`output type "${type}" is not supported: use local, tar or image`);
}

/** Does this stdin carry a tar (a context) rather than a Dockerfile? docker asks the same. */
function looksLikeTar(b: Buffer): boolean {
  return b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
}

export const buildCmd: Command = {
  spec: buildSpec,
  async run(ctx, p) {
    const ctxArg = p.args[0]!;
    if (/^(https?|git):\/\/|^git@/.test(ctxArg)) {
      throw new InvalidArgumentError(
        `remote build contexts (${ctxArg}) are not supported: clone or download it and build the directory`,
      );
    }
    const file = flagString(p, buildSpec, 'file');
    const quiet = flagBool(p, buildSpec, 'quiet');
    let mode = (flagString(p, buildSpec, 'progress') ?? 'auto') as string;
    if (!['auto', 'plain', 'tty', 'quiet', 'rawjson'].includes(mode)) {
      throw new InvalidArgumentError(`invalid --progress "${mode}": use auto, plain, tty or quiet`);
    }
    if (mode === 'auto') mode = process.stderr.isTTY ? 'tty' : 'plain';
    if (quiet || mode === 'quiet') mode = 'quiet';
    let context: BuildOptions['context'];
    let dockerfile: BuildOptions['dockerfile'];
    let dockerfileText: string | undefined;
    if (ctxArg === '-') {
      const data = fs.readFileSync(0);
      if (looksLikeTar(data)) {
        context = { tar: Readable.from([data]) };
        if (file) dockerfile = { path: file };
      } else {
        context = { none: true };
        dockerfileText = data.toString();
        dockerfile = { text: dockerfileText };
      }
    } else {
      context = { dir: resolve(ctxArg) };
      if (file === '-') {
        dockerfileText = fs.readFileSync(0, 'utf8');
        dockerfile = { text: dockerfileText };
      } else if (file) dockerfile = { path: resolve(file) };
    }
    const o: BuildOptions = {
      context,
      dockerfile,
      tags: flagStrings(p, buildSpec, 'tag'),
      buildArgs: keyValues(flagStrings(p, buildSpec, 'build-arg'), 'build-arg'),
      target: flagString(p, buildSpec, 'target'),
      labels: keyValues(flagStrings(p, buildSpec, 'label'), 'label'),
      noCache: flagBool(p, buildSpec, 'no-cache'),
      pull: flagBool(p, buildSpec, 'pull'),
      secrets: flagStrings(p, buildSpec, 'secret').map(parseSecret),
      network: flagString(p, buildSpec, 'network'),
      platform: flagString(p, buildSpec, 'platform'),
      outputs: flagStrings(p, buildSpec, 'output').map(parseOutput),
      extraHosts: flagStrings(p, buildSpec, 'add-host'),
    };
    const printer =
      mode === 'tty'
        ? new TtyBuildProgress(ctx.err)
        : new BuildProgressPrinter(ctx.err, mode as 'plain' | 'quiet');
    const engine = await ctx.engine();
    try {
      const r = await engine
        .build(o, (e) => printer.event(e))
        .finally(() => {
          if (printer instanceof TtyBuildProgress) printer.finish();
        });
      const iid = flagString(p, buildSpec, 'iidfile');
      if (iid) fs.writeFileSync(iid, r.imageId);
      if (mode !== 'quiet') {
        ctx.err.write(`#0 writing image ${r.imageId} done\n`);
        for (const t of o.tags) ctx.err.write(`#0 naming to ${t} done\n`);
      }
      if (quiet || mode === 'quiet') print(ctx, r.imageId);
      return 0;
    } catch (err) {
      if (!(err instanceof BuildStepError)) throw err;
      let text = dockerfileText;
      if (text === undefined && 'dir' in context) {
        try {
          text = fs.readFileSync(file ? resolve(file) : resolve(ctxArg, 'Dockerfile'), 'utf8');
        } catch {
          text = undefined;
        }
      }
      if (text !== undefined)
        ctx.err.write(`${dockerfileExcerpt(file ?? 'Dockerfile', text, err.line, err.endLine)}\n`);
      ctx.err.write(`ERROR: failed to solve: ${err.message}\n`);
      return 1;
    }
  },
};

const pruneSpec: CommandSpec = {
  name: 'builder prune',
  usage: 'berth builder prune [OPTIONS]',
  description: 'Remove build cache',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'all',
      short: 'a',
      kind: 'bool',
      description: 'Remove all unused build cache, not just dangling ones',
    },
    { name: 'filter', kind: 'stringArray', description: 'Provide filter values (e.g. "until=24h")' },
    { name: 'force', short: 'f', kind: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'keep-storage', kind: 'string', description: 'Amount of disk space to keep for cache' },
  ],
};

export const builderPruneCmd: Command = {
  spec: pruneSpec,
  async run(ctx, p) {
    const filters = parseFilters(flagStrings(p, pruneSpec, 'filter'), ['until']);
    const keep = flagString(p, pruneSpec, 'keep-storage');
    if (
      !(await pruneConfirmed(
        ctx,
        flagBool(p, pruneSpec, 'force'),
        'WARNING! This will remove all dangling build cache.',
      ))
    ) {
      return 0;
    }
    const r = await (await ctx.engine()).pruneBuildCache({
      all: flagBool(p, pruneSpec, 'all'),
      filters,
      keepStorage: keep ? parseBytes(keep) : undefined,
    });
    printPruned(ctx, 'build cache objects', r.deleted, r.spaceReclaimed);
    return 0;
  },
};
