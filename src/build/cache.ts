import type { Database } from 'better-sqlite3';
import type { StoreContext } from '../engine/context.ts';

/**
 * The build cache: a step's cache key (its parent's key, the instruction as expanded, the
 * content digests of what it reads) → what the step produced. Layers live in the blob store like
 * any image's; a record only points at them. `created` is kept so that a rebuild from cache
 * writes the same history times, hence the same image ID.
 */
export interface CacheRecord {
  key: string;
  /** The layer's diff ID (its uncompressed blob's digest), '' for a step that adds no layer. */
  diffId: string;
  /** Unpacked size of the layer. */
  size: number;
  created: string;
  lastUsed: string;
  usageCount: number;
  description: string;
}

interface Row {
  key: string;
  diff_id: string;
  size: number;
  created: string;
  last_used: string;
  usage_count: number;
  description: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS build_cache (
  key TEXT PRIMARY KEY,
  diff_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  created TEXT NOT NULL,
  last_used TEXT NOT NULL,
  usage_count INTEGER NOT NULL,
  description TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS build_cache_diff ON build_cache(diff_id);
CREATE TABLE IF NOT EXISTS build_file_digests (
  path TEXT PRIMARY KEY,
  stamp TEXT NOT NULL,
  digest TEXT NOT NULL
);
`;

const ready = new WeakSet<Database>();

export function ensureCacheSchema(db: Database): void {
  if (ready.has(db)) return;
  db.exec(SCHEMA);
  ready.add(db);
}

function toRecord(r: Row): CacheRecord {
  return {
    key: r.key,
    diffId: r.diff_id,
    size: r.size,
    created: r.created,
    lastUsed: r.last_used,
    usageCount: r.usage_count,
    description: r.description,
  };
}

export class BuildCache {
  constructor(private readonly ctx: StoreContext) {
    ensureCacheSchema(ctx.db);
  }

  /** A hit only counts when its layer is still in the blob store: the cache is never trusted blindly. */
  get(key: string): CacheRecord | undefined {
    const row = this.ctx.db.prepare('SELECT * FROM build_cache WHERE key = ?').get(key) as Row | undefined;
    if (!row) return undefined;
    if (row.diff_id && !this.ctx.blobs.has(row.diff_id)) {
      this.ctx.db.prepare('DELETE FROM build_cache WHERE key = ?').run(key);
      return undefined;
    }
    return toRecord(row);
  }

  touch(key: string): void {
    this.ctx.db
      .prepare('UPDATE build_cache SET last_used = ?, usage_count = usage_count + 1 WHERE key = ?')
      .run(new Date().toISOString(), key);
  }

  put(r: Omit<CacheRecord, 'lastUsed' | 'usageCount'>): void {
    this.ctx.db
      .prepare(
        `INSERT INTO build_cache (key, diff_id, size, created, last_used, usage_count, description)
         VALUES (?, ?, ?, ?, ?, 1, ?)
         ON CONFLICT(key) DO UPDATE SET last_used = excluded.last_used, usage_count = usage_count + 1`,
      )
      .run(r.key, r.diffId, r.size, r.created, new Date().toISOString(), r.description);
  }

  all(): CacheRecord[] {
    return (this.ctx.db.prepare('SELECT * FROM build_cache ORDER BY last_used DESC').all() as Row[]).map(
      toRecord,
    );
  }

  delete(keys: string[]): void {
    const del = this.ctx.db.prepare('DELETE FROM build_cache WHERE key = ?');
    this.ctx.db.transaction(() => {
      for (const k of keys) del.run(k);
    })();
  }

  /** Layer blobs some cache record still points at (image removal must leave them). */
  referencedBlobs(): Set<string> {
    const rows = this.ctx.db
      .prepare("SELECT DISTINCT diff_id FROM build_cache WHERE diff_id != ''")
      .all() as {
      diff_id: string;
    }[];
    return new Set(rows.map((r) => r.diff_id));
  }
}

/** Blobs the build cache points at, for code outside the builder that deletes blobs. */
export function buildCacheBlobs(ctx: StoreContext): Set<string> {
  const t = ctx.db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'build_cache'")
    .get();
  if (!t) return new Set();
  return new BuildCache(ctx).referencedBlobs();
}
