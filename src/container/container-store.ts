import type { Database } from '../store/db.ts';
import { writeTx } from '../store/db.ts';
import { ConflictError, NotFoundError } from '../util/errors.ts';
import type { ContainerConfig, ContainerRecord, ContainerState } from './types.ts';

interface Row {
  id: string;
  name: string;
  image_id: string;
  image_ref: string;
  created: string;
  config: string;
  state: string;
}

function toRecord(r: Row): ContainerRecord {
  return {
    id: r.id,
    name: r.name,
    imageId: r.image_id,
    imageRef: r.image_ref,
    created: r.created,
    config: JSON.parse(r.config) as ContainerConfig,
    state: JSON.parse(r.state) as ContainerState,
  };
}

/** Container metadata in SQLite. State changes go through `update`, which reads and writes in one transaction. */
export class ContainerStore {
  constructor(private readonly db: Database) {}

  list(): ContainerRecord[] {
    return (this.db.prepare('SELECT * FROM containers ORDER BY created DESC, rowid DESC').all() as Row[]).map(
      toRecord,
    );
  }

  get(id: string): ContainerRecord | undefined {
    const r = this.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as Row | undefined;
    return r && toRecord(r);
  }

  /** By full ID, exact name, or unique ID prefix, in docker's order. */
  find(ref: string): ContainerRecord | undefined {
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const byId = this.get(ref);
    if (byId) return byId;
    const byName = this.db.prepare('SELECT * FROM containers WHERE name = ?').get(name) as Row | undefined;
    if (byName) return toRecord(byName);
    if (/^[a-f0-9]+$/.test(ref)) {
      const rows = this.db
        .prepare("SELECT * FROM containers WHERE id LIKE ? || '%' LIMIT 2")
        .all(ref) as Row[];
      if (rows.length > 1) throw new ConflictError(`multiple containers match "${ref}": use more of the ID`);
      if (rows.length === 1) return toRecord(rows[0]!);
    }
    return undefined;
  }

  mustFind(ref: string): ContainerRecord {
    const c = this.find(ref);
    if (!c) throw new NotFoundError(`No such container: ${ref}`);
    return c;
  }

  insert(c: ContainerRecord): void {
    try {
      this.db
        .prepare(
          'INSERT INTO containers (id, name, image_id, image_ref, created, config, state) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          c.id,
          c.name,
          c.imageId,
          c.imageRef,
          c.created,
          JSON.stringify(c.config),
          JSON.stringify(c.state),
        );
    } catch (err) {
      if (err instanceof Error && /UNIQUE constraint failed: containers.name/.test(err.message)) {
        const other = this.find(c.name);
        throw new ConflictError(
          `Conflict. The container name "/${c.name}" is already in use by container "${other?.id ?? '?'}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      throw err;
    }
  }

  /** Applies `fn` to the current state inside a write transaction; returns the new record. */
  update(
    id: string,
    fn: (s: ContainerState, c: ContainerRecord) => ContainerState | undefined,
  ): ContainerRecord {
    return writeTx(this.db, () => {
      const c = this.get(id);
      if (!c) throw new NotFoundError(`No such container: ${id}`);
      const next = fn(structuredClone(c.state), c);
      if (next) {
        this.db.prepare('UPDATE containers SET state = ? WHERE id = ?').run(JSON.stringify(next), id);
        c.state = next;
      }
      return c;
    });
  }

  /** Applies `fn` to the current config inside a write transaction (e.g. `update`'s new limits). */
  updateConfig(id: string, fn: (c: ContainerRecord) => ContainerConfig): ContainerRecord {
    return writeTx(this.db, () => {
      const c = this.get(id);
      if (!c) throw new NotFoundError(`No such container: ${id}`);
      c.config = fn(c);
      this.db.prepare('UPDATE containers SET config = ? WHERE id = ?').run(JSON.stringify(c.config), id);
      return c;
    });
  }

  rename(id: string, name: string): void {
    try {
      this.db.prepare('UPDATE containers SET name = ? WHERE id = ?').run(name, id);
    } catch (err) {
      if (err instanceof Error && /UNIQUE/.test(err.message)) {
        throw new ConflictError(
          `Conflict. The container name "/${name}" is already in use. You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      throw err;
    }
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
  }

  usesImage(imageId: string): ContainerRecord[] {
    return (this.db.prepare('SELECT * FROM containers WHERE image_id = ?').all(imageId) as Row[]).map(
      toRecord,
    );
  }
}
