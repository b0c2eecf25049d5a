import type { StoreContext } from '../engine/context.ts';
import type { Engine } from '../engine/engine.ts';
import { canonicalName, parseReference } from '../image/reference.ts';
import {
  type Descriptor,
  type ImageManifest,
  type ImageRecord,
  MediaTypes,
  ociMediaType,
} from '../image/types.ts';
import { InvalidArgumentError } from '../util/errors.ts';
import { BuildCache } from './cache.ts';
import { enforceCacheBound, pruneCache } from './cache-prune.ts';
import { openBuildContext } from './context.ts';
import { checkSyntaxDirective, parseDockerfile } from './dockerfile/parser.ts';
import { planBuild } from './frontend.ts';
import { Solver } from './solver.ts';
import type { BuildState } from './state.ts';
import type { BuildCachePruneOptions, BuildOptions, BuildProgressSink, BuildResult } from './types.ts';

/** Runs a build: context → Dockerfile → plan → solved, cached steps → image (and/or exported files). */
export async function runBuild(
  ctx: StoreContext,
  engine: Engine,
  o: BuildOptions,
  progress: BuildProgressSink,
): Promise<BuildResult> {
  // Tags are checked before any work, so a typo costs nothing.
  const tags = o.tags.map((t) => {
    const ref = parseReference(t);
    if (ref.digest) throw new InvalidArgumentError(`invalid tag "${t}": a tag cannot carry a digest`);
    return canonicalName(ref);
  });
  const bc = await openBuildContext(ctx, o);
  try {
    const df = parseDockerfile(bc.dockerfileText);
    checkSyntaxDirective(df.directives.syntax);
    for (const w of df.warnings) progress({ type: 'warning', message: `Dockerfile:${w.line}: ${w.message}` });
    const plan = planBuild(df, o.buildArgs, o.target, o.platform);
    const cache = new BuildCache(ctx);
    const solver = new Solver(ctx, engine, plan, bc, o, cache, progress);
    // Every stage the target needs starts now: independent ones run side by side.
    const results = await Promise.all(plan.needed.map((i) => solver.solve(i)));
    const final = results[plan.needed.indexOf(plan.target)]!;
    const warnings: string[] = [];
    if (plan.unusedArgs.length > 0) {
      const w = `[Warning] One or more build-args [${plan.unusedArgs.join(' ')}] were not consumed`;
      warnings.push(w);
      progress({ type: 'warning', message: w });
    }
    const img = imageOf(ctx, final, o.labels);
    const outputs = o.outputs.length > 0 ? o.outputs : [{ type: 'image' as const }];
    for (const out of outputs) {
      if (out.type === 'image') ctx.images.put(img, tags);
      else await (await import('./export.ts')).exportState(ctx, final, out);
    }
    enforceCacheBound(ctx, cache);
    return { imageId: img.id, warnings };
  } finally {
    bc.cleanup();
  }
}

/** The image a final state makes: its config (with --label), an OCI manifest, both stored as blobs. */
function imageOf(
  ctx: StoreContext,
  s: BuildState,
  labels: Record<string, string>,
): Omit<ImageRecord, 'tags'> {
  const config = structuredClone(s.config);
  config.config ??= {};
  if (Object.keys(labels).length > 0) config.config.Labels = { ...(config.config.Labels ?? {}), ...labels };
  if (config.config.OnBuild && config.config.OnBuild.length === 0) delete config.config.OnBuild;
  config.rootfs = { type: 'layers', diff_ids: s.layers.map((l) => l.diffId) };
  config.created ??= new Date(0).toISOString();
  const configBlob = ctx.blobs.putBytes(JSON.stringify(config));
  const layers: Descriptor[] = s.layers.map((l) => ({
    mediaType: ociMediaType(l.mediaType),
    digest: l.blob,
    size: ctx.blobs.has(l.blob) ? ctx.blobs.size(l.blob) : l.size,
  }));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: configBlob.digest, size: configBlob.size },
    layers,
  };
  const manifestBlob = ctx.blobs.putBytes(JSON.stringify(manifest));
  return {
    id: configBlob.digest,
    manifestDigest: manifestBlob.digest,
    created: config.created,
    size: s.layers.reduce((n, l) => n + l.size, 0),
    config,
    layers: s.layers,
    parent: '',
    added: new Date().toISOString(),
  };
}

export async function pruneBuildCache(
  ctx: StoreContext,
  o: BuildCachePruneOptions,
): Promise<{ deleted: string[]; spaceReclaimed: number }> {
  return pruneCache(ctx, new BuildCache(ctx), o);
}
