import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { BERTH, berth, ENV, ensureBusybox, inspect, ok, uniq } from '../helpers.ts';

before(() => ensureBusybox());

/** Runs `sh -c script` in a fresh --rm container and returns its stdout. */
function sh(script: string, flags: string[] = []): string {
  return ok(['run', '--rm', ...flags, 'busybox', 'sh', '-c', script]);
}

describe('run: process and arguments', () => {
  test('prints the command output and removes the container', () => {
    const name = uniq('echo');
    assert.equal(ok(['run', '--rm', '--name', name, 'busybox', 'echo', 'hi']), 'hi\n');
    assert.equal(berth(['inspect', name]).code, 1);
  });

  test('exits with the container exit code', () => {
    assert.equal(berth(['run', '--rm', 'busybox', 'sh', '-c', 'exit 3']).code, 3);
    assert.equal(berth(['run', '--rm', 'busybox', 'false']).code, 1);
  });

  test('pipes stdin with -i, and closes it at EOF', () => {
    assert.equal(ok(['run', '-i', '--rm', 'busybox', 'cat'], { input: 'piped\n' }), 'piped\n');
    const big = 'x'.repeat(200_000);
    assert.equal(ok(['run', '-i', '--rm', 'busybox', 'wc', '-c'], { input: big }).trim(), '200000');
  });

  test('without -i the container gets no stdin', () => {
    assert.equal(ok(['run', '--rm', 'busybox', 'cat'], { input: 'ignored\n' }), '');
  });

  test('keeps stdout and stderr apart', () => {
    const r = berth(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('runs in its own pid namespace with the command as pid 1', () => {
    assert.equal(sh('echo $$'), '1\n');
  });

  test('flags after the image belong to the container command', () => {
    assert.equal(ok(['run', '--rm', 'busybox', 'echo', '--rm', '-d', '--name']), '--rm -d --name\n');
    assert.equal(ok(['run', '--rm', '--', 'busybox', 'echo', 'x']), 'x\n');
  });

  test('-e, --env-file, -w, -u, -h, --entrypoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-env-'));
    const file = join(dir, 'env');
    writeFileSync(file, '# comment\nFROM_FILE=yes\n\nOVERRIDE=file\n');
    const out = sh('echo $FROM_FILE $OVERRIDE $PLAIN; pwd; id -u; hostname', [
      '--env-file',
      file,
      '-e',
      'OVERRIDE=flag',
      '-e',
      'PLAIN=1',
      '-w',
      '/tmp',
      '-u',
      'nobody',
      '-h',
      'myhost',
    ]);
    assert.equal(out, 'yes flag 1\n/tmp\n65534\nmyhost\n');
    assert.equal(ok(['run', '--rm', '--entrypoint', 'echo', 'busybox', 'a', 'b']), 'a b\n');
    assert.equal(
      ok(['run', '--rm', '-u', '1234:5678', 'busybox', 'sh', '-c', 'id; grep Groups /proc/self/status']),
      'uid=1234 gid=5678 groups=5678\nGroups:\t5678 \n',
    );
  });

  test('an unknown user is an error (126)', () => {
    const r = berth(['run', '--rm', '-u', 'nosuchuser', 'busybox', 'true']);
    assert.equal(r.code, 126);
    assert.match(r.stderr, /unable to find user nosuchuser/);
  });

  test('default environment: PATH, HOSTNAME, HOME', () => {
    const env = sh('env');
    assert.match(env, /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
    assert.match(env, /^HOSTNAME=[0-9a-f]{12}$/m);
    assert.match(env, /^HOME=\/root$/m);
  });

  test('a missing command exits 127, a non-executable one 126', () => {
    const r = berth(['run', '--rm', 'busybox', 'nosuchcmd']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /nosuchcmd/);
    assert.equal(berth(['run', '--rm', 'busybox', '/etc/passwd']).code, 126);
  });

  test('-d prints the ID; --rm removes the container when it exits on its own', async () => {
    const name = uniq('drm');
    const id = ok(['run', '-d', '--rm', '--name', name, 'busybox', 'true']).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const deadline = Date.now() + 10_000;
    while (berth(['inspect', name]).code === 0) {
      assert.ok(Date.now() < deadline, 'container not removed after exit');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test('-t gives the process a terminal; -it relays input and the window size', () => {
    const script = (cmd: string) =>
      execFileSync('script', ['-qec', `stty rows 33 cols 101; ${cmd}`, '/dev/null'], {
        env: ENV,
        encoding: 'utf8',
        input: '',
      });
    const out = script(`${BERTH} run -t --rm busybox sh -c 'tty; echo $TERM'`);
    assert.match(out, /\/dev\/pts\/\d+\r*\n/);
    assert.match(out, /xterm/);
    const sized = script(`${BERTH} run -it --rm busybox stty size`);
    assert.match(sized, /33 101/);
  });
});

describe('run: isolation and security defaults', () => {
  test("docker's default capabilities, seccomp filter and no_new_privs off", () => {
    const status = sh('cat /proc/self/status');
    assert.match(status, /^CapEff:\s+00000000a80425fb$/m);
    assert.match(status, /^Seccomp:\s+2$/m);
    assert.match(status, /^NoNewPrivs:\s+0$/m);
  });

  test('--cap-drop ALL, --cap-add, --privileged, no-new-privileges', () => {
    assert.match(sh('grep CapEff /proc/self/status', ['--cap-drop', 'ALL']), /0000000000000000/);
    assert.match(
      sh('grep CapEff /proc/self/status', ['--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN']),
      /0000000000001000/,
    );
    assert.match(sh('grep Seccomp: /proc/self/status', ['--privileged']), /Seccomp:\s+0/);
    assert.match(
      sh('grep NoNewPrivs /proc/self/status', ['--security-opt', 'no-new-privileges']),
      /NoNewPrivs:\s+1/,
    );
    assert.equal(berth(['run', '--rm', '--cap-add', 'BOGUS', 'busybox', 'true']).code, 125);
  });

  test('masked and read-only /proc and /sys paths', () => {
    // Masked files read as empty (a /dev/null bind); the host's own are not empty.
    assert.equal(sh('wc -c < /proc/timer_list'), '0\n');
    assert.equal(sh('wc -c < /proc/keys'), '0\n');
    assert.match(sh('echo 1 > /proc/sys/kernel/domainname 2>&1 || echo denied'), /denied|Read-only/);
    assert.match(sh('touch /sys/x 2>&1 || echo denied'), /denied|Read-only/);
  });

  test('standard devices only', () => {
    const devs = sh('ls /dev').split('\n').filter(Boolean).sort();
    for (const d of ['full', 'null', 'ptmx', 'pts', 'random', 'shm', 'tty', 'urandom', 'zero'])
      assert.ok(devs.includes(d), d);
    assert.ok(!devs.includes('sda') && !devs.includes('vda') && !devs.includes('mem'));
  });

  test('own /etc/hosts, /etc/hostname and /etc/resolv.conf', () => {
    const out = sh(
      'cat /etc/hostname; grep localhost /etc/hosts | head -1; grep -c nameserver /etc/resolv.conf',
      ['-h', 'box1'],
    );
    assert.match(out, /^box1\n127\.0\.0\.1\tlocalhost\n[1-9]\d*\n$/);
  });

  test('--add-host adds /etc/hosts entries', () => {
    assert.match(
      sh('grep db /etc/hosts', ['--add-host', 'db:10.1.2.3', '--add-host', 'v6:fe80::1']),
      /^10\.1\.2\.3\tdb$/m,
    );
    assert.match(sh('grep v6 /etc/hosts', ['--add-host', 'v6:fe80::1']), /^fe80::1\tv6$/m);
    assert.equal(berth(['run', '--rm', '--add-host', 'nocolon', 'busybox', 'true']).code, 125);
  });

  test('--network none: only loopback', () => {
    assert.equal(sh("ls /sys/class/net | tr '\\n' ' '", ['--network', 'none']), 'lo ');
    assert.notEqual(sh("ls /sys/class/net | tr '\\n' ' '", ['--network', 'host']), 'lo ');
  });

  test('--read-only, --tmpfs, --shm-size', () => {
    assert.match(sh('touch /x 2>&1 || echo refused', ['--read-only']), /refused/);
    assert.equal(sh('touch /run/x && echo ok', ['--read-only', '--tmpfs', '/run']), 'ok\n');
    assert.match(
      sh('grep " /run " /proc/mounts', ['--tmpfs', '/run:size=1m']),
      /tmpfs \/run tmpfs .*size=1024k/,
    );
    assert.match(sh("df -k /dev/shm | tail -1 | awk '{print $2}'", ['--shm-size', '8m']), /^8192$/m);
  });

  test('--ulimit sets limits; none are raised by default', () => {
    assert.equal(sh('ulimit -n; ulimit -Hn', ['--ulimit', 'nofile=100:200']), '100\n200\n');
    const hostHard = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    assert.equal(sh('ulimit -Hn').trim(), hostHard);
  });

  test('--init runs the command under an init as pid 1', () => {
    const out = sh('cat /proc/1/cmdline | tr "\\0" " "; echo; echo $$', ['--init']);
    assert.match(out, /^\/sbin\/docker-init -- sh -c/);
    assert.doesNotMatch(out.split('\n')[1]!, /^1$/);
  });

  test('labels, stop signal and timeout are recorded', () => {
    const name = uniq('meta');
    ok([
      'create',
      '--name',
      name,
      '-l',
      'a=1',
      '--label',
      'b',
      '--stop-signal',
      'SIGUSR1',
      '--stop-timeout',
      '3',
      'busybox',
      'true',
    ]);
    try {
      const c = inspect<{
        Config: { Labels: Record<string, string>; StopSignal: string; StopTimeout: number };
      }>(name);
      assert.deepEqual(c.Config.Labels, { a: '1', b: '' });
      assert.equal(c.Config.StopSignal, 'SIGUSR1');
      assert.equal(c.Config.StopTimeout, 3);
    } finally {
      ok(['rm', name]);
    }
  });
});
