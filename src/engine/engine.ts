import type { Readable } from 'node:stream';
import type { AttachIO } from '../container/attach.ts';
import type { CreateOptions } from '../container/create.ts';
import type { ExecHandle, ExecOptions } from '../container/exec.ts';
import type { LogEntry, LogOptions } from '../container/logs.ts';
import type { TopResult } from '../container/top.ts';
import type { ImportOptions } from '../image/import.ts';
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
  /** Called by conmon when a container exits: records the exit, applies --rm and restart policies. */
  containerExited(ref: string): Promise<void>;
}
