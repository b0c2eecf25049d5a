import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { berth, ensureBusybox, inspect, ok, type Result, TEST_ROOT, tarOf, uniq } from '../helpers.ts';

/**
 * The image store end to end: import (files, stdin, gzip, --change, -m), images and its flags,
 * tag, rmi, image inspect, history, image prune, the blob layout on disk, and hostile archives.
 * Every image here has a name from uniq() or a label unique to this process, so that test files
 * running side by side never see each other's images, and the shared `busybox` is never touched.
 */

const scratch = mkdtempSync(join(tmpdir(), 'berth-images-test-'));
const madeImages = new Set<string>();
const madeContainers = new Set<string>();

/** A small tar whose content (and so whose layer digest) no other test produces. */
function uniqueTar(tag: string): Promise<Buffer> {
  return tarOf([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/marker', body: `${tag}\n` },
  ]);
}

function writeScratch(data: Buffer | string, ext = 'tar'): string {
  const f = join(scratch, `${uniq('in')}.${ext}`);
  writeFileSync(f, data);
  return f;
}

/** Imports `tar` from a file; the image is removed after the tests. */
function importTar(tar: Buffer, ref?: string, flags: string[] = []): string {
  const id = ok(['import', ...flags, writeScratch(tar), ...(ref ? [ref] : [])]).trim();
  assert.match(id, /^sha256:[a-f0-9]{64}$/);
  madeImages.add(id);
  return id;
}

function createContainer(image: string): string {
  const id = ok(['create', image, 'true']).trim();
  assert.match(id, /^[a-f0-9]{64}$/);
  madeContainers.add(id);
  return id;
}

function removeContainer(id: string): void {
  ok(['rm', id]);
  madeContainers.delete(id);
}

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const short = (id: string) => id.slice(7, 19);
const lines = (s: string) => s.split('\n').filter((l) => l !== '');
const columns = (line: string) => line.trim().split(/\s{2,}/);
const blobPath = (digest: string, root = TEST_ROOT) => join(root, 'blobs', 'sha256', digest.slice(7));
const layerPath = (chainId: string, root = TEST_ROOT) => join(root, 'layers', chainId.slice(7));

function inspectImage<T = Record<string, unknown>>(ref: string): T & { Id: string } {
  const all = JSON.parse(ok(['image', 'inspect', ref])) as Array<T & { Id: string }>;
  assert.equal(all.length, 1);
  return all[0]!;
}

function exists(ref: string): boolean {
  return berth(['image', 'inspect', ref]).code === 0;
}

/** A failed command: exit 1 (docker's code for everything but usage and run errors), one plain line on stderr. */
function assertFails(r: Result, message: RegExp): void {
  assert.equal(r.code, 1, `want exit 1, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const err = r.stderr.trim();
  assert.ok(!err.includes('\n'), `want a one-line error, got:\n${err}`);
  assert.match(err, /^Error/);
  assert.doesNotMatch(err, /\bat .*\.(js|ts):\d+/, 'a stack trace is not an error message');
  assert.match(err, message);
}

before(() => {
  ensureBusybox();
});

after(() => {
  for (const c of madeContainers) berth(['rm', '-f', c]);
  // One call for all: IDs already removed just report "No such image".
  if (madeImages.size > 0) berth(['rmi', '-f', ...madeImages]);
  rmSync(scratch, { recursive: true, force: true });
});

describe('import', () => {
  test('--change and -m land in the image config, inspect and history', async () => {
    const name = uniq('imp-change');
    const tar = await uniqueTar(name);
    const id = importTar(tar, `${name}:v1`, [
      '-m',
      'imported for a test',
      '--change',
      'ENV A=1',
      '--change',
      'ENV B="two words"',
      '--change',
      'WORKDIR /w',
      '--change',
      'USER nobody',
      '--change',
      'EXPOSE 80',
      '--change',
      'EXPOSE 53/udp',
      '--change',
      'LABEL k=v',
      '--change',
      'ENTRYPOINT ["/bin/sh","-c"]',
      '--change',
      'CMD echo hi',
    ]);

    const config = JSON.parse(ok(['image', 'inspect', '-f', '{{json .Config}}', `${name}:v1`])) as Record<
      string,
      unknown
    >;
    assert.deepEqual(
      {
        User: config.User,
        WorkingDir: config.WorkingDir,
        Env: config.Env,
        ExposedPorts: config.ExposedPorts,
        Labels: config.Labels,
        Entrypoint: config.Entrypoint,
        Cmd: config.Cmd,
      },
      {
        User: 'nobody',
        WorkingDir: '/w',
        Env: ['A=1', 'B=two words'],
        ExposedPorts: { '80/tcp': {}, '53/udp': {} },
        Labels: { k: 'v' },
        Entrypoint: ['/bin/sh', '-c'],
        Cmd: ['/bin/sh', '-c', 'echo hi'],
      },
    );

    const img = inspectImage(`${name}:v1`);
    assert.equal(img.Id, id);
    assert.deepEqual(img.RepoTags, [`${name}:v1`]);
    assert.equal(img.Comment, 'imported for a test');
    assert.equal(img.Os, 'linux');
    // An imported layer is stored as the tar itself: its digest is the diff ID.
    assert.deepEqual(img.RootFS, { Type: 'layers', Layers: [sha256(tar)] });
    assert.equal(inspectImage(short(id)).Id, id, 'a short ID finds the image');
    assert.equal(inspectImage(id.slice(7)).Id, id, 'the bare hex ID finds the image');

    const hist = lines(ok(['history', `${name}:v1`]));
    assert.deepEqual(columns(hist[0]!), ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']);
    assert.equal(hist.length, 2, 'one layer, one history row');
    assert.ok(hist[1]!.startsWith(`${short(id)} `), hist[1]);
    assert.ok(hist[1]!.endsWith(' imported for a test'), hist[1]);
    assert.equal(
      ok(['history', '--no-trunc', '--format', '{{.ID}}|{{.Comment}}', `${name}:v1`]),
      `${id}|imported for a test\n`,
    );
    assert.equal(ok(['history', '-q', `${name}:v1`]), `${short(id)}\n`);
    assertFails(berth(['history', uniq('nosuch')]), /No such image/);
  });

  test('import - reads a gzip-compressed tar from stdin and unpacks it', async () => {
    const name = uniq('imp-stdin');
    const tar = await tarOf([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/greeting', body: `hello ${name}\n` },
      { name: 'greeting', type: 'symlink', linkname: 'etc/greeting' },
    ]);
    const id = ok(['import', '-', name], { input: gzipSync(tar) }).trim();
    madeImages.add(id);
    assert.match(id, /^sha256:[a-f0-9]{64}$/);

    const img = inspectImage<{
      RootFS: { Layers: string[] };
      Comment: string;
      GraphDriver: { Data: { LowerDir: string } };
    }>(name);
    // Layers are kept uncompressed, so the diff ID is the digest of the tar inside the gzip.
    assert.deepEqual(img.RootFS.Layers, [sha256(tar)]);
    assert.equal(img.Comment, 'Imported from -');
    const lower = img.GraphDriver.Data.LowerDir;
    assert.equal(lower, layerPath(sha256(tar)));
    assert.equal(readFileSync(join(lower, 'etc', 'greeting'), 'utf8'), `hello ${name}\n`);
    assert.equal(readlinkSync(join(lower, 'greeting')), 'etc/greeting');
    assert.ok(lines(ok(['history', name]))[1]!.endsWith(' Imported from -'));
  });

  test('blobs are stored in the OCI layout, each named by the sha256 of its content', async () => {
    const name = uniq('imp-blobs');
    const tar = await uniqueTar(name);
    const id = importTar(tar, name);
    const digest = ok(['images', '--digests', '--format', '{{.Digest}}', name]).trim();
    assert.match(digest, /^sha256:[a-f0-9]{64}$/);

    const layer = readFileSync(blobPath(sha256(tar)));
    const configBytes = readFileSync(blobPath(id));
    const manifestBytes = readFileSync(blobPath(digest));
    for (const [bytes, want] of [
      [layer, sha256(tar)],
      [configBytes, id],
      [manifestBytes, digest],
    ] as const) {
      assert.equal(sha256(bytes), want);
    }
    assert.ok(layer.equals(tar), 'the layer blob is the imported tar, byte for byte');
    const config = JSON.parse(configBytes.toString()) as { rootfs: { diff_ids: string[] }; os: string };
    assert.deepEqual(config.rootfs.diff_ids, [sha256(tar)]);
    const manifest = JSON.parse(manifestBytes.toString()) as {
      schemaVersion: number;
      config: { digest: string; size: number };
      layers: Array<{ digest: string; size: number }>;
    };
    assert.equal(manifest.schemaVersion, 2);
    assert.deepEqual(manifest.config, { ...manifest.config, digest: id, size: configBytes.length });
    assert.deepEqual(
      manifest.layers.map((l) => [l.digest, l.size]),
      [[sha256(tar), tar.length]],
    );
    assert.ok(
      existsSync(join(layerPath(sha256(tar)), 'etc', 'marker')),
      'the layer is unpacked under layers/',
    );
  });

  test('the same archive imported twice shares one layer, which outlives either image', async () => {
    const name = uniq('imp-shared');
    const tar = await uniqueTar(name);
    const a = importTar(tar, `${name}:a`, ['-m', 'first']);
    const b = importTar(tar, `${name}:b`, ['-m', 'second']);
    assert.notEqual(a, b, 'different configs make different images');
    const layer = layerPath(sha256(tar));
    assert.equal(ok(['rmi', `${name}:a`]), `Untagged: ${name}:a\nDeleted: ${a}\n`);
    assert.ok(existsSync(layer), 'the layer is still used by the other image');
    assert.ok(existsSync(blobPath(sha256(tar))));
    assert.ok(!existsSync(blobPath(a)), 'the removed image config blob is gone');
    assert.equal(inspectImage(`${name}:b`).Id, b);
    assert.equal(ok(['rmi', `${name}:b`]), `Untagged: ${name}:b\nDeleted: ${b}\n`);
    assert.ok(!existsSync(layer), 'the last user took the layer with it');
    assert.ok(!existsSync(blobPath(sha256(tar))));
  });
});

describe('images', () => {
  const p = uniq('ls');
  const label = `berth.test=${p}`;
  let tagged = '';
  let dangling = '';

  before(async () => {
    tagged = importTar(await uniqueTar(`${p}-a`), `${p}-a:v1`, ['--change', `LABEL ${label} kind=${p}-a`]);
    ok(['tag', `${p}-a:v1`, `${p}-b`]);
    dangling = importTar(await uniqueTar(`${p}-d`), undefined, ['--change', `LABEL ${label} kind=${p}-d`]);
  });

  test('the default table has docker columns and one row per name', () => {
    const out = lines(ok(['images', `${p}-a`]));
    assert.deepEqual(columns(out[0]!), ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']);
    assert.equal(out.length, 2);
    const [repo, tag, id, created, size, ...rest] = columns(out[1]!);
    assert.deepEqual([repo, tag, id, rest], [`${p}-a`, 'v1', short(tagged), []]);
    assert.match(created!, /^(Less than a second|\d+ seconds?|About a minute) ago$/);
    assert.match(size!, /^\d+(\.\d+)?(B|kB|MB)$/);
    assert.equal(lines(ok(['images', `${p}-a:v1`])).length, 2, 'REPOSITORY:TAG narrows the list too');
    assert.equal(
      lines(ok(['images', `${p}-a:nope`])).length,
      1,
      'an unknown tag lists nothing but the header',
    );
  });

  test('tag adds a name: both show up, with the same ID', () => {
    const out = ok([
      'images',
      '--format',
      '{{.Repository}}:{{.Tag}} {{.ID}}',
      '--filter',
      `reference=${p}-*`,
    ]);
    assert.deepEqual(lines(out).sort(), [`${p}-a:v1 ${short(tagged)}`, `${p}-b:latest ${short(tagged)}`]);
    assert.deepEqual(inspectImage(tagged).RepoTags, [`${p}-a:v1`, `${p}-b:latest`]);
  });

  test('--filter reference matches names with globs, and lists only the matching names', () => {
    const fmt = ['--format', '{{.Repository}}:{{.Tag}}'];
    assert.equal(ok(['images', ...fmt, '--filter', `reference=${p}-a*`]), `${p}-a:v1\n`);
    assert.equal(ok(['images', ...fmt, '--filter', `reference=${p}-b:latest`]), `${p}-b:latest\n`);
    assert.equal(ok(['images', ...fmt, '--filter', `reference=${p}-?:v1`]), `${p}-a:v1\n`);
    assert.equal(ok(['images', ...fmt, '--filter', `reference=${p}-z*`]), '');
  });

  test('-q prints each image ID once; --no-trunc prints full IDs', () => {
    assert.equal(ok(['images', '-q', '--filter', `reference=${p}-*`]), `${short(tagged)}\n`);
    assert.equal(ok(['images', '-q', '--no-trunc', '--filter', `reference=${p}-*`]), `${tagged}\n`);
    const out = lines(ok(['images', '--no-trunc', `${p}-a`]));
    assert.deepEqual(columns(out[0]!), ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']);
    assert.equal(columns(out[1]!)[2], tagged);
  });

  test('--digests adds a DIGEST column holding the manifest digest', () => {
    const out = lines(ok(['images', '--digests', `${p}-a`]));
    assert.deepEqual(columns(out[0]!), ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE']);
    const [repo, tag, digest, id] = columns(out[1]!);
    assert.deepEqual([repo, tag, id], [`${p}-a`, 'v1', short(tagged)]);
    assert.match(digest!, /^sha256:[a-f0-9]{64}$/);
    assert.equal(sha256(readFileSync(blobPath(digest!))), digest);
    const manifest = JSON.parse(readFileSync(blobPath(digest!), 'utf8')) as { config: { digest: string } };
    assert.equal(manifest.config.digest, tagged);
    assert.deepEqual(inspectImage(tagged).RepoDigests, [`${p}-a@${digest}`, `${p}-b@${digest}`]);
    assert.equal(inspectImage(`${p}-a@${digest}`).Id, tagged, 'name@digest finds the image');
    assert.ok(!exists(`${p}-nope@${digest}`), 'a digest does not find the image under another name');
  });

  test('--filter dangling separates untagged images from tagged ones', () => {
    const mine = ['--filter', `label=${label}`, '-q', '--no-trunc'];
    assert.equal(ok(['images', ...mine, '--filter', 'dangling=true']), `${dangling}\n`);
    assert.equal(ok(['images', ...mine, '--filter', 'dangling=false']), `${tagged}\n`);
    const out = lines(ok(['images', '--filter', `label=${label}`, '--filter', 'dangling=true']));
    assert.equal(out.length, 2);
    assert.deepEqual(columns(out[1]!).slice(0, 3), ['<none>', '<none>', short(dangling)]);
    assert.equal(
      ok([
        'images',
        '--filter',
        `label=${label}`,
        '--filter',
        'dangling=true',
        '--format',
        '{{.Repository}}:{{.Tag}}',
      ]),
      '<none>:<none>\n',
    );
  });

  test('--filter label matches a key=value or a key; -a lists every image', () => {
    const q = ['images', '-q', '--no-trunc'];
    assert.equal(ok([...q, '--filter', `label=kind=${p}-a`]), `${tagged}\n`);
    assert.equal(ok([...q, '--filter', `label=kind=${p}-d`]), `${dangling}\n`);
    assert.equal(ok([...q, '--filter', `label=${label}`, '--filter', `label=kind=${p}-a`]), `${tagged}\n`);
    assert.equal(ok([...q, '--filter', `label=kind=${p}-x`]), '');
    assert.deepEqual(lines(ok([...q, '--filter', `label=${label}`])).sort(), [dangling, tagged].sort());
    assert.deepEqual(lines(ok([...q, '-a', '--filter', `label=${label}`])).sort(), [dangling, tagged].sort());
    assert.equal(ok([...q, '--filter', `label=berth.test=${p}-other`]), '');
  });

  test('--format renders a Go template per row; a bad filter is an error', () => {
    assert.equal(ok(['images', '--format', '{{.Repository}}:{{.Tag}}', `${p}-b`]), `${p}-b:latest\n`);
    assert.equal(ok(['images', '--format', '{{.ID}} {{.Size}}', `${p}-b`]).split(' ')[0], short(tagged));
    const json = JSON.parse(ok(['images', '--format', 'json', `${p}-a`])) as Record<string, string>;
    assert.equal(json.Repository, `${p}-a`);
    assert.equal(json.ID, short(tagged));
    assertFails(berth(['images', '--filter', 'bogus=1']), /invalid filter 'bogus'/);
  });
});

describe('tag', () => {
  test('tag moves an existing name to another image', async () => {
    const name = uniq('tag-move');
    const first = importTar(await uniqueTar(`${name}-1`), name);
    const second = importTar(await uniqueTar(`${name}-2`), `${name}-other`);
    ok(['tag', `${name}-other`, name]);
    assert.equal(inspectImage(name).Id, second);
    assert.deepEqual(inspectImage(first).RepoTags, [], 'the first image is dangling now');
    assert.equal(
      ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true', '--filter', `reference=${name}`]),
      '',
    );
  });

  test('tag refuses unknown sources and names that are not names', async () => {
    const name = uniq('tag-bad');
    const id = importTar(await uniqueTar(name), name);
    assertFails(berth(['tag', uniq('nosuch'), `${name}:x`]), /No such image/);
    for (const bad of ['UPPER', `${name}:`, `${name}:a:b`, '-dash', `${name}@sha256:${'0'.repeat(64)}`]) {
      const r = berth(['tag', name, bad]);
      assert.notEqual(r.code, 0, `tag to ${bad} must fail`);
      assert.match(
        r.stderr,
        /invalid reference format|refusing to create a tag with a digest|unknown shorthand flag/,
      );
    }
    assert.deepEqual(inspectImage(id).RepoTags, [`${name}:latest`], 'a failed tag changes nothing');
    assert.equal(berth(['tag']).code, 125, 'a missing argument is a usage error');
  });
});

describe('rmi', () => {
  test('a name of an image tagged twice only untags it; the last name deletes it', async () => {
    const name = uniq('rmi-two');
    const tar = await uniqueTar(name);
    const id = importTar(tar, name);
    ok(['tag', name, `${name}-two:v2`]);
    const digest = ok(['images', '--digests', '--format', '{{.Digest}}', name]).trim();

    assert.equal(ok(['rmi', `${name}-two:v2`]), `Untagged: ${name}-two:v2\n`);
    assert.deepEqual(inspectImage(id).RepoTags, [`${name}:latest`]);
    assert.ok(existsSync(blobPath(id)));

    assert.equal(ok(['rmi', name]), `Untagged: ${name}:latest\nDeleted: ${id}\n`);
    assert.ok(!exists(id));
    for (const d of [id, digest, sha256(tar)]) assert.ok(!existsSync(blobPath(d)), `blob ${d} is removed`);
    assert.ok(!existsSync(layerPath(sha256(tar))), 'the unpacked layer is removed');
  });

  test('an ID with several names needs -f, which removes every name', async () => {
    const name = uniq('rmi-id');
    const id = importTar(await uniqueTar(name), name);
    ok(['tag', name, `${name}-b`]);
    assertFails(
      berth(['rmi', short(id)]),
      new RegExp(
        `^Error response from daemon: conflict: unable to delete ${short(id)} \\(must be forced\\) - image is referenced in multiple repositories$`,
      ),
    );
    assert.ok(exists(id));
    assert.equal(
      ok(['rmi', '-f', short(id)]),
      `Untagged: ${name}-b:latest\nUntagged: ${name}:latest\nDeleted: ${id}\n`,
    );
    assert.ok(!exists(id));
  });

  test('name@digest removes the names in that repository, and the image with the last one', async () => {
    const name = uniq('rmi-digest');
    const id = importTar(await uniqueTar(name), `${name}:1`);
    ok(['tag', `${name}:1`, `${name}:2`]);
    ok(['tag', `${name}:1`, `${name}-other`]);
    const digest = ok(['images', '--digests', '--format', '{{.Digest}}', `${name}:1`]).trim();
    assert.equal(ok(['rmi', `${name}@${digest}`]), `Untagged: ${name}:1\nUntagged: ${name}:2\n`);
    assert.deepEqual(inspectImage(id).RepoTags, [`${name}-other:latest`]);
    assertFails(berth(['rmi', `${name}@${digest}`]), /No such image/);
    assert.equal(ok(['rmi', `${name}-other@${digest}`]), `Untagged: ${name}-other:latest\nDeleted: ${id}\n`);
  });

  test('rmi reports missing images with exit 1 and still removes the others', async () => {
    const name = uniq('rmi-miss');
    const id = importTar(await uniqueTar(name), name);
    const missing = uniq('nosuch');
    const r = berth(['rmi', missing, name]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `Error response from daemon: No such image: ${missing}\n`);
    assert.equal(r.stdout, `Untagged: ${name}:latest\nDeleted: ${id}\n`);
    assert.ok(!exists(id));
  });

  test('an image used by a container is refused without -f, and -f works once the container is stopped', async () => {
    const name = uniq('rmi-used');
    const id = importTar(await uniqueTar(name), name);
    const ctr = createContainer(name);

    assertFails(
      berth(['rmi', name]),
      new RegExp(
        `^Error response from daemon: conflict: unable to remove repository reference "${name}" \\(must force\\) - container ${ctr.slice(0, 12)} is using its referenced image ${short(id)}$`,
      ),
    );
    assertFails(
      berth(['rmi', short(id)]),
      new RegExp(
        `conflict: unable to delete ${short(id)} \\(must be forced\\) - image is being used by stopped container ${ctr.slice(0, 12)}$`,
      ),
    );
    assert.deepEqual(inspectImage(id).RepoTags, [`${name}:latest`], 'a refused rmi changes nothing');

    const forced = ok(['rmi', '-f', name]);
    assert.ok(forced.startsWith(`Untagged: ${name}:latest\n`), forced);
    assert.equal(ok(['images', '-q', name]), '', 'the name is gone');
    assert.equal(inspect<{ Image: string }>(ctr).Image, id, 'the container still knows its image');

    removeContainer(ctr);
    if (exists(id)) assert.match(ok(['rmi', id]), new RegExp(`Deleted: ${id}\n$`));
  });
});

describe('image inspect', () => {
  test('a missing image prints [] and an error', () => {
    const missing = uniq('nosuch');
    const r = berth(['image', 'inspect', missing]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim(), '[]');
    assert.equal(r.stderr, `Error: No such image: ${missing}\n`);
  });
});

describe('image prune', () => {
  const p = uniq('prune');
  const label = `berth.test=${p}`;
  const mine = ['--filter', `label=${label}`];

  test('prune removes dangling images, -a every unused one, and never an image in use', async () => {
    const withLabel = ['--change', `LABEL ${label}`];
    const danglingTar = await uniqueTar(`${p}-d`);
    const dangling = importTar(danglingTar, undefined, withLabel);
    const tagged = importTar(await uniqueTar(`${p}-t`), `${p}-t`, withLabel);
    const used = importTar(await uniqueTar(`${p}-u`), `${p}-u`, withLabel);
    const ctr = createContainer(used);

    const asked = berth(['image', 'prune', ...mine], { input: 'n\n' });
    assert.equal(asked.code, 0);
    assert.equal(
      asked.stdout,
      'WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ',
    );
    assert.ok(exists(dangling), 'answering no keeps everything');

    const pruned = ok(['image', 'prune', '-f', ...mine]);
    assert.match(
      pruned,
      new RegExp(
        `^Deleted Images:\ndeleted: ${dangling}\n\nTotal reclaimed space: \\d+(\\.\\d+)?(B|kB|MB)\n$`,
      ),
    );
    assert.ok(!exists(dangling));
    assert.ok(!existsSync(blobPath(dangling)) && !existsSync(layerPath(sha256(danglingTar))));
    assert.ok(exists(tagged) && exists(used), 'tagged images are not dangling');
    assert.equal(ok(['image', 'prune', '-f', ...mine]), 'Total reclaimed space: 0B\n');

    const all = lines(ok(['image', 'prune', '-a', '-f', ...mine]));
    assert.deepEqual(all.slice(0, 3), ['Deleted Images:', `untagged: ${p}-t:latest`, `deleted: ${tagged}`]);
    assert.match(all[3]!, /^Total reclaimed space: /);
    assert.ok(!exists(tagged));
    assert.ok(exists(`${p}-u`), 'an image a container uses is kept');

    removeContainer(ctr);
    assert.deepEqual(lines(ok(['image', 'prune', '-a', '-f', ...mine])).slice(0, 3), [
      'Deleted Images:',
      `untagged: ${p}-u:latest`,
      `deleted: ${used}`,
    ]);
    assert.ok(!exists(used));
    assert.deepEqual(
      inspectImage('busybox').RepoTags,
      ['busybox:latest'],
      'prune with a filter leaves busybox alone',
    );
  });
});

describe('hostile input leaves the store as it was', () => {
  // A store of its own, so that images other test files add or remove cannot blur the before/after.
  const base = mkdtempSync(join(tmpdir(), 'berth-images-hostile-'));
  const root = join(base, 'root');
  const env = { BERTH_ROOT: root, BERTH_RUNROOT: join(base, 'run') };
  const run = (args: string[], input?: string | Buffer) => berth(args, { env, input });
  const u = uniq('x');

  interface Snapshot {
    blobs: string[];
    blobTmp: string[];
    layers: string[];
  }
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);
  const snapshot = (): Snapshot => ({
    blobs: list(join(root, 'blobs', 'sha256')),
    blobTmp: list(join(root, 'blobs', 'tmp')),
    layers: list(join(root, 'layers')),
  });
  const okHere = (args: string[]) => {
    const r = run(args);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const imageList = () =>
    okHere(['images', '-a', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}']);
  let good: Buffer;
  let seeded: Snapshot;
  let seededImages: string;

  before(async () => {
    mkdirSync(root, { recursive: true });
    good = await uniqueTar(u);
    const r = run(['import', writeScratch(await uniqueTar(`${u}-seed`)), 'seed']);
    assert.equal(r.code, 0, r.stderr);
    run(['import', writeScratch(good)]); // a dangling one too
    seeded = snapshot();
    assert.equal(seeded.blobs.length, 6);
    assert.equal(seeded.layers.length, 2);
    seededImages = imageList();
    assert.equal(lines(seededImages).length, 2);
  });

  // The image list is compared once per test: an import that got through would also have left blobs.
  afterEach(() => assert.equal(imageList(), seededImages));
  after(() => rmSync(base, { recursive: true, force: true }));

  function refused(args: string[], input: Buffer | string | undefined, message: RegExp): void {
    assertFails(run(args, input), message);
    const now = snapshot();
    assert.deepEqual(now, seeded);
    assert.ok(!now.layers.some((l) => l.startsWith('.tmp-')), 'no half-unpacked layer is left behind');
  }

  const unsafe = /^Error: import: layer contains an unsafe path: ".*" escapes the layer root$/;

  test('an entry that climbs out with ..', async () => {
    refused(['import', writeScratch(await tarOf([{ name: `../evil-${u}`, body: 'x' }]))], undefined, unsafe);
    refused(
      ['import', writeScratch(await tarOf([{ name: `a/../../evil-${u}`, body: 'x' }]))],
      undefined,
      unsafe,
    );
    for (const dir of [root, join(root, 'layers'), base]) assert.ok(!existsSync(join(dir, `evil-${u}`)));
  });

  test('an entry written through a symlink that points outside', async () => {
    const abs = await tarOf([
      { name: 'evil', type: 'symlink', linkname: '/etc' },
      { name: `evil/berth-escape-${u}`, body: 'x' },
    ]);
    refused(['import', writeScratch(abs)], undefined, unsafe);
    assert.ok(!existsSync(`/etc/berth-escape-${u}`), 'nothing was written through the link');
    const rel = await tarOf([
      { name: 'up', type: 'symlink', linkname: '../../../../../../../..' },
      { name: `up/tmp/berth-escape-${u}`, body: 'x' },
    ]);
    refused(['import', '-', `${u}-rel`], rel, unsafe);
    assert.ok(!existsSync(`/tmp/berth-escape-${u}`));
    const dir = await tarOf([
      { name: 'd', type: 'symlink', linkname: '/tmp' },
      { name: 'd/', type: 'directory' },
      { name: `d/berth-escape-${u}/`, type: 'directory' },
    ]);
    // A directory entry replaces the link (tar semantics), so this one is harmless: it must stay inside.
    const r = run(['import', writeScratch(dir), `${u}-dir`]);
    if (r.code === 0) run(['rmi', `${u}-dir`]);
    assert.ok(!existsSync(`/tmp/berth-escape-${u}`));
  });

  test('a hardlink to a file outside', async () => {
    refused(
      ['import', writeScratch(await tarOf([{ name: 'h', type: 'link', linkname: '../../etc/passwd' }]))],
      undefined,
      unsafe,
    );
  });

  test('a truncated tar, a truncated gzip, random bytes, text', async () => {
    const big = await tarOf([{ name: 'big', body: randomBytes(8192) }]);
    const notTar = /^Error: import: the input is not a valid tar archive \(.+\); want a complete tar file/;
    refused(['import', writeScratch(big.subarray(0, 2000))], undefined, notTar);
    refused(['import', '-'], big.subarray(0, 700), notTar);
    const gz = gzipSync(big);
    refused(
      ['import', writeScratch(gz.subarray(0, gz.length >> 1), 'tar.gz')],
      undefined,
      /^Error: import: bad gzip data: /,
    );
    const noise = randomBytes(4096);
    noise[0] = 0x42; // never the gzip or zstd magic
    refused(['import', writeScratch(noise, 'bin')], undefined, notTar);
    refused(['import', writeScratch('this is not a tar archive\n', 'txt')], undefined, notTar);
  });

  test('empty input, from a file and from stdin', () => {
    const empty = /^Error: import: the input is empty; want a tar archive/;
    refused(['import', writeScratch('')], undefined, empty);
    refused(['import', '-', `${u}-empty`], '', empty);
  });

  test('a file that is missing or a directory', () => {
    refused(
      ['import', join(scratch, 'missing.tar')],
      undefined,
      /^Error: open .*missing\.tar: no such file or directory$/,
    );
    refused(['import', scratch], undefined, /is a directory/);
  });

  test('names that are not names, and bad --change instructions, before the input is read', () => {
    const file = writeScratch(good);
    for (const bad of ['UPPER', 'seed:', 'a//b', 'seed@sha256:abc', 'x'.repeat(300)]) {
      refused(['import', file, bad], undefined, /invalid reference format/);
    }
    refused(['import', '--change', 'BOGUS x', file, 'ok'], undefined, /BOGUS is not a valid change command/);
    refused(['import', '--change', 'ENV', file, 'ok'], undefined, /change/);
    assert.equal(run(['import', file, 'a', 'b']).code, 125, 'too many arguments is a usage error');
  });

  test('after all that, a good import still works', () => {
    const id = okHere(['import', writeScratch(good), `${u}:ok`]).trim();
    const now = snapshot();
    assert.equal(
      now.blobs.length,
      seeded.blobs.length + 2,
      'a new config and manifest; the layer blob is shared',
    );
    assert.deepEqual(now.layers, seeded.layers);
    assert.equal(okHere(['rmi', `${u}:ok`]), `Untagged: ${u}:ok\nDeleted: ${id}\n`);
    assert.deepEqual(snapshot(), seeded, 'and removing it puts the store back');
  });
});

test('the shared busybox image is still there and untouched', () => {
  const img = inspectImage<{ RepoTags: string[]; Config: { Cmd: string[] } }>('busybox');
  assert.deepEqual(img.RepoTags, ['busybox:latest']);
  assert.deepEqual(img.Config.Cmd, ['sh']);
});
