import { existsSync, lstatSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreContext } from '../engine/context.ts';
import { parseTimestamp } from '../util/units.ts';
import type { BuildCache, CacheRecord } from './cache.ts';
import { cacheMountsDir } from './mounts.ts';
import type { BuildCachePruneOptions } from './types.ts';

/** Default bound of the build cache's layers: BuildKit keeps a few GB by default too. */
const DEFAULT_MAX_BYTES = 4 * 1024 ** 3;

function maxBytes(): number {
  const v = process.env.BERTH_BUILD_CACHE_MAX;
  const n = v ? Number(v) : Number.NaN;
  return Number.isFinite(n) && n >= 0 ? n : DEFAULT_MAX_BYTES;
}

/** Blobs no image uses: those a removed cache record frees. */
function freeBlobs(ctx: StoreContext, cache: BuildCache, records: CacheRecord[]): number {
  const used = new Set<string>();
  for (const img of ctx.images.list()) for (const l of img.layers) used.add(l.blob);
  const stillCached = cache.referencedBlobs();
  let freed = 0;
  for (const r of records) {
    if (!r.diffId || used.has(r.diffId) || stillCached.has(r.diffId)) continue;
    if (ctx.blobs.has(r.diffId)) {
      freed += ctx.blobs.size(r.diffId);
      ctx.blobs.delete(r.diffId);
    }
    used.add(r.diffId);
  }
  return freed;
}

/**
 * `berth builder prune`: without --all, only records whose layers no image uses (BuildKit's
 * "unused" cache); `until=` keeps what was used more recently; --keep-storage keeps the most
 * recently used records up to that many bytes.
 */
export function pruneCache(
  ctx: StoreContext,
  cache: BuildCache,
  o: BuildCachePruneOptions,
): { deleted: string[]; spaceReclaimed: number } {
  const inImages = new Set<string>();
  for (const img of ctx.images.list()) for (const l of img.layers) inImages.add(l.blob);
  const until = o.filters.until?.[0];
  const cutoff = until ? parseUntil(until) : undefined;
  let candidates = cache.all();
  if (!o.all) candidates = candidates.filter((r) => !r.diffId || !inImages.has(r.diffId));
  if (cutoff !== undefined) candidates = candidates.filter((r) => Date.parse(r.lastUsed) < cutoff);
  if (o.keepStorage !== undefined) {
    // Most recently used first: what fits under the bound stays.
    let kept = 0;
    const drop: CacheRecord[] = [];
    for (const r of candidates) {
      if (kept + r.size <= o.keepStorage) kept += r.size;
      else drop.push(r);
    }
    candidates = drop;
  }
  cache.delete(candidates.map((r) => r.key));
  let spaceReclaimed = freeBlobs(ctx, cache, candidates);
  const deleted = candidates.filter((r) => r.diffId).map((r) => r.key);
  // --all also drops cache mounts (RUN --mount=type=cache), as BuildKit's prune does.
  if (o.all && cutoff === undefined && o.keepStorage === undefined) {
    const dir = cacheMountsDir(ctx);
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      const p = join(dir, name);
      if (!statSync(p).isDirectory()) continue;
      spaceReclaimed += du(p);
      rmSync(p, { recursive: true, force: true });
      deleted.push(`cache-mount:${name}`);
    }
  }
  return { deleted, spaceReclaimed };
}

/** After a build: least recently used records go until the cache's layers fit the bound. */
export function enforceCacheBound(ctx: StoreContext, cache: BuildCache): void {
  const bound = maxBytes();
  const all = cache.all();
  let total = all.reduce((n, r) => n + r.size, 0);
  if (total <= bound) return;
  const drop: CacheRecord[] = [];
  for (const r of [...all].reverse()) {
    if (total <= bound) break;
    if (!r.diffId) continue;
    drop.push(r);
    total -= r.size;
  }
  cache.delete(drop.map((r) => r.key));
  freeBlobs(ctx, cache, drop);
}

/** `until=24h` (a duration back from now) or a timestamp, as docker's prune filters read it. */
function parseUntil(v: string): number {
  return parseTimestamp(v, Date.now());
}

function du(path: string): number {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const name of readdirSync(path)) n += du(join(path, name));
  return n;
}
