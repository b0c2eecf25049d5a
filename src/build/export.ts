import * as fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StoreContext } from '../engine/context.ts';
import { packDirectory } from '../image/layer-tar.ts';
import { BerthError } from '../util/errors.ts';
import { withLayersReadonly } from './snapshot.ts';
import type { BuildState } from './state.ts';
import type { BuildOutput } from './types.ts';

/** `--output type=local|tar`: the final stage's files, not an image. */
export async function exportState(
  ctx: StoreContext,
  s: BuildState,
  out: Exclude<BuildOutput, { type: 'image' }>,
): Promise<void> {
  await withLayersReadonly(ctx, s.layers, async (root) => {
    if (out.type === 'local') {
      fs.mkdirSync(out.dest, { recursive: true });
      fs.cpSync(root, out.dest, {
        recursive: true,
        preserveTimestamps: true,
        verbatimSymlinks: true,
        force: true,
      });
      return;
    }
    const tar = new PassThrough();
    const writing = packDirectory(root, tar);
    const dest = out.dest === '-' ? process.stdout : fs.createWriteStream(out.dest);
    try {
      await Promise.all([writing, pipeline(tar, dest, { end: out.dest !== '-' })]);
    } catch (err) {
      throw new BerthError(`cannot write the build output to ${out.dest}: ${(err as Error).message}`);
    }
  });
}
