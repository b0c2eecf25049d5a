import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { StoreContext } from '../engine/context.ts';
import type { CommitOptions } from '../engine/engine.ts';
import { chainIds } from '../image/chain.ts';
import { applyChanges } from '../image/changes.ts';
import { packDirectory } from '../image/layer-tar.ts';
import { canonicalName, parseReference } from '../image/reference.ts';
import {
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type ImageManifest,
  type ImageRecord,
  type ImageRuntimeConfig,
  type LayerRecord,
  MediaTypes,
  ociMediaType,
} from '../image/types.ts';
import { withLock } from '../store/lock.ts';
import { BerthError, ConflictError, InvalidArgumentError, NotFoundError } from '../util/errors.ts';
import { whilePaused } from './export.ts';
import { rootfsDirs } from './rootfs.ts';
import type { ContainerRecord } from './types.ts';

/** The digest of a tar with no entries (two zero blocks): docker's marker of an empty layer. */
export const EMPTY_TAR_DIGEST = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/**
 * `berth commit`: the container's upper dir becomes a new layer on top of its image, and the
 * container's configuration becomes the image's (with `--change` applied on top), as in docker.
 * A running container is paused while its upper dir is read unless `pause` is false. Returns the
 * new image's ID.
 */
export async function commitContainer(ctx: StoreContext, ref: string, o: CommitOptions): Promise<string> {
  const found = ctx.containers.mustFind(ref);
  // Everything the user typed is checked before anything is written or paused.
  const target = o.reference ? parseReference(o.reference) : undefined;
  if (target?.digest) {
    throw new InvalidArgumentError(`refusing to create a tag with a digest reference: ${o.reference}`);
  }
  applyChanges({}, o.changes);
  return withLock(ctx.paths, found.id, async () => {
    const c = ctx.containers.get(found.id);
    if (!c) throw new NotFoundError(`No such container: ${ref}`);
    if (c.state.status === 'removing') throw new ConflictError(`container ${c.name} is being removed`);
    const base = ctx.images.get(c.imageId);
    if (!base) {
      throw new BerthError(
        `image ${c.imageId} of container ${c.name} is gone; the container cannot be committed`,
      );
    }
    const { upper } = rootfsDirs(ctx, c.id);
    // A container that never ran has an empty upper dir, which is what it changed.
    mkdirSync(upper, { recursive: true });
    const layer = await whilePaused(ctx, c, o.pause, () => storeLayer(ctx, upper));
    const img = buildImage(ctx, c, base, layer, o);
    try {
      for (const l of img.layers) await ctx.layers.ensure(l.chainId, ctx.blobs.path(l.blob));
    } catch (err) {
      if (!ctx.images.list().some((i) => i.layers.some((l) => l.blob === layer.digest))) {
        ctx.blobs.delete(layer.digest);
      }
      throw err;
    }
    ctx.images.put(img, target ? [canonicalName(target)] : []);
    if (layer.digest === EMPTY_TAR_DIGEST && !img.layers.some((l) => l.blob === layer.digest)) {
      // Nothing changed: the image records an empty layer in its history only, as docker's does.
      if (!ctx.images.list().some((i) => i.layers.some((l) => l.blob === layer.digest))) {
        ctx.blobs.delete(layer.digest);
      }
    }
    return img.id;
  });
}

/** Packs the upper dir (overlay whiteouts as OCI ones) into the blob store; the digest is the diff ID. */
export async function storeLayer(
  ctx: StoreContext,
  upper: string,
): Promise<{ digest: string; size: number }> {
  const tar = new PassThrough({ highWaterMark: 1 << 20 });
  const stored = ctx.blobs.putStream(tar);
  try {
    await packDirectory(upper, tar, { overlayUpper: true });
  } catch (err) {
    tar.destroy(err as Error);
    await stored.catch(() => {});
    throw err;
  }
  return stored;
}

/** The base image's layer descriptors, sizes taken from its manifest when it is stored. */
function baseDescriptors(ctx: StoreContext, base: ImageRecord): Descriptor[] {
  const sizes = new Map<string, number>();
  if (base.manifestDigest && ctx.blobs.has(base.manifestDigest)) {
    try {
      const m = JSON.parse(
        readFileSync(ctx.blobs.path(base.manifestDigest), 'utf8'),
      ) as Partial<ImageManifest>;
      for (const d of m.layers ?? []) sizes.set(d.digest, d.size);
    } catch {
      // An unreadable manifest only costs the sizes below their fallbacks.
    }
  }
  return base.layers.map((l) => ({
    mediaType: ociMediaType(l.mediaType),
    digest: l.blob,
    size: sizes.get(l.blob) ?? (existsSync(ctx.blobs.path(l.blob)) ? ctx.blobs.size(l.blob) : l.size),
  }));
}

/** The container's Config becomes the image's, as docker's commit does. */
function runtimeConfig(c: ContainerRecord, base: ImageRuntimeConfig): ImageRuntimeConfig {
  const cc = c.config;
  const out: ImageRuntimeConfig = { ...structuredClone(base) };
  out.Env = [...cc.env];
  out.Cmd = cc.cmd ? [...cc.cmd] : null;
  out.Entrypoint = cc.entrypoint ? [...cc.entrypoint] : null;
  if (cc.user) out.User = cc.user;
  else delete out.User;
  if (cc.workingDir) out.WorkingDir = cc.workingDir;
  else delete out.WorkingDir;
  if (Object.keys(cc.labels).length > 0) out.Labels = { ...cc.labels };
  else delete out.Labels;
  const ports = { ...(base.ExposedPorts ?? {}) };
  for (const p of cc.exposedPorts) ports[p.includes('/') ? p : `${p}/tcp`] = {};
  if (Object.keys(ports).length > 0) out.ExposedPorts = ports;
  // Berth records SIGTERM for every container; only a signal somebody chose belongs in the image.
  if (base.StopSignal || (cc.stopSignal && cc.stopSignal !== 'SIGTERM')) out.StopSignal = cc.stopSignal;
  return out;
}

function buildImage(
  ctx: StoreContext,
  c: ContainerRecord,
  base: ImageRecord,
  layer: { digest: string; size: number },
  o: CommitOptions,
): Omit<ImageRecord, 'tags'> {
  const now = new Date().toISOString();
  const empty = layer.digest === EMPTY_TAR_DIGEST;
  const baseDiffIds = base.config.rootfs?.diff_ids ?? base.layers.map((l) => l.diffId);
  const diffIds = empty ? baseDiffIds : [...baseDiffIds, layer.digest];
  const history: HistoryEntry = {
    created: now,
    created_by: [...(c.config.entrypoint ?? []), ...(c.config.cmd ?? [])].join(' '),
  };
  if (o.author) history.author = o.author;
  if (o.message) history.comment = o.message;
  if (empty) history.empty_layer = true;
  const config: ImageConfig = {
    ...structuredClone(base.config),
    created: now,
    config: applyChanges(runtimeConfig(c, base.config.config ?? {}), o.changes),
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [...(base.config.history ?? []), history],
  };
  if (o.author) config.author = o.author;
  else delete config.author;
  const layers: LayerRecord[] = [...base.layers];
  const descriptors = baseDescriptors(ctx, base);
  if (!empty) {
    const chainId = chainIds(diffIds).at(-1)!;
    layers.push({
      diffId: layer.digest,
      chainId,
      blob: layer.digest,
      mediaType: MediaTypes.ociLayer,
      size: layer.size,
    });
    descriptors.push({ mediaType: MediaTypes.ociLayer, digest: layer.digest, size: layer.size });
  }
  const configBlob = ctx.blobs.putBytes(JSON.stringify(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: configBlob.digest, size: configBlob.size },
    layers: descriptors,
  };
  const manifestBlob = ctx.blobs.putBytes(JSON.stringify(manifest));
  return {
    id: configBlob.digest,
    manifestDigest: manifestBlob.digest,
    created: now,
    size: base.size + (empty ? 0 : layer.size),
    config,
    layers,
    parent: base.id,
    added: now,
  };
}
