import * as fs from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createContainer } from '../container/create.ts';
import type { OciSpec } from '../container/oci-spec-types.ts';
import { containerFiles } from '../container/paths.ts';
import { rootfsDirs } from '../container/rootfs.ts';
import type { StoreContext } from '../engine/context.ts';
import type { Engine } from '../engine/engine.ts';
import type { ImageRecord } from '../image/types.ts';
import type { MountSpec } from '../volume/mount-spec.ts';
import { StepFailedError } from './errors.ts';
import { commitUpper } from './snapshot.ts';
import type { BuildState } from './state.ts';

export interface RunSpec {
  argv: string[];
  env: string[];
  user: string;
  workdir: string;
  /** bridge (docker's default), none or host. */
  network: string;
  mounts: MountSpec[];
  tmpfs: Record<string, string>;
  extraHosts: string[];
  /** For messages: the command as the Dockerfile wrote it. */
  shown: string;
}

/**
 * Runs a RUN step as an ordinary container (same runtime, same defaults, conmon as its parent)
 * on the state's layers, and commits what it changed as a layer (null when nothing changed).
 */
export async function runStep(
  ctx: StoreContext,
  engine: Engine,
  state: BuildState,
  spec: RunSpec,
  output: (stream: 'stdout' | 'stderr', data: Buffer) => void,
): Promise<{ diffId: string; size: number } | null> {
  const image: ImageRecord = {
    id: state.baseImageId,
    manifestDigest: '',
    created: '',
    size: 0,
    // Image VOLUMEs and health checks have no place in a build step.
    config: { ...state.config, config: { Env: [] } },
    layers: state.layers,
    parent: '',
    added: '',
    tags: [],
  };
  const c = createContainer(ctx, image, {
    image: state.baseImageId || 'scratch',
    cmd: spec.argv,
    entrypoint: [],
    env: spec.env,
    workingDir: spec.workdir,
    user: spec.user,
    hostname: 'buildkitsandbox',
    labels: { 'berth.build.step': 'true' },
    tty: false,
    openStdin: false,
    stdinOnce: false,
    host: {
      networkMode: spec.network,
      mounts: spec.mounts,
      tmpfs: spec.tmpfs,
      extraHosts: spec.extraHosts,
    },
    rootfsLayers: state.layers.map((l) => ({ chainId: l.chainId, blob: l.blob })),
  });
  try {
    const sink = (stream: 'stdout' | 'stderr') =>
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          output(stream, chunk);
          cb();
        },
      });
    const handle = await engine.startContainer(c.id, { stdout: sink('stdout'), stderr: sink('stderr') });
    const r = await engine.waitContainer(c.id, 'not-running');
    await handle?.done;
    if (r.StatusCode !== 0) {
      throw new StepFailedError(
        `process "${spec.shown}" did not complete successfully: exit code: ${r.StatusCode}`,
        r.StatusCode,
      );
    }
    const { upper } = rootfsDirs(ctx, c.id);
    removeMountStubs(ctx, c.id, upper, state);
    return await commitUpper(ctx, upper);
  } finally {
    await engine.removeContainer(c.id, { force: true, volumes: true }).catch(() => undefined);
  }
}

/**
 * The runtime creates an empty file or directory for every mount target the image lacks
 * (/etc/hosts on a scratch image, a cache mount's target…). They are not the step's work and
 * must not end up in its layer, as BuildKit makes sure too.
 */
function removeMountStubs(ctx: StoreContext, id: string, upper: string, state: BuildState): void {
  let spec: OciSpec;
  try {
    spec = JSON.parse(
      fs.readFileSync(join(containerFiles(ctx.paths, id).bundle, 'config.json'), 'utf8'),
    ) as OciSpec;
  } catch {
    return;
  }
  const lowers = state.layers.map((l) => ctx.layers.dir(l.chainId));
  const inLowers = (rel: string) => lowers.some((d) => fs.existsSync(join(d, rel)));
  const targets = new Set<string>();
  for (const m of spec.mounts ?? []) {
    const parts = m.destination.split('/').filter(Boolean);
    for (let i = parts.length; i > 0; i--) targets.add(parts.slice(0, i).join('/'));
  }
  // Deepest first, so that a parent made only for a stub goes after its child.
  for (const rel of [...targets].sort((a, b) => b.split('/').length - a.split('/').length)) {
    if (inLowers(rel)) continue;
    const p = join(upper, rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    try {
      if (st.isDirectory() && fs.readdirSync(p).length === 0) fs.rmdirSync(p);
      else if (st.isFile() && st.size === 0) fs.unlinkSync(p);
    } catch {
      // Still busy or not a stub after all: it stays.
    }
  }
}
