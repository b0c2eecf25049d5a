import type { Engine } from '../engine/engine.ts';
import { networkLabels, volumeLabels } from './labels.ts';
import type { Project } from './model.ts';

/** Creates a project network through the engine, with compose's labels. */
export async function createNetwork(engine: Engine, project: Project, key: string): Promise<void> {
  const n = project.networks[key]!;
  const cfg = n.ipam?.config?.[0];
  await engine.networkCreate({
    name: n.name,
    driver: n.driver,
    subnet: cfg?.subnet,
    gateway: cfg?.gateway,
    ipRange: cfg?.ip_range,
    internal: !!n.internal,
    labels: networkLabels(project, key, n.labels),
    options: n.driver_opts ?? {},
  });
}

export async function createVolume(engine: Engine, project: Project, key: string): Promise<void> {
  const v = project.volumes[key]!;
  await engine.volumeCreate(v.name, {
    labels: volumeLabels(project, key, v.labels),
    options: v.driver_opts ?? {},
  });
}
