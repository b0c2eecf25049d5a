import { type CliContext, print } from './context.ts';
import { renderOne } from './format/render.ts';

/** How a failed argument is reported on stderr (without the newline). */
export type ErrorLine = (err: unknown, arg: string) => string;

export const daemonError: ErrorLine = (err) => `Error response from daemon: ${(err as Error).message}`;
export const plainError: ErrorLine = (err) => `Error: ${(err as Error).message}`;

/**
 * Runs `fn` for each argument, as docker does for commands taking several: one argument's failure
 * is reported and makes the exit code 1, but the others are still done. With `echo`, each argument
 * that succeeded is printed back.
 */
export async function eachArg(
  ctx: CliContext,
  args: string[],
  fn: (arg: string) => Promise<unknown>,
  opts: { echo?: boolean; errorLine?: ErrorLine } = {},
): Promise<number> {
  const errorLine = opts.errorLine ?? daemonError;
  let code = 0;
  for (const arg of args) {
    try {
      await fn(arg);
      if (opts.echo) print(ctx, arg);
    } catch (err) {
      ctx.err.write(`${errorLine(err, arg)}\n`);
      code = 1;
    }
  }
  return code;
}

/**
 * `inspect` of several objects: the ones found are written together (one JSON array, or the
 * template once each) even when others were not, which only set the exit code.
 */
export async function inspectEach(
  ctx: CliContext,
  args: string[],
  find: (arg: string) => Promise<unknown>,
  format: string | undefined,
  errorLine: ErrorLine = plainError,
): Promise<number> {
  const found: unknown[] = [];
  const code = await eachArg(ctx, args, async (arg) => found.push(await find(arg)), { errorLine });
  writeInspect(ctx, found, format);
  return code;
}

export function writeInspect(ctx: CliContext, items: unknown[], format: string | undefined): void {
  if (format) {
    for (const i of items) ctx.out.write(renderOne(i, format));
  } else {
    ctx.out.write(`${JSON.stringify(items, null, 4)}\n`);
  }
}
