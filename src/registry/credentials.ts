import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { BerthError } from '../util/errors.ts';

/**
 * Registry credentials in docker's `config.json`, so that a `docker login` works for Berth and the
 * other way round. Berth's default file is docker's own; `BERTH_CONFIG` (then `DOCKER_CONFIG`)
 * names the directory instead.
 */

export interface Credentials {
  username: string;
  password: string;
}

/** docker's key for Docker Hub in `auths`: the v1 index URL, for historical reasons. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

const HUB_NAMES = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
  'https://index.docker.io/v1/',
]);

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [k: string]: unknown;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BERTH_CONFIG || env.DOCKER_CONFIG || join(homedir(), '.docker');
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'config.json');
}

/**
 * The host a server address names, as docker's credentials.ConvertToHostname does
 * (`https://r.example/v2/` → `r.example`); Docker Hub's aliases all become `docker.io`.
 */
export function registryHostname(server: string): string {
  const trimmed = server.trim();
  if (HUB_NAMES.has(trimmed)) return 'docker.io';
  const host = trimmed
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
  return HUB_NAMES.has(host) ? 'docker.io' : host;
}

/** The key docker uses in `auths` for a registry. */
export function authKey(server: string): string {
  const host = registryHostname(server);
  return host === 'docker.io' ? DOCKER_HUB_KEY : host;
}

function readConfig(file = configPath()): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BerthError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (text.trim() === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as ConfigFile;
  } catch {
    // fall through to the error below
  }
  throw new BerthError(`${file} is not a JSON object; fix or remove it`);
}

/** Written next to the original and renamed over it, so a crash never leaves half a file. */
function writeConfig(cfg: ConfigFile, file = configPath()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(cfg, null, '\t')}\n`, { mode: 0o600 });
    // The mode given to writeFileSync is filtered by the umask; credentials must not be readable by others.
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new BerthError(`cannot write ${file}: ${(err as Error).message}`);
  }
}

/** The `auths` keys that may hold this registry's entry (docker accepts URLs with scheme and path). */
function matchingKeys(cfg: ConfigFile, server: string): string[] {
  const host = registryHostname(server);
  return Object.keys(cfg.auths ?? {}).filter((k) => registryHostname(k) === host);
}

function helperFor(cfg: ConfigFile, server: string): string | undefined {
  const host = registryHostname(server);
  for (const [k, v] of Object.entries(cfg.credHelpers ?? {})) if (registryHostname(k) === host) return v;
  return cfg.credsStore || undefined;
}

/** Runs `docker-credential-<helper> <action>`; undefined when the helper is missing or fails. */
function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): string | undefined {
  const r = spawnSync(`docker-credential-${helper}`, [action], { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout;
}

/** Stored credentials for a registry, or undefined when there are none. */
export function getCredentials(server: string): Credentials | undefined {
  const cfg = readConfig();
  const helper = helperFor(cfg, server);
  if (helper) {
    const out = runHelper(helper, 'get', authKey(server));
    if (out) {
      try {
        const { Username, Secret } = JSON.parse(out) as { Username?: string; Secret?: string };
        if (Username && Secret) return { username: Username, password: Secret };
      } catch {
        // an unreadable answer means no usable credentials
      }
    }
  }
  for (const key of [authKey(server), ...matchingKeys(cfg, server)]) {
    const entry = cfg.auths?.[key];
    if (!entry) continue;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/** Stores credentials, keeping everything else in the file as it was. */
export function storeCredentials(server: string, creds: Credentials): void {
  const cfg = readConfig();
  const key = authKey(server);
  const helper = helperFor(cfg, server);
  if (helper) {
    const input = JSON.stringify({ ServerURL: key, Username: creds.username, Secret: creds.password });
    if (runHelper(helper, 'store', input) === undefined) {
      throw new BerthError(
        `error storing credentials: docker-credential-${helper} failed; check the credential helper or remove "credsStore"/"credHelpers" from ${configPath()}`,
      );
    }
    cfg.auths = { ...cfg.auths, [key]: {} };
  } else {
    cfg.auths = {
      ...cfg.auths,
      [key]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') },
    };
  }
  writeConfig(cfg);
}

/** Removes a registry's credentials; false when there were none. */
export function removeCredentials(server: string): boolean {
  const cfg = readConfig();
  const keys = matchingKeys(cfg, server);
  // As in docker, being logged in means having an entry in `auths`, wherever the secret is kept.
  if (keys.length === 0) return false;
  const helper = helperFor(cfg, server);
  if (helper) runHelper(helper, 'erase', authKey(server));
  for (const k of keys) delete cfg.auths![k];
  writeConfig(cfg);
  return true;
}
