import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BERTH,
  berth,
  berthAsync,
  containerNames,
  ENV,
  ensureBusybox,
  inspect,
  ok,
  rootfsMounted,
  runtimeStateExists,
  TEST_RUNROOT,
  until,
} from '../helpers.ts';

interface State {
  State: {
    Status: string;
    Running: boolean;
    ExitCode: number;
    Pid: number;
    OOMKilled: boolean;
    StartedAt: string;
    FinishedAt: string;
  };
  RestartCount: number;
}

const name = containerNames();
before(() => ensureBusybox());
after(() => name.removeAll());

const state = (ref: string) => inspect<State>(ref).State;

describe('container lifecycle', () => {
  test('create, start, stop, start again, restart, kill, rm', async () => {
    const n = name('life');
    const script = 'trap "exit 12" USR1; echo up; while :; do sleep 0.1; done';
    const id = ok(['create', '--name', n, '--stop-timeout', '1', 'busybox', 'sh', '-c', script]).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(state(n).Status, 'created');
    assert.equal(ok(['start', n]).trim(), n);
    assert.equal(state(n).Status, 'running');
    assert.ok(state(n).Pid > 0);
    // sh as pid 1 has no TERM handler, so the kernel ignores SIGTERM: stop waits out the timeout, then kills.
    const t0 = Date.now();
    ok(['stop', n]);
    assert.ok(Date.now() - t0 >= 900, 'stop did not wait for the stop timeout');
    assert.equal(state(n).Status, 'exited');
    assert.equal(state(n).ExitCode, 137);
    ok(['start', n]);
    await until(() => ok(['logs', n]) === 'up\nup\n', 5000, 'second run logs');
    const firstStart = state(n).StartedAt;
    ok(['restart', '-t', '0', n]);
    assert.equal(state(n).Status, 'running');
    assert.notEqual(state(n).StartedAt, firstStart);
    ok(['kill', '-s', 'USR1', n]);
    await until(() => state(n).Status === 'exited', 5000, 'exit after SIGUSR1');
    assert.equal(state(n).ExitCode, 12);
    ok(['rm', n]);
    assert.equal(berth(['inspect', n]).code, 1);
  });

  test('rm refuses a running container unless forced', () => {
    const n = name('rmrun');
    ok(['run', '-d', '--name', n, 'busybox', 'sleep', '300']);
    const r = berth(['rm', n]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot remove container .*running.*force/i);
    ok(['rm', '-f', n]);
    assert.equal(berth(['inspect', n]).code, 1);
  });

  test('stop on a stopped container and kill on a stopped one', () => {
    const n = name('stopped');
    ok(['create', '--name', n, 'busybox', 'true']);
    assert.equal(berth(['stop', n]).code, 0);
    const k = berth(['kill', n]);
    assert.equal(k.code, 1);
    assert.match(k.stderr, /is not running/);
  });

  test('wait blocks until the container exits and prints its code', async () => {
    const n = name('wait');
    ok(['run', '-d', '--name', n, 'busybox', 'sh', '-c', 'sleep 0.5; exit 5']);
    const w = await berthAsync(['wait', n]);
    assert.equal(w.stdout, '5\n');
    assert.equal(state(n).Status, 'exited');
  });

  test('start -a attaches and exits with the container code', () => {
    const n = name('starta');
    ok(['create', '--name', n, 'busybox', 'sh', '-c', 'echo hello; exit 5']);
    const s = berth(['start', '-a', n]);
    assert.equal(s.code, 5);
    assert.equal(s.stdout, 'hello\n');
  });

  test('start -ai relays piped stdin', () => {
    const n = name('startai');
    ok(['create', '-i', '--name', n, 'busybox', 'cat']);
    const r = berth(['start', '-ai', n], { input: 'through start\n' });
    assert.equal(r.stdout, 'through start\n');
    assert.equal(r.code, 0);
  });

  test('attach shows the output of a running container', async () => {
    const n = name('attach');
    ok(['run', '-d', '--name', n, 'busybox', 'sh', '-c', 'sleep 0.5; echo from-attach; exit 4']);
    const r = berth(['attach', n]);
    assert.equal(r.stdout, 'from-attach\n');
    assert.equal(r.code, 4);
  });

  test('exec: output, exit code, -i, -e, -w, -u, -d, and refusal when stopped', async () => {
    const n = name('exec');
    ok(['run', '-d', '--name', n, '-e', 'BASE=1', 'busybox', 'sleep', '300']);
    assert.equal(ok(['exec', n, 'echo', 'inside']), 'inside\n');
    assert.equal(berth(['exec', n, 'sh', '-c', 'exit 9']).code, 9);
    assert.equal(ok(['exec', '-i', n, 'cat'], { input: 'in\n' }), 'in\n');
    assert.equal(
      ok(['exec', '-e', 'X=2', '-w', '/tmp', '-u', 'nobody', n, 'sh', '-c', 'echo $BASE $X $(pwd) $(id -u)']),
      '1 2 /tmp 65534\n',
    );
    ok(['exec', '-d', n, 'sh', '-c', 'echo detached > /tmp/d']);
    await until(() => berth(['exec', n, 'cat', '/tmp/d']).stdout === 'detached\n', 5000, 'detached exec');
    assert.equal(berth(['exec', n, 'nosuchcmd']).code, 127);
    ok(['stop', '-t', '0', n]);
    const r = berth(['exec', n, 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not running/);
  });

  test("exec -it gets a terminal of the caller's size", () => {
    const n = name('exectty');
    ok(['run', '-d', '--name', n, 'busybox', 'sleep', '300']);
    const out = execFileSync(
      'script',
      ['-qec', `stty rows 21 cols 77; ${BERTH} exec -it ${n} sh -c 'tty; stty size'`, '/dev/null'],
      {
        env: ENV,
        encoding: 'utf8',
        input: '',
      },
    );
    assert.match(out, /\/dev\/pts\/\d+\r*\n/);
    assert.match(out, /21 77/);
  });

  test('containers outlive a killed berth; exit code and logs are kept', async () => {
    const n = name('survive');
    const child = spawn(
      BERTH,
      ['run', '--name', n, 'busybox', 'sh', '-c', 'echo one; sleep 1; echo two; exit 7'],
      { env: ENV, stdio: 'ignore' },
    );
    await until(() => berth(['inspect', n]).code === 0 && state(n).Running, 5000, 'container running');
    child.kill('SIGKILL');
    assert.equal(state(n).Running, true);
    assert.equal(ok(['wait', n]), '7\n');
    assert.equal(ok(['logs', n]), 'one\ntwo\n');
    assert.equal(state(n).ExitCode, 7);
  });

  test('a crash (monitor and process killed) is repaired by the next command', async () => {
    const n = name('crash');
    const id = ok(['run', '-d', '--name', n, 'busybox', 'sleep', '300']).trim();
    assert.equal(rootfsMounted(id), true);
    const conmonPid = Number(readFileSync(join(TEST_RUNROOT, 'containers', id, 'conmon.pid'), 'utf8'));
    process.kill(conmonPid, 'SIGKILL');
    process.kill(state(n).Pid, 'SIGKILL');
    await until(
      () => {
        try {
          process.kill(conmonPid, 0);
          return false;
        } catch {
          return true;
        }
      },
      5000,
      'conmon gone',
    );
    const ps = ok(['ps', '-a', '--filter', `name=${n}`, '--format', '{{.State}}']);
    assert.equal(ps, 'exited\n');
    assert.equal(rootfsMounted(id), false);
    assert.equal(runtimeStateExists(id), false);
    ok(['start', n]);
    assert.equal(state(n).Status, 'running');
  });

  test('run forwards SIGTERM to the container', async () => {
    const n = name('sigproxy');
    const child = spawn(
      BERTH,
      [
        'run',
        '--rm',
        '--name',
        n,
        'busybox',
        'sh',
        '-c',
        'trap "echo got-term; exit 3" TERM; while :; do sleep 0.1; done',
      ],
      { env: ENV },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await until(() => berth(['inspect', n]).code === 0 && state(n).Running, 5000, 'container running');
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 3);
    assert.equal(out, 'got-term\n');
  });

  test('pause and unpause freeze the processes', async () => {
    const n = name('pause');
    ok(['run', '-d', '--name', n, 'busybox', 'sleep', '300']);
    ok(['pause', n]);
    assert.equal(state(n).Status, 'paused');
    assert.match(ok(['ps', '--filter', `name=${n}`, '--format', '{{.Status}}']), /\(Paused\)/);
    ok(['unpause', n]);
    assert.equal(state(n).Status, 'running');
  });

  test('rename', () => {
    const n = name('rename');
    const n2 = name('renamed');
    ok(['create', '--name', n, 'busybox', 'true']);
    ok(['rename', n, n2]);
    assert.equal(berth(['inspect', n]).code, 1);
    assert.equal(inspect<{ Name: string }>(n2).Name, `/${n2}`);
  });
});

describe('logs are capped', () => {
  test('by default at 10 MB, and at --log-opt max-size', () => {
    const n = name('logcap');
    const script =
      'i=0; while [ $i -lt 4000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done';
    assert.equal(
      berth(['run', '--name', n, '--log-opt', 'max-size=32k', 'busybox', 'sh', '-c', script]).code,
      0,
    );
    const c = inspect<{ LogPath: string; HostConfig: { LogConfig: { Config: Record<string, string> } } }>(n);
    assert.equal(c.HostConfig.LogConfig.Config['max-size'], String(32 * 1024));
    assert.ok(statSync(c.LogPath).size <= 32 * 1024, `log is ${statSync(c.LogPath).size} bytes`);
    assert.equal(ok(['logs', '--tail', '1', n]), 'line-3999-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n');
    const d = name('logdefault');
    ok(['create', '--name', d, 'busybox', 'true']);
    const dc = inspect<{ HostConfig: { LogConfig: { Config: Record<string, string> } } }>(d);
    assert.equal(dc.HostConfig.LogConfig.Config['max-size'], String(10 * 1024 * 1024));
    assert.equal(berth(['run', '--rm', '--log-opt', 'max-size=lots', 'busybox', 'true']).code, 125);
  });
});

describe('restart policies', () => {
  test('on-failure:2 restarts twice, then stays down', async () => {
    const n = name('onfail');
    ok(['run', '-d', '--name', n, '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 1']);
    await until(
      () => ok(['logs', n]) === 'run\nrun\nrun\n' && state(n).Status === 'exited',
      15_000,
      'three runs',
    );
    const c = inspect<State>(n);
    assert.equal(c.RestartCount, 2);
    assert.equal(c.State.ExitCode, 1);
  });

  test('on-failure does not restart a clean exit', async () => {
    const n = name('onfail0');
    ok(['run', '-d', '--name', n, '--restart', 'on-failure', 'busybox', 'true']);
    await until(() => state(n).Status === 'exited', 5000, 'exit');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(inspect<State>(n).RestartCount, 0);
  });

  test('always restarts until stopped by the user; stop is final', async () => {
    const n = name('always');
    ok(['run', '-d', '--name', n, '--restart', 'always', 'busybox', 'sh', '-c', 'echo run; sleep 0.2']);
    await until(() => inspect<State>(n).RestartCount >= 2, 15_000, 'two restarts');
    ok(['stop', '-t', '1', n]);
    const count = inspect<State>(n).RestartCount;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(state(n).Status, 'exited');
    assert.equal(inspect<State>(n).RestartCount, count);
  });

  test('--restart and --rm conflict; bad policies are refused', () => {
    assert.equal(berth(['run', '--rm', '--restart', 'always', 'busybox', 'true']).code, 125);
    const r = berth(['run', '--restart', 'sometimes', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /invalid restart policy/);
  });
});
