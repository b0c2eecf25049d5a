import type { Database } from '../store/db.ts';
import { writeTx } from '../store/db.ts';
import { ConflictError, NotFoundError } from '../util/errors.ts';
import { canonicalName, parseReference } from './reference.ts';
import type { ImageConfig, ImageRecord, LayerRecord } from './types.ts';

interface ImageRow {
  id: string;
  manifest_digest: string;
  created: string;
  size: number;
  config: string;
  layers: string;
  parent: string;
  added: string;
}

/** Image metadata in SQLite: images, their tags, and the layers they reference. */
export class ImageStore {
  constructor(private readonly db: Database) {}

  private toRecord(row: ImageRow): ImageRecord {
    const tags = this.db
      .prepare('SELECT name FROM tags WHERE image_id = ? ORDER BY name')
      .pluck()
      .all(row.id) as string[];
    return {
      id: row.id,
      manifestDigest: row.manifest_digest,
      created: row.created,
      size: row.size,
      config: JSON.parse(row.config) as ImageConfig,
      layers: JSON.parse(row.layers) as LayerRecord[],
      parent: row.parent,
      added: row.added,
      tags,
    };
  }

  list(): ImageRecord[] {
    const rows = this.db.prepare('SELECT * FROM images ORDER BY added DESC').all() as ImageRow[];
    return rows.map((r) => this.toRecord(r));
  }

  get(id: string): ImageRecord | undefined {
    const row = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return row && this.toRecord(row);
  }

  /** Finds an image by name[:tag], name@digest, full ID or a unique ID prefix, as docker does. */
  find(nameOrId: string): ImageRecord | undefined {
    const hex = nameOrId.replace(/^sha256:/, '');
    if (/^[a-f0-9]{64}$/.test(hex)) {
      const byId = this.get(`sha256:${hex}`);
      if (byId) return byId;
    }
    let ref: ReturnType<typeof parseReference> | undefined;
    try {
      ref = parseReference(nameOrId);
    } catch {
      ref = undefined;
    }
    if (ref) {
      if (ref.digest) {
        const row = this.db.prepare('SELECT * FROM images WHERE manifest_digest = ?').get(ref.digest) as
          | ImageRow
          | undefined;
        // A digest names content in one repository: `other@<digest>` must not find it under any name.
        const sameRepo = (t: string) => {
          const r = parseReference(t);
          return r.domain === ref!.domain && r.path === ref!.path;
        };
        if (row && this.tagsOf(row.id).some(sameRepo)) return this.toRecord(row);
      }
      const id = this.db
        .prepare('SELECT image_id FROM tags WHERE name = ?')
        .pluck()
        .get(canonicalName(ref)) as string | undefined;
      if (id) return this.get(id);
    }
    if (/^[a-f0-9]{1,63}$/.test(hex) && (hex.length >= 4 || !ref)) {
      const rows = this.db
        .prepare("SELECT * FROM images WHERE id LIKE ? || '%' LIMIT 2")
        .all(`sha256:${hex}`) as ImageRow[];
      if (rows.length === 1) return this.toRecord(rows[0]!);
    }
    return undefined;
  }

  mustFind(nameOrId: string): ImageRecord {
    const img = this.find(nameOrId);
    if (!img) throw new NotFoundError(`No such image: ${nameOrId}`);
    return img;
  }

  /** Records an image and points `tags` at it (moving them from any other image). */
  put(img: Omit<ImageRecord, 'tags'>, tags: string[]): void {
    writeTx(this.db, () => {
      this.db
        .prepare(
          `INSERT INTO images (id, manifest_digest, created, size, config, layers, parent, added)
           VALUES (@id, @manifestDigest, @created, @size, @config, @layers, @parent, @added)
           ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest, layers = excluded.layers`,
        )
        .run({
          ...img,
          config: JSON.stringify(img.config),
          layers: JSON.stringify(img.layers),
        });
      const addLayer = this.db.prepare(
        'INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size) VALUES (?, ?, ?, ?)',
      );
      let parent = '';
      for (const l of img.layers) {
        addLayer.run(l.chainId, l.diffId, parent, l.size);
        parent = l.chainId;
      }
      for (const t of tags) this.tag(img.id, t);
    });
  }

  tag(imageId: string, canonical: string): void {
    this.db
      .prepare(
        'INSERT INTO tags (name, image_id) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id',
      )
      .run(canonical, imageId);
  }

  untag(canonical: string): boolean {
    return this.db.prepare('DELETE FROM tags WHERE name = ?').run(canonical).changes > 0;
  }

  tagsOf(imageId: string): string[] {
    return this.db
      .prepare('SELECT name FROM tags WHERE image_id = ? ORDER BY name')
      .pluck()
      .all(imageId) as string[];
  }

  /** Deletes the image row; returns the chain IDs no other image uses any more. */
  delete(imageId: string): string[] {
    return writeTx(this.db, () => {
      const img = this.get(imageId);
      if (!img) throw new NotFoundError(`No such image: ${imageId}`);
      if (this.tagsOf(imageId).length > 0) throw new ConflictError(`image ${imageId} still has tags`);
      this.db.prepare('DELETE FROM images WHERE id = ?').run(imageId);
      const used = new Set<string>();
      for (const other of this.list()) for (const l of other.layers) used.add(l.chainId);
      const orphans = img.layers.map((l) => l.chainId).filter((c) => !used.has(c));
      const del = this.db.prepare('DELETE FROM layers WHERE chain_id = ?');
      for (const c of orphans) del.run(c);
      return orphans;
    });
  }

  /** Images whose layers extend `img`'s (docker's notion of children). */
  children(img: ImageRecord): ImageRecord[] {
    return this.list().filter((o) => o.parent === img.id);
  }
}
