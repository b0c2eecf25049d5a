import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { noProgress } from '../../engine/progress.ts';
import { openArchiveFile } from '../../util/archive-file.ts';
import { BerthError } from '../../util/errors.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagString } from '../flags.ts';
import { progressRenderer } from '../progress.ts';
import type { Command } from '../registry.ts';

const saveSpec: CommandSpec = {
  name: 'save',
  usage: 'berth save [OPTIONS] IMAGE [IMAGE...]',
  description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'output', short: 'o', kind: 'string', description: 'Write to a file, instead of STDOUT' },
    {
      name: 'format',
      kind: 'string',
      default: 'docker',
      description:
        'Archive format: "docker" (docker save\'s, also an OCI layout) or "oci" (OCI layout, blobs as stored)',
    },
  ],
};

function saveFormat(value: string | undefined): 'docker' | 'oci' {
  const v = value ?? 'docker';
  if (v === 'docker' || v === 'docker-archive') return 'docker';
  if (v === 'oci' || v === 'oci-archive') return 'oci';
  throw new BerthError(`invalid --format "${v}": want "docker" or "oci"`);
}

export const saveCmd: Command = {
  spec: saveSpec,
  async run(ctx, p) {
    const format = saveFormat(flagString(p, saveSpec, 'format'));
    const output = flagString(p, saveSpec, 'output');
    if (output === undefined || output === '' || output === '-') {
      if (ctx.out.isTTY)
        throw new BerthError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
      await (await ctx.engine()).saveImages(p.args, ctx.out, { format });
      return 0;
    }
    const target = resolve(output);
    const dir = dirname(target);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new BerthError(
        `failed to save image: invalid output path: directory "${dirname(output)}" does not exist`,
      );
    }
    if (existsSync(target) && statSync(target).isDirectory()) {
      throw new BerthError(`failed to save image: ${output} is a directory; name a file with -o`);
    }
    // A failed save must not leave half an archive under the name the user asked for.
    const tmp = join(dir, `.${basename(target)}.berth-${randomBytes(4).toString('hex')}`);
    const file = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    try {
      await (await ctx.engine()).saveImages(p.args, file, { format });
      renameSync(tmp, target);
    } catch (err) {
      file.destroy();
      rmSync(tmp, { force: true });
      throw err;
    }
    return 0;
  },
};

const loadSpec: CommandSpec = {
  name: 'load',
  usage: 'berth load [OPTIONS]',
  description: 'Load an image from a tar archive or STDIN',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'input',
      short: 'i',
      kind: 'string',
      description: 'Read from tar archive file, instead of STDIN',
    },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress the load output' },
  ],
};

/** Opens the archive before the engine starts, so a missing file is reported as docker reports it. */
function openArchive(path: string): Readable {
  return openArchiveFile(
    path,
    `load: ${path} is a directory; want a tar archive made by \`berth save\` or \`docker save\``,
    1 << 20,
  );
}

export const loadCmd: Command = {
  spec: loadSpec,
  async run(ctx, p) {
    const inputPath = flagString(p, loadSpec, 'input');
    let input: Readable;
    if (inputPath) {
      input = openArchive(inputPath);
    } else {
      if (process.stdin.isTTY) throw new BerthError('requested load from stdin, but stdin is empty');
      input = process.stdin;
    }
    // docker draws per-layer progress on a terminal only; elsewhere it prints just the result lines.
    const progress =
      ctx.out.isTTY && !flagBool(p, loadSpec, 'quiet') ? progressRenderer(ctx.out, false) : undefined;
    try {
      const lines = await (await ctx.engine()).loadImages(input, progress?.sink ?? noProgress);
      for (const l of lines) print(ctx, l);
    } finally {
      progress?.done();
    }
    return 0;
  },
};
