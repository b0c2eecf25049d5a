import type { CreateOptions } from '../container/create.ts';
import type { MountSpec } from '../volume/mount-spec.ts';

/**
 * CreateOptions (what the CLI's flags say) as docker's `POST /containers/create` body, written the
 * way docker's own CLI writes it, so the server's decoder sees what any docker client would send.
 */
export function createBody(o: CreateOptions): Record<string, unknown> {
  const h = o.host;
  const config: Record<string, unknown> = {
    Image: o.image,
    Env: o.env,
    Labels: o.labels,
    Tty: o.tty,
    OpenStdin: o.openStdin,
    StdinOnce: o.stdinOnce,
    AttachStdin: o.openStdin,
    AttachStdout: true,
    AttachStderr: true,
  };
  if (o.cmd !== undefined) config.Cmd = o.cmd;
  // docker's CLI: `--entrypoint ""` is sent as [""], which resets the image's entrypoint.
  if (o.entrypoint !== undefined) config.Entrypoint = o.entrypoint.length ? o.entrypoint : [''];
  if (o.workingDir) config.WorkingDir = o.workingDir;
  if (o.user !== undefined) config.User = o.user;
  if (o.hostname) config.Hostname = o.hostname;
  if (o.domainname) config.Domainname = o.domainname;
  if (o.stopSignal) config.StopSignal = o.stopSignal;
  if (o.stopTimeout !== undefined) config.StopTimeout = o.stopTimeout;
  if (o.healthcheck) config.Healthcheck = o.healthcheck;
  const exposed = [...(o.exposedPorts ?? [])];
  if (exposed.length) config.ExposedPorts = Object.fromEntries(exposed.map((p) => [p, {}]));

  const host: Record<string, unknown> = {};
  const set = (key: string, v: unknown) => {
    if (v !== undefined) host[key] = v;
  };
  set('AutoRemove', h.autoRemove);
  set('ReadonlyRootfs', h.readonlyRootfs);
  if (h.tmpfs && Object.keys(h.tmpfs).length) host.Tmpfs = h.tmpfs;
  set('Memory', h.memory);
  set('MemorySwap', h.memorySwap);
  set('NanoCpus', h.nanoCpus);
  set('CpuShares', h.cpuShares);
  if (h.pidsLimit) host.PidsLimit = h.pidsLimit;
  if (h.restartPolicy)
    host.RestartPolicy = { Name: h.restartPolicy.name, MaximumRetryCount: h.restartPolicy.maximumRetryCount };
  set('CapAdd', h.capAdd);
  set('CapDrop', h.capDrop);
  set('Privileged', h.privileged);
  set('SecurityOpt', h.securityOpt);
  if (h.ulimits) host.Ulimits = h.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard }));
  set('ShmSize', h.shmSize);
  if (h.init) host.Init = true;
  set('NetworkMode', h.networkMode);
  if (h.runtime) host.Runtime = h.runtime;
  // Sent whole: the values decode back to the same numbers, whatever the server's defaults.
  if (h.log)
    host.LogConfig = {
      Type: '',
      Config: { 'max-size': String(h.log.maxSize), 'max-file': String(h.log.maxFile) },
    };
  set('OomScoreAdj', h.oomScoreAdj);
  set('ExtraHosts', h.extraHosts);
  if (h.portBindings)
    host.PortBindings = Object.fromEntries(
      Object.entries(h.portBindings).map(([k, bs]) => [
        k,
        bs.map((b) => ({ HostIp: b.hostIp, HostPort: b.hostPort })),
      ]),
    );
  if (h.publishAll) host.PublishAllPorts = true;
  set('Dns', h.dns);
  set('DnsSearch', h.dnsSearch);
  set('DnsOptions', h.dnsOptions);
  if (o.volumesFrom?.length) host.VolumesFrom = o.volumesFrom;
  const binds: string[] = [];
  const mounts: Record<string, unknown>[] = [];
  const volumes: Record<string, object> = {};
  for (const m of h.mounts ?? []) {
    const bind = bindString(m);
    if (bind) binds.push(bind);
    else if (m.type === 'volume' && !m.source && !m.readonly && !m.nocopy && !m.volumeOptions)
      volumes[m.target] = {};
    else mounts.push(mountObject(m));
  }
  if (binds.length) host.Binds = binds;
  if (mounts.length) host.Mounts = mounts;
  if (Object.keys(volumes).length) config.Volumes = volumes;

  const body: Record<string, unknown> = { ...config, HostConfig: host };
  if (h.networks && Object.keys(h.networks).length) {
    body.NetworkingConfig = {
      EndpointsConfig: Object.fromEntries(
        Object.entries(h.networks).map(([net, ep]) => [
          net,
          {
            Aliases: ep.aliases,
            ...(ep.ipv4Address ? { IPAMConfig: { IPv4Address: ep.ipv4Address } } : {}),
          },
        ]),
      ),
    };
  }
  return body;
}

/** `-v` binds travel as docker's Binds strings: only they create a missing host directory. */
function bindString(m: MountSpec): string | undefined {
  if (m.type !== 'bind' || !m.createHostDir) return undefined;
  const opts = [m.readonly ? 'ro' : '', m.propagation ?? ''].filter(Boolean).join(',');
  return `${m.source}:${m.target}${opts ? `:${opts}` : ''}`;
}

function mountObject(m: MountSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { Type: m.type, Target: m.target, ReadOnly: m.readonly };
  if (m.source) out.Source = m.source;
  if (m.type === 'bind' && m.propagation) out.BindOptions = { Propagation: m.propagation };
  if (m.type === 'volume' && (m.nocopy || m.volumeOptions))
    out.VolumeOptions = {
      ...(m.nocopy ? { NoCopy: true } : {}),
      ...(m.volumeOptions ? { DriverConfig: { Name: 'local', Options: m.volumeOptions } } : {}),
    };
  if (m.type === 'tmpfs' && (m.tmpfsSize || m.tmpfsMode))
    out.TmpfsOptions = {
      ...(m.tmpfsSize ? { SizeBytes: m.tmpfsSize } : {}),
      ...(m.tmpfsMode ? { Mode: m.tmpfsMode } : {}),
    };
  return out;
}
