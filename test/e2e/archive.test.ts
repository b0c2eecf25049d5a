import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  BERTH,
  berth,
  busyboxTar,
  ENV,
  ensureBusybox,
  ok,
  type Result,
  type TarEntry,
  tarOf,
  uniq,
} from '../helpers.ts';

/**
 * berth save / berth load end to end, and their interchange with skopeo and umoci: Berth's
 * archives read by skopeo (docker-archive, oci-archive, oci), archives written by skopeo (from
 * Berth's and from umoci's images) and by hand in docker ≤ 24's legacy layout loaded by Berth and
 * run, and hostile archives refused with the store left exactly as it was. Names come from uniq();
 * the shared `busybox` image is only ever read.
 */

const scratch = mkdtempSync(join(tmpdir(), 'berth-archive-test-'));
const madeImages = new Set<string>();

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const lines = (s: string) => s.split('\n').filter((l) => l !== '');
const ARCH =
  ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' } as Record<string, string>)[process.arch] ??
  process.arch;

/** A one-file layer whose digest no other test produces. */
function markerLayer(text: string): Promise<Buffer> {
  return tarOf([{ name: 'marker', body: `${text}\n` }]);
}

function configOf(diffIds: string[], label: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: ARCH,
      os: 'linux',
      created: '2024-01-02T03:04:05Z',
      config: { Cmd: ['sh'], Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Labels: { 'berth.test': label } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created: '2024-01-02T03:04:05Z', created_by: 'test' })),
    }),
  );
}

/**
 * docker ≤ 24's layout: manifest.json, `<id>.json`, `<v1 id>/layer.tar` (+ json, VERSION), and
 * repositories; a layer listed twice is a symlink to the first copy, as docker writes it.
 */
function legacyArchive(
  layers: Buffer[],
  opts: { tags?: string[]; label: string; config?: Buffer; layerPaths?: string[]; extra?: TarEntry[] },
): Promise<Buffer> {
  const config = opts.config ?? configOf(layers.map(sha256), opts.label);
  const configName = `${sha256(config).slice(7)}.json`;
  const entries: TarEntry[] = [];
  const paths: string[] = [];
  const firstPath = new Map<string, string>();
  for (const [i, layer] of layers.entries()) {
    const v1 = sha256(`${opts.label}-${i}`).slice(7);
    const path = `${v1}/layer.tar`;
    entries.push({ name: `${v1}/`, type: 'directory' });
    entries.push({ name: `${v1}/VERSION`, body: '1.0' });
    entries.push({ name: `${v1}/json`, body: JSON.stringify({ id: v1 }) });
    const seen = firstPath.get(sha256(layer));
    if (seen) entries.push({ name: path, type: 'symlink', linkname: `../${seen}` });
    else {
      entries.push({ name: path, body: layer });
      firstPath.set(sha256(layer), path);
    }
    paths.push(path);
  }
  entries.push({ name: configName, body: config });
  entries.push({
    name: 'manifest.json',
    body: JSON.stringify([
      { Config: configName, RepoTags: opts.tags ?? null, Layers: opts.layerPaths ?? paths },
    ]),
  });
  entries.push(...(opts.extra ?? []));
  return tarOf(entries);
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/**
 * An OCI layout archive holding one image behind a nested (multi-platform) index: the host's
 * platform points at the image; `others` lists platforms whose blobs the archive leaves out, as
 * `docker save` of one platform of a multi-platform image does.
 */
function multiPlatformArchive(
  layer: Buffer,
  name: string,
  o: { hostArch: string; others: string[] },
): Promise<Buffer> {
  const config = configOf([sha256(layer)], name);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: sha256(gzipSync(layer)),
          size: gzipSync(layer).length,
        },
      ],
    }),
  );
  const nested = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        ...o.others.map((arch) => ({
          mediaType: OCI_MANIFEST,
          digest: sha256(`missing-${arch}`),
          size: 100,
          platform: { os: 'linux', architecture: arch },
        })),
        {
          mediaType: OCI_MANIFEST,
          digest: sha256(manifest),
          size: manifest.length,
          platform: { os: 'linux', architecture: o.hostArch },
        },
      ],
    }),
  );
  const blob = (b: Buffer): TarEntry => ({ name: `blobs/sha256/${sha256(b).slice(7)}`, body: b });
  return tarOf([
    { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
    blob(gzipSync(layer)),
    blob(config),
    blob(manifest),
    blob(nested),
    {
      name: 'index.json',
      body: JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_INDEX,
            digest: sha256(nested),
            size: nested.length,
            annotations: {
              'io.containerd.image.name': `docker.io/library/${name}:multi`,
              'org.opencontainers.image.ref.name': 'multi',
            },
          },
        ],
      }),
    },
  ]);
}

function writeScratch(data: Buffer | string, ext = 'tar'): string {
  const f = join(scratch, `${uniq('in')}.${ext}`);
  writeFileSync(f, data);
  return f;
}

function scratchPath(ext = 'tar'): string {
  return join(scratch, `${uniq('out')}.${ext}`);
}

/** Unpacks an archive with GNU tar, to look at it as any other reader would. */
function untar(file: string): string {
  const dir = mkdtempSync(join(scratch, 'x-'));
  execFileSync('tar', ['-C', dir, '-xf', file]);
  return dir;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

function skopeo(args: string[]): string {
  return execFileSync('skopeo', ['--insecure-policy', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface ImageInfo {
  Id: string;
  RepoTags: string[];
  RootFS: { Layers: string[] };
}

function inspectImage(ref: string, env?: NodeJS.ProcessEnv): ImageInfo {
  const r = berth(['image', 'inspect', ref], { env });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as ImageInfo[])[0]!;
}

/** A fresh image with busybox's layer: its own ID (a unique label), under `name`. */
function bbImage(name: string): string {
  const id = ok([
    'import',
    '--change',
    'CMD ["sh"]',
    '--change',
    `LABEL berth.test=${name}`,
    busyboxTar(),
    name,
  ]).trim();
  madeImages.add(id);
  return id;
}

function loadLines(r: Result): string[] {
  assert.equal(r.code, 0, `load failed\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return lines(r.stdout);
}

function rmi(...refs: string[]): void {
  ok(['rmi', '-f', ...refs]);
}

/** A failed command: exit 1, one plain line on stderr. */
function assertFails(r: Result, message: RegExp): void {
  assert.equal(r.code, 1, `want exit 1, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const err = r.stderr.trim();
  assert.ok(!err.includes('\n'), `want a one-line error, got:\n${err}`);
  assert.doesNotMatch(err, /\bat .*\.(js|ts):\d+/, 'a stack trace is not an error message');
  assert.match(err, message);
}

before(() => {
  ensureBusybox();
});

after(() => {
  if (madeImages.size > 0) berth(['rmi', '-f', ...madeImages]);
  rmSync(scratch, { recursive: true, force: true });
});

describe('save', () => {
  test('writes docker 25’s layout: index.json, manifest.json, repositories, uncompressed blobs', () => {
    const name = uniq('sv-layout');
    const id = bbImage(`${name}:v1`);
    ok(['tag', `${name}:v1`, `${name}:v2`]);
    const file = scratchPath();
    ok(['save', '-o', file, `${name}:v1`]);
    const dir = untar(file);
    assert.deepEqual(readdirSync(dir).sort(), [
      'blobs',
      'index.json',
      'manifest.json',
      'oci-layout',
      'repositories',
    ]);
    assert.deepEqual(readJson(join(dir, 'oci-layout')), { imageLayoutVersion: '1.0.0' });
    for (const b of readdirSync(join(dir, 'blobs', 'sha256'))) {
      assert.equal(
        sha256(readFileSync(join(dir, 'blobs', 'sha256', b))),
        `sha256:${b}`,
        'every blob is named by its digest',
      );
    }
    const diffIds = inspectImage(id).RootFS.Layers;
    const manifest = readJson<Array<{ Config: string; RepoTags: string[]; Layers: string[] }>>(
      join(dir, 'manifest.json'),
    );
    assert.deepEqual(manifest, [
      {
        Config: `blobs/sha256/${id.slice(7)}`,
        RepoTags: [`${name}:v1`],
        Layers: diffIds.map((d) => `blobs/sha256/${d.slice(7)}`),
      },
    ]);
    // Uncompressed: the layer is the busybox tar itself.
    assert.equal(
      sha256(readFileSync(join(dir, manifest[0]!.Layers[0]!))),
      sha256(readFileSync(busyboxTar())),
    );
    assert.deepEqual(readJson(join(dir, 'repositories')), { [name]: { v1: diffIds.at(-1)!.slice(7) } });
    const index = readJson<{ manifests: Array<{ digest: string; annotations: Record<string, string> }> }>(
      join(dir, 'index.json'),
    );
    assert.equal(index.manifests.length, 1);
    assert.deepEqual(index.manifests[0]!.annotations, {
      'io.containerd.image.name': `docker.io/library/${name}:v1`,
      'org.opencontainers.image.ref.name': 'v1',
    });
    const m = readJson<{ config: { digest: string }; layers: Array<{ digest: string; mediaType: string }> }>(
      join(dir, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)),
    );
    assert.equal(m.config.digest, id);
    assert.deepEqual(
      m.layers.map((l) => [l.digest, l.mediaType]),
      diffIds.map((d) => [d, 'application/vnd.oci.image.layer.v1.tar']),
    );
  });

  test('skopeo reads it: inspect docker-archive:, copy to an OCI layout', () => {
    const name = uniq('sv-skopeo');
    const id = bbImage(name);
    const file = scratchPath();
    ok(['save', '-o', file, name]);
    const info = JSON.parse(skopeo(['inspect', `docker-archive:${file}`])) as {
      Layers: string[];
      Labels: Record<string, string>;
    };
    assert.deepEqual(info.Layers, inspectImage(id).RootFS.Layers);
    assert.equal(info.Labels['berth.test'], name);
    const layout = join(scratch, uniq('layout'));
    skopeo(['copy', `docker-archive:${file}`, `oci:${layout}:t`]);
    assert.ok(existsSync(join(layout, 'index.json')));
    // docker-archive:FILE:name picks the image by its RepoTag.
    skopeo(['inspect', `docker-archive:${file}:${name}:latest`]);
  });

  test('by ID: every tag the image has; an untagged image gets RepoTags null', () => {
    const name = uniq('sv-byid');
    const id = bbImage(`${name}:a`);
    ok(['tag', `${name}:a`, `other-${name}:b`]);
    const file = scratchPath();
    ok(['save', '-o', file, id.slice(7, 19)]);
    const manifest = readJson<Array<{ RepoTags: string[] | null }>>(join(untar(file), 'manifest.json'));
    assert.deepEqual(manifest[0]!.RepoTags?.sort(), [`${name}:a`, `other-${name}:b`].sort());

    const bare = ok(['import', '--change', `LABEL berth.test=${uniq('bare')}`, busyboxTar()]).trim();
    madeImages.add(bare);
    const bareFile = scratchPath();
    ok(['save', '-o', bareFile, bare]);
    const bareDir = untar(bareFile);
    assert.equal(readJson<Array<{ RepoTags: null }>>(join(bareDir, 'manifest.json'))[0]!.RepoTags, null);
    assert.ok(!existsSync(join(bareDir, 'repositories')), 'no names, no repositories file');
    // The ID comes back, and the load says so in docker's words.
    rmi(bare);
    assert.deepEqual(loadLines(berth(['load', '-i', bareFile])), [`Loaded image ID: ${bare}`]);
    assert.equal(inspectImage(bare).Id, bare);
  });

  test('by name: only that name, though the image has others', () => {
    const name = uniq('sv-byname');
    bbImage(`${name}:one`);
    ok(['tag', `${name}:one`, `${name}-x:two`]);
    const file = scratchPath();
    ok(['save', '-o', file, `${name}:one`]);
    const manifest = readJson<Array<{ RepoTags: string[] }>>(join(untar(file), 'manifest.json'));
    assert.deepEqual(manifest[0]!.RepoTags, [`${name}:one`]);
  });

  test('to stdout when redirected; refuses a terminal; -o leaves nothing behind on failure', () => {
    const name = uniq('sv-stdout');
    bbImage(name);
    const r = spawnSync(BERTH, ['save', name], { env: ENV, maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr.toString());
    const file = writeScratch(r.stdout);
    assert.match(readFileSync(join(untar(file), 'manifest.json'), 'utf8'), new RegExp(`"${name}:latest"`));

    // script(1) gives the command a terminal for its stdout.
    const tty = spawnSync('script', ['-qec', `${BERTH} save ${name}`, '/dev/null'], {
      env: ENV,
      encoding: 'utf8',
    });
    assert.notEqual(tty.status, 0);
    assert.match(tty.stdout, /cowardly refusing to save to a terminal\. Use the -o flag or redirect/);

    const dir = mkdtempSync(join(scratch, 'o-'));
    const out = join(dir, 'x.tar');
    assertFails(berth(['save', '-o', out, uniq('no-such-image')]), /No such image/);
    assert.deepEqual(readdirSync(dir), [], 'no archive and no temp file');
  });
});

describe('load', () => {
  test('save → rmi → load: same ID, every name, and the image runs', () => {
    const name = uniq('ld-round');
    const id = bbImage(`${name}:v1`);
    ok(['tag', `${name}:v1`, `${name}:v2`]);
    const file = scratchPath();
    ok(['save', '-o', file, `${name}:v1`, `${name}:v2`]);
    rmi(id);
    assert.deepEqual(loadLines(berth(['load', '-i', file])).sort(), [
      `Loaded image: ${name}:v1`,
      `Loaded image: ${name}:v2`,
    ]);
    const img = inspectImage(`${name}:v2`);
    assert.equal(img.Id, id);
    assert.deepEqual(img.RepoTags.sort(), [`${name}:v1`, `${name}:v2`]);
    assert.equal(ok(['run', '--rm', `${name}:v1`, 'echo', 'ok']).trim(), 'ok');
    // Loading what is already here only names it again.
    assert.deepEqual(loadLines(berth(['load'], { input: readFileSync(file) })).length, 2);
  });

  test('a gzip-compressed archive, from stdin and from -i', () => {
    const name = uniq('ld-gz');
    const id = bbImage(name);
    const file = scratchPath();
    ok(['save', '-o', file, name]);
    rmi(id);
    const gz = gzipSync(readFileSync(file));
    assert.deepEqual(loadLines(berth(['load'], { input: gz })), [`Loaded image: ${name}:latest`]);
    assert.equal(inspectImage(name).Id, id);
    rmi(id);
    assert.deepEqual(loadLines(berth(['load', '-q', '-i', writeScratch(gz, 'tar.gz')])), [
      `Loaded image: ${name}:latest`,
    ]);
    assert.equal(ok(['run', '--rm', name, 'echo', 'ok']).trim(), 'ok');
  });

  test('two images in one archive come back together', () => {
    const a = uniq('ld-two-a');
    const b = uniq('ld-two-b');
    const idA = bbImage(a);
    const idB = bbImage(`${b}:x`);
    const file = scratchPath();
    ok(['save', '-o', file, a, `${b}:x`]);
    assert.equal(readJson<unknown[]>(join(untar(file), 'manifest.json')).length, 2);
    rmi(idA, idB);
    assert.deepEqual(
      loadLines(berth(['load', '-i', file])).sort(),
      [`Loaded image: ${a}:latest`, `Loaded image: ${b}:x`].sort(),
    );
    assert.equal(inspectImage(a).Id, idA);
    assert.equal(inspectImage(`${b}:x`).Id, idB);
  });

  test('docker ≤ 24’s legacy layout, with a layer symlinked to its first copy, loads and runs', async () => {
    const name = uniq('ld-legacy');
    const marker = await markerLayer(name);
    const bb = readFileSync(busyboxTar());
    const archive = await legacyArchive([bb, marker, bb], { tags: [`${name}:old`], label: name });
    const r = berth(['load', '-i', writeScratch(archive)]);
    assert.deepEqual(loadLines(r), [`Loaded image: ${name}:old`]);
    const img = inspectImage(`${name}:old`);
    madeImages.add(img.Id);
    assert.deepEqual(img.RootFS.Layers, [sha256(bb), sha256(marker), sha256(bb)]);
    assert.equal(ok(['run', '--rm', `${name}:old`, 'cat', '/marker']).trim(), name);
  });

  test('an archive skopeo rewrote from Berth’s loads under its new name and runs', () => {
    const name = uniq('ld-skopeo');
    const id = bbImage(name);
    const file = scratchPath();
    ok(['save', '-o', file, name]);
    const copy = scratchPath();
    skopeo(['copy', `docker-archive:${file}`, `docker-archive:${copy}:skopeo/${name}:tag`]);
    assert.deepEqual(loadLines(berth(['load', '-i', copy])), [`Loaded image: skopeo/${name}:tag`]);
    const img = inspectImage(`skopeo/${name}:tag`);
    madeImages.add(img.Id);
    assert.equal(img.Id, id, 'skopeo keeps the config, so the ID');
    assert.equal(ok(['run', '--rm', `skopeo/${name}:tag`, 'echo', 'ok']).trim(), 'ok');
  });

  test('an image umoci built: through skopeo’s docker-archive, and as umoci’s own OCI layout', () => {
    const name = uniq('ld-umoci');
    const layout = join(scratch, uniq('L'));
    const bundle = join(scratch, uniq('B'));
    const sh = (cmd: string) => execFileSync('sh', ['-ec', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    sh(
      `umoci init --layout ${layout} && umoci new --image ${layout}:t && umoci unpack --image ${layout}:t ${bundle}`,
    );
    sh(`tar -C ${bundle}/rootfs -xf ${busyboxTar()} && echo ${name} > ${bundle}/rootfs/hello`);
    sh(`umoci repack --image ${layout}:t ${bundle}`);
    const file = scratchPath();
    skopeo(['copy', `oci:${layout}:t`, `docker-archive:${file}:umoci/${name}:t`]);
    assert.deepEqual(loadLines(berth(['load', '-i', file])), [`Loaded image: umoci/${name}:t`]);
    const img = inspectImage(`umoci/${name}:t`);
    madeImages.add(img.Id);
    assert.equal(ok(['run', '--rm', `umoci/${name}:t`, 'cat', '/hello']).trim(), name);

    // The layout itself, gzip-compressed layers and all: the ref name "t" is a tag, no repository.
    const ociTar = scratchPath();
    execFileSync('tar', ['-C', layout, '-cf', ociTar, '.']);
    assert.deepEqual(loadLines(berth(['load', '-i', ociTar])), [`Loaded image ID: ${img.Id}`]);
  });

  test('gzip layers (from an OCI layout) are saved uncompressed with exact sizes, and load back', () => {
    const name = uniq('ld-gzlayers');
    const layout = join(scratch, uniq('L'));
    const bundle = join(scratch, uniq('B'));
    const sh = (cmd: string) => execFileSync('sh', ['-ec', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    sh(
      `umoci init --layout ${layout} && umoci new --image ${layout}:t && umoci unpack --image ${layout}:t ${bundle}`,
    );
    sh(`echo ${name} > ${bundle}/rootfs/hello && head -c 300000 /dev/urandom > ${bundle}/rootfs/noise`);
    sh(`umoci repack --image ${layout}:t ${bundle}`);
    const ociTar = scratchPath();
    execFileSync('tar', ['-C', layout, '-cf', ociTar, '.']);
    const [line] = loadLines(berth(['load', '-i', ociTar]));
    const id = /^Loaded image ID: (sha256:[a-f0-9]{64})$/.exec(line ?? '')?.[1];
    assert.ok(id, line);
    madeImages.add(id);
    const diffIds = inspectImage(id).RootFS.Layers;
    const file = scratchPath();
    ok(['save', '-o', file, id]);
    const dir = untar(file);
    const manifest = readJson<Array<{ Layers: string[] }>>(join(dir, 'manifest.json'));
    assert.deepEqual(
      manifest[0]!.Layers.map((l) => sha256(readFileSync(join(dir, l)))),
      diffIds,
      'each layer is the uncompressed tar',
    );
    const info = JSON.parse(skopeo(['inspect', `docker-archive:${file}`])) as { Layers: string[] };
    assert.deepEqual(info.Layers, diffIds);
    // Into a store of its own, so the layers are really written again.
    const base = mkdtempSync(join(scratch, 'store-'));
    const env = { BERTH_ROOT: join(base, 'root'), BERTH_RUNROOT: join(base, 'run') };
    assert.deepEqual(loadLines(berth(['load', '-i', file], { env })), [`Loaded image ID: ${id}`]);
    assert.deepEqual(inspectImage(id, env).RootFS.Layers, diffIds);
    assert.equal(
      readFileSync(join(base, 'root', 'layers', diffIds[0]!.slice(7), 'hello'), 'utf8').trim(),
      name,
    );
  });

  test('--format oci: an OCI archive skopeo reads as oci-archive:, and that Berth loads back', () => {
    const name = uniq('ld-oci');
    const id = bbImage(`${name}:v3`);
    const file = scratchPath();
    ok(['save', '--format', 'oci', '-o', file, `${name}:v3`]);
    const dir = untar(file);
    assert.deepEqual(readdirSync(dir).sort(), ['blobs', 'index.json', 'oci-layout']);
    const info = JSON.parse(skopeo(['inspect', `oci-archive:${file}`])) as { Layers: string[] };
    assert.deepEqual(info.Layers, inspectImage(id).RootFS.Layers);
    const copy = scratchPath();
    skopeo(['copy', `oci-archive:${file}`, `docker-archive:${copy}:conv/${name}:t`]);
    rmi(id);
    assert.deepEqual(loadLines(berth(['load', '-i', file])), [`Loaded image: ${name}:v3`]);
    assert.equal(inspectImage(`${name}:v3`).Id, id);
    assert.deepEqual(loadLines(berth(['load', '-i', copy])), [`Loaded image: conv/${name}:t`]);
    const conv = inspectImage(`conv/${name}:t`);
    madeImages.add(conv.Id);
    assert.equal(ok(['run', '--rm', `conv/${name}:t`, 'echo', 'ok']).trim(), 'ok');
  });

  test('a multi-platform OCI archive: the host’s image, named by its annotation', async () => {
    const name = uniq('ld-multi');
    const layer = await markerLayer(name);
    const archive = await multiPlatformArchive(layer, name, { hostArch: ARCH, others: ['s390x', 'riscv64'] });
    assert.deepEqual(loadLines(berth(['load'], { input: archive })), [`Loaded image: ${name}:multi`]);
    const img = inspectImage(`${name}:multi`);
    madeImages.add(img.Id);
    assert.deepEqual(img.RootFS.Layers, [sha256(layer)], 'the diff ID is the uncompressed layer’s');
  });

  test('a name another image holds moves to the loaded one, with docker’s notice', () => {
    const name = uniq('ld-rename');
    const idA = bbImage(`${name}:v`);
    const file = scratchPath();
    ok(['save', '-o', file, `${name}:v`]);
    const idB = bbImage(`${name}:v`);
    assert.deepEqual(loadLines(berth(['load', '-i', file])), [
      `The image ${name}:v already exists, renaming the old one with ID ${idB} to empty string`,
      `Loaded image: ${name}:v`,
    ]);
    assert.equal(inspectImage(`${name}:v`).Id, idA);
  });

  test('load refuses arguments, a missing file, and a terminal on stdin', () => {
    assert.equal(berth(['load', 'x']).code, 125);
    assertFails(
      berth(['load', '-i', join(scratch, 'no-such.tar')]),
      /^Error: open .*no-such\.tar: no such file or directory$/,
    );
    const tty = spawnSync('script', ['-qec', `${BERTH} load`, '/dev/null'], { env: ENV, encoding: 'utf8' });
    assert.notEqual(tty.status, 0);
    assert.match(tty.stdout, /requested load from stdin, but stdin is empty/);
  });
});

describe('hostile archives leave the store as it was', () => {
  // A store of its own, so that what other test files add or remove cannot blur the before/after.
  const base = mkdtempSync(join(tmpdir(), 'berth-archive-hostile-'));
  const root = join(base, 'root');
  const env = { BERTH_ROOT: root, BERTH_RUNROOT: join(base, 'run') };
  const run = (args: string[], input?: string | Buffer) => berth(args, { env, input });
  const u = uniq('h');

  interface Snapshot {
    blobs: string[];
    blobTmp: string[];
    layers: string[];
    tmp: string[];
    images: string;
  }
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);
  const snapshot = (): Snapshot => {
    const r = run(['images', '-a', '-q', '--no-trunc']);
    assert.equal(r.code, 0, r.stderr);
    return {
      blobs: list(join(root, 'blobs', 'sha256')),
      blobTmp: list(join(root, 'blobs', 'tmp')),
      layers: list(join(root, 'layers')),
      tmp: list(join(root, 'tmp')),
      images: r.stdout,
    };
  };
  let seedLayer: Buffer;
  let seeded: Snapshot;

  before(async () => {
    mkdirSync(root, { recursive: true });
    seedLayer = await markerLayer(`${u}-seed`);
    const r = run(['load'], await legacyArchive([seedLayer], { tags: ['seed:1'], label: `${u}-seed` }));
    assert.equal(r.code, 0, r.stderr);
    seeded = snapshot();
    assert.equal(seeded.blobs.length, 3, 'config, layer, manifest');
    assert.equal(seeded.layers.length, 1);
    assert.equal(lines(seeded.images).length, 1);
  });

  afterEach(() => assert.deepEqual(snapshot(), seeded));
  after(() => rmSync(base, { recursive: true, force: true }));

  function refused(input: Buffer | string, message: RegExp): void {
    assertFails(run(['load'], input), message);
    assert.deepEqual(snapshot(), seeded);
  }

  /** docker 25's layout by hand: blobs named by digest, with `tamper` applied to the entries. */
  async function blobArchive(
    layers: Buffer[],
    tamper: (entries: TarEntry[]) => TarEntry[] = (e) => e,
  ): Promise<Buffer> {
    const config = configOf(layers.map(sha256), `${u}-${randomBytes(4).toString('hex')}`);
    const entries: TarEntry[] = [
      ...layers.map((l) => ({ name: `blobs/sha256/${sha256(l).slice(7)}`, body: l })),
      { name: `blobs/sha256/${sha256(config).slice(7)}`, body: config },
      {
        name: 'manifest.json',
        body: JSON.stringify([
          {
            Config: `blobs/sha256/${sha256(config).slice(7)}`,
            RepoTags: [`${u}:evil`],
            Layers: layers.map((l) => `blobs/sha256/${sha256(l).slice(7)}`),
          },
        ]),
      },
    ];
    return tarOf(tamper(entries));
  }

  test('entries that climb out of the archive, or start at /', async () => {
    const good = await blobArchive([await markerLayer(`${u}-1`)]);
    refused(
      await tarOf([{ name: `../evil-${u}`, body: 'x' }, ...(await entriesOf(good))]),
      /^Error: load: the archive entry "\.\.\/evil-.*" points outside the archive; refusing it$/,
    );
    refused(
      await tarOf([{ name: `a/../../evil-${u}`, body: 'x' }]),
      /^Error: load: the archive entry ".*" points outside the archive/,
    );
    refused(
      await tarOf([{ name: `/tmp/evil-${u}`, body: 'x' }]),
      /^Error: load: the archive entry "\/tmp\/evil-.*" has an absolute path/,
    );
    for (const dir of [root, base, join(root, 'tmp'), '/tmp']) assert.ok(!existsSync(join(dir, `evil-${u}`)));
  });

  test('symlinks in the archive that point outside it', async () => {
    refused(
      await tarOf([{ name: 'manifest.json', type: 'symlink', linkname: '/etc/passwd' }]),
      /^Error: load: the archive entry "manifest.json" is a symlink to the absolute path "\/etc\/passwd"/,
    );
    refused(
      await tarOf([{ name: 'x/layer.tar', type: 'symlink', linkname: '../../../etc/shadow' }]),
      /^Error: load: the archive entry "x\/layer.tar" is a symlink to "\.\.\/\.\.\/\.\.\/etc\/shadow", outside the archive/,
    );
    refused(
      await tarOf([{ name: 'h', type: 'link', linkname: '../../etc/passwd' }]),
      /^Error: load: the archive entry "h" is a hardlink to "\.\.\/\.\.\/etc\/passwd", outside the archive/,
    );
  });

  test('manifest.json naming files outside the archive', async () => {
    const layer = await markerLayer(`${u}-2`);
    const config = configOf([sha256(layer)], `${u}-2`);
    const manifest = (c: string, l: string) =>
      JSON.stringify([{ Config: c, RepoTags: [`${u}:evil`], Layers: [l] }]);
    refused(
      await tarOf([
        { name: 'c.json', body: config },
        { name: 'manifest.json', body: manifest('c.json', '../../etc/passwd') },
      ]),
      /^Error: load: manifest.json entry 1 \(layer 1\) refers to "\.\.\/\.\.\/etc\/passwd", which is outside the archive$/,
    );
    refused(
      await tarOf([{ name: 'manifest.json', body: manifest('/etc/passwd', 'l.tar') }]),
      /^Error: load: manifest.json entry 1 \(Config\) refers to "\/etc\/passwd", an absolute path outside the archive$/,
    );
    refused(
      await tarOf([
        { name: 'l.tar', body: layer },
        { name: 'manifest.json', body: manifest('missing.json', 'l.tar') },
      ]),
      /^Error: load: manifest.json entry 1 \(Config\) refers to "missing.json", which the archive does not contain$/,
    );
  });

  test('a blob whose content does not match its digest', async () => {
    const layer = await markerLayer(`${u}-3`);
    refused(
      await blobArchive([layer], (entries) =>
        entries.map((e) =>
          e.name.endsWith(sha256(layer).slice(7)) ? { ...e, body: Buffer.from('tampered') } : e,
        ),
      ),
      /^Error: load: layer blobs\/sha256\/[a-f0-9]{64} has digest sha256:[a-f0-9]{64}, but its name says sha256:[a-f0-9]{64}; the archive is corrupt$/,
    );
    // The OCI side: an index whose manifest descriptor names the wrong digest.
    const config = configOf([sha256(layer)], `${u}-3b`);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length },
      ],
    });
    const wrong = sha256('something else');
    refused(
      await tarOf([
        { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
        { name: `blobs/sha256/${sha256(layer).slice(7)}`, body: layer },
        { name: `blobs/sha256/${sha256(config).slice(7)}`, body: config },
        { name: `blobs/sha256/${wrong.slice(7)}`, body: manifest },
        {
          name: 'index.json',
          body: JSON.stringify({
            schemaVersion: 2,
            manifests: [
              {
                mediaType: 'application/vnd.oci.image.manifest.v1+json',
                digest: wrong,
                size: manifest.length,
                annotations: { 'io.containerd.image.name': `docker.io/library/${u}:evil` },
              },
            ],
          }),
        },
      ]),
      /^Error: load: index.json entry 1: blob sha256:[a-f0-9]{64} has digest sha256:[a-f0-9]{64}; the archive is corrupt$/,
    );
  });

  test('a layer whose diff ID is not the one its config names', async () => {
    const layer = await markerLayer(`${u}-4`);
    const other = await markerLayer(`${u}-4-other`);
    refused(
      await legacyArchive([layer], {
        tags: [`${u}:evil`],
        label: `${u}-4`,
        config: configOf([sha256(other)], `${u}-4`),
      }),
      /^Error: load: layer [a-f0-9]{64}\/layer.tar has diff ID sha256:[a-f0-9]{64}, but the image config says sha256:[a-f0-9]{64}; the archive is corrupt$/,
    );
    // gzip-compressed layers are checked on their uncompressed content.
    refused(
      await legacyArchive([gzipSync(layer)], {
        tags: [`${u}:evil`],
        label: `${u}-4g`,
        config: configOf([sha256(other)], `${u}-4g`),
      }),
      /has diff ID .*, but the image config says/,
    );
  });

  test('a layer that would write outside its root: nothing stays, shared layers included', async () => {
    const evil = await tarOf([{ name: `../../evil-${u}`, body: 'x' }]);
    const fine = await markerLayer(`${u}-5`);
    // The seed's layer is shared: it must survive; the new, fine layer must go.
    refused(
      await legacyArchive([seedLayer, fine, evil], { tags: [`${u}:evil`], label: `${u}-5` }),
      /^Error: load: layer sha256:[a-f0-9]{64} of the archive: layer contains an unsafe path: ".*" escapes the layer root$/,
    );
    // Two images: the first is fine, the second is not; neither is registered.
    const first = await legacyArchive([fine], { tags: [`${u}:first`], label: `${u}-5a` });
    const second = await legacyArchive([evil], { tags: [`${u}:second`], label: `${u}-5b` });
    const merged = await mergeDocker(first, second);
    refused(merged, /escapes the layer root/);
  });

  test('a truncated archive, a truncated gzip, random bytes, text, nothing at all', async () => {
    const layer = Buffer.concat([await markerLayer(`${u}-6`), randomBytes(0)]);
    const good = await blobArchive([await tarOf([{ name: 'big', body: randomBytes(20000) }]), layer]);
    refused(good.subarray(0, 9000), /^Error: load: the archive is truncated; copy the complete file$/);
    const gz = gzipSync(good);
    refused(
      gz.subarray(0, gz.length >> 1),
      /^Error: load: the gzip-compressed archive is truncated; copy the complete file$/,
    );
    const noise = randomBytes(4096);
    noise[0] = 0x42;
    refused(
      noise,
      /^Error: load: the input is not a tar archive \(.+\); want a file made by `berth save` or `docker save`$/,
    );
    refused('this is not a tar archive\n', /^Error: load: the input is not a tar archive/);
    refused('x', /^Error: load: the input is not a tar archive/);
    refused(
      'BZh91AY&SY',
      /^Error: load: bzip2-compressed archives are not supported; decompress it first or use gzip$/,
    );
    refused(
      '',
      /^Error: load: the input is empty; want a tar archive made by `berth save` or `docker save`$/,
    );
    refused(
      await tarOf([{ name: 'hello.txt', body: 'hi' }]),
      /^Error: load: the archive has neither manifest.json nor index.json/,
    );
  });

  test('a multi-platform archive without this host’s platform', async () => {
    const other = ARCH === 'arm64' ? 'amd64' : 'arm64';
    refused(
      await multiPlatformArchive(await markerLayer(`${u}-8`), `${u}-multi`, {
        hostArch: other,
        others: ['s390x'],
      }),
      new RegExp(
        `^Error: load: ${u}-multi:multi has no image for linux/${ARCH} \\(it has linux/s390x, linux/${other}\\)$`,
      ),
    );
  });

  test('the store still loads a good archive afterwards', async () => {
    // Sanity for the checks above: the same kind of archive, untampered, loads here.
    const layer = await markerLayer(`${u}-7`);
    const r = run(['load'], await blobArchive([layer]));
    assert.deepEqual(loadLines(r), [`Loaded image: ${u}:evil`]);
    const id = inspectImage(`${u}:evil`, env).Id;
    assert.equal(run(['rmi', id]).code, 0);
  });
});

/** The entries of a tar (files only), to put them into another. */
async function entriesOf(tar: Buffer): Promise<TarEntry[]> {
  const { extract } = await import('tar-stream');
  const ex = extract();
  const out: TarEntry[] = [];
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      if (e.header.type === 'file') out.push({ name: e.header.name, body: Buffer.concat(chunks) });
      else if (e.header.type === 'symlink')
        out.push({ name: e.header.name, type: 'symlink', linkname: e.header.linkname });
      else if (e.header.type === 'directory') out.push({ name: e.header.name, type: 'directory' });
    }
  })();
  ex.end(tar);
  await done;
  return out;
}

/** Two docker archives as one: their files side by side, their manifest.json entries concatenated. */
async function mergeDocker(a: Buffer, b: Buffer): Promise<Buffer> {
  const ea = await entriesOf(a);
  const eb = await entriesOf(b);
  const manifests = [...ea, ...eb]
    .filter((e) => e.name === 'manifest.json')
    .flatMap((e) => JSON.parse(String(e.body)) as unknown[]);
  const rest = [...ea, ...eb].filter((e) => e.name !== 'manifest.json');
  return tarOf([...rest, { name: 'manifest.json', body: JSON.stringify(manifests) }]);
}
