import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, hostname, arch as osArch, release, totalmem } from 'node:os';
import { cgroupLayout, findBinary, selectRuntime } from '../container/runtime.ts';
import type { ContainerSummary, ImageSummary } from './types.ts';

/** Berth's version, as `docker version` and the `Server` header report it. */
export const BERTH_VERSION = '0.1.0';
/** The newest Engine API version served, and the oldest accepted. */
export const API_VERSION = '1.51';
export const MIN_API_VERSION = '1.24';

/** Go's GOARCH names, which docker reports. */
export function goArch(): string {
  const a = osArch();
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m?.[1]) return m[1];
  } catch {
    // fall through
  }
  return 'Linux';
}

function osVersion(): string {
  try {
    return /^VERSION_ID="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    return '';
  }
}

/** `GET /version`: the shape `docker version` prints, with Components for its server block. */
export function versionInfo(): Record<string, unknown> {
  const kernel = release();
  const details = { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: goArch() };
  let runtime: { name: string; version: string } | undefined;
  try {
    runtime = { name: selectRuntime().name, version: '' };
  } catch {
    runtime = undefined;
  }
  return {
    Platform: { Name: 'Berth' },
    Components: [
      {
        Name: 'Engine',
        Version: BERTH_VERSION,
        Details: {
          ...details,
          GitCommit: '',
          GoVersion: process.version,
          KernelVersion: kernel,
          Experimental: 'false',
          BuildTime: '',
        },
      },
      ...(runtime ? [{ Name: runtime.name, Version: runtime.version, Details: { GitCommit: '' } }] : []),
      ...(findBinary('conmon') ? [{ Name: 'conmon', Version: '', Details: { GitCommit: '' } }] : []),
    ],
    Version: BERTH_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: '',
    GoVersion: process.version,
    Os: 'linux',
    Arch: goArch(),
    KernelVersion: kernel,
    BuildTime: '',
  };
}

/** A stable daemon ID per store, derived from the machine and root path (docker keeps a key file). */
function daemonId(root: string): string {
  let machine = '';
  try {
    machine = readFileSync('/etc/machine-id', 'utf8').trim();
  } catch {
    machine = hostname();
  }
  const h = createHash('sha256').update(`${machine}:${root}`).digest('hex').toUpperCase();
  return Array.from({ length: 12 }, (_, i) => h.slice(i * 4, i * 4 + 4)).join(':');
}

export interface InfoCounts {
  containers: { State: string }[];
  images: number;
}

/** `GET /info`: what the docker CLI, docker-py and testcontainers read. */
export function systemInfo(root: string, counts: InfoCounts): Record<string, unknown> {
  const c = counts.containers;
  const runtimes: Record<string, { path: string }> = {};
  for (const name of ['runc', 'crun']) {
    const path = findBinary(name);
    if (path) runtimes[name] = { path };
  }
  let defaultRuntime = 'runc';
  try {
    defaultRuntime = selectRuntime().name;
  } catch {
    // no runtime installed: info still answers
  }
  const layout = cgroupLayout();
  return {
    ID: daemonId(root),
    Containers: c.length,
    ContainersRunning: c.filter((x) => x.State === 'running').length,
    ContainersPaused: c.filter((x) => x.State === 'paused').length,
    ContainersStopped: c.filter((x) => x.State !== 'running' && x.State !== 'paused').length,
    Images: counts.images,
    Driver: 'overlay2',
    DriverStatus: [
      ['Backing Filesystem', 'extfs'],
      ['Supports d_type', 'true'],
    ],
    Plugins: {
      Volume: ['local'],
      Network: ['bridge', 'host', 'none'],
      Authorization: null,
      Log: ['k8s-file', 'json-file', 'local'],
    },
    MemoryLimit: true,
    SwapLimit: layout !== 'v1' || existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'),
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    IPv4Forwarding: true,
    BridgeNfIptables: true,
    BridgeNfIp6tables: true,
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'k8s-file',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: layout === 'v2' ? '2' : '1',
    NEventsListener: 0,
    KernelVersion: release(),
    OperatingSystem: osName(),
    OSVersion: osVersion(),
    OSType: 'linux',
    Architecture: osArch() === 'x64' ? 'x86_64' : osArch() === 'arm64' ? 'aarch64' : osArch(),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: {
      AllowNondistributableArtifactsCIDRs: [],
      AllowNondistributableArtifactsHostnames: [],
      InsecureRegistryCIDRs: ['127.0.0.0/8'],
      IndexConfigs: {
        'docker.io': { Name: 'docker.io', Mirrors: [], Secure: true, Official: true },
      },
      Mirrors: [],
    },
    NCPU: cpus().length,
    MemTotal: totalmem(),
    GenericResources: null,
    DockerRootDir: root,
    HttpProxy: process.env.HTTP_PROXY ?? process.env.http_proxy ?? '',
    HttpsProxy: process.env.HTTPS_PROXY ?? process.env.https_proxy ?? '',
    NoProxy: process.env.NO_PROXY ?? process.env.no_proxy ?? '',
    Name: hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: BERTH_VERSION,
    Runtimes: runtimes,
    DefaultRuntime: defaultRuntime,
    Swarm: {
      NodeID: '',
      NodeAddr: '',
      LocalNodeState: 'inactive',
      ControlAvailable: false,
      Error: '',
      RemoteManagers: null,
    },
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: findBinary('tini-static') ? 'tini-static' : '',
    ContainerdCommit: { ID: '', Expected: '' },
    RuncCommit: { ID: '', Expected: '' },
    InitCommit: { ID: '', Expected: '' },
    SecurityOptions: ['name=seccomp,profile=builtin'],
    Warnings: null,
  };
}

/** `GET /system/df`. */
export interface DiskUsage {
  LayersSize: number;
  Images: ImageSummary[];
  Containers: ContainerSummary[];
  Volumes: {
    Name: string;
    Driver: string;
    Mountpoint: string;
    CreatedAt: string;
    Labels: Record<string, string>;
    Scope: 'local';
    Options: Record<string, string> | null;
    UsageData: { Size: number; RefCount: number };
  }[];
  BuildCache: unknown[];
}
