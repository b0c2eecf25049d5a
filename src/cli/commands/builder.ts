import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { BuildCacheItem } from '../../build/cache-usage.ts';
import { openArchiveFile } from '../../util/archive-file.ts';
import { BerthError, InvalidArgumentError } from '../../util/errors.ts';
import { humanDuration, humanSize } from '../../util/units.ts';
import type { CliContext } from '../context.ts';
import { print } from '../context.ts';
import {
  type CommandSpec,
  flagBool,
  flagString,
  flagStrings,
  helpText,
  type ParsedArgs,
  parseArgs,
  UsageError,
  usageMessage,
} from '../flags.ts';
import { renderList } from '../format/render.ts';
import { tabulate } from '../format/tabwriter.ts';
import type { Command } from '../registry.ts';

const duSpec: CommandSpec = {
  name: 'builder du',
  usage: 'berth builder du [OPTIONS]',
  description: 'Disk usage of the build cache',
  interspersed: true,
  maxArgs: 0,
  flags: [
    { name: 'verbose', short: 'v', kind: 'bool', description: 'Show every record in detail' },
    { name: 'format', kind: 'string', description: 'Format the output using a custom template' },
  ],
};

function lastAccessed(item: BuildCacheItem, now: number): string {
  if (!item.LastUsedAt) return '';
  return `${humanDuration(Math.max(0, now - Date.parse(item.LastUsedAt)))} ago`;
}

/** `docker buildx du`: a row per record (mutable ones, the cache mounts, marked `*`), then totals. */
export const builderDuCmd: Command = {
  spec: duSpec,
  async run(ctx, p) {
    const items = await (await ctx.engine()).buildCacheUsage();
    const now = Date.now();
    const format = flagString(p, duSpec, 'format');
    if (flagBool(p, duSpec, 'verbose')) {
      for (const it of items) {
        const mutable = it.Type === 'exec.cachemount';
        ctx.out.write(
          tabulate(
            [
              `ID:\t${it.ID}`,
              `Created at:\t${it.CreatedAt}`,
              `Mutable:\t${mutable}`,
              `Reclaimable:\t${!it.InUse}`,
              `Shared:\t${it.Shared}`,
              `Size:\t${humanSize(it.Size)}`,
              `Description:\t${it.Description}`,
              `Usage count:\t${it.UsageCount}`,
              `Last used:\t${lastAccessed(it, now)}`,
              `Type:\t${it.Type}`,
              '',
            ].join('\n'),
            { minWidth: 0, padding: 1 },
          ),
        );
        ctx.out.write('\n');
      }
    } else {
      const rows = items.map((it) => ({
        ID: it.Type === 'exec.cachemount' ? `${it.ID}*` : it.ID,
        Reclaimable: String(!it.InUse),
        Size: humanSize(it.Size),
        LastAccessed: lastAccessed(it, now),
        Type: it.Type,
        Description: it.Description,
        Shared: String(it.Shared),
        UsageCount: it.UsageCount,
      }));
      ctx.out.write(
        renderList(rows, format, 'table {{.ID}}\t{{.Reclaimable}}\t{{.Size}}\t{{.LastAccessed}}', {
          LastAccessed: 'LAST ACCESSED',
          UsageCount: 'USAGE',
        }),
      );
      if (format !== undefined && format !== '' && format !== 'table') return 0;
    }
    const sum = (f: (it: BuildCacheItem) => boolean) => items.filter(f).reduce((n, it) => n + it.Size, 0);
    const shared = sum((it) => it.Shared);
    const lines: string[] = [];
    if (shared > 0) {
      lines.push(`Shared:\t${humanSize(shared)}`, `Private:\t${humanSize(sum((it) => !it.Shared))}`);
    }
    lines.push(`Reclaimable:\t${humanSize(sum((it) => !it.InUse))}`, `Total:\t${humanSize(sum(() => true))}`);
    ctx.out.write(tabulate(`${lines.join('\n')}\n`, { minWidth: 0, padding: 1 }));
    return 0;
  },
};

const exportSpec: CommandSpec = {
  name: 'builder cache export',
  usage: 'berth builder cache export [OPTIONS]',
  description: 'Write the build cache mounts (RUN --mount=type=cache) to a tar archive',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'output',
      short: 'o',
      kind: 'string',
      description: 'Write to a file, or "-" for STDOUT',
    },
    {
      name: 'id',
      kind: 'stringArray',
      description: 'Export only the cache mount with this id (repeatable; default: all)',
    },
  ],
};

const importSpec: CommandSpec = {
  name: 'builder cache import',
  usage: 'berth builder cache import [OPTIONS] FILE|-',
  description: 'Restore build cache mounts from a tar archive made by `builder cache export`',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [
    {
      name: 'replace',
      kind: 'bool',
      description: 'Replace existing cache mounts with the same id instead of merging into them',
    },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Do not print the ids restored' },
  ],
};

async function runExport(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const output = flagString(p, exportSpec, 'output');
  const ids = flagStrings(p, exportSpec, 'id');
  const engine = await ctx.engine();
  if (output === undefined || output === '') {
    throw new InvalidArgumentError('name the archive to write with -o FILE, or -o - for STDOUT');
  }
  if (output === '-') {
    if (ctx.out.isTTY)
      throw new BerthError('cowardly refusing to write an archive to a terminal: redirect it');
    await engine.exportBuildCacheMounts(ids, ctx.out);
    return 0;
  }
  const target = resolve(output);
  const dir = dirname(target);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new InvalidArgumentError(`invalid output path: directory "${dirname(output)}" does not exist`);
  }
  if (existsSync(target) && statSync(target).isDirectory()) {
    throw new InvalidArgumentError(`${output} is a directory; name a file with -o`);
  }
  // A failed export must not leave half an archive under the name the user asked for.
  const tmp = join(dir, `.${basename(target)}.berth-${randomBytes(4).toString('hex')}`);
  const file = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  try {
    await engine.exportBuildCacheMounts(ids, file);
    renameSync(tmp, target);
  } catch (err) {
    file.destroy();
    rmSync(tmp, { force: true });
    throw err;
  }
  return 0;
}

async function runImport(ctx: CliContext, p: ParsedArgs): Promise<number> {
  const path = p.args[0]!;
  let input: Readable;
  if (path === '-') {
    if (process.stdin.isTTY) throw new BerthError('requested import from STDIN, but STDIN is a terminal');
    input = process.stdin;
  } else {
    input = openArchiveFile(
      path,
      `${path} is a directory; want a tar archive made by \`berth builder cache export\``,
      1 << 20,
    );
  }
  const ids = await (await ctx.engine()).importBuildCacheMounts(input, flagBool(p, importSpec, 'replace'));
  if (!flagBool(p, importSpec, 'quiet')) for (const id of ids) print(ctx, `imported cache mount ${id}`);
  return 0;
}

const cacheSpec: CommandSpec = {
  name: 'builder cache',
  usage: 'berth builder cache COMMAND',
  description: 'Export and import build cache mounts (export, import)',
  interspersed: false,
  minArgs: 1,
  flags: [],
};

/** `builder cache export|import`: the command table holds two words, so this one picks the third. */
export const builderCacheCmd: Command = {
  spec: cacheSpec,
  async run(ctx, p) {
    const [sub, ...rest] = p.args;
    const table: Record<string, [CommandSpec, typeof runExport]> = {
      export: [exportSpec, runExport],
      import: [importSpec, runImport],
    };
    const entry = sub === undefined ? undefined : table[sub];
    if (!entry) {
      ctx.err.write(
        `berth: 'builder cache ${sub ?? ''}' is not a berth command.\nSee 'berth builder cache --help'\n`,
      );
      return 125;
    }
    const [spec, run] = entry;
    let parsed: ParsedArgs;
    try {
      parsed = parseArgs(rest, spec);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      ctx.err.write(`${usageMessage(err, spec)}\n`);
      return 125;
    }
    if (parsed.flags.get('help') === true) {
      ctx.out.write(helpText(spec));
      return 0;
    }
    return run(ctx, parsed);
  },
};
