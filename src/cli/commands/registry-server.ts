import { join } from 'node:path';
import { collectGarbage } from '../../registry/server/gc.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { humanSize, parseDuration } from '../../util/units.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagString, type ParsedArgs } from '../flags.ts';
import type { Command } from '../registry.ts';

const serveSpec: CommandSpec = {
  name: 'registry serve',
  usage: 'berth registry serve [OPTIONS]',
  description: 'Run an OCI distribution (v1.1) registry in the foreground',
  interspersed: true,
  maxArgs: 0,
  flags: [
    { name: 'addr', kind: 'string', default: '127.0.0.1:5000', description: 'Address to listen on' },
    {
      name: 'root',
      kind: 'string',
      description: 'Directory holding the registry\'s content (default "<berth root>/registry")',
    },
    { name: 'config', kind: 'string', description: 'YAML configuration `file`; flags override it' },
    {
      name: 'htpasswd',
      kind: 'string',
      description: 'Require Basic auth against this bcrypt htpasswd `file`',
    },
    {
      name: 'auth',
      kind: 'string',
      description: 'Authentication `mode`: "none", "htpasswd" (Basic) or "token" (Bearer JWTs from /token)',
    },
    {
      name: 'anonymous-read',
      kind: 'bool',
      description: 'With auth on, let requests without credentials pull',
    },
    { name: 'read-only', kind: 'bool', description: 'Refuse every push and delete' },
    { name: 'delete', kind: 'bool', description: 'Allow deleting manifests, tags and blobs' },
    { name: 'tls-cert', kind: 'string', description: 'Serve HTTPS with this certificate `file` (PEM)' },
    { name: 'tls-key', kind: 'string', description: 'Private key `file` for --tls-cert (PEM)' },
    {
      name: 'token-key',
      kind: 'string',
      description: 'PEM `file` of the key signing tokens (default: generated)',
    },
    {
      name: 'upload-expiry',
      kind: 'string',
      description: 'Drop unfinished uploads idle this long (default 24h)',
    },
    {
      name: 'log-level',
      kind: 'string',
      description: '"error", "warn", "info" (one line per request, the default) or "debug"',
    },
  ],
};

async function serveConfig(ctx: Parameters<Command['run']>[0], p: ParsedArgs) {
  const { defaultConfig, loadConfig, LOG_LEVELS } = await import('../../registry/server/config.ts');
  let cfg = defaultConfig(join(ctx.paths.root, 'registry'));
  const file = flagString(p, serveSpec, 'config');
  if (file) cfg = loadConfig(file, cfg);
  const given = (n: string) => p.flags.has(n);
  if (given('addr') || !file) cfg.addr = flagString(p, serveSpec, 'addr')!;
  if (given('root')) cfg.root = flagString(p, serveSpec, 'root')!;
  if (given('read-only')) cfg.readOnly = flagBool(p, serveSpec, 'read-only');
  if (given('delete')) cfg.deleteEnabled = flagBool(p, serveSpec, 'delete');
  if (given('anonymous-read')) cfg.auth.anonymousRead = flagBool(p, serveSpec, 'anonymous-read');
  if (given('htpasswd')) cfg.auth.htpasswd = flagString(p, serveSpec, 'htpasswd');
  const level = flagString(p, serveSpec, 'log-level');
  if (level !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(level))
      throw new InvalidArgumentError(`invalid --log-level "${level}": want ${LOG_LEVELS.join(', ')}`);
    cfg.logLevel = level as typeof cfg.logLevel;
  }
  const expiry = flagString(p, serveSpec, 'upload-expiry');
  if (expiry !== undefined) {
    const ms = parseDuration(expiry);
    if (!(ms > 0))
      throw new InvalidArgumentError(`invalid --upload-expiry "${expiry}": want e.g. 30m or 24h`);
    cfg.uploadExpiryMs = ms;
    cfg.uploadPurgeIntervalMs = Math.min(cfg.uploadPurgeIntervalMs, Math.max(1000, ms / 2));
  }
  const mode = flagString(p, serveSpec, 'auth');
  if (mode === 'none') {
    cfg.auth.htpasswd = undefined;
    cfg.auth.token = undefined;
  } else if (mode === 'htpasswd') {
    if (!cfg.auth.htpasswd) throw new InvalidArgumentError('--auth htpasswd needs --htpasswd FILE');
    cfg.auth.token = undefined;
  } else if (mode === 'token') {
    cfg.auth.token ??= { service: 'berth-registry', issuer: 'berth-registry', expirySeconds: 300 };
  } else if (mode !== undefined) {
    throw new InvalidArgumentError(`invalid --auth "${mode}": want none, htpasswd or token`);
  }
  const tokenKey = flagString(p, serveSpec, 'token-key');
  if (tokenKey) {
    if (!cfg.auth.token) throw new InvalidArgumentError('--token-key needs --auth token');
    cfg.auth.token.key = tokenKey;
  }
  const cert = flagString(p, serveSpec, 'tls-cert');
  const key = flagString(p, serveSpec, 'tls-key');
  if (cert || key) {
    if (!cert || !key) throw new InvalidArgumentError('--tls-cert and --tls-key go together');
    cfg.tls = { cert, key };
  }
  return cfg;
}

export const registryServeCmd: Command = {
  spec: serveSpec,
  async run(ctx, p) {
    const cfg = await serveConfig(ctx, p);
    const { startRegistryServer } = await import('../../registry/server/server.ts');
    const srv = await startRegistryServer(cfg, (line) => ctx.err.write(`${line}\n`));
    const auth = cfg.auth.token ? 'token' : cfg.auth.htpasswd ? 'htpasswd' : 'none';
    if (cfg.logLevel !== 'error')
      ctx.err.write(`berth registry listening on ${srv.url} (root ${cfg.root}, auth ${auth})\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await srv.close();
    return 0;
  },
};

const gcSpec: CommandSpec = {
  name: 'registry gc',
  usage: 'berth registry gc [OPTIONS]',
  description: "Remove blobs no manifest of the registry's root references",
  interspersed: true,
  maxArgs: 0,
  flags: [
    {
      name: 'root',
      kind: 'string',
      description: 'Directory holding the registry\'s content (default "<berth root>/registry")',
    },
    { name: 'dry-run', short: 'n', kind: 'bool', description: 'Only print what would be removed' },
  ],
};

export const registryGcCmd: Command = {
  spec: gcSpec,
  async run(ctx, p) {
    const root = flagString(p, gcSpec, 'root') ?? join(ctx.paths.root, 'registry');
    const dryRun = flagBool(p, gcSpec, 'dry-run');
    const r = await collectGarbage(root, { dryRun });
    for (const d of r.removed) print(ctx, `${dryRun ? 'would remove' : 'removed'} ${d}`);
    print(
      ctx,
      `${r.removed.length} blob(s), ${humanSize(r.bytes)} ${dryRun ? 'would be freed' : 'freed'}; ${r.kept} kept`,
    );
    return 0;
  },
};
