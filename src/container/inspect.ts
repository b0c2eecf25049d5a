import { execFileSync } from 'node:child_process';
import type { StoreContext } from '../engine/context.ts';
import type { ContainerSummary } from '../engine/types.ts';
import { hostConfigNetworking, networkSettings, summaryNetworks, summaryPorts } from '../network/inspect.ts';
import { humanDuration } from '../util/units.ts';
import { modeString } from '../volume/mount-spec.ts';
import { healthJson, healthText } from './health-state.ts';
import { containerFiles } from './paths.ts';
import { rootfsDirs } from './rootfs.ts';
import { type ContainerRecord, ZERO_TIME } from './types.ts';

/** `ps`'s COMMAND, built as docker's daemon builds it: arguments holding a space are wrapped in single quotes. */
export function commandLine(c: ContainerRecord): string {
  const [path = '', ...args] = [...(c.config.entrypoint ?? []), ...(c.config.cmd ?? [])];
  return [path, ...args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ');
}

function sinceMs(iso: string): number {
  return Math.max(0, Date.now() - Date.parse(iso));
}

/** docker's human status: `Up 5 minutes`, `Exited (0) 2 hours ago`, `Created`, `Up 3 seconds (Paused)`. */
export function statusText(c: ContainerRecord): string {
  const s = c.state;
  switch (s.status) {
    case 'running':
      return `Up ${humanDuration(sinceMs(s.startedAt))}${s.health ? ` (${healthText(s.health)})` : ''}`;
    case 'paused':
      return `Up ${humanDuration(sinceMs(s.startedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${humanDuration(sinceMs(s.finishedAt))} ago`;
    case 'exited':
      return s.finishedAt === ZERO_TIME
        ? 'Created'
        : `Exited (${s.exitCode}) ${humanDuration(sinceMs(s.finishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return 'Created';
  }
}

/** Bytes written to the container's own layer (docker's SizeRw). */
export function sizeRw(ctx: StoreContext, id: string): number {
  try {
    const out = execFileSync('du', ['-sb', rootfsDirs(ctx, id).upper], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return Number(out.split('\t')[0]) || 0;
  } catch {
    return 0;
  }
}

/** The image as the user named it, or its short ID once that name points elsewhere (as docker shows it). */
function imageName(ctx: StoreContext, c: ContainerRecord): string {
  const byName = ctx.images.find(c.imageRef);
  if (byName?.id === c.imageId) return c.imageRef;
  return c.imageId.slice(7, 19);
}

/** docker's MountPoint list for inspect and ps. */
function mountsJson(ctx: StoreContext, c: ContainerRecord) {
  return (c.config.host.mounts ?? []).map((m) => ({
    Type: m.type,
    ...(m.type === 'volume' ? { Name: m.source, Driver: 'local' } : {}),
    Source: m.type === 'volume' ? ctx.volumes.dataDir(m.source) : m.source,
    Destination: m.target,
    Mode: modeString(m),
    RW: !m.readonly,
    Propagation: m.type === 'bind' ? (m.propagation ?? 'rprivate') : '',
  }));
}

export function summarize(ctx: StoreContext, c: ContainerRecord, withSize: boolean): ContainerSummary {
  const img = ctx.images.get(c.imageId);
  const out: ContainerSummary = {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: imageName(ctx, c),
    ImageID: c.imageId,
    Command: commandLine(c),
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: summaryPorts(ctx, c),
    Labels: c.config.labels,
    State: c.state.status,
    Status: statusText(c),
    HostConfig: { NetworkMode: hostConfigNetworking(c.config.host).NetworkMode as string },
    NetworkSettings: { Networks: summaryNetworks(ctx, c) },
    Mounts: mountsJson(ctx, c).map((m) => ({
      Type: m.Type,
      Name: m.Name,
      Source: m.Source,
      Destination: m.Destination,
    })),
  };
  if (withSize) {
    out.SizeRw = sizeRw(ctx, c.id);
    out.SizeRootFs = out.SizeRw + (img?.size ?? 0);
  }
  return out;
}

/** `docker inspect` for a container: the moby ContainerJSON shape, filled from what Berth knows. */
export function inspectContainer(
  ctx: StoreContext,
  c: ContainerRecord,
  withSize: boolean,
): Record<string, unknown> {
  const cfg = c.config;
  const h = cfg.host;
  const f = containerFiles(ctx.paths, c.id);
  const dirs = rootfsDirs(ctx, c.id);
  const img = ctx.images.get(c.imageId);
  const args = [...(cfg.entrypoint ?? []), ...(cfg.cmd ?? [])];
  const s = c.state;
  const out: Record<string, unknown> = {
    Id: c.id,
    Created: c.created,
    Path: args[0] ?? '',
    Args: args.slice(1),
    State: {
      Status: s.status,
      Running: s.status === 'running' || s.status === 'paused',
      Paused: s.status === 'paused',
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.status === 'running' || s.status === 'paused' ? s.pid : 0,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt,
      FinishedAt: s.finishedAt,
      ...(s.health ? { Health: healthJson(s.health) } : {}),
    },
    Image: c.imageId,
    ResolvConfPath: `${f.bundle}/resolv.conf`,
    HostnamePath: `${f.bundle}/hostname`,
    HostsPath: `${f.bundle}/hosts`,
    LogPath: f.log,
    Name: `/${c.name}`,
    RestartCount: s.restartCount,
    Driver: 'overlay',
    Platform: img?.config.os ?? 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Binds: null,
      ContainerIDFile: '',
      LogConfig: {
        Type: 'k8s-file',
        Config: { 'max-size': String(h.log.maxSize), 'max-file': String(h.log.maxFile) },
      },
      ...hostConfigNetworking(h),
      RestartPolicy: { Name: h.restartPolicy.name, MaximumRetryCount: h.restartPolicy.maximumRetryCount },
      AutoRemove: h.autoRemove,
      CapAdd: h.capAdd.length ? h.capAdd : null,
      CapDrop: h.capDrop.length ? h.capDrop : null,
      Init: h.init,
      OomScoreAdj: h.oomScoreAdj,
      Privileged: h.privileged,
      ReadonlyRootfs: h.readonlyRootfs,
      SecurityOpt: h.securityOpt.length ? h.securityOpt : null,
      Tmpfs: Object.keys(h.tmpfs).length ? h.tmpfs : undefined,
      ShmSize: h.shmSize,
      Runtime: s.runtime,
      Memory: h.memory,
      MemorySwap: h.memorySwap,
      NanoCpus: h.nanoCpus,
      CpuShares: h.cpuShares,
      PidsLimit: h.pidsLimit || null,
      ExtraHosts: h.extraHosts?.length ? h.extraHosts : null,
      Ulimits: h.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
    },
    GraphDriver: {
      Name: 'overlay',
      Data: {
        LowerDir:
          img?.layers
            .map((l) => ctx.layers.dir(l.chainId))
            .reverse()
            .join(':') ?? '',
        UpperDir: dirs.upper,
        WorkDir: dirs.work,
        MergedDir: dirs.merged,
      },
    },
    Mounts: mountsJson(ctx, c),
    Config: {
      Hostname: cfg.hostname,
      Domainname: cfg.domainname,
      User: cfg.user,
      AttachStdin: cfg.openStdin,
      AttachStdout: true,
      AttachStderr: true,
      ExposedPorts: cfg.exposedPorts.length
        ? Object.fromEntries(cfg.exposedPorts.map((p) => [p, {}]))
        : undefined,
      Tty: cfg.tty,
      OpenStdin: cfg.openStdin,
      StdinOnce: cfg.stdinOnce,
      Env: cfg.env,
      Cmd: cfg.cmd,
      ...(cfg.healthcheck ? { Healthcheck: cfg.healthcheck } : {}),
      Image: cfg.image,
      Volumes: null,
      WorkingDir: cfg.workingDir,
      Entrypoint: cfg.entrypoint,
      OnBuild: null,
      Labels: cfg.labels,
      StopSignal: cfg.stopSignal,
      StopTimeout: cfg.stopTimeout,
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      ...networkSettings(ctx, c),
    },
  };
  if (withSize) {
    const rw = sizeRw(ctx, c.id);
    out.SizeRw = rw;
    out.SizeRootFs = rw + (img?.size ?? 0);
  }
  return out;
}

export function runningForText(c: ContainerRecord): string {
  return `${humanDuration(sinceMs(c.created))} ago`;
}
