import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { EMPTY_TAR_DIGEST, storeLayer } from '../container/commit.ts';
import { isMounted } from '../container/rootfs.ts';
import type { StoreContext } from '../engine/context.ts';
import type { LayerRecord } from '../image/types.ts';
import { layersDir } from '../store/paths.ts';
import { MNT_DETACH, MS_RDONLY, mount, umount2 } from '../util/syscalls.ts';
import { buildTmpDir } from './context.ts';

async function lowerDirs(ctx: StoreContext, layers: readonly LayerRecord[]): Promise<string[]> {
  const dirs: string[] = [];
  for (const l of layers) dirs.push(await ctx.layers.ensure(l.chainId, ctx.blobs.path(l.blob)));
  // overlay wants lowerdirs top-most first, and two of them when there is no upperdir.
  const out = dirs.reverse();
  for (const name of ['empty', 'empty-2']) {
    if (out.length >= 2) break;
    const empty = join(layersDir(ctx.paths), name);
    fs.mkdirSync(empty, { recursive: true });
    out.push(empty);
  }
  return out;
}

function unmount(path: string): void {
  for (let i = 0; i < 8 && isMounted(path); i++) {
    try {
      umount2(path, MNT_DETACH);
    } catch {
      break;
    }
  }
}

/**
 * Mounts `layers` with a fresh upper dir, lets `fn` change the tree, and commits the upper dir as
 * a layer (null when nothing changed). Nothing stays mounted or on disk afterwards.
 */
export async function changeLayers(
  ctx: StoreContext,
  layers: readonly LayerRecord[],
  fn: (root: string) => Promise<void>,
): Promise<{ diffId: string; size: number } | null> {
  const base = join(buildTmpDir(ctx), `snap-${randomBytes(8).toString('hex')}`);
  const upper = join(base, 'upper');
  const work = join(base, 'work');
  const merged = join(base, 'merged');
  for (const d of [upper, work, merged]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  try {
    const lowers = await lowerDirs(ctx, layers);
    mount('overlay', merged, 'overlay', 0, `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`);
    try {
      await fn(merged);
    } finally {
      unmount(merged);
    }
    return await commitUpper(ctx, upper);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

/** Packs an overlay upper dir into the blob store; null when it holds no change. */
export async function commitUpper(
  ctx: StoreContext,
  upper: string,
): Promise<{ diffId: string; size: number } | null> {
  if (fs.readdirSync(upper).length === 0) return null;
  const stored = await storeLayer(ctx, upper);
  if (stored.digest === EMPTY_TAR_DIGEST) return null;
  return { diffId: stored.digest, size: stored.size };
}

/** Mounts `layers` read-only for `fn` (COPY --from, bind mounts from a stage, --output). */
export async function withLayersReadonly<T>(
  ctx: StoreContext,
  layers: readonly LayerRecord[],
  fn: (root: string) => Promise<T>,
): Promise<T> {
  const merged = join(buildTmpDir(ctx), `ro-${randomBytes(8).toString('hex')}`);
  fs.mkdirSync(merged, { mode: 0o755 });
  try {
    const lowers = await lowerDirs(ctx, layers);
    mount('overlay', merged, 'overlay', MS_RDONLY, `lowerdir=${lowers.join(':')}`);
    try {
      return await fn(merged);
    } finally {
      unmount(merged);
    }
  } finally {
    fs.rmSync(merged, { recursive: true, force: true });
  }
}
