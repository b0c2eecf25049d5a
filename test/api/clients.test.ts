import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { ensureBusybox, uniq } from '../helpers.ts';
import { docker, type Served, serve } from './serve.ts';

/** SDKs against `berth serve`: dockerode (unversioned paths), docker-py, testcontainers. */
describe('SDK clients against berth serve', () => {
  let s: Served;
  let d: Docker;
  const names: string[] = [];
  const name = (p: string) => {
    const n = uniq(p);
    names.push(n);
    return n;
  };

  before(async () => {
    ensureBusybox();
    s = await serve();
    d = new Docker({ socketPath: s.sock });
  });
  after(async () => {
    for (const n of names) docker(s, ['rm', '-f', n]);
    await s.stop();
  });

  it('dockerode: ping, version, create/start/wait/logs/remove', async () => {
    assert.equal(String(await d.ping()), 'OK');
    assert.equal((await d.version()).ApiVersion, '1.51');
    const c = await d.createContainer({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo hi-dockerode; exit 7'],
      name: name('api-dr'),
      Labels: { 'test.berth': 'yes' },
    });
    await c.start();
    assert.equal((await c.wait()).StatusCode, 7);
    const logs = (await c.logs({ stdout: true, stderr: true })) as Buffer;
    // 8-byte stdcopy header, then the line
    assert.equal(logs[0], 1);
    assert.equal(logs.subarray(8).toString(), 'hi-dockerode\n');
    const listed = await d.listContainers({ all: true, filters: { label: ['test.berth=yes'] } });
    assert.ok(listed.some((x) => x.Id === c.id));
    await c.remove();
    await assert.rejects(c.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  it('dockerode: attach with hijack before start, stdin to the container, demuxed output', async () => {
    const c = await d.createContainer({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'read x; echo "out:$x"; echo "err:$x" >&2'],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      name: name('api-att'),
    });
    const stream = (await c.attach({
      stream: true,
      stdin: true,
      stdout: true,
      stderr: true,
      hijack: true,
    })) as NodeJS.ReadWriteStream;
    const out = new PassThrough();
    const err = new PassThrough();
    let o = '';
    let e = '';
    out.on('data', (b: Buffer) => {
      o += b.toString();
    });
    err.on('data', (b: Buffer) => {
      e += b.toString();
    });
    c.modem.demuxStream(stream, out, err);
    const ended = new Promise((r) => stream.on('end', r));
    await c.start();
    stream.write('piped\n');
    assert.equal((await c.wait()).StatusCode, 0);
    await ended;
    assert.equal(o, 'out:piped\n');
    assert.equal(e, 'err:piped\n');
  });

  it('dockerode: exec create/start/inspect', async () => {
    const c = await d.createContainer({
      Image: 'busybox',
      Cmd: ['sleep', '100'],
      HostConfig: { Init: true },
      name: name('api-ex'),
    });
    await c.start();
    const ex = await c.exec({
      Cmd: ['sh', '-c', 'echo exec-out; exit 5'],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await ex.start({ hijack: true, stdin: false });
    const out = new PassThrough();
    let o = '';
    out.on('data', (b: Buffer) => {
      o += b.toString();
    });
    c.modem.demuxStream(stream, out, out);
    await new Promise((r) => stream.on('end', r));
    const info = await ex.inspect();
    assert.equal(o, 'exec-out\n');
    assert.equal(info.ExitCode, 5);
    assert.equal(info.Running, false);
    // A running exec reports its host pid, as docker's exec inspect does.
    const long = await c.exec({ Cmd: ['sleep', '30'], AttachStdout: true });
    const ls = await long.start({ hijack: true, stdin: false });
    let running = await long.inspect();
    for (let i = 0; i < 100 && !running.Running; i++) {
      await new Promise((r) => setTimeout(r, 20));
      running = await long.inspect();
    }
    assert.ok(running.Pid > 0, `exec inspect Pid: ${running.Pid}`);
    assert.equal(readFileSync(`/proc/${running.Pid}/comm`, 'utf8').trim(), 'sleep');
    ls.destroy();
    await c.remove({ force: true });
  });

  it('docker-py: containers.run/list/logs/exec_run', () => {
    const n = name('api-py');
    const py = `
import docker, json
c = docker.DockerClient(base_url=${JSON.stringify(`unix://${s.sock}`)})
out = c.containers.run('busybox', ['echo', 'py-run'], remove=True)
ct = c.containers.run('busybox', ['sh', '-c', 'echo py-logs; sleep 100'], name=${JSON.stringify(n)}, detach=True, init=True)
import time
for _ in range(100):
    if b'py-logs' in ct.logs(): break
    time.sleep(0.05)
names = [x.name for x in c.containers.list()]
ex = ct.exec_run(['sh', '-c', 'echo py-exec; exit 2'])
logs = ct.logs().decode()
ct.remove(force=True)
print(json.dumps({'run': out.decode(), 'listed': ${JSON.stringify(n)} in names, 'logs': logs, 'exec': [ex.exit_code, ex.output.decode()]}))
`;
    const r = spawnSync('python3', ['-c', py], { timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr.toString());
    const got = JSON.parse(r.stdout.toString()) as {
      run: string;
      listed: boolean;
      logs: string;
      exec: [number, string];
    };
    assert.equal(got.run, 'py-run\n');
    assert.equal(got.logs, 'py-logs\n');
    assert.equal(got.listed, true);
    assert.deepEqual(got.exec, [2, 'py-exec\n']);
  });

  it('testcontainers: a GenericContainer with a log wait strategy starts and stops', async () => {
    const saved = { host: process.env.DOCKER_HOST, ryuk: process.env.TESTCONTAINERS_RYUK_DISABLED };
    process.env.DOCKER_HOST = `unix://${s.sock}`;
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    try {
      const { GenericContainer, Wait } = await import('testcontainers');
      const started = await new GenericContainer('busybox')
        .withCommand(['sh', '-c', 'echo ready-now; sleep 100'])
        .withWaitStrategy(Wait.forLogMessage('ready-now'))
        .withStartupTimeout(30_000)
        .start();
      const id = started.getId();
      assert.equal(docker(s, ['inspect', '-f', '{{.State.Running}}', id]).stdout.trim(), 'true');
      await started.stop({ timeout: 1 });
      assert.notEqual(docker(s, ['inspect', id]).code, 0);
    } finally {
      if (saved.host === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved.host;
      if (saved.ryuk === undefined) delete process.env.TESTCONTAINERS_RYUK_DISABLED;
      else process.env.TESTCONTAINERS_RYUK_DISABLED = saved.ryuk;
    }
  });
});
