import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { berth, containerNames, ensureBusybox, inspect, ok } from '../helpers.ts';

interface Inspected {
  State: { Status: string };
  HostConfig: {
    Memory: number;
    MemorySwap: number;
    NanoCpus: number;
    CpuShares: number;
    PidsLimit: number | null;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
  };
}

const name = containerNames();
before(() => ensureBusybox());
after(() => name.removeAll());

/** cgroup v1 files as the container sees them (runc mounts its own cgroup at /sys/fs/cgroup/<controller>). */
const cgroup = (c: string, file: string) => ok(['exec', c, 'cat', `/sys/fs/cgroup/${file}`]).trim();
const host = (c: string) => inspect<Inspected>(c).HostConfig;

describe('berth update', () => {
  test('changes limits of a running container live, and they survive a restart', () => {
    const c = name('upd');
    ok(['run', '-d', '--name', c, 'busybox', 'sleep', '300']);
    assert.equal(cgroup(c, 'pids/pids.max'), 'max');
    assert.equal(ok(['update', '--memory', '64m', '--pids-limit', '50', '--cpus', '0.5', c]), `${c}\n`);
    assert.equal(cgroup(c, 'memory/memory.limit_in_bytes'), String(64 << 20));
    assert.equal(cgroup(c, 'pids/pids.max'), '50');
    assert.equal(cgroup(c, 'cpu/cpu.cfs_quota_us'), '50000');
    let h = host(c);
    assert.equal(h.Memory, 64 << 20);
    assert.equal(h.PidsLimit, 50);
    assert.equal(h.NanoCpus, 500_000_000);
    ok(['restart', '-t', '0', c]);
    assert.equal(inspect<Inspected>(c).State.Status, 'running');
    assert.equal(cgroup(c, 'memory/memory.limit_in_bytes'), String(64 << 20));
    assert.equal(cgroup(c, 'pids/pids.max'), '50');
    assert.equal(cgroup(c, 'cpu/cpu.cfs_quota_us'), '50000');
    // --cpu-quota/--cpu-period grant the same CPU share; -1 lifts the pids limit.
    ok([
      'update',
      '--cpu-period',
      '400000',
      '--cpu-quota',
      '100000',
      '--cpu-shares',
      '512',
      '--pids-limit',
      '-1',
      c,
    ]);
    assert.equal(cgroup(c, 'cpu/cpu.cfs_quota_us'), '25000');
    assert.equal(cgroup(c, 'cpu/cpu.shares'), '512');
    assert.equal(cgroup(c, 'pids/pids.max'), 'max');
    h = host(c);
    assert.equal(h.NanoCpus, 250_000_000);
    assert.equal(h.CpuShares, 512);
    assert.equal(h.PidsLimit, null);
    assert.equal(h.Memory, 64 << 20, 'a later update leaves the memory limit alone');
  });

  test('changes the restart policy, also of a created container, and applies limits at start', () => {
    const c = name('upd-created');
    ok(['create', '--name', c, 'busybox', 'sleep', '300']);
    ok(['update', '--restart', 'on-failure:2', '-m', '32m', c]);
    const h = host(c);
    assert.deepEqual(h.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
    assert.equal(h.Memory, 32 << 20);
    ok(['start', c]);
    assert.equal(cgroup(c, 'memory/memory.limit_in_bytes'), String(32 << 20));
    ok(['update', '--restart', 'no', c]);
    assert.equal(host(c).RestartPolicy.Name, 'no');
  });

  test('refuses what docker refuses, leaving the container as it was', () => {
    const rm = name('upd-rm');
    ok(['run', '-d', '--rm', '--name', rm, 'busybox', 'sleep', '300']);
    let r = berth(['update', '--restart', 'always', rm]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Restart policy cannot be updated because AutoRemove is enabled/);
    assert.equal(host(rm).RestartPolicy.Name, 'no');

    const c = name('upd-bad');
    ok(['run', '-d', '--name', c, '-m', '64m', 'busybox', 'sleep', '300']);
    r = berth(['update', '-m', '1m', c]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Minimum memory limit allowed is 6MB/);
    r = berth(['update', '--memory-swap', '32m', c]);
    assert.match(r.stderr, /Minimum memoryswap limit should be larger than memory limit/);
    r = berth(['update', '--cpus', '1', '--cpu-quota', '50000', c]);
    assert.match(r.stderr, /Conflicting options: Nano CPUs and CPU Quota cannot both be set/);
    assert.equal(host(c).Memory, 64 << 20);
    assert.equal(cgroup(c, 'memory/memory.limit_in_bytes'), String(64 << 20));

    r = berth(['update', c]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /you must provide one or more flags/);
    r = berth(['update', '-m', 'lots', c]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /invalid argument "lots" for "-m, --memory" flag/);
    r = berth(['update', '-m', '16m', 'no-such-container-xyz', c]);
    assert.equal(r.code, 1, 'one missing container fails the command');
    assert.match(r.stderr, /No such container: no-such-container-xyz/);
    assert.equal(r.stdout, `${c}\n`, 'the others are still updated');
    assert.equal(cgroup(c, 'memory/memory.limit_in_bytes'), String(16 << 20));
  });
});
