import type { Database } from '../store/db.ts';
import { writeTx } from '../store/db.ts';
import { ConflictError, NotFoundError } from '../util/errors.ts';
import type { Attachment, NetworkRecord, PortMapping } from './types.ts';

// Kept out of store/db.ts: the network module owns its tables. Each statement is idempotent.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS networks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  driver TEXT NOT NULL,
  subnet TEXT NOT NULL,
  gateway TEXT NOT NULL,
  ip_range TEXT NOT NULL DEFAULT '',
  internal INTEGER NOT NULL DEFAULT 0,
  labels TEXT NOT NULL DEFAULT '{}',
  options TEXT NOT NULL DEFAULT '{}',
  created TEXT NOT NULL,
  iface TEXT NOT NULL,
  dns_enabled INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS network_attachments (
  container_id TEXT NOT NULL,
  network_id TEXT NOT NULL REFERENCES networks(id),
  ip TEXT NOT NULL,
  mac TEXT NOT NULL DEFAULT '',
  aliases TEXT NOT NULL DEFAULT '[]',
  ifname TEXT NOT NULL,
  PRIMARY KEY (container_id, network_id),
  UNIQUE (network_id, ip)
);
CREATE TABLE IF NOT EXISTS container_ports (
  container_id TEXT PRIMARY KEY,
  ports TEXT NOT NULL           -- JSON PortMapping[], resolved at the first start
);
`;

interface NetworkRow {
  id: string;
  name: string;
  driver: string;
  subnet: string;
  gateway: string;
  ip_range: string;
  internal: number;
  labels: string;
  options: string;
  created: string;
  iface: string;
  dns_enabled: number;
}

interface AttachmentRow {
  container_id: string;
  network_id: string;
  ip: string;
  mac: string;
  aliases: string;
  ifname: string;
}

const ready = new WeakSet<Database>();

function toNetwork(r: NetworkRow): NetworkRecord {
  return {
    id: r.id,
    name: r.name,
    driver: 'bridge',
    subnet: r.subnet,
    gateway: r.gateway,
    ipRange: r.ip_range,
    internal: r.internal === 1,
    labels: JSON.parse(r.labels) as Record<string, string>,
    options: JSON.parse(r.options) as Record<string, string>,
    created: r.created,
    iface: r.iface,
    dnsEnabled: r.dns_enabled === 1,
  };
}

function toAttachment(r: AttachmentRow): Attachment {
  return {
    containerId: r.container_id,
    networkId: r.network_id,
    ip: r.ip,
    mac: r.mac,
    aliases: JSON.parse(r.aliases) as string[],
    ifname: r.ifname,
  };
}

/** Networks, container endpoints and published ports in the metadata database. */
export class NetworkStore {
  constructor(readonly db: Database) {
    if (!ready.has(db)) {
      db.exec(SCHEMA);
      ready.add(db);
    }
  }

  tx<T>(fn: () => T): T {
    return writeTx(this.db, fn);
  }

  list(): NetworkRecord[] {
    return (this.db.prepare('SELECT * FROM networks ORDER BY created').all() as NetworkRow[]).map(toNetwork);
  }

  get(id: string): NetworkRecord | undefined {
    const r = this.db.prepare('SELECT * FROM networks WHERE id = ?').get(id) as NetworkRow | undefined;
    return r && toNetwork(r);
  }

  /** By name, full ID or unique ID prefix, as docker resolves network references. */
  find(ref: string): NetworkRecord | undefined {
    const byName = this.db.prepare('SELECT * FROM networks WHERE name = ?').get(ref) as
      | NetworkRow
      | undefined;
    if (byName) return toNetwork(byName);
    if (!/^[0-9a-f]{1,64}$/.test(ref)) return undefined;
    const rows = this.db
      .prepare("SELECT * FROM networks WHERE id LIKE ? || '%' LIMIT 2")
      .all(ref) as NetworkRow[];
    if (rows.length > 1)
      throw new ConflictError(`network ${ref} is ambiguous (${rows.length} matches found)`);
    return rows[0] && toNetwork(rows[0]);
  }

  mustFind(ref: string): NetworkRecord {
    const n = this.find(ref);
    if (!n) throw new NotFoundError(`network ${ref} not found`);
    return n;
  }

  insert(n: NetworkRecord): void {
    this.db
      .prepare(
        `INSERT INTO networks (id, name, driver, subnet, gateway, ip_range, internal, labels, options, created, iface, dns_enabled)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        n.id,
        n.name,
        n.driver,
        n.subnet,
        n.gateway,
        n.ipRange,
        n.internal ? 1 : 0,
        JSON.stringify(n.labels),
        JSON.stringify(n.options),
        n.created,
        n.iface,
        n.dnsEnabled ? 1 : 0,
      );
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM networks WHERE id = ?').run(id);
  }

  attachments(containerId: string): Attachment[] {
    return (
      this.db
        .prepare('SELECT * FROM network_attachments WHERE container_id = ? ORDER BY ifname')
        .all(containerId) as AttachmentRow[]
    ).map(toAttachment);
  }

  attachmentsOf(networkId: string): Attachment[] {
    return (
      this.db
        .prepare('SELECT * FROM network_attachments WHERE network_id = ?')
        .all(networkId) as AttachmentRow[]
    ).map(toAttachment);
  }

  usedIps(networkId: string): Set<string> {
    const rows = this.db
      .prepare('SELECT ip FROM network_attachments WHERE network_id = ?')
      .all(networkId) as {
      ip: string;
    }[];
    return new Set(rows.map((r) => r.ip));
  }

  attach(a: Attachment): void {
    this.db
      .prepare(
        'INSERT INTO network_attachments (container_id, network_id, ip, mac, aliases, ifname) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(a.containerId, a.networkId, a.ip, a.mac, JSON.stringify(a.aliases), a.ifname);
  }

  setMac(containerId: string, networkId: string, mac: string): void {
    this.db
      .prepare('UPDATE network_attachments SET mac = ? WHERE container_id = ? AND network_id = ?')
      .run(mac, containerId, networkId);
  }

  detach(containerId: string, networkId: string): void {
    this.db
      .prepare('DELETE FROM network_attachments WHERE container_id = ? AND network_id = ?')
      .run(containerId, networkId);
  }

  ports(containerId: string): PortMapping[] | undefined {
    const r = this.db.prepare('SELECT ports FROM container_ports WHERE container_id = ?').get(containerId) as
      | { ports: string }
      | undefined;
    return r && (JSON.parse(r.ports) as PortMapping[]);
  }

  /** Every container's resolved ports, to keep host ports unique among Berth's containers. */
  allPorts(): { containerId: string; ports: PortMapping[] }[] {
    return (
      this.db.prepare('SELECT container_id, ports FROM container_ports').all() as {
        container_id: string;
        ports: string;
      }[]
    ).map((r) => ({ containerId: r.container_id, ports: JSON.parse(r.ports) as PortMapping[] }));
  }

  setPorts(containerId: string, ports: PortMapping[]): void {
    this.db
      .prepare('INSERT OR REPLACE INTO container_ports (container_id, ports) VALUES (?, ?)')
      .run(containerId, JSON.stringify(ports));
  }

  /** Forgets everything about a removed container. */
  forget(containerId: string): void {
    this.db.prepare('DELETE FROM network_attachments WHERE container_id = ?').run(containerId);
    this.db.prepare('DELETE FROM container_ports WHERE container_id = ?').run(containerId);
  }
}
