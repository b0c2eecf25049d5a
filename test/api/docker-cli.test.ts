import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBusybox, uniq, until } from '../helpers.ts';
import { DOCKER, docker, dockerOk, type Served, serve } from './serve.ts';

/** The real docker CLI 28 against `berth serve`. */
describe('docker CLI against berth serve', () => {
  let s: Served;
  const names: string[] = [];
  const name = (p: string) => {
    const n = uniq(p);
    names.push(n);
    return n;
  };

  before(async () => {
    ensureBusybox();
    s = await serve();
  });
  after(async () => {
    for (const n of names) docker(s, ['rm', '-f', n]);
    await s.stop();
  });

  it('negotiates the API version and reports the server', () => {
    assert.equal(dockerOk(s, ['version', '--format', '{{.Server.APIVersion}}']).trim(), '1.51');
    const info = JSON.parse(dockerOk(s, ['info', '--format', '{{json .}}'])) as Record<string, unknown>;
    assert.equal(info.Driver, 'overlay2');
    assert.equal(info.OSType, 'linux');
    assert.equal(info.CgroupDriver, 'cgroupfs');
    assert.ok((info.NCPU as number) > 0);
  });

  it('runs --rm, propagates the exit code, and passes stdin', () => {
    assert.equal(dockerOk(s, ['run', '--rm', 'busybox', 'echo', 'via-api']), 'via-api\n');
    const r = docker(s, ['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 4']);
    assert.equal(r.code, 4);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(dockerOk(s, ['run', '-i', '--rm', 'busybox', 'cat'], { input: 'in\nput\n' }), 'in\nput\n');
  });

  it('runs -it through a pty', () => {
    const script = `
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(${JSON.stringify(DOCKER)}, ['docker', 'run', '-it', '--rm', 'busybox', 'sh', '-c', 'tty; read x; echo got:$x'])
out = b''
sent = False
end = time.time() + 20
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    if not sent and b'/dev/pts' in out:
        os.write(fd, b'hello\\r')
        sent = True
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.WEXITSTATUS(st))
`;
    const dir = mkdtempSync(join(tmpdir(), 'berth-pty-'));
    writeFileSync(join(dir, 'run_pty.py'), script);
    const r = spawnSync('python3', [join(dir, 'run_pty.py')], { env: s.env, cwd: dir, timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
    const out = r.stdout.toString();
    assert.equal(r.status, 0, out + r.stderr.toString());
    assert.match(out, /\/dev\/pts\/\d+/);
    assert.match(out, /got:hello\r\n/);
  });

  it('drives a detached container: logs, exec, ps, inspect, top, stats, pause, rename, restart, kill, wait, rm', async () => {
    const n = name('api-d');
    const id = dockerOk(s, [
      'run',
      '-d',
      '--name',
      n,
      busyboxInit(),
      'busybox',
      'sh',
      '-c',
      'echo logline; echo errline >&2; sleep 100',
    ]).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await until(() => docker(s, ['logs', n]).stdout.includes('logline'), 10_000, 'logs');
    const logs = docker(s, ['logs', n]);
    assert.equal(logs.stdout, 'logline\n');
    assert.equal(logs.stderr, 'errline\n');
    assert.match(
      dockerOk(s, ['logs', '-t', '--tail', '1', n]) + docker(s, ['logs', '-t', '--tail', '1', n]).stderr,
      /^\d{4}-\d\d-\d\dT[\d:.]+Z errline\n/m,
    );
    assert.equal(dockerOk(s, ['exec', n, 'echo', 'ex']), 'ex\n');
    assert.equal(dockerOk(s, ['exec', '-i', n, 'cat'], { input: 'piped' }), 'piped');
    assert.equal(docker(s, ['exec', n, 'sh', '-c', 'exit 3']).code, 3);
    assert.ok(dockerOk(s, ['ps', '--format', '{{.Names}}']).split('\n').includes(n));
    assert.equal(dockerOk(s, ['inspect', '-f', '{{.State.Status}} {{.Id}}', n]).trim(), `running ${id}`);
    assert.match(dockerOk(s, ['top', n]), /sleep 100/);
    const stats = dockerOk(s, ['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', n]);
    assert.match(stats, new RegExp(`^${n} \\d+ [\\d.]+[KMG]iB / `));
    dockerOk(s, ['pause', n]);
    assert.equal(dockerOk(s, ['inspect', '-f', '{{.State.Status}}', n]).trim(), 'paused');
    dockerOk(s, ['unpause', n]);
    const n2 = name('api-d2');
    dockerOk(s, ['rename', n, n2]);
    assert.equal(dockerOk(s, ['inspect', '-f', '{{.Name}}', id]).trim(), `/${n2}`);
    const started = dockerOk(s, ['inspect', '-f', '{{.State.StartedAt}}', n2]).trim();
    dockerOk(s, ['restart', '-t', '1', n2]);
    assert.notEqual(dockerOk(s, ['inspect', '-f', '{{.State.StartedAt}}', n2]).trim(), started);
    assert.equal(dockerOk(s, ['inspect', '-f', '{{.State.Status}}', n2]).trim(), 'running');
    dockerOk(s, ['kill', n2]);
    assert.equal(dockerOk(s, ['wait', n2]).trim(), '137');
    dockerOk(s, ['rm', '-f', n2]);
    assert.notEqual(docker(s, ['inspect', n2]).code, 0);
    // docker's 304s: starting a running container, stopping a stopped one, are not errors
    const n3 = name('api-d3');
    dockerOk(s, ['run', '-d', '--name', n3, busyboxInit(), 'busybox', 'sleep', '100']);
    dockerOk(s, ['start', n3]);
    dockerOk(s, ['stop', '-t', '1', n3]);
    dockerOk(s, ['stop', n3]);
    assert.match(docker(s, ['rm', 'no-such-container-here']).stderr, /No such container/);
  });

  it('follows logs until the container exits', () => {
    const n = name('api-f');
    dockerOk(s, ['run', '-d', '--name', n, 'busybox', 'sh', '-c', 'echo one; sleep 1; echo two']);
    const t0 = Date.now();
    const r = docker(s, ['logs', '-f', n], { timeoutMs: 15_000 });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'one\ntwo\n');
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('copies files both ways', () => {
    const n = name('api-cp');
    dockerOk(s, [
      'run',
      '-d',
      '--name',
      n,
      busyboxInit(),
      'busybox',
      'sh',
      '-c',
      'echo inside > /in.txt; sleep 100',
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'berth-cp-'));
    try {
      writeFileSync(join(dir, 'up.txt'), 'from host\n');
      dockerOk(s, ['cp', join(dir, 'up.txt'), `${n}:/tmp/`]);
      assert.equal(dockerOk(s, ['exec', n, 'cat', '/tmp/up.txt']), 'from host\n');
      let got = '';
      for (let i = 0; i < 50 && !got; i++) {
        const r = docker(s, ['cp', `${n}:/in.txt`, join(dir, 'down.txt')]);
        if (r.code === 0) got = readFileSync(join(dir, 'down.txt'), 'utf8');
      }
      assert.equal(got, 'inside\n');
      assert.notEqual(docker(s, ['cp', `${n}:/nope`, dir]).code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports events between --since and --until, and streams them', async () => {
    const n = name('api-ev');
    const since = Math.floor(Date.now() / 1000) - 1;
    // a follower that is running before the container exists sees its events live
    const follow = spawn(DOCKER, ['events', '--filter', `container=${n}`, '--format', '{{.Action}}'], {
      env: s.env,
    });
    let live = '';
    follow.stdout.on('data', (d: Buffer) => {
      live += d.toString();
    });
    await new Promise((r) => setTimeout(r, 300));
    dockerOk(s, ['run', '--rm', '--name', n, 'busybox', 'true']);
    await until(() => live.includes('destroy'), 10_000, 'live destroy event');
    follow.kill();
    const out = dockerOk(s, [
      'events',
      '--since',
      String(since),
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      `container=${n}`,
    ]);
    const actions = out
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[2]);
    for (const a of ['create', 'attach', 'start', 'die', 'destroy'])
      assert.ok(actions.includes(a), `${a} in\n${out}`);
    assert.match(out, new RegExp(`container die [0-9a-f]{64} \\(.*exitCode=0.*name=${n}`));
    assert.deepEqual(live.trim().split('\n'), actions);
  });
});

/** `sleep` as PID 1 ignores SIGTERM: an init makes stop quick. */
function busyboxInit(): string {
  return '--init';
}
