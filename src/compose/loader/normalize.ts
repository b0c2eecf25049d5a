import { existsSync, readFileSync } from 'node:fs';
import { BerthError } from '../../util/errors.ts';
import type { Project, ServiceConfig } from '../model.ts';
import type { Dict } from './canonical.ts';
import { parseDotenv } from './dotenv.ts';

/**
 * Turns the merged canonical data into the typed `Project`: service environments resolved (env
 * files, then `environment`, values without `=` taken from the project environment), default
 * network added, engine-side names of top-level resources set, implicit dependencies (links,
 * `network_mode: service:x`, volumes_from) added, profiles applied, references checked.
 */

const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface FinalizeInput {
  name: string;
  workingDir: string;
  configFiles: string[];
  envFiles: string[];
  environment: Record<string, string>;
  profiles: string[];
  data: Dict;
  warn: (msg: string) => void;
}

function invalid(msg: string): BerthError {
  return new BerthError(`${msg}: invalid compose project`, 1, 'invalid');
}

function resolveEnvironment(
  svc: Dict,
  env: Record<string, string>,
  name: string,
): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const f of (svc.env_file as Dict[] | undefined) ?? []) {
    const path = String(f.path);
    if (!existsSync(path)) {
      if (f.required === false) continue;
      throw new BerthError(`env file ${path} not found (service "${name}")`, 1, 'notFound');
    }
    const vars: Record<string, string> = {};
    if (f.format === 'raw') {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
        const eq = line.indexOf('=');
        if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1);
      }
    } else {
      parseDotenv(
        readFileSync(path, 'utf8'),
        vars,
        (k) => {
          const v = out[k];
          return typeof v === 'string' ? v : env[k];
        },
        path,
      );
    }
    Object.assign(out, vars);
  }
  for (const [k, v] of Object.entries((svc.environment as Record<string, string | null>) ?? {})) {
    if (v !== null) out[k] = v;
    else if (env[k] !== undefined) out[k] = env[k] as string;
    else out[k] = null;
  }
  return out;
}

function resourceNames(kind: string, data: Dict, project: string): Record<string, Dict> {
  const out: Record<string, Dict> = {};
  for (const [key, r] of Object.entries((data[kind] as Dict) ?? {})) {
    const d: Dict = isDict(r) ? { ...r } : {};
    if (d.name === undefined || d.name === null || d.name === '')
      d.name = d.external === true ? key : `${project}_${key}`;
    else d.name = String(d.name);
    out[key] = d;
  }
  return out;
}

function addDependency(deps: Dict, name: string, restart: boolean): void {
  if (!(name in deps)) deps[name] = { condition: 'service_started', restart, required: true };
}

export function finalizeProject(input: FinalizeInput): Project {
  const { data, environment: env, name: projectName } = input;
  const activeProfiles = new Set(input.profiles);
  const services: Record<string, ServiceConfig> = {};
  const disabled: Record<string, ServiceConfig> = {};
  let usesDefaultNetwork = false;

  for (const [name, raw] of Object.entries((data.services as Dict) ?? {})) {
    const svc: Dict = isDict(raw) ? { ...raw } : {};
    delete svc.extends;
    const out: Dict = { name };
    const extensions: Dict = {};
    for (const [k, v] of Object.entries(svc)) {
      if (k.startsWith('x-')) extensions[k] = v;
      else out[k] = v;
    }
    if (Object.keys(extensions).length) out.extensions = extensions;
    out.environment = resolveEnvironment(svc, env, name);
    if (isDict(out.build) && (out.build.context === undefined || out.build.context === null))
      out.build = { ...out.build, context: input.workingDir };
    if (isDict(out.build) && isDict(out.build.args)) {
      const args: Record<string, string> = {};
      for (const [k, v] of Object.entries(out.build.args)) {
        if (v !== null) args[k] = String(v);
        else if (env[k] !== undefined) args[k] = env[k] as string;
      }
      out.build = { ...out.build, args };
    }
    for (const k of ['ports', 'expose', 'volumes']) if (!Array.isArray(out[k])) out[k] = [];
    if (!isDict(out.labels)) out.labels = {};
    if (Array.isArray(out.label_file)) {
      // label files first, `labels:` wins
      const fromFiles: Record<string, string> = {};
      for (const f of out.label_file as string[]) {
        if (!existsSync(f))
          throw new BerthError(`label file ${f} not found (service "${name}")`, 1, 'notFound');
        parseDotenv(readFileSync(f, 'utf8'), fromFiles, () => undefined, f);
      }
      out.labels = { ...fromFiles, ...(out.labels as Dict) };
    }
    const deps: Dict = isDict(out.depends_on) ? { ...out.depends_on } : {};
    for (const link of (out.links as string[] | undefined) ?? [])
      addDependency(deps, link.split(':')[0] as string, true);
    for (const ns of ['network_mode', 'ipc', 'pid']) {
      const v = out[ns];
      if (typeof v === 'string' && v.startsWith('service:'))
        addDependency(deps, v.slice('service:'.length), true);
    }
    for (const vf of (out.volumes_from as string[] | undefined) ?? [])
      if (!vf.startsWith('container:')) addDependency(deps, vf.split(':')[0] as string, false);
    out.depends_on = deps;
    if (out.network_mode === undefined) {
      const nets = isDict(out.networks) ? out.networks : {};
      out.networks = Object.keys(nets).length ? nets : { default: null };
      if ('default' in (out.networks as Dict)) usesDefaultNetwork = true;
    } else delete out.networks;
    const svcProfiles = (out.profiles as string[] | undefined) ?? [];
    const enabled =
      svcProfiles.length === 0 || activeProfiles.has('*') || svcProfiles.some((p) => activeProfiles.has(p));
    (enabled ? services : disabled)[name] = out as unknown as ServiceConfig;
  }

  const networksData: Dict = isDict(data.networks) ? { ...data.networks } : {};
  if (usesDefaultNetwork && !('default' in networksData)) networksData.default = {};
  const project: Project = {
    name: projectName,
    working_dir: input.workingDir,
    services,
    networks: resourceNames(
      'networks',
      { networks: networksData },
      projectName,
    ) as unknown as Project['networks'],
    volumes: resourceNames('volumes', data, projectName) as unknown as Project['volumes'],
    secrets: resourceNames('secrets', data, projectName) as unknown as Project['secrets'],
    configs: resourceNames('configs', data, projectName) as unknown as Project['configs'],
    config_files: input.configFiles,
    env_files: input.envFiles,
    environment: env,
    disabled_services: disabled,
    profiles: input.profiles,
  };
  const extensions: Dict = {};
  for (const [k, v] of Object.entries(data)) if (k.startsWith('x-')) extensions[k] = v;
  if (Object.keys(extensions).length) project.extensions = extensions;
  checkConsistency(project, input.warn);
  return project;
}

function checkConsistency(p: Project, warn: (msg: string) => void): void {
  for (const [name, s] of Object.entries(p.services)) {
    if (s.image === undefined && s.build === undefined)
      throw invalid(`service "${name}" has neither an image nor a build context specified`);
    for (const [dep, d] of Object.entries(s.depends_on)) {
      if (dep in p.services) continue;
      if (d.required) throw invalid(`service "${name}" depends on undefined service "${dep}"`);
      if (!(dep in p.disabled_services))
        warn(`service "${name}" depends on undefined service "${dep}" (not required, ignored)`);
    }
    for (const net of Object.keys(s.networks ?? {}))
      if (!(net in p.networks)) throw invalid(`service "${name}" refers to undefined network ${net}`);
    for (const v of s.volumes)
      if (v.type === 'volume' && v.source !== undefined && v.source !== '' && !(v.source in p.volumes))
        throw invalid(`service "${name}" refers to undefined volume ${v.source}`);
    for (const sec of s.secrets ?? [])
      if (!(sec.source in p.secrets))
        throw invalid(`service "${name}" refers to undefined secret ${sec.source}`);
    for (const c of s.configs ?? [])
      if (!(c.source in p.configs)) throw invalid(`service "${name}" refers to undefined config ${c.source}`);
    const nm = s.network_mode;
    if (nm?.startsWith('service:')) {
      const ref = nm.slice('service:'.length);
      if (!(ref in p.services) && !(ref in p.disabled_services))
        throw invalid(`service "${name}" refers to undefined service "${ref}" in network_mode`);
    }
  }
}

/**
 * Enables services a command names explicitly, as docker compose does: their profiles become
 * active (which may enable more services), and every enabled service's required dependencies
 * must then be enabled too. Unknown names are an error.
 */
export function withServicesEnabled(project: Project, names: string[]): Project {
  const profiles = new Set(project.profiles);
  const all = { ...project.disabled_services, ...project.services };
  for (const n of names) {
    const s = all[n];
    if (!s) throw new BerthError(`no such service: ${n}`, 1, 'notFound');
    for (const pr of s.profiles ?? []) profiles.add(pr);
  }
  const services: Record<string, ServiceConfig> = {};
  const disabled: Record<string, ServiceConfig> = {};
  for (const [n, s] of Object.entries(all)) {
    const sp = s.profiles ?? [];
    const on = names.includes(n) || sp.length === 0 || profiles.has('*') || sp.some((pr) => profiles.has(pr));
    (on ? services : disabled)[n] = s;
  }
  const result: Project = { ...project, services, disabled_services: disabled, profiles: [...profiles] };
  checkConsistency(result, () => {});
  return result;
}
