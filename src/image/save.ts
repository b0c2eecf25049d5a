import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { type Pack, pack as tarPack } from 'tar-stream';
import type { StoreContext } from '../engine/context.ts';
import { ensureBlob } from '../registry/refetch.ts';
import { BerthError, NotFoundError } from '../util/errors.ts';
import { createZstdDecompress } from '../util/zstd.ts';
import { canonicalName, familiarName, parseReference } from './reference.ts';
import { sinkDrained, type TarHeader, type TarSink } from './tar-writer.ts';
import type { Descriptor, ImageManifest, ImageRecord } from './types.ts';
import { MediaTypes } from './types.ts';

/**
 * `berth save`: the images as a tar in the layout docker 25+ writes, which every reader
 * understands: an OCI image layout (oci-layout, index.json, blobs/sha256/…) whose layers are
 * uncompressed tars, plus docker's manifest.json and repositories pointing at the same blobs for
 * docker ≤ 24 and skopeo's docker-archive. `--format oci` writes the OCI layout alone, with the
 * blobs exactly as stored (compressed layers stay compressed, so manifest digests are kept).
 */

const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** Fixed times make the archive of an image the same bytes every time. */
const EPOCH = new Date(0);

interface SavedImage {
  img: ImageRecord;
  /** Canonical names, in the order they were asked for. */
  tags: string[];
}

/** A blob to write: its digest, exact length, and a way to read it. */
interface BlobSource {
  digest: string;
  size: number;
  open(): Readable | Buffer;
}

interface Prepared {
  img: ImageRecord;
  tags: string[];
  manifest: { digest: string; mediaType: string; bytes: Buffer };
  /** Config first, then the layers in order. */
  config: BlobSource;
  layers: BlobSource[];
}

export async function saveImages(
  ctx: StoreContext,
  refs: string[],
  out: NodeJS.WritableStream,
  o: { format: 'docker' | 'oci' },
): Promise<void> {
  if (refs.length === 0) throw new BerthError('save: name at least one image to save');
  const images = resolveImages(ctx, refs);
  // Everything that can fail for want of a blob fails here, before the first byte goes out.
  const prepared: Prepared[] = [];
  for (const s of images)
    prepared.push(await (o.format === 'oci' ? prepareOci(ctx, s) : prepareDocker(ctx, s)));

  const pack = tarPack();
  let outError: BerthError | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    out.once('finish', resolve);
    out.once('error', (err: Error) => {
      // A reader that went away (`berth save | head`) or a full disk: say so, not where the tar was.
      outError = new BerthError(`save: cannot write the archive: ${err.message}`);
      pack.destroy(outError);
      reject(outError);
    });
    pack.once('error', reject);
  });
  finished.catch(() => {});
  pack.pipe(out as Writable);
  try {
    await writeDir(pack, 'blobs/');
    await writeDir(pack, 'blobs/sha256/');
    const written = new Set<string>();
    const blob = async (b: BlobSource) => {
      if (written.has(b.digest)) return;
      written.add(b.digest);
      await writeFile(pack, `blobs/sha256/${b.digest.slice(7)}`, b.size, b.open());
    };
    for (const p of prepared) {
      for (const l of p.layers) await blob(l);
      await blob(p.config);
      await blob({ digest: p.manifest.digest, size: p.manifest.bytes.length, open: () => p.manifest.bytes });
    }
    await writeJson(pack, 'index.json', ociIndex(prepared));
    if (o.format === 'docker') {
      await writeJson(pack, 'manifest.json', dockerManifest(prepared));
    }
    await writeJson(pack, 'oci-layout', { imageLayoutVersion: '1.0.0' });
    if (o.format === 'docker') {
      const repos = repositories(prepared);
      if (Object.keys(repos).length > 0) await writeJson(pack, 'repositories', repos);
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await finished.catch(() => {});
    throw outError ?? err;
  }
  await finished;
}

/**
 * The images `refs` name, each once, with the names the archive gives them: a name:tag gives that
 * name, a repository alone every tag of it (as docker does), an ID every tag the image has.
 */
function resolveImages(ctx: StoreContext, refs: string[]): SavedImage[] {
  const byId = new Map<string, SavedImage>();
  const add = (img: ImageRecord, tags: string[]) => {
    let s = byId.get(img.id);
    if (!s) {
      s = { img, tags: [] };
      byId.set(img.id, s);
    }
    for (const t of tags) if (!s.tags.includes(t)) s.tags.push(t);
  };
  for (const ref of refs) {
    const repoOnly = repositoryOnly(ref);
    if (repoOnly) {
      const all = ctx.images
        .list()
        .flatMap((img) => img.tags.filter((t) => sameRepo(t, repoOnly)).map((t) => [img, t] as const));
      if (all.length > 0) {
        for (const [img, t] of all) add(img, [t]);
        continue;
      }
    }
    const img = ctx.images.find(ref);
    if (!img) throw new NotFoundError(`No such image: ${ref}`);
    const hex = ref.replace(/^sha256:/, '');
    const byIdRef =
      /^[a-f0-9]{1,64}$/.test(hex) && img.id.slice(7).startsWith(hex) && !img.tags.includes(canonicalOf(ref));
    if (byIdRef) {
      add(img, img.tags);
      continue;
    }
    const parsed = parseReference(ref);
    // A digest names content, not a tag: docker saves it without a name.
    add(img, parsed.digest ? [] : [canonicalName(parsed)]);
  }
  return [...byId.values()];
}

function canonicalOf(ref: string): string {
  try {
    return canonicalName(parseReference(ref));
  } catch {
    return '';
  }
}

/** The repository of a reference given without tag or digest (`busybox`, `localhost:5000/app`). */
function repositoryOnly(ref: string): { domain: string; path: string } | undefined {
  if (ref.includes('@')) return undefined;
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return undefined;
  try {
    const r = parseReference(ref);
    return { domain: r.domain, path: r.path };
  } catch {
    return undefined;
  }
}

function sameRepo(canonical: string, repo: { domain: string; path: string }): boolean {
  const r = parseReference(canonical);
  return r.domain === repo.domain && r.path === repo.path && !r.digest;
}

function blobOf(ctx: StoreContext, digest: string, img: ImageRecord, what: string): BlobSource {
  if (!ctx.blobs.has(digest)) {
    throw new BerthError(
      `save: the ${what} ${digest} of image ${img.id.slice(7, 19)} is missing from the store; pull or load the image again`,
    );
  }
  return { digest, size: ctx.blobs.size(digest), open: () => ctx.blobs.open(digest) };
}

function storedManifest(
  ctx: StoreContext,
  img: ImageRecord,
): { manifest: ImageManifest; bytes: Buffer } | undefined {
  if (!img.manifestDigest || !ctx.blobs.has(img.manifestDigest)) return undefined;
  const bytes = readFileSync(ctx.blobs.path(img.manifestDigest));
  try {
    const manifest = JSON.parse(bytes.toString('utf8')) as ImageManifest;
    if (manifest.config?.digest !== img.id || !Array.isArray(manifest.layers)) return undefined;
    return { manifest, bytes };
  } catch {
    return undefined;
  }
}

function manifestOf(bytes: Buffer, mediaType: string): Prepared['manifest'] {
  return { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, mediaType, bytes };
}

/** docker's layout: layers as uncompressed tars, named by their diff IDs. */
async function prepareDocker(ctx: StoreContext, s: SavedImage): Promise<Prepared> {
  const { img } = s;
  const config = blobOf(ctx, img.id, img, 'config');
  const layers: BlobSource[] = [];
  for (const l of img.layers) {
    // An uncompressed copy of the layer is the layer itself: its blob digest is its diff ID.
    if (ctx.blobs.has(l.diffId)) {
      layers.push(blobOf(ctx, l.diffId, img, 'layer'));
      continue;
    }
    await ensureBlob(ctx, l.blob, img);
    const stored = blobOf(ctx, l.blob, img, 'layer');
    const path = ctx.blobs.path(l.blob);
    const kind = compressionOf(path);
    if (kind === 'none') {
      layers.push(stored);
      continue;
    }
    // The tar header needs the exact length before the body: measure it (checking the diff ID on the way).
    const { digest, size } = await gunzipDigest(path);
    if (digest !== l.diffId) {
      throw new BerthError(
        `save: layer ${l.blob} of image ${img.id.slice(7, 19)} decompresses to ${digest}, not its diff ID ${l.diffId}; the store is corrupt, pull the image again`,
      );
    }
    layers.push({ digest: l.diffId, size, open: () => gunzipped(path) });
  }
  const stored = storedManifest(ctx, img);
  const same =
    stored &&
    stored.manifest.layers.length === img.layers.length &&
    stored.manifest.layers.every((d, i) => d.digest === img.layers[i]!.diffId);
  let manifest: Prepared['manifest'];
  if (same) {
    manifest = manifestOf(stored.bytes, stored.manifest.mediaType ?? MediaTypes.ociManifest);
  } else {
    const m: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: img.id, size: config.size },
      layers: layers.map((l) => ({ mediaType: MediaTypes.ociLayer, digest: l.digest, size: l.size })),
    };
    manifest = manifestOf(Buffer.from(JSON.stringify(m)), MediaTypes.ociManifest);
  }
  return { img, tags: s.tags, manifest, config, layers };
}

/** The OCI layout: the image as stored, manifest and compressed layers included. */
async function prepareOci(ctx: StoreContext, s: SavedImage): Promise<Prepared> {
  const { img } = s;
  const config = blobOf(ctx, img.id, img, 'config');
  for (const l of img.layers) await ensureBlob(ctx, l.blob, img);
  const layers = img.layers.map((l) => blobOf(ctx, l.blob, img, 'layer'));
  const stored = storedManifest(ctx, img);
  const same =
    stored &&
    stored.manifest.layers.length === img.layers.length &&
    stored.manifest.layers.every((d, i) => d.digest === img.layers[i]!.blob);
  if (same) {
    return {
      img,
      tags: s.tags,
      manifest: manifestOf(stored.bytes, stored.manifest.mediaType ?? MediaTypes.ociManifest),
      config,
      layers,
    };
  }
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: img.id, size: config.size },
    layers: img.layers.map((l, i) => ({
      mediaType: ociLayerType(l.mediaType),
      digest: l.blob,
      size: layers[i]!.size,
    })),
  };
  return {
    img,
    tags: s.tags,
    manifest: manifestOf(Buffer.from(JSON.stringify(m)), MediaTypes.ociManifest),
    config,
    layers,
  };
}

function ociLayerType(mediaType: string): string {
  if (mediaType === MediaTypes.dockerLayerGzip) return MediaTypes.ociLayerGzip;
  if (mediaType === 'application/vnd.docker.image.rootfs.diff.tar') return MediaTypes.ociLayer;
  return mediaType;
}

function compressionOf(path: string): 'gzip' | 'zstd' | 'none' {
  const magic = Buffer.alloc(4);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (n >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
  if (n >= 4 && magic.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  return 'none';
}

/** The layer blob at `path`, decompressed (gzip or zstd, by its magic bytes). */
function gunzipped(path: string): Readable {
  const gunzip =
    compressionOf(path) === 'zstd' ? createZstdDecompress() : createGunzip({ chunkSize: 1 << 18 });
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  file.on('error', (err) => gunzip.destroy(err));
  return file.pipe(gunzip);
}

async function gunzipDigest(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(gunzipped(path), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
      }
    });
  } catch (err) {
    throw new BerthError(
      `save: layer blob ${path} is not valid compressed data (${(err as Error).message}); pull the image again`,
    );
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

function platformOf(img: ImageRecord): NonNullable<Descriptor['platform']> {
  const p: NonNullable<Descriptor['platform']> = { architecture: img.config.architecture, os: img.config.os };
  if (img.config.variant) p.variant = img.config.variant;
  return p;
}

/** One entry per name (docker's and containerd's convention), or one unnamed entry for an untagged image. */
function ociIndex(prepared: Prepared[]): object {
  const manifests: Descriptor[] = [];
  for (const p of prepared) {
    const base: Descriptor = {
      mediaType: p.manifest.mediaType,
      digest: p.manifest.digest,
      size: p.manifest.bytes.length,
      platform: platformOf(p.img),
    };
    if (p.tags.length === 0) manifests.push(base);
    for (const t of p.tags) {
      const ref = parseReference(t);
      manifests.push({
        ...base,
        annotations: { [ANNOTATION_IMAGE_NAME]: t, [ANNOTATION_REF_NAME]: ref.tag ?? 'latest' },
      });
    }
  }
  return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
}

function dockerManifest(prepared: Prepared[]): object[] {
  return prepared.map((p) => ({
    Config: `blobs/sha256/${p.config.digest.slice(7)}`,
    RepoTags: p.tags.length > 0 ? p.tags.map(familiarName) : null,
    Layers: p.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
  }));
}

/** docker's pre-1.10 index: repository → tag → top layer; docker 25 fills it with the top diff ID. */
function repositories(prepared: Prepared[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const p of prepared) {
    const top = p.layers.at(-1);
    if (!top) continue;
    for (const t of p.tags) {
      const name = familiarName(t);
      const i = name.lastIndexOf(':');
      const repo = name.slice(0, i);
      out[repo] ??= {};
      out[repo][name.slice(i + 1)] = top.digest.slice(7);
    }
  }
  return out;
}

function entry(pack: Pack, header: TarHeader, fill?: (sink: TarSink) => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err?: Error | null) => (err ? reject(err) : resolve()));
    // The sink fails when the pack does (its reader went away); the promise reports it, once.
    sink.on('error', reject);
    if (!fill) return;
    fill(sink).then(
      () => sink.end(undefined),
      (err: Error) => {
        sink.destroy(err);
        reject(err);
      },
    );
  });
}

function writeDir(pack: Pack, name: string): Promise<void> {
  return entry(pack, { name, type: 'directory', mode: 0o755, mtime: EPOCH });
}

function writeJson(pack: Pack, name: string, value: unknown): Promise<void> {
  const body = Buffer.from(`${JSON.stringify(value)}\n`);
  return writeFile(pack, name, body.length, body);
}

async function writeFile(pack: Pack, name: string, size: number, body: Readable | Buffer): Promise<void> {
  await entry(pack, { name, type: 'file', size, mode: 0o644, mtime: EPOCH }, async (sink) => {
    if (Buffer.isBuffer(body)) {
      if (!sink.write(body)) await sinkDrained(sink);
      return;
    }
    let n = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > size) break;
      if (!sink.write(chunk)) await sinkDrained(sink);
    }
    if (n !== size) {
      body.destroy();
      throw new BerthError(
        `save: ${name} changed while it was being written (${n} bytes, want ${size}); retry`,
      );
    }
  });
}
