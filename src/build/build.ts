import type { StoreContext } from '../engine/context.ts';
import { BerthError } from '../util/errors.ts';
import type { BuildCachePruneOptions, BuildOptions, BuildProgressSink, BuildResult } from './types.ts';

/** Runs a build: context → Dockerfile → graph → solved, cached steps → image. */
export async function runBuild(
  _ctx: StoreContext,
  _o: BuildOptions,
  _progress: BuildProgressSink,
): Promise<BuildResult> {
  throw new BerthError('berth build: the builder is being written (issue #5)');
}

export async function pruneBuildCache(
  _ctx: StoreContext,
  _o: BuildCachePruneOptions,
): Promise<{ deleted: string[]; spaceReclaimed: number }> {
  throw new BerthError('berth builder prune: the builder is being written (issue #5)');
}
