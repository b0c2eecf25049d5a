/**
 * The resolved Compose project: what `loadProject` (src/compose/loader/) produces and every compose
 * command consumes. Modelled on compose-go's `types.Project` / `types.ServiceConfig`.
 *
 * Conventions (read before producing or consuming it):
 * - Keys are the Compose Specification's snake_case names, so `compose config` can print the model
 *   as it is and the config hash is taken over the same key names docker compose hashes.
 * - Everything is normalised: short syntaxes are expanded (ports, volumes, depends_on, networks,
 *   environment, build, healthcheck test), relative paths are absolute (resolved against the
 *   project directory: bind sources, build contexts, env_file, secret/config files, watch paths).
 * - Durations are milliseconds (numbers); sizes are bytes (numbers).
 * - Optional keys are absent, never `undefined`-valued, when the file does not set them, so
 *   `JSON.stringify` of a service is stable (the config hash depends on it).
 * - Services whose profiles are not enabled live in `disabled_services`; a command that targets one
 *   by name moves it (and what it depends on) into `services`.
 */

export interface Project {
  name: string;
  /** Absolute project directory. Not printed by `compose config`. */
  working_dir: string;
  services: Record<string, ServiceConfig>;
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  secrets: Record<string, SecretConfig>;
  configs: Record<string, ConfigObjConfig>;
  /** Absolute paths of the compose files, in load order (label project.config_files). */
  config_files: string[];
  /** Absolute paths of the env files used for interpolation (label project.environment_file). */
  env_files: string[];
  /** The environment interpolation saw: env files overlaid by the process environment. */
  environment: Record<string, string>;
  /** Services not enabled by the active profiles. */
  disabled_services: Record<string, ServiceConfig>;
  /** Profiles enabled for this load (`--profile`, COMPOSE_PROFILES). */
  profiles: string[];
  /** Top-level `x-*` keys. */
  extensions?: Record<string, unknown>;
}

export type DependsOnCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface ServiceDependency {
  condition: DependsOnCondition;
  /** Recreate/restart this service when the dependency is recreated. */
  restart: boolean;
  /** false: a missing dependency service is a warning, not an error. */
  required: boolean;
}

export interface ServicePortConfig {
  /** Container port (ranges are expanded into one entry per port). */
  target: number;
  /** Host port, or a range `8000-8010` to pick from; absent: an ephemeral port. */
  published?: string;
  host_ip?: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  mode?: 'ingress' | 'host';
  name?: string;
  app_protocol?: string;
}

export interface ServiceVolumeConfig {
  type: 'volume' | 'bind' | 'tmpfs' | 'npipe' | 'cluster' | 'image';
  /**
   * bind: absolute host path; volume: the key in the top-level `volumes` (not the prefixed name),
   * absent for an anonymous volume; tmpfs: absent.
   */
  source?: string;
  target: string;
  read_only?: boolean;
  consistency?: string;
  bind?: { propagation?: string; create_host_path?: boolean; selinux?: 'z' | 'Z' };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: number; mode?: number };
  image?: { subpath?: string };
}

export interface ServiceNetworkConfig {
  aliases?: string[];
  ipv4_address?: string;
  ipv6_address?: string;
  priority?: number;
  gw_priority?: number;
  mac_address?: string;
  link_local_ips?: string[];
  driver_opts?: Record<string, string>;
}

export interface HealthCheckConfig {
  /** ['CMD', ...], ['CMD-SHELL', cmd] (a string test becomes this), or ['NONE']. */
  test?: string[];
  interval?: number;
  timeout?: number;
  retries?: number;
  start_period?: number;
  start_interval?: number;
  disable?: boolean;
}

export interface BuildConfig {
  /** Absolute directory (or a URL, kept as written). */
  context: string;
  /** Relative to the context, as written; absent: `Dockerfile`. */
  dockerfile?: string;
  dockerfile_inline?: string;
  /** null: the key was listed without a value and the environment has none. */
  args?: Record<string, string | null>;
  target?: string;
  labels?: Record<string, string>;
  cache_from?: string[];
  cache_to?: string[];
  no_cache?: boolean;
  pull?: boolean;
  network?: string;
  extra_hosts?: string[];
  shm_size?: number;
  tags?: string[];
  platforms?: string[];
  secrets?: ServiceSecretConfig[];
  ssh?: string[];
  additional_contexts?: Record<string, string>;
}

export interface ResourceSpec {
  /** CPUs as a number (0.5 = half a CPU). */
  cpus?: number;
  /** Bytes. */
  memory?: number;
  pids?: number;
}

export interface DeployConfig {
  mode?: string;
  replicas?: number;
  labels?: Record<string, string>;
  resources?: { limits?: ResourceSpec; reservations?: ResourceSpec };
  restart_policy?: { condition?: string; delay?: number; max_attempts?: number; window?: number };
}

export interface ServiceSecretConfig {
  /** Key in the top-level `secrets` / `configs`. */
  source: string;
  /** Absent: /run/secrets/<source> for secrets, /<source> for configs. */
  target?: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

export type ServiceConfigRef = ServiceSecretConfig;

export interface WatchRule {
  /** Absolute host path. */
  path: string;
  action: 'sync' | 'rebuild' | 'restart' | 'sync+restart' | 'sync+exec';
  /** Container path (sync actions). */
  target?: string;
  /** Patterns relative to `path`. */
  ignore?: string[];
  include?: string[];
  initial_sync?: boolean;
  exec?: { command: string[]; user?: string; privileged?: boolean; working_dir?: string };
}

export interface DevelopConfig {
  watch?: WatchRule[];
}

export interface Ulimit {
  soft: number;
  hard: number;
}

export interface LoggingConfig {
  driver?: string;
  options?: Record<string, string>;
}

export interface ServiceConfig {
  /** The service's key in `services`. Not part of the config hash. */
  name: string;
  profiles?: string[];
  image?: string;
  build?: BuildConfig;
  pull_policy?: 'always' | 'never' | 'missing' | 'if_not_present' | 'build' | string;
  platform?: string;
  container_name?: string;
  /** Shell-split when written as a string; null: explicitly reset. */
  command?: string[] | null;
  entrypoint?: string[] | null;
  /** Final environment: env_file entries overlaid by `environment`. null: listed without a value. */
  environment: Record<string, string | null>;
  env_file?: Array<{ path: string; required: boolean; format?: string }>;
  ports: ServicePortConfig[];
  /** `port` or `port/proto`, ranges kept as written. */
  expose: string[];
  volumes: ServiceVolumeConfig[];
  volumes_from?: string[];
  /** Absent when network_mode is set; otherwise at least `{default: null}`. */
  networks?: Record<string, ServiceNetworkConfig | null>;
  network_mode?: string;
  depends_on: Record<string, ServiceDependency>;
  links?: string[];
  external_links?: string[];
  healthcheck?: HealthCheckConfig;
  restart?: string;
  deploy?: DeployConfig;
  scale?: number;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  user?: string;
  working_dir?: string;
  hostname?: string;
  domainname?: string;
  init?: boolean;
  read_only?: boolean;
  cap_add?: string[];
  cap_drop?: string[];
  privileged?: boolean;
  security_opt?: string[];
  /** `path[:options]`. */
  tmpfs?: string[];
  secrets?: ServiceSecretConfig[];
  configs?: ServiceConfigRef[];
  stop_signal?: string;
  stop_grace_period?: number;
  tty?: boolean;
  stdin_open?: boolean;
  /** `host:ip` entries (docker's --add-host form). */
  extra_hosts?: string[];
  dns?: string[];
  dns_search?: string[];
  dns_opt?: string[];
  ulimits?: Record<string, Ulimit>;
  sysctls?: Record<string, string>;
  devices?: string[];
  pid?: string;
  ipc?: string;
  /** Bytes. */
  shm_size?: number;
  /** Bytes. */
  mem_limit?: number;
  memswap_limit?: number;
  mem_reservation?: number;
  cpus?: number;
  cpu_shares?: number;
  pids_limit?: number;
  oom_score_adj?: number;
  group_add?: string[];
  logging?: LoggingConfig;
  runtime?: string;
  mac_address?: string;
  attach?: boolean;
  develop?: DevelopConfig;
  /** `x-*` keys of the service. */
  extensions?: Record<string, unknown>;
}

export interface NetworkConfig {
  /** The engine-side name: `<project>_<key>` unless `name:` was given or the network is external. */
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  ipam?: {
    driver?: string;
    config?: Array<{
      subnet?: string;
      ip_range?: string;
      gateway?: string;
      aux_addresses?: Record<string, string>;
    }>;
    options?: Record<string, string>;
  };
  external?: boolean;
  internal?: boolean;
  attachable?: boolean;
  enable_ipv6?: boolean;
  labels?: Record<string, string>;
}

export interface VolumeConfig {
  /** The engine-side name: `<project>_<key>` unless `name:` was given or the volume is external. */
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  external?: boolean;
  labels?: Record<string, string>;
}

export interface SecretConfig {
  name: string;
  /** Absolute path. */
  file?: string;
  /** Name of a variable in the project environment holding the content. */
  environment?: string;
  content?: string;
  external?: boolean;
  labels?: Record<string, string>;
}

export type ConfigObjConfig = SecretConfig;

export interface LoadOptions {
  /** Compose files; absent: discovery in projectDir (or the cwd) plus the override file. */
  files?: string[];
  projectName?: string;
  projectDir?: string;
  envFiles?: string[];
  profiles?: string[];
  env: Record<string, string>;
  /** false: `--no-interpolate`. Default true. */
  interpolate?: boolean;
}
