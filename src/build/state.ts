import { createHash } from 'node:crypto';
import { chainIds } from '../image/chain.ts';
import {
  type HistoryEntry,
  type ImageConfig,
  type ImageRuntimeConfig,
  type LayerRecord,
  MediaTypes,
} from '../image/types.ts';

/** Where a stage stands after a step: its filesystem (layers), its image config, and their cache key. */
export interface BuildState {
  key: string;
  layers: LayerRecord[];
  config: ImageConfig;
  /** The base image's ID, for the step containers' records ('' for scratch). */
  baseImageId: string;
}

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Bumped whenever what a key covers changes, so that old cache records stop matching. */
const KEY_VERSION = 'berth-build-v1';

export function cacheKey(parent: string, ...parts: unknown[]): string {
  const h = createHash('sha256');
  h.update(KEY_VERSION);
  h.update('\0');
  h.update(parent);
  h.update('\0');
  h.update(JSON.stringify(parts));
  return `sha256:${h.digest('hex')}`;
}

export function runtimeConfig(s: BuildState): ImageRuntimeConfig {
  s.config.config ??= {};
  return s.config.config;
}

export function cloneState(s: BuildState): BuildState {
  return { key: s.key, layers: [...s.layers], config: structuredClone(s.config), baseImageId: s.baseImageId };
}

export function addHistory(s: BuildState, h: HistoryEntry): void {
  s.config.history = [...(s.config.history ?? []), h];
}

/** The value of `name` in a `KEY=value` environment list. */
export function envValue(env: readonly string[] | undefined, name: string): string | undefined {
  for (let i = (env?.length ?? 0) - 1; i >= 0; i--) {
    const e = env![i]!;
    if (e.startsWith(`${name}=`)) return e.slice(name.length + 1);
  }
  return undefined;
}

export function setEnv(env: readonly string[] | undefined, name: string, value: string): string[] {
  const out = (env ?? []).filter((e) => !e.startsWith(`${name}=`) && e !== name);
  const idx = (env ?? []).findIndex((e) => e.startsWith(`${name}=`));
  const entry = `${name}=${value}`;
  if (idx < 0) return [...out, entry];
  // Keep the variable where it was: docker replaces in place.
  const copy = [...(env ?? [])];
  copy[idx] = entry;
  return copy.filter((e, i) => i === idx || !e.startsWith(`${name}=`));
}

/** Go's %q of a string slice, as docker writes CMD/ENTRYPOINT into history: ["a" "b"]. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
}

/** A layer record for a diff ID on top of `below`. */
export function layerRecord(below: readonly LayerRecord[], diffId: string, size: number): LayerRecord {
  const chainId = chainIds([...below.map((l) => l.diffId), diffId]).at(-1)!;
  return { diffId, chainId, blob: diffId, mediaType: MediaTypes.ociLayer, size };
}
