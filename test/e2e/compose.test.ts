import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BERTH, berth, ENV, ensureBusybox, inspect, ok, until } from '../helpers.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const APP = `
services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /www
    volumes: ["./www:/www:ro"]
    ports: ["127.0.0.1:\${WEB_PORT}:80"]
    init: true
  worker:
    image: busybox
    command:
      - sh
      - -c
      - |
        if test -e /data/ready; then echo ordered > /data/order; else echo early > /data/order; fi
        while :; do wget -qO- http://web/ > /data/last.tmp && mv /data/last.tmp /data/last; sleep 0.2; done
    environment:
      GREETING: \${GREETING:-hello}
    volumes: ["data:/data"]
    depends_on:
      web: {condition: service_started}
      db: {condition: service_healthy}
    init: true
  db:
    image: busybox
    command: sh -c 'sleep 1; touch /data/ready; exec sleep 100000'
    volumes: ["data:/data"]
    init: true
    healthcheck:
      test: ["CMD", "test", "-e", "/data/ready"]
      interval: 200ms
      retries: 50
volumes:
  data: {}
`;

describe('compose: a 3-service app', () => {
  let dir: string;
  let file: string;
  let port: number;
  const project = `ct${process.pid}`;
  const compose = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    berth(['compose', '-f', file, '-p', project, ...args], { env, timeoutMs: 60_000 });
  const composeOk = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = compose(args, env);
    if (r.code !== 0) throw new Error(`compose ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const ids = () =>
    Object.fromEntries(
      ok([
        'ps',
        '-a',
        '--no-trunc',
        '--filter',
        `label=com.docker.compose.project=${project}`,
        '--format',
        '{{.Names}} {{.ID}}',
      ])
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    );

  before(async () => {
    ensureBusybox();
    dir = mkdtempSync(join(tmpdir(), 'berth-compose-'));
    file = join(dir, 'compose.yaml');
    port = await freePort();
    mkdirSync(join(dir, 'www'));
    writeFileSync(join(dir, 'www', 'index.html'), 'composed page\n');
    writeFileSync(file, APP);
    writeFileSync(join(dir, '.env'), `WEB_PORT=${port}\n`);
  });

  after(() => {
    compose(['down', '-v', '-t', '1']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('up -d serves the page, orders start-up by health, and lets the worker reach web by name', async () => {
    composeOk(['up', '-d']);
    const body = await until(
      async () => {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/`);
          return res.ok ? await res.text() : undefined;
        } catch {
          return undefined;
        }
      },
      10_000,
      'the web page',
    );
    assert.equal(await body, 'composed page\n');
    const c = ids();
    assert.deepEqual(Object.keys(c).sort(), [`${project}-db-1`, `${project}-web-1`, `${project}-worker-1`]);
    const worker = inspect<{ Config: { Labels: Record<string, string> } }>(`${project}-worker-1`);
    assert.equal(worker.Config.Labels['com.docker.compose.project'], project);
    assert.equal(worker.Config.Labels['com.docker.compose.service'], 'worker');
    assert.equal(worker.Config.Labels['com.docker.compose.container-number'], '1');
    assert.equal(worker.Config.Labels['com.docker.compose.oneoff'], 'False');
    assert.equal(worker.Config.Labels['com.docker.compose.project.working_dir'], dir);
    assert.equal(
      worker.Config.Labels['com.docker.compose.depends_on'],
      'web:service_started:false,db:service_healthy:false',
    );
    assert.match(worker.Config.Labels['com.docker.compose.config-hash'] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(
      composeOk(['config', '--hash', 'worker']),
      `worker ${worker.Config.Labels['com.docker.compose.config-hash']}\n`,
    );
    assert.deepEqual(composeOk(['config', '--services']).trim().split('\n'), ['db', 'web', 'worker']);
    // The worker started only after db was healthy: db's marker was there when it looked.
    assert.equal(composeOk(['exec', '-T', 'worker', 'cat', '/data/order']), 'ordered\n');
    await until(
      () => compose(['exec', '-T', 'worker', 'cat', '/data/last']).stdout === 'composed page\n',
      10_000,
      'worker fetch',
    );
    const net = JSON.parse(ok(['network', 'inspect', `${project}_default`]))[0] as {
      Labels: Record<string, string>;
    };
    assert.equal(net.Labels['com.docker.compose.network'], 'default');
    const vol = JSON.parse(ok(['volume', 'inspect', `${project}_data`]))[0] as {
      Labels: Record<string, string>;
    };
    assert.equal(vol.Labels['com.docker.compose.volume'], 'data');
  });

  it('ps lists the services and logs prefix each line with <service>-<n>', () => {
    assert.deepEqual(composeOk(['ps', '--services']).trim().split('\n').sort(), ['db', 'web', 'worker']);
    const ps = composeOk(['ps', '--format', 'json'])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { Service: string; State: string });
    assert.equal(ps.length, 3);
    assert.ok(ps.every((x) => x.State === 'running'));
    ok(['exec', `${project}-web-1`, 'sh', '-c', 'echo from-web > /proc/1/fd/1']);
    const logs = composeOk(['logs', 'web']);
    assert.match(logs, /^web-1 {2}\| from-web$/m);
    assert.doesNotMatch(logs, /\x1b\[/, 'no colours when not a terminal');
  });

  it('up again changes nothing; a changed env var recreates only that service', () => {
    const before = ids();
    const again = compose(['up', '-d']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(ids(), before);
    composeOk(['up', '-d'], { GREETING: 'changed' });
    const afterChange = ids();
    assert.equal(afterChange[`${project}-web-1`], before[`${project}-web-1`]);
    assert.equal(afterChange[`${project}-db-1`], before[`${project}-db-1`]);
    assert.notEqual(afterChange[`${project}-worker-1`], before[`${project}-worker-1`]);
    assert.equal(composeOk(['exec', '-T', 'worker', 'sh', '-c', 'echo $GREETING']), 'changed\n');
  });

  it('down -v leaves no container, network or volume', () => {
    composeOk(['down', '-v', '-t', '1']);
    assert.deepEqual(ids(), {});
    assert.equal(berth(['network', 'inspect', `${project}_default`]).code, 1);
    assert.equal(berth(['volume', 'inspect', `${project}_data`]).code, 1);
    assert.equal(ok(['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]), '');
  });
});

describe('compose: one-off, attached, scale, build and watch', () => {
  let dir: string;
  const project = `cu${process.pid}`;
  const compose = (args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) =>
    berth(['compose', '-f', join(dir, 'compose.yaml'), '-p', project, ...args], {
      env: opts.env,
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
  const names = () =>
    ok(['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}'])
      .trim()
      .split('\n')
      .filter(Boolean)
      .sort();

  before(() => {
    ensureBusybox();
    dir = mkdtempSync(join(tmpdir(), 'berth-compose-'));
    mkdirSync(join(dir, 'app'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'a.txt'), 'one\n');
    writeFileSync(
      join(dir, 'app', 'Dockerfile'),
      'FROM busybox\nRUN echo built > /built\nCMD ["sleep", "100000"]\n',
    );
    writeFileSync(
      join(dir, 'compose.yaml'),
      `
services:
  once:
    image: busybox
    command: sh -c 'echo hello from once; exit 3'
  idle:
    image: busybox
    command: sleep 100000
    init: true
    develop:
      watch:
        - path: ./src
          action: sync
          target: /srv
  built:
    build: ./app
    profiles: [build]
  sick:
    image: busybox
    command: sleep 100000
    init: true
    healthcheck: {test: ["CMD", "false"], interval: 200ms, retries: 1}
    profiles: [sick]
  needy:
    image: busybox
    command: sleep 100000
    depends_on: {sick: {condition: service_healthy}}
    profiles: [sick]
`,
    );
  });

  after(() => {
    compose(['--profile', 'build', '--profile', 'sick', 'down', '-v', '-t', '1', '--remove-orphans']);
    berth(['rmi', `${project}-built`]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("attached up prints prefixed logs and --exit-code-from returns that service's code", () => {
    const r = compose(['up', '--exit-code-from', 'once', '-t', '1', 'once', 'idle']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^once-1 +\| hello from once$/m);
    assert.match(r.stdout, new RegExp(`${project}-once-1 exited with code 3`));
    const idle = inspect<{ State: { Running: boolean } }>(`${project}-idle-1`);
    assert.equal(idle.State.Running, false, 'abort stops the other containers');
  });

  it('run --rm runs a one-off container and removes it; --scale adds replicas', () => {
    const r2 = compose(['run', '--rm', '-e', 'X=y', 'idle', 'sh', '-c', 'echo $X-one-off']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout, 'y-one-off\n');
    assert.deepEqual(
      names().filter((n) => n.includes('-run-')),
      [],
    );
    const up = compose(['up', '-d', '--scale', 'idle=2', 'idle']);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(
      names().filter((n) => n.includes('idle')),
      [`${project}-idle-1`, `${project}-idle-2`],
    );
    const down = compose(['up', '-d', 'idle']);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(
      names().filter((n) => n.includes('idle')),
      [`${project}-idle-1`],
    );
  });

  it('up fails clearly when a service_healthy dependency turns unhealthy, and leaves the dependent unstarted', () => {
    const r = compose(['up', '-d', 'needy']);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(`dependency failed to start: container ${project}-sick-1 is unhealthy`),
    );
    assert.ok(!names().includes(`${project}-needy-1`));
  });

  it('watch syncs a changed file into the container', async () => {
    const child = spawn(BERTH, ['compose', '-f', join(dir, 'compose.yaml'), '-p', project, 'watch', 'idle'], {
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await until(() => out.includes('Watch enabled'), 20_000, `watch to start: ${out}`);
      writeFileSync(join(dir, 'src', 'a.txt'), 'two\n');
      await until(
        () => berth(['exec', `${project}-idle-1`, 'cat', '/srv/a.txt']).stdout === 'two\n',
        10_000,
        'the synced file',
      );
    } finally {
      child.kill('SIGINT');
    }
  });

  it('build makes <project>-<service> and up runs it (profile enabled by naming the service)', () => {
    const b = compose(['build', 'built'], { timeoutMs: 120_000 });
    assert.equal(b.code, 0, b.stderr);
    ok(['image', 'inspect', `${project}-built`]);
    const up = compose(['up', '-d', 'built']);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(ok(['exec', `${project}-built-1`, 'cat', '/built']), 'built\n');
  });
});
