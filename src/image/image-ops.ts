import { buildCacheBlobs } from '../build/cache.ts';
import type { StoreContext } from '../engine/context.ts';
import type { HistoryItem, ImageDeleteItem, ImageInspect, ImageSummary } from '../engine/types.ts';
import { ConflictError, NotFoundError } from '../util/errors.ts';
import { canonicalName, familiarName, parseReference } from './reference.ts';
import type { ImageRecord } from './types.ts';

function repoTags(img: ImageRecord): string[] {
  return img.tags.filter((t) => !t.includes('@')).map(familiarName);
}

function repoDigests(img: ImageRecord): string[] {
  // A name is repo:tag or repo@digest; the repository is what precedes the tag or digest.
  const repos = new Set(
    img.tags.map((t) =>
      familiarName(t)
        .replace(/@.*$/, '')
        .replace(/:[^:/]*$/, ''),
    ),
  );
  return [...repos].map((r) => `${r}@${img.manifestDigest}`);
}

export function imageSummary(ctx: StoreContext, img: ImageRecord): ImageSummary {
  return {
    Id: img.id,
    ParentId: img.parent,
    RepoTags: repoTags(img),
    RepoDigests: repoDigests(img),
    Created: Math.floor(Date.parse(img.config.created ?? img.created) / 1000),
    Size: img.size,
    SharedSize: -1,
    Labels: img.config.config?.Labels ?? {},
    Containers: ctx.containers.usesImage(img.id).length,
  };
}

export function imageInspect(img: ImageRecord, ctx: StoreContext): ImageInspect {
  const c = img.config;
  return {
    Id: img.id,
    RepoTags: repoTags(img),
    RepoDigests: repoDigests(img),
    Parent: img.parent,
    Comment: c.history?.at(-1)?.comment ?? '',
    Created: c.created ?? img.created,
    DockerVersion: '',
    Author: c.author ?? '',
    Config: {
      Hostname: '',
      Domainname: '',
      User: c.config?.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: c.config?.ExposedPorts,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.config?.Env ?? null,
      Cmd: c.config?.Cmd ?? null,
      Image: '',
      Volumes: c.config?.Volumes ?? null,
      WorkingDir: c.config?.WorkingDir ?? '',
      Entrypoint: c.config?.Entrypoint ?? null,
      OnBuild: c.config?.OnBuild ?? null,
      Labels: c.config?.Labels ?? null,
      StopSignal: c.config?.StopSignal,
      Healthcheck: c.config?.Healthcheck,
      Shell: c.config?.Shell,
    },
    Architecture: c.architecture,
    Variant: c.variant,
    Os: c.os,
    Size: img.size,
    GraphDriver: {
      Name: 'overlay',
      Data: {
        LowerDir: img.layers
          .map((l) => ctx.layers.dir(l.chainId))
          .reverse()
          .join(':'),
      },
    },
    RootFS: { Type: 'layers', Layers: c.rootfs.diff_ids },
    Metadata: { LastTagTime: img.added },
  };
}

/** docker history: newest first; empty layers have size 0 and carry the next layer's ID only for the top. */
export function imageHistory(img: ImageRecord): HistoryItem[] {
  const hist = img.config.history ?? [];
  const items: HistoryItem[] = [];
  let layerIdx = 0;
  for (const h of hist) {
    const size = h.empty_layer ? 0 : (img.layers[layerIdx++]?.size ?? 0);
    items.push({
      Id: '<missing>',
      Created: Math.floor(Date.parse(h.created ?? img.created) / 1000),
      CreatedBy: h.created_by ?? '',
      Tags: null,
      Size: size,
      Comment: h.comment ?? '',
    });
  }
  items.reverse();
  if (items[0]) {
    items[0].Id = img.id;
    items[0].Tags = repoTags(img);
  } else {
    items.push({
      Id: img.id,
      Created: Math.floor(Date.parse(img.created) / 1000),
      CreatedBy: '',
      Tags: repoTags(img),
      Size: img.size,
      Comment: '',
    });
  }
  return items;
}

function deleteImage(ctx: StoreContext, img: ImageRecord, noPrune: boolean): ImageDeleteItem[] {
  const out: ImageDeleteItem[] = [];
  for (const t of ctx.images.tagsOf(img.id)) {
    ctx.images.untag(t);
    out.push({ Untagged: familiarName(t) });
  }
  const orphans = ctx.images.delete(img.id);
  out.push({ Deleted: img.id });
  for (const chain of orphans) ctx.layers.remove(chain);
  const blobs = new Set<string>([img.id, img.manifestDigest, ...img.layers.map((l) => l.blob)]);
  for (const other of ctx.images.list()) {
    blobs.delete(other.id);
    blobs.delete(other.manifestDigest);
    for (const l of other.layers) blobs.delete(l.blob);
  }
  // The build cache keeps its layers after the image built from them is gone, as BuildKit's does.
  for (const b of buildCacheBlobs(ctx)) blobs.delete(b);
  for (const b of blobs) ctx.blobs.delete(b);
  if (!noPrune && img.parent) {
    const parent = ctx.images.get(img.parent);
    if (
      parent &&
      parent.tags.length === 0 &&
      ctx.images.children(parent).length === 0 &&
      !ctx.containers.usesImage(parent.id).length
    ) {
      out.push(...deleteImage(ctx, parent, false));
    }
  }
  return out;
}

/** docker rmi semantics: a name untags; the last tag (or an ID) deletes; in-use images need -f. */
export function removeImage(
  ctx: StoreContext,
  ref: string,
  force: boolean,
  noPrune: boolean,
): ImageDeleteItem[] {
  const img = ctx.images.find(ref);
  if (!img) throw new NotFoundError(`No such image: ${ref}`);
  const byId = img.id === ref || img.id.slice(7).startsWith(ref.replace(/^sha256:/, ''));
  const users = ctx.containers.usesImage(img.id);
  if (!byId && img.tags.length > 1) {
    const parsed = parseReference(ref);
    // Berth keeps no digest references of its own: `repo@digest` stands for every name in that repository.
    const names = parsed.digest
      ? img.tags.filter((t) => {
          const r = parseReference(t);
          return r.domain === parsed.domain && r.path === parsed.path;
        })
      : [canonicalName(parsed)];
    if (names.length < img.tags.length) {
      for (const n of names) ctx.images.untag(n);
      return names.map((n) => ({ Untagged: familiarName(n) }));
    }
  }
  if (byId && img.tags.length > 1 && !force) {
    throw new ConflictError(
      `conflict: unable to delete ${img.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
    );
  }
  if (users.length > 0) {
    const running = users.find((c) => c.state.status === 'running' || c.state.status === 'paused');
    const short = img.id.slice(7, 19);
    if (running) {
      throw new ConflictError(
        `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`,
      );
    }
    if (!force) {
      const user = users[0]!.id.slice(0, 12);
      throw new ConflictError(
        byId
          ? `conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${user}`
          : `conflict: unable to remove repository reference "${ref}" (must force) - container ${user} is using its referenced image ${short}`,
      );
    }
    // Forced with only stopped users: docker untags but keeps the image for them.
    const out: ImageDeleteItem[] = [];
    for (const t of ctx.images.tagsOf(img.id)) {
      ctx.images.untag(t);
      out.push({ Untagged: familiarName(t) });
    }
    return out;
  }
  if (ctx.images.children(img).length > 0 && img.tags.length <= 1 && byId) {
    throw new ConflictError(
      `conflict: unable to delete ${img.id.slice(7, 19)} (cannot be forced) - image has dependent child images`,
    );
  }
  return deleteImage(ctx, img, noPrune);
}

/** Deletes dangling images (no tags), or with `all` every image no container uses. */
export function pruneImages(
  ctx: StoreContext,
  all: boolean,
  keep: (img: ImageRecord) => boolean,
): { deleted: ImageDeleteItem[]; spaceReclaimed: number } {
  const deleted: ImageDeleteItem[] = [];
  let spaceReclaimed = 0;
  for (;;) {
    const victims = ctx.images
      .list()
      .filter((i) => (all || i.tags.length === 0) && ctx.containers.usesImage(i.id).length === 0)
      .filter((i) => ctx.images.children(i).length === 0)
      .filter((i) => !keep(i));
    if (victims.length === 0) break;
    for (const v of victims) {
      spaceReclaimed += v.size;
      deleted.push(...deleteImage(ctx, v, true));
    }
  }
  return { deleted, spaceReclaimed };
}
