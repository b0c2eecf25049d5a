import type { MountSpec } from '../volume/mount-spec.ts';
import type { HealthConfig } from './health-config.ts';

/** What a container was created with: docker's Config and HostConfig, reduced to what Berth applies. */
export interface RestartPolicy {
  name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  maximumRetryCount: number;
}

export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

/** One `-p` binding (docker's PortBinding); hostPort '' = a random free port, 'a-b' = the first free one. */
export interface PortBinding {
  hostIp: string;
  hostPort: string;
}

/** What the container asks of one network (docker's EndpointSettings as given at create/connect). */
export interface EndpointRequest {
  aliases: string[];
  /** --ip; '' = Berth picks one. */
  ipv4Address: string;
}

export interface LogConfig {
  type: 'k8s-file';
  maxSize: number; // bytes; 0 = unbounded
  maxFile: number;
}

export interface ContainerConfig {
  image: string; // as the user named it
  imageId: string;
  entrypoint: string[] | null; // the effective entrypoint (image's unless overridden)
  cmd: string[] | null; // the effective command
  env: string[];
  workingDir: string;
  user: string;
  hostname: string;
  domainname: string;
  labels: Record<string, string>;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  stopSignal: string;
  stopTimeout: number; // seconds
  exposedPorts: string[];
  /** The effective healthcheck (image's merged with the --health-* flags), docker's shape. */
  healthcheck?: HealthConfig;
  host: HostConfig;
  /** A build step's container: its root is these layers (bottom first), not a stored image's. */
  rootfsLayers?: { chainId: string; blob: string }[];
}

export interface HostConfig {
  autoRemove: boolean;
  readonlyRootfs: boolean;
  tmpfs: Record<string, string>;
  memory: number;
  memorySwap: number;
  nanoCpus: number;
  cpuShares: number;
  pidsLimit: number;
  restartPolicy: RestartPolicy;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  securityOpt: string[];
  ulimits: Ulimit[];
  shmSize: number;
  init: boolean;
  networkMode: string;
  runtime: string;
  log: LogConfig;
  oomScoreAdj: number;
  /** --add-host entries, `name:ip`. */
  extraHosts: string[];
  /**
   * networkMode is docker's: 'bridge' (Berth's default network), a network name, 'host', 'none' or
   * 'container:<id>'; records from before networks say 'private' for 'none'. The networks joined at
   * create are in `networks` (keyed by network name); the network module keeps the live list.
   */
  networks?: Record<string, EndpointRequest>;
  /** -p, keyed `port/proto` as docker's PortBindings. */
  portBindings?: Record<string, PortBinding[]>;
  /** -P: every exposed port to a random host port. */
  publishAll?: boolean;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** Volumes, binds and tmpfs mounts, settled at create (anonymous volumes named). */
  mounts: MountSpec[];
}

export type ContainerStatus =
  | 'created'
  | 'running'
  | 'paused'
  | 'restarting'
  | 'exited'
  | 'dead'
  | 'removing';

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  conmonPid: number;
  exitCode: number;
  oomKilled: boolean;
  error: string;
  startedAt: string;
  finishedAt: string;
  restartCount: number;
  /** Set by `stop`/`kill`: restart policies must not bring the container back. */
  manuallyStopped: boolean;
  /** Counts starts, so a late cleanup of an earlier run cannot touch a newer one. */
  generation: number;
  /** Generation whose exit has been recorded and cleaned up. */
  cleanedGeneration: number;
  runtime: string;
  /** While `restarting`: the back-off before the next start. */
  restartDelayMs?: number;
  /** docker's State.Health: set on the first start of a container with a healthcheck. */
  health?: HealthState;
}

export interface HealthLogEntry {
  start: string;
  end: string;
  exitCode: number;
  output: string;
}

export interface HealthState {
  status: 'starting' | 'healthy' | 'unhealthy';
  failingStreak: number;
  /** The last results, oldest first. */
  log: HealthLogEntry[];
}

export interface ContainerRecord {
  id: string;
  name: string;
  imageId: string;
  imageRef: string;
  created: string;
  config: ContainerConfig;
  state: ContainerState;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function initialState(runtime: string): ContainerState {
  return {
    status: 'created',
    pid: 0,
    conmonPid: 0,
    exitCode: 0,
    oomKilled: false,
    error: '',
    startedAt: ZERO_TIME,
    finishedAt: ZERO_TIME,
    restartCount: 0,
    manuallyStopped: false,
    generation: 0,
    cleanedGeneration: 0,
    runtime,
  };
}
