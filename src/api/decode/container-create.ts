import { posix } from 'node:path';
import type { CreateOptions } from '../../container/create.ts';
import type { EndpointRequest, HostConfig, PortBinding, RestartPolicy } from '../../container/types.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { parseBytes } from '../../util/units.ts';
import { type MountSpec, parseVolumeFlag } from '../../volume/mount-spec.ts';
import {
  bodyObject,
  bool,
  type Json,
  num,
  obj,
  objList,
  str,
  strMap,
  strSlice,
  strs,
} from './json-fields.ts';

export interface DecodedCreate {
  create: CreateOptions;
  platform?: string;
}

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

/** `HostConfig.Mounts[]` (docker's mount.Mount) as Berth's MountSpec. */
function decodeMount(m: Json, i: number): MountSpec {
  const path = `HostConfig.Mounts[${i}]`;
  const type = (str(m, 'Type', path) ?? '').toLowerCase();
  const target = str(m, 'Target', path) ?? '';
  const source = str(m, 'Source', path) ?? '';
  if (!target) throw new InvalidArgumentError('invalid mount config: Target must not be empty');
  if (!target.startsWith('/'))
    throw new InvalidArgumentError(
      `invalid mount config: invalid mount path: '${target}' mount path must be absolute`,
    );
  const out: MountSpec = {
    type: 'volume',
    source: '',
    target: posix.normalize(target),
    readonly: bool(m, 'ReadOnly', path) ?? false,
  };
  if (type === 'volume') {
    const vo = obj(m, 'VolumeOptions', path);
    out.source = source;
    out.anonymous = source === '';
    out.nocopy = vo ? (bool(vo, 'NoCopy', `${path}.VolumeOptions`) ?? false) : false;
    const driver = vo ? obj(vo, 'DriverConfig', `${path}.VolumeOptions`) : undefined;
    const dname = driver ? str(driver, 'Name', `${path}.VolumeOptions.DriverConfig`) : undefined;
    if (dname && dname !== 'local')
      throw new InvalidArgumentError(`volume driver "${dname}" is not supported: only "local"`);
    const opts = driver ? strMap(driver, 'Options', `${path}.VolumeOptions.DriverConfig`) : undefined;
    if (opts && Object.keys(opts).length) out.volumeOptions = opts;
  } else if (type === 'bind') {
    if (!source.startsWith('/'))
      throw new InvalidArgumentError(
        'invalid mount config for type "bind": invalid specification: bind source must be an absolute path',
      );
    out.type = 'bind';
    out.source = posix.normalize(source);
    const bo = obj(m, 'BindOptions', path);
    const prop = bo ? str(bo, 'Propagation', `${path}.BindOptions`) : undefined;
    if (prop) {
      if (!PROPAGATIONS.includes(prop)) throw new InvalidArgumentError(`invalid propagation mode: ${prop}`);
      out.propagation = prop;
    }
    out.createHostDir = bo ? (bool(bo, 'CreateMountpoint', `${path}.BindOptions`) ?? false) : false;
  } else if (type === 'tmpfs') {
    if (source)
      throw new InvalidArgumentError('invalid mount config for type "tmpfs": Source must not be specified');
    out.type = 'tmpfs';
    const to = obj(m, 'TmpfsOptions', path);
    const size = to ? num(to, 'SizeBytes', `${path}.TmpfsOptions`) : undefined;
    const mode = to ? num(to, 'Mode', `${path}.TmpfsOptions`) : undefined;
    if (size) out.tmpfsSize = size;
    if (mode) out.tmpfsMode = mode;
  } else {
    throw new InvalidArgumentError(`invalid mount config: mount type "${type}" is not supported`);
  }
  return out;
}

export function decodeRestart(h: Json): RestartPolicy | undefined {
  const rp = obj(h, 'RestartPolicy', 'HostConfig');
  if (!rp) return undefined;
  const name = str(rp, 'Name', 'HostConfig.RestartPolicy') ?? '';
  const count = num(rp, 'MaximumRetryCount', 'HostConfig.RestartPolicy') ?? 0;
  if (name === '' || name === 'no') {
    if (count)
      throw new InvalidArgumentError(
        `invalid restart policy: maximum retry count can only be used with 'on-failure'`,
      );
    return { name: 'no', maximumRetryCount: 0 };
  }
  if (name !== 'always' && name !== 'unless-stopped' && name !== 'on-failure')
    throw new InvalidArgumentError(
      `invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
    );
  if (count && name !== 'on-failure')
    throw new InvalidArgumentError(
      `invalid restart policy: maximum retry count can only be used with 'on-failure'`,
    );
  if (count < 0)
    throw new InvalidArgumentError('invalid restart policy: maximum retry count cannot be negative');
  return { name, maximumRetryCount: count };
}

function decodeLog(h: Json): HostConfig['log'] | undefined {
  const lc = obj(h, 'LogConfig', 'HostConfig');
  if (!lc) return undefined;
  const type = str(lc, 'Type', 'HostConfig.LogConfig') ?? '';
  if (type && !['k8s-file', 'json-file', 'local'].includes(type))
    throw new InvalidArgumentError(
      `logging driver "${type}" is not supported: use json-file, local or k8s-file`,
    );
  const log: HostConfig['log'] = { type: 'k8s-file', maxSize: 10 * 1024 * 1024, maxFile: 1 };
  for (const [k, v] of Object.entries(strMap(lc, 'Config', 'HostConfig.LogConfig') ?? {})) {
    if (k === 'max-size') log.maxSize = v === '-1' ? 0 : parseBytes(v);
    else if (k === 'max-file') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`invalid value for max-file: ${v}`);
      log.maxFile = n;
    } else if (!['mode', 'compress', 'labels', 'env', 'tag', 'max-buffer-size'].includes(k))
      throw new InvalidArgumentError(`unknown log opt '${k}' for k8s-file log driver`);
  }
  return log;
}

/** `80`, `80/tcp` → `80/tcp`. */
function portKey(k: string): string {
  const [port = '', proto = 'tcp'] = k.split('/');
  if (!/^\d+(-\d+)?$/.test(port)) throw new InvalidArgumentError(`invalid port specification: "${k}"`);
  return `${port}/${proto.toLowerCase()}`;
}

function decodePortBindings(h: Json): Record<string, PortBinding[]> | undefined {
  const pb = obj(h, 'PortBindings', 'HostConfig');
  if (!pb) return undefined;
  const out: Record<string, PortBinding[]> = {};
  for (const [k, v] of Object.entries(pb)) {
    if (v === null) continue;
    const list = objList({ v }, 'v', `HostConfig.PortBindings.${k}`) ?? [];
    out[portKey(k)] = list.map((b) => ({
      hostIp: str(b, 'HostIp', `HostConfig.PortBindings.${k}`) ?? '',
      hostPort: str(b, 'HostPort', `HostConfig.PortBindings.${k}`) ?? '',
    }));
  }
  return out;
}

/**
 * The network the container joins first and what it asks of each network. docker's CLI says
 * `default` for the daemon's default network, Berth's `bridge`.
 */
function decodeNetworking(h: Json, nc: Json | undefined): Partial<HostConfig> {
  let mode = str(h, 'NetworkMode', 'HostConfig') || 'bridge';
  if (mode === 'default') mode = 'bridge';
  const out: Partial<HostConfig> = { networkMode: mode };
  const special = mode === 'host' || mode === 'none' || mode.startsWith('container:');
  if (special) return out;
  const endpoints = nc ? obj(nc, 'EndpointsConfig', 'NetworkingConfig') : undefined;
  const networks: Record<string, EndpointRequest> = {};
  networks[mode] = { aliases: [], ipv4Address: '' };
  for (const [rawName, ep] of Object.entries(endpoints ?? {})) {
    const name = rawName === 'default' ? 'bridge' : rawName;
    const path = `NetworkingConfig.EndpointsConfig.${rawName}`;
    const e = ep && typeof ep === 'object' && !Array.isArray(ep) ? (ep as Json) : {};
    const ipam = obj(e, 'IPAMConfig', path);
    const ip = ipam ? (str(ipam, 'IPv4Address', `${path}.IPAMConfig`) ?? '') : '';
    // docker ignores aliases on the default bridge, where they cannot resolve.
    const aliases = name === 'bridge' ? [] : (strs(e, 'Aliases', path) ?? []);
    networks[name] = { aliases, ipv4Address: ip };
  }
  out.networks = networks;
  return out;
}

function decodeHost(h: Json, nc: Json | undefined): Partial<HostConfig> {
  const P = 'HostConfig';
  const mounts: MountSpec[] = [
    ...(strs(h, 'Binds', P) ?? []).map(parseVolumeFlag),
    ...(objList(h, 'Mounts', P) ?? []).map(decodeMount),
  ];
  const host: Partial<HostConfig> = { mounts, ...decodeNetworking(h, nc) };
  const set = <K extends keyof HostConfig>(k: K, v: HostConfig[K] | undefined) => {
    if (v !== undefined) host[k] = v;
  };
  set('autoRemove', bool(h, 'AutoRemove', P));
  set('readonlyRootfs', bool(h, 'ReadonlyRootfs', P));
  set('tmpfs', strMap(h, 'Tmpfs', P));
  set('memory', num(h, 'Memory', P));
  set('memorySwap', num(h, 'MemorySwap', P));
  let nano = num(h, 'NanoCpus', P);
  const quota = num(h, 'CpuQuota', P);
  const period = num(h, 'CpuPeriod', P);
  if (!nano && quota && quota > 0) nano = Math.round((quota / (period || 100_000)) * 1e9);
  set('nanoCpus', nano);
  set('cpuShares', num(h, 'CpuShares', P));
  const pids = num(h, 'PidsLimit', P);
  set('pidsLimit', pids !== undefined && pids > 0 ? pids : undefined);
  set('restartPolicy', decodeRestart(h));
  set('capAdd', strs(h, 'CapAdd', P));
  set('capDrop', strs(h, 'CapDrop', P));
  set('privileged', bool(h, 'Privileged', P));
  set('securityOpt', strs(h, 'SecurityOpt', P));
  set(
    'ulimits',
    objList(h, 'Ulimits', P)?.map((u, i) => ({
      name: str(u, 'Name', `${P}.Ulimits[${i}]`) ?? '',
      soft: num(u, 'Soft', `${P}.Ulimits[${i}]`) ?? 0,
      hard: num(u, 'Hard', `${P}.Ulimits[${i}]`) ?? 0,
    })),
  );
  const shm = num(h, 'ShmSize', P);
  set('shmSize', shm ? shm : undefined);
  set('init', bool(h, 'Init', P));
  set('runtime', str(h, 'Runtime', P));
  set('log', decodeLog(h));
  set('oomScoreAdj', num(h, 'OomScoreAdj', P));
  set('extraHosts', strs(h, 'ExtraHosts', P));
  set('portBindings', decodePortBindings(h));
  set('publishAll', bool(h, 'PublishAllPorts', P));
  set('dns', strs(h, 'Dns', P));
  set('dnsSearch', strs(h, 'DnsSearch', P));
  set('dnsOptions', strs(h, 'DnsOptions', P));
  const links = strs(h, 'Links', P);
  if (links?.length)
    throw new InvalidArgumentError(
      'legacy container links are not supported by Berth: use a user-defined network',
    );
  return host;
}

/**
 * `POST /containers/create`: docker's ContainerConfig with HostConfig and NetworkingConfig as Berth's
 * CreateOptions. Unknown fields are ignored, as docker's decoder ignores them; wrongly typed ones are a 400.
 */
export function decodeCreate(body: unknown, query: { name?: string; platform?: string }): DecodedCreate {
  const b = bodyObject(body, 'container.Config');
  const C = 'Config';
  const image = str(b, 'Image', C);
  if (!image)
    throw new InvalidArgumentError('Config.Image is required: name the image to create the container from');
  const h = obj(b, 'HostConfig', 'ContainerCreate') ?? {};
  const nc = obj(b, 'NetworkingConfig', 'ContainerCreate');
  const host = decodeHost(h, nc);
  const entrypoint = strSlice(b, 'Entrypoint', C);
  const cmd = strSlice(b, 'Cmd', C);
  const volumes = obj(b, 'Volumes', C);
  for (const target of Object.keys(volumes ?? {}))
    host.mounts = [...(host.mounts ?? []), parseVolumeFlag(target)];
  const stopTimeout = num(b, 'StopTimeout', C);
  const openStdin = bool(b, 'OpenStdin', C) ?? false;
  const create: CreateOptions = {
    image,
    name: query.name || undefined,
    cmd: cmd?.length ? cmd : undefined,
    // [""] (the CLI's `--entrypoint ""`) resets the image's entrypoint; null keeps it.
    entrypoint: entrypoint === undefined ? undefined : entrypoint.filter((e, i) => i > 0 || e !== ''),
    env: strs(b, 'Env', C) ?? [],
    workingDir: str(b, 'WorkingDir', C) || undefined,
    user: str(b, 'User', C) || undefined,
    hostname: str(b, 'Hostname', C) || undefined,
    domainname: str(b, 'Domainname', C) || undefined,
    labels: strMap(b, 'Labels', C) ?? {},
    tty: bool(b, 'Tty', C) ?? false,
    openStdin,
    stdinOnce: bool(b, 'StdinOnce', C) ?? false,
    stopSignal: str(b, 'StopSignal', C) || undefined,
    stopTimeout: stopTimeout ?? undefined,
    exposedPorts: Object.keys(obj(b, 'ExposedPorts', C) ?? {}).map(portKey),
    host,
    volumesFrom: strs(h, 'VolumesFrom', 'HostConfig') ?? [],
  };
  const hc = obj(b, 'Healthcheck', C);
  if (hc) {
    const P = `${C}.Healthcheck`;
    create.healthcheck = {
      Test: strs(hc, 'Test', P),
      Interval: num(hc, 'Interval', P),
      Timeout: num(hc, 'Timeout', P),
      StartPeriod: num(hc, 'StartPeriod', P),
      StartInterval: num(hc, 'StartInterval', P),
      Retries: num(hc, 'Retries', P),
    };
  }
  return { create, platform: query.platform || undefined };
}
