import { nanoCpusFromQuota, type UpdateOptions } from '../../container/update.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { parseBytes } from '../../util/units.ts';
import { eachArg } from '../batch.ts';
import { type CommandSpec, flagInt, flagString, type ParsedArgs, UsageError } from '../flags.ts';
import type { Command } from '../registry.ts';
import { parseCpus, parseRestart } from './create-flags.ts';

const updateSpec: CommandSpec = {
  name: 'update',
  usage: 'berth update [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Update configuration of one or more containers',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'cpu-period', kind: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
    { name: 'cpu-quota', kind: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
    { name: 'cpu-shares', short: 'c', kind: 'int', description: 'CPU shares (relative weight)' },
    { name: 'cpus', kind: 'string', description: 'Number of CPUs', valueName: 'decimal' },
    { name: 'memory', short: 'm', kind: 'string', description: 'Memory limit', valueName: 'bytes' },
    {
      name: 'memory-swap',
      kind: 'string',
      description: 'Swap limit equal to memory plus swap: -1 to enable unlimited swap',
      valueName: 'bytes',
    },
    { name: 'pids-limit', kind: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
    { name: 'restart', kind: 'string', description: 'Restart policy to apply when a container exits' },
  ],
};

/** A flag value docker parses as it reads the command line: a bad one is a usage error (exit 125). */
function parsed<T>(name: string, value: string, parse: (v: string) => T): T {
  try {
    return parse(value);
  } catch (err) {
    const f = updateSpec.flags.find((x) => x.name === name);
    const display = f?.short ? `-${f.short}, --${name}` : `--${name}`;
    const cause = (err as Error).message.replace(/^invalid argument .* flag: /, '');
    throw new UsageError(`invalid argument ${JSON.stringify(value)} for "${display}" flag: ${cause}`);
  }
}

/** The flags given, as docker's CLI sends them: a flag left out leaves its setting as it is. */
function updateOptions(p: ParsedArgs): UpdateOptions {
  if (p.flags.size === 0)
    throw new InvalidArgumentError('you must provide one or more flags when using this command');
  const o: UpdateOptions = {};
  const memory = flagString(p, updateSpec, 'memory');
  if (memory) o.memory = parsed('memory', memory, parseBytes);
  const swap = flagString(p, updateSpec, 'memory-swap');
  if (swap) o.memorySwap = parsed('memory-swap', swap, (v) => (v === '-1' ? -1 : parseBytes(v)));
  const shares = flagInt(p, updateSpec, 'cpu-shares');
  if (shares) o.cpuShares = shares;
  const cpus = flagString(p, updateSpec, 'cpus');
  const quota = flagInt(p, updateSpec, 'cpu-quota');
  const period = flagInt(p, updateSpec, 'cpu-period');
  if (cpus) {
    if (quota)
      throw new InvalidArgumentError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
    if (period)
      throw new InvalidArgumentError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
    o.nanoCpus = parsed('cpus', cpus, parseCpus);
  } else {
    const nano = nanoCpusFromQuota(quota, period);
    if (nano !== undefined) o.nanoCpus = nano;
  }
  const pids = flagInt(p, updateSpec, 'pids-limit');
  if (pids !== undefined) o.pidsLimit = pids;
  const restart = flagString(p, updateSpec, 'restart');
  if (restart !== undefined) o.restartPolicy = parsed('restart', restart, parseRestart);
  return o;
}

export const updateCmd: Command = {
  spec: updateSpec,
  async run(ctx, p) {
    const o = updateOptions(p);
    const engine = await ctx.engine();
    return eachArg(
      ctx,
      p.args,
      async (ref) => {
        const { warnings } = await engine.updateContainer(ref, o);
        for (const w of warnings) ctx.err.write(`WARNING: ${w}\n`);
      },
      { echo: true },
    );
  },
};
