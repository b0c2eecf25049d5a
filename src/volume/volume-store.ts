import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from '../store/db.ts';
import type { StorePaths } from '../store/paths.ts';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../util/errors.ts';
import { MNT_DETACH, umount2 } from '../util/syscalls.ts';

export interface VolumeRecord {
  name: string;
  driver: 'local';
  labels: Record<string, string>;
  /** docker's local driver options: type, device, o. */
  options: Record<string, string>;
  anonymous: boolean;
  created: string;
}

interface Row {
  name: string;
  driver: string;
  labels: string;
  options: string;
  anonymous: number;
  created: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

function toRecord(r: Row): VolumeRecord {
  return {
    name: r.name,
    driver: 'local',
    labels: JSON.parse(r.labels) as Record<string, string>,
    options: JSON.parse(r.options) as Record<string, string>,
    anonymous: r.anonymous === 1,
    created: r.created,
  };
}

/** Named and anonymous volumes: metadata in SQLite, data in `<root>/volumes/<name>/_data`. */
export class VolumeStore {
  constructor(
    private readonly db: Database,
    private readonly paths: StorePaths,
  ) {}

  dir(name: string): string {
    return join(this.paths.root, 'volumes', name);
  }

  dataDir(name: string): string {
    return join(this.dir(name), '_data');
  }

  list(): VolumeRecord[] {
    return (this.db.prepare('SELECT * FROM volumes ORDER BY name').all() as Row[]).map(toRecord);
  }

  get(name: string): VolumeRecord | undefined {
    const r = this.db.prepare('SELECT * FROM volumes WHERE name = ?').get(name) as Row | undefined;
    return r && toRecord(r);
  }

  mustGet(name: string): VolumeRecord {
    const v = this.get(name);
    if (!v) throw new NotFoundError(`get ${name}: no such volume`);
    return v;
  }

  /** Creates the volume, or returns the existing one of that name (docker's create is idempotent). */
  create(
    name: string,
    o: { labels?: Record<string, string>; options?: Record<string, string>; anonymous?: boolean } = {},
  ): VolumeRecord {
    if (!NAME.test(name)) {
      throw new InvalidArgumentError(
        `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    }
    const existing = this.get(name);
    if (existing) return existing;
    const options = o.options ?? {};
    for (const k of Object.keys(options)) {
      if (!['type', 'device', 'o'].includes(k)) throw new InvalidArgumentError(`invalid option key: "${k}"`);
    }
    if (options.type && !options.device) throw new InvalidArgumentError('missing required option: "device"');
    const rec: VolumeRecord = {
      name,
      driver: 'local',
      labels: o.labels ?? {},
      options,
      anonymous: o.anonymous ?? false,
      created: new Date().toISOString(),
    };
    // The data directory is made under a temporary name first, so a half-made volume never shows.
    const tmp = `${this.dir(name)}.tmp-${process.pid}`;
    mkdirSync(join(tmp, '_data'), { recursive: true, mode: 0o755 });
    try {
      this.db
        .prepare(
          'INSERT INTO volumes (name, driver, labels, options, anonymous, created) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(
          name,
          'local',
          JSON.stringify(rec.labels),
          JSON.stringify(rec.options),
          rec.anonymous ? 1 : 0,
          rec.created,
        );
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      const again = this.get(name);
      if (again) return again;
      throw err;
    }
    if (existsSync(this.dir(name))) rmSync(tmp, { recursive: true, force: true });
    else renameSync(tmp, this.dir(name));
    return rec;
  }

  remove(name: string, usedBy: string[]): void {
    this.mustGet(name);
    if (usedBy.length > 0) {
      throw new ConflictError(`remove ${name}: volume is in use - [${usedBy.join(', ')}]`);
    }
    try {
      umount2(this.dataDir(name), MNT_DETACH);
    } catch {
      // not mounted: only tmpfs and bind-device volumes are
    }
    this.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
    rmSync(this.dir(name), { recursive: true, force: true });
  }

  isEmpty(name: string): boolean {
    try {
      return readdirSync(this.dataDir(name)).length === 0;
    } catch {
      return true;
    }
  }
}
