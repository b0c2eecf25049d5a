import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { dbFile, type StorePaths } from './paths.ts';

export type Database = BetterSqlite3.Database;

const SCHEMA_VERSION = 2;

// Each statement is idempotent so concurrent first runs of `berth` cannot trip over each other.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS images (
  id TEXT PRIMARY KEY,          -- sha256:<config digest>
  manifest_digest TEXT NOT NULL,
  created TEXT NOT NULL,
  size INTEGER NOT NULL,
  config TEXT NOT NULL,         -- OCI image config JSON
  layers TEXT NOT NULL,         -- JSON array of {diffId, chainId, blob, mediaType, size}
  parent TEXT NOT NULL DEFAULT '',
  added TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
  name TEXT PRIMARY KEY,        -- normalised reference, e.g. docker.io/library/busybox:latest
  image_id TEXT NOT NULL REFERENCES images(id)
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS layers (
  chain_id TEXT PRIMARY KEY,
  diff_id TEXT NOT NULL,
  parent TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  image_id TEXT NOT NULL,
  image_ref TEXT NOT NULL,
  created TEXT NOT NULL,
  config TEXT NOT NULL,         -- ContainerConfig JSON
  state TEXT NOT NULL           -- ContainerState JSON
);
CREATE TABLE IF NOT EXISTS volumes (
  name TEXT PRIMARY KEY,
  driver TEXT NOT NULL,
  labels TEXT NOT NULL,
  options TEXT NOT NULL,
  anonymous INTEGER NOT NULL,
  created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS execs (
  id TEXT PRIMARY KEY,
  container_id TEXT NOT NULL,
  config TEXT NOT NULL,
  state TEXT NOT NULL
);
`;

let cached: { path: string; db: Database } | undefined;

/** Opens (once per process) the metadata database, creating the schema on first use. */
export function openDb(paths: StorePaths): Database {
  const file = dbFile(paths);
  if (cached?.path === file) return cached.db;
  mkdirSync(paths.root, { recursive: true, mode: 0o711 });
  // createRequire keeps the native addon off the ESM loader's path, which is measurably faster at start.
  const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  const db = new Sqlite(file, { timeout: 30_000 });
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version < SCHEMA_VERSION) {
    // WAL is a property of the database file: set once, it stays.
    db.pragma('journal_mode = WAL');
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }
  cached = { path: file, db };
  return db;
}

/** BEGIN IMMEDIATE takes the write lock up front, so read-then-write sequences cannot interleave. */
export function writeTx<T>(db: Database, fn: () => T): T {
  return db.transaction(fn).immediate();
}
