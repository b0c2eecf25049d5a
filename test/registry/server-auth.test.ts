import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import type { AuthConfig } from '../../src/registry/server/auth.ts';
import { defaultConfig, loadConfig, parseAddr, type ServerConfig } from '../../src/registry/server/config.ts';
import { type RegistryServer, startRegistryServer } from '../../src/registry/server/server.ts';

/** Basic (htpasswd) and Bearer token auth, access rules, anonymous reads, TLS, and the config file. */

const scratch = mkdtempSync(join(tmpdir(), 'berth-regauth-'));
const servers: RegistryServer[] = [];
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const htpasswd = join(scratch, 'htpasswd');
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

before(() => {
  const lines = [
    ['alice', 'alice-pw'],
    ['bob', 'bob-pw'],
  ].map(([u, p]) => execFileSync('htpasswd', ['-nbB', '-C', '4', u!, p!], { encoding: 'utf8' }).trim());
  writeFileSync(htpasswd, `${lines.join('\n')}\n`);
});

after(async () => {
  for (const s of servers) await s.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function serve(auth: Partial<AuthConfig>, over: Partial<ServerConfig> = {}): Promise<RegistryServer> {
  const root = mkdtempSync(join(scratch, 'root-'));
  const base = defaultConfig(root);
  const cfg: ServerConfig = {
    ...base,
    addr: '127.0.0.1:0',
    logLevel: 'error',
    ...over,
    auth: { ...base.auth, ...auth },
  };
  const s = await startRegistryServer(cfg, () => {});
  servers.push(s);
  return s;
}

/** Pushes one blob monolithically with the given Authorization header; returns the status. */
async function pushBlob(url: string, repo: string, authz?: string): Promise<number> {
  const data = Buffer.from(`blob for ${repo}`);
  const headers: Record<string, string> = authz ? { Authorization: authz } : {};
  const r = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, {
    method: 'POST',
    headers,
    body: data,
  });
  await r.arrayBuffer();
  return r.status;
}

async function headBlob(url: string, repo: string, authz?: string): Promise<number> {
  const data = Buffer.from(`blob for ${repo}`);
  const r = await fetch(`${url}/v2/${repo}/blobs/${sha256(data)}`, {
    method: 'HEAD',
    headers: authz ? { Authorization: authz } : {},
  });
  return r.status;
}

describe('htpasswd', () => {
  test('no or wrong credentials: 401 with a Basic challenge; right ones push and pull', async () => {
    const s = await serve({ htpasswd });
    const ping = await fetch(`${s.url}/v2/`);
    assert.equal(ping.status, 401);
    assert.match(ping.headers.get('www-authenticate')!, /^Basic realm="/);
    assert.equal(
      ((await ping.json()) as { errors: Array<{ code: string }> }).errors[0]!.code,
      'UNAUTHORIZED',
    );
    assert.equal(await pushBlob(s.url, 'a/x'), 401);
    assert.equal(await pushBlob(s.url, 'a/x', basic('alice', 'wrong')), 401);
    assert.equal(await pushBlob(s.url, 'a/x', basic('mallory', 'alice-pw')), 401);
    assert.equal(
      (await fetch(`${s.url}/v2/`, { headers: { Authorization: basic('alice', 'alice-pw') } })).status,
      200,
    );
    assert.equal(await pushBlob(s.url, 'a/x', basic('alice', 'alice-pw')), 201);
    assert.equal(await headBlob(s.url, 'a/x', basic('bob', 'bob-pw')), 200);
    assert.equal(await headBlob(s.url, 'a/x'), 401, 'no anonymous reads unless enabled');
    assert.equal(await headBlob(s.url, 'a/x', basic('', '')), 401, 'an empty user is anonymous');
  });

  test('anonymous read-only: pulls without credentials, pushes need them', async () => {
    const s = await serve({ htpasswd, anonymousRead: true });
    assert.equal(await pushBlob(s.url, 'pub/x', basic('alice', 'alice-pw')), 201);
    assert.equal(await headBlob(s.url, 'pub/x'), 200);
    assert.equal(await headBlob(s.url, 'pub/x', basic('', '')), 200);
    assert.equal(await pushBlob(s.url, 'pub/y'), 401);
    assert.equal((await fetch(`${s.url}/v2/_catalog`)).status, 200);
  });

  test('access rules: first match decides; a user without the right gets 403 DENIED', async () => {
    const s = await serve({
      htpasswd,
      access: [
        { repository: 'alice/**', users: ['alice'], actions: ['pull', 'push'] },
        { repository: 'shared/*', users: ['*'], actions: ['pull', 'push'] },
        { repository: '**', users: ['*'], actions: ['pull'] },
      ],
    });
    const alice = basic('alice', 'alice-pw');
    const bob = basic('bob', 'bob-pw');
    assert.equal(await pushBlob(s.url, 'alice/deep/repo', alice), 201);
    const denied = await fetch(`${s.url}/v2/alice/deep/repo/blobs/uploads/`, {
      method: 'POST',
      headers: { Authorization: bob },
    });
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'DENIED');
    assert.equal(await headBlob(s.url, 'alice/deep/repo', bob), 200, 'the catch-all rule lets bob pull');
    assert.equal(await pushBlob(s.url, 'shared/one', bob), 201);
    assert.equal(await pushBlob(s.url, 'shared/one/two', bob), 403, '* stays within one component');
  });

  test('read-only registry and TLS', async () => {
    const key = join(scratch, 'key.pem');
    const cert = join(scratch, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const s = await serve({ htpasswd }, { readOnly: true, tls: { cert, key } });
    assert.match(s.url, /^https:\/\//);
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
    const { fetch: ufetch } = await import('undici');
    const r = await ufetch(`${s.url}/v2/`, {
      dispatcher,
      headers: { Authorization: basic('alice', 'alice-pw') },
    });
    assert.equal(r.status, 200);
    const w = await ufetch(`${s.url}/v2/ro/blobs/uploads/`, {
      dispatcher,
      method: 'POST',
      headers: { Authorization: basic('alice', 'alice-pw') },
    });
    assert.equal(w.status, 405);
    assert.equal(((await w.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'UNSUPPORTED');
    await assert.rejects(fetch(`${s.url}/v2/`), 'an untrusted certificate is refused by default');
    await dispatcher.close();
  });
});

describe('token', () => {
  let s: RegistryServer;
  before(async () => {
    s = await serve({
      htpasswd,
      anonymousRead: true,
      token: { service: 'test-registry', issuer: 'test-issuer', expirySeconds: 60 },
      access: [
        { repository: 'team/**', users: ['alice'], actions: ['pull', 'push', 'delete'] },
        { repository: '**', users: ['*'], actions: ['pull'] },
      ],
    });
  });

  const challenge = (h: string | null) =>
    Object.fromEntries([...(h ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));

  async function token(scope: string, authz?: string): Promise<{ status: number; token?: string }> {
    const r = await fetch(`${s.url}/token?service=test-registry&scope=${encodeURIComponent(scope)}`, {
      headers: authz ? { Authorization: authz } : {},
    });
    if (r.status !== 200) return { status: r.status };
    const j = (await r.json()) as { token: string; access_token: string; expires_in: number };
    assert.equal(j.token, j.access_token);
    assert.equal(j.expires_in, 60);
    return { status: 200, token: j.token };
  }

  test('the challenge names realm, service and scope, like Docker Hub', async () => {
    const r = await fetch(`${s.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(r.status, 401);
    const c = challenge(r.headers.get('www-authenticate'));
    assert.match(r.headers.get('www-authenticate')!, /^Bearer /);
    assert.equal(c.realm, `${s.url}/token`);
    assert.equal(c.service, 'test-registry');
    assert.equal(c.scope, 'repository:team/app:pull,push');
    assert.equal((await fetch(`${s.url}/v2/`)).status, 401);
  });

  test('a token from credentials pushes; its scope is checked; anonymous tokens only pull', async () => {
    const t = await token('repository:team/app:pull,push', basic('alice', 'alice-pw'));
    assert.equal(t.status, 200);
    const [, payload] = t.token!.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as {
      sub: string;
      aud: string;
      iss: string;
      exp: number;
      access: Array<{ type: string; name: string; actions: string[] }>;
    };
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'test-registry');
    assert.equal(claims.iss, 'test-issuer');
    assert.ok(claims.exp > Date.now() / 1000 && claims.exp <= Date.now() / 1000 + 61);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    assert.equal(await pushBlob(s.url, 'team/app', `Bearer ${t.token}`), 201);
    assert.equal(
      (await fetch(`${s.url}/v2/`, { headers: { Authorization: `Bearer ${t.token}` } })).status,
      200,
    );

    // the token covers team/app only
    const other = await fetch(`${s.url}/v2/team/other/blobs/uploads/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${t.token}` },
    });
    assert.equal(other.status, 401);
    assert.equal(challenge(other.headers.get('www-authenticate')).error, 'insufficient_scope');

    // bob may only pull: his token holds no push, so a push is refused
    const bob = await token('repository:team/app:pull,push', basic('bob', 'bob-pw'));
    assert.equal(await pushBlob(s.url, 'team/app2', `Bearer ${bob.token}`), 401);
    assert.equal(await headBlob(s.url, 'team/app', `Bearer ${bob.token}`), 200);

    const anon = await token('repository:team/app:pull,push');
    assert.equal(anon.status, 200);
    assert.equal(await headBlob(s.url, 'team/app', `Bearer ${anon.token}`), 200);
    assert.equal(await pushBlob(s.url, 'team/app', `Bearer ${anon.token}`), 401);

    assert.equal((await token('repository:team/app:pull', basic('alice', 'nope'))).status, 401);
  });

  test('forged, tampered or foreign tokens are refused', async () => {
    const t = (await token('repository:team/app:pull,push', basic('alice', 'alice-pw'))).token!;
    const [h, p, sig] = t.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as { access: Array<{ name: string }> };
    claims.access[0]!.name = 'team/stolen';
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    assert.equal(await pushBlob(s.url, 'team/stolen', `Bearer ${tampered}`), 401);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    assert.equal(await pushBlob(s.url, 'team/app', `Bearer ${none}`), 401);
    // a token of another server instance (another key)
    const s2 = await serve({
      htpasswd,
      token: { service: 'test-registry', issuer: 'test-issuer', expirySeconds: 60 },
    });
    const r = await fetch(`${s2.url}/v2/team/app/blobs/uploads/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${t}` },
    });
    assert.equal(r.status, 401);
  });
});

describe('config file', () => {
  test('YAML keys map onto the settings; unknown keys and bad values are errors', () => {
    const f = join(scratch, 'config.yml');
    writeFileSync(
      f,
      `addr: 127.0.0.1:5999
root: /srv/reg
log: {level: warn}
delete: {enabled: true}
uploads: {expiry: 2h}
limits: {manifestSize: 1MiB}
auth:
  htpasswd: /etc/reg/htpasswd
  anonymousRead: true
  token: {service: svc, expiry: 10m}
  access:
    - {repository: "a/*", users: [alice], actions: [pull, push]}
`,
    );
    const c = loadConfig(f, defaultConfig('/default'));
    assert.equal(c.addr, '127.0.0.1:5999');
    assert.equal(c.root, '/srv/reg');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.deleteEnabled, true);
    assert.equal(c.uploadExpiryMs, 2 * 3600_000);
    assert.equal(c.maxManifestBytes, 1 << 20);
    assert.equal(c.auth.htpasswd, '/etc/reg/htpasswd');
    assert.equal(c.auth.anonymousRead, true);
    assert.deepEqual(c.auth.token, {
      realm: undefined,
      service: 'svc',
      issuer: 'berth-registry',
      key: undefined,
      expirySeconds: 600,
    });
    assert.deepEqual(c.auth.access, [{ repository: 'a/*', users: ['alice'], actions: ['pull', 'push'] }]);
    writeFileSync(f, 'adr: 1\n');
    assert.throws(() => loadConfig(f, defaultConfig('/d')), /adr/);
    writeFileSync(f, 'auth: {access: [{repository: x, actions: [fly]}]}\n');
    assert.throws(() => loadConfig(f, defaultConfig('/d')), /actions/);
    assert.deepEqual(parseAddr('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
    assert.deepEqual(parseAddr('5000'), { host: '0.0.0.0', port: 5000 });
    assert.deepEqual(parseAddr('[::1]:80'), { host: '::1', port: 80 });
    assert.throws(() => parseAddr('nope'));
  });
});
