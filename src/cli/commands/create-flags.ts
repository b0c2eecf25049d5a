import { readFileSync } from 'node:fs';
import type { CreateOptions } from '../../container/create.ts';
import { durationNs, type HealthConfig, healthFromFlags } from '../../container/health-config.ts';
import type { HostConfig, PortBinding, RestartPolicy } from '../../container/types.ts';
import type { PullPolicy } from '../../engine/engine.ts';
import { parsePublish } from '../../network/ports.ts';
import { BerthError, InvalidArgumentError } from '../../util/errors.ts';
import { parseBytes, parseUlimit } from '../../util/units.ts';
import { parseMountFlag, parseVolumeFlag } from '../../volume/mount-spec.ts';
import {
  type CommandSpec,
  type FlagSpec,
  flagBool,
  flagInt,
  flagString,
  flagStrings,
  type ParsedArgs,
} from '../flags.ts';

/** The flags `run` and `create` share, with docker's names and shorthands. */
export const CREATE_FLAGS: FlagSpec[] = [
  { name: 'add-host', kind: 'stringArray', description: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'attach', short: 'a', kind: 'stringArray', description: 'Attach to STDIN, STDOUT or STDERR' },
  { name: 'cap-add', kind: 'stringArray', description: 'Add Linux capabilities' },
  { name: 'cap-drop', kind: 'stringArray', description: 'Drop Linux capabilities' },
  { name: 'cidfile', kind: 'string', description: 'Write the container ID to the file' },
  { name: 'cpu-shares', short: 'c', kind: 'int', description: 'CPU shares (relative weight)' },
  { name: 'cpus', kind: 'string', description: 'Number of CPUs', valueName: 'decimal' },
  { name: 'domainname', kind: 'string', description: 'Container NIS domain name' },
  { name: 'entrypoint', kind: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'env', short: 'e', kind: 'stringArray', description: 'Set environment variables' },
  { name: 'env-file', kind: 'stringArray', description: 'Read in a file of environment variables' },
  { name: 'health-cmd', kind: 'string', description: 'Command to run to check health' },
  {
    name: 'health-interval',
    kind: 'string',
    valueName: 'duration',
    description: 'Time between running the check (ms|s|m|h) (default 0s)',
  },
  {
    name: 'health-retries',
    kind: 'int',
    description: 'Consecutive failures needed to report unhealthy',
  },
  {
    name: 'health-start-interval',
    kind: 'string',
    valueName: 'duration',
    description: 'Time between running the check during the start period (ms|s|m|h) (default 0s)',
  },
  {
    name: 'health-start-period',
    kind: 'string',
    valueName: 'duration',
    description:
      'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)',
  },
  {
    name: 'health-timeout',
    kind: 'string',
    valueName: 'duration',
    description: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)',
  },
  { name: 'hostname', short: 'h', kind: 'string', description: 'Container host name' },
  {
    name: 'init',
    kind: 'bool',
    description: 'Run an init inside the container that forwards signals and reaps processes',
  },
  { name: 'interactive', short: 'i', kind: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'label', short: 'l', kind: 'stringArray', description: 'Set meta data on a container' },
  { name: 'label-file', kind: 'stringArray', description: 'Read in a line delimited file of labels' },
  { name: 'log-driver', kind: 'string', description: 'Logging driver for the container' },
  { name: 'log-opt', kind: 'stringArray', description: 'Log driver options' },
  { name: 'memory', short: 'm', kind: 'string', description: 'Memory limit', valueName: 'bytes' },
  {
    name: 'memory-swap',
    kind: 'string',
    description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    valueName: 'bytes',
  },
  { name: 'mount', kind: 'stringArray', description: 'Attach a filesystem mount to the container' },
  { name: 'name', kind: 'string', description: 'Assign a name to the container' },
  { name: 'no-healthcheck', kind: 'bool', description: 'Disable any container-specified HEALTHCHECK' },
  {
    name: 'network',
    kind: 'stringArray',
    description: 'Connect a container to a network',
    valueName: 'network',
  },
  { name: 'net', kind: 'stringArray', hidden: true, description: 'Connect a container to a network' },
  { name: 'network-alias', kind: 'stringArray', description: 'Add network-scoped alias for the container' },
  { name: 'ip', kind: 'string', description: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'dns', kind: 'stringArray', description: 'Set custom DNS servers' },
  { name: 'dns-option', kind: 'stringArray', description: 'Set DNS options' },
  { name: 'dns-search', kind: 'stringArray', description: 'Set custom DNS search domains' },
  { name: 'expose', kind: 'stringArray', description: 'Expose a port or a range of ports' },
  { name: 'oom-score-adj', kind: 'int', description: "Tune host's OOM preferences (-1000 to 1000)" },
  { name: 'platform', kind: 'string', description: 'Set platform if server is multi-platform capable' },
  { name: 'privileged', kind: 'bool', description: 'Give extended privileges to this container' },
  {
    name: 'publish',
    short: 'p',
    kind: 'stringArray',
    description: "Publish a container's port(s) to the host",
  },
  { name: 'publish-all', short: 'P', kind: 'bool', description: 'Publish all exposed ports to random ports' },
  {
    name: 'pull',
    kind: 'string',
    default: 'missing',
    description: 'Pull image before creating ("always", "missing", "never")',
  },
  { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress the pull output' },
  { name: 'pids-limit', kind: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'read-only', kind: 'bool', description: "Mount the container's root filesystem as read only" },
  {
    name: 'restart',
    kind: 'string',
    default: 'no',
    description: 'Restart policy to apply when a container exits',
  },
  {
    name: 'rm',
    kind: 'bool',
    description: 'Automatically remove the container and its associated anonymous volumes when it exits',
  },
  { name: 'runtime', kind: 'string', description: 'Runtime to use for this container' },
  { name: 'security-opt', kind: 'stringArray', description: 'Security Options' },
  { name: 'shm-size', kind: 'string', description: 'Size of /dev/shm', valueName: 'bytes' },
  { name: 'stop-signal', kind: 'string', description: 'Signal to stop the container' },
  { name: 'stop-timeout', kind: 'int', description: 'Timeout (in seconds) to stop a container' },
  { name: 'tmpfs', kind: 'stringArray', description: 'Mount a tmpfs directory' },
  { name: 'tty', short: 't', kind: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'ulimit', kind: 'stringArray', description: 'Ulimit options', valueName: 'ulimit' },
  {
    name: 'user',
    short: 'u',
    kind: 'string',
    description: 'Username or UID (format: <name|uid>[:<group|gid>])',
  },
  { name: 'volume', short: 'v', kind: 'stringArray', description: 'Bind mount a volume' },
  { name: 'volumes-from', kind: 'stringArray', description: 'Mount volumes from the specified container(s)' },
  { name: 'workdir', short: 'w', kind: 'string', description: 'Working directory inside the container' },
];

/** KEY=VALUE lines; `#` comments and blank lines skipped; a bare KEY takes the caller's value. */
export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BerthError(
      `open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '').replace(/\r$/, '');
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq === 0) throw new InvalidArgumentError(`invalid environment variable: ${line}`);
    if (eq < 0) {
      const v = process.env[line.trim()];
      if (v !== undefined) out.push(`${line.trim()}=${v}`);
      continue;
    }
    out.push(line);
  }
  return out;
}

export function parseRestart(s: string): RestartPolicy {
  const [name = '', count] = s.split(':');
  if (name === '' || name === 'no') {
    if (count !== undefined)
      throw new InvalidArgumentError(
        `invalid restart policy format: maximum retry count cannot be used with restart policy '${name}'`,
      );
    return { name: 'no', maximumRetryCount: 0 };
  }
  if (name !== 'always' && name !== 'unless-stopped' && name !== 'on-failure') {
    throw new InvalidArgumentError(
      `invalid restart policy format: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
    );
  }
  if (count !== undefined && name !== 'on-failure') {
    throw new InvalidArgumentError(
      `invalid restart policy format: maximum retry count can only be used with 'on-failure'`,
    );
  }
  const n = count === undefined ? 0 : Number(count);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`invalid restart policy format: maximum retry count must be an integer`);
  return { name, maximumRetryCount: n };
}

export function parseCpus(s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0 || s.trim() === '')
    throw new InvalidArgumentError(
      `invalid argument "${s}" for "--cpus" flag: failed to parse ${s} as a rational number`,
    );
  return Math.round(n * 1e9);
}

function parseTmpfs(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of list) {
    const i = t.indexOf(':');
    const path = i < 0 ? t : t.slice(0, i);
    if (!path.startsWith('/'))
      throw new InvalidArgumentError(`invalid mount path ${path}: it must be absolute`);
    out[path] = i < 0 ? '' : t.slice(i + 1);
  }
  return out;
}

function parseLogOpts(list: string[], driver: string | undefined): HostConfig['log'] {
  if (driver && !['k8s-file', 'json-file', 'local'].includes(driver)) {
    throw new InvalidArgumentError(
      `logging driver "${driver}" is not supported: use json-file, local or k8s-file`,
    );
  }
  const log: HostConfig['log'] = { type: 'k8s-file', maxSize: 10 * 1024 * 1024, maxFile: 1 };
  for (const o of list) {
    const [k, v = ''] = o.split('=');
    if (k === 'max-size') log.maxSize = v === '-1' ? 0 : parseBytes(v);
    else if (k === 'max-file') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`invalid value for max-file: ${v}`);
      log.maxFile = n;
    } else if (k === 'mode' || k === 'compress' || k === 'labels' || k === 'env' || k === 'tag') {
      // accepted for compatibility; k8s-file has nothing to set
    } else throw new InvalidArgumentError(`unknown log opt '${k}' for k8s-file log driver`);
  }
  return log;
}

function labelsFrom(p: ParsedArgs, spec: CommandSpec): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (l: string) => {
    const eq = l.indexOf('=');
    if (eq === 0) throw new InvalidArgumentError(`invalid label '${l}': empty name`);
    if (eq < 0) out[l] = '';
    else out[l.slice(0, eq)] = l.slice(eq + 1);
  };
  for (const f of flagStrings(p, spec, 'label-file')) {
    for (const line of readFileSync(f, 'utf8').split('\n'))
      if (line.trim() && !line.startsWith('#')) add(line.trim());
  }
  for (const l of flagStrings(p, spec, 'label')) add(l);
  return out;
}

/** --network (repeatable), --ip, --network-alias, -p, -P and the DNS flags, as docker reads them. */
function networking(p: ParsedArgs, spec: CommandSpec): Partial<HostConfig> {
  const given = [...flagStrings(p, spec, 'net'), ...flagStrings(p, spec, 'network')].map((n) =>
    n === 'default' ? 'bridge' : n,
  );
  const names = given.length ? [...new Set(given)] : ['bridge'];
  const first = names[0]!;
  const special = first === 'host' || first === 'none' || first.startsWith('container:');
  if (special && names.length > 1)
    throw new InvalidArgumentError(
      `conflicting options: cannot attach both user-defined and non-user-defined network-modes`,
    );
  const ip = flagString(p, spec, 'ip');
  const aliases = flagStrings(p, spec, 'network-alias');
  if ((ip || aliases.length) && (special || first === 'bridge'))
    throw new InvalidArgumentError(
      ip
        ? 'user specified IP address is supported on user defined networks only'
        : 'network-scoped alias is supported only for containers in user defined networks',
    );
  const portBindings: Record<string, PortBinding[]> = {};
  for (const value of flagStrings(p, spec, 'publish'))
    for (const [key, b] of parsePublish(value)) portBindings[key] = [...(portBindings[key] ?? []), b];
  const out: Partial<HostConfig> = {
    networkMode: first,
    portBindings,
    publishAll: flagBool(p, spec, 'publish-all'),
    dns: flagStrings(p, spec, 'dns'),
    dnsSearch: flagStrings(p, spec, 'dns-search'),
    dnsOptions: flagStrings(p, spec, 'dns-option'),
  };
  if (!special)
    out.networks = Object.fromEntries(
      names.map((n, i) => [n, { aliases: i === 0 ? aliases : [], ipv4Address: i === 0 ? (ip ?? '') : '' }]),
    );
  return out;
}

/** A pflag Duration flag: Go's duration syntax, in nanoseconds; undefined when not given. */
function flagDurationNs(p: ParsedArgs, spec: CommandSpec, name: string): number | undefined {
  const v = flagString(p, spec, name);
  if (v === undefined) return undefined;
  try {
    return durationNs(v);
  } catch (err) {
    throw new InvalidArgumentError(`invalid argument "${v}" for "--${name}" flag: ${(err as Error).message}`);
  }
}

/** --health-* and --no-healthcheck, as the docker CLI turns them into Config.Healthcheck. */
function healthcheckFlags(p: ParsedArgs, spec: CommandSpec): HealthConfig | undefined {
  return healthFromFlags({
    cmd: flagString(p, spec, 'health-cmd'),
    interval: flagDurationNs(p, spec, 'health-interval'),
    timeout: flagDurationNs(p, spec, 'health-timeout'),
    startPeriod: flagDurationNs(p, spec, 'health-start-period'),
    startInterval: flagDurationNs(p, spec, 'health-start-interval'),
    retries: flagInt(p, spec, 'health-retries'),
    none: flagBool(p, spec, 'no-healthcheck'),
  });
}

export interface ParsedCreate {
  create: CreateOptions;
  pull: PullPolicy;
  platform?: string;
  quiet: boolean;
  detach: boolean;
  attach: string[];
  cidfile?: string;
}

/** Turns run/create flags and positionals (IMAGE [COMMAND] [ARG...]) into engine options. */
export function createOptionsFrom(p: ParsedArgs, spec: CommandSpec): ParsedCreate {
  const [image, ...cmd] = p.args;
  if (!image) throw new InvalidArgumentError('an image name is required');
  const pull = (flagString(p, spec, 'pull') ?? 'missing') as PullPolicy;
  if (!['missing', 'never', 'always'].includes(pull)) {
    throw new InvalidArgumentError(
      `invalid pull option: '${pull}': must be one of "always", "missing" or "never"`,
    );
  }
  const env = [...flagStrings(p, spec, 'env-file').flatMap(readEnvFile), ...flagStrings(p, spec, 'env')];
  const entrypoint = flagString(p, spec, 'entrypoint');
  const memory = flagString(p, spec, 'memory');
  const swap = flagString(p, spec, 'memory-swap');
  const shm = flagString(p, spec, 'shm-size');
  const cpus = flagString(p, spec, 'cpus');
  const stopTimeout = flagInt(p, spec, 'stop-timeout');
  const autoRemove = flagBool(p, spec, 'rm');
  const attach = flagStrings(p, spec, 'attach').map((a) => a.toLowerCase());
  for (const a of attach) {
    if (!['stdin', 'stdout', 'stderr'].includes(a))
      throw new InvalidArgumentError(
        `invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`,
      );
  }
  const host: Partial<HostConfig> = {
    mounts: [
      ...flagStrings(p, spec, 'volume').map(parseVolumeFlag),
      ...flagStrings(p, spec, 'mount').map(parseMountFlag),
    ],
    autoRemove,
    readonlyRootfs: flagBool(p, spec, 'read-only'),
    tmpfs: parseTmpfs(flagStrings(p, spec, 'tmpfs')),
    memory: memory ? parseBytes(memory) : 0,
    memorySwap: swap ? (swap === '-1' ? -1 : parseBytes(swap)) : 0,
    nanoCpus: cpus ? parseCpus(cpus) : 0,
    cpuShares: flagInt(p, spec, 'cpu-shares') ?? 0,
    pidsLimit: flagInt(p, spec, 'pids-limit') ?? 0,
    restartPolicy: parseRestart(flagString(p, spec, 'restart') ?? 'no'),
    capAdd: flagStrings(p, spec, 'cap-add'),
    capDrop: flagStrings(p, spec, 'cap-drop'),
    privileged: flagBool(p, spec, 'privileged'),
    securityOpt: flagStrings(p, spec, 'security-opt'),
    ulimits: flagStrings(p, spec, 'ulimit').map(parseUlimit),
    init: flagBool(p, spec, 'init'),
    ...networking(p, spec),
    runtime: flagString(p, spec, 'runtime') ?? '',
    log: parseLogOpts(flagStrings(p, spec, 'log-opt'), flagString(p, spec, 'log-driver')),
    oomScoreAdj: flagInt(p, spec, 'oom-score-adj') ?? 0,
    extraHosts: flagStrings(p, spec, 'add-host').map((h) => {
      const i = h.indexOf(':');
      if (i <= 0 || i === h.length - 1)
        throw new InvalidArgumentError(
          `invalid argument "${h}" for "--add-host" flag: bad format for add-host: "${h}"`,
        );
      return h;
    }),
  };
  if (shm) host.shmSize = parseBytes(shm);
  for (const o of host.securityOpt ?? []) {
    if (
      !/^(no-new-privileges(:(true|false)|=(true|false))?|seccomp[=:]unconfined|apparmor[=:].*|label[=:].*)$/.test(
        o,
      )
    ) {
      throw new InvalidArgumentError(`invalid --security-opt: "${o}"`);
    }
  }
  const interactive = flagBool(p, spec, 'interactive');
  return {
    create: {
      image,
      name: flagString(p, spec, 'name'),
      cmd: cmd.length ? cmd : undefined,
      entrypoint: entrypoint === undefined ? undefined : entrypoint === '' ? [] : [entrypoint],
      env,
      workingDir: flagString(p, spec, 'workdir'),
      user: flagString(p, spec, 'user'),
      hostname: flagString(p, spec, 'hostname'),
      domainname: flagString(p, spec, 'domainname'),
      labels: labelsFrom(p, spec),
      tty: flagBool(p, spec, 'tty'),
      openStdin: interactive,
      stdinOnce: interactive,
      stopSignal: flagString(p, spec, 'stop-signal'),
      stopTimeout,
      exposedPorts: flagStrings(p, spec, 'expose').flatMap((e) => {
        const [ports = '', proto = 'tcp'] = e.split('/');
        return parsePublish(`${ports}/${proto}`).map(([key]) => key);
      }),
      host,
      volumesFrom: flagStrings(p, spec, 'volumes-from'),
      healthcheck: healthcheckFlags(p, spec),
    },
    pull,
    platform: flagString(p, spec, 'platform'),
    quiet: flagBool(p, spec, 'quiet'),
    detach: spec.flags.some((f) => f.name === 'detach') && flagBool(p, spec, 'detach'),
    attach,
    cidfile: flagString(p, spec, 'cidfile'),
  };
}
