import type { CreateOptions } from '../container/create.ts';
import type { HealthConfig } from '../container/health-config.ts';
import type { EndpointRequest, HostConfig, PortBinding, RestartPolicy, Ulimit } from '../container/types.ts';
import type { PullPolicy } from '../engine/engine.ts';
import { parsePublish } from '../network/ports.ts';
import { InvalidArgumentError } from '../util/errors.ts';
import type { MountSpec } from '../volume/mount-spec.ts';
import type { Project, ServiceConfig } from './model.ts';

/** docker compose v2's container name: `<project>-<service>-<n>`, unless `container_name` is set. */
export function containerName(project: Project, s: ServiceConfig, n: number): string {
  return s.container_name ?? `${project.name}-${s.name}-${n}`;
}

/** The image a service runs: `image:`, or `<project>-<service>` for a build-only service. */
export function serviceImage(project: Project, s: ServiceConfig): string {
  return s.image ?? `${project.name}-${s.name}`;
}

/** Replicas wanted: `scale`, then `deploy.replicas`, else 1. */
export function replicas(s: ServiceConfig): number {
  return s.scale ?? s.deploy?.replicas ?? 1;
}

export function pullPolicy(s: ServiceConfig, override?: string): PullPolicy {
  const p = override ?? s.pull_policy ?? 'missing';
  if (p === 'always') return 'always';
  if (p === 'never' || p === 'build') return 'never';
  return 'missing';
}

function restartPolicy(s: ServiceConfig): RestartPolicy {
  const r = s.restart ?? 'no';
  const [name, count] = r.split(':');
  if (name === 'no' || name === 'always' || name === 'unless-stopped') return { name, maximumRetryCount: 0 };
  if (name === 'on-failure') return { name, maximumRetryCount: count ? Number(count) : 0 };
  throw new InvalidArgumentError(`service "${s.name}": invalid restart policy "${r}"`);
}

function mounts(project: Project, s: ServiceConfig): MountSpec[] {
  const out: MountSpec[] = [];
  for (const v of s.volumes) {
    if (v.type === 'bind') {
      out.push({
        type: 'bind',
        source: v.source ?? '',
        target: v.target,
        readonly: !!v.read_only,
        propagation: v.bind?.propagation,
        createHostDir: v.bind?.create_host_path ?? true,
      });
    } else if (v.type === 'volume') {
      const named = v.source ? (project.volumes[v.source]?.name ?? v.source) : '';
      out.push({
        type: 'volume',
        source: named,
        target: v.target,
        readonly: !!v.read_only,
        nocopy: v.volume?.nocopy,
        anonymous: !named,
      });
    } else if (v.type === 'tmpfs') {
      out.push({
        type: 'tmpfs',
        source: '',
        target: v.target,
        readonly: false,
        tmpfsSize: v.tmpfs?.size,
        tmpfsMode: v.tmpfs?.mode,
      });
    } else {
      throw new InvalidArgumentError(`service "${s.name}": volume type "${v.type}" is not supported`);
    }
  }
  // File-backed secrets and configs are read-only binds, as docker compose does without swarm.
  for (const ref of s.secrets ?? []) {
    const def = project.secrets[ref.source];
    if (!def?.file)
      throw new InvalidArgumentError(
        `service "${s.name}": secret "${ref.source}" needs a file source (only file secrets are supported)`,
      );
    const target = ref.target ?? ref.source;
    out.push({
      type: 'bind',
      source: def.file,
      target: target.startsWith('/') ? target : `/run/secrets/${target}`,
      readonly: true,
    });
  }
  for (const ref of s.configs ?? []) {
    const def = project.configs[ref.source];
    if (!def?.file)
      throw new InvalidArgumentError(
        `service "${s.name}": config "${ref.source}" needs a file source (only file configs are supported)`,
      );
    out.push({ type: 'bind', source: def.file, target: ref.target ?? `/${ref.source}`, readonly: true });
  }
  return out;
}

function ports(s: ServiceConfig): Record<string, PortBinding[]> {
  const out: Record<string, PortBinding[]> = {};
  for (const p of s.ports) {
    const ip = p.host_ip ? (p.host_ip.includes(':') ? `[${p.host_ip}]:` : `${p.host_ip}:`) : '';
    const spec = p.published
      ? `${ip}${p.published}:${p.target}/${p.protocol}`
      : `${ip ? `${ip}:` : ''}${p.target}/${p.protocol}`;
    for (const [key, b] of parsePublish(spec)) out[key] = [...(out[key] ?? []), b];
  }
  return out;
}

/** Networks to join, keyed by engine-side name, first the one with the highest priority. */
function networks(
  project: Project,
  s: ServiceConfig,
  n: number,
): { mode: string; nets?: Record<string, EndpointRequest> } {
  if (s.network_mode) {
    const m = s.network_mode;
    if (m.startsWith('service:'))
      return { mode: `container:${containerName(project, project.services[m.slice(8)] ?? s, 1)}` };
    return { mode: m };
  }
  const entries = Object.entries(s.networks ?? { default: null }).sort(
    ([, a], [, b]) => (b?.priority ?? 0) - (a?.priority ?? 0),
  );
  const nets: Record<string, EndpointRequest> = {};
  for (const [key, cfg] of entries) {
    const net = project.networks[key];
    if (!net) throw new InvalidArgumentError(`service "${s.name}" refers to undefined network ${key}`);
    // Other services find this one by its service name; docker compose adds it as an alias.
    const aliases = [s.name, ...(cfg?.aliases ?? [])];
    if (!s.container_name) aliases.push(containerName(project, s, n));
    nets[net.name] = { aliases: [...new Set(aliases)], ipv4Address: cfg?.ipv4_address ?? '' };
  }
  const first = Object.keys(nets)[0] ?? 'bridge';
  return { mode: first, nets };
}

function ulimits(s: ServiceConfig): Ulimit[] {
  return Object.entries(s.ulimits ?? {}).map(([name, u]) => ({ name, soft: u.soft, hard: u.hard }));
}

function tmpfs(s: ServiceConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of s.tmpfs ?? []) {
    const i = t.indexOf(':');
    out[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  return out;
}

function env(s: ServiceConfig): string[] {
  return Object.entries(s.environment)
    .filter((e): e is [string, string] => e[1] !== null)
    .map(([k, v]) => `${k}=${v}`);
}

export interface ContainerSpecInput {
  project: Project;
  service: ServiceConfig;
  number: number;
  labels: Record<string, string>;
  /** Overrides for `compose run`. */
  name?: string;
  command?: string[];
  entrypoint?: string[];
  extraEnv?: string[];
  autoRemove?: boolean;
  tty?: boolean;
  openStdin?: boolean;
  noPorts?: boolean;
}

/** Maps one service (one replica) to the engine's create options. */
export function createOptions(i: ContainerSpecInput): CreateOptions {
  const { project, service: s } = i;
  const limits = s.deploy?.resources?.limits;
  const net = networks(project, s, i.number);
  const host: Partial<HostConfig> = {
    mounts: mounts(project, s),
    autoRemove: !!i.autoRemove,
    readonlyRootfs: !!s.read_only,
    tmpfs: tmpfs(s),
    memory: s.mem_limit ?? limits?.memory ?? 0,
    memorySwap: s.memswap_limit ?? 0,
    nanoCpus: Math.round((s.cpus ?? limits?.cpus ?? 0) * 1e9),
    cpuShares: s.cpu_shares ?? 0,
    pidsLimit: s.pids_limit ?? limits?.pids ?? 0,
    restartPolicy: i.autoRemove ? { name: 'no', maximumRetryCount: 0 } : restartPolicy(s),
    capAdd: s.cap_add ?? [],
    capDrop: s.cap_drop ?? [],
    privileged: !!s.privileged,
    securityOpt: s.security_opt ?? [],
    ulimits: ulimits(s),
    init: !!s.init,
    networkMode: net.mode,
    oomScoreAdj: s.oom_score_adj ?? 0,
    extraHosts: s.extra_hosts ?? [],
    portBindings: i.noPorts ? {} : ports(s),
    dns: s.dns ?? [],
    dnsSearch: s.dns_search ?? [],
    dnsOptions: s.dns_opt ?? [],
  };
  if (net.nets) host.networks = net.nets;
  if (s.shm_size) host.shmSize = s.shm_size;
  const o: CreateOptions = {
    image: serviceImage(project, s),
    name: i.name ?? containerName(project, s, i.number),
    cmd: i.command ?? s.command ?? undefined,
    entrypoint: i.entrypoint ?? s.entrypoint ?? undefined,
    env: [...env(s), ...(i.extraEnv ?? [])],
    workingDir: s.working_dir,
    user: s.user,
    hostname: s.hostname,
    domainname: s.domainname,
    labels: i.labels,
    tty: i.tty ?? !!s.tty,
    openStdin: i.openStdin ?? !!s.stdin_open,
    stdinOnce: false,
    stopSignal: s.stop_signal,
    stopTimeout: s.stop_grace_period !== undefined ? Math.ceil(s.stop_grace_period / 1000) : undefined,
    exposedPorts: s.expose.flatMap((e) => {
      const [p = '', proto = 'tcp'] = e.split('/');
      return parsePublish(`${p}/${proto}`).map(([key]) => key);
    }),
    host,
  };
  if (s.volumes_from?.length) o.volumesFrom = s.volumes_from;
  return withHealthcheck(o, s);
}

/** The service healthcheck as docker's HealthConfig (nanoseconds); `disable` is `["NONE"]`. */
export function healthConfig(s: ServiceConfig): HealthConfig | undefined {
  const h = s.healthcheck;
  if (!h) return undefined;
  if (h.disable) return { Test: ['NONE'] };
  const ns = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 1e6));
  const out: HealthConfig = {};
  if (h.test) out.Test = h.test;
  if (h.interval !== undefined) out.Interval = ns(h.interval);
  if (h.timeout !== undefined) out.Timeout = ns(h.timeout);
  if (h.start_period !== undefined) out.StartPeriod = ns(h.start_period);
  if (h.start_interval !== undefined) out.StartInterval = ns(h.start_interval);
  if (h.retries !== undefined) out.Retries = h.retries;
  return out;
}

function withHealthcheck(o: CreateOptions, s: ServiceConfig): CreateOptions {
  const h = healthConfig(s);
  if (h) o.healthcheck = h;
  return o;
}
