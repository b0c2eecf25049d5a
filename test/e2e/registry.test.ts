import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type BetterSqlite3 from 'better-sqlite3';
import { goArch } from '../../src/image/types.ts';
import {
  BERTH,
  berth,
  busyboxTar,
  ENV,
  ensureBusybox,
  type Result,
  type TarEntry,
  TEST_ROOT,
  tarOf,
  uniq,
} from '../helpers.ts';

/**
 * Push and pull against Debian's docker-registry (the reference implementation), checked with
 * skopeo and umoci; login/logout against an htpasswd registry and a token-auth fake; and hostile
 * registries (a tiny node:http server) whose bad blobs and manifests must be refused, leaving the
 * store as it was.
 */

const scratch = mkdtempSync(join(tmpdir(), 'berth-registry-test-'));
const CONFIG_DIR = join(scratch, 'berth-config');
const madeImages = new Set<string>();
const registries: ChildProcess[] = [];
const servers: Server[] = [];

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const lines = (s: string) => s.split('\n').filter((l) => l !== '');

function b(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Result {
  return berth(args, {
    input: opts.input,
    env: { BERTH_CONFIG: CONFIG_DIR, ...opts.env },
    timeoutMs: 60_000,
  });
}

function ok(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = b(args, opts);
  if (r.code !== 0) {
    throw new Error(`berth ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r.stdout;
}

/** berth without blocking the event loop, for registries served from this process. */
function bAsync(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(BERTH, args, { env: { ...ENV, BERTH_CONFIG: CONFIG_DIR, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** A failed command: non-zero exit and a one-line `Error: …` on stderr, no stack trace. */
function assertFails(r: Result, message: RegExp): void {
  assert.notEqual(r.code, 0, `want a failure\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const err = r.stderr.trim();
  assert.match(err, /^Error: /, err);
  assert.ok(!err.includes('\n'), `want a one-line error, got:\n${err}`);
  assert.doesNotMatch(err, /\bat .*\.(js|ts):\d+/, 'a stack trace is not an error message');
  assert.match(err, message);
}

function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function inspectImage(ref: string, env?: NodeJS.ProcessEnv): Record<string, unknown> & { Id: string } {
  return (
    JSON.parse(ok(['image', 'inspect', ref], { env })) as Array<Record<string, unknown> & { Id: string }>
  )[0]!;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface Registry {
  host: string;
  logFile: string;
}

/** Debian's docker-registry on 127.0.0.1 with storage in the scratch dir; `extra` is appended YAML. */
async function startRegistry(extra = ''): Promise<Registry> {
  const port = await freePort();
  const dir = join(scratch, `registry-${port}`);
  mkdirSync(dir, { recursive: true });
  const cfg = join(dir, 'config.yml');
  writeFileSync(
    cfg,
    `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${extra}`,
  );
  const logFile = join(dir, 'log');
  const fd = openSync(logFile, 'w');
  const proc = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  registries.push(proc);
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`http://${host}/v2/`);
      if (r.status === 200 || r.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`docker-registry did not start:\n${readFileSync(logFile, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host, logFile };
}

/** Imports a tar file under `ref` into the shared test store; the image is removed after the tests. */
function importTar(file: string, ref: string, flags: string[] = []): string {
  const id = ok(['import', ...flags, file, ref]).trim();
  assert.match(id, /^sha256:[a-f0-9]{64}$/);
  madeImages.add(id);
  return id;
}

function pushedDigest(out: string, tag: string): { digest: string; size: number } {
  const m = new RegExp(`^${tag}: digest: (sha256:[a-f0-9]{64}) size: (\\d+)$`, 'm').exec(out);
  assert.ok(m, `no "${tag}: digest: … size: …" line in:\n${out}`);
  return { digest: m[1]!, size: Number(m[2]) };
}

function layerDirOf(chainId: string, root = TEST_ROOT): string {
  return join(root, 'layers', chainId.replace(/^sha256:/, ''));
}

before(() => {
  ensureBusybox();
});

after(() => {
  for (const p of registries) p.kill('SIGKILL');
  for (const s of servers) s.close();
  if (madeImages.size > 0) b(['rmi', '-f', ...madeImages]);
  rmSync(scratch, { recursive: true, force: true });
});

// -------------------------------------------------------------------------------------------------

describe('push and pull against docker-registry', () => {
  let reg: Registry;
  let appTar: string;
  let appId: string;
  let appDigest: string;
  let copiedDigest: string;
  const marker = `marker ${uniq('app')}\n`;

  before(async () => {
    reg = await startRegistry();
    // busybox plus a file of its own, so that the image's layer is not shared with any other image.
    appTar = join(scratch, 'app.tar');
    copyFileSync(busyboxTar(), appTar);
    const mdir = join(scratch, 'marker');
    mkdirSync(mdir);
    writeFileSync(join(mdir, 'marker'), marker);
    execFileSync('tar', ['-rf', appTar, '-C', mdir, './marker']);
  });

  test('push, skopeo sees the same digest, rmi, pull back (OCI and schema 2 copies) and run', () => {
    const ref = `${reg.host}/acc/app:1`;
    appId = importTar(appTar, ref, ['--change', 'CMD ["sh"]']);
    const pushed = ok(['push', ref]);
    assert.ok(pushed.startsWith(`The push refers to repository [${reg.host}/acc/app]\n`), pushed);
    assert.match(pushed, /^[a-f0-9]{12}: Pushed$/m);
    const { digest, size } = pushedDigest(pushed, '1');
    appDigest = digest;
    const localDigest = ok(['images', '--digests', '--format', '{{.Digest}}', ref]).trim();
    assert.equal(digest, localDigest, 'the registry stores the manifest Berth already had, byte for byte');

    const info = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${ref}`])) as {
      Digest: string;
      Layers: string[];
    };
    assert.equal(info.Digest, digest);
    const raw = skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
    assert.equal(Buffer.byteLength(raw), size);
    assert.equal(sha256(raw), digest);

    // A schema 2 copy made by skopeo: gzip-compressed layers under a docker manifest.
    skopeo([
      'copy',
      '-q',
      '--format',
      'v2s2',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${ref}`,
      `docker://${reg.host}/acc/copied:1`,
    ]);
    copiedDigest = (
      JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/acc/copied:1`])) as {
        Digest: string;
      }
    ).Digest;
    const copiedManifest = JSON.parse(
      skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/acc/copied:1`]),
    ) as { mediaType: string; layers: Array<{ digest: string; mediaType: string }> };
    assert.equal(copiedManifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');

    const chain = (inspectImage(ref).RootFS as { Layers: string[] }).Layers[0]!;
    ok(['rmi', '-f', appId]);
    assert.ok(!existsSync(layerDirOf(chain)), 'rmi removed the layer: the pull must download it again');

    const pulled = ok(['pull', ref]);
    assert.match(pulled, /^1: Pulling from acc\/app$/m);
    assert.match(pulled, /^[a-f0-9]{12}: Pulling fs layer$/m);
    assert.match(pulled, /^[a-f0-9]{12}: Download complete$/m);
    assert.match(pulled, /^[a-f0-9]{12}: Pull complete$/m);
    assert.match(pulled, new RegExp(`^Digest: ${digest}$`, 'm'));
    assert.match(pulled, new RegExp(`^Status: Downloaded newer image for ${reg.host}/acc/app:1$`, 'm'));
    assert.equal(lines(pulled).at(-1), ref, 'pull ends with the full reference, as docker does');
    const img = inspectImage(ref);
    assert.equal(img.Id, appId, 'the image ID (the config digest) survives the round trip');
    assert.deepEqual(img.RepoDigests, [`${reg.host}/acc/app@${digest}`]);
    assert.equal(ok(['images', '--digests', '--format', '{{.Digest}}', ref]).trim(), digest);
    assert.ok(existsSync(layerDirOf(chain)));
    assert.equal(ok(['run', '--rm', ref, 'cat', '/marker']), marker);

    // The schema 2 copy: its gzip layer is verified, decompressed, checked against the diff ID and unpacked.
    ok(['rmi', '-f', appId]);
    const copied = `${reg.host}/acc/copied:1`;
    const out = ok(['pull', copied]);
    assert.match(out, new RegExp(`^Digest: ${copiedDigest}$`, 'm'));
    const cimg = inspectImage(copied);
    assert.equal(cimg.Id, appId);
    assert.deepEqual(cimg.RepoDigests, [`${reg.host}/acc/copied@${copiedDigest}`]);
    const gz = readFileSync(join(TEST_ROOT, 'blobs', 'sha256', copiedManifest.layers[0]!.digest.slice(7)));
    assert.equal(
      sha256(gz),
      copiedManifest.layers[0]!.digest,
      'the compressed blob is kept as the registry sent it',
    );
    assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b]);
    assert.equal(ok(['run', '--rm', copied, 'echo', 'pulled']), 'pulled\n');

    const again = ok(['pull', copied]);
    assert.match(again, /^[a-f0-9]{12}: Already exists$/m);
    assert.match(again, new RegExp(`^Status: Image is up to date for ${reg.host}/acc/copied:1$`, 'm'));
    assert.equal(ok(['pull', '-q', copied]), `${copied}\n`, '-q prints the reference only');
  });

  test('a second push finds the layers; another repository mounts them', () => {
    const copied = `${reg.host}/acc/copied:1`;
    const again = ok(['push', copied]);
    assert.match(again, /^[a-f0-9]{12}: Layer already exists$/m);
    assert.doesNotMatch(again, /: Pushed$/m);
    assert.equal(pushedDigest(again, '1').digest, copiedDigest);

    const mounted = `${reg.host}/acc/mounted:7`;
    ok(['tag', copied, mounted]);
    const out = ok(['push', mounted]);
    assert.match(out, /^[a-f0-9]{12}: Mounted from acc\/copied$/m);
    assert.doesNotMatch(out, /: Pushed$/m);
    assert.equal(pushedDigest(out, '7').digest, copiedDigest);
    const info = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${mounted}`])) as {
      Digest: string;
    };
    assert.equal(info.Digest, copiedDigest);
    assert.match(readFileSync(reg.logFile, 'utf8'), /mount=sha256/, 'the registry was asked to mount');

    assert.equal(ok(['push', '-q', mounted]), `${mounted}\n`);
  });

  test('pull --drop-compressed keeps one copy; push and save fetch the dropped blob again', async () => {
    const root = join(scratch, 'drop-root');
    const env = { BERTH_ROOT: root };
    const copied = `${reg.host}/acc/copied:1`;
    const original = JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${copied}`])) as {
      config: { digest: string };
      layers: Array<{ digest: string; mediaType: string }>;
    };
    const blobFile = (d: string) => join(root, 'blobs', 'sha256', d.slice(7));
    const gzLayers = original.layers.map((l) => l.digest);
    assert.ok(original.layers.every((l) => l.mediaType.endsWith('.gzip')));

    ok(['pull', '--drop-compressed', copied], { env });
    for (const d of gzLayers) assert.ok(!existsSync(blobFile(d)), `compressed blob ${d} was dropped`);
    assert.ok(existsSync(blobFile(original.config.digest)), 'the config blob is kept');
    assert.ok(existsSync(blobFile(copiedDigest)), 'the manifest blob is kept');
    const chain = (inspectImage(copied, env).RootFS as { Layers: string[] }).Layers[0]!;
    assert.ok(existsSync(layerDirOf(chain, root)), 'the unpacked layer is there');
    assert.equal(ok(['run', '--rm', copied, 'echo', 'ok'], { env }), 'ok\n');

    // save writes layers uncompressed: the dropped blob comes back from the registry to be read.
    const saved = join(scratch, 'dropped.tar');
    ok(['save', '-o', saved, copied], { env });
    const entries = execFileSync('tar', ['-tf', saved], { encoding: 'utf8' });
    assert.match(entries, /^manifest\.json$/m);
    for (const d of gzLayers) assert.ok(existsSync(blobFile(d)), `save fetched ${d} again`);
    const loadRoot = { BERTH_ROOT: join(scratch, 'drop-load-root') };
    ok(['load', '-i', saved], { env: loadRoot });
    assert.equal(ok(['run', '--rm', copied, 'cat', '/marker'], { env: loadRoot }), marker);

    // Pulled again with the flag, the layer already exists and the blob goes once more.
    const again = ok(['pull', '--drop-compressed', copied], { env });
    assert.match(again, /^[a-f0-9]{12}: Already exists$/m);
    for (const d of gzLayers) assert.ok(!existsSync(blobFile(d)));

    // Another repository of the same registry: the layer is mounted, the digest unchanged.
    const sameReg = `${reg.host}/acc/dropped:1`;
    ok(['tag', copied, sameReg], { env });
    assert.equal(pushedDigest(ok(['push', sameReg], { env }), '1').digest, copiedDigest);

    // A registry without the layer: the blob is fetched again from acc/copied and uploaded as it was.
    const reg2 = await startRegistry();
    const other = `${reg2.host}/acc/dropped:2`;
    ok(['tag', copied, other], { env });
    const out = ok(['push', other], { env });
    assert.match(out, /^[a-f0-9]{12}: Pushed$/m);
    assert.equal(pushedDigest(out, '2').digest, copiedDigest);
    const pushed = JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${other}`])) as {
      layers: Array<{ digest: string }>;
    };
    assert.deepEqual(
      pushed.layers.map((l) => l.digest),
      gzLayers,
    );

    // Dropped again and every known source gone: the error names the blob and says why.
    ok(['pull', '--drop-compressed', copied], { env });
    for (const d of gzLayers) assert.ok(!existsSync(blobFile(d)));
    const db = new (createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3)(
      join(root, 'berth.db'),
    );
    db.prepare('DELETE FROM blob_sources').run();
    db.close();
    const lonely = `${reg2.host}/acc/empty:1`;
    ok(['tag', copied, lonely], { env });
    ok(['rmi', copied, sameReg, other], { env });
    assertFails(
      b(['save', '-o', join(scratch, 'lonely.tar'), lonely], { env }),
      new RegExp(`blob ${gzLayers[0]} .*was dropped after unpack and no registry holds it`),
    );
  });

  test('pull by digest records the digest name', () => {
    ok(['rmi', '-f', appId]);
    const byDigest = `${reg.host}/acc/app@${appDigest}`;
    const out = ok(['pull', byDigest]);
    assert.match(out, new RegExp(`^${appDigest}: Pulling from acc/app$`, 'm'));
    assert.equal(lines(out).at(-1), byDigest);
    const img = inspectImage(byDigest);
    assert.equal(img.Id, appId);
    assert.deepEqual(img.RepoTags, [], 'a pull by digest adds no tag');

    const missing = `${reg.host}/acc/app@sha256:${'0'.repeat(64)}`;
    assertFails(b(['pull', missing]), /not found: manifest unknown/);
  });

  test('pull -a fetches every tag; push -a pushes every local tag', async () => {
    const repo = `${reg.host}/acc/multi`;
    const ids: Record<string, string> = {};
    for (const t of ['a', 'b']) {
      const tar = join(scratch, `multi-${t}.tar`);
      writeFileSync(tar, await tarOf([{ name: 'tag', body: `${t} ${uniq('multi')}` }]));
      ids[t] = importTar(tar, `${repo}:${t}`);
    }
    const out = ok(['push', '-a', repo]);
    pushedDigest(out, 'a');
    pushedDigest(out, 'b');
    const tags = JSON.parse(skopeo(['list-tags', '--tls-verify=false', `docker://${repo}`])) as {
      Tags: string[];
    };
    assert.deepEqual(tags.Tags.sort(), ['a', 'b']);

    ok(['rmi', '-f', ids.a!, ids.b!]);
    const pulled = ok(['pull', '-a', repo]);
    assert.match(pulled, /^a: Pulling from acc\/multi$/m);
    assert.match(pulled, /^b: Pulling from acc\/multi$/m);
    assert.equal(lines(pulled).at(-1), repo);
    assert.equal(inspectImage(`${repo}:a`).Id, ids.a);
    assert.equal(inspectImage(`${repo}:b`).Id, ids.b);
    assertFails(b(['pull', '-a', `${repo}:a`]), /tag can't be used with --all-tags\/-a/);
  });

  test('a layer over 16 MiB is uploaded in chunks and comes back intact', async () => {
    const data = randomBytes(17 << 20);
    const tar = join(scratch, 'big.tar');
    writeFileSync(tar, await tarOf([{ name: 'big.bin', body: data }]));
    const ref = `${reg.host}/acc/big:1`;
    const id = importTar(tar, ref);
    const before = (readFileSync(reg.logFile, 'utf8').match(/http\.request\.method=PATCH/g) ?? []).length;
    const out = ok(['push', ref]);
    pushedDigest(out, '1');
    const patches = (readFileSync(reg.logFile, 'utf8').match(/http\.request\.method=PATCH/g) ?? []).length;
    assert.equal(patches - before, 2, 'two 16 MiB chunks: PATCH, PATCH, then PUT');
    ok(['rmi', '-f', id]);
    ok(['pull', ref]);
    const img = inspectImage(ref) as { GraphDriver: { Data: { LowerDir: string } }; Id: string };
    assert.equal(img.Id, id);
    assert.equal(sha256(readFileSync(join(img.GraphDriver.Data.LowerDir, 'big.bin'))), sha256(data));
  });

  describe('images made by umoci', () => {
    let umociId: string;
    const umociRef = () => `${reg.host}/acc/umoci:1`;

    test('a gzip, multi-layer OCI image with a whiteout pulls and runs', () => {
      const layout = join(scratch, 'oci');
      const umoci = (args: string[]) => execFileSync('umoci', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      // Each layer is one unpack, change, repack (umoci 0.4.7's `insert` writes tars without their end blocks).
      let n = 0;
      const layer = (change: (rootfs: string) => void) => {
        const bundle = join(scratch, `bundle-${n++}`);
        umoci(['unpack', '--image', `${layout}:t`, bundle]);
        change(join(bundle, 'rootfs'));
        umoci(['repack', '--image', `${layout}:t`, bundle]);
      };
      umoci(['init', '--layout', layout]);
      umoci(['new', '--image', `${layout}:t`]);
      layer((rootfs) => {
        execFileSync('tar', ['-xf', busyboxTar(), '-C', rootfs]);
        writeFileSync(join(rootfs, 'etc', 'gone'), 'to be whited out\n');
      });
      layer((rootfs) => {
        writeFileSync(join(rootfs, 'marker'), 'from umoci\n');
        rmSync(join(rootfs, 'etc', 'gone'));
      });
      layer((rootfs) => writeFileSync(join(rootfs, 'third'), 'third layer\n'));
      umoci(['config', '--image', `${layout}:t`, '--config.cmd', 'sh']);
      skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:t`, `docker://${umociRef()}`]);

      const out = ok(['pull', umociRef()]);
      assert.equal((out.match(/: Pull complete$/gm) ?? []).length, 3, out);
      const img = inspectImage(umociRef());
      umociId = img.Id;
      madeImages.add(umociId);
      assert.equal((img.RootFS as { Layers: string[] }).Layers.length, 3);
      assert.equal(ok(['run', '--rm', umociRef(), 'cat', '/marker', '/third']), 'from umoci\nthird layer\n');
      const gone = b(['run', '--rm', umociRef(), 'ls', '/etc/gone']);
      assert.notEqual(gone.code, 0, 'the whiteout layer hides /etc/gone');
      assert.equal(
        ok(['run', '--rm', umociRef(), 'cat', '/etc/passwd']).split('\n')[0],
        'root:x:0:0:root:/root:/bin/sh',
      );
    });

    test('an index: the host platform by default, --platform picks another, a missing one is named', async () => {
      const base = `http://${reg.host}/v2/acc/umoci`;
      const host = goArch();
      const other = host === 'amd64' ? 'arm64' : 'amd64';
      const mres = await fetch(`${base}/manifests/1`, { headers: { accept: OCI_MANIFEST } });
      const mBytes = Buffer.from(await mres.arrayBuffer());
      const manifest = JSON.parse(mBytes.toString()) as { config: { digest: string; size: number } };
      const config = JSON.parse(
        Buffer.from(await (await fetch(`${base}/blobs/${manifest.config.digest}`)).arrayBuffer()).toString(),
      ) as Record<string, unknown>;
      const otherConfig = Buffer.from(JSON.stringify({ ...config, architecture: other }));
      const up = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
      const loc = new URL(up.headers.get('location')!, `http://${reg.host}`);
      loc.searchParams.set('digest', sha256(otherConfig));
      assert.equal((await fetch(loc, { method: 'PUT', body: new Uint8Array(otherConfig) })).status, 201);
      const otherManifest = Buffer.from(
        JSON.stringify({
          ...manifest,
          config: { ...manifest.config, digest: sha256(otherConfig), size: otherConfig.length },
        }),
      );
      const put = (ref: string, type: string, body: Buffer) =>
        fetch(`${base}/manifests/${ref}`, {
          method: 'PUT',
          headers: { 'content-type': type },
          body: new Uint8Array(body),
        });
      assert.equal((await put(sha256(otherManifest), OCI_MANIFEST, otherManifest)).status, 201);
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [
            {
              mediaType: OCI_MANIFEST,
              digest: sha256(mBytes),
              size: mBytes.length,
              platform: { os: 'linux', architecture: host },
            },
            {
              mediaType: OCI_MANIFEST,
              digest: sha256(otherManifest),
              size: otherManifest.length,
              platform: { os: 'linux', architecture: other },
            },
          ],
        }),
      );
      assert.equal((await put('multi', OCI_INDEX, index)).status, 201);

      const multi = `${reg.host}/acc/umoci:multi`;
      const out = ok(['pull', multi]);
      assert.match(
        out,
        new RegExp(`^Digest: ${sha256(index)}$`, 'm'),
        'the digest shown is the index digest',
      );
      assert.equal(inspectImage(multi).Id, umociId);

      const pulledOther = ok(['pull', '--platform', `linux/${other}`, multi]);
      assert.match(pulledOther, /Already exists/, 'the other platform shares the layers');
      const oimg = inspectImage(multi);
      madeImages.add(oimg.Id);
      assert.equal(oimg.Id, sha256(otherConfig));
      assert.equal(oimg.Architecture, other);

      assertFails(
        b(['pull', '--platform', 'linux/s390x', multi]),
        new RegExp(
          `no matching manifest for linux/s390x.*available platforms: linux/${host}, linux/${other}`,
        ),
      );
      assert.equal(inspectImage(multi).Id, sha256(otherConfig), 'a failed pull leaves the tag alone');
    });
  });
});

// -------------------------------------------------------------------------------------------------

/** A bcrypt htpasswd line (distribution accepts bcrypt only), at the lowest cost: every request checks it. */
function htpasswdLine(user: string, password: string): string {
  const h = spawnSync('htpasswd', ['-nbB', '-C', '4', user, password], { encoding: 'utf8' });
  if (h.status === 0) return h.stdout.trim();
  const py = spawnSync(
    'python3',
    [
      '-c',
      'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))',
      password,
    ],
    { encoding: 'utf8' },
  );
  if (py.status === 0 && py.stdout.startsWith('$2')) return `${user}:${py.stdout.trim()}`;
  execFileSync('apt-get', ['install', '-y', '-q', 'apache2-utils'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: 'ignore',
  });
  return execFileSync('htpasswd', ['-nbB', '-C', '4', user, password], { encoding: 'utf8' }).trim();
}

function authEntries(): Record<string, { auth?: string }> {
  const file = join(CONFIG_DIR, 'config.json');
  if (!existsSync(file)) return {};
  return (
    (JSON.parse(readFileSync(file, 'utf8')) as { auths?: Record<string, { auth?: string }> }).auths ?? {}
  );
}

describe('login and logout against an htpasswd registry', () => {
  let reg: Registry;
  const user = 'berthuser';
  const password = `pw-${randomBytes(6).toString('hex')}`;

  before(async () => {
    const file = join(scratch, 'htpasswd');
    writeFileSync(file, `${htpasswdLine(user, password)}\n`);
    reg = await startRegistry(`auth:\n  htpasswd:\n    realm: basic-realm\n    path: ${file}\n`);
  });

  test('a bad password is refused, nothing stored; pulls and pushes without login are refused', () => {
    const bad = b(['login', '-u', user, '--password-stdin', reg.host], { input: 'wrong\n' });
    assertFails(bad, /unauthorized: incorrect username or password/);
    assert.equal(authEntries()[reg.host], undefined);

    assertFails(b(['pull', `${reg.host}/acc/app:1`]), /pull access denied for .*unauthorized/);
    const ref = `${reg.host}/acc/busybox:1`;
    ok(['tag', 'busybox', ref]);
    assertFails(b(['push', ref]), /push access denied for .*unauthorized.*berth login/);
  });

  test('login stores docker-style credentials (0600); push and pull use them; logout removes them', () => {
    const out = ok(['login', '-u', user, '--password-stdin', reg.host], { input: `${password}\n` });
    assert.equal(out, 'Login Succeeded\n');
    const file = join(CONFIG_DIR, 'config.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(authEntries()[reg.host]?.auth, Buffer.from(`${user}:${password}`).toString('base64'));

    const ref = `${reg.host}/acc/busybox:1`;
    const pushed = pushedDigest(ok(['push', ref]), '1').digest;
    ok(['rmi', ref]);
    const pulled = ok(['pull', ref]);
    assert.match(pulled, new RegExp(`^Digest: ${pushed}$`, 'm'));

    const warned = b(['login', '-u', user, '-p', password, reg.host]);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /WARNING! Using --password via the CLI is insecure/);

    assert.equal(ok(['logout', reg.host]), `Removing login credentials for ${reg.host}\n`);
    assert.equal(authEntries()[reg.host], undefined);
    assert.equal(ok(['logout', reg.host]), `Not logged in to ${reg.host}\n`);
    assertFails(b(['pull', ref]), /pull access denied/);
    ok(['rmi', ref]);
  });
});

// -------------------------------------------------------------------------------------------------

interface FakeImage {
  manifest: Buffer;
  manifestType: string;
  config: Buffer;
  layer: Buffer;
  layerDigest: string;
}

async function fakeImage(
  entries: TarEntry[],
  o: { diffId?: string; manifestType?: string; manifestBody?: Buffer; zstd?: boolean } = {},
): Promise<FakeImage> {
  const tar = await tarOf(entries);
  const layer = o.zstd ? execFileSync('zstd', ['-q', '-c'], { input: tar }) : gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: goArch(),
      os: 'linux',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [o.diffId ?? sha256(tar)] },
    }),
  );
  const manifest =
    o.manifestBody ??
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: o.manifestType ?? OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
        layers: [
          { mediaType: o.zstd ? OCI_LAYER_ZSTD : OCI_LAYER_GZIP, digest: sha256(layer), size: layer.length },
        ],
      }),
    );
  return {
    manifest,
    manifestType: o.manifestType ?? OCI_MANIFEST,
    config,
    layer,
    layerDigest: sha256(layer),
  };
}

type BlobServe = (res: ServerResponse) => void;

interface Fake {
  host: string;
  repos: Map<string, { image: FakeImage; blobs: Map<string, BlobServe> }>;
  requests: Array<{ method: string; url: string; authorization?: string }>;
}

interface FakeOptions {
  /** Bearer token auth: the token server wants these Basic credentials. */
  auth?: { user: string; password: string };
  /** Blob GETs answer 307 to this origin (another port: another host as far as credentials go). */
  redirectTo?: string;
}

function listen(server: Server): Promise<string> {
  servers.push(server);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

/** A registry in this process: GET only, serving what each test puts in `repos`. */
async function startFake(o: FakeOptions = {}): Promise<Fake> {
  const fake: Fake = { host: '', repos: new Map(), requests: [] };
  const token = `tok-${randomBytes(8).toString('hex')}`;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://${fake.host}`);
    fake.requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
    });
    if (o.auth && url.pathname === '/token') {
      const want = `Basic ${Buffer.from(`${o.auth.user}:${o.auth.password}`).toString('base64')}`;
      if (req.headers.authorization && req.headers.authorization !== want) {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"details":"incorrect username or password"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: req.headers.authorization ? token : 'anonymous', expires_in: 300 }));
      return;
    }
    if (o.auth && req.headers.authorization !== `Bearer ${token}`) {
      const m = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(url.pathname);
      const scope = m ? `,scope="repository:${m[1]}:pull"` : '';
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://${fake.host}/token",service="fake"${scope}`,
        'content-type': 'application/json',
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (url.pathname === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    const repo = m && fake.repos.get(m[1]!);
    if (!m || !repo) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
      return;
    }
    if (m[2] === 'manifests') {
      const img = repo.image;
      res.writeHead(200, { 'content-type': img.manifestType, 'content-length': img.manifest.length });
      res.end(img.manifest);
      return;
    }
    const serve = repo.blobs.get(m[3]!);
    if (!serve) {
      res.writeHead(404).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
      return;
    }
    if (o.redirectTo) {
      res.writeHead(307, { location: `http://${o.redirectTo}/storage/${m[1]}/${m[3]}` }).end();
      return;
    }
    serve(res);
  });
  fake.host = await listen(server);
  return fake;
}

function serveBytes(data: Buffer): BlobServe {
  return (res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
    res.end(data);
  };
}

function addRepo(
  fake: Fake,
  name: string,
  image: FakeImage,
  layer: BlobServe = serveBytes(image.layer),
): void {
  fake.repos.set(name, {
    image,
    blobs: new Map([
      [sha256(image.config), serveBytes(image.config)],
      [image.layerDigest, layer],
    ]),
  });
}

/** Files under layers/ (its direct entries, temp directories included) and blobs/ (recursively). */
function storeFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), `${rel}/${e.name}`);
      else out.push(`${rel}/${e.name}`);
    }
  };
  if (existsSync(join(root, 'layers')))
    for (const e of readdirSync(join(root, 'layers'))) out.push(`layers/${e}`);
  walk(join(root, 'blobs'), 'blobs');
  return out.sort();
}

describe('hostile registries', () => {
  let fake: Fake;
  const root = join(scratch, 'hostile-root');
  const env = { BERTH_ROOT: root };

  before(async () => {
    fake = await startFake();
    ok(['images'], { env });
  });

  /** Pulls `repo` from the fake registry, expecting a clean refusal that leaves the store as it was. */
  async function refused(repo: string, message: RegExp): Promise<void> {
    const before = storeFiles(root);
    const r = await bAsync(['pull', `${fake.host}/${repo}:1`], env);
    assertFails(r, message);
    assert.deepEqual(storeFiles(root), before, 'the failed pull left files in the store');
    assert.equal((await bAsync(['images', '-q', '-a'], env)).stdout, '', 'the failed pull left an image');
  }

  test('a blob whose bytes do not match its digest', async () => {
    const img = await fakeImage([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/x', body: uniq('digest') },
    ]);
    const corrupt = Buffer.from(img.layer);
    corrupt[Math.floor(corrupt.length / 2)]! ^= 0xff;
    addRepo(fake, 'bad/digest', img, serveBytes(corrupt));
    await refused(
      'bad/digest',
      /layer sha256:[a-f0-9]{64} failed verification: the registry sent content with digest sha256:/,
    );
  });

  test('a truncated blob, cut short cleanly or by a dropped connection', async () => {
    const img = await fakeImage([{ name: 'x', body: randomBytes(64 << 10) }]);
    const half = img.layer.subarray(0, img.layer.length >> 1);
    addRepo(fake, 'bad/short', img, serveBytes(half));
    await refused('bad/short', /is truncated: the registry sent \d+ of \d+ bytes/);
    addRepo(fake, 'bad/cut', img, (res) => {
      res.writeHead(200, { 'content-length': img.layer.length });
      res.write(half, () => res.socket?.destroy());
    });
    await refused(
      'bad/cut',
      /downloading layer sha256:[a-f0-9]{64} failed .*truncated or the connection broke/,
    );
  });

  test('a blob larger than its descriptor says', async () => {
    const img = await fakeImage([{ name: 'x', body: uniq('large') }]);
    addRepo(fake, 'bad/large', img, serveBytes(Buffer.concat([img.layer, randomBytes(4096)])));
    await refused('bad/large', /is larger than the \d+ bytes its manifest says/);
  });

  test('an oversized manifest', async () => {
    const img = await fakeImage([{ name: 'x', body: 'x' }]);
    const big = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        annotations: { padding: 'x'.repeat(5 << 20) },
      }),
    );
    addRepo(fake, 'bad/bigmanifest', { ...img, manifest: big });
    await refused('bad/bigmanifest', /manifest for .* is larger than 4 MiB; refusing it/);
  });

  test('a manifest of an unknown media type', async () => {
    const type = 'application/vnd.example.thing.v1+json';
    const img = await fakeImage([{ name: 'x', body: 'x' }]);
    addRepo(fake, 'bad/type', {
      ...img,
      manifestType: type,
      manifest: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: type, blobs: [] })),
    });
    await refused('bad/type', /unsupported media type "application\/vnd\.example\.thing\.v1\+json"/);
  });

  test('a layer that climbs out with ../ writes nothing outside', async () => {
    const target = join(tmpdir(), uniq('berth-escape'));
    const depth = '../'.repeat(20);
    const img = await fakeImage([
      { name: 'etc/', type: 'directory' },
      { name: `${depth}${target.slice(1)}`, body: 'pwned' },
    ]);
    addRepo(fake, 'bad/escape', img);
    await refused('bad/escape', /unsafe path/);
    assert.ok(!existsSync(target), `${target} was written`);
  });

  test('a zstd layer is pulled, checked and unpacked; corrupt zstd is refused', async () => {
    const body = uniq('zstd');
    const img = await fakeImage([{ name: 'x', body }], { zstd: true });
    addRepo(fake, 'ok/zstd', img);
    const zenv = { BERTH_ROOT: join(scratch, 'zstd-root') };
    const r = await bAsync(['pull', `${fake.host}/ok/zstd:1`], zenv);
    assert.equal(r.code, 0, r.stderr);
    const layers = join(scratch, 'zstd-root', 'layers');
    const dirs = readdirSync(layers).filter((d) => /^[0-9a-f]{64}$/.test(d));
    assert.ok(
      dirs.some(
        (d) => existsSync(join(layers, d, 'x')) && readFileSync(join(layers, d, 'x'), 'utf8') === body,
      ),
    );
    const bad = await fakeImage([{ name: 'x', body: uniq('zstd-bad') }], { zstd: true });
    const corrupt = Buffer.from(bad.layer);
    corrupt.fill(0x41, 8, Math.min(corrupt.length, 40));
    addRepo(fake, 'bad/zstd', bad, serveBytes(corrupt));
    await refused('bad/zstd', /failed verification|bad zstd data/);
  });

  test('a layer whose content does not match the config diff_id', async () => {
    const img = await fakeImage([{ name: 'x', body: uniq('diffid') }], { diffId: sha256('something else') });
    addRepo(fake, 'bad/diffid', img);
    await refused('bad/diffid', /unpacks to sha256:[a-f0-9]{64}, but the image config says its diff_id is/);
  });
});

describe('token authentication, redirects and retries', () => {
  test('login through the token flow; blobs follow a redirect without the credentials; a 503 is retried', async () => {
    const auth = { user: 'tokuser', password: `pw-${randomBytes(4).toString('hex')}` };
    const storage: Array<{ url: string; authorization?: string }> = [];
    const failed = new Set<string>();
    const store = createServer((req, res) => {
      storage.push({ url: req.url ?? '', authorization: req.headers.authorization });
      const digest = (req.url ?? '').split('/').pop()!;
      // Every blob fails once: the client must retry, and still verify what it gets.
      if (!failed.has(digest)) {
        failed.add(digest);
        res.writeHead(503).end();
        return;
      }
      const blob = [...fake.repos.values()][0]!.blobs.get(digest);
      if (!blob) res.writeHead(404).end();
      else blob(res);
    });
    const storageHost = await listen(store);
    const fake = await startFake({ auth, redirectTo: storageHost });
    const img = await fakeImage([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/tok', body: uniq('tok') },
    ]);
    addRepo(fake, 'tok/app', img);
    const root = join(scratch, 'token-root');
    const env = { BERTH_ROOT: root };

    const bad = await bAsync(['login', '-u', auth.user, '--password-stdin', fake.host], env, 'nope\n');
    assertFails(bad, /unauthorized: incorrect username or password/);
    const anonymous = await bAsync(['pull', `${fake.host}/tok/app:1`], env);
    assertFails(anonymous, /pull access denied .*unauthorized/);

    const good = await bAsync(
      ['login', '-u', auth.user, '--password-stdin', fake.host],
      env,
      `${auth.password}\n`,
    );
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, 'Login Succeeded\n');

    fake.requests.length = 0;
    const pulled = await bAsync(['pull', `${fake.host}/tok/app:1`], env);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, new RegExp(`^Digest: ${sha256(img.manifest)}$`, 'm'));
    const tokenReq = fake.requests.find((r) => r.url.startsWith('/token'));
    assert.ok(tokenReq, 'the token server was asked');
    const q = new URL(tokenReq.url, 'http://x').searchParams;
    assert.equal(q.get('service'), 'fake');
    assert.deepEqual(q.getAll('scope'), ['repository:tok/app:pull']);
    assert.equal(
      tokenReq.authorization,
      `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`,
    );
    assert.ok(
      fake.requests.some((r) => r.url.includes('/manifests/') && r.authorization?.startsWith('Bearer ')),
      'the manifest was fetched with the token',
    );
    assert.ok(storage.length >= 4, 'config and layer were each fetched twice (503, then 200)');
    assert.ok(
      storage.every((r) => r.authorization === undefined),
      'credentials must not follow a redirect to another host',
    );
    const run = await bAsync(['image', 'inspect', '-f', '{{.Id}}', `${fake.host}/tok/app:1`], env);
    assert.equal(run.stdout.trim(), sha256(img.config));
    rmSync(root, { recursive: true, force: true });
  });
});
