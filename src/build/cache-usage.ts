import type { StoreContext } from '../engine/context.ts';
import { BuildCache } from './cache.ts';
import { listCacheMounts } from './cache-mounts-archive.ts';

/** One build cache record as the Engine API's `GET /system/df` lists it (moby's BuildCache). */
export interface BuildCacheItem {
  ID: string;
  Parent: string;
  Parents: string[] | null;
  /** `regular` for a step's layer, `exec.cachemount` for a `RUN --mount=type=cache` directory. */
  Type: 'regular' | 'exec.cachemount' | 'internal' | 'frontend' | 'source.local' | 'source.git.checkout';
  Description: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
  CreatedAt: string;
  LastUsedAt: string | null;
  UsageCount: number;
}

/**
 * The build cache: each step record (its layer's size; a layer an image also holds is `Shared`,
 * as BuildKit marks records other snapshots use) and each cache mount (mutable, sized on disk).
 */
export function buildCacheUsage(ctx: StoreContext): BuildCacheItem[] {
  const inImages = new Set<string>();
  for (const img of ctx.images.list()) for (const l of img.layers) inImages.add(l.blob);
  const items: BuildCacheItem[] = new BuildCache(ctx).all().map((r) => ({
    ID: r.key.replace(/^sha256:/, '').slice(0, 25),
    Parent: '',
    Parents: null,
    Type: 'regular',
    Description: r.description,
    InUse: false,
    Shared: r.diffId !== '' && inImages.has(r.diffId),
    Size: r.size,
    CreatedAt: r.created,
    LastUsedAt: r.lastUsed,
    UsageCount: r.usageCount,
  }));
  for (const m of listCacheMounts(ctx)) {
    items.push({
      ID: m.key.slice(0, 25),
      Parent: '',
      Parents: null,
      Type: 'exec.cachemount',
      Description: `cache mount with id "${m.id}"`,
      InUse: false,
      Shared: false,
      Size: m.size,
      CreatedAt: m.created,
      LastUsedAt: m.lastUsed,
      UsageCount: 1,
    });
  }
  return items;
}
