import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { berth, busyboxTar, ensureBusybox, ok, uniq } from '../helpers.ts';
import { type Registry, startRegistry } from './registry-helper.ts';
import { type Served, startServe } from './serve-helper.ts';

/**
 * The image routes against real clients: the docker CLI, dockerode and docker-py, all talking to
 * `berth serve`; what they do is checked with the berth CLI on the same store.
 */

let s: Served;
let reg: Registry;
const made = new Set<string>();

function docker(args: string[], input?: Buffer): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('docker', args, { env: s.dockerEnv, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function dockerOk(args: string[]): string {
  const r = docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const idOf = (ref: string) => berth(['image', 'inspect', '-f', '{{.Id}}', ref]).stdout.trim();

before(async () => {
  ensureBusybox();
  s = await startServe();
  reg = await startRegistry(s.dir);
});

after(async () => {
  const refs = [...made].filter((r) => idOf(r));
  if (refs.length) berth(['rmi', '-f', ...refs]);
  reg?.stop();
  await s?.stop();
});

describe('local images through the API', () => {
  test('docker images, tag, history, inspect, rmi', () => {
    const tag = `${uniq('apiimg')}:1`;
    made.add(tag);
    dockerOk(['tag', 'busybox', tag]);
    assert.equal(idOf(tag), idOf('busybox'));
    const list = dockerOk(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.ok(list.includes(`${tag} ${idOf('busybox').slice(7, 19)}`), list);
    const hist = dockerOk(['history', '--format', '{{.ID}} {{.Size}}', tag]);
    assert.match(hist, /^[0-9a-f]{12} \d/m);
    assert.equal(dockerOk(['image', 'inspect', '-f', '{{.Id}}', tag]).trim(), idOf('busybox'));
    assert.equal(dockerOk(['rmi', tag]).trim(), `Untagged: ${tag}`);
    assert.equal(idOf(tag), '');

    const missing = docker(['image', 'inspect', 'no-such-image-xyz']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such image: no-such-image-xyz/);
    const rmi = docker(['rmi', 'no-such-image-xyz']);
    assert.equal(rmi.code, 1);
    assert.match(rmi.stderr, /Error response from daemon: No such image: no-such-image-xyz/);
  });

  test('save and load round-trip; import with changes; prune removes the dangling import', () => {
    const tag = `${uniq('apisave')}:1`;
    made.add(tag);
    ok(['tag', 'busybox', tag]);
    const file = join(s.dir, 'saved.tar');
    dockerOk(['save', '-o', file, tag]);
    assert.ok(statSync(file).size > 1_000_000);
    ok(['rmi', tag]);
    assert.equal(dockerOk(['load', '-i', file]).trim(), `Loaded image: ${tag}`);
    assert.equal(idOf(tag), idOf('busybox'));
    const missing = docker(['save', '-o', join(s.dir, 'x.tar'), 'no-such-image-xyz']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such image/);

    const imp = `${uniq('apiimport')}:1`;
    made.add(imp);
    const id = dockerOk([
      'import',
      '-m',
      'from the api',
      '--change',
      'ENV A=1',
      '--change',
      'CMD ["sh"]',
      busyboxTar(),
      imp,
    ]).trim();
    assert.equal(id, idOf(imp));
    const cfg = JSON.parse(ok(['image', 'inspect', '-f', '{{json .Config}}', imp]));
    assert.deepEqual(cfg.Cmd, ['sh']);
    assert.ok(cfg.Env.includes('A=1'));
    assert.match(dockerOk(['history', '--format', '{{.Comment}}', imp]), /from the api/);

    // an untagged import is dangling: prune removes it, and only it
    const dangling = dockerOk(['import', busyboxTar()]).trim();
    const pruned = dockerOk(['image', 'prune', '-f']);
    assert.ok(pruned.includes(`deleted: ${dangling}`), pruned);
    assert.equal(idOf(dangling), '');
    assert.equal(idOf(imp), id);
  });

  test('commit a container with a message, an author and changes', () => {
    const name = uniq('apicommit');
    ok(['create', '--name', name, 'busybox', 'true']);
    try {
      const tag = `${uniq('apicommitted')}:1`;
      made.add(tag);
      const id = dockerOk(['commit', '-m', 'msg', '-a', 'me', '-c', 'LABEL from=commit', name, tag]).trim();
      assert.equal(id, idOf(tag));
      const img = JSON.parse(ok(['image', 'inspect', tag]))[0];
      assert.equal(img.Comment, 'msg');
      assert.equal(img.Author, 'me');
      assert.equal(img.Config.Labels.from, 'commit');
    } finally {
      ok(['rm', '-f', name]);
    }
  });

  test('dockerode lists images; search is refused with a reason', async () => {
    const d = new Docker({ socketPath: s.socketPath });
    const imgs = await d.listImages();
    const bb = imgs.find((i) => i.Id === idOf('busybox'));
    assert.ok(bb);
    assert.ok(bb.RepoTags?.includes('busybox:latest'));
    const filtered = await d.listImages({ filters: JSON.stringify({ reference: ['busybox'] }) });
    assert.deepEqual(
      filtered.map((i) => i.Id),
      [idOf('busybox')],
    );
    const search = docker(['search', 'busybox']);
    assert.notEqual(search.code, 0);
    assert.match(search.stderr, /search is not supported/);
  });
});

describe('pull and push through the API against docker-registry', () => {
  test('docker push, rmi, pull; a missing tag fails with an HTTP error and no progress', () => {
    const ref = `${reg.host}/api/bb:1`;
    made.add(ref);
    ok(['tag', 'busybox', ref]);
    const pushed = dockerOk(['push', ref]);
    assert.match(pushed, /The push refers to repository/);
    assert.match(pushed, /1: digest: sha256:[0-9a-f]{64} size: \d+/);
    ok(['rmi', ref]);
    const pulled = dockerOk(['pull', ref]);
    assert.match(pulled, /Status: Downloaded newer image for/);
    assert.equal(idOf(ref), idOf('busybox'));

    const missing = docker(['pull', `${reg.host}/api/none:1`]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^Error response from daemon: .*manifest unknown/m);
  });

  test('dockerode pull with followProgress; docker-py images.pull', async () => {
    const ref = `${reg.host}/api/dockerode:1`;
    made.add(ref);
    ok(['tag', 'busybox', ref]);
    dockerOk(['push', ref]);
    ok(['rmi', ref]);
    const d = new Docker({ socketPath: s.socketPath });
    const stream = await d.pull(ref);
    const events = await new Promise<{ status?: string; id?: string }[]>((resolve, reject) =>
      d.modem.followProgress(stream, (err: Error | null, out: { status?: string }[]) =>
        err ? reject(err) : resolve(out),
      ),
    );
    assert.ok(events.some((e) => e.status?.startsWith('Digest: sha256:')));
    assert.ok(events.some((e) => e.status?.startsWith('Status: ')));
    assert.equal(idOf(ref), idOf('busybox'));

    ok(['rmi', ref]);
    const py =
      'import docker,sys\nc=docker.DockerClient(base_url=sys.argv[1])\nprint(c.images.pull(sys.argv[2], tag="1").id)';
    const id = execFileSync('python3', ['-c', py, s.host, `${reg.host}/api/dockerode`], {
      encoding: 'utf8',
    }).trim();
    assert.equal(id, idOf('busybox'));
  });

  test('a client that goes away mid-pull leaves the pull to finish and the server serving', async () => {
    const ref = `${reg.host}/api/gone:1`;
    made.add(ref);
    ok(['tag', 'busybox', ref]);
    dockerOk(['push', ref]);
    ok(['rmi', ref]);
    const { Agent } = await import('undici');
    const agent = new Agent({ connect: { socketPath: s.socketPath } });
    try {
      const res = await agent.request({
        origin: 'http://localhost',
        path: `/images/create?fromImage=${encodeURIComponent(`${reg.host}/api/gone`)}&tag=1`,
        method: 'POST',
      });
      assert.equal(res.statusCode, 200);
      res.body.on('error', () => undefined);
      res.body.destroy();
    } finally {
      await agent.destroy().catch(() => undefined);
    }
    const deadline = Date.now() + 20_000;
    while (idOf(ref) === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(idOf(ref), idOf('busybox'));
    assert.match(dockerOk(['images', '--format', '{{.Repository}}']), /api\/gone/);
  });

  test('X-Registry-Auth carries the credentials for one pull and push', async () => {
    const user = { name: 'apiuser', password: `pw-${process.pid}` };
    const authReg = await startRegistry(s.dir, user);
    try {
      const ref = `${authReg.host}/api/auth:1`;
      made.add(ref);
      ok(['tag', 'busybox', ref]);
      const d = new Docker({ socketPath: s.socketPath });
      const auth = { username: user.name, password: user.password, serveraddress: authReg.host };
      // docker-modem's followProgress hands the messages over; an error is one of them
      const drain = async (st: NodeJS.ReadableStream) => {
        const out = await new Promise<{ error?: string }[]>((resolve, reject) =>
          d.modem.followProgress(st, (err: Error | null, o: { error?: string }[]) =>
            err ? reject(err) : resolve(o),
          ),
        );
        const failed = out.find((m) => m.error);
        if (failed) throw new Error(failed.error);
        return out;
      };
      // without credentials the registry refuses: for push the error travels in the stream
      await assert.rejects(async () => drain(await d.getImage(ref).push({})), /unauthorized|denied/);
      await drain(await d.getImage(ref).push({ authconfig: auth }));
      ok(['rmi', ref]);
      await assert.rejects(d.pull(ref), /unauthorized|denied/);
      await drain(await d.pull(ref, { authconfig: auth }));
      assert.equal(idOf(ref), idOf('busybox'));
      // nothing was stored on the server's side
      assert.ok(!existsSync(join(s.dir, 'docker-config', 'config.json')));
    } finally {
      authReg.stop();
    }
  });
});
