import { parseFilters } from '../../engine/filters.ts';
import type { NetworkInspect } from '../../network/types.ts';
import { InvalidArgumentError, NotFoundError } from '../../util/errors.ts';
import { daemonError, eachArg, inspectEach } from '../batch.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagString, flagStrings } from '../flags.ts';
import { renderList } from '../format/render.ts';
import { printPruned, pruneConfirmed } from '../prune.ts';
import type { Command } from '../registry.ts';

function keyValues(list: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    if (eq === 0) throw new InvalidArgumentError(`invalid ${what} '${l}': empty name`);
    if (eq < 0) out[l] = '';
    else out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

const createSpec: CommandSpec = {
  name: 'network create',
  usage: 'berth network create [OPTIONS] NETWORK',
  description: 'Create a network',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [
    {
      name: 'driver',
      short: 'd',
      kind: 'string',
      default: 'bridge',
      description: 'Driver to manage the Network',
    },
    { name: 'gateway', kind: 'stringArray', description: 'IPv4 or IPv6 Gateway for the master subnet' },
    { name: 'internal', kind: 'bool', description: 'Restrict external access to the network' },
    { name: 'ip-range', kind: 'stringArray', description: 'Allocate container ip from a sub-range' },
    { name: 'label', kind: 'stringArray', description: 'Set metadata on a network' },
    {
      name: 'opt',
      short: 'o',
      kind: 'stringArray',
      description: 'Set driver specific options',
      valueName: 'map',
    },
    {
      name: 'subnet',
      kind: 'stringArray',
      description: 'Subnet in CIDR format that represents a network segment',
    },
    { name: 'attachable', kind: 'bool', description: 'Enable manual container attachment' },
    { name: 'ipv6', kind: 'bool', description: 'Enable or disable IPv6 networking' },
  ],
};

export const networkCreateCmd: Command = {
  spec: createSpec,
  async run(ctx, p) {
    if (flagBool(p, createSpec, 'ipv6'))
      throw new InvalidArgumentError('IPv6 networks are not supported yet: create an IPv4 network');
    const one = (name: string) => {
      const v = flagStrings(p, createSpec, name);
      if (v.length > 1) throw new InvalidArgumentError(`only one --${name} is supported (IPv4 only)`);
      return v[0];
    };
    const id = await (await ctx.engine()).networkCreate({
      name: p.args[0]!,
      driver: flagString(p, createSpec, 'driver'),
      subnet: one('subnet'),
      gateway: one('gateway'),
      ipRange: one('ip-range'),
      internal: flagBool(p, createSpec, 'internal'),
      labels: keyValues(flagStrings(p, createSpec, 'label'), 'label'),
      options: keyValues(flagStrings(p, createSpec, 'opt'), 'option'),
    });
    print(ctx, id);
    return 0;
  },
};

const lsSpec: CommandSpec = {
  name: 'network ls',
  usage: 'berth network ls [OPTIONS]',
  description: 'List networks',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'filter',
      short: 'f',
      kind: 'stringArray',
      description: 'Provide filter values (e.g. "driver=bridge")',
      valueName: 'filter',
    },
    { name: 'format', kind: 'string', description: 'Format output using a custom template' },
    { name: 'no-trunc', kind: 'bool', description: 'Do not truncate the output' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display network IDs' },
  ],
};

function row(n: NetworkInspect, noTrunc: boolean) {
  return {
    ID: noTrunc ? n.Id : n.Id.slice(0, 12),
    Name: n.Name,
    Driver: n.Driver,
    Scope: n.Scope,
    IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal),
    Labels: Object.entries(n.Labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    CreatedAt: n.Created,
    Label: (name: string) => n.Labels[name] ?? '',
  };
}

export const networkLsCmd: Command = {
  spec: lsSpec,
  async run(ctx, p) {
    const filters = parseFilters(flagStrings(p, lsSpec, 'filter'), [
      'name',
      'id',
      'driver',
      'label',
      'scope',
      'type',
      'dangling',
    ]);
    const list = await (await ctx.engine()).networkList(filters);
    const rows = list.map((n) => row(n, flagBool(p, lsSpec, 'no-trunc')));
    if (flagBool(p, lsSpec, 'quiet')) {
      for (const r of rows) print(ctx, r.ID);
      return 0;
    }
    ctx.out.write(
      renderList(rows, flagString(p, lsSpec, 'format'), 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', {
        ID: 'NETWORK ID',
        Name: 'NAME',
        Driver: 'DRIVER',
        Scope: 'SCOPE',
        IPv6: 'IPV6',
        Internal: 'INTERNAL',
        Labels: 'LABELS',
        CreatedAt: 'CREATED AT',
      }),
    );
    return 0;
  },
};

const inspectSpec: CommandSpec = {
  name: 'network inspect',
  usage: 'berth network inspect [OPTIONS] NETWORK [NETWORK...]',
  description: 'Display detailed information on one or more networks',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'format', short: 'f', kind: 'string', description: 'Format output using a custom template' },
    { name: 'verbose', short: 'v', kind: 'bool', description: 'Verbose output for diagnostics' },
  ],
};

export const networkInspectCmd: Command = {
  spec: inspectSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const format = flagString(p, inspectSpec, 'format');
    return inspectEach(ctx, p.args, (ref) => engine.networkInspect(ref), format, daemonError);
  },
};

const rmSpec: CommandSpec = {
  name: 'network rm',
  usage: 'berth network rm NETWORK [NETWORK...]',
  description: 'Remove one or more networks',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Do not error if the network does not exist' },
  ],
};

export const networkRmCmd: Command = {
  spec: rmSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    const force = flagBool(p, rmSpec, 'force');
    return eachArg(ctx, p.args, async (ref) => {
      try {
        await engine.networkRemove(ref);
      } catch (err) {
        if (force && err instanceof NotFoundError) return;
        throw err;
      }
      print(ctx, ref);
    });
  },
};

const connectSpec: CommandSpec = {
  name: 'network connect',
  usage: 'berth network connect [OPTIONS] NETWORK CONTAINER',
  description: 'Connect a container to a network',
  interspersed: true,
  minArgs: 2,
  maxArgs: 2,
  flags: [
    { name: 'alias', kind: 'stringArray', description: 'Add network-scoped alias for the container' },
    { name: 'ip', kind: 'string', description: 'IPv4 address (e.g., "172.30.100.104")' },
  ],
};

export const networkConnectCmd: Command = {
  spec: connectSpec,
  async run(ctx, p) {
    const [net, container] = p.args as [string, string];
    await (await ctx.engine()).networkConnect(net, container, {
      aliases: flagStrings(p, connectSpec, 'alias'),
      ip: flagString(p, connectSpec, 'ip'),
    });
    return 0;
  },
};

const disconnectSpec: CommandSpec = {
  name: 'network disconnect',
  usage: 'berth network disconnect [OPTIONS] NETWORK CONTAINER',
  description: 'Disconnect a container from a network',
  interspersed: true,
  minArgs: 2,
  maxArgs: 2,
  flags: [
    {
      name: 'force',
      short: 'f',
      kind: 'bool',
      description: 'Force the container to disconnect from a network',
    },
  ],
};

export const networkDisconnectCmd: Command = {
  spec: disconnectSpec,
  async run(ctx, p) {
    const [net, container] = p.args as [string, string];
    await (await ctx.engine()).networkDisconnect(net, container, flagBool(p, disconnectSpec, 'force'));
    return 0;
  },
};

const pruneSpec: CommandSpec = {
  name: 'network prune',
  usage: 'berth network prune [OPTIONS]',
  description: 'Remove all unused networks',
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

export const networkPruneCmd: Command = {
  spec: pruneSpec,
  async run(ctx, p) {
    const warning = 'WARNING! This will remove all custom networks not used by at least one container.';
    if (!(await pruneConfirmed(ctx, flagBool(p, pruneSpec, 'force'), warning))) return 0;
    const filters = parseFilters(flagStrings(p, pruneSpec, 'filter'), ['until', 'label']);
    const removed = await (await ctx.engine()).networkPrune(filters);
    printPruned(ctx, 'Networks', removed);
    return 0;
  },
};

const portSpec: CommandSpec = {
  name: 'port',
  usage: 'berth port CONTAINER [PRIVATE_PORT[/PROTO]]',
  description: 'List port mappings or a specific mapping for the container',
  interspersed: true,
  minArgs: 1,
  maxArgs: 2,
  flags: [],
};

type PortsMap = Record<string, { HostIp: string; HostPort: string }[] | null>;

export const portCmd: Command = {
  spec: portSpec,
  async run(ctx, p) {
    const [ref, wanted] = p.args as [string, string | undefined];
    const info = (await (await ctx.engine()).inspectContainer(ref, { size: false })) as {
      Name: string;
      NetworkSettings: { Ports?: PortsMap };
    };
    const ports = info.NetworkSettings.Ports ?? {};
    const addr = (b: { HostIp: string; HostPort: string }) =>
      `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}`;
    if (wanted) {
      const [port = '', proto = 'tcp'] = wanted.split('/');
      if (!/^\d+$/.test(port)) throw new InvalidArgumentError(`invalid port: ${wanted}`);
      const list = ports[`${port}/${proto}`];
      if (!list?.length)
        throw new NotFoundError(
          `No public port '${port}/${proto}' published for ${info.Name.replace(/^\//, '')}`,
        );
      for (const b of list) print(ctx, addr(b));
      return 0;
    }
    const keys = Object.keys(ports).sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
    for (const k of keys) for (const b of ports[k] ?? []) print(ctx, `${k} -> ${addr(b)}`);
    return 0;
  },
};
