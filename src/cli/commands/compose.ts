import { randomBytes } from 'node:crypto';
import { createOptions, pullPolicy } from '../../compose/convert.ts';
import { dependencyOrder, selectServices } from '../../compose/graph.ts';
import { serviceHash } from '../../compose/hash.ts';
import { containerLabels, L } from '../../compose/labels.ts';
import { LogPrinter, type LogSource, streamLogs } from '../../compose/logs.ts';
import type { Project, ServiceConfig } from '../../compose/model.ts';
import {
  buildService,
  type ComposeRun,
  converge,
  down,
  ensureImages,
  projectContainers,
  serviceContainers,
  status,
  waitRunningHealthy,
} from '../../compose/ops.ts';
import type { Observed } from '../../compose/plan.ts';
import { type ComposeGlobals, composeRun, openProject } from '../../compose/session.ts';
import { BerthError, InvalidArgumentError } from '../../util/errors.ts';
import { humanDuration, humanSize, parseTimestamp } from '../../util/units.ts';
import { type CliContext, print } from '../context.ts';
import {
  type CommandSpec,
  type FlagSpec,
  flagBool,
  flagInt,
  flagString,
  flagStrings,
  helpText,
  type ParsedArgs,
  parseArgs,
} from '../flags.ts';
import { renderList } from '../format/render.ts';
import type { Command } from '../registry.ts';
import { openTerminal, proxySignals } from '../terminal.ts';

interface Sub {
  spec: CommandSpec;
  run(ctx: CliContext, g: ComposeGlobals, p: ParsedArgs): Promise<number>;
}

const bool = (name: string, description: string, short?: string): FlagSpec => ({
  name,
  short,
  kind: 'bool',
  description,
});
const str = (name: string, description: string, short?: string): FlagSpec => ({
  name,
  short,
  kind: 'string',
  description,
});
const list = (name: string, description: string, short?: string): FlagSpec => ({
  name,
  short,
  kind: 'stringArray',
  description,
});
const int = (name: string, description: string, short?: string): FlagSpec => ({
  name,
  short,
  kind: 'int',
  description,
});

function spec(
  name: string,
  args: string,
  description: string,
  flags: FlagSpec[],
  extra: Partial<CommandSpec> = {},
): CommandSpec {
  return {
    name: `compose ${name}`,
    usage: `berth compose ${name} [OPTIONS]${args ? ` ${args}` : ''}`,
    description,
    flags,
    interspersed: true,
    ...extra,
  };
}

async function session(
  ctx: CliContext,
  g: ComposeGlobals,
  o: { fileOptional?: boolean } = {},
): Promise<ComposeRun> {
  const project = await openProject(g, o);
  return composeRun(await ctx.engine(), project, ctx.err);
}

function timeoutOf(p: ParsedArgs, s: CommandSpec): number | undefined {
  return p.flags.has('timeout') ? flagInt(p, s, 'timeout') : undefined;
}

function parseScale(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([^=]+)=(\d+)$/.exec(v);
    if (!m) throw new InvalidArgumentError(`invalid --scale value "${v}": want SERVICE=NUM`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** `<service>-<n>`, docker compose's log prefix. */
function logSource(c: Observed): LogSource {
  return { ref: c.id, service: c.service, label: c.oneoff ? c.name : `${c.service}-${c.number}` };
}

function colorOn(ctx: CliContext, p: ParsedArgs, s: CommandSpec): boolean {
  return !flagBool(p, s, 'no-color') && ctx.out.isTTY === true && !process.env.NO_COLOR;
}

// ---------------------------------------------------------------------------------------------
// up / create / start / stop / restart / down
// ---------------------------------------------------------------------------------------------

const upSpec = spec('up', '[SERVICE...]', 'Create and start containers', [
  bool('detach', 'Detached mode: Run containers in the background', 'd'),
  bool('build', 'Build images before starting containers'),
  bool('no-build', "Don't build an image, even if it's policy"),
  str('pull', 'Pull image before running ("always"|"missing"|"never")'),
  bool('force-recreate', "Recreate containers even if their configuration and image haven't changed"),
  bool('no-recreate', "If containers already exist, don't recreate them"),
  bool('no-deps', "Don't start linked services"),
  bool('no-start', "Don't start the services after creating them"),
  bool('remove-orphans', 'Remove containers for services not defined in the Compose file'),
  list('scale', 'Scale SERVICE to NUM instances. Overrides the scale setting in the Compose file if present'),
  bool('wait', 'Wait for services to be running|healthy. Implies detached mode'),
  int('wait-timeout', 'Maximum duration in seconds to wait for the project to be running|healthy'),
  bool('abort-on-container-exit', 'Stops all containers if any container was stopped'),
  str('exit-code-from', 'Return the exit code of the selected service container'),
  int(
    'timeout',
    'Use this timeout in seconds for container shutdown when attached or when containers are already running',
    't',
  ),
  bool('no-color', 'Produce monochrome output'),
  bool('no-log-prefix', "Don't print prefix in logs"),
  bool('timestamps', 'Show timestamps'),
  bool('quiet-pull', 'Pull without printing progress information'),
  bool('yes', 'Assume "yes" as answer to all prompts', 'y'),
]);

async function upOrCreate(ctx: CliContext, g: ComposeGlobals, p: ParsedArgs, s: CommandSpec, start: boolean) {
  const r = await session(ctx, g);
  if (flagBool(p, s, 'build') && flagBool(p, s, 'no-build'))
    throw new InvalidArgumentError('--build and --no-build are incompatible');
  if (flagBool(p, s, 'force-recreate') && flagBool(p, s, 'no-recreate'))
    throw new InvalidArgumentError('--force-recreate and --no-recreate are incompatible');
  const services = selectServices(r.project, p.args, flagBool(p, s, 'no-deps'));
  enable(r.project, services);
  const pull = flagString(p, s, 'pull');
  if (pull && !['always', 'missing', 'never', 'build', 'policy'].includes(pull))
    throw new InvalidArgumentError(`invalid --pull option "${pull}"`);
  const imageIds = await ensureImages(r, services, {
    build: flagBool(p, s, 'build') ? 'always' : flagBool(p, s, 'no-build') ? 'never' : 'auto',
    pull: pull === 'policy' ? undefined : pull,
    quiet: s.flags.some((f) => f.name === 'quiet-pull') && flagBool(p, s, 'quiet-pull'),
  });
  const res = await converge(r, services, {
    forceRecreate: flagBool(p, s, 'force-recreate'),
    noRecreate: flagBool(p, s, 'no-recreate'),
    removeOrphans: flagBool(p, s, 'remove-orphans'),
    start,
    scale: parseScale(flagStrings(p, s, 'scale')),
    imageIds,
    timeoutSec: s.flags.some((f) => f.name === 'timeout') ? timeoutOf(p, s) : undefined,
  });
  return { r, services, containers: res.containers };
}

/** Services named on the command line run even when their profile is off (docker compose does so). */
function enable(project: Project, services: ServiceConfig[]): void {
  for (const s of services) {
    if (project.disabled_services[s.name]) {
      project.services[s.name] = s;
      delete project.disabled_services[s.name];
    }
  }
}

const upCmd: Sub = {
  spec: upSpec,
  async run(ctx, g, p) {
    const began = Date.now() - 1000;
    const noStart = flagBool(p, upSpec, 'no-start');
    const { r, services, containers } = await upOrCreate(ctx, g, p, upSpec, !noStart);
    if (noStart) return 0;
    const all = Object.values(containers).flat();
    if (flagBool(p, upSpec, 'wait')) {
      await waitRunningHealthy(r, all, flagInt(p, upSpec, 'wait-timeout'));
      return 0;
    }
    if (flagBool(p, upSpec, 'detach')) return 0;
    return attached(ctx, r, services, p, began);
  },
};

/** Attached `up`: prints every container's logs until they all exit, or stops them on Ctrl-C. */
async function attached(
  ctx: CliContext,
  r: ComposeRun,
  services: ServiceConfig[],
  p: ParsedArgs,
  since: number,
): Promise<number> {
  const names = services.filter((s) => s.attach !== false).map((s) => s.name);
  const list = await serviceContainers(r, names, { oneoff: false });
  const printer = new LogPrinter(ctx.out, {
    color: colorOn(ctx, p, upSpec),
    timestamps: flagBool(p, upSpec, 'timestamps'),
    prefix: !flagBool(p, upSpec, 'no-log-prefix'),
  });
  const abort = flagBool(p, upSpec, 'abort-on-container-exit');
  const exitFrom = flagString(p, upSpec, 'exit-code-from');
  if (exitFrom && !names.includes(exitFrom)) throw new InvalidArgumentError(`no such service: ${exitFrom}`);
  const timeout = timeoutOf(p, upSpec);
  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      ctx.err.write('Gracefully stopping... (press Ctrl+C again to force)\n');
      const running = await serviceContainers(r, [], { all: false, reverse: true, oneoff: false });
      await Promise.all(
        running.map((c) =>
          r.engine.stopContainer(c.id, timeout).then(() => status(r, 'Container', c.name, 'Stopped')),
        ),
      );
    })();
    return stopping;
  };
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    void stopAll();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  ctx.out.write(`Attaching to ${list.map((c) => c.name).join(', ')}\n`);
  // Output since this `up` began: containers it started may have printed already.
  const logs = streamLogs(r.engine, list.map(logSource), printer, { follow: true, sinceMs: since });
  let code = 0;
  let firstExit: { service: string; code: number } | undefined;
  await Promise.all(
    list.map(async (c) => {
      const w = await r.engine.waitContainer(c.id, 'not-running');
      ctx.out.write(`${c.name} exited with code ${w.StatusCode}\n`);
      if (exitFrom === c.service) code = w.StatusCode;
      firstExit ??= { service: c.service, code: w.StatusCode };
      if (abort || exitFrom) await stopAll();
    }),
  );
  await logs;
  await stopping;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (interrupted) return 130;
  if (abort && !exitFrom && firstExit) return firstExit.code;
  return code;
}

const createSpec = spec('create', '[SERVICE...]', 'Creates containers for a service', [
  bool('build', 'Build images before starting containers'),
  bool('no-build', "Don't build an image, even if it's policy"),
  str('pull', 'Pull image before running ("always"|"missing"|"never"|"build")'),
  bool('force-recreate', "Recreate containers even if their configuration and image haven't changed"),
  bool('no-recreate', "If containers already exist, don't recreate them"),
  bool('no-deps', "Don't start linked services"),
  bool('remove-orphans', 'Remove containers for services not defined in the Compose file'),
  list('scale', 'Scale SERVICE to NUM instances'),
  bool('quiet-pull', 'Pull without printing progress information'),
  bool('yes', 'Assume "yes" as answer to all prompts', 'y'),
]);

const createCmd: Sub = {
  spec: createSpec,
  async run(ctx, g, p) {
    await upOrCreate(ctx, g, p, createSpec, false);
    return 0;
  },
};

const downSpec = spec('down', '[SERVICES]', 'Stop and remove containers, networks', [
  bool(
    'volumes',
    'Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers',
    'v',
  ),
  str(
    'rmi',
    'Remove images used by services. "local" remove only images that don\'t have a custom tag ("local"|"all")',
  ),
  bool('remove-orphans', 'Remove containers for services not defined in the Compose file'),
  int('timeout', 'Specify a shutdown timeout in seconds', 't'),
]);

const downCmd: Sub = {
  spec: downSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g, { fileOptional: true });
    const rmi = flagString(p, downSpec, 'rmi');
    if (rmi !== undefined && rmi !== 'all' && rmi !== 'local')
      throw new InvalidArgumentError(`invalid value for --rmi: ${rmi} ("local" or "all")`);
    await down(r, {
      volumes: flagBool(p, downSpec, 'volumes'),
      rmi,
      removeOrphans: flagBool(p, downSpec, 'remove-orphans'),
      timeoutSec: timeoutOf(p, downSpec),
    });
    return 0;
  },
};

/** start/stop/restart/kill/pause/unpause/rm: one engine call per matching container. */
function lifecycle(
  name: string,
  description: string,
  flags: FlagSpec[],
  o: { reverse?: boolean; running?: boolean; states?: string[] },
  act: (r: ComposeRun, c: Observed, p: ParsedArgs, s: CommandSpec) => Promise<string | undefined>,
): Sub {
  const s = spec(name, '[SERVICE...]', description, flags);
  return {
    spec: s,
    async run(ctx, g, p) {
      const r = await session(ctx, g, { fileOptional: true });
      for (const svc of p.args)
        if (
          r.project.services[svc] === undefined &&
          r.project.disabled_services[svc] === undefined &&
          Object.keys(r.project.services).length
        )
          throw new BerthError(`no such service: ${svc}`, 1, 'notFound');
      const list = (await serviceContainers(r, p.args, { reverse: o.reverse, oneoff: false })).filter(
        (c) => !o.states || o.states.includes(c.state),
      );
      for (const c of list) {
        const what = await act(r, c, p, s);
        if (what) status(r, 'Container', c.name, what);
      }
      return 0;
    },
  };
}

const startCmd: Sub = {
  spec: spec('start', '[SERVICE...]', 'Start services', []),
  async run(ctx, g, p) {
    const r = await session(ctx, g);
    const services = dependencyOrder(selectServices(r.project, p.args, true));
    for (const s of services) {
      const cs = await serviceContainers(r, [s.name], { oneoff: false });
      if (cs.length === 0) throw new BerthError(`service "${s.name}" has no container to start`, 1);
      for (const c of cs) {
        if (c.state === 'running') continue;
        await r.engine.startContainer(c.id);
        status(r, 'Container', c.name, 'Started');
      }
    }
    return 0;
  },
};

const stopCmd = lifecycle(
  'stop',
  'Stop services',
  [int('timeout', 'Specify a shutdown timeout in seconds', 't')],
  { reverse: true, states: ['running', 'paused', 'restarting'] },
  async (r, c, p, s) => {
    await r.engine.stopContainer(c.id, timeoutOf(p, s));
    return 'Stopped';
  },
);

const restartCmd = lifecycle(
  'restart',
  'Restart service containers',
  [
    int('timeout', 'Specify a shutdown timeout in seconds', 't'),
    bool('no-deps', "Don't restart dependent services"),
  ],
  {},
  async (r, c, p, s) => {
    await r.engine.restartContainer(c.id, timeoutOf(p, s));
    return 'Started';
  },
);

const killCmd = lifecycle(
  'kill',
  'Force stop service containers',
  [
    {
      name: 'signal',
      short: 's',
      kind: 'string',
      default: 'SIGKILL',
      description: 'SIGNAL to send to the container',
    },
    bool('remove-orphans', 'Remove containers for services not defined in the Compose file'),
  ],
  { states: ['running', 'paused', 'restarting'] },
  async (r, c, p, s) => {
    await r.engine.killContainer(c.id, flagString(p, s, 'signal') ?? 'SIGKILL');
    return 'Killed';
  },
);

const pauseCmd = lifecycle('pause', 'Pause services', [], { states: ['running'] }, async (r, c) => {
  await r.engine.pauseContainer(c.id);
  return 'Paused';
});

const unpauseCmd = lifecycle('unpause', 'Unpause services', [], { states: ['paused'] }, async (r, c) => {
  await r.engine.unpauseContainer(c.id);
  return 'Unpaused';
});

const rmCmd = lifecycle(
  'rm',
  'Removes stopped service containers',
  [
    bool('force', "Don't ask to confirm removal", 'f'),
    bool('stop', 'Stop the containers, if required, before removing', 's'),
    bool('volumes', 'Remove any anonymous volumes attached to containers', 'v'),
  ],
  {},
  async (r, c, p, s) => {
    const active = c.state === 'running' || c.state === 'paused' || c.state === 'restarting';
    if (active && !flagBool(p, s, 'stop')) return undefined;
    if (active) await r.engine.stopContainer(c.id);
    await r.engine.removeContainer(c.id, { force: true, volumes: flagBool(p, s, 'volumes') });
    return 'Removed';
  },
);

// ---------------------------------------------------------------------------------------------
// ps / ls / logs / top / port / images
// ---------------------------------------------------------------------------------------------

const psSpec = spec('ps', '[SERVICE...]', 'List containers', [
  bool('all', 'Show all stopped containers (including those created by the run command)', 'a'),
  bool('quiet', 'Only display IDs', 'q'),
  bool('services', 'Display services'),
  str('format', 'Format output using a custom template: "table", "json" or a Go template'),
  list(
    'status',
    'Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]',
  ),
  str('filter', 'Filter services by a property (supported filters: status)'),
  bool('no-trunc', "Don't truncate output"),
  bool('orphans', 'Include orphaned services (not declared by project)'),
]);

function portsText(c: {
  Ports: { PrivatePort: number; PublicPort?: number; Type: string; IP?: string }[];
}): string {
  return c.Ports.map((pt) =>
    pt.PublicPort
      ? `${pt.IP ?? '0.0.0.0'}:${pt.PublicPort}->${pt.PrivatePort}/${pt.Type}`
      : `${pt.PrivatePort}/${pt.Type}`,
  ).join(', ');
}

const psCmd: Sub = {
  spec: psSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g, { fileOptional: true });
    const all = flagBool(p, psSpec, 'all');
    let list = await projectContainers(r.engine, r.project.name, { all: true });
    // Without --all: running containers of the services, not one-off `run` containers.
    if (!all)
      list = list.filter(
        (c) => c.Labels[L.oneoff] !== 'True' && ['running', 'restarting', 'paused'].includes(c.State),
      );
    if (p.args.length) list = list.filter((c) => p.args.includes(c.Labels[L.service] ?? ''));
    const statuses = [...flagStrings(p, psSpec, 'status')];
    const filter = flagString(p, psSpec, 'filter');
    if (filter?.startsWith('status=')) statuses.push(filter.slice(7));
    if (statuses.length) list = list.filter((c) => statuses.includes(c.State));
    list.sort((a, b) => (a.Names[0] ?? '').localeCompare(b.Names[0] ?? ''));
    if (flagBool(p, psSpec, 'services')) {
      for (const s of new Set(list.map((c) => c.Labels[L.service] ?? ''))) print(ctx, s);
      return 0;
    }
    if (flagBool(p, psSpec, 'quiet')) {
      for (const c of list) print(ctx, c.Id);
      return 0;
    }
    const rows = list.map((c) => ({
      ID: c.Id,
      Name: (c.Names[0] ?? '').replace(/^\//, ''),
      Names: (c.Names[0] ?? '').replace(/^\//, ''),
      Image: c.Image,
      Command: JSON.stringify(
        c.Command.length > 20 && !flagBool(p, psSpec, 'no-trunc') ? `${c.Command.slice(0, 19)}…` : c.Command,
      ),
      Project: c.Labels[L.project] ?? '',
      Service: c.Labels[L.service] ?? '',
      CreatedAt: new Date(c.Created * 1000).toISOString(),
      RunningFor: `${humanDuration(Date.now() - c.Created * 1000)} ago`,
      State: c.State,
      Status: c.Status,
      Health: /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1]?.replace('health: ', '') ?? '',
      ExitCode: Number(/Exited \((\d+)\)/.exec(c.Status)?.[1] ?? 0),
      Ports: portsText(c),
      Labels: Object.entries(c.Labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      Publishers: c.Ports.map((pt) => ({
        URL: pt.IP ?? '',
        TargetPort: pt.PrivatePort,
        PublishedPort: pt.PublicPort ?? 0,
        Protocol: pt.Type,
      })),
    }));
    ctx.out.write(
      renderList(
        rows,
        flagString(p, psSpec, 'format'),
        'table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}',
        {
          Name: 'NAME',
          Image: 'IMAGE',
          Command: 'COMMAND',
          Service: 'SERVICE',
          RunningFor: 'CREATED',
          Status: 'STATUS',
          Ports: 'PORTS',
        },
      ),
    );
    return 0;
  },
};

const lsSpec = spec('ls', '', 'List running compose projects', [
  bool('all', 'Show all stopped Compose projects', 'a'),
  bool('quiet', 'Only display project names', 'q'),
  str('format', 'Format the output. Values: [table | json]'),
  list('filter', 'Filter output based on conditions provided'),
]);

const lsCmd: Sub = {
  spec: lsSpec,
  async run(ctx, _g, p) {
    const engine = await ctx.engine();
    const list = await engine.listContainers({ all: true, size: false, filters: { label: [L.project] } });
    const projects = new Map<string, { states: Map<string, number>; files: Set<string> }>();
    for (const c of list) {
      const name = c.Labels[L.project]!;
      const e = projects.get(name) ?? { states: new Map(), files: new Set() };
      e.states.set(c.State, (e.states.get(c.State) ?? 0) + 1);
      if (c.Labels[L.configFiles]) e.files.add(c.Labels[L.configFiles]!);
      projects.set(name, e);
    }
    const nameFilters = flagStrings(p, lsSpec, 'filter')
      .filter((f) => f.startsWith('name='))
      .map((f) => f.slice(5));
    const rows = [...projects.entries()]
      .filter(([, e]) => flagBool(p, lsSpec, 'all') || e.states.has('running'))
      .filter(([n]) => nameFilters.length === 0 || nameFilters.some((f) => n.includes(f)))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([n, e]) => ({
        Name: n,
        Status: [...e.states.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([s, k]) => `${s}(${k})`)
          .join(', '),
        ConfigFiles: [...e.files].join(','),
      }));
    if (flagBool(p, lsSpec, 'quiet')) {
      for (const row of rows) print(ctx, row.Name);
      return 0;
    }
    const format = flagString(p, lsSpec, 'format');
    if (format === 'json') {
      print(ctx, JSON.stringify(rows));
      return 0;
    }
    ctx.out.write(
      renderList(rows, format, 'table {{.Name}}\t{{.Status}}\t{{.ConfigFiles}}', {
        Name: 'NAME',
        Status: 'STATUS',
        ConfigFiles: 'CONFIG FILES',
      }),
    );
    return 0;
  },
};

const logsSpec = spec('logs', '[SERVICE...]', 'View output from containers', [
  bool('follow', 'Follow log output', 'f'),
  str('tail', 'Number of lines to show from the end of the logs for each container', 'n'),
  bool('timestamps', 'Show timestamps', 't'),
  bool('no-color', 'Produce monochrome output'),
  bool('no-log-prefix', "Don't print prefix in logs"),
  str('since', 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)'),
  str(
    'until',
    'Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)',
  ),
  int('index', 'index of the container if service has multiple replicas'),
]);

const logsCmd: Sub = {
  spec: logsSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g, { fileOptional: true });
    let list = await serviceContainers(r, p.args);
    const index = flagInt(p, logsSpec, 'index');
    if (index !== undefined) list = list.filter((c) => c.number === index);
    const tail = flagString(p, logsSpec, 'tail');
    const since = flagString(p, logsSpec, 'since');
    const until = flagString(p, logsSpec, 'until');
    const now = Date.now();
    const printer = new LogPrinter(ctx.out, {
      color: colorOn(ctx, p, logsSpec),
      timestamps: flagBool(p, logsSpec, 'timestamps'),
      prefix: !flagBool(p, logsSpec, 'no-log-prefix'),
    });
    await streamLogs(r.engine, list.map(logSource), printer, {
      follow: flagBool(p, logsSpec, 'follow'),
      tail: tail === undefined || tail === 'all' ? undefined : Number(tail),
      sinceMs: since ? timestampMs(since, now) : undefined,
      untilMs: until ? timestampMs(until, now) : undefined,
    });
    return 0;
  },
};

function timestampMs(s: string, now: number): number {
  const t = parseTimestamp(s, now);
  return typeof t === 'number' ? t : Number(t);
}

const topCmd: Sub = {
  spec: spec('top', '[SERVICES...]', 'Display the running processes', []),
  async run(ctx, g, p) {
    const r = await session(ctx, g, { fileOptional: true });
    const list = await serviceContainers(r, p.args, { all: false });
    for (const c of list) {
      const t = await r.engine.topContainer(c.id, []);
      ctx.out.write(`${c.name}\n`);
      // Columns by position: ps titles (%CPU, TIME…) are not template field names.
      const rows = t.Processes.map((row) =>
        Object.fromEntries(t.Titles.map((_, i) => [`C${i}`, row[i] ?? ''])),
      );
      const headers = Object.fromEntries(t.Titles.map((title, i) => [`C${i}`, title]));
      ctx.out.write(
        renderList(rows, undefined, `table ${t.Titles.map((_, i) => `{{.C${i}}}`).join('\t')}`, headers),
      );
      ctx.out.write('\n');
    }
    return 0;
  },
};

const portSpec = spec(
  'port',
  'SERVICE PRIVATE_PORT',
  'Print the public port for a port binding',
  [
    { name: 'protocol', kind: 'string', default: 'tcp', description: 'tcp or udp' },
    {
      name: 'index',
      kind: 'int',
      default: 1,
      description: 'Index of the container if service has multiple replicas',
    },
  ],
  { minArgs: 2, maxArgs: 2 },
);

const portCmd: Sub = {
  spec: portSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g, { fileOptional: true });
    const [svc, port] = p.args as [string, string];
    const index = flagInt(p, portSpec, 'index') ?? 1;
    const c = (await serviceContainers(r, [svc], { oneoff: false })).find((x) => x.number === index);
    if (!c) throw new BerthError(`service "${svc}" is not running container #${index}`, 1);
    const info = (await r.engine.inspectContainer(c.id, { size: false })) as {
      NetworkSettings?: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> };
    };
    const key = `${port}/${flagString(p, portSpec, 'protocol') ?? 'tcp'}`;
    const b = info.NetworkSettings?.Ports?.[key]?.[0];
    if (!b) throw new BerthError(`no port ${key} for container ${c.name}`, 1);
    print(ctx, `${b.HostIp || '0.0.0.0'}:${b.HostPort}`);
    return 0;
  },
};

const imagesSpec = spec('images', '[SERVICE...]', 'List images used by the created containers', [
  bool('quiet', 'Only display IDs', 'q'),
  str('format', 'Format the output. Values: [table | json]'),
]);

const imagesCmd: Sub = {
  spec: imagesSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g, { fileOptional: true });
    const list = await projectContainers(r.engine, r.project.name, { all: true });
    const rows = [];
    for (const c of list) {
      if (p.args.length && !p.args.includes(c.Labels[L.service] ?? '')) continue;
      const img = await r.engine.inspectImage(c.ImageID).catch(() => undefined);
      // The name the service asked for, as docker compose shows it; else the image's first tag.
      const asked = c.Image && !/^(sha256:)?[0-9a-f]{12,64}$/.test(c.Image) ? c.Image : undefined;
      const tag = asked
        ? /:[^/]+$/.test(asked)
          ? asked
          : `${asked}:latest`
        : (img?.RepoTags[0] ?? '<none>:<none>');
      const colon = tag.lastIndexOf(':');
      rows.push({
        ContainerName: (c.Names[0] ?? '').replace(/^\//, ''),
        Repository: colon > 0 ? tag.slice(0, colon) : tag,
        Tag: colon > 0 ? tag.slice(colon + 1) : '',
        ID: (img?.Id ?? c.ImageID).replace(/^sha256:/, '').slice(0, 12),
        Size: humanSize(img?.Size ?? 0),
      });
    }
    rows.sort((a, b) => a.ContainerName.localeCompare(b.ContainerName));
    if (flagBool(p, imagesSpec, 'quiet')) {
      for (const id of new Set(rows.map((x) => x.ID))) print(ctx, id);
      return 0;
    }
    ctx.out.write(
      renderList(
        rows,
        flagString(p, imagesSpec, 'format'),
        'table {{.ContainerName}}\t{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}',
        {
          ContainerName: 'CONTAINER',
          Repository: 'REPOSITORY',
          Tag: 'TAG',
          ID: 'IMAGE ID',
          Size: 'SIZE',
        },
      ),
    );
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------
// build / pull / push
// ---------------------------------------------------------------------------------------------

const buildSpec = spec('build', '[SERVICE...]', 'Build or rebuild services', [
  bool('no-cache', 'Do not use cache when building the image'),
  bool('pull', 'Always attempt to pull a newer version of the image'),
  bool('quiet', "Don't print anything to STDOUT", 'q'),
  list('build-arg', 'Set build-time variables for services'),
  bool('with-dependencies', 'Also build dependencies (transitively)'),
]);

const buildCmd: Sub = {
  spec: buildSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g);
    const services = selectServices(r.project, p.args, !flagBool(p, buildSpec, 'with-dependencies')).filter(
      (s) => s.build,
    );
    const extra: Record<string, string> = {};
    for (const a of flagStrings(p, buildSpec, 'build-arg')) {
      const eq = a.indexOf('=');
      if (eq < 0) {
        const v = process.env[a];
        if (v !== undefined) extra[a] = v;
      } else extra[a.slice(0, eq)] = a.slice(eq + 1);
    }
    for (const s of services) {
      const withArgs: ServiceConfig = { ...s, build: { ...s.build!, args: { ...s.build!.args, ...extra } } };
      await buildService(r, withArgs, {
        noCache: flagBool(p, buildSpec, 'no-cache'),
        pull: flagBool(p, buildSpec, 'pull'),
        quiet: flagBool(p, buildSpec, 'quiet'),
      });
    }
    return 0;
  },
};

const pullSpec = spec('pull', '[SERVICE...]', 'Pull service images', [
  bool('quiet', 'Pull without printing progress information', 'q'),
  bool('ignore-pull-failures', 'Pull what it can and ignores images with pull failures'),
  bool('ignore-buildable', 'Ignore images that can be built'),
  bool('include-deps', 'Also pull services declared as dependencies'),
  str('policy', 'Apply pull policy ("missing"|"always")'),
]);

const pullCmd: Sub = {
  spec: pullSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g);
    const services = selectServices(r.project, p.args, !flagBool(p, pullSpec, 'include-deps'));
    const policy = flagString(p, pullSpec, 'policy');
    for (const s of services) {
      if (!s.image) continue;
      if (s.build && flagBool(p, pullSpec, 'ignore-buildable')) continue;
      if (policy === 'missing' || pullPolicy(s) === 'never') {
        const have = await r.engine.inspectImage(s.image).then(
          () => true,
          () => false,
        );
        if (have) continue;
      }
      try {
        status(r, 'Image', s.image, 'Pulling');
        await r.engine.pullImage(s.image, { allTags: false }, () => {});
        status(r, 'Image', s.image, 'Pulled');
      } catch (err) {
        if (!flagBool(p, pullSpec, 'ignore-pull-failures') && !s.build) throw err;
        ctx.err.write(` ${s.name} Warning ${(err as Error).message}\n`);
      }
    }
    return 0;
  },
};

const pushSpec = spec('push', '[SERVICE...]', 'Push service images', [
  bool('ignore-push-failures', 'Push what it can and ignores images with push failures'),
  bool('include-deps', 'Also push images of services declared as dependencies'),
  bool('quiet', 'Push without printing progress information', 'q'),
]);

const pushCmd: Sub = {
  spec: pushSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g);
    for (const s of selectServices(r.project, p.args, !flagBool(p, pushSpec, 'include-deps'))) {
      if (!s.image) continue;
      try {
        status(r, 'Image', s.image, 'Pushing');
        await r.engine.pushImage(s.image, { allTags: false }, () => {});
        status(r, 'Image', s.image, 'Pushed');
      } catch (err) {
        if (!flagBool(p, pushSpec, 'ignore-push-failures')) throw err;
        ctx.err.write(` ${s.name} Warning ${(err as Error).message}\n`);
      }
    }
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------
// exec / run
// ---------------------------------------------------------------------------------------------

const execSpec = spec(
  'exec',
  'SERVICE COMMAND [ARGS...]',
  'Execute a command in a running container',
  [
    bool('detach', 'Detached mode: Run command in the background', 'd'),
    bool('no-TTY', 'Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY.', 'T'),
    list('env', 'Set environment variables', 'e'),
    str('user', 'Run the command as this user', 'u'),
    str('workdir', 'Path to workdir directory for this command', 'w'),
    {
      name: 'index',
      kind: 'int',
      default: 1,
      description: 'Index of the container if service has multiple replicas',
    },
    bool('privileged', 'Give extended privileges to the process'),
    bool('interactive', 'Keep STDIN open even if not attached', 'i'),
  ],
  { interspersed: false, minArgs: 2 },
);

const execCmd: Sub = {
  spec: execSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g, { fileOptional: true });
    const [svc, ...cmd] = p.args as [string, ...string[]];
    const index = flagInt(p, execSpec, 'index') ?? 1;
    const c = (await serviceContainers(r, [svc], { all: false, oneoff: false })).find(
      (x) => x.number === index,
    );
    if (!c) throw new BerthError(`service "${svc}" is not running`, 1);
    const detach = flagBool(p, execSpec, 'detach');
    const tty =
      !flagBool(p, execSpec, 'no-TTY') && process.stdin.isTTY === true && process.stdout.isTTY === true;
    const stdin = !detach;
    const term = detach ? undefined : openTerminal({ tty, stdin });
    const unproxy = tty || detach ? () => undefined : proxySignals(() => undefined);
    try {
      const h = await r.engine.execContainer(
        c.id,
        {
          cmd,
          env: flagStrings(p, execSpec, 'env'),
          workingDir: flagString(p, execSpec, 'workdir'),
          user: flagString(p, execSpec, 'user'),
          tty,
          stdin,
          detach,
          privileged: flagBool(p, execSpec, 'privileged'),
        },
        term?.io ?? {},
      );
      if (detach) return 0;
      const size = term?.size();
      if (tty && size) h.resize(size.rows, size.cols);
      term?.onResize((rows, cols) => h.resize(rows, cols));
      return await h.exitCode;
    } finally {
      unproxy();
      term?.restore();
    }
  },
};

const runSpec = spec(
  'run',
  'SERVICE [COMMAND] [ARGS...]',
  'Run a one-off command on a service',
  [
    bool('detach', 'Run container in background and print container ID', 'd'),
    bool('rm', 'Automatically remove the container when it exits'),
    list('env', 'Set environment variables', 'e'),
    list('label', 'Add or override a label', 'l'),
    str('name', 'Assign a name to the container'),
    bool('no-TTY', 'Disable pseudo-TTY allocation (default: auto-detected)', 'T'),
    bool('no-deps', "Don't start linked services"),
    str('entrypoint', 'Override the entrypoint of the image'),
    str('user', 'Run as specified username or uid', 'u'),
    str('workdir', 'Working directory inside the container', 'w'),
    list('publish', "Publish a container's port(s) to the host", 'p'),
    bool('service-ports', "Run command with all service's ports enabled and mapped to the host"),
    list('volume', 'Bind mount a volume', 'v'),
    bool('build', 'Build image before starting container'),
    bool('quiet-pull', 'Pull without printing progress information'),
    bool('remove-orphans', 'Remove containers for services not defined in the Compose file'),
    bool('interactive', 'Keep STDIN open even if not attached', 'i'),
  ],
  { interspersed: false, minArgs: 1 },
);

const runCmd: Sub = {
  spec: runSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g);
    const [svcName, ...cmd] = p.args as [string, ...string[]];
    const [target, ...deps] = selectServices(r.project, [svcName], flagBool(p, runSpec, 'no-deps'));
    enable(r.project, [target!, ...deps]);
    const s = structuredClone(target!);
    for (const v of flagStrings(p, runSpec, 'volume')) {
      const { parseVolumeFlag } = await import('../../volume/mount-spec.ts');
      const m = parseVolumeFlag(v.startsWith('.') ? v.replace(/^\./, r.project.working_dir) : v);
      s.volumes.push({
        type: m.type,
        source: m.source || undefined,
        target: m.target,
        read_only: m.readonly,
      });
    }
    if (!flagBool(p, runSpec, 'service-ports')) s.ports = [];
    for (const pub of flagStrings(p, runSpec, 'publish')) {
      const { parsePublish } = await import('../../network/ports.ts');
      for (const [key, b] of parsePublish(pub)) {
        const [port = '0', proto = 'tcp'] = key.split('/');
        s.ports.push({
          target: Number(port),
          published: b.hostPort || undefined,
          host_ip: b.hostIp || undefined,
          protocol: proto as 'tcp',
        });
      }
    }
    if (deps.length) {
      const ids = await ensureImages(r, deps, { build: 'auto' });
      await converge(r, deps, { imageIds: ids, noRecreate: false });
    }
    const ids = await ensureImages(r, [s], { build: flagBool(p, runSpec, 'build') ? 'always' : 'auto' });
    const slug = randomBytes(6).toString('hex');
    const name = flagString(p, runSpec, 'name') ?? `${r.project.name}-${s.name}-run-${slug.slice(0, 12)}`;
    const labels = containerLabels(r.project, s, {
      number: 1,
      hash: serviceHash(target!),
      oneoff: true,
      imageId: ids[s.name],
      slug,
    });
    for (const l of flagStrings(p, runSpec, 'label')) {
      const eq = l.indexOf('=');
      labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
    }
    const detach = flagBool(p, runSpec, 'detach');
    const tty =
      !flagBool(p, runSpec, 'no-TTY') && process.stdin.isTTY === true && process.stdout.isTTY === true;
    const interactive = !detach && (flagBool(p, runSpec, 'interactive') || tty || !!s.stdin_open);
    const entry = flagString(p, runSpec, 'entrypoint');
    const opts = createOptions({
      project: r.project,
      service: s,
      number: 1,
      labels,
      name,
      command: cmd.length ? cmd : undefined,
      entrypoint: entry === undefined ? undefined : entry === '' ? [] : [entry],
      extraEnv: flagStrings(p, runSpec, 'env'),
      autoRemove: flagBool(p, runSpec, 'rm'),
      tty,
      openStdin: interactive,
    });
    if (flagString(p, runSpec, 'user')) opts.user = flagString(p, runSpec, 'user');
    if (flagString(p, runSpec, 'workdir')) opts.workingDir = flagString(p, runSpec, 'workdir');
    // The one-off container answers to the service name only, not to the service's aliases.
    const { id } = await r.engine.createContainer(opts, pullPolicy(s));
    if (detach) {
      await r.engine.startContainer(id);
      print(ctx, name);
      return 0;
    }
    const term = openTerminal({ tty, stdin: interactive });
    const unproxy = tty
      ? () => undefined
      : proxySignals((sig) => void r.engine.killContainer(id, sig).catch(() => undefined));
    try {
      const handle = await r.engine.startContainer(id, term.io);
      const result = r.engine.waitContainer(id, 'next-exit');
      if (handle) {
        const size = term.size();
        if (tty && size) handle.resize(size.rows, size.cols);
        term.onResize((rows, cols) => handle.resize(rows, cols));
      }
      const code = (await result).StatusCode;
      if (handle) await Promise.race([handle.done, new Promise((res) => setTimeout(res, 1000))]);
      handle?.close();
      return code;
    } finally {
      unproxy();
      term.restore();
    }
  },
};

// ---------------------------------------------------------------------------------------------
// config / watch / version
// ---------------------------------------------------------------------------------------------

const configSpec = spec(
  'config',
  '[SERVICE...]',
  'Parse, resolve and render compose file in canonical format',
  [
    bool('services', 'Print the service names, one per line'),
    bool('volumes', 'Print the volume names, one per line'),
    bool('networks', 'Print the network names, one per line'),
    bool('profiles', 'Print the profile names, one per line'),
    bool('images', 'Print the image names, one per line'),
    bool('quiet', "Only validate the configuration, don't print anything", 'q'),
    str('format', 'Format the output. Values: [yaml | json]'),
    bool('no-interpolate', "Don't interpolate environment variables"),
    str('output', 'Save to file (default to stdout)', 'o'),
    str('hash', 'Print the service config hash, one per line (SERVICE,... or "*")'),
  ],
);

const configCmd: Sub = {
  spec: configSpec,
  async run(ctx, g, p) {
    const project = await openProject(g, { interpolate: !flagBool(p, configSpec, 'no-interpolate') });
    if (p.args.length) {
      const keep = selectServices(project, p.args, true).map((s) => s.name);
      project.services = Object.fromEntries(
        Object.entries(project.services).filter(([n]) => keep.includes(n)),
      );
    }
    const hash = flagString(p, configSpec, 'hash');
    let text: string;
    if (hash !== undefined) {
      const wanted = hash === '*' ? Object.keys(project.services) : hash.split(',');
      text = selectServices(project, wanted, true)
        .map((s) => `${s.name} ${serviceHash(s)}\n`)
        .join('');
    } else {
      const { renderConfig } = await import('../../compose/loader/index.ts');
      const format = flagString(p, configSpec, 'format') ?? 'yaml';
      if (format !== 'yaml' && format !== 'json')
        throw new InvalidArgumentError(`unsupported format "${format}": use yaml or json`);
      text = renderConfig(project, {
        format,
        services: flagBool(p, configSpec, 'services'),
        volumes: flagBool(p, configSpec, 'volumes'),
        networks: flagBool(p, configSpec, 'networks'),
        profiles: flagBool(p, configSpec, 'profiles'),
        images: flagBool(p, configSpec, 'images'),
        quiet: flagBool(p, configSpec, 'quiet'),
      });
    }
    const out = flagString(p, configSpec, 'output');
    if (out) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(out, text);
    } else ctx.out.write(text);
    return 0;
  },
};

const watchSpec = spec(
  'watch',
  '[SERVICE...]',
  'Watch build context for service and rebuild/refresh containers when files are updated',
  [
    bool('no-up', 'Do not build & start services before watching'),
    bool('prune', 'Prune dangling images on rebuild'),
    bool('quiet', 'hide build output'),
  ],
);

const watchCmd: Sub = {
  spec: watchSpec,
  async run(ctx, g, p) {
    const r = await session(ctx, g);
    const services = selectServices(r.project, p.args);
    enable(r.project, services);
    if (!flagBool(p, watchSpec, 'no-up')) {
      const imageIds = await ensureImages(r, services, { build: 'auto' });
      await converge(r, services, { imageIds });
    }
    const { watchProject } = await import('../../compose/watch.ts');
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    await watchProject(r, services, {
      signal: stop.signal,
      quiet: flagBool(p, watchSpec, 'quiet'),
      out: ctx.out,
    });
    return 0;
  },
};

const versionCmd: Sub = {
  spec: spec('version', '', 'Show the Docker Compose version information', [
    str('format', 'Format the output. Values: [pretty | json]', 'f'),
    bool('short', "Shows only Compose's version number"),
  ]),
  async run(ctx, _g, p) {
    const { COMPOSE_VERSION } = await import('../../compose/labels.ts');
    if (p.flags.get('short') === true) print(ctx, COMPOSE_VERSION);
    else if (p.flags.get('format') === 'json') print(ctx, JSON.stringify({ version: `v${COMPOSE_VERSION}` }));
    else print(ctx, `Docker Compose version v${COMPOSE_VERSION} (berth built-in)`);
    return 0;
  },
};

const SUBCOMMANDS: Record<string, Sub> = {
  up: upCmd,
  down: downCmd,
  create: createCmd,
  start: startCmd,
  stop: stopCmd,
  restart: restartCmd,
  kill: killCmd,
  rm: rmCmd,
  pause: pauseCmd,
  unpause: unpauseCmd,
  ps: psCmd,
  ls: lsCmd,
  logs: logsCmd,
  top: topCmd,
  port: portCmd,
  images: imagesCmd,
  build: buildCmd,
  pull: pullCmd,
  push: pushCmd,
  exec: execCmd,
  run: runCmd,
  config: configCmd,
  convert: configCmd,
  watch: watchCmd,
  version: versionCmd,
};

const composeSpec: CommandSpec = {
  name: 'compose',
  usage: 'berth compose [OPTIONS] COMMAND',
  description: `Define and run multi-container applications

Commands:
  ${Object.keys(SUBCOMMANDS).join(', ')}`,
  interspersed: false,
  flags: [
    list('file', 'Compose configuration files', 'f'),
    str('project-name', 'Project name', 'p'),
    str(
      'project-directory',
      'Specify an alternate working directory (default: the path of the first specified Compose file)',
    ),
    list('env-file', 'Specify an alternate environment file'),
    list('profile', 'Specify a profile to enable'),
    str('ansi', 'Control when to print ANSI control characters ("never"|"always"|"auto")'),
    str('progress', 'Set type of progress output (auto, tty, plain, json, quiet)'),
    int('parallel', 'Control max parallelism, -1 for unlimited'),
    bool('compatibility', 'Run compose in backward compatibility mode'),
    bool('dry-run', 'Execute command in dry run mode'),
    bool('all-resources', 'Include all resources, even those not used by services'),
  ],
};

function globalsOf(p: ParsedArgs): ComposeGlobals {
  const envList = (v: string | undefined, sep: string) => (v ? v.split(sep).filter(Boolean) : []);
  const files = flagStrings(p, composeSpec, 'file');
  return {
    files: files.length
      ? files
      : envList(process.env.COMPOSE_FILE, process.env.COMPOSE_PATH_SEPARATOR ?? ':'),
    projectName: flagString(p, composeSpec, 'project-name'),
    projectDir: flagString(p, composeSpec, 'project-directory'),
    envFiles: flagStrings(p, composeSpec, 'env-file'),
    profiles: [...flagStrings(p, composeSpec, 'profile')],
  };
}

export const composeCmd: Command = {
  spec: composeSpec,
  async run(ctx, p) {
    const [name, ...rest] = p.args;
    if (!name) {
      ctx.out.write(helpText(composeSpec));
      return 0;
    }
    const sub = SUBCOMMANDS[name];
    if (!sub) {
      ctx.err.write(`unknown docker command: "compose ${name}"\n`);
      return 1;
    }
    const parsed = parseArgs(rest, sub.spec);
    if (parsed.flags.get('help') === true) {
      ctx.out.write(helpText(sub.spec));
      return 0;
    }
    if (sub.spec.minArgs !== undefined && parsed.args.length < sub.spec.minArgs)
      throw new InvalidArgumentError(`"compose ${name}" requires at least ${sub.spec.minArgs} argument(s)`);
    return sub.run(ctx, globalsOf(p), parsed);
  },
};
