import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeBuildEvent, encodeBuildEvent, LegacyBuildMessages } from '../../src/api/routes/build.ts';
import type { BuildEvent } from '../../src/build/types.ts';
import { berth, ensureBusybox, uniq } from '../helpers.ts';
import { type Served, startServe } from './serve-helper.ts';

const v = (name: string) => ({ id: `v-${name}`, name });

/** A build as Berth's builder reports it: internal vertices, a cached FROM, a RUN with output. */
const EVENTS: BuildEvent[] = [
  { type: 'start', vertex: v('[internal] load build definition from Dockerfile'), at: 1 },
  { type: 'done', vertex: v('[internal] load build definition from Dockerfile'), at: 2, cached: false },
  { type: 'start', vertex: v('[1/3] FROM busybox'), at: 3 },
  { type: 'done', vertex: v('[1/3] FROM busybox'), at: 4, cached: true },
  { type: 'start', vertex: v('[2/3] RUN echo hi'), at: 5 },
  { type: 'log', vertex: v('[2/3] RUN echo hi'), stream: 'stdout', data: Buffer.from('hi\n') },
  { type: 'log', vertex: v('[2/3] RUN echo hi'), stream: 'stderr', data: Buffer.from('warn\n') },
  { type: 'done', vertex: v('[2/3] RUN echo hi'), at: 6, cached: false },
  { type: 'start', vertex: v('[final 3/3] ENV A=1'), at: 7 },
  { type: 'done', vertex: v('[final 3/3] ENV A=1'), at: 8, cached: true },
  { type: 'warning', message: 'build arg X was not used' },
];
const RESULT = { imageId: `sha256:${'ab12'.repeat(16)}`, warnings: [] };

describe('legacy build messages (docker build without BuildKit)', () => {
  test('steps, cache hits, output, warnings, then the ID and the tags', () => {
    const t = new LegacyBuildMessages(false);
    const msgs = [
      ...EVENTS.flatMap((e) => t.event(e)),
      ...t.result(RESULT, ['docker.io/library/app:1', '127.0.0.1:5000/x:2']),
    ];
    assert.deepEqual(msgs, [
      { stream: 'Step 1/3 : FROM busybox\n' },
      { stream: ' ---> Using cache\n' },
      { stream: 'Step 2/3 : RUN echo hi\n' },
      { stream: 'hi\n' },
      { stream: 'warn\n' },
      { stream: 'Step 3/3 : ENV A=1\n' },
      { stream: ' ---> Using cache\n' },
      { stream: '[Warning] build arg X was not used\n' },
      { aux: { ID: RESULT.imageId } },
      { stream: 'Successfully built ab12ab12ab12\n' },
      { stream: 'Successfully tagged app:1\n' },
      { stream: 'Successfully tagged 127.0.0.1:5000/x:2\n' },
    ]);
  });

  test('quiet: only the ID, as the aux message and as the one line of output', () => {
    const t = new LegacyBuildMessages(true);
    const msgs = [...EVENTS.flatMap((e) => t.event(e)), ...t.result(RESULT, ['docker.io/library/app:1'])];
    assert.deepEqual(msgs, [{ aux: { ID: RESULT.imageId } }, { stream: `${RESULT.imageId}\n` }]);
  });

  test("Berth's own events travel losslessly for the remote engine", () => {
    const t = new LegacyBuildMessages(true, true);
    const carried = EVENTS.flatMap((e) => t.event(e)).flatMap((m) =>
      'berthEvent' in m ? [m.berthEvent] : [],
    );
    assert.deepEqual(
      carried.map((e) => decodeBuildEvent(JSON.parse(JSON.stringify(e)))),
      EVENTS.map((e) => decodeBuildEvent(encodeBuildEvent(e))),
    );
    assert.deepEqual(decodeBuildEvent(JSON.parse(JSON.stringify(encodeBuildEvent(EVENTS[5]!)))), EVENTS[5]);
    assert.deepEqual(t.result(RESULT, [])[1], { berthResult: RESULT });
  });
});

describe('POST /build with real clients', () => {
  let s: Served;
  let ctxDir: string;
  const tags: string[] = [];

  before(async () => {
    ensureBusybox();
    s = await startServe();
    ctxDir = join(s.dir, 'ctx');
    mkdirSync(ctxDir);
    writeFileSync(join(ctxDir, 'hello.txt'), 'hello from the context\n');
    writeFileSync(
      join(ctxDir, 'Dockerfile'),
      'FROM busybox\nARG GREETING=none\nCOPY hello.txt /hello.txt\nRUN echo "greeting=$GREETING" | tee /greeting\nLABEL built.by=berth\n',
    );
  });

  after(async () => {
    if (tags.length) berth(['rmi', '-f', ...tags]);
    await s?.stop();
  });

  test('docker build -t streams the steps and tags the image', () => {
    const tag = `${uniq('apibuild')}:1`;
    tags.push(tag);
    const r = spawnSync('docker', ['build', '--no-cache', '-t', tag, '--build-arg', 'GREETING=hi', ctxDir], {
      env: { ...s.dockerEnv, DOCKER_BUILDKIT: '0' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^Step 1\/\d+ : FROM (docker\.io\/library\/)?busybox/m);
    // the RUN step's own output is streamed
    assert.match(r.stdout, /^greeting=hi$/m);
    assert.match(r.stdout, /Successfully built [0-9a-f]{12}/);
    assert.match(r.stdout, new RegExp(`Successfully tagged ${tag}`));
    const out = berth(['run', '--rm', tag, 'cat', '/hello.txt', '/greeting']);
    assert.equal(out.stdout, 'hello from the context\ngreeting=hi\n');
    const labels = JSON.parse(berth(['image', 'inspect', '-f', '{{json .Config.Labels}}', tag]).stdout);
    assert.equal(labels['built.by'], 'berth');
  });

  test('docker build -q prints only the image ID; a failing step fails the build', () => {
    const tag = `${uniq('apibuildq')}:1`;
    tags.push(tag);
    const r = spawnSync('docker', ['build', '-q', '-t', tag, ctxDir], {
      env: { ...s.dockerEnv, DOCKER_BUILDKIT: '0' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const id = berth(['image', 'inspect', '-f', '{{.Id}}', tag]).stdout.trim();
    assert.equal(r.stdout.trim(), id);

    const bad = join(s.dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'Dockerfile'), 'FROM busybox\nRUN exit 3\n');
    const f = spawnSync('docker', ['build', bad], {
      env: { ...s.dockerEnv, DOCKER_BUILDKIT: '0' },
      encoding: 'utf8',
    });
    assert.notEqual(f.status, 0);
    assert.match(f.stderr + f.stdout, /exit|returned a non-zero code|3/);
  });

  test('docker-py images.build returns the image and its log', () => {
    const tag = `${uniq('apibuildpy')}:1`;
    tags.push(tag);
    const py = `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
img, logs = c.images.build(path=sys.argv[2], tag=sys.argv[3], buildargs={"GREETING": "py"})
print(img.id)
print(any("Successfully built" in l.get("stream", "") for l in logs))
`;
    const out = execFileSync('python3', ['-c', py, s.host, ctxDir, tag], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    const [id, saw] = out.trim().split('\n');
    assert.equal(id, berth(['image', 'inspect', '-f', '{{.Id}}', tag]).stdout.trim());
    assert.equal(saw, 'True');
  });
});
