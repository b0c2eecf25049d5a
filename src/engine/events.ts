import type { Database } from '../store/db.ts';
import { InvalidArgumentError } from '../util/errors.ts';
import { parseTimestamp } from '../util/units.ts';
import type { Filters } from './engine.ts';

/** docker's events.Message, as `GET /events` streams it and `docker events --format` reads it. */
export interface EventMessage {
  status?: string;
  id?: string;
  from?: string;
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

export type EventType = 'container' | 'image' | 'volume' | 'network' | 'daemon' | 'builder';

export interface EventQuery {
  /** docker's `--since` / `--until` values (durations, RFC 3339, Unix seconds). */
  since?: string;
  until?: string;
  filters: Filters;
}

/** How many events the log keeps: older ones are dropped as new ones arrive. */
const KEEP = 10_000;
/** How often a following reader looks for new events. */
const POLL_MS = 100;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_nano TEXT NOT NULL,      -- decimal nanoseconds since the epoch (beyond a double's precision)
  time_ms INTEGER NOT NULL,
  type TEXT NOT NULL,
  action TEXT NOT NULL,
  actor_id TEXT NOT NULL,
  attributes TEXT NOT NULL      -- JSON object
);
CREATE INDEX IF NOT EXISTS events_time ON events(time_ms);
CREATE INDEX IF NOT EXISTS events_actor ON events(actor_id);
`;

const ready = new WeakSet<Database>();

/**
 * The event log lives in the store database, so every berth process (the CLI, conmon's exit
 * command, `berth serve`) writes to it and any of them can read it. The table is made on first use.
 */
function events(db: Database): Database {
  if (!ready.has(db)) {
    db.exec(SCHEMA);
    ready.add(db);
  }
  return db;
}

let inserts = 0;

function nowNano(): string {
  const ms = Date.now();
  const sub = Number(process.hrtime.bigint() % 1_000_000n);
  return `${ms}${String(sub).padStart(6, '0')}`;
}

/**
 * Appends one event. Never throws: a busy or read-only database must not fail the operation the
 * event describes.
 */
export function recordEvent(
  db: Database,
  type: EventType,
  action: string,
  actorId: string,
  attributes: Record<string, string> = {},
): void {
  try {
    const nano = nowNano();
    const d = events(db);
    d.prepare(
      'INSERT INTO events (time_nano, time_ms, type, action, actor_id, attributes) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(nano, Number(nano.slice(0, -6)), type, action, actorId, JSON.stringify(attributes));
    if (++inserts % 100 === 0) {
      d.prepare('DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?').run(KEEP);
    }
  } catch {
    // the event log is best effort
  }
}

/** The exit code of a container's last `die` event, for a container already removed (`--rm`). */
export function lastExitCode(db: Database, id: string): number | undefined {
  try {
    const r = events(db)
      .prepare("SELECT attributes FROM events WHERE actor_id = ? AND action = 'die' ORDER BY id DESC LIMIT 1")
      .get(id) as { attributes: string } | undefined;
    if (!r) return undefined;
    const code = Number((JSON.parse(r.attributes) as Record<string, string>).exitCode);
    return Number.isInteger(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** A container event's actor attributes: docker adds the image, the name and the labels. */
export function containerAttributes(
  c: { name: string; config: { image: string; labels: Record<string, string> } },
  extra: Record<string, string> = {},
): Record<string, string> {
  return { ...c.config.labels, image: c.config.image, name: c.name, ...extra };
}

/** docker's `volume mount`/`unmount` events: one per named or anonymous volume of a container. */
export function recordVolumeEvents(
  db: Database,
  c: {
    id: string;
    config: {
      host: {
        mounts: { type: string; source: string; target: string; readonly: boolean; propagation?: string }[];
      };
    };
  },
  action: 'mount' | 'unmount',
): void {
  for (const m of c.config.host.mounts) {
    if (m.type !== 'volume' || !m.source) continue;
    const attrs: Record<string, string> =
      action === 'mount'
        ? {
            container: c.id,
            destination: m.target,
            driver: 'local',
            propagation: m.propagation ?? '',
            'read/write': String(!m.readonly),
          }
        : { container: c.id, driver: 'local' };
    recordEvent(db, 'volume', action, m.source, attrs);
  }
}

interface Row {
  id: number;
  time_nano: string;
  time_ms: number;
  type: string;
  action: string;
  actor_id: string;
  attributes: string;
}

function toMessage(r: Row): EventMessage {
  const attrs = JSON.parse(r.attributes) as Record<string, string>;
  const m: EventMessage = {
    Type: r.type as EventType,
    Action: r.action,
    Actor: { ID: r.actor_id, Attributes: attrs },
    scope: 'local',
    time: Math.floor(r.time_ms / 1000),
    timeNano: Number(r.time_nano),
  };
  // docker still fills the pre-1.22 fields for containers and images.
  if (r.type === 'container' || r.type === 'image') {
    return { status: r.action, id: r.actor_id, ...(attrs.image ? { from: attrs.image } : {}), ...m };
  }
  return m;
}

const FILTER_KEYS = ['type', 'container', 'image', 'event', 'label', 'network', 'volume', 'daemon', 'scope'];

/** docker's FuzzyMatch: no filter matches all; otherwise an exact value or a prefix of the source. */
function fuzzy(f: Filters, key: string, ...sources: (string | undefined)[]): boolean {
  const want = f[key];
  if (!want) return true;
  return sources.some((s) => s !== undefined && s !== '' && want.some((w) => s === w || s.startsWith(w)));
}

function exact(f: Filters, key: string, ...sources: (string | undefined)[]): boolean {
  const want = f[key];
  if (!want) return true;
  return sources.some((s) => s !== undefined && want.includes(s));
}

function stripTag(image: string): string {
  const at = image.indexOf('@');
  if (at >= 0) return image.slice(0, at);
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? image.slice(0, colon) : image;
}

/** Whether an event passes docker's event filters (keys AND, values of one key OR). */
export function eventMatches(m: EventMessage, f: Filters): boolean {
  const a = m.Actor.Attributes;
  const fuzzyOfType = (type: EventType) =>
    !f[type] || (m.Type === type && fuzzy(f, type, m.Actor.ID, a.name));
  const imageName = m.Type === 'image' ? a.name : a.image;
  return (
    exact(f, 'type', m.Type) &&
    exact(f, 'scope', m.scope) &&
    exact(f, 'event', m.Action.split(':')[0]) &&
    fuzzyOfType('container') &&
    fuzzyOfType('volume') &&
    fuzzyOfType('network') &&
    (!f.daemon || m.Type === 'daemon') &&
    (!f.image ||
      exact(f, 'image', m.Actor.ID, imageName, stripTag(m.Actor.ID), imageName && stripTag(imageName))) &&
    (!f.label ||
      f.label.every((l) => {
        const eq = l.indexOf('=');
        return eq < 0 ? l in a : a[l.slice(0, eq)] === l.slice(eq + 1);
      }))
  );
}

export function validateEventFilters(f: Filters): void {
  for (const k of Object.keys(f)) {
    if (!FILTER_KEYS.includes(k)) throw new InvalidArgumentError(`invalid filter '${k}'`);
  }
}

/**
 * Past events from `since` (none without it), then, unless `until` is given and passed, new ones as
 * they are written, until `signal` aborts.
 */
export async function* readEvents(
  db: Database,
  q: EventQuery,
  signal?: AbortSignal,
): AsyncGenerator<EventMessage> {
  validateEventFilters(q.filters);
  const now = Date.now();
  const sinceMs = q.since ? parseTimestamp(q.since, now) : undefined;
  const untilMs = q.until ? parseTimestamp(q.until, now) : undefined;
  if (sinceMs !== undefined && untilMs !== undefined && untilMs < sinceMs)
    throw new InvalidArgumentError('`since` time is after `until`');
  const d = events(db);
  let last = (d.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM events').get() as { id: number }).id;
  if (sinceMs !== undefined) {
    const past = d
      .prepare('SELECT * FROM events WHERE time_ms >= ? AND id <= ? ORDER BY id')
      .all(sinceMs, last) as Row[];
    for (const r of past) {
      if (untilMs !== undefined && r.time_ms > untilMs) return;
      const m = toMessage(r);
      if (eventMatches(m, q.filters)) yield m;
    }
  }
  const next = d.prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT 500');
  for (;;) {
    if (signal?.aborted) return;
    if (untilMs !== undefined && Date.now() > untilMs) {
      // one last look, so events written up to `until` are not lost to the poll interval
      for (const r of next.all(last) as Row[]) {
        if (r.time_ms > untilMs) return;
        const m = toMessage(r);
        if (eventMatches(m, q.filters)) yield m;
      }
      return;
    }
    const rows = next.all(last) as Row[];
    for (const r of rows) {
      last = r.id;
      if (untilMs !== undefined && r.time_ms > untilMs) return;
      const m = toMessage(r);
      if (eventMatches(m, q.filters)) yield m;
    }
    if (rows.length === 0) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(t);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        const t = setTimeout(wake, POLL_MS);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }
}
