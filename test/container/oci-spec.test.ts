import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ALL_CAPABILITIES,
  buildSpec,
  capabilitiesToBitmap,
  DEFAULT_CAPABILITIES,
  type HostFacts,
  type SpecInput,
  serializeSpec,
} from '../../src/container/oci-spec.ts';
import type { LinuxSeccomp, OciMount } from '../../src/container/oci-spec-types.ts';
import { defaultSeccomp } from '../../src/container/seccomp-default.ts';
import { BerthError, InvalidArgumentError } from '../../src/util/errors.ts';

const MiB = 1024 * 1024;

const FAKE_HOST: HostFacts = {
  availableCaps: ALL_CAPABILITIES,
  arch: 'x86_64',
  kernelRelease: '6.1.0-18-amd64',
  inUserNamespace: false,
  swapLimit: true,
  sysctls: new Set(['net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start']),
  thermalThrottlePaths: [],
};

function input(over: Partial<SpecInput> = {}): SpecInput {
  return {
    rootfs: '/var/lib/berth/overlay/abc/merged',
    readonlyRootfs: false,
    args: ['sh', '-c', 'true'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=abc123'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    terminal: false,
    hostname: 'abc123',
    etcFiles: {
      hosts: '/run/berth/c/hosts',
      hostname: '/run/berth/c/hostname',
      resolvConf: '/run/berth/c/resolv.conf',
    },
    tmpfs: [],
    binds: [],
    shmSize: 64 * MiB,
    capAdd: [],
    capDrop: [],
    privileged: false,
    noNewPrivileges: false,
    seccomp: 'default',
    ulimits: [],
    cgroupsPath: '/berth/abc123',
    network: { mode: 'private' },
    ipc: 'private',
    pid: 'private',
    uts: 'private',
    cgroupV2: false,
    host: FAKE_HOST,
    ...over,
  };
}

function mount(mounts: OciMount[], destination: string): OciMount {
  const m = mounts.find((x) => x.destination === destination);
  assert.ok(m, `no mount at ${destination}`);
  return m;
}

function allowedNames(s: LinuxSeccomp): Set<string> {
  return new Set(s.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
}

describe('buildSpec: docker defaults', () => {
  const spec = buildSpec(input());

  test('process: args, env, cwd, user, terminal as given; no rlimits, nnp or oom score unless asked', () => {
    assert.deepEqual(spec.process.args, ['sh', '-c', 'true']);
    assert.deepEqual(spec.process.env, input().env);
    assert.equal(spec.process.cwd, '/');
    assert.deepEqual(spec.process.user, { uid: 0, gid: 0 });
    assert.equal(spec.process.terminal, false);
    assert.equal(spec.process.rlimits, undefined);
    assert.equal(spec.process.noNewPrivileges, undefined);
    assert.equal(spec.process.oomScoreAdj, undefined);
    assert.deepEqual(spec.root, { path: '/var/lib/berth/overlay/abc/merged', readonly: false });
    assert.equal(spec.hostname, 'abc123');
    assert.equal(spec.linux.cgroupsPath, '/berth/abc123');
  });

  test('capabilities: the docker default set in bounding/effective/permitted only', () => {
    const caps = spec.process.capabilities;
    assert.deepEqual(caps.bounding, [...DEFAULT_CAPABILITIES]);
    assert.deepEqual(caps.effective, [...DEFAULT_CAPABILITIES]);
    assert.deepEqual(caps.permitted, [...DEFAULT_CAPABILITIES]);
    assert.equal(caps.inheritable, undefined);
    assert.equal(caps.ambient, undefined);
    assert.equal(capabilitiesToBitmap(caps.effective ?? []), '00000000a80425fb');
  });

  test('mounts: proc, dev, devpts, sysfs ro, cgroup ro, mqueue, shm sized, then the etc files', () => {
    assert.deepEqual(
      spec.mounts.map((m) => m.destination),
      [
        '/proc',
        '/dev',
        '/dev/pts',
        '/sys',
        '/sys/fs/cgroup',
        '/dev/mqueue',
        '/dev/shm',
        '/etc/resolv.conf',
        '/etc/hostname',
        '/etc/hosts',
      ],
    );
    assert.deepEqual(mount(spec.mounts, '/dev').options, [
      'nosuid',
      'strictatime',
      'mode=755',
      'size=65536k',
    ]);
    assert.deepEqual(mount(spec.mounts, '/dev/pts').options, [
      'nosuid',
      'noexec',
      'newinstance',
      'ptmxmode=0666',
      'mode=0620',
      'gid=5',
    ]);
    assert.ok(mount(spec.mounts, '/sys').options?.includes('ro'));
    assert.equal(mount(spec.mounts, '/sys/fs/cgroup').type, 'cgroup');
    assert.ok(mount(spec.mounts, '/sys/fs/cgroup').options?.includes('ro'));
    assert.deepEqual(mount(spec.mounts, '/dev/shm'), {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${64 * MiB}`],
    });
    assert.deepEqual(mount(spec.mounts, '/etc/hosts'), {
      destination: '/etc/hosts',
      type: 'bind',
      source: '/run/berth/c/hosts',
      options: ['rbind', 'rprivate'],
    });
  });

  test('masked and read-only paths', () => {
    for (const p of [
      '/proc/asound',
      '/proc/acpi',
      '/proc/kcore',
      '/proc/keys',
      '/proc/latency_stats',
      '/proc/timer_list',
      '/proc/timer_stats',
      '/proc/sched_debug',
      '/proc/scsi',
      '/sys/firmware',
      '/sys/devices/virtual/powercap',
    ]) {
      assert.ok(spec.linux.maskedPaths?.includes(p), p);
    }
    assert.deepEqual(spec.linux.readonlyPaths, [
      '/proc/bus',
      '/proc/fs',
      '/proc/irq',
      '/proc/sys',
      '/proc/sysrq-trigger',
    ]);
  });

  test('namespaces: mount, network, uts, pid, ipc; cgroup only on cgroup v2', () => {
    assert.deepEqual(
      spec.linux.namespaces.map((n) => n.type),
      ['mount', 'network', 'uts', 'pid', 'ipc'],
    );
    const v2 = buildSpec(input({ cgroupV2: true }));
    assert.ok(v2.linux.namespaces.some((n) => n.type === 'cgroup'));
  });

  test('devices cgroup: deny all, then the default allow list; fuse denied; no device nodes listed', () => {
    const rules = spec.linux.resources.devices;
    assert.deepEqual(rules[0], { allow: false, access: 'rwm' });
    const has = (type: string, major: number | undefined, minor: number | undefined, access: string) =>
      rules.some(
        (r) => r.allow && r.type === type && r.major === major && r.minor === minor && r.access === access,
      );
    assert.ok(has('c', undefined, undefined, 'm'));
    assert.ok(has('b', undefined, undefined, 'm'));
    for (const [maj, min] of [
      [1, 3],
      [1, 5],
      [1, 7],
      [1, 8],
      [1, 9],
      [5, 0],
      [5, 1],
      [5, 2],
      [10, 200],
    ] as const) {
      assert.ok(has('c', maj, min, 'rwm'), `c ${maj}:${min}`);
    }
    assert.ok(has('c', 136, undefined, 'rwm'));
    const fuse = rules.findIndex((r) => !r.allow && r.type === 'c' && r.major === 10 && r.minor === 229);
    const mknodAll = rules.findIndex((r) => r.allow && r.type === 'c' && r.major === undefined);
    assert.ok(fuse > 0 && fuse < mknodAll, 'fuse denied before the c *:* m wildcard');
    assert.deepEqual(spec.linux.devices, []);
  });

  test('seccomp: docker default profile for x86_64', () => {
    const s = spec.linux.seccomp;
    assert.ok(s);
    assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.defaultErrnoRet, 1);
    assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.ok(allowedNames(s).has('read'));
  });

  test('default sysctls for a private network namespace; user sysctls win', () => {
    assert.deepEqual(spec.linux.sysctl, {
      'net.ipv4.ping_group_range': '0 2147483647',
      'net.ipv4.ip_unprivileged_port_start': '0',
    });
    const s = buildSpec(
      input({ sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1024', 'kernel.shmmax': '1' } }),
    );
    assert.equal(s.linux.sysctl?.['net.ipv4.ip_unprivileged_port_start'], '1024');
    assert.equal(s.linux.sysctl?.['kernel.shmmax'], '1');
  });
});

describe('buildSpec: capabilities', () => {
  const caps = (over: Partial<SpecInput>) => buildSpec(input(over)).process.capabilities;

  test('cap-add and cap-drop normalise case and the CAP_ prefix', () => {
    const c = caps({ capAdd: ['net_admin', 'CAP_SYS_PTRACE'], capDrop: ['mknod', 'CAP_CHOWN'] });
    assert.ok(c.effective?.includes('CAP_NET_ADMIN'));
    assert.ok(c.bounding?.includes('CAP_SYS_PTRACE'));
    assert.ok(!c.effective?.includes('CAP_MKNOD'));
    assert.ok(!c.permitted?.includes('CAP_CHOWN'));
    assert.equal(c.effective?.length, DEFAULT_CAPABILITIES.length);
  });

  test('cap-drop ALL leaves only cap-add; cap-add ALL gives everything minus cap-drop', () => {
    assert.deepEqual(caps({ capDrop: ['ALL'] }).effective, []);
    assert.deepEqual(caps({ capDrop: ['all'], capAdd: ['NET_BIND_SERVICE'] }).effective, [
      'CAP_NET_BIND_SERVICE',
    ]);
    const all = caps({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] }).effective ?? [];
    assert.equal(all.length, ALL_CAPABILITIES.length - 1);
    assert.ok(!all.includes('CAP_SYS_ADMIN'));
  });

  test('unknown capability is an error naming it', () => {
    assert.throws(
      () => buildSpec(input({ capAdd: ['FOO'] })),
      (e: unknown) => e instanceof InvalidArgumentError && e.message === 'unknown capability: "CAP_FOO"',
    );
    assert.throws(() => buildSpec(input({ capDrop: ['cap_bogus'] })), BerthError);
  });

  test('a capability the engine lacks cannot be added', () => {
    const host = { ...FAKE_HOST, availableCaps: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE') };
    assert.throws(
      () => buildSpec(input({ host, capAdd: ['SYS_RESOURCE'] })),
      /not available.*CAP_SYS_RESOURCE/,
    );
    const all = buildSpec(input({ host, capAdd: ['ALL'] })).process.capabilities.effective ?? [];
    assert.ok(!all.includes('CAP_SYS_RESOURCE'));
  });
});

describe('buildSpec: privileged', () => {
  const host = { ...FAKE_HOST, availableCaps: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE') };
  const spec = buildSpec(input({ privileged: true, host, capDrop: ['ALL'] }));

  test('every available capability, no seccomp, no masked or read-only paths', () => {
    assert.deepEqual(spec.process.capabilities.effective, host.availableCaps);
    assert.equal(spec.linux.seccomp, undefined);
    assert.equal(spec.linux.maskedPaths, undefined);
    assert.equal(spec.linux.readonlyPaths, undefined);
  });

  test('/sys and the cgroup mount are writable; every device allowed', () => {
    assert.ok(!mount(spec.mounts, '/sys').options?.includes('ro'));
    assert.ok(!mount(spec.mounts, '/sys/fs/cgroup').options?.includes('ro'));
    assert.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  });
});

describe('buildSpec: resources', () => {
  test('memory alone gets swap = 2×memory (memory+swap total)', () => {
    const s = buildSpec(input({ memory: 64 * MiB }));
    assert.deepEqual(s.linux.resources.memory, { limit: 64 * MiB, swap: 128 * MiB });
  });

  test('explicit, unlimited and unsupported swap', () => {
    assert.deepEqual(buildSpec(input({ memory: 64 * MiB, memorySwap: 96 * MiB })).linux.resources.memory, {
      limit: 64 * MiB,
      swap: 96 * MiB,
    });
    assert.deepEqual(buildSpec(input({ memory: 64 * MiB, memorySwap: -1 })).linux.resources.memory, {
      limit: 64 * MiB,
    });
    const noSwap = buildSpec(input({ memory: 64 * MiB, host: { ...FAKE_HOST, swapLimit: false } }));
    assert.deepEqual(noSwap.linux.resources.memory, { limit: 64 * MiB });
    assert.equal(buildSpec(input()).linux.resources.memory, undefined);
  });

  test('docker memory validation', () => {
    assert.throws(() => buildSpec(input({ memorySwap: 64 * MiB })), /Memoryswap/);
    assert.throws(() => buildSpec(input({ memory: 64 * MiB, memorySwap: 32 * MiB })), /larger than memory/);
    assert.throws(() => buildSpec(input({ memory: 1024 })), /6MB/);
  });

  test('cpu shares/quota/period and pids limit', () => {
    const s = buildSpec(input({ cpuShares: 512, cpuQuota: 150000, cpuPeriod: 100000, pidsLimit: 100 }));
    assert.deepEqual(s.linux.resources.cpu, { shares: 512, quota: 150000, period: 100000 });
    assert.deepEqual(s.linux.resources.pids, { limit: 100 });
    assert.deepEqual(buildSpec(input({ pidsLimit: 0 })).linux.resources.pids, { limit: -1 });
    assert.equal(buildSpec(input()).linux.resources.pids, undefined);
    assert.equal(buildSpec(input()).linux.resources.cpu, undefined);
    assert.throws(() => buildSpec(input({ cpuShares: -1 })), /CPU shares/);
  });

  test('ulimits become RLIMIT_ rlimits; -1 is written as RLIM_INFINITY', () => {
    const s = buildSpec(
      input({
        ulimits: [
          { name: 'nofile', soft: 1024, hard: 2048 },
          { name: 'core', soft: -1, hard: -1 },
        ],
      }),
    );
    assert.deepEqual(s.process.rlimits, [
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 },
      { type: 'RLIMIT_CORE', soft: -1, hard: -1 },
    ]);
    assert.match(
      serializeSpec(s),
      /"type": "RLIMIT_CORE",\s+"soft": 18446744073709551615,\s+"hard": 18446744073709551615/,
    );
    assert.throws(
      () => buildSpec(input({ ulimits: [{ name: 'bogus', soft: 1, hard: 1 }] })),
      /invalid ulimit type/,
    );
    assert.throws(() => buildSpec(input({ ulimits: [{ name: 'nofile', soft: 2, hard: 1 }] })), /soft limit/);
  });

  test('oom score, no-new-privileges, annotations, additional gids', () => {
    const s = buildSpec(
      input({
        oomScoreAdj: 500,
        noNewPrivileges: true,
        annotations: { 'org.example': 'x' },
        user: { uid: 1000, gid: 1000, additionalGids: [10, 20] },
      }),
    );
    assert.equal(s.process.oomScoreAdj, 500);
    assert.equal(s.process.noNewPrivileges, true);
    assert.deepEqual(s.annotations, { 'org.example': 'x' });
    assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [10, 20] });
  });

  test('--device adds the node and a cgroup rule', () => {
    const s = buildSpec(
      input({ devices: [{ pathOnHost: '/dev/null', pathInContainer: '/dev/mynull', permissions: 'rw' }] }),
    );
    assert.deepEqual(
      s.linux.devices.map((d) => [d.path, d.type, d.major, d.minor]),
      [['/dev/mynull', 'c', 1, 3]],
    );
    assert.deepEqual(s.linux.resources.devices.at(-1), {
      allow: true,
      type: 'c',
      major: 1,
      minor: 3,
      access: 'rw',
    });
    assert.throws(
      () =>
        buildSpec(
          input({ devices: [{ pathOnHost: '/etc/hostname', pathInContainer: '/x', permissions: 'rwm' }] }),
        ),
      /not a device node/,
    );
  });
});

describe('buildSpec: seccomp rules follow capabilities', () => {
  const rulesFor = (name: string, s: LinuxSeccomp) => s.syscalls.filter((r) => r.names.includes(name));

  test('without CAP_SYS_ADMIN: no mount/unshare/setns, clone without namespace flags, clone3 ENOSYS', () => {
    const s = defaultSeccomp(DEFAULT_CAPABILITIES, 'x86_64', '6.1.0');
    const allowed = allowedNames(s);
    for (const n of [
      'mount',
      'umount2',
      'unshare',
      'setns',
      'clone',
      'clone3',
      'bpf',
      'reboot',
      'init_module',
    ]) {
      assert.ok(!allowed.has(n), n);
    }
    assert.deepEqual(rulesFor('clone', s), [
      {
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }],
      },
    ]);
    assert.deepEqual(rulesFor('clone3', s), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    assert.ok(allowed.has('chroot'), 'CAP_SYS_CHROOT is a default capability');
  });

  test('with CAP_SYS_ADMIN: mount, umount2, unshare, setns, clone and clone3 allowed outright', () => {
    const s = defaultSeccomp([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], 'x86_64', '6.1.0');
    const allowed = allowedNames(s);
    for (const n of ['mount', 'umount2', 'unshare', 'setns', 'clone', 'clone3', 'sethostname']) {
      assert.ok(allowed.has(n), n);
    }
    assert.ok(!s.syscalls.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO'));
    assert.ok(!s.syscalls.some((r) => r.names.includes('clone') && r.args));
  });

  test('other capability-gated groups', () => {
    const none = allowedNames(defaultSeccomp([], 'x86_64', '6.1.0'));
    const gated: [string, string][] = [
      ['CAP_SYS_PTRACE', 'kcmp'],
      ['CAP_SYS_MODULE', 'finit_module'],
      ['CAP_SYS_BOOT', 'reboot'],
      ['CAP_SYS_TIME', 'settimeofday'],
      ['CAP_SYSLOG', 'syslog'],
      ['CAP_SYS_NICE', 'mbind'],
      ['CAP_SYS_RAWIO', 'iopl'],
      ['CAP_SYS_PACCT', 'acct'],
      ['CAP_SYS_CHROOT', 'chroot'],
      ['CAP_BPF', 'bpf'],
      ['CAP_PERFMON', 'perf_event_open'],
      ['CAP_DAC_READ_SEARCH', 'open_by_handle_at'],
      ['CAP_SYS_TTY_CONFIG', 'vhangup'],
    ];
    for (const [cap, call] of gated) {
      assert.ok(!none.has(call), `${call} without ${cap}`);
      assert.ok(allowedNames(defaultSeccomp([cap], 'x86_64', '6.1.0')).has(call), `${call} with ${cap}`);
    }
    // ptrace needs CAP_SYS_PTRACE only before 4.8, as docker.
    assert.ok(none.has('ptrace'));
    assert.ok(!allowedNames(defaultSeccomp([], 'x86_64', '4.4.0')).has('ptrace'));
  });

  test('personality only with docker’s argument values', () => {
    const s = defaultSeccomp(DEFAULT_CAPABILITIES, 'x86_64', '6.1.0');
    const values = rulesFor('personality', s).map((r) => r.args?.[0]?.value);
    assert.deepEqual(values, [0, 8, 131072, 131080, 4294967295]);
  });

  test('architectures and arch-specific rules', () => {
    const x86 = defaultSeccomp([], 'x64', '6.1.0');
    assert.ok(allowedNames(x86).has('arch_prctl'));
    assert.ok(allowedNames(x86).has('modify_ldt'));
    const arm = defaultSeccomp([], 'aarch64', '6.1.0');
    assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.ok(!allowedNames(arm).has('arch_prctl'));
    assert.ok(allowedNames(arm).has('cacheflush'));
  });

  test('buildSpec gates on the resolved capabilities; unconfined has none', () => {
    const s = buildSpec(input({ capAdd: ['SYS_ADMIN'] })).linux.seccomp;
    assert.ok(s && allowedNames(s).has('mount'));
    assert.equal(buildSpec(input({ seccomp: 'unconfined' })).linux.seccomp, undefined);
  });
});

describe('buildSpec: mounts and namespaces', () => {
  test('--init runs the command under /sbin/docker-init, bind-mounted read-only', () => {
    const s = buildSpec(input({ init: { hostPath: '/usr/bin/tini-static' } }));
    assert.deepEqual(s.process.args, ['/sbin/docker-init', '--', 'sh', '-c', 'true']);
    assert.deepEqual(mount(s.mounts, '/sbin/docker-init'), {
      destination: '/sbin/docker-init',
      type: 'bind',
      source: '/usr/bin/tini-static',
      options: ['bind', 'ro'],
    });
    const hostPid = buildSpec(input({ init: { hostPath: '/usr/bin/tini-static' }, pid: 'host' }));
    assert.deepEqual(hostPid.process.args, ['sh', '-c', 'true']);
    assert.ok(!hostPid.linux.namespaces.some((n) => n.type === 'pid'));
  });

  test('read-only rootfs: root ro, etc files ro, /dev, /dev/shm, /dev/mqueue, /proc stay writable', () => {
    const s = buildSpec(input({ readonlyRootfs: true }));
    assert.equal(s.root.readonly, true);
    for (const d of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) {
      assert.ok(mount(s.mounts, d).options?.includes('ro'), d);
    }
    for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue']) {
      assert.ok(!mount(s.mounts, d).options?.includes('ro'), d);
    }
  });

  test('host network has no network namespace nor network sysctls; a path is joined', () => {
    const host = buildSpec(input({ network: { mode: 'host' } }));
    assert.ok(!host.linux.namespaces.some((n) => n.type === 'network'));
    assert.equal(host.linux.sysctl, undefined);
    const joined = buildSpec(input({ network: { mode: 'path', path: '/run/netns/x' } }));
    assert.deepEqual(
      joined.linux.namespaces.find((n) => n.type === 'network'),
      { type: 'network', path: '/run/netns/x' },
    );
    const other = buildSpec(
      input({ network: { mode: 'path', path: '/proc/1/ns/net', joinsContainer: true } }),
    );
    assert.equal(other.linux.sysctl, undefined);
  });

  test('host ipc binds the host /dev/shm; host uts has no hostname', () => {
    const s = buildSpec(input({ ipc: 'host', uts: 'host' }));
    assert.ok(!s.linux.namespaces.some((n) => n.type === 'ipc' || n.type === 'uts'));
    const shm = s.mounts.filter((m) => m.destination === '/dev/shm');
    assert.deepEqual(shm, [
      { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'] },
    ]);
    assert.equal(s.hostname, undefined);
  });

  test('tmpfs options merge over docker defaults; user mounts replace defaults and sort parents first', () => {
    const s = buildSpec(
      input({
        tmpfs: [
          { target: '/run', options: ['rw', 'exec', 'size=64m'] },
          { target: '/dev/shm', options: ['size=1m'] },
        ],
        binds: [
          { source: '/srv/a/b', target: '/data/b', options: ['rbind', 'rprivate', 'ro'] },
          { source: '/srv/a', target: '/data', options: ['rbind', 'rprivate', 'rw'] },
        ],
      }),
    );
    assert.deepEqual(mount(s.mounts, '/run').options, [
      'nosuid',
      'nodev',
      'rprivate',
      'rw',
      'exec',
      'size=64m',
    ]);
    const shm = s.mounts.filter((m) => m.destination === '/dev/shm');
    assert.equal(shm.length, 1);
    assert.equal(shm[0]?.source, 'tmpfs');
    const order = s.mounts.map((m) => m.destination);
    assert.ok(order.indexOf('/data') < order.indexOf('/data/b'));
    assert.throws(
      () => buildSpec(input({ tmpfs: [{ target: '/x', options: ['bogus=1'] }] })),
      /invalid tmpfs option/,
    );
  });

  test('a user bind on /etc/hosts replaces the engine’s', () => {
    const s = buildSpec(
      input({ binds: [{ source: '/my/hosts', target: '/etc/hosts', options: ['rbind', 'ro'] }] }),
    );
    const hosts = s.mounts.filter((m) => m.destination === '/etc/hosts');
    assert.deepEqual(
      hosts.map((m) => m.source),
      ['/my/hosts'],
    );
  });

  test('command and working directory are checked', () => {
    assert.throws(() => buildSpec(input({ args: [] })), /no command/);
    assert.throws(() => buildSpec(input({ cwd: 'rel' })), /absolute path/);
  });
});

// Integration: the generated config.json run by the real runtime.
const RUNC = '/usr/sbin/runc';
const CGROUP_PARENT = 'berth-oci-spec-test';
const APPLETS = [
  'sh',
  'cat',
  'id',
  'grep',
  'hostname',
  'echo',
  'wc',
  'touch',
  'unshare',
  'true',
  'ls',
  'sleep',
];

describe('runc runs the generated spec', () => {
  let work: string;
  let rootfs: string;
  let stateDir: string;
  const hostEffective = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'berth-oci-spec-'));
    rootfs = join(work, 'rootfs');
    stateDir = join(work, 'runc-state');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    for (const d of ['etc', 'proc', 'sys', 'dev', 'tmp', 'sbin']) mkdirSync(join(rootfs, d));
    copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
    mkdirSync(stateDir);
  });

  after(() => {
    rmSync(work, { recursive: true, force: true });
    for (const ctrl of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(join('/sys/fs/cgroup', ctrl, CGROUP_PARENT));
      } catch {}
    }
    try {
      rmdirSync(join('/sys/fs/cgroup', CGROUP_PARENT));
    } catch {}
  });

  function run(
    over: Partial<SpecInput>,
    script: string,
  ): { status: number | null; out: string; err: string } {
    const id = 'berth-spec-' + randomBytes(6).toString('hex');
    const bundle = join(work, id);
    const etc = join(bundle, 'etc');
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'hosts'), '127.0.0.1\tlocalhost\n');
    writeFileSync(join(etc, 'hostname'), 'spec-test\n');
    writeFileSync(join(etc, 'resolv.conf'), 'nameserver 127.0.0.53\n');
    const spec = buildSpec({
      ...input(),
      host: undefined,
      rootfs,
      args: ['/bin/sh', '-c', script],
      env: ['PATH=/bin:/sbin', 'HOSTNAME=spec-test'],
      hostname: 'spec-test',
      etcFiles: {
        hosts: join(etc, 'hosts'),
        hostname: join(etc, 'hostname'),
        resolvConf: join(etc, 'resolv.conf'),
      },
      cgroupsPath: `/${CGROUP_PARENT}/${id}`,
      cgroupV2: existsSync('/sys/fs/cgroup/cgroup.controllers'),
      ...over,
    });
    writeFileSync(join(bundle, 'config.json'), serializeSpec(spec));
    try {
      const r = spawnSync(RUNC, ['--root', stateDir, 'run', '--bundle', bundle, id], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 60_000,
      });
      return { status: r.status, out: r.stdout, err: r.stderr };
    } finally {
      spawnSync(RUNC, ['--root', stateDir, 'delete', '-f', id], { stdio: 'ignore' });
    }
  }

  function field(out: string, name: string): string | undefined {
    return new RegExp(`^${name}:?\\s*(.*)$`, 'm').exec(out)?.[1]?.trim();
  }

  const PROBE = [
    "grep -E '^(CapEff|CapBnd|CapPrm|CapInh|Seccomp|NoNewPrivs):' /proc/self/status",
    'echo hostname=$(hostname)',
    'echo etc_hostname=$(cat /etc/hostname)',
    '( echo x > /proc/sys/kernel/hostname ) 2>/dev/null && echo procsys=writable || echo procsys=readonly',
    'echo kcore=$(cat /proc/kcore 2>/dev/null | wc -c)',
    "echo shm=$(grep ' /dev/shm ' /proc/mounts)",
    'unshare -U true 2>/dev/null; echo unshare=$?',
    'echo uid=$(id -u)',
  ].join('\n');

  test('default spec: docker capabilities, seccomp filter, read-only /proc/sys, masked kcore, sized shm, hostname', () => {
    const r = run({ shmSize: 32 * MiB }, PROBE);
    assert.equal(r.status, 0, r.err);
    assert.equal(field(r.out, 'CapEff'), '00000000a80425fb');
    assert.equal(field(r.out, 'CapBnd'), '00000000a80425fb');
    assert.equal(field(r.out, 'CapInh'), '0000000000000000');
    assert.equal(field(r.out, 'Seccomp'), '2');
    assert.equal(field(r.out, 'NoNewPrivs'), '0');
    assert.equal(field(r.out, 'hostname='), 'spec-test');
    assert.equal(field(r.out, 'etc_hostname='), 'spec-test');
    assert.equal(field(r.out, 'procsys='), 'readonly');
    assert.equal(field(r.out, 'kcore='), '0');
    assert.match(field(r.out, 'shm=') ?? '', /tmpfs .*size=32768k/);
    assert.match(field(r.out, 'shm=') ?? '', /nosuid,nodev,noexec/);
    // unshare(CLONE_NEWUSER) needs no capability: only the seccomp profile refuses it.
    assert.equal(field(r.out, 'unshare='), '1');
    assert.equal(field(r.out, 'uid='), '0');
  });

  test('seccomp follows the capabilities: CAP_SYS_ADMIN allows unshare; unconfined has no filter', () => {
    const admin = run({ capAdd: ['SYS_ADMIN'] }, PROBE);
    assert.equal(admin.status, 0, admin.err);
    assert.equal(field(admin.out, 'Seccomp'), '2');
    assert.equal(field(admin.out, 'unshare='), '0');
    const unconfined = run({ seccomp: 'unconfined' }, PROBE);
    assert.equal(unconfined.status, 0, unconfined.err);
    assert.equal(field(unconfined.out, 'Seccomp'), '0');
    assert.equal(field(unconfined.out, 'unshare='), '0');
  });

  test('no-new-privileges and cap-drop ALL', () => {
    const r = run({ noNewPrivileges: true, capDrop: ['ALL'] }, PROBE);
    assert.equal(r.status, 0, r.err);
    assert.equal(field(r.out, 'NoNewPrivs'), '1');
    assert.equal(field(r.out, 'CapEff'), '0000000000000000');
    assert.equal(field(r.out, 'CapBnd'), '0000000000000000');
  });

  test('limits: memory, swap, pids and nofile reach the cgroup and the process', () => {
    const v1 = !existsSync('/sys/fs/cgroup/cgroup.controllers');
    const script = v1
      ? [
          'echo mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)',
          'echo memsw=$(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null)',
          'echo pids=$(cat /sys/fs/cgroup/pids/pids.max)',
          'echo nofile=$(ulimit -n)/$(ulimit -Hn)',
        ].join('\n')
      : [
          'echo mem=$(cat /sys/fs/cgroup/memory.max)',
          'echo pids=$(cat /sys/fs/cgroup/pids.max)',
          'echo nofile=$(ulimit -n)/$(ulimit -Hn)',
        ].join('\n');
    const r = run(
      { memory: 64 * MiB, pidsLimit: 64, ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }] },
      script,
    );
    assert.equal(r.status, 0, r.err);
    assert.equal(field(r.out, 'mem='), String(64 * MiB));
    if (v1 && existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes')) {
      assert.equal(field(r.out, 'memsw='), String(128 * MiB));
    }
    assert.equal(field(r.out, 'pids='), '64');
    assert.equal(field(r.out, 'nofile='), '1024/2048');
  });

  test('read-only rootfs: / and /etc/hosts refuse writes, /dev/shm accepts them', () => {
    const script = [
      'touch /newfile 2>/dev/null && echo root=rw || echo root=ro',
      '( echo x >> /etc/hosts ) 2>/dev/null && echo hosts=rw || echo hosts=ro',
      'touch /dev/shm/f && echo shm=rw || echo shm=ro',
    ].join('\n');
    const r = run({ readonlyRootfs: true }, script);
    assert.equal(r.status, 0, r.err);
    assert.equal(field(r.out, 'root='), 'ro');
    assert.equal(field(r.out, 'hosts='), 'ro');
    assert.equal(field(r.out, 'shm='), 'rw');
    const rw = run({}, script);
    assert.equal(field(rw.out, 'root='), 'rw');
    assert.equal(field(rw.out, 'hosts='), 'rw');
  });

  test('--init runs tini as pid 1', () => {
    const r = run(
      { init: { hostPath: '/usr/bin/tini-static' } },
      'echo pid1=$(cat /proc/1/comm); echo me=$$',
    );
    assert.equal(r.status, 0, r.err);
    assert.equal(field(r.out, 'pid1='), 'docker-init');
    assert.notEqual(field(r.out, 'me='), '1');
  });

  test('privileged: the engine’s capabilities, no seccomp, writable /proc/sys and /sys', () => {
    const r = run(
      { privileged: true },
      PROBE + "\ngrep ' /sys ' /proc/mounts | grep -q ' rw,' && echo sys=rw || echo sys=ro",
    );
    assert.equal(r.status, 0, r.err);
    assert.equal(field(r.out, 'CapEff'), hostEffective);
    assert.equal(field(r.out, 'Seccomp'), '0');
    assert.equal(field(r.out, 'procsys='), 'writable');
    assert.equal(field(r.out, 'sys='), 'rw');
  });
});
