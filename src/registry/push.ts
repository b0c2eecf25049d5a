import { createReadStream, readFileSync } from 'node:fs';
import type { StoreContext } from '../engine/context.ts';
import type { PushOptions } from '../engine/engine.ts';
import type { ProgressSink } from '../engine/progress.ts';
import { canonicalName, familiarName, type ImageRef, parseReference } from '../image/reference.ts';
import { type Descriptor, type ImageManifest, type ImageRecord, MediaTypes } from '../image/types.ts';
import type { Database } from '../store/db.ts';
import { BerthError, InvalidArgumentError, NotFoundError } from '../util/errors.ts';
import { runPool } from '../util/pool.ts';
import { INDEX_MEDIA_TYPES, pushScope, RegistryClient, RegistryError } from './client.ts';
import { ensureBlob } from './refetch.ts';

/** Layers uploaded at once (docker's max-concurrent-uploads is 5). */
const PARALLEL_UPLOADS = 4;
/** Cross-repository mounts tried per blob before uploading it. */
const MOUNT_CANDIDATES = 3;

// ---- where blobs came from, for cross-repository mounts ----

const tableReady = new WeakSet<Database>();

function sourcesTable(ctx: StoreContext): Database {
  if (!tableReady.has(ctx.db)) {
    ctx.db.exec(`CREATE TABLE IF NOT EXISTS blob_sources (
      digest TEXT NOT NULL,
      registry TEXT NOT NULL,
      repo TEXT NOT NULL,
      seen INTEGER NOT NULL,
      PRIMARY KEY (digest, registry, repo)
    )`);
    tableReady.add(ctx.db);
  }
  return ctx.db;
}

/** Remembers that `registry/repo` holds these blobs (after a pull from it or a push to it). */
export function recordBlobSources(
  ctx: StoreContext,
  registry: string,
  repo: string,
  digests: string[],
): void {
  const db = sourcesTable(ctx);
  const put = db.prepare(
    `INSERT INTO blob_sources (digest, registry, repo, seen) VALUES (?, ?, ?, ?)
     ON CONFLICT(digest, registry, repo) DO UPDATE SET seen = excluded.seen`,
  );
  const now = Date.now();
  db.transaction(() => {
    for (const d of new Set(digests)) put.run(d, registry, repo, now);
  })();
}

/** Other repositories of the same registry known to hold a blob, most recently seen first. */
export function blobSources(
  ctx: StoreContext,
  registry: string,
  digest: string,
  exceptRepo: string,
): string[] {
  return sourcesTable(ctx)
    .prepare(
      'SELECT repo FROM blob_sources WHERE digest = ? AND registry = ? AND repo != ? ORDER BY seen DESC LIMIT ?',
    )
    .pluck()
    .all(digest, registry, exceptRepo, MOUNT_CANDIDATES) as string[];
}

/** Every registry repository known to hold a blob, most recently seen first. */
export function blobOrigins(ctx: StoreContext, digest: string): Array<{ registry: string; repo: string }> {
  return sourcesTable(ctx)
    .prepare('SELECT registry, repo FROM blob_sources WHERE digest = ? ORDER BY seen DESC')
    .all(digest) as Array<{ registry: string; repo: string }>;
}

/** Whether any stored image refers to the blob (as its config, its manifest or one of its layers). */
export function blobInUse(ctx: StoreContext, digest: string): boolean {
  for (const img of ctx.images.list()) {
    if (img.id === digest || img.manifestDigest === digest) return true;
    if (img.layers.some((l) => l.blob === digest)) return true;
    if (img.manifestDigest !== digest && ctx.blobs.has(img.manifestDigest)) {
      if (readFileSync(ctx.blobs.path(img.manifestDigest), 'utf8').includes(digest)) return true;
    }
  }
  return false;
}

// ---- push ----

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

function hasExplicitTag(input: string): boolean {
  const name = input.split('@')[0]!;
  return name.lastIndexOf(':') > name.lastIndexOf('/');
}

/**
 * `berth push`: uploads every layer the registry lacks (mounting it from another repository of
 * the same registry when one is known to have it), then the config, then the image's stored
 * manifest byte for byte, so the digest the registry reports is the one Berth already shows.
 */
export async function pushImage(
  ctx: StoreContext,
  reference: string,
  o: PushOptions,
  progress: ProgressSink,
): Promise<void> {
  const ref = parseReference(reference);
  if (ref.digest) {
    throw new InvalidArgumentError(`cannot push a digest reference (${reference}); push a tag instead`);
  }
  let tags: string[];
  if (o.allTags) {
    if (hasExplicitTag(reference)) throw new InvalidArgumentError("tag can't be used with --all-tags/-a");
    tags = ctx.images
      .list()
      .flatMap((i) => i.tags)
      .map((t) => parseReference(t))
      .filter((r) => !r.digest && r.domain === ref.domain && r.path === ref.path)
      .map((r) => r.tag!)
      .sort();
    if (tags.length === 0) {
      throw new NotFoundError(
        `An image does not exist locally with the tag: ${familiarName(canonicalName(ref)).replace(/:latest$/, '')}`,
      );
    }
  } else {
    tags = [ref.tag ?? 'latest'];
    // Checked before the registry is contacted: a typo must not cost a round trip.
    if (!ctx.images.find(canonicalName(ref))) {
      throw new NotFoundError(
        `An image does not exist locally with the tag: ${familiarName(canonicalName(ref))}`,
      );
    }
  }
  const client = new RegistryClient(ref.domain, { credentials: o.auth });
  progress({ status: `The push refers to repository [${ref.domain}/${ref.path}]` });
  for (const tag of tags) {
    await pushTag(ctx, client, { ...ref, tag }, progress).catch((err: unknown) => {
      if (err instanceof RegistryError && err.unauthorized) {
        throw new BerthError(
          `push access denied for ${ref.domain}/${ref.path}: ${err.detail}; log in with 'berth login ${ref.domain}'`,
        );
      }
      throw err;
    });
  }
}

interface PushManifest {
  bytes: Buffer;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

async function pushTag(
  ctx: StoreContext,
  client: RegistryClient,
  ref: ImageRef,
  progress: ProgressSink,
): Promise<void> {
  const canonical = canonicalName(ref);
  const img = ctx.images.find(canonical);
  if (!img)
    throw new NotFoundError(`An image does not exist locally with the tag: ${familiarName(canonical)}`);
  const m = await manifestFor(ctx, img, familiarName(canonical));
  // Layer blobs are not checked here: one dropped after unpack is fetched again (by ensureBlob)
  // only when the registry lacks it and cannot mount it.
  if (!ctx.blobs.has(m.config.digest)) {
    throw new BerthError(
      `blob ${m.config.digest} of ${familiarName(canonical)} is missing from the local store; pull or load the image again before pushing it`,
    );
  }
  const layers = [...new Map(m.layers.map((l) => [l.digest, l])).values()];
  for (const l of layers) progress({ id: short(l.digest), status: 'Preparing' });
  await runPool(layers, PARALLEL_UPLOADS, (l) =>
    pushBlob(ctx, client, ref.path, img, l.digest, progress, true),
  );
  await pushBlob(ctx, client, ref.path, img, m.config.digest, progress, false);
  const digest = await client.putManifest(ref.path, ref.tag!, m.mediaType, m.bytes);
  recordBlobSources(ctx, client.domain, ref.path, [m.config.digest, ...layers.map((l) => l.digest)]);
  progress({ status: `${ref.tag}: digest: ${digest} size: ${m.bytes.length}` });
}

async function pushBlob(
  ctx: StoreContext,
  client: RegistryClient,
  repo: string,
  img: ImageRecord,
  digest: string,
  progress: ProgressSink,
  show: boolean,
): Promise<void> {
  const id = short(digest);
  const say = (status: string, current?: number, total?: number) => {
    if (show) progress({ id, status, current, total });
  };
  if (await client.blobExists(repo, digest, [pushScope(repo)])) {
    say('Layer already exists');
    return;
  }
  let location: string | undefined;
  for (const from of blobSources(ctx, client.domain, digest, repo)) {
    let r: Awaited<ReturnType<RegistryClient['mountBlob']>>;
    try {
      r = await client.mountBlob(repo, digest, from);
    } catch {
      // A mount is only a shortcut: any failure (no pull access to the source, …) means upload.
      continue;
    }
    if (r.mounted) {
      recordBlobSources(ctx, client.domain, repo, [digest]);
      say(`Mounted from ${from}`);
      return;
    }
    // The registry could not mount it and started an ordinary upload instead.
    location = r.location;
    break;
  }
  await ensureBlob(ctx, digest, img);
  location ??= await client.startUpload(repo);
  const path = ctx.blobs.path(digest);
  const size = ctx.blobs.size(digest);
  let last = 0;
  await client.uploadBlob(
    repo,
    location,
    digest,
    size,
    (start, end) => createReadStream(path, { start, end, highWaterMark: 1 << 20 }),
    (n) => {
      if (n - last < size / 100 && n !== size) return;
      last = n;
      say('Pushing', n, size);
    },
  );
  say('Pushed');
}

/**
 * The manifest to push: the stored one, byte for byte, when it describes this image; otherwise
 * one made from the image's layer records (and stored, so that the image keeps that digest).
 */
async function manifestFor(ctx: StoreContext, img: ImageRecord, name: string): Promise<PushManifest> {
  if (ctx.blobs.has(img.manifestDigest)) {
    const bytes = readFileSync(ctx.blobs.path(img.manifestDigest));
    let json: Partial<ImageManifest> & { manifests?: unknown };
    try {
      json = JSON.parse(bytes.toString('utf8')) as typeof json;
    } catch {
      throw new BerthError(`the stored manifest ${img.manifestDigest} of ${name} is not valid JSON`);
    }
    const mediaType =
      json.mediaType ?? (Array.isArray(json.manifests) ? MediaTypes.ociIndex : MediaTypes.ociManifest);
    if (
      !INDEX_MEDIA_TYPES.includes(mediaType) &&
      json.config?.digest === img.id &&
      Array.isArray(json.layers)
    ) {
      return { bytes, mediaType, config: json.config, layers: json.layers };
    }
  }
  if (!ctx.blobs.has(img.id)) {
    throw new BerthError(
      `the config blob of ${name} (${img.id}) is missing from the local store; load the image again`,
    );
  }
  // The manifest needs each blob's size: a blob dropped after unpack comes back first.
  for (const l of img.layers) await ensureBlob(ctx, l.blob, img);
  const docker =
    img.layers.length > 0 && img.layers.every((l) => l.mediaType.startsWith('application/vnd.docker.'));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest,
    config: {
      mediaType: docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig,
      digest: img.id,
      size: ctx.blobs.size(img.id),
    },
    layers: img.layers.map((l) => {
      if (!ctx.blobs.has(l.blob)) {
        throw new BerthError(
          `layer blob ${l.blob} of ${name} is missing from the local store; pull or load the image again before pushing it`,
        );
      }
      return { mediaType: l.mediaType, digest: l.blob, size: ctx.blobs.size(l.blob) };
    }),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const stored = ctx.blobs.putBytes(bytes);
  const { tags: _tags, ...record } = img;
  ctx.images.put({ ...record, manifestDigest: stored.digest }, []);
  return { bytes, mediaType: manifest.mediaType, config: manifest.config, layers: manifest.layers };
}
