import type { StoreContext } from '../engine/context.ts';
import { parseReference } from '../image/reference.ts';
import type { ImageRecord } from '../image/types.ts';
import { BerthError } from '../util/errors.ts';
import { RegistryClient } from './client.ts';
import { blobOrigins } from './push.ts';

/** Layer media types whose blob is a compressed copy of the layer (gzip or zstd). */
export function isCompressedLayer(mediaType: string): boolean {
  return /[+.](gzip|zstd)$/.test(mediaType);
}

/** Whether blobs are dropped after unpack for every pull of this store (`BERTH_DROP_COMPRESSED=1`). */
export function dropCompressedByDefault(): boolean {
  return process.env.BERTH_DROP_COMPRESSED === '1';
}

/**
 * Makes sure the store holds blob `digest` of `img`: a compressed layer blob dropped after unpack
 * is fetched again, digest-checked, from a registry known to hold it (one it was pulled from or
 * pushed to, then the repositories of the image's own names).
 */
export async function ensureBlob(ctx: StoreContext, digest: string, img: ImageRecord): Promise<void> {
  if (ctx.blobs.has(digest)) return;
  const candidates: Array<{ registry: string; repo: string }> = [...blobOrigins(ctx, digest)];
  for (const tag of img.tags) {
    const r = parseReference(tag);
    candidates.push({ registry: r.domain, repo: r.path });
  }
  const seen = new Set<string>();
  const tried: string[] = [];
  for (const c of candidates) {
    const where = `${c.registry}/${c.repo}`;
    if (seen.has(where)) continue;
    seen.add(where);
    try {
      const { stream } = await new RegistryClient(c.registry).getBlob(c.repo, digest);
      await ctx.blobs.putStream(stream, digest);
      return;
    } catch (err) {
      tried.push(`${where}: ${(err as Error).message}`);
    }
  }
  throw new BerthError(
    `blob ${digest} of image ${img.id.slice(7, 19)} was dropped after unpack and no registry holds it${
      tried.length > 0 ? ` (tried ${tried.join('; ')})` : ' (none is known for it)'
    }; pull the image again without --drop-compressed`,
  );
}
