import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { type Header, extract as tarExtract } from 'tar-stream';
import type { StoreContext } from '../engine/context.ts';
import type { ProgressSink } from '../engine/progress.ts';
import { BerthError } from '../util/errors.ts';
import { chainIds } from './chain.ts';
import { canonicalName, familiarName, parseReference } from './reference.ts';
import { cleanEntryName } from './tar-name.ts';
import {
  type Descriptor,
  goArch,
  type ImageConfig,
  type ImageManifest,
  type ImageRecord,
  type LayerRecord,
  MediaTypes,
} from './types.ts';
import { CorruptLayerError } from './unpack.ts';

/**
 * `berth load`: reads a `docker save` archive (docker ≤ 24's legacy layout, docker 25's combined
 * OCI + manifest.json layout, skopeo's docker-archive) or an OCI image layout archive, optionally
 * gzip-compressed. The archive is spooled into a private directory under the store root, every
 * blob it uses is checked against its digest and every layer against the config's diff IDs, and
 * only then is anything written to the store; a failure removes whatever this load added.
 */

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** Registries cap manifests at 4 MiB; configs and manifest.json are larger only in pathological cases. */
const MAX_MANIFEST = 4 << 20;
const MAX_JSON = 64 << 20;
const MAX_SYMLINK_HOPS = 40;
const MAX_INDEX_DEPTH = 4;

const MANIFEST_TYPES = new Set<string>([MediaTypes.ociManifest, MediaTypes.dockerManifest]);
const INDEX_TYPES = new Set<string>([MediaTypes.ociIndex, MediaTypes.dockerManifestList]);
const CONFIG_TYPES = new Set<string>([MediaTypes.ociConfig, MediaTypes.dockerConfig]);

/** A regular file of the archive, spooled to disk and hashed on the way. */
interface SpooledFile {
  path: string;
  digest: string;
  size: number;
}

type ArchiveNode =
  | { kind: 'file'; file: SpooledFile }
  | { kind: 'symlink'; target: string }
  | { kind: 'dir' };

interface LayerPlan {
  file: SpooledFile;
  mediaType: string;
  diffId: string;
  /** Length of the uncompressed tar. */
  size: number;
}

interface ImagePlan {
  id: string;
  config: ImageConfig;
  configFile: SpooledFile;
  layers: LayerPlan[];
  /** The archive's own manifest, when it has one that describes exactly these blobs. */
  manifestFile?: SpooledFile;
  tags: string[];
}

class LoadError extends BerthError {
  constructor(message: string) {
    super(`load: ${message}`);
  }
}

export async function loadImages(
  ctx: StoreContext,
  input: Readable,
  progress: ProgressSink,
): Promise<string[]> {
  const tmpRoot = join(ctx.paths.root, 'tmp');
  sweepStale(tmpRoot);
  mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
  const dir = join(tmpRoot, `load-${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  try {
    const archive = await spool(input, dir);
    const plans = await planImages(archive);
    return await commit(ctx, plans, progress);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Removes spool directories left by a load that was killed. */
function sweepStale(tmpRoot: string): void {
  if (!existsSync(tmpRoot)) return;
  for (const name of readdirSync(tmpRoot)) {
    const m = /^load-(\d+)-/.exec(name);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(tmpRoot, name), { recursive: true, force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the archive
// ---------------------------------------------------------------------------------------------

/** The archive's files by clean path; symlinks are resolved inside the archive, never on disk. */
class Archive {
  readonly nodes = new Map<string, ArchiveNode>();
  entries = 0;

  hasFile(path: string): boolean {
    try {
      this.resolve(path, path);
      return true;
    } catch {
      return false;
    }
  }

  /** The file `path` names, following the archive's own symlinks; `what` names the reference in errors. */
  resolve(path: string, what: string): SpooledFile {
    if (path.startsWith('/'))
      throw new LoadError(`${what} refers to "${path}", an absolute path outside the archive`);
    let parts = cleanEntryName(path);
    if (parts === null) throw new LoadError(`${what} refers to "${path}", which is outside the archive`);
    let hops = 0;
    for (let i = 0; i < parts.length; ) {
      const node = this.nodes.get(parts.slice(0, i + 1).join('/'));
      if (node?.kind === 'symlink') {
        if (++hops > MAX_SYMLINK_HOPS) throw new LoadError(`${what}: too many symlinks resolving "${path}"`);
        parts = [...(node.target ? node.target.split('/') : []), ...parts.slice(i + 1)];
        i = 0;
        continue;
      }
      i++;
    }
    const node = this.nodes.get(parts.join('/'));
    if (node?.kind !== 'file')
      throw new LoadError(`${what} refers to "${path}", which the archive does not contain`);
    return node.file;
  }

  readJson(file: SpooledFile, what: string, max = MAX_JSON): unknown {
    if (file.size > max) throw new LoadError(`${what} is ${file.size} bytes, more than the ${max} allowed`);
    try {
      return JSON.parse(readFileSync(file.path, 'utf8'));
    } catch (err) {
      throw new LoadError(`${what} is not valid JSON (${(err as Error).message})`);
    }
  }
}

/** The stream with any gzip compression removed; refuses empty input and formats it cannot read. */
async function archiveStream(input: Readable): Promise<Readable> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < 6) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    head.push(b);
    len += b.length;
  }
  const first = Buffer.concat(head);
  if (first.length === 0) {
    throw new LoadError('the input is empty; want a tar archive made by `berth save` or `docker save`');
  }
  const starts = (magic: number[]) => first.length >= magic.length && magic.every((b, i) => first[i] === b);
  const compression = starts([0x28, 0xb5, 0x2f, 0xfd])
    ? 'zstd'
    : starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])
      ? 'xz'
      : starts([0x42, 0x5a, 0x68])
        ? 'bzip2'
        : undefined;
  if (compression) {
    input.destroy();
    throw new LoadError(
      `${compression}-compressed archives are not supported; decompress it first or use gzip`,
    );
  }
  const body = Readable.from(
    (async function* () {
      yield first;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    })(),
    { objectMode: false },
  );
  if (!starts([0x1f, 0x8b])) return body;
  const gunzip = createGunzip({ chunkSize: 1 << 18 });
  body.on('error', (err) => gunzip.destroy(err));
  body.pipe(gunzip);
  return gunzip;
}

/** Reads the whole archive into `dir`, one file per entry, refusing entries that would reach outside it. */
async function spool(input: Readable, dir: string): Promise<Archive> {
  const archive = new Archive();
  let stream: Readable;
  try {
    stream = await archiveStream(input);
  } catch (err) {
    input.destroy();
    throw readFailure(err, 0);
  }
  const ex = tarExtract();
  const onError = (err: Error) => ex.destroy(err);
  stream.on('error', onError);
  stream.pipe(ex);
  try {
    for await (const entry of ex) {
      archive.entries++;
      const h = entry.header;
      const name = entryPath(h.name);
      // tar-stream gives null for types it does not know; those are skipped like devices below.
      switch (h.type as Header['type'] | null) {
        case 'file':
        case 'contiguous-file': {
          const file = await spoolBody(entry as AsyncIterable<Buffer>, join(dir, `f${archive.entries}`));
          if (name !== '') archive.nodes.set(name, { kind: 'file', file });
          continue;
        }
        case 'directory':
          if (name !== '') archive.nodes.set(name, { kind: 'dir' });
          break;
        case 'symlink': {
          const target = h.linkname ?? '';
          if (target.startsWith('/')) {
            throw new LoadError(
              `the archive entry "${h.name}" is a symlink to the absolute path "${target}"; refusing an archive that points outside itself`,
            );
          }
          const parts = cleanEntryName(`${dirname(name)}/${target}`);
          if (parts === null) {
            throw new LoadError(
              `the archive entry "${h.name}" is a symlink to "${target}", outside the archive; refusing it`,
            );
          }
          archive.nodes.set(name, { kind: 'symlink', target: parts.join('/') });
          break;
        }
        case 'link': {
          const target = h.linkname ?? '';
          const parts = target.startsWith('/') ? null : cleanEntryName(target);
          if (parts === null) {
            throw new LoadError(
              `the archive entry "${h.name}" is a hardlink to "${target}", outside the archive; refusing it`,
            );
          }
          const node = archive.nodes.get(parts.join('/'));
          if (node?.kind !== 'file') {
            throw new LoadError(
              `the archive entry "${h.name}" is a hardlink to "${target}", which comes before it in no archive entry`,
            );
          }
          archive.nodes.set(name, node);
          break;
        }
        default:
          // Devices and fifos mean nothing in an image archive; they are skipped, never created.
          break;
      }
      for await (const _ of entry);
    }
  } catch (err) {
    stream.unpipe(ex);
    stream.destroy();
    input.destroy();
    throw readFailure(err, archive.entries);
  } finally {
    stream.off('error', onError);
  }
  return archive;
}

function entryPath(name: string): string {
  if (name.startsWith('/')) {
    throw new LoadError(
      `the archive entry "${name}" has an absolute path; refusing an archive that writes outside itself`,
    );
  }
  const parts = cleanEntryName(name);
  if (parts === null) {
    throw new LoadError(`the archive entry "${name}" points outside the archive; refusing it`);
  }
  return parts.join('/');
}

async function spoolBody(entry: AsyncIterable<Buffer>, path: string): Promise<SpooledFile> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    async function* () {
      for await (const chunk of entry) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(path, { flags: 'wx', mode: 0o644 }),
  );
  return { path, digest: `sha256:${hash.digest('hex')}`, size };
}

/** Says what is wrong with the input in the user's terms: truncated, not a tar, bad gzip. */
function readFailure(err: unknown, entries: number): unknown {
  if (err instanceof BerthError) return err;
  const e = err as NodeJS.ErrnoException;
  const msg = e?.message ?? String(err);
  if (e?.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(msg)) {
    return new LoadError('the gzip-compressed archive is truncated; copy the complete file');
  }
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
    return new LoadError(
      `the input is not valid gzip data (${msg}); want a tar archive, optionally gzip-compressed`,
    );
  }
  if (e?.code && typeof e.errno === 'number') return new LoadError(`cannot read the archive: ${msg}`);
  if (entries === 0) {
    return new LoadError(
      `the input is not a tar archive (${msg}); want a file made by \`berth save\` or \`docker save\``,
    );
  }
  if (/Unexpected end of data/i.test(msg))
    return new LoadError('the archive is truncated; copy the complete file');
  return new LoadError(`the archive is corrupt after ${entries} entries (${msg})`);
}

// ---------------------------------------------------------------------------------------------
// Working out what the archive holds, and checking all of it
// ---------------------------------------------------------------------------------------------

interface ManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

interface FoundManifest {
  file: SpooledFile;
  manifest: ImageManifest;
  names: string[];
}

async function planImages(archive: Archive): Promise<ImagePlan[]> {
  if (archive.entries === 0)
    throw new LoadError('the archive is empty; want a file made by `berth save` or `docker save`');
  const checker = new LayerChecker();
  const hasDocker = archive.hasFile('manifest.json');
  const hasOci = archive.hasFile('index.json');
  let plans: ImagePlan[];
  if (hasDocker) {
    const items = dockerItems(archive);
    // Docker 25+ also writes an OCI index; its manifests keep the image's manifest digest.
    const found = hasOci ? ociManifests(archive, false) : [];
    plans = [];
    for (const [i, item] of items.entries()) {
      const what = `manifest.json entry ${i + 1}`;
      const configFile = archive.resolve(item.Config, `${what} (Config)`);
      checkNamedDigest(item.Config, configFile, `${what} (Config)`);
      const config = parseConfig(archive, configFile, `the config ${item.Config}`);
      const tags = item.RepoTags.map((t) => tagOf(t, 'manifest.json'));
      const oci = found.find((f) => usable(archive, f.manifest, configFile.digest, config));
      if (oci) {
        plans.push(
          await planFromManifest(archive, checker, oci.file, oci.manifest, unique([...tags, ...oci.names])),
        );
        continue;
      }
      if (item.Layers.length !== config.rootfs.diff_ids.length) {
        throw new LoadError(
          `${what} lists ${item.Layers.length} layers but its config ${item.Config} has ${config.rootfs.diff_ids.length} diff IDs; the archive is corrupt`,
        );
      }
      const layers: LayerPlan[] = [];
      for (const [j, path] of item.Layers.entries()) {
        const file = archive.resolve(path, `${what} (layer ${j + 1})`);
        checkNamedDigest(path, file, `layer ${path}`);
        layers.push(await checker.check(file, path, config.rootfs.diff_ids[j]!, undefined));
      }
      plans.push({ id: configFile.digest, config, configFile, layers, tags });
    }
  } else if (hasOci) {
    plans = [];
    for (const f of ociManifests(archive, true)) {
      plans.push(await planFromManifest(archive, checker, f.file, f.manifest, f.names));
    }
  } else {
    throw new LoadError(
      'the archive has neither manifest.json nor index.json; want a file made by `berth save`, `docker save` or an OCI image layout',
    );
  }
  if (plans.length === 0) throw new LoadError('the archive holds no images');
  // One image may appear several times (one index entry per name): load it once with all its names.
  const byId = new Map<string, ImagePlan>();
  for (const p of plans) {
    const seen = byId.get(p.id);
    if (seen) seen.tags = unique([...seen.tags, ...p.tags]);
    else byId.set(p.id, p);
  }
  return [...byId.values()];
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function dockerItems(archive: Archive): ManifestItem[] {
  const raw = archive.readJson(archive.resolve('manifest.json', 'manifest.json'), 'manifest.json');
  if (!Array.isArray(raw)) throw new LoadError('manifest.json is not a list of images');
  return raw.map((item, i) => {
    const bad = (why: string) => new LoadError(`manifest.json entry ${i + 1} ${why}`);
    if (!isObject(item)) throw bad('is not an object');
    if (typeof item.Config !== 'string' || item.Config === '') throw bad('has no Config path');
    if (item.RepoTags != null && !isStringArray(item.RepoTags))
      throw bad('has a RepoTags that is not a list of names');
    if (item.Layers != null && !isStringArray(item.Layers))
      throw bad('has a Layers that is not a list of paths');
    return {
      Config: item.Config,
      RepoTags: (item.RepoTags as string[] | null) ?? [],
      Layers: (item.Layers as string[] | null) ?? [],
    };
  });
}

/** docker names blobs by their digest in three ways; a name that says one digest must hold that content. */
function checkNamedDigest(path: string, file: SpooledFile, what: string): void {
  const clean = (cleanEntryName(path) ?? []).join('/');
  const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(clean) ?? /^([a-f0-9]{64})\.(?:json|tar)$/.exec(clean);
  if (m && `sha256:${m[1]}` !== file.digest) {
    throw new LoadError(
      `${what} has digest ${file.digest}, but its name says sha256:${m[1]}; the archive is corrupt`,
    );
  }
}

function tagOf(name: string, source: string): string {
  let ref: ReturnType<typeof parseReference>;
  try {
    ref = parseReference(name);
  } catch (err) {
    throw new LoadError(
      `${source} names the image "${name}", which is not a valid reference: ${(err as Error).message}`,
    );
  }
  if (ref.digest) throw new LoadError(`${source} names the image "${name}" by digest; want name:tag`);
  return canonicalName(ref);
}

function parseConfig(archive: Archive, file: SpooledFile, what: string): ImageConfig {
  const raw = archive.readJson(file, what);
  if (!isObject(raw) || !isObject(raw.rootfs))
    throw new LoadError(`${what} is not an image config (it has no rootfs)`);
  const ids = raw.rootfs.diff_ids ?? [];
  if (!isStringArray(ids) || !ids.every((d) => DIGEST.test(d))) {
    throw new LoadError(`${what} has invalid rootfs.diff_ids; want a list of sha256 digests`);
  }
  const config = raw as unknown as ImageConfig;
  config.rootfs.diff_ids = ids;
  return config;
}

/** The file of a blob the archive's OCI layout describes, checked against the descriptor's digest and size. */
function blobFile(archive: Archive, d: Descriptor, what: string): SpooledFile {
  if (typeof d.digest !== 'string' || !DIGEST.test(d.digest)) {
    throw new LoadError(`${what} has digest "${String(d.digest)}"; only sha256 digests are supported`);
  }
  const file = archive.resolve(`blobs/sha256/${d.digest.slice(7)}`, what);
  if (file.digest !== d.digest) {
    throw new LoadError(`${what}: blob ${d.digest} has digest ${file.digest}; the archive is corrupt`);
  }
  if (typeof d.size === 'number' && d.size !== file.size) {
    throw new LoadError(
      `${what}: blob ${d.digest} is ${file.size} bytes, its descriptor says ${d.size}; the archive is corrupt`,
    );
  }
  return file;
}

function isDescriptor(v: unknown): v is Descriptor {
  return isObject(v) && typeof v.digest === 'string' && typeof v.mediaType === 'string';
}

function readIndex(archive: Archive, file: SpooledFile, what: string): Descriptor[] {
  const raw = archive.readJson(file, what, MAX_MANIFEST);
  if (!isObject(raw) || !Array.isArray(raw.manifests) || !raw.manifests.every(isDescriptor)) {
    throw new LoadError(`${what} is not an image index (it has no list of manifests)`);
  }
  return raw.manifests as Descriptor[];
}

function readManifest(archive: Archive, file: SpooledFile, what: string): ImageManifest {
  const raw = archive.readJson(file, what, MAX_MANIFEST);
  if (
    !isObject(raw) ||
    !isDescriptor(raw.config) ||
    !Array.isArray(raw.layers) ||
    !raw.layers.every(isDescriptor)
  ) {
    throw new LoadError(`${what} is not an image manifest`);
  }
  return raw as unknown as ImageManifest;
}

/** The name an index entry gives its image, if it names one; a bare tag names no repository. */
function namesOf(d: Descriptor): string[] {
  const a = d.annotations ?? {};
  for (const candidate of [a[ANNOTATION_IMAGE_NAME], a[ANNOTATION_REF_NAME]]) {
    if (typeof candidate !== 'string' || !/[:/]/.test(candidate)) continue;
    try {
      const ref = parseReference(candidate);
      if (!ref.digest) return [canonicalName(ref)];
    } catch {
      // An unparseable annotation names nothing; the image still loads, untagged.
    }
  }
  return [];
}

function platformMatches(p: Descriptor['platform']): boolean {
  return p?.os === 'linux' && p.architecture === goArch();
}

/**
 * The image manifests index.json leads to. With `hostOnly`, a nested index yields the manifest for
 * this host's platform (and an index without one is refused); without it, every manifest whose
 * blob the archive holds, to be matched against manifest.json.
 */
function ociManifests(archive: Archive, hostOnly: boolean): FoundManifest[] {
  const top = readIndex(archive, archive.resolve('index.json', 'index.json'), 'index.json');
  const out: FoundManifest[] = [];
  const walk = (d: Descriptor, names: string[], depth: number, what: string): void => {
    if (MANIFEST_TYPES.has(d.mediaType)) {
      if (!hostOnly && !archive.hasFile(`blobs/sha256/${d.digest.replace(/^sha256:/, '')}`)) return;
      const file = blobFile(archive, d, what);
      const manifest = readManifest(archive, file, `manifest ${d.digest}`);
      // Signatures, attestations and other artifacts share the layout; they are no image to load.
      if (CONFIG_TYPES.has(manifest.config.mediaType)) out.push({ file, manifest, names });
      return;
    }
    if (!INDEX_TYPES.has(d.mediaType)) return; // artifacts and other content that is no image
    if (depth >= MAX_INDEX_DEPTH) throw new LoadError(`${what}: image indexes nested too deep`);
    if (!hostOnly && !archive.hasFile(`blobs/sha256/${d.digest.replace(/^sha256:/, '')}`)) return;
    const children = readIndex(archive, blobFile(archive, d, what), `index ${d.digest}`);
    if (!hostOnly) {
      for (const c of children) walk(c, names, depth + 1, `index ${d.digest}`);
      return;
    }
    const images = children.filter((c) => MANIFEST_TYPES.has(c.mediaType) || INDEX_TYPES.has(c.mediaType));
    const pick =
      images.find((c) => platformMatches(c.platform)) ??
      (images.length === 1 && !images[0]!.platform ? images[0] : undefined);
    if (!pick) {
      const have = images.map((c) =>
        c.platform
          ? `${c.platform.os}/${c.platform.architecture}${c.platform.variant ? `/${c.platform.variant}` : ''}`
          : 'unknown',
      );
      throw new LoadError(
        `${names[0] ? familiarName(names[0]) : `index ${d.digest}`} has no image for linux/${goArch()} (it has ${have.join(', ') || 'none'})`,
      );
    }
    walk(pick, names, depth + 1, `index ${d.digest}`);
  };
  for (const [i, d] of top.entries()) walk(d, namesOf(d), 0, `index.json entry ${i + 1}`);
  return out;
}

/** Whether an OCI manifest of the archive describes the image a manifest.json entry names. */
function usable(archive: Archive, m: ImageManifest, configDigest: string, config: ImageConfig): boolean {
  return (
    m.config.digest === configDigest &&
    m.layers.length === config.rootfs.diff_ids.length &&
    m.layers.every((l) => DIGEST.test(l.digest) && archive.hasFile(`blobs/sha256/${l.digest.slice(7)}`))
  );
}

async function planFromManifest(
  archive: Archive,
  checker: LayerChecker,
  file: SpooledFile,
  m: ImageManifest,
  tags: string[],
): Promise<ImagePlan> {
  const what = `manifest ${file.digest}`;
  const configFile = blobFile(archive, m.config, `the config of ${what}`);
  const config = parseConfig(archive, configFile, `config ${m.config.digest}`);
  if (m.layers.length !== config.rootfs.diff_ids.length) {
    throw new LoadError(
      `${what} lists ${m.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff IDs; the archive is corrupt`,
    );
  }
  const layers: LayerPlan[] = [];
  for (const [i, d] of m.layers.entries()) {
    if (d.mediaType.endsWith('+zstd')) {
      throw new LoadError(`layer ${d.digest} is zstd-compressed, which Berth cannot unpack yet`);
    }
    const lf = blobFile(archive, d, `layer ${i + 1} of ${what}`);
    layers.push(
      await checker.check(lf, `blobs/sha256/${d.digest.slice(7)}`, config.rootfs.diff_ids[i]!, d.mediaType),
    );
  }
  return { id: configFile.digest, config, configFile, layers, manifestFile: file, tags };
}

/** Computes each layer file's diff ID once (a file may serve several images) and checks it. */
class LayerChecker {
  private readonly seen = new Map<string, { diffId: string; size: number; gzip: boolean }>();

  async check(
    file: SpooledFile,
    where: string,
    want: string,
    mediaType: string | undefined,
  ): Promise<LayerPlan> {
    let r = this.seen.get(file.path);
    if (!r) {
      r = await diffIdOf(file, where);
      this.seen.set(file.path, r);
    }
    if (r.diffId !== want) {
      throw new LoadError(
        `layer ${where} has diff ID ${r.diffId}, but the image config says ${want}; the archive is corrupt`,
      );
    }
    const type = mediaType ?? (r.gzip ? MediaTypes.ociLayerGzip : MediaTypes.ociLayer);
    return { file, mediaType: type, diffId: r.diffId, size: r.size };
  }
}

async function diffIdOf(
  file: SpooledFile,
  where: string,
): Promise<{ diffId: string; size: number; gzip: boolean }> {
  const magic = Buffer.alloc(4);
  const fd = openSync(file.path, 'r');
  let n: number;
  try {
    n = readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (n >= 4 && magic.readUInt32BE(0) === 0x28b52ffd) {
    throw new LoadError(`layer ${where} is zstd-compressed, which Berth cannot unpack yet`);
  }
  if (n < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b)
    return { diffId: file.digest, size: file.size, gzip: false };
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      createReadStream(file.path),
      createGunzip({ chunkSize: 1 << 18 }),
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) {
          hash.update(chunk);
          size += chunk.length;
        }
      },
    );
  } catch (err) {
    throw new LoadError(
      `layer ${where} is not valid gzip data (${(err as Error).message}); the archive is corrupt`,
    );
  }
  return { diffId: `sha256:${hash.digest('hex')}`, size, gzip: true };
}

// ---------------------------------------------------------------------------------------------
// Writing to the store
// ---------------------------------------------------------------------------------------------

async function commit(ctx: StoreContext, plans: ImagePlan[], progress: ProgressSink): Promise<string[]> {
  const addedBlobs: string[] = [];
  const addedLayers: string[] = [];
  const records = new Map<string, Omit<ImageRecord, 'tags'>>();
  /** docker's notice for a name that moves to the loaded image. */
  const renamed: string[] = [];

  /** Moves a spooled file into the blob store: it was hashed as it was spooled, so no copy is needed. */
  const storeFile = async (file: SpooledFile): Promise<void> => {
    if (ctx.blobs.has(file.digest)) return;
    const target = ctx.blobs.path(file.digest);
    mkdirSync(dirname(target), { recursive: true });
    try {
      renameSync(file.path, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await ctx.blobs.putStream(createReadStream(file.path), file.digest);
    }
    addedBlobs.push(file.digest);
  };

  try {
    for (const plan of plans) {
      if (ctx.images.get(plan.id)) continue; // already here: the load only names it
      await storeFile(plan.configFile);
      const diffIds = plan.layers.map((l) => l.diffId);
      const chains = chainIds(diffIds);
      const layers: LayerRecord[] = [];
      for (const [i, l] of plan.layers.entries()) {
        await storeFile(l.file);
        const chainId = chains[i]!;
        if (!ctx.layers.has(chainId)) {
          try {
            await ctx.layers.ensure(chainId, ctx.blobs.path(l.file.digest));
          } catch (err) {
            throw unpackFailure(err, l.file.digest);
          }
          addedLayers.push(chainId);
        }
        progress({ id: l.diffId.slice(7, 19), status: 'Loading layer', current: l.size, total: l.size });
        layers.push({ diffId: l.diffId, chainId, blob: l.file.digest, mediaType: l.mediaType, size: l.size });
      }
      let manifestDigest: string;
      if (plan.manifestFile) {
        await storeFile(plan.manifestFile);
        manifestDigest = plan.manifestFile.digest;
      } else {
        const manifest: ImageManifest = {
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { mediaType: MediaTypes.ociConfig, digest: plan.id, size: plan.configFile.size },
          layers: plan.layers.map((l) => ({
            mediaType: l.mediaType,
            digest: l.file.digest,
            size: l.file.size,
          })),
        };
        const bytes = JSON.stringify(manifest);
        const had = ctx.blobs.has(sha256Of(bytes));
        manifestDigest = ctx.blobs.putBytes(bytes).digest;
        if (!had) addedBlobs.push(manifestDigest);
      }
      const now = new Date().toISOString();
      records.set(plan.id, {
        id: plan.id,
        manifestDigest,
        created: plan.config.created ?? '1970-01-01T00:00:00Z',
        size: layers.reduce((s, l) => s + l.size, 0),
        config: plan.config,
        layers,
        parent: '',
        added: now,
      });
    }
    // Every image is complete on disk before the first is named, so a failure registers nothing.
    for (const plan of plans) {
      for (const t of plan.tags) {
        const prev = ctx.images.find(t);
        if (prev && prev.id !== plan.id && prev.tags.includes(t)) {
          renamed.push(
            `The image ${familiarName(t)} already exists, renaming the old one with ID ${prev.id} to empty string`,
          );
        }
      }
      const record = records.get(plan.id);
      if (record) ctx.images.put(record, plan.tags);
      else for (const t of plan.tags) ctx.images.tag(plan.id, t);
    }
  } catch (err) {
    removeUnused(ctx, addedBlobs, addedLayers);
    throw err;
  }
  const lines = [...renamed];
  for (const plan of plans) {
    if (plan.tags.length === 0) lines.push(`Loaded image ID: ${plan.id}`);
    for (const t of plan.tags) lines.push(`Loaded image: ${familiarName(t)}`);
  }
  return lines;
}

function sha256Of(data: string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Deletes what this load added and no image uses (another image may have come to share it meanwhile). */
function removeUnused(ctx: StoreContext, blobs: string[], layers: string[]): void {
  const usedBlobs = new Set<string>();
  const usedLayers = new Set<string>();
  for (const img of ctx.images.list()) {
    usedBlobs.add(img.id);
    usedBlobs.add(img.manifestDigest);
    for (const l of img.layers) {
      usedBlobs.add(l.blob);
      usedLayers.add(l.chainId);
    }
  }
  for (const c of layers) if (!usedLayers.has(c)) ctx.layers.remove(c);
  for (const b of blobs) if (!usedBlobs.has(b)) ctx.blobs.delete(b);
}

/** The layer store speaks of pulls; say what went wrong in terms of the user's archive. */
function unpackFailure(err: unknown, digest: string): unknown {
  if (err instanceof CorruptLayerError) {
    return new LoadError(`layer ${digest} of the archive is not a valid tar (${err.reason})`);
  }
  if (err instanceof BerthError) return new LoadError(`layer ${digest} of the archive: ${err.message}`);
  return err;
}
