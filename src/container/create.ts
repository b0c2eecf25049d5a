import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { StoreContext } from '../engine/context.ts';
import type { ImageRecord } from '../image/types.ts';
import { initContainerNetworks, validateNetworking } from '../network/attach.ts';
import { containerDir } from '../store/paths.ts';
import { BerthError, ConflictError, InvalidArgumentError } from '../util/errors.ts';
import { removeAnonymousVolumes, resolveMounts } from '../volume/container-mounts.ts';
import { type HealthConfig, mergeHealthcheck, validateHealthcheck } from './health-config.ts';
import { randomName, validateName } from './names.ts';
import { selectRuntime } from './runtime.ts';
import { type ContainerConfig, type ContainerRecord, type HostConfig, initialState } from './types.ts';

export interface CreateOptions {
  image: string;
  name?: string;
  /** undefined: the image's CMD. */
  cmd?: string[];
  /** `--volumes-from` containers, `name[:ro|rw]`. */
  volumesFrom?: string[];
  /** undefined: the image's ENTRYPOINT; [] resets it (docker's `--entrypoint ""`). */
  entrypoint?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  domainname?: string;
  labels: Record<string, string>;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  stopSignal?: string;
  stopTimeout?: number;
  /** --expose, as `port/proto`; published ports are exposed too. */
  exposedPorts?: string[];
  host: Partial<HostConfig>;
  /** The user's healthcheck (--health-* flags, API Config.Healthcheck); merged over the image's. */
  healthcheck?: HealthConfig;
  /** See ContainerConfig.rootfsLayers. */
  rootfsLayers?: { chainId: string; blob: string }[];
}

export const DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function defaultHostConfig(): HostConfig {
  return {
    autoRemove: false,
    readonlyRootfs: false,
    tmpfs: {},
    memory: 0,
    memorySwap: 0,
    nanoCpus: 0,
    cpuShares: 0,
    pidsLimit: 0,
    restartPolicy: { name: 'no', maximumRetryCount: 0 },
    capAdd: [],
    capDrop: [],
    privileged: false,
    securityOpt: [],
    ulimits: [],
    shmSize: 64 * 1024 * 1024,
    init: false,
    networkMode: 'bridge',
    runtime: '',
    log: { type: 'k8s-file', maxSize: DEFAULT_LOG_MAX_SIZE, maxFile: 1 },
    oomScoreAdj: 0,
    extraHosts: [],
    mounts: [],
  };
}

/** Image env first, then the user's: a later KEY= wins, as in docker. */
export function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...extra]) {
    const eq = e.indexOf('=');
    const key = eq < 0 ? e : e.slice(0, eq);
    if (eq < 0) {
      // `-e NAME` without a value takes the caller's environment, and is dropped when unset.
      const v = process.env[key];
      if (v !== undefined) out.set(key, `${key}=${v}`);
      continue;
    }
    out.set(key, e);
  }
  return [...out.values()];
}

export function validateHostConfig(h: HostConfig): void {
  if (h.memory !== 0 && h.memory < 6 * 1024 * 1024) {
    throw new InvalidArgumentError('Minimum memory limit allowed is 6MB');
  }
  if (h.memorySwap > 0 && h.memory > 0 && h.memorySwap < h.memory) {
    throw new InvalidArgumentError('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (h.memorySwap > 0 && h.memory === 0) {
    throw new InvalidArgumentError(
      'You should always set the Memory limit when using Memoryswap limit, see usage',
    );
  }
  if (h.nanoCpus < 0)
    throw new InvalidArgumentError('Range of CPUs is from 0.01 to the number of CPUs available');
  if (h.restartPolicy.name !== 'no' && h.autoRemove) {
    throw new InvalidArgumentError('Conflicting options: --restart and --rm');
  }
}

export function createContainer(ctx: StoreContext, img: ImageRecord, o: CreateOptions): ContainerRecord {
  const host: HostConfig = { ...defaultHostConfig(), ...o.host };
  validateHostConfig(host);
  validateNetworking(ctx, host);
  validateHealthcheck(o.healthcheck);
  const runtime = selectRuntime(host.runtime || undefined);
  const ic = img.config.config ?? {};
  const entrypoint =
    o.entrypoint !== undefined ? (o.entrypoint.length ? o.entrypoint : null) : (ic.Entrypoint ?? null);
  // docker drops the image's CMD when the entrypoint is overridden.
  const cmd = o.cmd && o.cmd.length > 0 ? o.cmd : o.entrypoint !== undefined ? null : (ic.Cmd ?? null);
  if ((entrypoint?.length ?? 0) + (cmd?.length ?? 0) === 0) {
    throw new BerthError(
      'no command specified: the image has no CMD or ENTRYPOINT; give a command after the image name',
    );
  }
  const id = randomBytes(32).toString('hex');
  const name = o.name ? validateName(o.name) : randomName();
  host.mounts = resolveMounts(ctx, img, host.mounts, o.volumesFrom ?? []);
  let env = mergeEnv(ic.Env ?? [], o.env);
  if (!env.some((e) => e.startsWith('PATH='))) env = [`PATH=${DEFAULT_PATH}`, ...env];
  const healthcheck = mergeHealthcheck(ic.Healthcheck as HealthConfig | undefined, o.healthcheck);
  const config: ContainerConfig = {
    image: o.image,
    imageId: img.id,
    entrypoint,
    cmd,
    env,
    workingDir: o.workingDir || ic.WorkingDir || '',
    user: o.user ?? ic.User ?? '',
    hostname: o.hostname || id.slice(0, 12),
    domainname: o.domainname ?? '',
    labels: { ...(ic.Labels ?? {}), ...o.labels },
    tty: o.tty,
    openStdin: o.openStdin,
    stdinOnce: o.stdinOnce,
    stopSignal: o.stopSignal || ic.StopSignal || 'SIGTERM',
    stopTimeout: o.stopTimeout ?? 10,
    exposedPorts: [
      ...new Set([
        ...Object.keys(ic.ExposedPorts ?? {}),
        ...(o.exposedPorts ?? []),
        ...Object.keys(host.portBindings ?? {}),
      ]),
    ],
    ...(healthcheck ? { healthcheck } : {}),
    host: { ...host, runtime: runtime.name },
    ...(o.rootfsLayers ? { rootfsLayers: o.rootfsLayers } : {}),
  };
  const record: ContainerRecord = {
    id,
    name,
    imageId: img.id,
    imageRef: o.image,
    created: new Date().toISOString(),
    config,
    state: initialState(runtime.name),
  };
  try {
    insertWithName(ctx, record, !o.name);
  } catch (err) {
    // A refused container (e.g. a name conflict) must not leave its anonymous volumes behind.
    removeAnonymousVolumes(ctx, record);
    throw err;
  }
  try {
    initContainerNetworks(ctx, record);
  } catch (err) {
    // e.g. an --ip already taken: docker refuses the create
    ctx.containers.delete(id);
    removeAnonymousVolumes(ctx, record);
    throw err;
  }
  mkdirSync(containerDir(ctx.paths, id), { recursive: true, mode: 0o700 });
  return record;
}

/**
 * A generated name can collide with a concurrent create; like docker, retry with
 * a fresh name and then a numeric suffix rather than failing the user's run.
 */
function insertWithName(ctx: StoreContext, record: ContainerRecord, generated: boolean): void {
  for (let attempt = 0; ; attempt++) {
    try {
      ctx.containers.insert(record);
      return;
    } catch (err) {
      if (!generated || !(err instanceof ConflictError) || attempt >= 10) throw err;
      record.name = attempt < 3 ? randomName() : `${randomName()}${randomInt(10)}`;
    }
  }
}
