import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreContext } from '../engine/context.ts';
import { containerDir, layersDir } from '../store/paths.ts';
import { MNT_DETACH, mount, umount2 } from '../util/syscalls.ts';
import type { ContainerRecord } from './types.ts';

export interface RootfsDirs {
  upper: string;
  work: string;
  merged: string;
}

export function rootfsDirs(ctx: StoreContext, id: string): RootfsDirs {
  const base = containerDir(ctx.paths, id);
  return { upper: join(base, 'upper'), work: join(base, 'work'), merged: join(base, 'merged') };
}

export function isMounted(path: string): boolean {
  const info = readFileSync('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && mp.replace(/\\040/g, ' ') === path) return true;
  }
  return false;
}

/** Mounts the container's overlay: its image's layers read-only below, its own upper dir on top. */
export async function mountRootfs(ctx: StoreContext, c: ContainerRecord): Promise<string> {
  const dirs = rootfsDirs(ctx, c.id);
  if (isMounted(dirs.merged)) return dirs.merged;
  let layers = c.config.rootfsLayers;
  if (!layers) {
    const img = ctx.images.get(c.imageId);
    if (!img) throw new Error(`image ${c.imageId} of container ${c.name} is gone`);
    layers = img.layers;
  }
  const lowers: string[] = [];
  for (const l of layers) lowers.push(await ctx.layers.ensure(l.chainId, ctx.blobs.path(l.blob)));
  if (lowers.length === 0) {
    // overlayfs needs a lower directory even for an image without layers.
    const empty = join(layersDir(ctx.paths), 'empty');
    mkdirSync(empty, { recursive: true });
    lowers.push(empty);
  }
  for (const d of [dirs.upper, dirs.work, dirs.merged]) mkdirSync(d, { recursive: true });
  // overlay lists lowerdirs top-most first; image layers are stored bottom-most first.
  const opts = `lowerdir=${lowers.reverse().join(':')},upperdir=${dirs.upper},workdir=${dirs.work}`;
  mount('overlay', dirs.merged, 'overlay', 0, opts);
  return dirs.merged;
}

export function unmountRootfs(ctx: StoreContext, id: string): void {
  const { merged } = rootfsDirs(ctx, id);
  if (!existsSync(merged)) return;
  for (let i = 0; i < 8 && isMounted(merged); i++) {
    try {
      umount2(merged, MNT_DETACH);
    } catch {
      break;
    }
  }
}

export function removeContainerFiles(ctx: StoreContext, id: string): void {
  unmountRootfs(ctx, id);
  rmSync(containerDir(ctx.paths, id), { recursive: true, force: true });
}
