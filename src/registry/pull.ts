import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import type { StoreContext } from '../engine/context.ts';
import type { PullOptions } from '../engine/engine.ts';
import type { ProgressSink } from '../engine/progress.ts';
import { chainIds } from '../image/chain.ts';
import {
  canonicalName,
  familiarName,
  familiarRepo,
  type ImageRef,
  parseReference,
} from '../image/reference.ts';
import { markTopDir } from '../image/topdir.ts';
import {
  type Descriptor,
  type ImageConfig,
  type ImageRecord,
  type LayerRecord,
  MediaTypes,
} from '../image/types.ts';
import { unpackLayer } from '../image/unpack.ts';
import { withLock } from '../store/lock.ts';
import { layersDir } from '../store/paths.ts';
import { BerthError, InvalidArgumentError } from '../util/errors.ts';
import { runPool } from '../util/pool.ts';
import { createZstdDecompress } from '../util/zstd.ts';
import { type FetchedManifest, INDEX_MEDIA_TYPES, RegistryClient, RegistryError } from './client.ts';
import { blobInUse, recordBlobSources } from './push.ts';
import { dropCompressedByDefault, isCompressedLayer } from './refetch.ts';

/** Layers downloaded at once, as docker's default max-concurrent-downloads (3) give or take one. */
const PARALLEL_LAYERS = 4;
/** Image configs are small JSON documents; anything this large is not one. */
const MAX_CONFIG_SIZE = 8 << 20;

const LAYER_MEDIA_TYPES = new Set<string>([
  MediaTypes.ociLayer,
  MediaTypes.ociLayerGzip,
  MediaTypes.ociLayerZstd,
  MediaTypes.dockerLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);
const CONFIG_MEDIA_TYPES = new Set<string>([MediaTypes.ociConfig, MediaTypes.dockerConfig]);

import {
  ARCH_ALIASES,
  formatPlatform,
  hostPlatform,
  type Platform,
  parsePlatform,
} from '../image/platform.ts';

export { formatPlatform, hostPlatform, type Platform, parsePlatform };

/** arm64 images are v8 whether or not they say so; the same holds for arm's v7 only when asked explicitly. */
function variantOf(p: Partial<Platform>): string {
  const v = p.variant ?? '';
  return p.architecture === 'arm64' && (v === '' || v === 'v8') ? '' : v;
}

function platformMatches(p: Partial<Platform> | undefined, want: Platform): boolean {
  if (!p) return false;
  if (p.os !== want.os) return false;
  if ((ARCH_ALIASES[p.architecture ?? ''] ?? p.architecture) !== want.architecture) return false;
  return want.variant === undefined || variantOf(p) === variantOf(want);
}

/** `name:tag` as typed has a tag (the reference parser adds `latest` when it has none). */
function hasExplicitTag(input: string): boolean {
  const name = input.split('@')[0]!;
  return name.lastIndexOf(':') > name.lastIndexOf('/');
}

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

/** Turns "unauthorized" into docker's hint that the name may be wrong or a login missing. */
function accessError(err: unknown, ref: ImageRef): unknown {
  if (err instanceof RegistryError && err.unauthorized) {
    return new BerthError(
      `pull access denied for ${familiarRepo(ref)}, repository does not exist or may require 'berth login': ${err.detail}`,
      125,
      'notFound',
    );
  }
  return err;
}

/**
 * `berth pull`: resolves the reference (and the platform, for an index), fetches the config and
 * downloads the layers in parallel, each verified and unpacked while it streams in. On any failure
 * nothing of the pull is left: no image, no half-unpacked layer, no blob no other image uses.
 */
export async function pullImage(
  ctx: StoreContext,
  reference: string,
  o: PullOptions,
  progress: ProgressSink,
): Promise<string[]> {
  const ref = parseReference(reference);
  const platform = o.platform ? parsePlatform(o.platform) : undefined;
  const client = new RegistryClient(ref.domain, { credentials: o.auth });
  const drop = o.dropCompressed ?? dropCompressedByDefault();
  if (!o.allTags) {
    const r = await pullOne(ctx, client, ref, platform, drop, progress).catch((err: unknown) => {
      throw accessError(err, ref);
    });
    progress({
      status: `Status: ${r.fresh ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarName(canonicalName(ref))}`,
    });
    return [r.id];
  }
  if (ref.digest || hasExplicitTag(reference)) {
    throw new InvalidArgumentError("tag can't be used with --all-tags/-a");
  }
  const tags = await client.listTags(ref.path).catch((err: unknown) => {
    throw accessError(err, ref);
  });
  if (tags.length === 0) throw new BerthError(`${familiarRepo(ref)} has no tags to pull`, 125, 'notFound');
  const ids: string[] = [];
  let fresh = false;
  for (const tag of tags) {
    const r = await pullOne(ctx, client, { ...ref, tag, digest: undefined }, platform, drop, progress).catch(
      (err: unknown) => {
        throw accessError(err, ref);
      },
    );
    ids.push(r.id);
    fresh ||= r.fresh;
  }
  progress({
    status: `Status: ${fresh ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarRepo(ref)}`,
  });
  return ids;
}

interface Resolved {
  /** What the reference names: an index or a manifest. */
  top: FetchedManifest;
  manifest: FetchedManifest;
  config: Descriptor;
  layers: Descriptor[];
}

async function resolve(
  client: RegistryClient,
  ref: ImageRef,
  platform: Platform | undefined,
): Promise<Resolved> {
  const repo = ref.path;
  const name = canonicalName(ref);
  const top = await client.getManifest(repo, ref.digest ?? ref.tag!);
  let manifest = top;
  if (INDEX_MEDIA_TYPES.includes(top.mediaType)) {
    const want = platform ?? hostPlatform();
    const entries = Array.isArray(top.json.manifests) ? (top.json.manifests as Descriptor[]) : [];
    const pick = entries.find(
      (d) => d && typeof d === 'object' && d.digest && platformMatches(d.platform, want),
    );
    if (!pick) {
      const available = entries
        .map((d) => d?.platform)
        .filter((p): p is NonNullable<Descriptor['platform']> => !!p && p.os !== 'unknown')
        .map(formatPlatform);
      throw new BerthError(
        `no matching manifest for ${formatPlatform(want)} in the manifest list entries of ${familiarName(name)}; available platforms: ${
          available.length > 0 ? [...new Set(available)].join(', ') : 'none'
        }`,
        125,
        'notFound',
      );
    }
    checkDigest(pick.digest, `the manifest for ${formatPlatform(want)} in ${familiarName(name)}`);
    manifest = await client.getManifest(repo, pick.digest);
    if (INDEX_MEDIA_TYPES.includes(manifest.mediaType)) {
      throw new BerthError(
        `${familiarName(name)}: the index entry for ${formatPlatform(want)} is another index; nested indexes are not supported`,
      );
    }
  }
  const { config, layers } = validateManifest(manifest, familiarName(name));
  return { top, manifest, config, layers };
}

function checkDigest(d: unknown, what: string): asserts d is string {
  if (typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d)) {
    throw new BerthError(`${what} has digest "${String(d)}"; Berth supports sha256 digests only`);
  }
}

function checkDescriptor(d: unknown, what: string): Descriptor {
  if (!d || typeof d !== 'object') throw new BerthError(`${what} is missing or not a descriptor`);
  const desc = d as Descriptor;
  checkDigest(desc.digest, what);
  if (typeof desc.size !== 'number' || !Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new BerthError(`${what} has an invalid size "${String(desc.size)}"`);
  }
  if (typeof desc.mediaType !== 'string') throw new BerthError(`${what} has no media type`);
  return desc;
}

function validateManifest(m: FetchedManifest, name: string): { config: Descriptor; layers: Descriptor[] } {
  const config = checkDescriptor(m.json.config, `the config descriptor of ${name}`);
  if (!CONFIG_MEDIA_TYPES.has(config.mediaType)) {
    throw new BerthError(
      `${name} is not a container image: its config has media type "${config.mediaType}"; refusing to pull it`,
    );
  }
  if (!Array.isArray(m.json.layers)) throw new BerthError(`the manifest of ${name} has no layer list`);
  const layers = (m.json.layers as unknown[]).map((l, i) => {
    const d = checkDescriptor(l, `layer ${i + 1} of ${name}`);
    if (!LAYER_MEDIA_TYPES.has(d.mediaType)) {
      throw new BerthError(
        `layer ${d.digest} of ${name} has unsupported media type "${d.mediaType}"; Berth unpacks tar layers (uncompressed, gzip or zstd)`,
      );
    }
    return d;
  });
  return { config, layers };
}

function parseConfig(bytes: Buffer, name: string, layerCount: number): ImageConfig {
  let c: ImageConfig;
  try {
    c = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch {
    throw new BerthError(`the image config of ${name} is not valid JSON`);
  }
  if (!c || typeof c !== 'object' || !c.rootfs || !Array.isArray(c.rootfs.diff_ids)) {
    throw new BerthError(`the image config of ${name} has no rootfs.diff_ids`);
  }
  for (const [i, d] of c.rootfs.diff_ids.entries())
    checkDigest(d, `diff_id ${i + 1} in the config of ${name}`);
  if (c.rootfs.diff_ids.length !== layerCount) {
    throw new BerthError(
      `${name}: the manifest lists ${layerCount} layers but the config's rootfs has ${c.rootfs.diff_ids.length} diff_ids; the image is invalid`,
    );
  }
  return c;
}

interface LayerJob {
  index: number;
  desc: Descriptor;
  diffId: string;
  chainId: string;
}

interface LayerResult {
  tmpDir?: string;
  size: number;
  downloaded: boolean;
}

/** The layer's unpacked size as recorded when it was first stored. */
function knownLayerSize(ctx: StoreContext, chainId: string): number | undefined {
  const size = ctx.db.prepare('SELECT size FROM layers WHERE chain_id = ?').pluck().get(chainId) as
    | number
    | undefined;
  return typeof size === 'number' ? size : undefined;
}

async function pullOne(
  ctx: StoreContext,
  client: RegistryClient,
  ref: ImageRef,
  platform: Platform | undefined,
  drop: boolean,
  progress: ProgressSink,
): Promise<{ id: string; fresh: boolean }> {
  const canonical = canonicalName(ref);
  const name = familiarName(canonical);
  const repo = ref.path;
  const { top, manifest, config: configDesc, layers } = await resolve(client, ref, platform);
  // As docker's daemon: announced once the manifest is found, so a missing tag prints no progress.
  progress({ id: ref.digest ?? ref.tag, status: `Pulling from ${repo}` });

  // The config is content-addressed: a copy already here is as good as the registry's.
  const configBytes = ctx.blobs.has(configDesc.digest)
    ? readFileSync(ctx.blobs.path(configDesc.digest))
    : await client.getBlobBytes(repo, configDesc.digest, configDesc.size, MAX_CONFIG_SIZE, 'image config');
  const config = parseConfig(configBytes, name, layers.length);
  if (platform && !INDEX_MEDIA_TYPES.includes(top.mediaType) && !platformMatches(config, platform)) {
    throw new BerthError(
      `image with reference ${name} was found but does not match the specified platform: wanted ${formatPlatform(platform)}, actual: ${formatPlatform(config)}`,
    );
  }

  const chains = chainIds(config.rootfs.diff_ids);
  const jobs: LayerJob[] = [];
  const sizes: number[] = [];
  layers.forEach((desc, index) => {
    const chainId = chains[index]!;
    const known = knownLayerSize(ctx, chainId);
    // With drop on, an unpacked layer is all that is wanted: its blob may well have been dropped.
    if (ctx.layers.has(chainId) && (ctx.blobs.has(desc.digest) || drop) && known !== undefined) {
      sizes[index] = known;
      progress({ id: short(desc.digest), status: 'Already exists' });
    } else {
      jobs.push({ index, desc, diffId: config.rootfs.diff_ids[index]!, chainId });
      progress({ id: short(desc.digest), status: 'Pulling fs layer' });
    }
  });

  if (jobs.some((j) => !ctx.layers.has(j.chainId))) {
    mkdirSync(layersDir(ctx.paths), { recursive: true });
    markTopDir(layersDir(ctx.paths));
  }
  const results = new Map<number, LayerResult>();
  const newBlobs = new Set<string>();
  const abort = new AbortController();
  try {
    await runPool(
      jobs,
      PARALLEL_LAYERS,
      async (job) => {
        const r = await fetchLayer(ctx, client, repo, job, abort.signal, progress, newBlobs);
        results.set(job.index, r);
        sizes[job.index] = r.size;
      },
      abort,
    );
  } catch (err) {
    await withLock(ctx.paths, 'registry', () => {
      for (const r of results.values()) if (r.tmpDir) rmSync(r.tmpDir, { recursive: true, force: true });
      discardBlobs(ctx, newBlobs);
    });
    throw err;
  }

  const before = ctx.images.find(canonical);
  const now = new Date().toISOString();
  const record: Omit<ImageRecord, 'tags'> = {
    id: configDesc.digest,
    manifestDigest: manifest.digest,
    created: config.created ?? now,
    size: sizes.reduce((a, b) => a + b, 0),
    config,
    layers: layers.map(
      (desc, i): LayerRecord => ({
        diffId: config.rootfs.diff_ids[i]!,
        chainId: chains[i]!,
        blob: desc.digest,
        mediaType: desc.mediaType,
        size: sizes[i] ?? 0,
      }),
    ),
    parent: '',
    added: now,
  };
  await withLock(ctx.paths, 'registry', () => {
    const created: string[] = [];
    const wrote: string[] = [];
    try {
      for (const [digest, bytes] of [
        [configDesc.digest, configBytes],
        [manifest.digest, manifest.bytes],
      ] as const) {
        if (!ctx.blobs.has(digest)) wrote.push(digest);
        ctx.blobs.putBytes(bytes, digest);
      }
      for (const job of jobs) {
        const tmp = results.get(job.index)?.tmpDir;
        if (!tmp) continue;
        const dest = ctx.layers.dir(job.chainId);
        try {
          renameSync(tmp, dest);
          created.push(job.chainId);
        } catch (err) {
          // Someone unpacked the same layer meanwhile: theirs is as good as ours.
          if (!existsSync(dest)) throw err;
          rmSync(tmp, { recursive: true, force: true });
        }
      }
      ctx.images.put(record, [canonical]);
    } catch (err) {
      for (const r of results.values()) if (r.tmpDir) rmSync(r.tmpDir, { recursive: true, force: true });
      const used = new Set(ctx.images.list().flatMap((i) => i.layers.map((l) => l.chainId)));
      for (const c of created) if (!used.has(c)) ctx.layers.remove(c);
      discardBlobs(ctx, new Set([...newBlobs, ...wrote]));
      throw err;
    }
  });
  recordBlobSources(ctx, client.domain, repo, [configDesc.digest, ...layers.map((l) => l.digest)]);
  if (drop) await withLock(ctx.paths, 'registry', () => dropCompressed(ctx, layers));
  for (const job of jobs) progress({ id: short(job.desc.digest), status: 'Pull complete' });
  progress({ status: `Digest: ${top.digest}` });
  const downloaded = [...results.values()].some((r) => r.downloaded);
  return { id: record.id, fresh: downloaded || before?.id !== record.id };
}

/**
 * Deletes the compressed blobs of layers now unpacked and verified, so the image takes one copy on
 * disk; blob_sources says where to fetch them again. A blob some image uses as an uncompressed
 * layer, or as its config or manifest, is the layer itself and stays.
 */
function dropCompressed(ctx: StoreContext, layers: Descriptor[]): void {
  const images = ctx.images.list();
  for (const d of layers) {
    if (!isCompressedLayer(d.mediaType) || !ctx.blobs.has(d.digest)) continue;
    const needed = images.some(
      (img) =>
        img.id === d.digest ||
        img.manifestDigest === d.digest ||
        img.layers.some(
          (l) => l.diffId === d.digest || (l.blob === d.digest && !isCompressedLayer(l.mediaType)),
        ),
    );
    if (!needed) ctx.blobs.delete(d.digest);
  }
}

/** Deletes blobs a failed pull brought in, unless an image refers to them. */
function discardBlobs(ctx: StoreContext, digests: Set<string>): void {
  for (const d of digests) if (!blobInUse(ctx, d)) ctx.blobs.delete(d);
}

/**
 * Fetches one layer (from the registry, or from the local blob when only the unpacked layer is
 * missing) and runs it through the tee: blob store on one side, decompress → diff ID hash →
 * unpack into a temporary layer directory on the other.
 */
async function fetchLayer(
  ctx: StoreContext,
  client: RegistryClient,
  repo: string,
  job: LayerJob,
  signal: AbortSignal,
  progress: ProgressSink,
  newBlobs: Set<string>,
): Promise<LayerResult> {
  const { desc } = job;
  const id = short(desc.digest);
  const haveBlob = ctx.blobs.has(desc.digest);
  const unpack = !ctx.layers.has(job.chainId);
  let tmpDir: string | undefined;
  try {
    const source = haveBlob
      ? ctx.blobs.open(desc.digest)
      : (await client.getBlob(repo, desc.digest, signal)).stream;
    if (unpack) {
      tmpDir = join(layersDir(ctx.paths), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
      mkdirSync(tmpDir, { recursive: true, mode: 0o755 });
    }
    let last = 0;
    const size = await teeLayer(ctx, source, {
      desc,
      diffId: job.diffId,
      store: !haveBlob,
      unpackTo: tmpDir,
      signal,
      onStored: () => newBlobs.add(desc.digest),
      onBytes: (n) => {
        // One event per ~1% (and the last byte), not one per network chunk.
        if (n - last < desc.size / 100 && n !== desc.size) return;
        last = n;
        progress({ id, status: haveBlob ? 'Extracting' : 'Downloading', current: n, total: desc.size });
      },
    });
    if (!haveBlob) {
      progress({ id, status: 'Verifying Checksum' });
      progress({ id, status: 'Download complete' });
      progress({ id, status: 'Extracting', current: desc.size, total: desc.size });
    }
    return { tmpDir, size, downloaded: !haveBlob };
  } catch (err) {
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

/** Writes a chunk, resolving when the stream can take more (or is gone). */
function writeChunk(w: Writable, chunk: Buffer): Promise<void> {
  if (w.destroyed || w.writableEnded) return Promise.resolve();
  if (w.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      w.off('error', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
    w.on('error', done);
  });
}

interface TeeOptions {
  desc: Descriptor;
  diffId: string;
  store: boolean;
  unpackTo?: string;
  signal: AbortSignal;
  onStored: () => void;
  onBytes: (n: number) => void;
}

type Compression = 'gzip' | 'zstd' | 'none';

function sniff(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  return 'none';
}

/** The decompress → hash → unpack side of the tee; resolves to the diff ID and the tar's size. */
function tarSide(
  kind: Compression,
  desc: Descriptor,
  unpackTo: string | undefined,
): { input: PassThrough; done: Promise<{ diffId: string; size: number }> } {
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  let decompress: Transform;
  if (kind === 'gzip') decompress = zlib.createGunzip({ chunkSize: 1 << 18 });
  else if (kind === 'zstd') decompress = createZstdDecompress();
  else decompress = new PassThrough();
  const hash = createHash('sha256');
  let size = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const tar = new PassThrough({ highWaterMark: 1 << 20 });
  const piped = pipeline(input, decompress, hasher, tar);
  let unpacked: Promise<void>;
  if (unpackTo) {
    unpacked = unpackLayer(tar, unpackTo).then(() => {
      tar.resume();
    });
  } else {
    tar.resume();
    unpacked = Promise.resolve();
  }
  const done = Promise.allSettled([piped, unpacked]).then(([p, u]) => {
    if (u.status === 'rejected') {
      const e = u.reason as Error;
      if (e instanceof BerthError) throw e;
      throw new BerthError(`layer ${desc.digest} cannot be unpacked: ${e.message}; the layer is corrupt`);
    }
    if (p.status === 'rejected') {
      const e = p.reason as Error;
      if (e instanceof BerthError) throw e;
      throw new BerthError(
        `layer ${desc.digest} cannot be decompressed (${kind}): ${e.message}; the layer is corrupt`,
      );
    }
    return { diffId: `sha256:${hash.digest('hex')}`, size };
  });
  return { input, done };
}

/**
 * Streams one layer through its checks. The compressed bytes are counted and hashed (against the
 * descriptor), stored when `store`, and decompressed, hashed (against the config's diff ID) and
 * unpacked when `unpackTo`. A failed unpack does not stop the download, so that a blob that does
 * not match its digest is reported as that and not as whatever its bytes made the tar reader say.
 */
async function teeLayer(ctx: StoreContext, source: Readable, o: TeeOptions): Promise<number> {
  const { desc } = o;
  const hash = createHash('sha256');
  let digest: string | undefined;
  // Read by the blob store (when the stream ends) and by the checks below; a hash digests once.
  const digestOf = () => {
    digest ??= `sha256:${hash.digest('hex')}`;
    return digest;
  };
  let n = 0;
  const toBlob = o.store ? new PassThrough({ highWaterMark: 1 << 20 }) : undefined;
  const stored = toBlob ? ctx.blobs.putHashedStream(toBlob, desc.digest, digestOf) : undefined;
  stored?.catch(() => undefined);
  let side: ReturnType<typeof tarSide> | undefined;
  let head = Buffer.alloc(0);
  const startSide = () => {
    side = tarSide(sniff(head), desc, o.unpackTo);
    side.done.catch(() => undefined);
    void writeChunk(side.input, head);
  };
  const onAbort = () => source.destroy(new BerthError('pull aborted'));
  o.signal.addEventListener('abort', onAbort);
  let readError: unknown;
  try {
    for await (const c of source) {
      const chunk = c as Buffer;
      n += chunk.length;
      if (n > desc.size) {
        throw new BerthError(
          `layer ${desc.digest} is larger than the ${desc.size} bytes its manifest says; refusing it`,
        );
      }
      hash.update(chunk);
      o.onBytes(n);
      const writes: Promise<void>[] = [];
      if (toBlob) writes.push(writeChunk(toBlob, chunk));
      if (side) writes.push(writeChunk(side.input, chunk));
      else {
        head = Buffer.concat([head, chunk]);
        if (head.length >= 4) startSide();
      }
      await Promise.all(writes);
    }
  } catch (err) {
    readError = err;
  } finally {
    o.signal.removeEventListener('abort', onAbort);
  }
  if (!side) startSide();
  const tar = side!;
  if (readError !== undefined) {
    source.destroy();
    // Ended, not destroyed: the blob store then finishes its temp file and removes it on the
    // digest mismatch, where a destroy could race the file's creation and leave it behind.
    toBlob?.end();
    tar.input.destroy();
    await Promise.allSettled([stored, tar.done]);
    if (readError instanceof BerthError) throw readError;
    const e = readError as Error & { code?: string };
    throw new BerthError(
      `downloading layer ${desc.digest} failed after ${n} of ${desc.size} bytes: ${e.message}${e.code && !e.message.includes(e.code) ? ` (${e.code})` : ''}; the blob is truncated or the connection broke`,
    );
  }
  toBlob?.end();
  tar.input.end();
  const [blobResult, tarResult] = await Promise.allSettled([stored, tar.done]);
  const discard = () => {
    if (blobResult.status === 'fulfilled' && o.store && !blobInUse(ctx, desc.digest))
      ctx.blobs.delete(desc.digest);
  };
  if (n !== desc.size) {
    discard();
    throw new BerthError(
      `layer ${desc.digest} is truncated: the registry sent ${n} of ${desc.size} bytes; refusing it`,
    );
  }
  if (digestOf() !== desc.digest) {
    discard();
    throw new BerthError(
      `layer ${desc.digest} failed verification: the registry sent content with digest ${digestOf()}; refusing it`,
    );
  }
  if (blobResult.status === 'rejected') throw blobResult.reason;
  if (o.store) o.onStored();
  if (tarResult.status === 'rejected') throw tarResult.reason;
  if (tarResult.value.diffId !== o.diffId) {
    throw new BerthError(
      `layer ${desc.digest} unpacks to ${tarResult.value.diffId}, but the image config says its diff_id is ${o.diffId}; refusing it`,
    );
  }
  return tarResult.value.size;
}
