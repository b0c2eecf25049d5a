import type { Readable } from 'node:stream';

/** What `berth build`, `POST /build` and compose's `build:` ask of the builder. */
export interface BuildOptions {
  /** The context: a directory on this machine, or a tar stream (`-` / the API's body). */
  context: { dir: string } | { tar: Readable } | { none: true };
  /** Dockerfile path relative to the context (default `Dockerfile`), or its text (`-f -`). */
  dockerfile?: { path: string } | { text: string };
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  labels: Record<string, string>;
  noCache: boolean;
  /** Always look for a newer base image in its registry. */
  pull: boolean;
  /** `--secret id=ID,src=PATH` (or `env=VAR`): mounted by `RUN --mount=type=secret`. */
  secrets: { id: string; src?: string; env?: string }[];
  /** `--network` for RUN steps: default (bridge), none or host. */
  network?: string;
  platform?: string;
  /** `--output`: instead of (or besides) an image, the final filesystem. */
  outputs: BuildOutput[];
  /** `--add-host` for RUN steps. */
  extraHosts?: string[];
}

export type BuildOutput =
  | { type: 'image' }
  | { type: 'local'; dest: string }
  | { type: 'tar'; dest: string | '-' };

export interface BuildResult {
  /** sha256:… of the image (also when only a filesystem was exported). */
  imageId: string;
  /** Warnings for the user, e.g. unused build args. */
  warnings: string[];
}

/** One step of the build graph as the progress display sees it (BuildKit calls it a vertex). */
export interface BuildVertex {
  id: string;
  /** e.g. `[gen 2/3] RUN echo hi`, or `[internal] load build context`. */
  name: string;
}

export type BuildEvent =
  | { type: 'start'; vertex: BuildVertex; at: number }
  | { type: 'log'; vertex: BuildVertex; stream: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'done'; vertex: BuildVertex; at: number; cached: boolean; error?: string }
  | { type: 'warning'; message: string };

export type BuildProgressSink = (event: BuildEvent) => void;

export interface BuildCachePruneOptions {
  all: boolean;
  /** `until=24h` etc. */
  filters: Record<string, string[]>;
  /** Keep this many bytes of cache (most recently used first). */
  keepStorage?: number;
}

export interface BuildCacheUsage {
  id: string;
  kind: 'layer' | 'cache-mount' | 'source';
  size: number;
  lastUsed: string;
  usageCount: number;
  description: string;
}
