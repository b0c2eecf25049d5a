import { parseFilters } from '../../engine/filters.ts';
import { openSource } from '../../image/import.ts';
import { humanDuration, humanSize } from '../../util/units.ts';
import { eachArg, inspectEach } from '../batch.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagString, flagStrings } from '../flags.ts';
import { renderList } from '../format/render.ts';
import { printPruned, pruneConfirmed } from '../prune.ts';
import type { Command } from '../registry.ts';

const ago = (unixSec: number) => `${humanDuration(Date.now() - unixSec * 1000)} ago`;
const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

const importSpec: CommandSpec = {
  name: 'import',
  usage: 'berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  interspersed: true,
  minArgs: 1,
  maxArgs: 2,
  flags: [
    {
      name: 'change',
      short: 'c',
      kind: 'stringArray',
      description: 'Apply Dockerfile instruction to the created image',
    },
    { name: 'message', short: 'm', kind: 'string', description: 'Set commit message for imported image' },
    { name: 'platform', kind: 'string', description: 'Set platform if server is multi-platform capable' },
  ],
};

export const importCmd: Command = {
  spec: importSpec,
  async run(ctx, p) {
    const [src, ref] = p.args as [string, string | undefined];
    const platform = flagString(p, importSpec, 'platform');
    const [os, architecture] = platform ? platform.split('/') : [];
    const engine = await ctx.engine();
    const id = await engine.importImage(openSource(src), {
      changes: flagStrings(p, importSpec, 'change'),
      message: flagString(p, importSpec, 'message'),
      reference: ref,
      // docker streams a local file to the daemon as it does stdin, so its history says "Imported from -".
      sourceName: '-',
      platform: os && architecture ? { os, architecture } : undefined,
    });
    print(ctx, id);
    return 0;
  },
};

const imagesSpec: CommandSpec = {
  name: 'images',
  usage: 'berth images [OPTIONS] [REPOSITORY[:TAG]]',
  description: 'List images',
  interspersed: true,
  maxArgs: 1,
  flags: [
    {
      name: 'all',
      short: 'a',
      kind: 'bool',
      description: 'Show all images (default hides intermediate images)',
    },
    { name: 'digests', kind: 'bool', description: 'Show digests' },
    {
      name: 'filter',
      short: 'f',
      kind: 'stringArray',
      description: 'Filter output based on conditions provided',
      valueName: 'filter',
    },
    { name: 'format', kind: 'string', description: 'Format output using a custom template' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only show image IDs' },
  ],
};

interface ImageRow {
  ID: string;
  Repository: string;
  Tag: string;
  Digest: string;
  CreatedSince: string;
  CreatedAt: string;
  Size: string;
  Containers: string;
  VirtualSize: string;
  SharedSize: string;
  UniqueSize: string;
}

export const imagesCmd: Command = {
  spec: imagesSpec,
  async run(ctx, p) {
    const filters = parseFilters(flagStrings(p, imagesSpec, 'filter'), [
      'dangling',
      'label',
      'reference',
      'before',
      'since',
    ]);
    if (p.args[0]) filters.reference = [...(filters.reference ?? []), p.args[0]];
    const engine = await ctx.engine();
    const list = await engine.listImages({ all: flagBool(p, imagesSpec, 'all'), filters });
    const noTrunc = flagBool(p, imagesSpec, 'no-trunc');
    const rows: ImageRow[] = [];
    for (const img of list) {
      const id = noTrunc ? img.Id : shortId(img.Id);
      const digest = img.RepoDigests[0]?.split('@')[1] ?? '<none>';
      const base = {
        ID: id,
        Digest: digest,
        CreatedSince: ago(img.Created),
        CreatedAt: new Date(img.Created * 1000)
          .toISOString()
          .replace('T', ' ')
          .replace(/\.\d+Z$/, ' +0000 UTC'),
        Size: humanSize(img.Size),
        Containers: String(img.Containers),
        VirtualSize: humanSize(img.Size),
        SharedSize: 'N/A',
        UniqueSize: 'N/A',
      };
      if (img.RepoTags.length === 0) rows.push({ ...base, Repository: '<none>', Tag: '<none>' });
      for (const t of img.RepoTags) {
        const i = t.lastIndexOf(':');
        rows.push({ ...base, Repository: t.slice(0, i), Tag: t.slice(i + 1) });
      }
    }
    if (flagBool(p, imagesSpec, 'quiet')) {
      const seen = new Set<string>();
      for (const r of rows) if (!seen.has(r.ID)) seen.add(r.ID) && print(ctx, r.ID);
      return 0;
    }
    const digests = flagBool(p, imagesSpec, 'digests');
    const table = digests
      ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
      : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
    ctx.out.write(
      renderList(rows, flagString(p, imagesSpec, 'format'), table, {
        ID: 'IMAGE ID',
        CreatedSince: 'CREATED',
        CreatedAt: 'CREATED AT',
        Size: 'SIZE',
        Repository: 'REPOSITORY',
        Tag: 'TAG',
        Digest: 'DIGEST',
      }),
    );
    return 0;
  },
};

const tagSpec: CommandSpec = {
  name: 'tag',
  usage: 'berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  interspersed: true,
  minArgs: 2,
  maxArgs: 2,
  flags: [],
};

export const tagCmd: Command = {
  spec: tagSpec,
  async run(ctx, p) {
    await (await ctx.engine()).tagImage(p.args[0]!, p.args[1]!);
    return 0;
  },
};

const rmiSpec: CommandSpec = {
  name: 'rmi',
  usage: 'berth rmi [OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Force removal of the image' },
    { name: 'no-prune', kind: 'bool', description: 'Do not delete untagged parents' },
  ],
};

export const rmiCmd: Command = {
  spec: rmiSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    return eachArg(ctx, p.args, async (ref) => {
      const items = await engine.removeImage(ref, {
        force: flagBool(p, rmiSpec, 'force'),
        noPrune: flagBool(p, rmiSpec, 'no-prune'),
      });
      for (const i of items) print(ctx, i.Untagged ? `Untagged: ${i.Untagged}` : `Deleted: ${i.Deleted}`);
    });
  },
};

const imageInspectSpec: CommandSpec = {
  name: 'image inspect',
  usage: 'berth image inspect [OPTIONS] IMAGE [IMAGE...]',
  description: 'Display detailed information on one or more images',
  interspersed: true,
  minArgs: 1,
  flags: [
    { name: 'format', short: 'f', kind: 'string', description: 'Format output using a custom template' },
  ],
};

export const imageInspectCmd: Command = {
  spec: imageInspectSpec,
  async run(ctx, p) {
    const engine = await ctx.engine();
    return inspectEach(
      ctx,
      p.args,
      (ref) => engine.inspectImage(ref),
      flagString(p, imageInspectSpec, 'format'),
    );
  },
};

const historySpec: CommandSpec = {
  name: 'history',
  usage: 'berth history [OPTIONS] IMAGE',
  description: 'Show the history of an image',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'format', kind: 'string', description: 'Format output using a custom template' },
    {
      name: 'human',
      short: 'H',
      kind: 'bool',
      default: true,
      description: 'Print sizes and dates in human readable format',
    },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only show image IDs' },
  ],
};

export const historyCmd: Command = {
  spec: historySpec,
  async run(ctx, p) {
    const items = await (await ctx.engine()).imageHistory(p.args[0]!);
    const noTrunc = flagBool(p, historySpec, 'no-trunc');
    const human = flagBool(p, historySpec, 'human');
    if (flagBool(p, historySpec, 'quiet')) {
      for (const h of items) print(ctx, noTrunc ? h.Id : h.Id === '<missing>' ? h.Id : shortId(h.Id));
      return 0;
    }
    const rows = items.map((h) => ({
      ID: h.Id === '<missing>' ? h.Id : noTrunc ? h.Id : shortId(h.Id),
      CreatedSince: human ? ago(h.Created) : new Date(h.Created * 1000).toISOString(),
      CreatedAt: new Date(h.Created * 1000).toISOString(),
      CreatedBy: noTrunc || h.CreatedBy.length <= 45 ? h.CreatedBy : `${h.CreatedBy.slice(0, 44)}…`,
      Size: human ? humanSize(h.Size) : String(h.Size),
      Comment: h.Comment,
    }));
    ctx.out.write(
      renderList(
        rows,
        flagString(p, historySpec, 'format'),
        'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
        {
          ID: 'IMAGE',
          CreatedSince: 'CREATED',
          CreatedBy: 'CREATED BY',
          Size: 'SIZE',
          Comment: 'COMMENT',
        },
      ),
    );
    return 0;
  },
};

const imagePruneSpec: CommandSpec = {
  name: 'image prune',
  usage: 'berth image prune [OPTIONS]',
  description: 'Remove unused images',
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'all',
      short: 'a',
      kind: 'bool',
      description: 'Remove all unused images, not just dangling ones',
    },
    {
      name: 'filter',
      kind: 'stringArray',
      description: 'Provide filter values (e.g. "until=<timestamp>")',
      valueName: 'filter',
    },
    { name: 'force', short: 'f', kind: 'bool', description: 'Do not prompt for confirmation' },
  ],
};

export const imagePruneCmd: Command = {
  spec: imagePruneSpec,
  async run(ctx, p) {
    const all = flagBool(p, imagePruneSpec, 'all');
    const warning = all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.';
    if (!(await pruneConfirmed(ctx, flagBool(p, imagePruneSpec, 'force'), warning))) return 0;
    const filters = parseFilters(flagStrings(p, imagePruneSpec, 'filter'), ['until', 'label']);
    const r = await (await ctx.engine()).pruneImages({ all, filters });
    printPruned(ctx, 'Images', r.deleted, r.spaceReclaimed);
    return 0;
  },
};
