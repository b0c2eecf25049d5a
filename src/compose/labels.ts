import type { Project, ServiceConfig } from './model.ts';

/** docker compose v2's labels (pkg/api/labels.go): the only place compose state lives. */
export const L = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  configHash: 'com.docker.compose.config-hash',
  number: 'com.docker.compose.container-number',
  volume: 'com.docker.compose.volume',
  network: 'com.docker.compose.network',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  envFile: 'com.docker.compose.project.environment_file',
  oneoff: 'com.docker.compose.oneoff',
  slug: 'com.docker.compose.slug',
  image: 'com.docker.compose.image',
  dependsOn: 'com.docker.compose.depends_on',
  version: 'com.docker.compose.version',
  replace: 'com.docker.compose.replace',
} as const;

/** The compose version we claim in labels; docker compose compares it only for display. */
export const COMPOSE_VERSION = '2.29.0';

/** `svc:condition:restart` entries, comma-joined, as docker compose writes them. */
export function dependsOnLabel(s: ServiceConfig): string {
  return Object.entries(s.depends_on)
    .map(([name, d]) => `${name}:${d.condition}:${d.restart}`)
    .join(',');
}

export function containerLabels(
  project: Project,
  s: ServiceConfig,
  o: { number: number; hash: string; oneoff: boolean; imageId?: string; replace?: string; slug?: string },
): Record<string, string> {
  const labels: Record<string, string> = {
    ...s.labels,
    [L.project]: project.name,
    [L.service]: s.name,
    [L.number]: String(o.number),
    [L.configHash]: o.hash,
    [L.oneoff]: o.oneoff ? 'True' : 'False',
    [L.workingDir]: project.working_dir,
    [L.configFiles]: project.config_files.join(','),
    [L.dependsOn]: dependsOnLabel(s),
    [L.version]: COMPOSE_VERSION,
  };
  if (project.env_files.length) labels[L.envFile] = project.env_files.join(',');
  if (o.imageId) labels[L.image] = o.imageId;
  if (o.replace) labels[L.replace] = o.replace;
  if (o.slug) labels[L.slug] = o.slug;
  return labels;
}

export function networkLabels(
  project: Project,
  key: string,
  extra?: Record<string, string>,
): Record<string, string> {
  return { ...extra, [L.project]: project.name, [L.network]: key, [L.version]: COMPOSE_VERSION };
}

export function volumeLabels(
  project: Project,
  key: string,
  extra?: Record<string, string>,
): Record<string, string> {
  return { ...extra, [L.project]: project.name, [L.volume]: key, [L.version]: COMPOSE_VERSION };
}

/** Label filters selecting a project's containers (and, with `service`, one service's). */
export function projectFilter(project: string, service?: string, oneoff?: boolean): { label: string[] } {
  const label = [`${L.project}=${project}`];
  if (service) label.push(`${L.service}=${service}`);
  if (oneoff !== undefined) label.push(`${L.oneoff}=${oneoff ? 'True' : 'False'}`);
  return { label };
}
