import type { ContainerSummary } from '../engine/types.ts';
import { BerthError } from '../util/errors.ts';
import { containerName, replicas } from './convert.ts';
import { dependencyOrder } from './graph.ts';
import { serviceHash } from './hash.ts';
import { L } from './labels.ts';
import type { Project, ServiceConfig } from './model.ts';

/** A project container as its labels describe it. */
export interface Observed {
  id: string;
  name: string;
  service: string;
  number: number;
  hash: string;
  imageId: string;
  state: string;
  oneoff: boolean;
  /** Services it depends on, from its depends_on label. */
  dependsOn: string[];
}

export function observe(c: ContainerSummary): Observed {
  return {
    id: c.Id,
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    service: c.Labels[L.service] ?? '',
    number: Number(c.Labels[L.number] ?? 0),
    hash: c.Labels[L.configHash] ?? '',
    imageId: c.Labels[L.image] ?? '',
    state: c.State,
    oneoff: c.Labels[L.oneoff] === 'True',
    dependsOn: (c.Labels[L.dependsOn] ?? '')
      .split(',')
      .map((d) => d.split(':')[0] ?? '')
      .filter(Boolean),
  };
}

/** One engine call. Containers made by the same plan are named, existing ones referred to by ID. */
export type Step =
  | { op: 'network-create'; key: string; name: string }
  | { op: 'volume-create'; key: string; name: string }
  | { op: 'create'; service: string; number: number; name: string; replace?: string }
  | { op: 'start'; service: string; ref: string }
  | { op: 'stop'; service: string; ref: string }
  | { op: 'remove'; service: string; ref: string }
  | { op: 'restart'; service: string; ref: string };

export interface ServicePlan {
  service: string;
  /** Services (in this plan) whose conditions must hold before these steps run. */
  after: string[];
  steps: Step[];
  /** The containers this service will have once the steps ran, by name. */
  containers: string[];
}

export interface Plan {
  /** Networks and volumes first. */
  resources: Step[];
  services: ServicePlan[];
  /** Orphan removal, last. */
  cleanup: Step[];
}

export interface PlanOptions {
  forceRecreate?: boolean;
  noRecreate?: boolean;
  removeOrphans?: boolean;
  /** false: create only (`compose create`, `up --no-start`). */
  start?: boolean;
  /** `--scale svc=N`. */
  scale?: Record<string, number>;
  /** Image ID per service, to recreate containers whose image changed (as docker compose does). */
  imageIds?: Record<string, string>;
  existingNetworks?: Set<string>;
  existingVolumes?: Set<string>;
}

/** The whole plan as one list of engine calls, in the order a sequential run would make them. */
export function flatten(p: Plan): Step[] {
  return [...p.resources, ...p.services.flatMap((s) => s.steps), ...p.cleanup];
}

/**
 * Diffs the desired services against the project's observed containers into single engine calls,
 * following docker compose's convergence: a container is recreated when its config hash or image
 * changed (or with --force-recreate), started when stopped, and replicas are added or removed to
 * match the scale. A recreated service restarts the services that depend on it with `restart: true`.
 */
export function planUp(
  project: Project,
  selected: ServiceConfig[],
  observed: Observed[],
  o: PlanOptions = {},
): Plan {
  const start = o.start ?? true;
  const resources: Step[] = [];
  const usedNets = new Set<string>();
  const usedVols = new Set<string>();
  for (const s of selected) {
    if (!s.network_mode) for (const k of Object.keys(s.networks ?? { default: null })) usedNets.add(k);
    for (const v of s.volumes)
      if (v.type === 'volume' && v.source && project.volumes[v.source]) usedVols.add(v.source);
  }
  for (const key of usedNets) {
    const n = project.networks[key]!;
    if (o.existingNetworks?.has(n.name)) continue;
    if (n.external)
      throw new BerthError(`network ${n.name} declared as external, but could not be found`, 1, 'notFound');
    resources.push({ op: 'network-create', key, name: n.name });
  }
  for (const key of usedVols) {
    const v = project.volumes[key]!;
    if (o.existingVolumes?.has(v.name)) continue;
    if (v.external) throw new BerthError(`external volume "${v.name}" not found`, 1, 'notFound');
    resources.push({ op: 'volume-create', key, name: v.name });
  }

  const ordered = dependencyOrder(selected);
  const names = new Set(ordered.map((s) => s.name));
  const recreated = new Set<string>();
  const services: ServicePlan[] = [];
  for (const s of ordered) {
    const steps: Step[] = [];
    const want = o.scale?.[s.name] ?? replicas(s);
    if (want > 1 && s.container_name)
      throw new BerthError(
        `service "${s.name}" has container_name "${s.container_name}": it cannot be scaled to ${want} containers`,
      );
    const hash = serviceHash(s);
    const mine = observed
      .filter((c) => c.service === s.name && !c.oneoff)
      .sort((a, b) => a.number - b.number || a.name.localeCompare(b.name));
    const keep = mine.slice(0, want);
    for (const c of mine.slice(want)) {
      if (c.state === 'running' || c.state === 'paused')
        steps.push({ op: 'stop', service: s.name, ref: c.id });
      steps.push({ op: 'remove', service: s.name, ref: c.id });
    }
    const containers: string[] = [];
    const restartDep = Object.entries(s.depends_on).some(([d, dep]) => dep.restart && recreated.has(d));
    const used = new Set(keep.map((c) => c.number));
    for (const c of keep) {
      const imageChanged = !!o.imageIds?.[s.name] && !!c.imageId && c.imageId !== o.imageIds[s.name];
      const diverged = c.hash !== hash || imageChanged;
      const recreate = o.forceRecreate || (!o.noRecreate && diverged);
      const name = containerName(project, s, c.number);
      if (recreate) {
        recreated.add(s.name);
        if (c.state === 'running' || c.state === 'paused' || c.state === 'restarting')
          steps.push({ op: 'stop', service: s.name, ref: c.id });
        steps.push({ op: 'remove', service: s.name, ref: c.id });
        steps.push({ op: 'create', service: s.name, number: c.number, name, replace: c.id });
        if (start) steps.push({ op: 'start', service: s.name, ref: name });
        containers.push(name);
        continue;
      }
      containers.push(c.name);
      if (!start) continue;
      if (c.state === 'running' && restartDep) steps.push({ op: 'restart', service: s.name, ref: c.id });
      else if (c.state !== 'running' && c.state !== 'restarting')
        steps.push({ op: 'start', service: s.name, ref: c.id });
    }
    for (let n = 1; containers.length < want; n++) {
      if (used.has(n)) continue;
      used.add(n);
      const name = containerName(project, s, n);
      steps.push({ op: 'create', service: s.name, number: n, name });
      if (start) steps.push({ op: 'start', service: s.name, ref: name });
      containers.push(name);
    }
    services.push({
      service: s.name,
      after: Object.keys(s.depends_on).filter((d) => names.has(d)),
      steps,
      containers,
    });
  }
  const cleanup: Step[] = [];
  if (o.removeOrphans) {
    const known = new Set([...Object.keys(project.services), ...Object.keys(project.disabled_services)]);
    for (const c of observed) {
      if (c.oneoff || known.has(c.service)) continue;
      if (c.state === 'running' || c.state === 'paused')
        cleanup.push({ op: 'stop', service: c.service, ref: c.id });
      cleanup.push({ op: 'remove', service: c.service, ref: c.id });
    }
  }
  return { resources, services, cleanup };
}

/** Orphans: project containers whose service is no longer in the file. */
export function orphans(project: Project, observed: Observed[]): Observed[] {
  const known = new Set([...Object.keys(project.services), ...Object.keys(project.disabled_services)]);
  return observed.filter((c) => !c.oneoff && !known.has(c.service));
}

/**
 * Containers grouped for stopping: dependents before what they depend on (docker compose stops in
 * reverse dependency order), read from the containers' depends_on labels so it works without a file.
 */
export function stopWaves(list: Observed[]): Observed[][] {
  const deps = new Map<string, Set<string>>();
  for (const c of list) {
    const set = deps.get(c.service) ?? new Set<string>();
    for (const d of c.dependsOn) set.add(d);
    deps.set(c.service, set);
  }
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (s: string): number => {
    const known = depth.get(s);
    if (known !== undefined) return known;
    if (visiting.has(s)) return 0;
    visiting.add(s);
    let d = 0;
    for (const x of deps.get(s) ?? []) if (deps.has(x)) d = Math.max(d, depthOf(x) + 1);
    visiting.delete(s);
    depth.set(s, d);
    return d;
  };
  const waves = new Map<number, Observed[]>();
  for (const c of list) {
    const d = depthOf(c.service);
    waves.set(d, [...(waves.get(d) ?? []), c]);
  }
  return [...waves.entries()].sort(([a], [b]) => b - a).map(([, cs]) => cs);
}
