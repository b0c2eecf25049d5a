import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  berth,
  berthAsync,
  containerNames,
  ensureBusybox,
  inspect,
  ok,
  strayMounts,
  TEST_ROOT,
  TEST_RUNROOT,
  uniq,
} from '../helpers.ts';

const name = containerNames();
before(() => ensureBusybox());
after(() => name.removeAll());

/** Reads a cgroup v1 file of a running container. */
function cgroupFile(id: string, controller: string, file: string): string {
  return readFileSync(join('/sys/fs/cgroup', controller, 'berth', id, file), 'utf8').trim();
}

/** Containers carrying `label`: tests label what they run, so parallel test files cannot disturb the count. */
function labelled(label: string): string[] {
  return ok(['ps', '-a', '-q', '--filter', `label=${label}`])
    .split('\n')
    .filter(Boolean);
}

describe('errors: one clear line, docker exit codes, nothing left behind', () => {
  const cases: [string, string[], number, RegExp][] = [
    [
      'unknown image',
      ['run', '--rm', '--pull', 'never', 'nosuchimage-xyz', 'true'],
      125,
      /No such image: nosuchimage-xyz/,
    ],
    ['bad flag', ['run', '--bogus', 'busybox'], 125, /unknown flag: --bogus/],
    ['bad memory size', ['run', '--rm', '--memory', 'lots', 'busybox', 'true'], 125, /invalid size: 'lots'/],
    ['memory too small', ['run', '--rm', '--memory', '1k', 'busybox', 'true'], 125, /Minimum memory limit/],
    ['bad int', ['run', '--rm', '--stop-timeout', 'soon', 'busybox', 'true'], 125, /invalid argument "soon"/],
    ['bad duration', ['logs', '--since', '1x', 'whatever'], 1, /./],
    ['bad name', ['run', '--rm', '--name', 'no/slash', 'busybox', 'true'], 125, /Invalid container name/],
    ['bad reference', ['run', '--rm', 'UPPER', 'true'], 125, /invalid reference format/],
    ['unknown container', ['logs', 'nosuchcontainer'], 1, /No such container: nosuchcontainer/],
    ['unknown container (start)', ['start', 'nosuchcontainer'], 1, /No such container: nosuchcontainer/],
    ['unknown command', ['frobnicate'], 125, /'frobnicate' is not a berth command/],
  ];
  for (const [what, args, code, msg] of cases) {
    test(what, () => {
      const label = `berth.test=${uniq('err')}`;
      const r = berth(args[0] === 'run' ? ['run', '-l', label, ...args.slice(1)] : args);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, msg);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.deepEqual(labelled(label), []);
    });
  }

  test('name conflict', () => {
    const n = name('conflict');
    ok(['create', '--name', n, 'busybox', 'true']);
    const r = berth(['run', '--name', n, 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /name "\/.*" is already in use by container/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  test('failed starts leave no mount, runtime state, cgroup or row', () => {
    const label = `berth.test=${uniq('failed')}`;
    assert.equal(berth(['run', '--rm', '-l', label, 'busybox', 'nosuchcmd']).code, 127);
    assert.equal(berth(['run', '--rm', '-l', label, '-u', 'ghost', 'busybox', 'true']).code, 126);
    assert.deepEqual(strayMounts(), []);
    assert.deepEqual(labelled(label), []);
    const ids = new Set(ok(['ps', '-a', '-q', '--no-trunc']).split('\n').filter(Boolean));
    const strays = (dir: string) =>
      existsSync(dir) ? readdirSync(dir).filter((d) => /^[0-9a-f]{64}$/.test(d) && !ids.has(d)) : [];
    assert.deepEqual(strays(join(TEST_RUNROOT, 'runtime')), []);
    assert.deepEqual(strays(join(TEST_ROOT, 'containers')), []);
    // Other test files run containers at the same time: only rows that no container owns count.
    assert.deepEqual(
      strays('/sys/fs/cgroup/memory/berth').filter((d) => !existsSync(join(TEST_ROOT, 'containers', d))),
      [],
    );
  });

  test('run --rm leaves no overlay mount behind', () => {
    for (let i = 0; i < 3; i++) ok(['run', '--rm', 'busybox', 'true']);
    assert.deepEqual(strayMounts(), []);
  });

  test('20 concurrent run --rm all succeed', async () => {
    const runs = Array.from({ length: 20 }, (_, i) =>
      berthAsync(['run', '--rm', 'busybox', 'echo', String(i)]),
    );
    const results = await Promise.all(runs);
    results.forEach((r, i) => {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${i}\n`);
    });
  });
});

describe('limits are enforced', () => {
  test('a process over --memory is OOM-killed and inspect says so', () => {
    const n = name('oom');
    const r = berth([
      'run',
      '--name',
      n,
      '--memory',
      '32m',
      'busybox',
      'sh',
      '-c',
      'x=a; while :; do x=$x$x; done',
    ]);
    assert.equal(r.code, 137);
    const s = inspect<{ State: { OOMKilled: boolean; ExitCode: number } }>(n).State;
    assert.equal(s.OOMKilled, true);
    assert.equal(s.ExitCode, 137);
  });

  test('--memory and --memory-swap reach the cgroup', () => {
    const n = name('mem');
    const id = ok([
      'run',
      '-d',
      '--name',
      n,
      '--memory',
      '64m',
      '--memory-swap',
      '128m',
      'busybox',
      'sleep',
      '60',
    ]).trim();
    assert.equal(cgroupFile(id, 'memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
    assert.equal(inspect<{ HostConfig: { Memory: number } }>(n).HostConfig.Memory, 64 * 1024 * 1024);
  });

  test('--pids-limit stops a fork bomb', () => {
    const r = berth([
      'run',
      '--rm',
      '--pids-limit',
      '8',
      'busybox',
      'sh',
      '-c',
      'for i in $(seq 20); do sleep 2 & done 2>&1; wait; echo done',
    ]);
    assert.match(r.stdout + r.stderr, /can't fork|Resource temporarily unavailable/);
  });

  test('--cpus throttles: quota set and the cgroup records throttling', async () => {
    const n = name('cpus');
    const id = ok([
      'run',
      '-d',
      '--name',
      n,
      '--cpus',
      '0.2',
      '--cpu-shares',
      '512',
      'busybox',
      'sh',
      '-c',
      'while :; do :; done',
    ]).trim();
    assert.equal(cgroupFile(id, 'cpu', 'cpu.cfs_quota_us'), '20000');
    assert.equal(cgroupFile(id, 'cpu', 'cpu.cfs_period_us'), '100000');
    assert.equal(cgroupFile(id, 'cpu', 'cpu.shares'), '512');
    const start = Date.now();
    let throttled = 0;
    while (Date.now() - start < 5000 && throttled === 0) {
      await new Promise((r) => setTimeout(r, 100));
      const stat = cgroupFile(id, 'cpu', 'cpu.stat');
      throttled = Number(/nr_throttled (\d+)/.exec(stat)?.[1] ?? 0);
    }
    assert.ok(throttled > 0, 'the busy loop was never throttled');
    // Usage stays near 0.2 CPU: well under one full CPU over a second.
    const u0 = Number(cgroupFile(id, 'cpuacct', 'cpuacct.usage'));
    await new Promise((r) => setTimeout(r, 1000));
    const u1 = Number(cgroupFile(id, 'cpuacct', 'cpuacct.usage'));
    assert.ok(u1 - u0 < 0.5e9, `used ${(u1 - u0) / 1e9} CPU-seconds in 1 s`);
  });
});
