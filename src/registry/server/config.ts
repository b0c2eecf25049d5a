import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { BerthError } from '../../util/errors.ts';
import { parseBytes, parseDuration } from '../../util/units.ts';
import { ACTIONS, type AccessRule, type Action, type AuthConfig } from './auth.ts';

/**
 * Settings of `berth registry serve`. The YAML file (`--config`) uses these keys, all optional;
 * command-line flags override it:
 *
 *   addr: 127.0.0.1:5000
 *   root: /var/lib/berth/registry
 *   log: { level: info }                  # error | warn | info (one line per request) | debug
 *   readOnly: false                       # refuse every write (405 UNSUPPORTED)
 *   delete: { enabled: false }            # allow DELETE of manifests, tags and blobs
 *   uploads: { expiry: 24h, purgeInterval: 10m }
 *   limits: { manifestSize: 4MiB }
 *   tls: { cert: /path/cert.pem, key: /path/key.pem }
 *   auth:
 *     htpasswd: /path/htpasswd            # bcrypt entries (htpasswd -B)
 *     anonymousRead: false                # requests without credentials may pull
 *     token:                              # Bearer tokens from the built-in /token endpoint
 *       realm: https://host:5000/token    # default: this server's /token
 *       service: berth-registry
 *       issuer: berth-registry
 *       key: /path/key.pem                # EC P-256 or RSA PEM; default: generated at start
 *       expiry: 5m
 *     access:                             # first match wins; unmatched is denied
 *       - { repository: "team/**", users: [alice, bob], actions: [pull, push, delete] }
 *       - { repository: "**", users: ["*"], actions: [pull] }
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export interface ServerConfig {
  addr: string;
  root: string;
  logLevel: LogLevel;
  readOnly: boolean;
  deleteEnabled: boolean;
  uploadExpiryMs: number;
  uploadPurgeIntervalMs: number;
  maxManifestBytes: number;
  tls?: { cert: string; key: string };
  auth: AuthConfig;
}

export function defaultConfig(root: string): ServerConfig {
  return {
    addr: '127.0.0.1:5000',
    root,
    logLevel: 'info',
    readOnly: false,
    deleteEnabled: false,
    uploadExpiryMs: 24 * 3600_000,
    uploadPurgeIntervalMs: 10 * 60_000,
    maxManifestBytes: 4 << 20,
    auth: { anonymousRead: false, access: [] },
  };
}

type Obj = Record<string, unknown>;

function fail(file: string, key: string, want: string): never {
  throw new BerthError(`registry config ${file}: ${key} must be ${want}`);
}

function obj(file: string, v: unknown, key: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail(file, key, 'a mapping');
  return v as Obj;
}

function str(file: string, v: unknown, key: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') fail(file, key, 'a non-empty string');
  return v;
}

function bool(file: string, v: unknown, key: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(file, key, 'true or false');
  return v;
}

function duration(file: string, v: unknown, key: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && v > 0) return v * 1000;
  try {
    const ms = parseDuration(String(v));
    if (ms > 0) return ms;
  } catch {
    // reported below
  }
  fail(file, key, 'a duration like 90s, 10m or 24h');
}

function bytes(file: string, v: unknown, key: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && v > 0) return v;
  try {
    const n = parseBytes(String(v).replace(/i?b$/i, ''));
    if (n > 0) return n;
  } catch {
    // reported below
  }
  fail(file, key, 'a size like 4MiB');
}

const KNOWN = ['addr', 'root', 'log', 'readOnly', 'delete', 'uploads', 'limits', 'tls', 'auth'];

/** Reads a YAML config file over the defaults. Unknown keys are errors, so a typo is not silently ignored. */
export function loadConfig(file: string, base: ServerConfig): ServerConfig {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BerthError(`cannot read registry config ${file}: ${(e as Error).message}`);
  }
  const top = obj(file, doc, 'the document');
  for (const k of Object.keys(top))
    if (!KNOWN.includes(k)) fail(file, k, `one of ${KNOWN.join(', ')} (unknown key)`);
  const c: ServerConfig = { ...base, auth: { ...base.auth } };
  c.addr = str(file, top.addr, 'addr') ?? c.addr;
  c.root = str(file, top.root, 'root') ?? c.root;
  const level = str(file, obj(file, top.log, 'log').level, 'log.level');
  if (level) {
    if (!LOG_LEVELS.includes(level as LogLevel)) fail(file, 'log.level', LOG_LEVELS.join(', '));
    c.logLevel = level as LogLevel;
  }
  c.readOnly = bool(file, top.readOnly, 'readOnly') ?? c.readOnly;
  c.deleteEnabled = bool(file, obj(file, top.delete, 'delete').enabled, 'delete.enabled') ?? c.deleteEnabled;
  const up = obj(file, top.uploads, 'uploads');
  c.uploadExpiryMs = duration(file, up.expiry, 'uploads.expiry') ?? c.uploadExpiryMs;
  c.uploadPurgeIntervalMs =
    duration(file, up.purgeInterval, 'uploads.purgeInterval') ?? c.uploadPurgeIntervalMs;
  c.maxManifestBytes =
    bytes(file, obj(file, top.limits, 'limits').manifestSize, 'limits.manifestSize') ?? c.maxManifestBytes;
  if (top.tls !== undefined) {
    const t = obj(file, top.tls, 'tls');
    const cert = str(file, t.cert, 'tls.cert');
    const key = str(file, t.key, 'tls.key');
    if (!cert || !key) fail(file, 'tls', 'a mapping with both cert and key');
    c.tls = { cert, key };
  }
  const a = obj(file, top.auth, 'auth');
  c.auth.htpasswd = str(file, a.htpasswd, 'auth.htpasswd') ?? c.auth.htpasswd;
  c.auth.anonymousRead = bool(file, a.anonymousRead, 'auth.anonymousRead') ?? c.auth.anonymousRead;
  if (a.token !== undefined) {
    const t = obj(file, a.token, 'auth.token');
    c.auth.token = {
      realm: str(file, t.realm, 'auth.token.realm'),
      service: str(file, t.service, 'auth.token.service') ?? 'berth-registry',
      issuer: str(file, t.issuer, 'auth.token.issuer') ?? 'berth-registry',
      key: str(file, t.key, 'auth.token.key'),
      expirySeconds: Math.round((duration(file, t.expiry, 'auth.token.expiry') ?? 300_000) / 1000),
    };
  }
  if (a.access !== undefined) {
    if (!Array.isArray(a.access)) fail(file, 'auth.access', 'a list of rules');
    c.auth.access = a.access.map((raw, i): AccessRule => {
      const r = obj(file, raw, `auth.access[${i}]`);
      const repository = str(file, r.repository, `auth.access[${i}].repository`) ?? '**';
      const list = (v: unknown, key: string): string[] => {
        if (v === undefined) return [];
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(file, key, 'a list of strings');
        return v as string[];
      };
      const users = list(r.users, `auth.access[${i}].users`);
      const actions = list(r.actions, `auth.access[${i}].actions`);
      for (const act of actions)
        if (!ACTIONS.includes(act as Action)) fail(file, `auth.access[${i}].actions`, ACTIONS.join(', '));
      return { repository, users, actions: actions as Action[] };
    });
  }
  return c;
}

/** `host:port`, `:port` or `port` → listen arguments. */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(/^\d+$/.test(addr) ? `:${addr}` : addr);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new BerthError(`invalid address "${addr}": want host:port, e.g. 127.0.0.1:5000`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
