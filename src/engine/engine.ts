import type { Readable } from 'node:stream';
import type { BuildCacheItem } from '../build/cache-usage.ts';
import type { BuildCachePruneOptions, BuildOptions, BuildProgressSink, BuildResult } from '../build/types.ts';
import type { AttachIO } from '../container/attach.ts';
import type { CreateOptions } from '../container/create.ts';
import type { ExecHandle, ExecOptions } from '../container/exec.ts';
import type { HealthcheckRunResult } from '../container/health-state.ts';
import type { LogEntry, LogOptions } from '../container/logs.ts';
import type { TopResult } from '../container/top.ts';
import type { UpdateOptions } from '../container/update.ts';
import type { ImportOptions } from '../image/import.ts';
import type { NetworkCreateOptions, NetworkInspect } from '../network/types.ts';
import type { Credentials } from '../registry/credentials.ts';
import type { VolumeInfo } from '../volume/volume-ops.ts';
import type { EventMessage, EventQuery } from './events.ts';
import type { ProgressSink } from './progress.ts';
import type { DiskUsage } from './system.ts';
import type {
  ContainerSummary,
  HistoryItem,
  ImageDeleteItem,
  ImageInspect,
  ImageSummary,
  PruneResult,
  StatsEntry,
  WaitResult,
} from './types.ts';

export type PullPolicy = 'missing' | 'never' | 'always';

export interface PullOptions {
  /** os/arch[/variant]; default the host's. */
  platform?: string;
  allTags: boolean;
  /** Delete compressed layer blobs once unpacked (BERTH_DROP_COMPRESSED=1 makes it the default). */
  dropCompressed?: boolean;
  /** Credentials for this pull only (the API's X-Registry-Auth); default: the stored ones. */
  auth?: Credentials;
}

export interface PushOptions {
  allTags: boolean;
  /** Credentials for this push only (the API's X-Registry-Auth); default: the stored ones. */
  auth?: Credentials;
}

export interface CommitOptions {
  reference?: string;
  changes: string[];
  message?: string;
  author?: string;
  /** Pause the container while its filesystem is read (docker's default). */
  pause: boolean;
}

export interface ChangeItem {
  Path: string;
  /** 0 modified, 1 added, 2 deleted (docker's codes). */
  Kind: 0 | 1 | 2;
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface CopyFromOptions {
  followLink: boolean;
  /** Called with the path's stat before any tar byte is written; returning false skips the tar (HEAD). */
  onStat?: (stat: PathStat) => boolean | undefined;
}

export interface Filters {
  [key: string]: string[];
}

export interface AttachHandle {
  /** Resolves when the container's streams close, or with 'detached' after the detach keys. */
  done: Promise<'exited' | 'detached'>;
  resize(rows: number, cols: number): void;
  close(): void;
}

/**
 * Everything the CLI (and later the API server) asks of Berth. The local implementation works on
 * the stores in-process; a remote one speaks the Docker Engine API.
 */
export interface Engine {
  importImage(source: Readable, o: ImportOptions): Promise<string>;
  listImages(o: { all: boolean; filters: Filters }): Promise<ImageSummary[]>;
  inspectImage(ref: string): Promise<ImageInspect>;
  tagImage(source: string, target: string): Promise<void>;
  removeImage(ref: string, o: { force: boolean; noPrune: boolean }): Promise<ImageDeleteItem[]>;
  imageHistory(ref: string): Promise<HistoryItem[]>;
  pruneImages(o: { all: boolean; filters: Filters }): Promise<PruneResult>;

  createContainer(
    o: CreateOptions,
    pull: PullPolicy,
  ): Promise<{ id: string; name: string; warnings: string[] }>;
  /** Starts the container; with `attach`, its streams are connected before the process runs. */
  startContainer(ref: string, attach?: AttachIO): Promise<AttachHandle | undefined>;
  attachContainer(ref: string, io: AttachIO): Promise<AttachHandle>;
  resizeContainer(ref: string, rows: number, cols: number): Promise<void>;
  waitContainer(ref: string, condition: 'not-running' | 'next-exit' | 'removed'): Promise<WaitResult>;
  stopContainer(ref: string, timeoutSec?: number, signal?: string): Promise<void>;
  restartContainer(ref: string, timeoutSec?: number): Promise<void>;
  killContainer(ref: string, signal: string): Promise<void>;
  removeContainer(ref: string, o: { force: boolean; volumes: boolean }): Promise<void>;
  renameContainer(ref: string, name: string): Promise<void>;
  /** docker's `update`: new resource limits and restart policy, applied live to a running container. */
  updateContainer(ref: string, o: UpdateOptions): Promise<{ warnings: string[] }>;
  pauseContainer(ref: string): Promise<void>;
  unpauseContainer(ref: string): Promise<void>;
  listContainers(o: {
    all: boolean;
    size: boolean;
    limit?: number;
    filters: Filters;
  }): Promise<ContainerSummary[]>;
  inspectContainer(ref: string, o: { size: boolean }): Promise<Record<string, unknown>>;
  containerLogs(ref: string, o: LogOptions): Promise<AsyncIterable<LogEntry>>;
  execContainer(ref: string, o: ExecOptions, io: AttachIO): Promise<ExecHandle>;
  topContainer(ref: string, psArgs: string[]): Promise<TopResult>;
  containerStats(refs: string[], o: { stream: boolean; all: boolean }): AsyncIterable<StatsEntry[]>;
  pruneContainers(filters: Filters): Promise<PruneResult>;
  /** Pulls `ref` (or every tag of its repository); returns the image IDs. */
  pullImage(ref: string, o: PullOptions, progress: ProgressSink): Promise<string[]>;
  pushImage(ref: string, o: PushOptions, progress: ProgressSink): Promise<void>;
  /** Checks the credentials against the registry and stores them; returns docker's status line. */
  login(server: string, username: string, password: string): Promise<string>;
  logout(server: string): Promise<void>;
  /** Writes a `docker save` tar (or an OCI archive) of the images to `out`. */
  saveImages(refs: string[], out: NodeJS.WritableStream, o: { format: 'docker' | 'oci' }): Promise<void>;
  /** Reads a `docker save` tar or OCI archive; returns docker's `Loaded image: …` lines. */
  loadImages(input: Readable, progress: ProgressSink): Promise<string[]>;
  exportContainer(ref: string, out: NodeJS.WritableStream): Promise<void>;
  commitContainer(ref: string, o: CommitOptions): Promise<string>;
  containerChanges(ref: string): Promise<ChangeItem[]>;
  /** Writes a tar of `path` inside the container to `out`. */
  copyFromContainer(
    ref: string,
    path: string,
    out: NodeJS.WritableStream,
    o: CopyFromOptions,
  ): Promise<PathStat>;
  /** Extracts the tar `input` into directory `path` inside the container. */
  copyToContainer(ref: string, path: string, input: Readable, o: { copyUidGid: boolean }): Promise<void>;

  volumeCreate(
    name: string | undefined,
    o: { labels: Record<string, string>; options: Record<string, string> },
  ): Promise<VolumeInfo>;
  volumeList(filters: Filters): Promise<VolumeInfo[]>;
  volumeInspect(name: string): Promise<VolumeInfo>;
  volumeRemove(name: string, force: boolean): Promise<void>;
  volumePrune(o: { all: boolean; filters: Filters }): Promise<{ deleted: string[]; spaceReclaimed: number }>;

  /** Returns the new network's ID. */
  networkCreate(o: NetworkCreateOptions): Promise<string>;
  networkList(filters: Filters): Promise<NetworkInspect[]>;
  networkInspect(ref: string): Promise<NetworkInspect>;
  networkRemove(ref: string): Promise<void>;
  /** Returns the names of the removed networks. */
  networkPrune(filters: Filters): Promise<string[]>;
  networkConnect(network: string, container: string, o: { aliases: string[]; ip?: string }): Promise<void>;
  networkDisconnect(network: string, container: string, force: boolean): Promise<void>;

  /** Builds a Dockerfile; tags the result with `o.tags`. */
  build(o: BuildOptions, progress: BuildProgressSink): Promise<BuildResult>;
  pruneBuildCache(o: BuildCachePruneOptions): Promise<{ deleted: string[]; spaceReclaimed: number }>;
  /** The build cache's step records and cache mounts (`builder du`, `BuildCache` of `GET /system/df`). */
  buildCacheUsage(): Promise<BuildCacheItem[]>;
  /** Writes the `RUN --mount=type=cache` directories named by `ids` (all when empty) to `out` as a tar. */
  exportBuildCacheMounts(ids: string[], out: NodeJS.WritableStream): Promise<void>;
  /** Restores cache mounts from such a tar, merged into existing ones or replacing them; returns their ids. */
  importBuildCacheMounts(input: Readable, replace: boolean): Promise<string[]>;

  /** Called by conmon when a container exits: records the exit, applies --rm and restart policies. */
  containerExited(ref: string): Promise<void>;
  /** Runs a container's healthcheck once and records the result (podman's `healthcheck run`). */
  healthcheckRun(ref: string): Promise<HealthcheckRunResult>;

  /** docker's event stream: past events from `since`, then new ones until `until` or `signal`. */
  events(q: EventQuery, signal?: AbortSignal): AsyncIterable<EventMessage>;
  /** `GET /info`. */
  systemInfo(): Promise<Record<string, unknown>>;
  /** `GET /system/df`. */
  systemDf(): Promise<DiskUsage>;
}
