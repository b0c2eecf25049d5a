import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { join, posix, relative } from 'node:path';
import { InvalidArgumentError } from '../util/errors.ts';
import {
  OCI_VERSION,
  type OciCpu,
  type OciDevice,
  type OciDeviceCgroupRule,
  type OciMemory,
  type OciMount,
  type OciNamespace,
  type OciRlimit,
  type OciSpec,
} from './oci-spec-types.ts';
import { defaultSeccomp } from './seccomp-default.ts';

/**
 * Builds a container's OCI runtime config with docker's security defaults (moby `oci/defaults.go`,
 * `daemon/oci_linux.go`): the same capabilities, mounts, masked and read-only /proc paths, devices-cgroup
 * rules, namespaces, seccomp profile and default sysctls, and docker's handling of --privileged,
 * --read-only, --cap-add/--cap-drop, --memory/--memory-swap, --pids-limit, --ulimit and --init.
 */

export interface SpecInput {
  /** Absolute path of the mounted rootfs (overlay merged dir). */
  rootfs: string;
  readonlyRootfs: boolean;
  /** Entrypoint + cmd, already resolved. */
  args: string[];
  /** Final environment, including PATH/HOSTNAME (and TERM with a tty). */
  env: string[];
  /** Absolute; '/' by default. */
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  terminal: boolean;
  /** The caller's terminal size, applied when the runtime creates the pty. */
  consoleSize?: { rows: number; cols: number };
  hostname: string;
  domainname?: string;
  /** Host paths, bind-mounted at /etc/hosts, /etc/hostname, /etc/resolv.conf (read-only with a read-only rootfs, as docker). */
  etcFiles: { hosts: string; hostname: string; resolvConf: string };
  /** --tmpfs: docker's noexec,nosuid,nodev,rprivate defaults are merged under `options`. */
  tmpfs: { target: string; options: string[] }[];
  /** Bind mounts with their final options, e.g. ['rbind', 'rprivate', 'ro']. */
  binds: { source: string; target: string; options: string[] }[];
  /** Size of /dev/shm in bytes (docker: 64 MiB). */
  shmSize: number;
  /** Bytes. */
  memory?: number;
  /** Memory+swap in bytes; -1 is unlimited; unset with `memory` set means 2×memory, as docker. */
  memorySwap?: number;
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  /** ≤0 means unlimited. */
  pidsLimit?: number;
  /** Docker forms: 'NET_ADMIN', 'CAP_NET_ADMIN', 'ALL' (any case). */
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  noNewPrivileges: boolean;
  seccomp: 'default' | 'unconfined';
  /** --ulimit; name like 'nofile'; -1 is unlimited. Nothing else is set: the engine's own limits are inherited. */
  ulimits: { name: string; soft: number; hard: number }[];
  /** e.g. '/berth/<id>' with the cgroupfs driver. */
  cgroupsPath: string;
  /**
   * private: a new network namespace (loopback only); host: the host's; path: join that namespace.
   * `joinsContainer` marks a namespace owned by another container (docker's --network container:x),
   * whose sysctls docker leaves alone.
   */
  network: { mode: 'private' } | { mode: 'host' } | { mode: 'path'; path: string; joinsContainer?: boolean };
  ipc: 'private' | 'host';
  pid: 'private' | 'host';
  uts: 'private' | 'host';
  /** Docker gives containers a private cgroup namespace on cgroup v2 only. */
  cgroupV2: boolean;
  oomScoreAdj?: number;
  /** --init: bind-mount this static init read-only at /sbin/docker-init and run the command under it. */
  init?: { hostPath: string };
  annotations?: Record<string, string>;
  sysctls?: Record<string, string>;
  /** --device; permissions are the cgroup access letters ('rwm'). */
  devices?: { pathOnHost: string; pathInContainer: string; permissions: string }[];
  /** Overrides of what is detected on this host; for tests and for building specs for another host. */
  host?: Partial<HostFacts>;
}

/** What the spec depends on about the machine the container runs on. */
export interface HostFacts {
  /** Capabilities the engine holds (docker: its effective set); `--privileged` and `ALL` give these. */
  availableCaps: readonly string[];
  /** uname -m or Node's process.arch. */
  arch: string;
  kernelRelease: string;
  /** The engine itself runs in a user namespace (docker then skips net.ipv4.ping_group_range). */
  inUserNamespace: boolean;
  /** The memory cgroup can limit swap (cgroup v1 memsw; cgroup v2 memory.swap.max). */
  swapLimit: boolean;
  /** Sysctls (dotted names) that exist on this kernel; docker sets its default ones only if they exist. */
  sysctls: ReadonlySet<string>;
  /** /sys/devices/system/cpu/cpuN/thermal_throttle dirs present on the host; docker masks them. */
  thermalThrottlePaths: readonly string[];
}

/** Every capability Linux knows, index = capability number (up to CAP_CHECKPOINT_RESTORE, Linux 5.9). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default capability set, in moby's order. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/**
 * moby's devices-cgroup list followed by the rules runc always appends (its "allowed devices"), written
 * out so that every runtime enforces the same set: mknod of anything, the standard character devices,
 * ptys, ptmx, /dev/net/tun — and no access to /dev/fuse. The order matters on cgroup v1: the fuse deny
 * must come before the `c *:* m` wildcard, which runc cannot punch a hole in.
 */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceCgroupRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // /dev/console
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' }, // /dev/fuse
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
];

const INIT_PATH = '/sbin/docker-init';

const RLIMITS: Readonly<Record<string, string>> = {
  as: 'RLIMIT_AS',
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
};

const MIN_MEMORY = 6 * 1024 * 1024;

/** Capability names set in a /proc/<pid>/status bitmap such as `00000000a80425fb`. */
export function capabilitiesFromBitmap(hex: string): string[] {
  const bits = BigInt('0x' + hex.trim());
  return ALL_CAPABILITIES.filter((_, i) => (bits >> BigInt(i)) & 1n);
}

/** The bitmap /proc/<pid>/status shows for a set of capability names. */
export function capabilitiesToBitmap(caps: readonly string[]): string {
  let bits = 0n;
  for (const c of caps) {
    const i = ALL_CAPABILITIES.indexOf(c);
    if (i >= 0) bits |= 1n << BigInt(i);
  }
  return bits.toString(16).padStart(16, '0');
}

let detected: HostFacts | undefined;

/** Facts about this host, read once. */
export function detectHostFacts(): HostFacts {
  if (detected) return detected;
  let availableCaps: readonly string[] = ALL_CAPABILITIES;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    // As docker: without a readable effective set, assume everything and let the runtime refuse.
    if (m) availableCaps = capabilitiesFromBitmap(m[1]!);
  } catch {}
  let inUserNamespace = false;
  try {
    const map = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    inUserNamespace = !(map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {}
  const sysctls = new Set<string>();
  for (const name of ['net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start']) {
    if (existsSync(join('/proc/sys', name.replaceAll('.', '/')))) sysctls.add(name);
  }
  const thermalThrottlePaths: string[] = [];
  try {
    for (const e of readdirSync('/sys/devices/system/cpu')) {
      if (!/^cpu\d+$/.test(e)) continue;
      const p = `/sys/devices/system/cpu/${e}/thermal_throttle`;
      if (existsSync(p)) thermalThrottlePaths.push(p);
    }
  } catch {}
  thermalThrottlePaths.sort((a, b) => cpuNumber(a) - cpuNumber(b));
  const swapLimit = existsSync('/sys/fs/cgroup/cgroup.controllers')
    ? readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/).includes('memory')
    : existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
  detected = {
    availableCaps,
    arch: process.arch,
    kernelRelease: release(),
    inUserNamespace,
    swapLimit,
    sysctls,
    thermalThrottlePaths,
  };
  return detected;
}

function cpuNumber(p: string): number {
  return Number(/cpu(\d+)\//.exec(p)?.[1] ?? 0);
}

function normalizeCapabilities(caps: readonly string[], available: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of caps) {
    let c = raw.toUpperCase();
    if (c === 'ALL') {
      out.push(c);
      continue;
    }
    if (!c.startsWith('CAP_')) c = 'CAP_' + c;
    if (!ALL_CAPABILITIES.includes(c)) throw new InvalidArgumentError(`unknown capability: "${c}"`);
    if (!available.includes(c)) {
      throw new InvalidArgumentError(
        `capability not supported by your kernel or not available in the current environment: "${c}"`,
      );
    }
    out.push(c);
  }
  return out;
}

/**
 * The container's capability set from docker's rules: --privileged gets every capability the engine
 * holds; `--cap-add ALL` gets those minus --cap-drop; `--cap-drop ALL` leaves only --cap-add; otherwise
 * the defaults minus --cap-drop plus --cap-add. Names may lack `CAP_` and be in any case.
 */
export function resolveCapabilities(
  capAdd: readonly string[],
  capDrop: readonly string[],
  privileged: boolean,
  available: readonly string[] = detectHostFacts().availableCaps,
): string[] {
  if (privileged) return [...available];
  if (capAdd.length === 0 && capDrop.length === 0) return [...DEFAULT_CAPABILITIES];
  const drop = normalizeCapabilities(capDrop, available);
  const add = normalizeCapabilities(capAdd, available);
  let caps: string[];
  if (add.includes('ALL')) caps = available.filter((c) => !drop.includes(c));
  else if (drop.includes('ALL')) caps = add;
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add];
  return [...new Set(caps)];
}

const MOUNT_FLAGS: Readonly<Record<string, string>> = {
  ro: 'rdonly',
  rw: 'rdonly',
  suid: 'nosuid',
  nosuid: 'nosuid',
  dev: 'nodev',
  nodev: 'nodev',
  exec: 'noexec',
  noexec: 'noexec',
  sync: 'sync',
  async: 'sync',
  dirsync: 'dirsync',
  remount: 'remount',
  mand: 'mand',
  nomand: 'mand',
  atime: 'noatime',
  noatime: 'noatime',
  diratime: 'nodiratime',
  nodiratime: 'nodiratime',
  relatime: 'relatime',
  norelatime: 'relatime',
  strictatime: 'strictatime',
  nostrictatime: 'strictatime',
  // Only one propagation mode can hold.
  bind: 'propagation',
  rbind: 'propagation',
  unbindable: 'propagation',
  runbindable: 'propagation',
  private: 'propagation',
  rprivate: 'propagation',
  shared: 'propagation',
  rshared: 'propagation',
  slave: 'propagation',
  rslave: 'propagation',
};

const TMPFS_DATA = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol']);

/** Docker's tmpfs option merge: later options win over earlier ones that set the same flag or key. */
export function mergeTmpfsOptions(options: readonly string[]): string[] {
  const seenFlags = new Set<string>();
  const seenData = new Set<string>();
  const out: string[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const o = options[i]!;
    if (o === 'defaults') continue;
    const flag = MOUNT_FLAGS[o];
    if (flag !== undefined) {
      if (!seenFlags.has(flag)) {
        out.unshift(o);
        seenFlags.add(flag);
      }
      continue;
    }
    const eq = o.indexOf('=');
    const key = eq < 0 ? o : o.slice(0, eq);
    if (eq < 0 || !TMPFS_DATA.has(key)) {
      throw new InvalidArgumentError(
        `invalid tmpfs option "${key}": use size=, mode=, uid=, gid=, nr_inodes=, nr_blocks=, mpol= or a mount flag`,
      );
    }
    if (!seenData.has(key)) {
      out.unshift(o);
      seenData.add(key);
    }
  }
  return out;
}

function mountDepth(target: string): number {
  return posix.normalize(target).split('/').length - 1;
}

function defaultMounts(shmSize: number): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['ro', 'nosuid', 'noexec', 'nodev'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
  ];
}

/** Mounts the user (or the engine on the user's behalf) asked for; they replace defaults at the same place. */
function userMounts(input: SpecInput): OciMount[] {
  const mounts: OciMount[] = [];
  for (const b of input.binds) {
    mounts.push({ destination: b.target, type: 'bind', source: b.source, options: [...b.options] });
  }
  for (const t of input.tmpfs) {
    mounts.push({
      destination: t.target,
      type: 'tmpfs',
      source: 'tmpfs',
      options: mergeTmpfsOptions(['noexec', 'nosuid', 'nodev', 'rprivate', ...t.options]),
    });
  }
  if (input.ipc === 'host') {
    mounts.push({
      destination: '/dev/shm',
      type: 'bind',
      source: '/dev/shm',
      options: ['rbind', 'rprivate'],
    });
  }
  const etcOptions = input.readonlyRootfs ? ['rbind', 'ro', 'rprivate'] : ['rbind', 'rprivate'];
  const etc: [string, string][] = [
    ['/etc/resolv.conf', input.etcFiles.resolvConf],
    ['/etc/hostname', input.etcFiles.hostname],
    ['/etc/hosts', input.etcFiles.hosts],
  ];
  for (const [destination, source] of etc) {
    if (mounts.some((m) => posix.normalize(m.destination) === destination)) continue;
    mounts.push({ destination, type: 'bind', source, options: [...etcOptions] });
  }
  // Parents before children, so that a mount is never hidden by one on a parent directory.
  return mounts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => mountDepth(a.m.destination) - mountDepth(b.m.destination) || a.i - b.i)
    .map(({ m }) => m);
}

function buildMounts(input: SpecInput): OciMount[] {
  const user = userMounts(input);
  const userTargets = new Set(user.map((m) => posix.normalize(m.destination)));
  const ownDev = userTargets.has('/dev');
  const mounts = defaultMounts(input.shmSize).filter(
    (m) => !userTargets.has(m.destination) && !(ownDev && m.destination.startsWith('/dev/')),
  );
  if (input.init && input.pid === 'private') {
    mounts.push({
      destination: INIT_PATH,
      type: 'bind',
      source: input.init.hostPath,
      options: ['bind', 'ro'],
    });
  }
  if (input.readonlyRootfs) {
    // Docker leaves the kernel filesystems a process needs to write to writable.
    const writable = new Set(['/proc', '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev']);
    for (const m of mounts) {
      if (!writable.has(m.destination) && !m.options?.includes('ro'))
        m.options = [...(m.options ?? []), 'ro'];
    }
  }
  if (input.privileged) {
    for (const m of mounts) {
      if (m.destination === '/sys' || m.type === 'cgroup') m.options = m.options?.filter((o) => o !== 'ro');
    }
  }
  return [...mounts, ...user];
}

function buildNamespaces(input: SpecInput): OciNamespace[] {
  const ns: OciNamespace[] = [{ type: 'mount' }];
  if (input.network.mode === 'private') ns.push({ type: 'network' });
  else if (input.network.mode === 'path') ns.push({ type: 'network', path: input.network.path });
  if (input.uts === 'private') ns.push({ type: 'uts' });
  if (input.pid === 'private') ns.push({ type: 'pid' });
  if (input.ipc === 'private') ns.push({ type: 'ipc' });
  if (input.cgroupV2) ns.push({ type: 'cgroup' });
  return ns;
}

function buildMemory(input: SpecInput, swapLimit: boolean): OciMemory | undefined {
  const memory = input.memory ?? 0;
  let swap = input.memorySwap ?? 0;
  if (memory > 0 && memory < MIN_MEMORY) {
    throw new InvalidArgumentError('Minimum memory limit allowed is 6MB');
  }
  if (memory === 0 && swap > 0) {
    throw new InvalidArgumentError(
      'You should always set the Memory limit when using Memoryswap limit, see usage',
    );
  }
  if (memory > 0 && swap > 0 && swap < memory) {
    throw new InvalidArgumentError('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (memory > 0 && swap === 0) swap = memory * 2;
  const out: OciMemory = {};
  if (memory > 0) out.limit = memory;
  // Docker writes no swap limit for -1 (a new cgroup's is unlimited) nor where the kernel cannot limit swap.
  if (swap > 0 && swapLimit) out.swap = swap;
  return out.limit === undefined && out.swap === undefined ? undefined : out;
}

function buildCpu(input: SpecInput): OciCpu | undefined {
  const out: OciCpu = {};
  if (input.cpuShares !== undefined && input.cpuShares !== 0) {
    if (input.cpuShares < 0) {
      throw new InvalidArgumentError(
        `invalid CPU shares (${input.cpuShares}): value must be a positive integer`,
      );
    }
    out.shares = input.cpuShares;
  }
  if (input.cpuPeriod !== undefined && input.cpuPeriod !== 0) {
    if (input.cpuPeriod < 1000 || input.cpuPeriod > 1000000) {
      throw new InvalidArgumentError(
        'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
      );
    }
    out.period = input.cpuPeriod;
  }
  if (input.cpuQuota !== undefined && input.cpuQuota !== 0) {
    if (input.cpuQuota > 0 && input.cpuQuota < 1000) {
      throw new InvalidArgumentError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
    }
    out.quota = input.cpuQuota;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function buildRlimits(ulimits: SpecInput['ulimits']): OciRlimit[] {
  return ulimits.map((u) => {
    const type = RLIMITS[u.name.toLowerCase()];
    if (!type) {
      throw new InvalidArgumentError(
        `invalid ulimit type: ${u.name} (one of ${Object.keys(RLIMITS).join(', ')})`,
      );
    }
    const unlimited = (v: number) => v === -1;
    if (!unlimited(u.hard) && (unlimited(u.soft) || u.soft > u.hard)) {
      throw new InvalidArgumentError(
        `ulimit soft limit must be less than or equal to hard limit: ${u.soft} > ${u.hard}`,
      );
    }
    return { type, soft: u.soft, hard: u.hard };
  });
}

function deviceNode(hostPath: string, containerPath: string): OciDevice | undefined {
  const st = statSync(hostPath, { bigint: true });
  let type: 'c' | 'b';
  if (st.isCharacterDevice()) type = 'c';
  else if (st.isBlockDevice()) type = 'b';
  else return undefined;
  // glibc's major()/minor() split of dev_t.
  const rdev = st.rdev;
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return {
    path: containerPath,
    type,
    major: Number(major),
    minor: Number(minor),
    fileMode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

/** --device: the node (or, for a directory, every node under it) and its cgroup rule. */
function devicesFromPath(
  pathOnHost: string,
  pathInContainer: string,
  permissions: string,
): { devices: OciDevice[]; rules: OciDeviceCgroupRule[] } {
  if (!/^[rwm]{1,3}$/.test(permissions)) {
    throw new InvalidArgumentError(
      `invalid device permissions "${permissions}" for ${pathOnHost}: use a combination of r, w and m`,
    );
  }
  let isDir: boolean;
  try {
    isDir = statSync(pathOnHost).isDirectory();
  } catch {
    throw new InvalidArgumentError(
      `error gathering device information while adding custom device "${pathOnHost}": no such file or directory`,
    );
  }
  const found: OciDevice[] = [];
  if (isDir) {
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else {
          const d = deviceNode(p, posix.join(pathInContainer, relative(pathOnHost, p)));
          if (d) found.push(d);
        }
      }
    };
    walk(pathOnHost);
  } else {
    const d = deviceNode(pathOnHost, pathInContainer);
    if (!d) {
      throw new InvalidArgumentError(
        `error gathering device information while adding custom device "${pathOnHost}": not a device node`,
      );
    }
    found.push(d);
  }
  return {
    devices: found,
    rules: found.map((d) => ({
      allow: true,
      type: d.type === 'b' ? 'b' : 'c',
      major: d.major,
      minor: d.minor,
      access: permissions,
    })),
  };
}

function defaultSysctls(input: SpecInput, host: HostFacts): Record<string, string> {
  const out: Record<string, string> = {};
  const ownNetns =
    input.network.mode === 'private' || (input.network.mode === 'path' && !input.network.joinsContainer);
  if (!ownNetns) return out;
  // Ping without CAP_NET_RAW and binding low ports without CAP_NET_BIND_SERVICE, as docker grants.
  if (!host.inUserNamespace && host.sysctls.has('net.ipv4.ping_group_range')) {
    out['net.ipv4.ping_group_range'] = '0 2147483647';
  }
  if (host.sysctls.has('net.ipv4.ip_unprivileged_port_start')) {
    out['net.ipv4.ip_unprivileged_port_start'] = '0';
  }
  return out;
}

/** The OCI runtime config (config.json) for a container, with docker's defaults. */
export function buildSpec(input: SpecInput): OciSpec {
  const host: HostFacts = { ...detectHostFacts(), ...input.host };
  if (input.args.length === 0) {
    throw new InvalidArgumentError(
      'no command specified: give one after the image name, or set CMD in the image',
    );
  }
  if (!posix.isAbsolute(input.cwd)) {
    throw new InvalidArgumentError(
      `the working directory '${input.cwd}' is invalid, it needs to be an absolute path`,
    );
  }

  const caps = resolveCapabilities(input.capAdd, input.capDrop, input.privileged, host.availableCaps);
  const usesInit = input.init !== undefined && input.pid === 'private';
  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: input.terminal,
      ...(input.terminal && input.consoleSize
        ? { consoleSize: { height: input.consoleSize.rows, width: input.consoleSize.cols } }
        : {}),
      user: { uid: input.user.uid, gid: input.user.gid },
      args: usesInit ? [INIT_PATH, '--', ...input.args] : [...input.args],
      env: [...input.env],
      cwd: input.cwd,
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    mounts: buildMounts(input),
    linux: {
      namespaces: buildNamespaces(input),
      resources: {
        devices: input.privileged
          ? [{ allow: true, access: 'rwm' }]
          : DEFAULT_DEVICE_RULES.map((r) => ({ ...r })),
      },
      cgroupsPath: input.cgroupsPath,
      devices: [],
    },
  };
  if (input.user.additionalGids.length > 0) spec.process.user.additionalGids = [...input.user.additionalGids];
  if (input.ulimits.length > 0) spec.process.rlimits = buildRlimits(input.ulimits);
  if (input.noNewPrivileges) spec.process.noNewPrivileges = true;
  if (input.oomScoreAdj !== undefined) spec.process.oomScoreAdj = input.oomScoreAdj;

  if (input.uts === 'private') {
    if (input.hostname) spec.hostname = input.hostname;
    if (input.domainname) spec.domainname = input.domainname;
  }

  const linux = spec.linux;
  const memory = buildMemory(input, host.swapLimit);
  if (memory) linux.resources.memory = memory;
  const cpu = buildCpu(input);
  if (cpu) linux.resources.cpu = cpu;
  if (input.pidsLimit !== undefined)
    linux.resources.pids = { limit: input.pidsLimit > 0 ? input.pidsLimit : -1 };

  for (const d of input.devices ?? []) {
    const found = devicesFromPath(d.pathOnHost, d.pathInContainer, input.privileged ? 'rwm' : d.permissions);
    linux.devices.push(...found.devices);
    // A privileged container's cgroup already allows every device.
    if (!input.privileged) linux.resources.devices.push(...found.rules);
  }

  const sysctl = { ...defaultSysctls(input, host), ...input.sysctls };
  if (Object.keys(sysctl).length > 0) linux.sysctl = sysctl;

  if (!input.privileged) {
    linux.maskedPaths = [...DEFAULT_MASKED_PATHS, ...host.thermalThrottlePaths];
    linux.readonlyPaths = [...DEFAULT_READONLY_PATHS];
    if (input.seccomp === 'default') linux.seccomp = defaultSeccomp(caps, host.arch, host.kernelRelease);
  }

  if (input.annotations && Object.keys(input.annotations).length > 0)
    spec.annotations = { ...input.annotations };
  return spec;
}

const RLIM_INFINITY_MARK = '__berth_rlim_infinity__';

/**
 * config.json text for a spec. Use this rather than JSON.stringify: an rlimit of -1 must be written as
 * RLIM_INFINITY (2^64-1), which a JS number cannot hold exactly.
 */
export function serializeSpec(spec: OciSpec): string {
  const text = JSON.stringify(
    spec,
    (key: string, value: unknown) =>
      (key === 'soft' || key === 'hard') && value === -1 ? RLIM_INFINITY_MARK : value,
    2,
  );
  return text.replaceAll(`"${RLIM_INFINITY_MARK}"`, '18446744073709551615');
}
