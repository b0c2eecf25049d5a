import { RegistryError } from './errors.ts';
import { isDigest } from './names.ts';
import type { ManifestMeta, RegistryStorage } from './storage.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const SCHEMA1 = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];
const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_LIST]);
const MANIFEST_TYPES = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);
/** Layers that registries are not expected to hold (Windows base layers): their blobs need not exist. */
const FOREIGN_LAYERS = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

interface RawDescriptor {
  mediaType?: unknown;
  digest?: unknown;
  size?: unknown;
  urls?: unknown;
  artifactType?: unknown;
}

interface RawManifest {
  schemaVersion?: unknown;
  mediaType?: unknown;
  artifactType?: unknown;
  config?: RawDescriptor;
  layers?: unknown;
  manifests?: unknown;
  subject?: RawDescriptor;
  annotations?: unknown;
}

export interface ValidManifest {
  meta: ManifestMeta;
  subject?: string;
  annotations?: Record<string, string>;
}

const invalid = (message: string, detail?: unknown) => new RegistryError('MANIFEST_INVALID', message, detail);

function descriptor(
  d: unknown,
  where: string,
): { mediaType: string; digest: string; size: number; urls: boolean } {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw invalid(`${where} is not a descriptor`);
  const r = d as RawDescriptor;
  if (typeof r.mediaType !== 'string' || r.mediaType === '') throw invalid(`${where} has no mediaType`);
  if (typeof r.digest !== 'string' || !/^[a-z0-9+._-]+:[a-zA-Z0-9=_-]+$/.test(r.digest))
    throw invalid(`${where} has an invalid digest`, { digest: r.digest });
  if (typeof r.size !== 'number' || !Number.isSafeInteger(r.size) || r.size < 0)
    throw invalid(`${where} has an invalid size`);
  return {
    mediaType: r.mediaType,
    digest: r.digest,
    size: r.size,
    urls: Array.isArray(r.urls) && r.urls.length > 0,
  };
}

/**
 * Checks a manifest before it is stored: JSON, a known (or inferable) media type that agrees with
 * the Content-Type, well-formed descriptors, and every referenced blob (or child manifest of an
 * index) present in the repository with the size the descriptor gives. A `subject` need not exist.
 */
export async function validateManifest(
  store: RegistryStorage,
  repo: string,
  body: Buffer,
  contentType: string | undefined,
): Promise<ValidManifest> {
  let m: RawManifest;
  try {
    m = JSON.parse(body.toString('utf8')) as RawManifest;
  } catch (e) {
    throw invalid(`manifest is not JSON: ${(e as Error).message}`);
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw invalid('manifest is not a JSON object');
  const ct = contentType === undefined ? undefined : contentType.split(';')[0]!.trim();
  if ((ct && SCHEMA1.includes(ct)) || m.schemaVersion === 1)
    throw invalid('schema 1 manifests are not supported; push with a schema 2 or OCI client');
  if (m.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  const known = (t: string | undefined) => t !== undefined && (INDEX_TYPES.has(t) || MANIFEST_TYPES.has(t));
  let mediaType: string;
  if (typeof m.mediaType === 'string') {
    if (!known(m.mediaType)) throw invalid(`unknown manifest media type "${m.mediaType}"`);
    if (known(ct) && ct !== m.mediaType)
      throw invalid(`Content-Type "${ct}" does not match the manifest's mediaType "${m.mediaType}"`);
    mediaType = m.mediaType;
  } else if (m.mediaType !== undefined) {
    throw invalid('mediaType must be a string');
  } else if (known(ct)) {
    mediaType = ct!;
  } else if (Array.isArray(m.manifests)) {
    mediaType = OCI_INDEX;
  } else if (m.config !== undefined) {
    mediaType = OCI_MANIFEST;
  } else {
    throw invalid('cannot tell the manifest media type: no mediaType, config or manifests');
  }

  const needBlob = async (d: ReturnType<typeof descriptor>, where: string) => {
    if (!isDigest(d.digest))
      throw invalid(`${where}: only sha256 digests are supported`, { digest: d.digest });
    const size = await store.repoBlobSize(repo, d.digest);
    if (size === undefined)
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `${where} ${d.digest} is not in ${repo}`, {
        digest: d.digest,
      });
    if (size !== d.size)
      throw invalid(`${where} ${d.digest} has ${size} bytes, the descriptor says ${d.size}`, {
        digest: d.digest,
      });
  };

  let artifactType: string | undefined;
  if (typeof m.artifactType === 'string') artifactType = m.artifactType;
  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(m.manifests)) throw invalid('an index needs a manifests array');
    for (const [i, raw] of m.manifests.entries()) {
      const d = descriptor(raw, `manifests[${i}]`);
      if (!isDigest(d.digest)) throw invalid(`manifests[${i}]: only sha256 digests are supported`);
      if (!(await store.manifestMeta(repo, d.digest)))
        throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest ${d.digest} is not in ${repo}`, {
          digest: d.digest,
        });
    }
  } else {
    const config = descriptor(m.config, 'config');
    await needBlob(config, 'config');
    if (!Array.isArray(m.layers)) throw invalid('an image manifest needs a layers array');
    for (const [i, raw] of m.layers.entries()) {
      const d = descriptor(raw, `layers[${i}]`);
      if (FOREIGN_LAYERS.has(d.mediaType) && d.urls) continue;
      await needBlob(d, `layers[${i}]`);
    }
    // An image manifest without artifactType is typed by its config (OCI 1.1 referrers rules).
    artifactType ??= config.mediaType;
  }
  let subject: string | undefined;
  if (m.subject !== undefined) {
    const d = descriptor(m.subject, 'subject');
    if (!isDigest(d.digest)) throw invalid('subject: only sha256 digests are supported');
    subject = d.digest;
  }
  let annotations: Record<string, string> | undefined;
  if (m.annotations !== undefined) {
    if (typeof m.annotations !== 'object' || m.annotations === null || Array.isArray(m.annotations))
      throw invalid('annotations must be an object');
    annotations = m.annotations as Record<string, string>;
  }
  const meta: ManifestMeta = { mediaType, size: body.length };
  if (artifactType) meta.artifactType = artifactType;
  return { meta, subject, annotations };
}

/** Digests a stored manifest refers to (config, layers, child manifests), for gc. */
export function references(body: Buffer): string[] {
  try {
    const m = JSON.parse(body.toString('utf8')) as RawManifest;
    const out: string[] = [];
    const add = (d: unknown) => {
      const digest = (d as RawDescriptor | undefined)?.digest;
      if (typeof digest === 'string' && isDigest(digest)) out.push(digest);
    };
    add(m.config);
    if (Array.isArray(m.layers)) m.layers.forEach(add);
    if (Array.isArray(m.manifests)) m.manifests.forEach(add);
    return out;
  } catch {
    return [];
  }
}

export const isIndexType = (t: string) => INDEX_TYPES.has(t);
