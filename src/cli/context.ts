import type { Engine } from '../engine/engine.ts';
import type { StorePaths } from '../store/paths.ts';

/** What every command gets: the engine (opened on first use) and the process's streams. */
export interface CliContext {
  paths: StorePaths;
  engine(): Promise<Engine>;
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
}

export function print(ctx: CliContext, text: string): void {
  ctx.out.write(text.endsWith('\n') ? text : `${text}\n`);
}
