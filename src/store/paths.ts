import { join } from 'node:path';

/** Where Berth keeps its state. `root` outlives reboots; `runroot` is runtime state (tmpfs on most hosts). */
export interface StorePaths {
  root: string;
  runroot: string;
}

export function defaultPaths(env: NodeJS.ProcessEnv = process.env): StorePaths {
  return {
    root: env.BERTH_ROOT || '/var/lib/berth',
    runroot: env.BERTH_RUNROOT || '/run/berth',
  };
}

export const dbFile = (p: StorePaths) => join(p.root, 'berth.db');
export const blobsDir = (p: StorePaths) => join(p.root, 'blobs', 'sha256');
export const blobTmpDir = (p: StorePaths) => join(p.root, 'blobs', 'tmp');
export const layersDir = (p: StorePaths) => join(p.root, 'layers');
export const layerDir = (p: StorePaths, chainId: string) =>
  join(layersDir(p), chainId.replace(/^sha256:/, ''));
export const containerDir = (p: StorePaths, id: string) => join(p.root, 'containers', id);
export const containerRunDir = (p: StorePaths, id: string) => join(p.runroot, 'containers', id);
export const runtimeStateDir = (p: StorePaths) => join(p.runroot, 'runtime');
export const exitsDir = (p: StorePaths) => join(p.runroot, 'exits');
export const socketsDir = (p: StorePaths) => join(p.runroot, 's');
export const locksDir = (p: StorePaths) => join(p.runroot, 'locks');
