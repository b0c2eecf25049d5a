import { execFileSync } from 'node:child_process';
import type { StoreContext } from '../engine/context.ts';
import { ConflictError } from '../util/errors.ts';
import { containerFiles } from './paths.ts';
import { runtimeExec, selectRuntime } from './runtime.ts';

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/** `docker top`: the host's `ps` output, restricted to the container's processes. */
export async function topContainer(ctx: StoreContext, ref: string, psArgs: string[]): Promise<TopResult> {
  const c = ctx.containers.mustFind(ref);
  if (c.state.status !== 'running' && c.state.status !== 'paused') {
    throw new ConflictError(`container ${c.id} is not running`);
  }
  const f = containerFiles(ctx.paths, c.id);
  const rt = selectRuntime(c.state.runtime || undefined);
  const pids = new Set(
    (
      JSON.parse(
        (await runtimeExec(rt, f.runtimeState, ['ps', '--format', 'json', c.id])) || '[]',
      ) as number[]
    ).map(String),
  );
  const args = psArgs.length ? psArgs : ['-ef'];
  const out = execFileSync('ps', args, { encoding: 'utf8' });
  const lines = out.split('\n').filter(Boolean);
  const header = lines[0]!;
  const titles = header.trim().split(/\s+/);
  const pidCol = titles.indexOf('PID');
  if (pidCol < 0) throw new ConflictError(`ps ${args.join(' ')}: the output has no PID column`);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    // The last column (CMD/COMMAND) may contain spaces: keep it whole.
    const row = fields.slice(0, titles.length - 1);
    row.push(fields.slice(titles.length - 1).join(' '));
    if (pids.has(row[pidCol]!)) processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}
