import { humanSize } from '../util/units.ts';
import { type CliContext, print } from './context.ts';

/** Whether a prune may go ahead: `--force`, or a yes to docker's prompt showing `warning`. */
export async function pruneConfirmed(ctx: CliContext, force: boolean, warning: string): Promise<boolean> {
  return force || confirm(ctx, warning);
}

/**
 * docker's prune report: `Deleted <Kind>:` and the names, then the space reclaimed. Without
 * `spaceReclaimed` (networks hold none) docker prints neither the total nor the blank line before it.
 */
export function printPruned(ctx: CliContext, kind: string, deleted: string[], spaceReclaimed?: number): void {
  if (deleted.length) {
    print(ctx, `Deleted ${kind}:`);
    for (const d of deleted) print(ctx, d);
    if (spaceReclaimed !== undefined) print(ctx, '');
  }
  if (spaceReclaimed !== undefined) print(ctx, `Total reclaimed space: ${humanSize(spaceReclaimed)}`);
}

/** docker's `Are you sure you want to continue? [y/N]` prompt; a closed stdin answers no. */
async function confirm(ctx: CliContext, warning: string): Promise<boolean> {
  ctx.out.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const answer = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) done();
    };
    const done = () => {
      process.stdin.off('data', onData);
      process.stdin.off('end', done);
      process.stdin.pause();
      resolve(buf.trim());
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', done);
  });
  return /^y(es)?$/i.test(answer);
}
