import type { CliContext } from './context.ts';
import type { CommandSpec, ParsedArgs } from './flags.ts';

export interface Command {
  spec: CommandSpec;
  run(ctx: CliContext, args: ParsedArgs): Promise<number>;
}

type Loader = () => Promise<Command>;

type CommandKeys<M> = { [K in keyof M]: M[K] extends Command ? K : never }[keyof M];

const from =
  <M>(load: () => Promise<M>, name: CommandKeys<M>): Loader =>
  async () =>
    (await load())[name] as Command;

const image = () => import('./commands/image.ts');
const run = () => import('./commands/run.ts');
const life = () => import('./commands/lifecycle.ts');
const observe = () => import('./commands/observe.ts');
const exec = () => import('./commands/exec.ts');
const transfer = () => import('./commands/transfer.ts');
const archive = () => import('./commands/archive.ts');
const fs = () => import('./commands/container-fs.ts');
const volume = () => import('./commands/volume.ts');
const network = () => import('./commands/network.ts');
const build = () => import('./commands/build.ts');
const builder = () => import('./commands/builder.ts');
const serve = () => import('./commands/serve.ts');
const events = () => import('./commands/events.ts');
const compose = () => import('./commands/compose.ts');
const registryServer = () => import('./commands/registry-server.ts');
const health = () => import('./commands/health.ts');
const update = () => import('./commands/update.ts');

/**
 * Every command, by the words that name it. Modules load lazily so a command pays only for its own code.
 * Top-level shortcuts (`ps`, `rmi`, …) and management forms (`container ls`, `image rm`, …) share entries.
 */
export const COMMANDS: Record<string, Loader> = {
  build: from(build, 'buildCmd'),
  'image build': from(build, 'buildCmd'),
  'builder build': from(build, 'buildCmd'),
  'builder prune': from(build, 'builderPruneCmd'),
  'buildx prune': from(build, 'builderPruneCmd'),
  'builder du': from(builder, 'builderDuCmd'),
  'buildx du': from(builder, 'builderDuCmd'),
  'builder cache': from(builder, 'builderCacheCmd'),
  import: from(image, 'importCmd'),
  'image import': from(image, 'importCmd'),
  images: from(image, 'imagesCmd'),
  'image ls': from(image, 'imagesCmd'),
  'image list': from(image, 'imagesCmd'),
  tag: from(image, 'tagCmd'),
  'image tag': from(image, 'tagCmd'),
  rmi: from(image, 'rmiCmd'),
  'image rm': from(image, 'rmiCmd'),
  'image remove': from(image, 'rmiCmd'),
  'image inspect': from(image, 'imageInspectCmd'),
  history: from(image, 'historyCmd'),
  'image history': from(image, 'historyCmd'),
  'image prune': from(image, 'imagePruneCmd'),

  run: from(run, 'runCmd'),
  'container run': from(run, 'runCmd'),
  create: from(run, 'createCmd'),
  'container create': from(run, 'createCmd'),

  start: from(life, 'startCmd'),
  'container start': from(life, 'startCmd'),
  stop: from(life, 'stopCmd'),
  'container stop': from(life, 'stopCmd'),
  restart: from(life, 'restartCmd'),
  'container restart': from(life, 'restartCmd'),
  kill: from(life, 'killCmd'),
  'container kill': from(life, 'killCmd'),
  rm: from(life, 'rmCmd'),
  'container rm': from(life, 'rmCmd'),
  'container remove': from(life, 'rmCmd'),
  wait: from(life, 'waitCmd'),
  'container wait': from(life, 'waitCmd'),
  rename: from(life, 'renameCmd'),
  'container rename': from(life, 'renameCmd'),
  update: from(update, 'updateCmd'),
  'container update': from(update, 'updateCmd'),
  pause: from(life, 'pauseCmd'),
  'container pause': from(life, 'pauseCmd'),
  unpause: from(life, 'unpauseCmd'),
  'container unpause': from(life, 'unpauseCmd'),
  'container prune': from(life, 'containerPruneCmd'),
  'container cleanup': from(life, 'cleanupCmd'),
  'container healthcheck-monitor': from(health, 'healthcheckMonitorCmd'),
  'healthcheck run': from(health, 'healthcheckRunCmd'),

  ps: from(observe, 'psCmd'),
  'container ls': from(observe, 'psCmd'),
  'container list': from(observe, 'psCmd'),
  'container ps': from(observe, 'psCmd'),
  logs: from(observe, 'logsCmd'),
  'container logs': from(observe, 'logsCmd'),
  inspect: from(observe, 'inspectCmd'),
  'container inspect': from(observe, 'containerInspectCmd'),
  top: from(observe, 'topCmd'),
  'container top': from(observe, 'topCmd'),
  stats: from(observe, 'statsCmd'),
  'container stats': from(observe, 'statsCmd'),

  pull: from(transfer, 'pullCmd'),
  'image pull': from(transfer, 'pullCmd'),
  push: from(transfer, 'pushCmd'),
  'image push': from(transfer, 'pushCmd'),
  login: from(transfer, 'loginCmd'),
  logout: from(transfer, 'logoutCmd'),

  save: from(archive, 'saveCmd'),
  'image save': from(archive, 'saveCmd'),
  load: from(archive, 'loadCmd'),
  'image load': from(archive, 'loadCmd'),

  export: from(fs, 'exportCmd'),
  'container export': from(fs, 'exportCmd'),
  commit: from(fs, 'commitCmd'),
  'container commit': from(fs, 'commitCmd'),
  diff: from(fs, 'diffCmd'),
  'container diff': from(fs, 'diffCmd'),
  cp: from(fs, 'cpCmd'),
  'container cp': from(fs, 'cpCmd'),

  'volume create': from(volume, 'volumeCreateCmd'),
  'volume ls': from(volume, 'volumeLsCmd'),
  'volume list': from(volume, 'volumeLsCmd'),
  'volume inspect': from(volume, 'volumeInspectCmd'),
  'volume rm': from(volume, 'volumeRmCmd'),
  'volume remove': from(volume, 'volumeRmCmd'),
  'volume prune': from(volume, 'volumePruneCmd'),

  'network create': from(network, 'networkCreateCmd'),
  'network ls': from(network, 'networkLsCmd'),
  'network list': from(network, 'networkLsCmd'),
  'network inspect': from(network, 'networkInspectCmd'),
  'network rm': from(network, 'networkRmCmd'),
  'network remove': from(network, 'networkRmCmd'),
  'network connect': from(network, 'networkConnectCmd'),
  'network disconnect': from(network, 'networkDisconnectCmd'),
  'network prune': from(network, 'networkPruneCmd'),
  port: from(network, 'portCmd'),
  'container port': from(network, 'portCmd'),

  exec: from(exec, 'execCmd'),
  'container exec': from(exec, 'execCmd'),
  attach: from(exec, 'attachCmd'),
  'container attach': from(exec, 'attachCmd'),

  serve: from(serve, 'serveCmd'),
  events: from(events, 'eventsCmd'),
  'system events': from(events, 'eventsCmd'),

  'registry serve': from(registryServer, 'registryServeCmd'),
  'registry gc': from(registryServer, 'registryGcCmd'),

  // `compose` reads its own options (-f, -p, …), then dispatches its subcommands itself.
  compose: from(compose, 'composeCmd'),
};
