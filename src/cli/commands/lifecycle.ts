import { parseFilters } from '../../engine/filters.ts';
import { eachArg } from '../batch.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagInt, flagString, flagStrings } from '../flags.ts';
import { printPruned, pruneConfirmed } from '../prune.ts';
import type { Command } from '../registry.ts';
import { openTerminal, proxySignals } from '../terminal.ts';

const startSpec: CommandSpec = {
  name: 'start',
  usage: 'berth start [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Start one or more stopped containers',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'attach', short: 'a', kind: 'bool', description: 'Attach STDOUT/STDERR and forward signals' },
    { name: 'interactive', short: 'i', kind: 'bool', description: "Attach container's STDIN" },
    {
      name: 'detach-keys',
      kind: 'string',
      description: 'Override the key sequence for detaching a container',
    },
  ],
};

export const startCmd: Command = {
  spec: startSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const attach = flagBool(p, startSpec, 'attach');
    const interactive = flagBool(p, startSpec, 'interactive');
    if (!attach && !interactive)
      return eachArg(ctx, p.args, (ref) => engine.startContainer(ref), { echo: true });
    if (p.args.length > 1) {
      ctx.err.write('Error: you cannot start and attach multiple containers at once\n');
      return 1;
    }
    const ref = p.args[0]!;
    const info = (await engine.inspectContainer(ref, { size: false })) as {
      Config: { Tty: boolean; OpenStdin: boolean };
    };
    const term = openTerminal({ tty: info.Config.Tty, stdin: interactive && info.Config.OpenStdin });
    const unproxy = info.Config.Tty
      ? () => undefined
      : proxySignals((s) => void engine.killContainer(ref, s).catch(() => undefined));
    try {
      const handle = await engine.startContainer(ref, term.io);
      const size = term.size();
      if (handle && info.Config.Tty && size) handle.resize(size.rows, size.cols);
      const wait = engine.waitContainer(ref, 'next-exit');
      const first = await Promise.race([
        wait.then((r) => r.StatusCode),
        (handle?.done ?? wait).then((h) => (h === 'detached' ? -1 : undefined)),
      ]);
      if (first === -1) return 0;
      const code = (await wait).StatusCode;
      if (handle) await Promise.race([handle.done, new Promise((r) => setTimeout(r, 1000))]);
      handle?.close();
      return code;
    } finally {
      unproxy();
      term.restore();
    }
  },
};

const stopSpec: CommandSpec = {
  name: 'stop',
  usage: 'berth stop [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Stop one or more running containers',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'signal', short: 's', kind: 'string', description: 'Signal to send to the container' },
    { name: 'time', short: 't', kind: 'int', description: 'Seconds to wait before killing the container' },
  ],
};

export const stopCmd: Command = {
  spec: stopSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const t = flagInt(p, stopSpec, 'time');
    const sig = flagString(p, stopSpec, 'signal');
    return eachArg(ctx, p.args, (ref) => engine.stopContainer(ref, t, sig), { echo: true });
  },
};

const restartSpec: CommandSpec = {
  name: 'restart',
  usage: 'berth restart [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Restart one or more containers',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'signal', short: 's', kind: 'string', description: 'Signal to send to the container' },
    { name: 'time', short: 't', kind: 'int', description: 'Seconds to wait before killing the container' },
  ],
};

export const restartCmd: Command = {
  spec: restartSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const t = flagInt(p, restartSpec, 'time');
    return eachArg(ctx, p.args, (ref) => engine.restartContainer(ref, t), { echo: true });
  },
};

const killSpec: CommandSpec = {
  name: 'kill',
  usage: 'berth kill [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Kill one or more running containers',
  interspersed: true,
  minArgs: 1,
  flags: [
    {
      name: 'signal',
      short: 's',
      kind: 'string',
      default: 'KILL',
      description: 'Signal to send to the container',
    },
  ],
};

export const killCmd: Command = {
  spec: killSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const sig = flagString(p, killSpec, 'signal') ?? 'KILL';
    return eachArg(ctx, p.args, (ref) => engine.killContainer(ref, sig), { echo: true });
  },
};

const rmSpec: CommandSpec = {
  name: 'rm',
  usage: 'berth rm [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  interspersed: true,
  minArgs: 1,
  flags: [
    {
      name: 'force',
      short: 'f',
      kind: 'bool',
      description: 'Force the removal of a running container (uses SIGKILL)',
    },
    { name: 'link', short: 'l', kind: 'bool', description: 'Remove the specified link' },
    {
      name: 'volumes',
      short: 'v',
      kind: 'bool',
      description: 'Remove anonymous volumes associated with the container',
    },
  ],
};

export const rmCmd: Command = {
  spec: rmSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const o = { force: flagBool(p, rmSpec, 'force'), volumes: flagBool(p, rmSpec, 'volumes') };
    return eachArg(ctx, p.args, (ref) => engine.removeContainer(ref, o), { echo: true });
  },
};

const waitSpec: CommandSpec = {
  name: 'wait',
  usage: 'berth wait CONTAINER [CONTAINER...]',
  description: 'Block until one or more containers stop, then print their exit codes',
  interspersed: true,
  minArgs: 1,
  flags: [],
};

export const waitCmd: Command = {
  spec: waitSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    return eachArg(ctx, p.args, async (ref) => {
      const r = await engine.waitContainer(ref, 'not-running');
      print(ctx, String(r.StatusCode));
    });
  },
};

const renameSpec: CommandSpec = {
  name: 'rename',
  usage: 'berth rename CONTAINER NEW_NAME',
  description: 'Rename a container',
  interspersed: true,
  minArgs: 2,
  maxArgs: 2,
  flags: [],
};

export const renameCmd: Command = {
  spec: renameSpec,
  async run(ctx, p) {
    await (await ctx.engine()).renameContainer(p.args[0]!, p.args[1]!);
    return 0;
  },
};

const pauseSpec: CommandSpec = {
  name: 'pause',
  usage: 'berth pause CONTAINER [CONTAINER...]',
  description: 'Pause all processes within one or more containers',
  interspersed: true,
  minArgs: 1,
  flags: [],
};

export const pauseCmd: Command = {
  spec: pauseSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    return eachArg(ctx, p.args, (ref) => engine.pauseContainer(ref), { echo: true });
  },
};

const unpauseSpec: CommandSpec = {
  ...pauseSpec,
  name: 'unpause',
  usage: 'berth unpause CONTAINER [CONTAINER...]',
  description: 'Unpause all processes within one or more containers',
};

export const unpauseCmd: Command = {
  spec: unpauseSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    return eachArg(ctx, p.args, (ref) => engine.unpauseContainer(ref), { echo: true });
  },
};

const pruneSpec: CommandSpec = {
  name: 'container prune',
  usage: 'berth container prune [OPTIONS]',
  description: 'Remove all stopped containers',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'filter',
      kind: 'stringArray',
      description: 'Provide filter values (e.g. "until=<timestamp>")',
      valueName: 'filter',
    },
    { name: 'force', short: 'f', kind: 'bool', description: 'Do not prompt for confirmation' },
  ],
};

export const containerPruneCmd: Command = {
  spec: pruneSpec,
  async run(ctx, p) {
    const warning = 'WARNING! This will remove all stopped containers.';
    if (!(await pruneConfirmed(ctx, flagBool(p, pruneSpec, 'force'), warning))) return 0;
    const filters = parseFilters(flagStrings(p, pruneSpec, 'filter'), ['until', 'label']);
    const r = await (await ctx.engine()).pruneContainers(filters);
    printPruned(ctx, 'Containers', r.deleted, r.spaceReclaimed);
    return 0;
  },
};

const cleanupSpec: CommandSpec = {
  name: 'container cleanup',
  usage: 'berth container cleanup --exited CONTAINER',
  description: 'Record that a container exited and apply its --rm and restart policy (run by conmon)',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [{ name: 'exited', kind: 'bool', description: 'The container has exited' }],
};

export const cleanupCmd: Command = {
  spec: cleanupSpec,
  async run(ctx, p) {
    await (await ctx.engine()).containerExited(p.args[0]!);
    return 0;
  },
};
