import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultConfig, type ServerConfig } from '../../src/registry/server/config.ts';
import { collectGarbage } from '../../src/registry/server/gc.ts';
import { type RegistryServer, startRegistryServer } from '../../src/registry/server/server.ts';

/**
 * The OCI distribution endpoints of `berth registry serve`, spoken to over real HTTP by fetch and
 * node:http against a server in this process with its own root.
 */

const scratch = mkdtempSync(join(tmpdir(), 'berth-regsrv-'));
const servers: RegistryServer[] = [];
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

async function serve(over: Partial<ServerConfig> = {}): Promise<RegistryServer> {
  const root = mkdtempSync(join(scratch, 'root-'));
  const cfg = { ...defaultConfig(root), addr: '127.0.0.1:0', logLevel: 'error' as const, ...over };
  const s = await startRegistryServer(cfg, () => {});
  servers.push(s);
  return s;
}

after(async () => {
  for (const s of servers) await s.close();
  rmSync(scratch, { recursive: true, force: true });
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with the path sent byte for byte (fetch would normalise `..`). */
function raw(base: string, method: string, path: string, body?: Buffer): Promise<Raw> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    r.on('error', reject);
    r.end(body);
  });
}

async function errorCode(res: Response): Promise<string> {
  const j = (await res.json()) as { errors: Array<{ code: string }> };
  return j.errors[0]!.code;
}

async function pushBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const r = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    body: new Uint8Array(data),
  });
  assert.equal(r.status, 201, await r.text());
  return digest;
}

async function pushImage(base: string, repo: string, tag: string, layers: Buffer[]) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: layers.length }));
  const cd = await pushBlob(base, repo, config);
  const ld = [];
  for (const l of layers)
    ld.push({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: await pushBlob(base, repo, l),
      size: l.length,
    });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length },
      layers: ld,
    }),
  );
  const r = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': OCI_MANIFEST },
    body: manifest,
  });
  assert.equal(r.status, 201, await r.text());
  return { digest: sha256(manifest), manifest, config: cd, layers: ld.map((l) => l.digest) };
}

describe('base, blobs and uploads', () => {
  let s: RegistryServer;
  before(async () => {
    s = await serve();
  });

  test('GET /v2/ answers 200 with the API version header', async () => {
    const r = await fetch(`${s.url}/v2/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  test('chunked upload: POST, PATCH with Content-Range, 416 out of order, GET status, PUT; then HEAD, GET, Range', async () => {
    const data = randomBytes(300_000);
    const post = await fetch(`${s.url}/v2/up/chunks/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const loc = post.headers.get('location')!;
    assert.match(loc, /^\/v2\/up\/chunks\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.ok(post.headers.get('docker-upload-uuid'));
    const a = data.subarray(0, 100_000);
    const p1 = await fetch(`${s.url}${loc}`, {
      method: 'PATCH',
      headers: { 'Content-Range': `0-${a.length - 1}`, 'Content-Type': 'application/octet-stream' },
      body: a,
    });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.get('range'), '0-99999');
    // a chunk that does not start where the upload ends
    const bad = await fetch(`${s.url}${loc}`, {
      method: 'PATCH',
      headers: { 'Content-Range': '150000-159999' },
      body: data.subarray(150_000, 160_000),
    });
    assert.equal(bad.status, 416);
    assert.equal(await errorCode(bad), 'BLOB_UPLOAD_INVALID');
    const st = await fetch(`${s.url}${loc}`);
    assert.equal(st.status, 204);
    assert.equal(st.headers.get('range'), '0-99999');
    const p2 = await fetch(`${s.url}${loc}`, {
      method: 'PATCH',
      headers: { 'Content-Range': `100000-199999` },
      body: data.subarray(100_000, 200_000),
    });
    assert.equal(p2.status, 202);
    const digest = sha256(data);
    assert.equal(existsSync(join(s.storage.blobsDir, digest.slice(7))), false, 'no blob before the PUT');
    const put = await fetch(`${s.url}${loc}?digest=${digest}`, {
      method: 'PUT',
      body: data.subarray(200_000),
    });
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), digest);
    assert.equal(put.headers.get('location'), `/v2/up/chunks/blobs/${digest}`);

    const head = await fetch(`${s.url}/v2/up/chunks/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
    assert.equal(head.headers.get('docker-content-digest'), digest);
    const got = Buffer.from(await (await fetch(`${s.url}/v2/up/chunks/blobs/${digest}`)).arrayBuffer());
    assert.ok(got.equals(data));
    const part = await fetch(`${s.url}/v2/up/chunks/blobs/${digest}`, { headers: { Range: 'bytes=10-19' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 10-19/${data.length}`);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(data.subarray(10, 20)));
    const tail = await fetch(`${s.url}/v2/up/chunks/blobs/${digest}`, { headers: { Range: 'bytes=-5' } });
    assert.ok(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(-5)));
    const over = await fetch(`${s.url}/v2/up/chunks/blobs/${digest}`, {
      headers: { Range: `bytes=${data.length}-` },
    });
    assert.equal(over.status, 416);
    await over.arrayBuffer();
    // finished: the session is gone
    assert.equal((await fetch(`${s.url}${loc}`)).status, 404);
    // a blob is served only through repositories it is linked to
    const other = await fetch(`${s.url}/v2/up/other/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(other.status, 404);
  });

  test('a wrong digest is refused with DIGEST_INVALID and leaves no blob; monolithic POST works', async () => {
    const data = Buffer.from('hello');
    const wrong = `sha256:${'0'.repeat(64)}`;
    const mono = await fetch(`${s.url}/v2/up/mono/blobs/uploads/?digest=${wrong}`, {
      method: 'POST',
      body: data,
    });
    assert.equal(mono.status, 400);
    assert.equal(await errorCode(mono), 'DIGEST_INVALID');
    const post = await fetch(`${s.url}/v2/up/mono/blobs/uploads/`, { method: 'POST' });
    const loc = post.headers.get('location')!;
    const put = await fetch(`${s.url}${loc}?digest=${wrong}`, { method: 'PUT', body: data });
    assert.equal(put.status, 400);
    assert.equal(await errorCode(put), 'DIGEST_INVALID');
    assert.equal(existsSync(join(s.storage.blobsDir, '0'.repeat(64))), false);
    assert.equal(existsSync(join(s.storage.blobsDir, sha256(data).slice(7))), false);
    assert.deepEqual(readdirSync(s.storage.uploadsDir), [], 'failed uploads leave no session');
    const bad = await fetch(`${s.url}/v2/up/mono/blobs/uploads/?digest=nope`, { method: 'POST', body: data });
    assert.equal(bad.status, 400);
    const digest = await pushBlob(s.url, 'up/mono', data);
    assert.equal(readFileSync(join(s.storage.blobsDir, digest.slice(7)), 'utf8'), 'hello');
  });

  test('DELETE cancels an upload; its uuid is then unknown; a foreign repository cannot touch it', async () => {
    const post = await fetch(`${s.url}/v2/up/cancel/blobs/uploads/`, { method: 'POST' });
    const loc = post.headers.get('location')!;
    const uuid = loc.split('/').at(-1)!;
    const foreign = await fetch(`${s.url}/v2/up/thief/blobs/uploads/${uuid}`);
    assert.equal(foreign.status, 404);
    assert.equal(await errorCode(foreign), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await fetch(`${s.url}${loc}`, { method: 'DELETE' })).status, 204);
    const gone = await fetch(`${s.url}${loc}`);
    assert.equal(gone.status, 404);
    assert.equal(await errorCode(gone), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(existsSync(join(s.storage.uploadsDir, uuid)), false);
    const traversal = await raw(s.url, 'GET', '/v2/up/cancel/blobs/uploads/..%2F..%2Fblobs');
    assert.equal(traversal.status, 404);
  });

  test('cross-repository mount: 201 when the source has the blob, a plain upload otherwise', async () => {
    const digest = await pushBlob(s.url, 'mount/src', Buffer.from('shared layer'));
    const m = await fetch(`${s.url}/v2/mount/dst/blobs/uploads/?mount=${digest}&from=mount/src`, {
      method: 'POST',
    });
    assert.equal(m.status, 201);
    assert.equal(m.headers.get('location'), `/v2/mount/dst/blobs/${digest}`);
    assert.equal((await fetch(`${s.url}/v2/mount/dst/blobs/${digest}`, { method: 'HEAD' })).status, 200);
    const miss = await fetch(`${s.url}/v2/mount/dst2/blobs/uploads/?mount=${digest}&from=mount/nothere`, {
      method: 'POST',
    });
    assert.equal(miss.status, 202);
    assert.match(miss.headers.get('location')!, /\/blobs\/uploads\//);
  });

  test('a client that disconnects mid-PATCH leaves a resumable session and no blob', async () => {
    const data = randomBytes(4 << 20);
    const digest = sha256(data);
    const post = await fetch(`${s.url}/v2/up/cut/blobs/uploads/`, { method: 'POST' });
    const loc = post.headers.get('location')!;
    const u = new URL(s.url);
    await new Promise<void>((resolve) => {
      const r = request({
        host: u.hostname,
        port: u.port,
        method: 'PATCH',
        path: loc,
        headers: { 'Content-Length': data.length },
      });
      r.on('error', () => resolve());
      r.write(data.subarray(0, 1 << 20), () => setTimeout(() => r.destroy(), 100));
      r.on('close', () => resolve());
    });
    // The server notices the cut, keeps what arrived and frees the session for a resume.
    let have = -1;
    for (const end = Date.now() + 5000; Date.now() < end; ) {
      const st = await fetch(`${s.url}${loc}`);
      assert.equal(st.status, 204);
      have = Number(st.headers.get('range')!.split('-')[1]) + 1;
      const resume = await fetch(`${s.url}${loc}`, {
        method: 'PATCH',
        headers: { 'Content-Range': `${have}-${data.length - 1}` },
        body: data.subarray(have),
      });
      if (resume.status === 202) break;
      await resume.arrayBuffer();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(have > 0 && have <= 1 << 20, `kept ${have} bytes`);
    assert.equal(existsSync(join(s.storage.blobsDir, digest.slice(7))), false, 'no blob before the PUT');
    const put = await fetch(`${s.url}${loc}?digest=${digest}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const got = Buffer.from(await (await fetch(`${s.url}/v2/up/cut/blobs/${digest}`)).arrayBuffer());
    assert.equal(sha256(got), digest);
  });

  test('idle sessions expire: purge removes them, never a live one', async () => {
    const post = await fetch(`${s.url}/v2/up/old/blobs/uploads/`, { method: 'POST' });
    const uuid = post.headers.get('docker-upload-uuid')!;
    const fresh = await fetch(`${s.url}/v2/up/old/blobs/uploads/`, { method: 'POST' });
    const freshUuid = fresh.headers.get('docker-upload-uuid')!;
    const old = new Date(Date.now() - 48 * 3600_000);
    for (const f of ['', 'data', 'state.json']) utimesSync(join(s.storage.uploadsDir, uuid, f), old, old);
    assert.equal(await s.uploads.purge(), 1);
    assert.equal((await fetch(`${s.url}/v2/up/old/blobs/uploads/${uuid}`)).status, 404);
    assert.equal((await fetch(`${s.url}/v2/up/old/blobs/uploads/${freshUuid}`)).status, 204);
  });
});

describe('names', () => {
  let s: RegistryServer;
  before(async () => {
    s = await serve();
  });

  test('uppercase, `..`, `_` prefixes and names over 255 characters are NAME_INVALID', async () => {
    for (const path of [
      '/v2/Upper/tags/list',
      '/v2/a/../etc/tags/list',
      '/v2/../../etc/tags/list',
      '/v2/a/_manifests/tags/list',
      '/v2/a//b/tags/list',
      '/v2/a%2F..%2Fb/tags/list',
      `/v2/${'a'.repeat(256)}/tags/list`,
      `/v2/${'abcdefgh/'.repeat(29)}x/blobs/uploads/`,
    ]) {
      const r = await raw(s.url, path.endsWith('uploads/') ? 'POST' : 'GET', path);
      assert.equal(r.status, 400, `${path}: ${r.status} ${r.body}`);
      assert.equal(
        (JSON.parse(r.body) as { errors: Array<{ code: string }> }).errors[0]!.code,
        'NAME_INVALID',
      );
    }
    assert.deepEqual(readdirSync(s.storage.reposDir), [], 'nothing was created');
    const ok = await raw(s.url, 'POST', `/v2/${'a'.repeat(255)}/blobs/uploads/`);
    assert.equal(ok.status, 202);
  });
});

describe('manifests, tags, catalog, referrers', () => {
  let s: RegistryServer;
  before(async () => {
    s = await serve();
  });

  test('PUT validates, GET/HEAD by tag and digest return the bytes and media type', async () => {
    const img = await pushImage(s.url, 'm/app', 'v1', [Buffer.from('layer one'), Buffer.from('layer two')]);
    for (const ref of ['v1', img.digest]) {
      const r = await fetch(`${s.url}/v2/m/app/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(r.headers.get('docker-content-digest'), img.digest);
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(img.manifest));
      const h = await fetch(`${s.url}/v2/m/app/manifests/${ref}`, { method: 'HEAD' });
      assert.equal(h.headers.get('content-length'), String(img.manifest.length));
    }
    const missing = await fetch(`${s.url}/v2/m/app/manifests/nope`);
    assert.equal(missing.status, 404);
    assert.equal(await errorCode(missing), 'MANIFEST_UNKNOWN');
    const noRepo = await fetch(`${s.url}/v2/m/none/manifests/v1`);
    assert.equal(await errorCode(noRepo), 'NAME_UNKNOWN');
  });

  test('invalid manifests are refused: JSON, media type, missing blobs, sizes, digest, oversize', async () => {
    const put = (body: string | Buffer, ref = 'bad', type = OCI_MANIFEST) =>
      fetch(`${s.url}/v2/m/bad/manifests/${ref}`, {
        method: 'PUT',
        headers: { 'Content-Type': type },
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
    const layer = await pushBlob(s.url, 'm/bad', Buffer.from('l'));
    const config = await pushBlob(s.url, 'm/bad', Buffer.from('{}'));
    const good = (o: Record<string, unknown> = {}) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 1 }],
        ...o,
      });
    const cases: Array<[Response, number, string]> = [
      [await put('{not json'), 400, 'MANIFEST_INVALID'],
      [await put(good({ mediaType: 'application/x-nonsense' })), 400, 'MANIFEST_INVALID'],
      [await put(good({ schemaVersion: 1 })), 400, 'MANIFEST_INVALID'],
      [await put(good(), 'bad', OCI_INDEX), 400, 'MANIFEST_INVALID'],
      [
        await put(good({ layers: [{ mediaType: 'x', digest: sha256('absent'), size: 6 }] })),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      ],
      [await put(good({ layers: [{ mediaType: 'x', digest: layer, size: 99 }] })), 400, 'MANIFEST_INVALID'],
      [await put(good(), `sha256:${'1'.repeat(64)}`), 400, 'DIGEST_INVALID'],
      [await put(good(), 'bad/tag'), 404, 'NOT_FOUND'],
      [await put(good({ pad: 'x'.repeat(5 << 20) })), 413, 'SIZE_INVALID'],
      [
        await put(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_INDEX,
            manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('m'), size: 1 }],
          }),
          'idx',
          OCI_INDEX,
        ),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      ],
    ];
    for (const [i, [r, status, code]] of cases.entries()) {
      assert.equal(r.status, status, `case ${i}`);
      assert.equal(await errorCode(r), code, `case ${i}`);
    }
    assert.equal(
      ((await fetch(`${s.url}/v2/m/bad/tags/list`).then((r) => r.json())) as { tags: string[] }).tags.length,
      0,
    );
    // a manifest without mediaType is typed by its Content-Type; an index over stored manifests is fine
    const r = await put(good({ mediaType: undefined }), 'ok');
    assert.equal(r.status, 201, await r.text());
    const d = r.headers.get('docker-content-digest')!;
    const got = await fetch(`${s.url}/v2/m/bad/manifests/ok`);
    assert.equal(got.headers.get('content-type'), OCI_MANIFEST);
    await got.arrayBuffer();
    const idx = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: d, size: Number(got.headers.get('content-length')) }],
    });
    const ri = await put(idx, 'multi', OCI_INDEX);
    assert.equal(ri.status, 201, await ri.text());
    const byDigest = await put(idx, sha256(idx), OCI_INDEX);
    assert.equal(byDigest.status, 201);
  });

  test('tags list and catalog paginate with n/last and a Link header', async () => {
    const img = await pushImage(s.url, 'p/tags', 'a', [Buffer.from('x')]);
    for (const t of ['b', 'c', 'd', 'e']) {
      const r = await fetch(`${s.url}/v2/p/tags/manifests/${t}`, {
        method: 'PUT',
        headers: { 'Content-Type': OCI_MANIFEST },
        body: img.manifest,
      });
      assert.equal(r.status, 201);
    }
    const all = (await (await fetch(`${s.url}/v2/p/tags/tags/list`)).json()) as {
      name: string;
      tags: string[];
    };
    assert.deepEqual(all, { name: 'p/tags', tags: ['a', 'b', 'c', 'd', 'e'] });
    const first = await fetch(`${s.url}/v2/p/tags/tags/list?n=2`);
    assert.deepEqual(((await first.json()) as { tags: string[] }).tags, ['a', 'b']);
    const link = first.headers.get('link')!;
    assert.equal(link, '</v2/p/tags/tags/list?n=2&last=b>; rel="next"');
    const next = await fetch(`${s.url}${/<([^>]+)>/.exec(link)![1]}`);
    assert.deepEqual(((await next.json()) as { tags: string[] }).tags, ['c', 'd']);
    const lastPage = await fetch(`${s.url}/v2/p/tags/tags/list?n=2&last=d`);
    assert.deepEqual(((await lastPage.json()) as { tags: string[] }).tags, ['e']);
    assert.equal(lastPage.headers.get('link'), null);
    assert.equal((await fetch(`${s.url}/v2/p/tags/tags/list?n=-1`)).status, 400);
    const unknown = await fetch(`${s.url}/v2/p/none/tags/list`);
    assert.equal(await errorCode(unknown), 'NAME_UNKNOWN');

    const cat = (await (await fetch(`${s.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.ok(
      cat.repositories.includes('p/tags') && cat.repositories.includes('m/app'),
      cat.repositories.join(),
    );
    assert.deepEqual([...cat.repositories].sort(), cat.repositories);
    const c1 = await fetch(`${s.url}/v2/_catalog?n=1`);
    assert.equal(((await c1.json()) as { repositories: string[] }).repositories.length, 1);
    assert.match(c1.headers.get('link')!, /^<\/v2\/_catalog\?n=1&last=[^>]+>; rel="next"$/);
  });

  test('referrers: OCI-Subject on PUT, the index of referrers, artifactType filter', async () => {
    const img = await pushImage(s.url, 'r/app', 'v1', [Buffer.from('base')]);
    const empty = await pushBlob(s.url, 'r/app', Buffer.from('{}'));
    const artifact = async (artifactType: string, note: string) => {
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 }],
        subject: { mediaType: OCI_MANIFEST, digest: img.digest, size: img.manifest.length },
        annotations: { note },
      });
      const r = await fetch(`${s.url}/v2/r/app/manifests/${sha256(body)}`, {
        method: 'PUT',
        headers: { 'Content-Type': OCI_MANIFEST },
        body,
      });
      assert.equal(r.status, 201, await r.text());
      assert.equal(r.headers.get('oci-subject'), img.digest);
      return sha256(body);
    };
    const sig = await artifact('application/vnd.example.sig', 'signed');
    const sbom = await artifact('application/vnd.example.sbom', 'sbom');
    const r = await fetch(`${s.url}/v2/r/app/referrers/${img.digest}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), OCI_INDEX);
    const idx = (await r.json()) as {
      mediaType: string;
      manifests: Array<{ digest: string; artifactType: string; annotations: Record<string, string> }>;
    };
    assert.equal(idx.mediaType, OCI_INDEX);
    assert.deepEqual(idx.manifests.map((m) => m.digest).sort(), [sig, sbom].sort());
    assert.equal(idx.manifests.find((m) => m.digest === sig)?.annotations.note, 'signed');
    const f = await fetch(
      `${s.url}/v2/r/app/referrers/${img.digest}?artifactType=application/vnd.example.sbom`,
    );
    assert.equal(f.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(
      ((await f.json()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest),
      [sbom],
    );
    const none = await fetch(`${s.url}/v2/r/app/referrers/${sha256('nothing')}`);
    assert.equal(none.status, 200);
    assert.deepEqual(((await none.json()) as { manifests: unknown[] }).manifests, []);
    assert.equal((await fetch(`${s.url}/v2/r/app/referrers/notadigest`)).status, 400);
  });

  test('DELETE is 405 UNSUPPORTED unless enabled', async () => {
    const img = await pushImage(s.url, 'd/app', 'v1', [Buffer.from('del')]);
    const r = await fetch(`${s.url}/v2/d/app/manifests/${img.digest}`, { method: 'DELETE' });
    assert.equal(r.status, 405);
    assert.equal(await errorCode(r), 'UNSUPPORTED');
    const b = await fetch(`${s.url}/v2/d/app/blobs/${img.layers[0]}`, { method: 'DELETE' });
    assert.equal(b.status, 405);
    await b.arrayBuffer();
  });
});

describe('deletes and gc', () => {
  test('deleting manifests and tags; gc sweeps what nothing references, refuses beside a server', async () => {
    const s = await serve({ deleteEnabled: true });
    const keep = await pushImage(s.url, 'g/keep', 'v1', [Buffer.from('shared'), Buffer.from('keep only')]);
    const drop = await pushImage(s.url, 'g/drop', 'v1', [Buffer.from('shared'), Buffer.from('drop only')]);
    await pushBlob(s.url, 'g/drop', Buffer.from('orphan blob'));
    const tagDel = await fetch(`${s.url}/v2/g/keep/manifests/v1`, { method: 'DELETE' });
    assert.equal(tagDel.status, 202);
    assert.equal((await fetch(`${s.url}/v2/g/keep/manifests/v1`)).status, 404);
    assert.equal(
      (await fetch(`${s.url}/v2/g/keep/manifests/${keep.digest}`, { method: 'HEAD' })).status,
      200,
    );
    const del = await fetch(`${s.url}/v2/g/drop/manifests/${drop.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal((await fetch(`${s.url}/v2/g/drop/manifests/v1`)).status, 404, 'its tags went with it');
    assert.equal(
      (await fetch(`${s.url}/v2/g/drop/manifests/${drop.digest}`, { method: 'DELETE' })).status,
      404,
    );
    const blobDel = await fetch(`${s.url}/v2/g/drop/blobs/${drop.layers[1]}`, { method: 'DELETE' });
    assert.equal(blobDel.status, 202);
    assert.equal((await fetch(`${s.url}/v2/g/drop/blobs/${drop.layers[1]}`, { method: 'HEAD' })).status, 404);

    await assert.rejects(collectGarbage(s.storage.root), /registry is serving/);
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    const dry = await collectGarbage(s.storage.root, { dryRun: true });
    const onDisk = () => new Set(readdirSync(s.storage.blobsDir).map((h) => `sha256:${h}`));
    const before = onDisk();
    const r = await collectGarbage(s.storage.root);
    assert.deepEqual(r.removed.sort(), dry.removed.sort());
    assert.deepEqual(onDisk().size, before.size - r.removed.length);
    const left = onDisk();
    for (const d of [keep.digest, keep.config, ...keep.layers]) assert.ok(left.has(d), `kept ${d}`);
    for (const d of [drop.digest, drop.layers[1]!, sha256('orphan blob')])
      assert.ok(!left.has(d), `removed ${d}`);
    assert.ok(left.has(drop.layers[0]!), 'a layer still used by g/keep stays');
    const again = await serve({ root: s.storage.root });
    const h = await fetch(`${again.url}/v2/g/keep/manifests/${keep.digest}`);
    assert.equal(h.status, 200);
  });
});

describe('concurrency', () => {
  test('20 concurrent pushes of overlapping images all succeed; every blob on disk matches its digest', async () => {
    const s = await serve();
    const shared = [randomBytes(2 << 20), randomBytes(1 << 20), randomBytes(512 << 10)];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pushImage(s.url, `c/img${i % 5}`, `t${i}`, [
          shared[i % 3]!,
          shared[(i + 1) % 3]!,
          randomBytes(100_000 + i),
        ]),
      ),
    );
    assert.equal(results.length, 20);
    for (const f of readdirSync(s.storage.blobsDir)) {
      assert.equal(sha256(readFileSync(join(s.storage.blobsDir, f))), `sha256:${f}`, `blob ${f} is intact`);
    }
    for (const [i, r] of results.entries()) {
      const m = await fetch(`${s.url}/v2/c/img${i % 5}/manifests/t${i}`);
      assert.equal(m.headers.get('docker-content-digest'), r.digest);
      await m.arrayBuffer();
    }
    assert.deepEqual(readdirSync(s.storage.uploadsDir), []);
  });
});
