import { parseFilters } from '../../engine/filters.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { eachArg, inspectEach } from '../batch.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagString, flagStrings } from '../flags.ts';
import { renderList } from '../format/render.ts';
import { printPruned, pruneConfirmed } from '../prune.ts';
import type { Command } from '../registry.ts';

function keyValues(list: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`invalid ${what} "${kv}": want key=value`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

const createSpec: CommandSpec = {
  name: 'volume create',
  usage: 'berth volume create [OPTIONS] [VOLUME]',
  description: 'Create a volume',
  interspersed: true,
  maxArgs: 1,
  flags: [
    {
      name: 'driver',
      short: 'd',
      kind: 'string',
      default: 'local',
      description: 'Specify volume driver name',
    },
    { name: 'label', kind: 'stringArray', description: 'Set metadata for a volume' },
    { name: 'name', kind: 'string', description: 'Specify volume name', hidden: true },
    {
      name: 'opt',
      short: 'o',
      kind: 'stringArray',
      description: 'Set driver specific options',
      valueName: 'map',
    },
  ],
};

export const volumeCreateCmd: Command = {
  spec: createSpec,
  async run(ctx, p) {
    const driver = flagString(p, createSpec, 'driver') ?? 'local';
    if (driver !== 'local')
      throw new InvalidArgumentError(`volume driver "${driver}" is not supported: only "local"`);
    const flagName = flagString(p, createSpec, 'name');
    if (flagName && p.args[0] && flagName !== p.args[0]) {
      throw new InvalidArgumentError(
        `conflicting options: either specify --name or provide positional arg, not both`,
      );
    }
    const labels: Record<string, string> = {};
    for (const l of flagStrings(p, createSpec, 'label')) {
      const eq = l.indexOf('=');
      labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
    }
    const v = await (await ctx.engine()).volumeCreate(p.args[0] ?? flagName, {
      labels,
      options: keyValues(flagStrings(p, createSpec, 'opt'), 'option'),
    });
    print(ctx, v.Name);
    return 0;
  },
};

const lsSpec: CommandSpec = {
  name: 'volume ls',
  usage: 'berth volume ls [OPTIONS]',
  description: 'List volumes',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'filter',
      short: 'f',
      kind: 'stringArray',
      description: "Provide filter values (e.g. 'dangling=true')",
      valueName: 'filter',
    },
    { name: 'format', kind: 'string', description: 'Format output using a custom template' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display volume names' },
  ],
};

export const volumeLsCmd: Command = {
  spec: lsSpec,
  async run(ctx, p) {
    const filters = parseFilters(flagStrings(p, lsSpec, 'filter'), ['name', 'label', 'driver', 'dangling']);
    const list = await (await ctx.engine()).volumeList(filters);
    if (flagBool(p, lsSpec, 'quiet')) {
      for (const v of list) print(ctx, v.Name);
      return 0;
    }
    const rows = list.map((v) => ({
      Name: v.Name,
      Driver: v.Driver,
      Scope: v.Scope,
      Mountpoint: v.Mountpoint,
      CreatedAt: v.CreatedAt,
      Labels: Object.entries(v.Labels)
        .map(([k, val]) => `${k}=${val}`)
        .join(','),
      Label: (name: string) => v.Labels[name] ?? '',
    }));
    ctx.out.write(
      renderList(rows, flagString(p, lsSpec, 'format'), 'table {{.Driver}}\t{{.Name}}', {
        Name: 'VOLUME NAME',
        Driver: 'DRIVER',
        Scope: 'SCOPE',
        Mountpoint: 'MOUNTPOINT',
        CreatedAt: 'CREATED',
        Labels: 'LABELS',
      }),
    );
    return 0;
  },
};

const inspectSpec: CommandSpec = {
  name: 'volume inspect',
  usage: 'berth volume inspect [OPTIONS] VOLUME [VOLUME...]',
  description: 'Display detailed information on one or more volumes',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'format', short: 'f', kind: 'string', description: 'Format output using a custom template' },
  ],
};

export const volumeInspectCmd: Command = {
  spec: inspectSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    return inspectEach(
      ctx,
      p.args,
      (name) => engine.volumeInspect(name),
      flagString(p, inspectSpec, 'format'),
    );
  },
};

const rmSpec: CommandSpec = {
  name: 'volume rm',
  usage: 'berth volume rm [OPTIONS] VOLUME [VOLUME...]',
  description: 'Remove one or more volumes',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Force the removal of one or more volumes' },
  ],
};

export const volumeRmCmd: Command = {
  spec: rmSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    return eachArg(ctx, p.args, (name) => engine.volumeRemove(name, flagBool(p, rmSpec, 'force')), {
      echo: true,
    });
  },
};

const pruneSpec: CommandSpec = {
  name: 'volume prune',
  usage: 'berth volume prune [OPTIONS]',
  description: 'Remove unused local volumes',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'all',
      short: 'a',
      kind: 'bool',
      description: 'Remove all unused volumes, not just anonymous ones',
    },
    {
      name: 'filter',
      kind: 'stringArray',
      description: "Provide filter values (e.g. 'label=<label>')",
      valueName: 'filter',
    },
    { name: 'force', short: 'f', kind: 'bool', description: 'Do not prompt for confirmation' },
  ],
};

export const volumePruneCmd: Command = {
  spec: pruneSpec,
  async run(ctx, p) {
    const all = flagBool(p, pruneSpec, 'all');
    const warning = all
      ? 'WARNING! This will remove all local volumes not used by at least one container.'
      : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
    if (!(await pruneConfirmed(ctx, flagBool(p, pruneSpec, 'force'), warning))) return 0;
    const filters = parseFilters(flagStrings(p, pruneSpec, 'filter'), ['label', 'all']);
    const r = await (await ctx.engine()).volumePrune({ all, filters });
    printPruned(ctx, 'Volumes', r.deleted, r.spaceReclaimed);
    return 0;
  },
};
