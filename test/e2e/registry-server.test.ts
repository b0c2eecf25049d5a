import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { BERTH, berth, ENV, ensureBusybox, ok } from '../helpers.ts';

/**
 * `berth registry serve` as a process, spoken to by real clients: skopeo, podman and Berth's own
 * push/pull; with htpasswd and token auth, anonymous reads, TLS, and 20 concurrent pushes.
 */

const scratch = mkdtempSync('/var/tmp/berth-regsrv-e2e-');
const CONFIG_DIR = join(scratch, 'berth-config');
const procs: ChildProcess[] = [];
const run = promisify(execFile);
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
let archive: string;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface Served {
  host: string;
  root: string;
  proc: ChildProcess;
  log: () => string;
}

async function serve(flags: string[] = [], scheme = 'http'): Promise<Served> {
  const port = await freePort();
  const root = mkdtempSync(join(scratch, 'root-'));
  let log = '';
  const proc = spawn(BERTH, ['registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', root, ...flags], {
    env: ENV,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
  });
  procs.push(proc);
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  while (!log.includes('listening on')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`registry did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(log, new RegExp(`listening on ${scheme}://${host}`));
  return { host, root, proc, log: () => log };
}

async function skopeo(args: string[]): Promise<string> {
  return (await run('skopeo', args, { maxBuffer: 16 << 20 })).stdout;
}

function skopeoFails(args: string[]): string {
  const r = spawnSync('skopeo', args, { encoding: 'utf8' });
  assert.notEqual(r.status, 0, `skopeo ${args.join(' ')} should fail`);
  return r.stderr;
}

/** Every blob in the registry's store has the digest it is named by. */
function assertBlobsIntact(root: string): number {
  const dir = join(root, 'blobs', 'sha256');
  const files = readdirSync(dir);
  for (const f of files) assert.equal(sha256(readFileSync(join(dir, f))), `sha256:${f}`, `blob ${f}`);
  return files.length;
}

before(() => {
  ensureBusybox();
  mkdirSync(CONFIG_DIR, { recursive: true });
  archive = join(scratch, 'bb.tar');
  ok(['save', '-o', archive, 'busybox']);
});

after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

describe('without auth', () => {
  let reg: Served;
  before(async () => {
    reg = await serve();
  });

  test('skopeo copy both ways, inspect and list-tags', async () => {
    await skopeo([
      'copy',
      '-q',
      '--dest-tls-verify=false',
      `docker-archive:${archive}`,
      `docker://${reg.host}/s/bb:1`,
    ]);
    await skopeo([
      'copy',
      '-q',
      '--format',
      'oci',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${reg.host}/s/bb:1`,
      `docker://${reg.host}/s/bb:oci`,
    ]);
    const info = JSON.parse(
      await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/s/bb:1`]),
    ) as {
      Digest: string;
      Layers: string[];
    };
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/s/bb:1`]);
    assert.equal(sha256(Buffer.from(raw)), info.Digest);
    const tags = JSON.parse(
      await skopeo(['list-tags', '--tls-verify=false', `docker://${reg.host}/s/bb`]),
    ) as {
      Tags: string[];
    };
    assert.deepEqual(tags.Tags.sort(), ['1', 'oci']);
    const out = join(scratch, 'out-oci');
    await skopeo(['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/s/bb:1`, `oci:${out}:x`]);
    for (const l of info.Layers) {
      assert.equal(
        sha256(readFileSync(join(out, 'blobs', 'sha256', l.slice(7)))),
        l,
        'pulled layer is intact',
      );
    }
    assert.match(reg.log(), /"PUT \/v2\/s\/bb\/manifests\/1" 201/, 'one log line per request');
  });

  test('podman push and pull', async () => {
    const p = [
      '--root',
      join(scratch, 'podman-root'),
      '--runroot',
      join(scratch, 'podman-run'),
      '--storage-driver',
      'vfs',
    ];
    await skopeo([
      'copy',
      '-q',
      '--dest-tls-verify=false',
      `docker-archive:${archive}`,
      `docker://${reg.host}/p/bb:1`,
    ]);
    await run('podman', [...p, 'pull', '-q', '--tls-verify=false', `${reg.host}/p/bb:1`]);
    await run('podman', [
      ...p,
      'push',
      '-q',
      '--tls-verify=false',
      `${reg.host}/p/bb:1`,
      `docker://${reg.host}/p/pushed:2`,
    ]);
    const a = JSON.parse(
      await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/p/pushed:2`]),
    ) as {
      Layers: string[];
    };
    assert.equal(a.Layers.length, 1);
    const img = JSON.parse(
      (await run('podman', [...p, 'image', 'inspect', `${reg.host}/p/bb:1`])).stdout,
    ) as Array<{
      RootFS: { Layers: string[] };
    }>;
    assert.equal(img[0]!.RootFS.Layers.length, 1);
    await run('podman', [...p, 'rmi', '-a', '-f']);
  });

  test("Berth's own push and pull", () => {
    const ref = `${reg.host}/b/busybox:1`;
    ok(['tag', 'busybox', ref]);
    try {
      const pushed = ok(['push', ref]);
      const m = /^1: digest: (sha256:[a-f0-9]{64}) size: \d+$/m.exec(pushed);
      assert.ok(m, pushed);
      ok(['rmi', ref]);
      const pulled = ok(['pull', ref]);
      assert.match(pulled, new RegExp(`^Digest: ${m[1]}$`, 'm'));
      const mounted = `${reg.host}/b/other:1`;
      ok(['tag', 'busybox', mounted]);
      assert.match(ok(['push', mounted]), /Mounted from b\/busybox|Layer already exists/);
      ok(['rmi', mounted]);
    } finally {
      berth(['rmi', ref]);
    }
  });

  test('20 concurrent skopeo pushes of overlapping images all succeed; no blob is corrupt', async () => {
    // Two images sharing busybox's layer: skopeo's OCI and docker forms of the same layer content.
    const copies = Array.from({ length: 20 }, (_, i) =>
      skopeo([
        'copy',
        '-q',
        '--dest-tls-verify=false',
        ...(i % 2 ? ['--format', 'oci'] : []),
        `docker-archive:${archive}`,
        `docker://${reg.host}/conc/r${i % 4}:t${i}`,
      ]),
    );
    const results = await Promise.allSettled(copies);
    assert.deepEqual(
      results.filter((r) => r.status === 'rejected'),
      [],
    );
    for (let i = 0; i < 20; i++) {
      const raw = await skopeo([
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${reg.host}/conc/r${i % 4}:t${i}`,
      ]);
      assert.ok(raw.includes('schemaVersion'));
    }
    assert.ok(assertBlobsIntact(reg.root) >= 3);
    assert.deepEqual(readdirSync(join(reg.root, 'uploads')), []);
  });

  test('SIGTERM stops the server cleanly', async () => {
    const s = await serve();
    const exited = new Promise<number | null>((r) => s.proc.on('exit', (code) => r(code)));
    s.proc.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});

describe('with auth', () => {
  const user = 'alice';
  const password = 'alice-secret';
  let htpasswd: string;
  before(() => {
    htpasswd = join(scratch, 'htpasswd');
    writeFileSync(
      htpasswd,
      execFileSync('htpasswd', ['-nbB', '-C', '4', user, password], { encoding: 'utf8' }),
    );
  });

  test('htpasswd: skopeo and berth with credentials push and pull; without them a push is refused', async () => {
    const reg = await serve(['--htpasswd', htpasswd]);
    const dest = `docker://${reg.host}/h/bb:1`;
    const err = skopeoFails(['copy', '-q', '--dest-tls-verify=false', `docker-archive:${archive}`, dest]);
    assert.match(err, /401|unauthorized|authentication required/i);
    await skopeo([
      'copy',
      '-q',
      '--dest-tls-verify=false',
      '--dest-creds',
      `${user}:${password}`,
      `docker-archive:${archive}`,
      dest,
    ]);
    skopeoFails(['inspect', '--tls-verify=false', dest]);
    await skopeo(['inspect', '--tls-verify=false', '--creds', `${user}:${password}`, dest]);

    const env = { BERTH_CONFIG: CONFIG_DIR };
    const ref = `${reg.host}/h/berth:1`;
    ok(['tag', 'busybox', ref]);
    try {
      const denied = berth(['push', ref], { env });
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /denied|unauthorized/);
      const login = berth(['login', '-u', user, '--password-stdin', reg.host], {
        env,
        input: `${password}\n`,
      });
      assert.equal(login.code, 0, login.stderr);
      const pushed = berth(['push', ref], { env });
      assert.equal(pushed.code, 0, pushed.stderr);
      berth(['rmi', ref]);
      const pulled = berth(['pull', ref], { env });
      assert.equal(pulled.code, 0, pulled.stderr);
    } finally {
      berth(['logout', reg.host], { env });
      berth(['rmi', ref]);
    }
  });

  test('token auth: skopeo with credentials pushes, without is refused; anonymous reads only', async () => {
    const reg = await serve(['--htpasswd', htpasswd, '--auth', 'token', '--anonymous-read']);
    const dest = `docker://${reg.host}/t/bb:1`;
    const err = skopeoFails(['copy', '-q', '--dest-tls-verify=false', `docker-archive:${archive}`, dest]);
    assert.match(err, /401|unauthorized|authentication required|denied/i);
    await skopeo([
      'copy',
      '-q',
      '--dest-tls-verify=false',
      '--dest-creds',
      `${user}:${password}`,
      `docker-archive:${archive}`,
      dest,
    ]);
    assert.match(reg.log(), /"GET \/token\?[^"]*scope=repository%3At%2Fbb%3Apull%2Cpush/);
    const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', dest])) as { Digest: string };
    assert.match(info.Digest, /^sha256:/);
    await skopeo(['copy', '-q', '--src-tls-verify=false', dest, `oci:${join(scratch, 'anon-out')}:x`]);
    skopeoFails([
      'copy',
      '-q',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      dest,
      `docker://${reg.host}/t/anon:1`,
    ]);
  });

  test('TLS: skopeo pushes and pulls over HTTPS with a self-signed certificate', async () => {
    const key = join(scratch, 'tls.key');
    const cert = join(scratch, 'tls.crt');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
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
    const reg = await serve(['--tls-cert', cert, '--tls-key', key], 'https');
    const dest = `docker://${reg.host}/tls/bb:1`;
    await skopeo(['copy', '-q', '--dest-tls-verify=false', `docker-archive:${archive}`, dest]);
    const certDir = join(scratch, 'certs');
    mkdirSync(certDir, { recursive: true });
    writeFileSync(join(certDir, 'ca.crt'), readFileSync(cert));
    await skopeo(['inspect', '--cert-dir', certDir, dest]);
    skopeoFails(['inspect', dest]);
  });
});
