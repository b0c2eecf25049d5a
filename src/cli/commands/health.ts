import type { HealthcheckRunResult } from '../../container/health-state.ts';
import { BerthError } from '../../util/errors.ts';
import { print } from '../context.ts';
import type { CommandSpec } from '../flags.ts';
import type { Command } from '../registry.ts';

const runSpec: CommandSpec = {
  name: 'healthcheck run',
  usage: 'berth healthcheck run CONTAINER',
  description: 'Run the health check of a container',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [],
};

/** podman's `healthcheck run`: exit 0 when the check passed; otherwise prints `unhealthy` and exits 1. */
export const healthcheckRunCmd: Command = {
  spec: runSpec,
  async run(ctx, p) {
    let r: HealthcheckRunResult;
    try {
      r = await (await ctx.engine()).healthcheckRun(p.args[0]!);
    } catch (err) {
      // podman's 125 keeps "could not check" apart from "checked: unhealthy" (1).
      if (!(err instanceof BerthError)) throw err;
      ctx.err.write(`Error: ${err.message}\n`);
      return 125;
    }
    if (r.exitCode === 0) return 0;
    print(ctx, 'unhealthy');
    return 1;
  },
};

const monitorSpec: CommandSpec = {
  name: 'container healthcheck-monitor',
  usage: 'berth container healthcheck-monitor CONTAINER',
  description: 'Run the health checks of a started container until it stops (started by `start`)',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [],
};

/** The detached monitor `start` spawns: a local helper process, so it works on the store directly. */
export const healthcheckMonitorCmd: Command = {
  spec: monitorSpec,
  async run(ctx, p) {
    const { openContext } = await import('../../engine/context.ts');
    const { monitorHealth } = await import('../../container/health.ts');
    const store = openContext(ctx.paths);
    const c = store.containers.find(p.args[0]!);
    if (c) await monitorHealth(store, c.id);
    return 0;
  },
};
