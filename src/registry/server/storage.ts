import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The registry's content-addressed filesystem store under one root:
 *
 *   blobs/sha256/<hex>                                   every blob and manifest, by digest
 *   repositories/<name>/_layers/<hex>                    blob linked into the repository (empty file)
 *   repositories/<name>/_manifests/revisions/<hex>       manifest in the repository (JSON ManifestMeta)
 *   repositories/<name>/_manifests/tags/<tag>            the tag's digest
 *   repositories/<name>/_referrers/<subject>/<hex>       a manifest whose subject is <subject> (JSON descriptor)
 *   uploads/<uuid>/{state.json,data}                     upload sessions (see uploads.ts)
 *   tmp/                                                 files being written, renamed into place when whole
 *
 * Names are checked against the distribution grammar before they get here, so no component is `.`,
 * `..` or starts with `_`: repository directories cannot escape the root or collide with ours.
 * Every file that readers see appears by rename(2), so nothing half-written is ever visible.
 */
export interface ManifestMeta {
  mediaType: string;
  size: number;
  artifactType?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const hex = (digest: string) => digest.slice('sha256:'.length);

function isNotFound(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export class RegistryStorage {
  readonly blobsDir: string;
  readonly reposDir: string;
  readonly uploadsDir: string;
  readonly tmpDir: string;
  private made = new Set<string>();

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs', 'sha256');
    this.reposDir = join(root, 'repositories');
    this.uploadsDir = join(root, 'uploads');
    this.tmpDir = join(root, 'tmp');
  }

  async init(): Promise<void> {
    for (const d of [this.blobsDir, this.reposDir, this.uploadsDir, this.tmpDir]) await this.mkdirp(d);
    // Leftovers of writes cut short by a crash: never visible, safe to drop at start.
    for (const f of await readdir(this.tmpDir))
      await rm(join(this.tmpDir, f), { force: true, recursive: true });
  }

  async mkdirp(dir: string): Promise<void> {
    if (this.made.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.made.add(dir);
  }

  blobPath(digest: string): string {
    return join(this.blobsDir, hex(digest));
  }

  repoDir(repo: string): string {
    return join(this.reposDir, repo);
  }

  /** Size of the stored blob, or undefined. */
  async blobSize(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Moves a verified file into the blob store. A concurrent commit of the same digest writes the same bytes. */
  async commitBlob(file: string, digest: string): Promise<void> {
    await rename(file, this.blobPath(digest));
  }

  /** Writes `data` to a temporary file and renames it to `dest`. */
  async writeAtomic(dest: string, data: string | Buffer): Promise<void> {
    const tmp = join(this.tmpDir, randomUUID());
    await writeFile(tmp, data);
    try {
      await rename(tmp, dest);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const dir = dest.slice(0, dest.lastIndexOf('/'));
      this.made.delete(dir);
      await this.mkdirp(dir);
      await rename(tmp, dest);
    }
  }

  private async touch(file: string): Promise<void> {
    try {
      await writeFile(file, '', { flag: 'a' });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const dir = file.slice(0, file.lastIndexOf('/'));
      this.made.delete(dir);
      await this.mkdirp(dir);
      await writeFile(file, '', { flag: 'a' });
    }
  }

  private static async exists(file: string): Promise<boolean> {
    try {
      await stat(file);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async linkBlob(repo: string, digest: string): Promise<void> {
    await this.touch(join(this.repoDir(repo), '_layers', hex(digest)));
  }

  async unlinkBlob(repo: string, digest: string): Promise<boolean> {
    try {
      await unlink(join(this.repoDir(repo), '_layers', hex(digest)));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** The size of a blob readable through `repo` (linked to it, or one of its manifests), or undefined. */
  async repoBlobSize(repo: string, digest: string): Promise<number | undefined> {
    const linked =
      (await RegistryStorage.exists(join(this.repoDir(repo), '_layers', hex(digest)))) ||
      (await RegistryStorage.exists(this.revisionPath(repo, digest)));
    return linked ? this.blobSize(digest) : undefined;
  }

  revisionPath(repo: string, digest: string): string {
    return join(this.repoDir(repo), '_manifests', 'revisions', hex(digest));
  }

  tagPath(repo: string, tag: string): string {
    return join(this.repoDir(repo), '_manifests', 'tags', tag);
  }

  async manifestMeta(repo: string, digest: string): Promise<ManifestMeta | undefined> {
    try {
      return JSON.parse(await readFile(this.revisionPath(repo, digest), 'utf8')) as ManifestMeta;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async resolveTag(repo: string, tag: string): Promise<string | undefined> {
    try {
      return (await readFile(this.tagPath(repo, tag), 'utf8')).trim();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Stores a validated manifest: its bytes as a blob, then its revision, then its referrer entry,
   * then the tag, so that anything a reader can reach is already complete.
   */
  async putManifest(
    repo: string,
    digest: string,
    body: Buffer,
    meta: ManifestMeta,
    opts: { tag?: string; subject?: string; annotations?: Record<string, string> },
  ): Promise<void> {
    if ((await this.blobSize(digest)) !== body.length) await this.writeAtomic(this.blobPath(digest), body);
    await this.writeAtomic(this.revisionPath(repo, digest), JSON.stringify(meta));
    if (opts.subject) {
      const desc: Descriptor = { mediaType: meta.mediaType, digest, size: meta.size };
      if (meta.artifactType) desc.artifactType = meta.artifactType;
      if (opts.annotations && Object.keys(opts.annotations).length > 0) desc.annotations = opts.annotations;
      await this.writeAtomic(
        join(this.repoDir(repo), '_referrers', hex(opts.subject), hex(digest)),
        JSON.stringify(desc),
      );
    }
    if (opts.tag) await this.writeAtomic(this.tagPath(repo, opts.tag), digest);
  }

  /** Removes a manifest from a repository with every tag naming it and its referrer entry. */
  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    const meta = await this.manifestMeta(repo, digest);
    if (!meta) return false;
    for (const tag of await this.tags(repo)) {
      if ((await this.resolveTag(repo, tag)) === digest) await rm(this.tagPath(repo, tag), { force: true });
    }
    const refDir = join(this.repoDir(repo), '_referrers');
    for (const subject of await readdirOrEmpty(refDir)) {
      await rm(join(refDir, subject, hex(digest)), { force: true });
    }
    await rm(this.revisionPath(repo, digest), { force: true });
    return true;
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    try {
      await unlink(this.tagPath(repo, tag));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async repoExists(repo: string): Promise<boolean> {
    const d = this.repoDir(repo);
    return (
      (await RegistryStorage.exists(join(d, '_manifests'))) ||
      (await RegistryStorage.exists(join(d, '_layers')))
    );
  }

  async tags(repo: string): Promise<string[]> {
    return (await readdirOrEmpty(join(this.repoDir(repo), '_manifests', 'tags'))).sort();
  }

  async referrers(repo: string, subject: string): Promise<Descriptor[]> {
    const dir = join(this.repoDir(repo), '_referrers', hex(subject));
    const out: Descriptor[] = [];
    for (const f of (await readdirOrEmpty(dir)).sort()) {
      try {
        out.push(JSON.parse(await readFile(join(dir, f), 'utf8')) as Descriptor);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    return out;
  }

  /** Every repository name, sorted. */
  async repositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string) => {
      const entries = await readdirOrEmpty(dir, true);
      if (entries.includes('_manifests') || entries.includes('_layers')) out.push(prefix);
      for (const e of entries) {
        if (!e.startsWith('_')) await walk(join(dir, e), prefix ? `${prefix}/${e}` : e);
      }
    };
    await walk(this.reposDir, '');
    return out.filter((n) => n !== '').sort();
  }

  /** Digests of every manifest revision in a repository. */
  async revisions(repo: string): Promise<string[]> {
    return (await readdirOrEmpty(join(this.repoDir(repo), '_manifests', 'revisions')))
      .filter((f) => /^[a-f0-9]{64}$/.test(f))
      .map((f) => `sha256:${f}`);
  }

  async linkedBlobs(repo: string): Promise<string[]> {
    return (await readdirOrEmpty(join(this.repoDir(repo), '_layers')))
      .filter((f) => /^[a-f0-9]{64}$/.test(f))
      .map((f) => `sha256:${f}`);
  }
}

async function readdirOrEmpty(dir: string, dirsOnly = false): Promise<string[]> {
  try {
    if (!dirsOnly) return await readdir(dir);
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}
