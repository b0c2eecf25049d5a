import type { BuildOptions } from '../build/types.ts';
import type { Engine } from '../engine/engine.ts';
import type { ContainerSummary } from '../engine/types.ts';
import { BerthError } from '../util/errors.ts';
import { createOptions, pullPolicy, serviceImage } from './convert.ts';
import { dependencyOrder } from './graph.ts';
import { serviceHash } from './hash.ts';
import { containerLabels, L, projectFilter } from './labels.ts';
import type { DependsOnCondition, Project, ServiceConfig } from './model.ts';
import { type Observed, observe, type Plan, type PlanOptions, planUp, type Step, stopWaves } from './plan.ts';
import { createNetwork, createVolume } from './resources.ts';

/** What compose operations run with: the engine, the project and where progress lines go. */
export interface ComposeRun {
  engine: Engine;
  project: Project;
  /** Progress (` Container x  Started`), as docker compose writes it to stderr. */
  err: NodeJS.WritableStream;
}

export function status(r: ComposeRun, kind: string, name: string, what: string): void {
  r.err.write(` ${kind} ${name}  ${what}\n`);
}

export async function projectContainers(
  engine: Engine,
  project: string,
  o: { all?: boolean; service?: string; oneoff?: boolean } = {},
): Promise<ContainerSummary[]> {
  return engine.listContainers({
    all: o.all ?? true,
    size: false,
    filters: projectFilter(project, o.service, o.oneoff),
  });
}

export async function observed(engine: Engine, project: string): Promise<Observed[]> {
  return (await projectContainers(engine, project)).map(observe);
}

async function imageId(engine: Engine, ref: string): Promise<string | undefined> {
  try {
    return (await engine.inspectImage(ref)).Id;
  } catch {
    return undefined;
  }
}

export interface ImageOptions {
  /** 'always': `--build`; 'never': `--no-build`; 'auto': build only when the image is missing. */
  build: 'auto' | 'always' | 'never';
  /** `--pull` for up/create; undefined: each service's pull_policy. */
  pull?: string;
  noCache?: boolean;
  quiet?: boolean;
}

/** Builds one `build:` service through Engine.build; returns the image ID. */
export async function buildService(
  r: ComposeRun,
  s: ServiceConfig,
  o: { noCache?: boolean; pull?: boolean; quiet?: boolean },
): Promise<string> {
  const b = s.build;
  if (!b) throw new BerthError(`service "${s.name}" has no build section`);
  const tag = serviceImage(r.project, s);
  const args: Record<string, string> = {};
  for (const [k, v] of Object.entries(b.args ?? {})) if (v !== null) args[k] = v;
  const opts: BuildOptions = {
    context: { dir: b.context },
    dockerfile:
      b.dockerfile_inline !== undefined
        ? { text: b.dockerfile_inline }
        : { path: b.dockerfile ?? 'Dockerfile' },
    tags: [tag, ...(b.tags ?? [])],
    buildArgs: args,
    target: b.target,
    labels: b.labels ?? {},
    noCache: o.noCache ?? !!b.no_cache,
    pull: o.pull ?? !!b.pull,
    secrets: [],
    network: b.network,
    platform: b.platforms?.[0],
    outputs: [{ type: 'image' }],
    extraHosts: b.extra_hosts,
  };
  status(r, 'Image', tag, 'Building');
  const res = await r.engine.build(opts, (e) => {
    if (o.quiet) return;
    if (e.type === 'log') r.err.write(e.data);
    else if (e.type === 'start') r.err.write(`#${e.vertex.id} ${e.vertex.name}\n`);
    else if (e.type === 'done' && e.error) r.err.write(`#${e.vertex.id} ERROR: ${e.error}\n`);
    else if (e.type === 'warning') r.err.write(`WARNING: ${e.message}\n`);
  });
  for (const w of res.warnings) r.err.write(`WARNING: ${w}\n`);
  status(r, 'Image', tag, 'Built');
  return res.imageId;
}

/**
 * Makes sure every service has its image (building `build:` services whose image is missing, or
 * all of them with `--build`; pulling per pull policy otherwise) and returns the image IDs.
 */
export async function ensureImages(
  r: ComposeRun,
  services: ServiceConfig[],
  o: ImageOptions,
): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const s of services) {
    const ref = serviceImage(r.project, s);
    let id = await imageId(r.engine, ref);
    const policy = o.pull ?? s.pull_policy;
    if (s.build && o.build !== 'never' && (o.build === 'always' || !id || policy === 'build')) {
      id = await buildService(r, s, { noCache: o.noCache, quiet: o.quiet });
    } else if (!id || policy === 'always') {
      if (s.build && !id && o.build === 'never')
        throw new BerthError(
          `service "${s.name}" has no image ${ref} and --no-build was given: build it first`,
        );
      if (!id && pullPolicy(s, o.pull) === 'never')
        throw new BerthError(
          `No such image: ${ref} (service "${s.name}" has pull_policy never)`,
          1,
          'notFound',
        );
      status(r, 'Image', ref, 'Pulling');
      await r.engine.pullImage(ref, { allTags: false }, () => {});
      status(r, 'Image', ref, 'Pulled');
      id = await imageId(r.engine, ref);
    }
    if (id) ids[s.name] = id;
  }
  return ids;
}

export interface ConvergeOptions extends PlanOptions {
  timeoutSec?: number;
}

/** Plans and applies `up`/`create`: networks, volumes, then services in dependency order. */
export async function converge(
  r: ComposeRun,
  services: ServiceConfig[],
  o: ConvergeOptions,
): Promise<{ plan: Plan; containers: Record<string, string[]> }> {
  const [obs, nets, vols] = await Promise.all([
    observed(r.engine, r.project.name),
    r.engine.networkList({}),
    r.engine.volumeList({}),
  ]);
  const plan = planUp(r.project, services, obs, {
    ...o,
    existingNetworks: new Set(nets.map((n) => n.Name)),
    existingVolumes: new Set(vols.map((v) => v.Name)),
  });
  for (const step of plan.resources) await applyStep(r, step, o);
  const byName = new Map(services.map((s) => [s.name, s]));
  const done = new Map<string, Promise<void>>();
  const containers: Record<string, string[]> = {};
  for (const sp of plan.services) {
    containers[sp.service] = sp.containers;
    const s = byName.get(sp.service)!;
    const deps = sp.after.map(async (d) => {
      await done.get(d);
      if (o.start === false) return;
      await waitCondition(r, d, s.depends_on[d]!.condition, containers[d] ?? []);
    });
    done.set(
      sp.service,
      Promise.all(deps).then(async () => {
        for (const step of sp.steps) await applyStep(r, step, o);
        // Left as they were: docker compose still names them.
        if (sp.steps.length === 0 && o.start !== false) {
          for (const ref of sp.containers) status(r, 'Container', await displayName(r, ref), 'Running');
        }
      }),
    );
  }
  const results = await Promise.allSettled(done.values());
  const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed) throw failed.reason;
  for (const step of plan.cleanup) await applyStep(r, step, o);
  return { plan, containers };
}

async function applyStep(r: ComposeRun, step: Step, o: ConvergeOptions): Promise<void> {
  const e = r.engine;
  switch (step.op) {
    case 'network-create':
      status(r, 'Network', step.name, 'Creating');
      await createNetwork(e, r.project, step.key);
      status(r, 'Network', step.name, 'Created');
      return;
    case 'volume-create':
      await createVolume(e, r.project, step.key);
      status(r, 'Volume', `"${step.name}"`, 'Created');
      return;
    case 'create': {
      const s = r.project.services[step.service] ?? r.project.disabled_services[step.service]!;
      const labels = containerLabels(r.project, s, {
        number: step.number,
        hash: serviceHash(s),
        oneoff: false,
        imageId: o.imageIds?.[s.name],
        replace: step.replace,
      });
      const opts = createOptions({ project: r.project, service: s, number: step.number, labels });
      status(r, 'Container', step.name, step.replace ? 'Recreate' : 'Creating');
      await e.createContainer(opts, pullPolicy(s));
      status(r, 'Container', step.name, step.replace ? 'Recreated' : 'Created');
      return;
    }
    case 'start':
      status(r, 'Container', await displayName(r, step.ref), 'Starting');
      await e.startContainer(step.ref);
      status(r, 'Container', await displayName(r, step.ref), 'Started');
      return;
    case 'stop':
      status(r, 'Container', await displayName(r, step.ref), 'Stopping');
      await e.stopContainer(step.ref, o.timeoutSec);
      status(r, 'Container', await displayName(r, step.ref), 'Stopped');
      return;
    case 'remove': {
      const name = await displayName(r, step.ref);
      await e.removeContainer(step.ref, { force: true, volumes: false });
      status(r, 'Container', name, 'Removed');
      return;
    }
    case 'restart':
      await e.restartContainer(step.ref, o.timeoutSec);
      status(r, 'Container', await displayName(r, step.ref), 'Restarted');
  }
}

const names = new Map<string, string>();

/** Container IDs print as their names, like docker compose's progress lines. */
async function displayName(r: ComposeRun, ref: string): Promise<string> {
  if (!/^[0-9a-f]{64}$/.test(ref)) return ref;
  const known = names.get(ref);
  if (known) return known;
  try {
    const c = await r.engine.inspectContainer(ref, { size: false });
    const n = String(c.Name ?? ref).replace(/^\//, '');
    names.set(ref, n);
    return n;
  } catch {
    return ref.slice(0, 12);
  }
}

function healthOf(c: Record<string, unknown>): {
  status: string;
  running: boolean;
  exitCode: number;
  health?: string;
} {
  const st = (c.State ?? {}) as {
    Status?: string;
    Running?: boolean;
    ExitCode?: number;
    Health?: { Status?: string };
  };
  return {
    status: st.Status ?? '',
    running: !!st.Running,
    exitCode: st.ExitCode ?? 0,
    health: st.Health?.Status,
  };
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Waits until a dependency's containers satisfy the condition a dependent asks for. */
export async function waitCondition(
  r: ComposeRun,
  service: string,
  cond: DependsOnCondition,
  containers: string[],
): Promise<void> {
  if (cond === 'service_started') return;
  for (const ref of containers) {
    if (cond === 'service_completed_successfully') {
      const w = await r.engine.waitContainer(ref, 'not-running');
      if (w.StatusCode !== 0)
        throw new BerthError(`service "${service}" didn't complete successfully: exit ${w.StatusCode}`);
      continue;
    }
    status(r, 'Container', ref, 'Waiting');
    for (;;) {
      const h = healthOf(await r.engine.inspectContainer(ref, { size: false }));
      if (h.health === undefined || h.health === 'none' || h.health === '')
        throw new BerthError(`dependency failed to start: container ${ref} has no healthcheck configured`);
      if (h.health === 'healthy') break;
      if (h.health === 'unhealthy')
        throw new BerthError(`dependency failed to start: container ${ref} is unhealthy`);
      if (!h.running && h.status !== 'restarting' && h.status !== 'created')
        throw new BerthError(`dependency failed to start: container ${ref} exited (${h.exitCode})`);
      await sleep(100);
    }
    status(r, 'Container', ref, 'Healthy');
  }
}

/** `up --wait`: every container running, and healthy when it has a healthcheck. */
export async function waitRunningHealthy(
  r: ComposeRun,
  containers: string[],
  timeoutSec?: number,
): Promise<void> {
  const end = timeoutSec ? Date.now() + timeoutSec * 1000 : Number.POSITIVE_INFINITY;
  await Promise.all(
    containers.map(async (ref) => {
      status(r, 'Container', ref, 'Waiting');
      for (;;) {
        const h = healthOf(await r.engine.inspectContainer(ref, { size: false }));
        if (h.health === 'unhealthy') throw new BerthError(`container ${ref} is unhealthy`);
        if (!h.running && h.status !== 'restarting')
          throw new BerthError(`container ${ref} exited (${h.exitCode})`);
        if (
          h.running &&
          (h.health === undefined || h.health === '' || h.health === 'none' || h.health === 'healthy')
        )
          break;
        if (Date.now() > end)
          throw new BerthError(`timeout waiting for container ${ref} to be running and healthy`);
        await sleep(100);
      }
      status(r, 'Container', ref, 'Healthy');
    }),
  );
}

/** Project containers of `services` (all when empty), in dependency order, dependents first when `reverse`. */
export async function serviceContainers(
  r: ComposeRun,
  services: string[],
  o: { all?: boolean; reverse?: boolean; oneoff?: boolean } = {},
): Promise<Observed[]> {
  const list = (await projectContainers(r.engine, r.project.name, { all: o.all ?? true })).map(observe);
  const wanted = list.filter(
    (c) =>
      (services.length === 0 || services.includes(c.service)) &&
      (o.oneoff === undefined || c.oneoff === o.oneoff),
  );
  const known = [...Object.values(r.project.services), ...Object.values(r.project.disabled_services)];
  const order = dependencyOrder(known).map((s) => s.name);
  const rank = (c: Observed) => {
    const i = order.indexOf(c.service);
    return i < 0 ? order.length : i;
  };
  wanted.sort((a, b) => rank(a) - rank(b) || a.number - b.number);
  if (o.reverse) wanted.reverse();
  return wanted;
}

/** `down`: containers (dependents first), then the project's networks, then volumes and images on request. */
export async function down(
  r: ComposeRun,
  o: { volumes: boolean; rmi?: 'all' | 'local'; removeOrphans: boolean; timeoutSec?: number },
): Promise<void> {
  const list = await serviceContainers(r, [], { reverse: true });
  const known = new Set([...Object.keys(r.project.services), ...Object.keys(r.project.disabled_services)]);
  const targets = list.filter((c) => known.size === 0 || known.has(c.service) || c.oneoff || o.removeOrphans);
  for (const wave of stopWaves(targets)) {
    await Promise.all(
      wave.map(async (c) => {
        if (c.state === 'running' || c.state === 'paused' || c.state === 'restarting') {
          status(r, 'Container', c.name, 'Stopping');
          await r.engine.stopContainer(c.id, o.timeoutSec);
          status(r, 'Container', c.name, 'Stopped');
        }
        await r.engine.removeContainer(c.id, { force: true, volumes: o.volumes });
        status(r, 'Container', c.name, 'Removed');
      }),
    );
  }
  for (const n of await r.engine.networkList({ label: [`${L.project}=${r.project.name}`] })) {
    const key = n.Labels[L.network] ?? '';
    if (r.project.networks[key]?.external) continue;
    status(r, 'Network', n.Name, 'Removing');
    await r.engine.networkRemove(n.Name);
    status(r, 'Network', n.Name, 'Removed');
  }
  if (o.volumes) {
    for (const v of await r.engine.volumeList({ label: [`${L.project}=${r.project.name}`] })) {
      const key = v.Labels[L.volume] ?? '';
      if (r.project.volumes[key]?.external) continue;
      await r.engine.volumeRemove(v.Name, false);
      status(r, 'Volume', v.Name, 'Removed');
    }
  }
  if (o.rmi) {
    const images = new Set<string>();
    for (const s of Object.values(r.project.services)) {
      if (o.rmi === 'local' && s.image) continue;
      images.add(serviceImage(r.project, s));
    }
    for (const img of images) {
      try {
        await r.engine.removeImage(img, { force: false, noPrune: false });
        status(r, 'Image', img, 'Removed');
      } catch (err) {
        if (!(err instanceof BerthError && err.status === 'notFound')) throw err;
      }
    }
  }
}
