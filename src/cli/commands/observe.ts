import { dockerTimestamp } from '../../container/logs.ts';
import { parseFilters } from '../../engine/filters.ts';
import type { ContainerSummary, StatsEntry } from '../../engine/types.ts';
import { portsText } from '../../network/ports.ts';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../util/errors.ts';
import { bytesSize, humanDuration, humanSize, parseTimestamp } from '../../util/units.ts';
import { inspectEach } from '../batch.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagInt, flagString, flagStrings } from '../flags.ts';
import { renderList } from '../format/render.ts';
import type { Command } from '../registry.ts';

const psSpec: CommandSpec = {
  name: 'ps',
  usage: 'berth ps [OPTIONS]',
  description: 'List containers',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'all',
      short: 'a',
      kind: 'bool',
      description: 'Show all containers (default shows just running)',
    },
    {
      name: 'filter',
      short: 'f',
      kind: 'stringArray',
      description: 'Filter output based on conditions provided',
      valueName: 'filter',
    },
    { name: 'format', kind: 'string', description: 'Format output using a custom template' },
    {
      name: 'last',
      short: 'n',
      kind: 'int',
      default: -1,
      description: 'Show n last created containers (includes all states)',
    },
    {
      name: 'latest',
      short: 'l',
      kind: 'bool',
      description: 'Show the latest created container (includes all states)',
    },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display container IDs' },
    { name: 'size', short: 's', kind: 'bool', description: 'Display total file sizes' },
  ],
};

/** The fields docker's `ps --format` templates see. */
function psRow(c: ContainerSummary, noTrunc: boolean) {
  const labels = c.Labels;
  let command = c.Command;
  if (!noTrunc && command.length > 20) command = `${command.slice(0, 19)}…`;
  return {
    ID: noTrunc ? c.Id : c.Id.slice(0, 12),
    Image: noTrunc || !c.Image.startsWith('sha256:') ? c.Image : c.Image.slice(7, 19),
    Command: JSON.stringify(command),
    CreatedAt: new Date(c.Created * 1000)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' +0000 UTC'),
    RunningFor: `${humanDuration(Date.now() - c.Created * 1000)} ago`,
    Ports: portsText(c.Ports),
    State: c.State,
    Status: c.Status,
    // As docker: `0B` when sizes were not asked for, and the virtual size only when it is known.
    Size: c.SizeRootFs
      ? `${humanSize(c.SizeRw ?? 0)} (virtual ${humanSize(c.SizeRootFs)})`
      : humanSize(c.SizeRw ?? 0),
    Names: c.Names.map((n) => n.slice(1)).join(','),
    Labels: Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    Mounts: '',
    Networks: Object.keys(c.NetworkSettings.Networks).join(',') || c.HostConfig.NetworkMode,
    LocalVolumes: '0',
    Label: (name: string) => labels[name] ?? '',
  };
}

export const psCmd: Command = {
  spec: psSpec,
  async run(ctx, p) {
    const filters = parseFilters(flagStrings(p, psSpec, 'filter'), [
      'id',
      'name',
      'label',
      'status',
      'exited',
      'ancestor',
      'before',
      'since',
      'network',
      'volume',
      'health',
      'publish',
      'expose',
      'is-task',
    ]);
    const last = flagInt(p, psSpec, 'last') ?? -1;
    const latest = flagBool(p, psSpec, 'latest');
    const size = flagBool(p, psSpec, 'size');
    const quiet = flagBool(p, psSpec, 'quiet');
    const format = flagString(p, psSpec, 'format');
    const list = await (await ctx.engine()).listContainers({
      all: flagBool(p, psSpec, 'all'),
      // docker computes sizes when the template reads them, even without --size.
      size: size || (!quiet && /\.Size\b/.test(format ?? '')),
      limit: latest ? 1 : last > 0 ? last : undefined,
      filters,
    });
    const noTrunc = flagBool(p, psSpec, 'no-trunc');
    const rows = list.map((c) => psRow(c, noTrunc));
    if (quiet) {
      for (const r of rows) print(ctx, r.ID);
      return 0;
    }
    let table =
      'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
    if (size) table += '\t{{.Size}}';
    ctx.out.write(
      renderList(rows, format, table, {
        ID: 'CONTAINER ID',
        Image: 'IMAGE',
        Command: 'COMMAND',
        CreatedAt: 'CREATED AT',
        RunningFor: 'CREATED',
        Ports: 'PORTS',
        State: 'STATE',
        Status: 'STATUS',
        Size: 'SIZE',
        Names: 'NAMES',
        Labels: 'LABELS',
        Mounts: 'MOUNTS',
        Networks: 'NETWORKS',
        LocalVolumes: 'LOCAL VOLUMES',
      }),
    );
    return 0;
  },
};

const logsSpec: CommandSpec = {
  name: 'logs',
  usage: 'berth logs [OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'details', kind: 'bool', description: 'Show extra details provided to logs' },
    { name: 'follow', short: 'f', kind: 'bool', description: 'Follow log output' },
    {
      name: 'since',
      kind: 'string',
      description:
        'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
    {
      name: 'tail',
      short: 'n',
      kind: 'string',
      default: 'all',
      description: 'Number of lines to show from the end of the logs',
    },
    { name: 'timestamps', short: 't', kind: 'bool', description: 'Show timestamps' },
    {
      name: 'until',
      kind: 'string',
      description:
        'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
  ],
};

export const logsCmd: Command = {
  spec: logsSpec,
  async run(ctx, p) {
    const now = Date.now();
    const since = flagString(p, logsSpec, 'since');
    const until = flagString(p, logsSpec, 'until');
    const tailS = flagString(p, logsSpec, 'tail') ?? 'all';
    const tail = tailS === 'all' || tailS === '' ? undefined : Number.parseInt(tailS, 10);
    const ts = flagBool(p, logsSpec, 'timestamps');
    const entries = await (await ctx.engine()).containerLogs(p.args[0]!, {
      follow: flagBool(p, logsSpec, 'follow'),
      // As docker's daemon: a count that does not parse, or a negative one, means all lines.
      tail: tail !== undefined && (Number.isNaN(tail) || tail < 0) ? undefined : tail,
      sinceMs: since ? parseTimestamp(since, now) : undefined,
      untilMs: until ? parseTimestamp(until, now) : undefined,
    });
    for await (const e of entries) {
      const line = ts ? `${dockerTimestamp(e.time)} ${e.text}` : e.text;
      (e.stream === 'stderr' ? ctx.err : ctx.out).write(line);
    }
    return 0;
  },
};

const inspectSpec: CommandSpec = {
  name: 'inspect',
  usage: 'berth inspect [OPTIONS] NAME|ID [NAME|ID...]',
  description: 'Return low-level information on Berth objects',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'format', short: 'f', kind: 'string', description: 'Format output using a custom template' },
    {
      name: 'size',
      short: 's',
      kind: 'bool',
      description: 'Display total file sizes if the type is container',
    },
    { name: 'type', kind: 'string', description: 'Return JSON for specified type' },
  ],
};

/** The object types docker's `inspect --type` accepts; Berth has only containers and images to show. */
const INSPECT_TYPES = [
  '',
  'config',
  'container',
  'image',
  'network',
  'node',
  'plugin',
  'secret',
  'service',
  'task',
  'volume',
];

export const inspectCmd: Command = {
  spec: inspectSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const type = flagString(p, inspectSpec, 'type') ?? '';
    if (!INSPECT_TYPES.includes(type))
      throw new InvalidArgumentError(`"${type}" is not a valid value for --type`);
    const size = flagBool(p, inspectSpec, 'size');
    const lookups = [
      { kind: 'container', find: (ref: string) => engine.inspectContainer(ref, { size }) },
      { kind: 'image', find: (ref: string) => engine.inspectImage(ref) },
    ].filter((l) => type === '' || l.kind === type);
    const find = async (ref: string): Promise<unknown> => {
      for (const l of lookups) {
        try {
          return await l.find(ref);
        } catch (err) {
          // An ambiguous ID prefix is worth telling; anything else means "not this kind of object".
          if (err instanceof ConflictError) throw err;
        }
      }
      throw new NotFoundError(type === '' ? `No such object: ${ref}` : `No such ${type}: ${ref}`);
    };
    return inspectEach(ctx, p.args, find, flagString(p, inspectSpec, 'format'));
  },
};

const containerInspectSpec: CommandSpec = {
  ...inspectSpec,
  name: 'container inspect',
  usage: 'berth container inspect [OPTIONS] CONTAINER [CONTAINER...]',
  flags: inspectSpec.flags.filter((f) => f.name !== 'type'),
};

export const containerInspectCmd: Command = {
  spec: containerInspectSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const size = flagBool(p, containerInspectSpec, 'size');
    return inspectEach(
      ctx,
      p.args,
      (ref) => engine.inspectContainer(ref, { size }),
      flagString(p, containerInspectSpec, 'format'),
      (err, ref) =>
        `Error: ${err instanceof NotFoundError ? `No such container: ${ref}` : (err as Error).message}`,
    );
  },
};

const topSpec: CommandSpec = {
  name: 'top',
  usage: 'berth top CONTAINER [ps OPTIONS]',
  description: 'Display the running processes of a container',
  interspersed: false,
  minArgs: 1,
  flags: [],
};

export const topCmd: Command = {
  spec: topSpec,
  async run(ctx, p) {
    const [ref, ...psArgs] = p.args;
    const r = await (await ctx.engine()).topContainer(ref!, psArgs);
    const { tabulate } = await import('../format/tabwriter.ts');
    // docker's top aligns on a wider grid (minimum width 20) than its list commands.
    ctx.out.write(
      tabulate([r.Titles.join('\t'), ...r.Processes.map((row) => row.join('\t'))].join('\n') + '\n', {
        minWidth: 20,
      }),
    );
    return 0;
  },
};

const statsSpec: CommandSpec = {
  name: 'stats',
  usage: 'berth stats [OPTIONS] [CONTAINER...]',
  description: 'Display a live stream of container(s) resource usage statistics',
  interspersed: true,
  flags: [
    {
      name: 'all',
      short: 'a',
      kind: 'bool',
      description: 'Show all containers (default shows just running)',
    },
    { name: 'format', kind: 'string', description: 'Format output using a custom template' },
    {
      name: 'no-stream',
      kind: 'bool',
      description: 'Disable streaming stats and only pull the first result',
    },
    { name: 'no-trunc', kind: 'bool', description: 'Do not truncate output' },
  ],
};

function statsRow(s: StatsEntry, noTrunc: boolean) {
  return {
    Container: noTrunc ? s.id : s.id.slice(0, 12),
    ID: noTrunc ? s.id : s.id.slice(0, 12),
    Name: s.name,
    CPUPerc: `${s.cpuPercent.toFixed(2)}%`,
    MemUsage: `${bytesSize(s.memUsage)} / ${bytesSize(s.memLimit)}`,
    MemPerc: `${s.memPercent.toFixed(2)}%`,
    NetIO: `${humanSize(s.netRx)} / ${humanSize(s.netTx)}`,
    BlockIO: `${humanSize(s.blockRead)} / ${humanSize(s.blockWrite)}`,
    PIDs: String(s.pids),
  };
}

export const statsCmd: Command = {
  spec: statsSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const stream = !flagBool(p, statsSpec, 'no-stream');
    const noTrunc = flagBool(p, statsSpec, 'no-trunc');
    const format = flagString(p, statsSpec, 'format');
    const table =
      'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
    const headers = {
      ID: 'CONTAINER ID',
      Container: 'CONTAINER',
      Name: 'NAME',
      CPUPerc: 'CPU %',
      MemUsage: 'MEM USAGE / LIMIT',
      MemPerc: 'MEM %',
      NetIO: 'NET I/O',
      BlockIO: 'BLOCK I/O',
      PIDs: 'PIDS',
    };
    for await (const rows of engine.containerStats(p.args, { stream, all: flagBool(p, statsSpec, 'all') })) {
      const text = renderList(
        rows.map((r) => statsRow(r, noTrunc)),
        format,
        table,
        headers,
      );
      // A live view redraws in place, like docker's.
      if (stream && ctx.out.isTTY) ctx.out.write('\x1b[2J\x1b[H');
      ctx.out.write(text);
    }
    return 0;
  },
};
