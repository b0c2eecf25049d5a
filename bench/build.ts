/**
 * `berth build` against `podman build` in the same run, on a multi-stage Dockerfile (two
 * independent stages of RUN steps joined by COPY --from, plus a COPY of a context file):
 *   cold     the cache empty (berth: `builder prune -a -f`; podman: `--no-cache`)
 *   warm     nothing changed since the last build
 *   changed  one context file changed (only the final COPY reruns)
 * Both use their default RUN networking, a throwaway store, and the same busybox image.
 * Prints medians, berth/podman ratios and the absolute warm time.
 * Targets (issue 5): warm ≤ 0.3× podman's, cold ≤ 1× podman's.
 * Usage: node --import tsx bench/build.ts [runs]   (BERTH_BIN=path/to/berth to time another build)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxTar, BERTH as DEFAULT_BERTH } from '../test/helpers.ts';

/** BERTH_BIN: a frozen copy of the CLI, when others rebuild dist/ meanwhile. */
const BERTH = process.env.BERTH_BIN ?? DEFAULT_BERTH;

const RUNS = Number(process.argv[2] ?? 5);
const WORK = '/var/tmp/berth-bench/build';
const CTX = join(WORK, 'ctx');
const BERTH_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  BERTH_ROOT: join(WORK, 'berth-root'),
  BERTH_RUNROOT: '/run/berth-bench-build',
};
const PODMAN = ['--root', join(WORK, 'podman-root'), '--runroot', '/run/berth-bench-build-podman'];

const DOCKERFILE = `FROM busybox AS a
RUN mkdir -p /out && echo a1 > /out/a1 && seq 1 2000 > /out/seq-a
RUN echo a2 > /out/a2

FROM busybox AS b
RUN mkdir -p /out && echo b1 > /out/b1 && seq 1 2000 > /out/seq-b
RUN echo b2 > /out/b2

FROM busybox
COPY --from=a /out /a
COPY --from=b /out /b
COPY app.txt /app.txt
CMD ["cat", "/app.txt"]
`;

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

/** Wall time in ms of one run; throws with the command's stderr when it fails. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr.toString().trim()}`);
  }
  return ms;
}

function quiet(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr.toString().trim()}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let generation = 0;
function changeContextFile(): void {
  writeFileSync(join(CTX, 'app.txt'), `version ${++generation} ${process.pid}\n`);
}

interface Tool {
  name: string;
  cold(): number;
  warm(): number;
}

const berthTool: Tool = {
  name: 'berth',
  cold() {
    quiet(BERTH, ['builder', 'prune', '-a', '-f'], BERTH_ENV);
    return timed(BERTH, ['build', '--progress=plain', '-t', 'bench-build', CTX], BERTH_ENV);
  },
  warm() {
    return timed(BERTH, ['build', '--progress=plain', '-t', 'bench-build', CTX], BERTH_ENV);
  },
};

// crun refuses hybrid cgroup hosts (see ../shared/peers.md): podman gets runc, as berth picks.
const podmanRuntime = ['--runtime', 'runc'];
const podmanTool: Tool = {
  name: 'podman',
  cold() {
    return timed('podman', [
      ...PODMAN,
      ...podmanRuntime,
      'build',
      '--pull=never',
      '--no-cache',
      '-q',
      '-t',
      'bench-build',
      CTX,
    ]);
  },
  warm() {
    return timed('podman', [
      ...PODMAN,
      ...podmanRuntime,
      'build',
      '--pull=never',
      '-q',
      '-t',
      'bench-build',
      CTX,
    ]);
  },
};

function setup(withPodman: boolean): void {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(CTX, { recursive: true });
  writeFileSync(join(CTX, 'Dockerfile'), DOCKERFILE);
  changeContextFile();
  quiet(BERTH, ['import', '--change', 'CMD ["sh"]', busyboxTar(), 'busybox'], BERTH_ENV);
  if (withPodman) {
    const tar = join(WORK, 'busybox.tar');
    quiet(BERTH, ['save', '-o', tar, 'busybox'], BERTH_ENV);
    quiet('podman', [...PODMAN, 'load', '-q', '-i', tar]);
    // podman names a loaded docker-archive image as it was saved; make sure `busybox` resolves.
    quiet('podman', [...PODMAN, 'tag', 'busybox:latest', 'docker.io/library/busybox:latest']);
  }
}

function teardown(withPodman: boolean): void {
  spawnSync(BERTH, ['rmi', '-f', 'bench-build'], { env: BERTH_ENV, stdio: 'ignore' });
  if (withPodman) spawnSync('podman', [...PODMAN, 'system', 'reset', '-f'], { stdio: 'ignore' });
  rmSync(WORK, { recursive: true, force: true });
  rmSync('/run/berth-bench-build', { recursive: true, force: true });
  rmSync('/run/berth-bench-build-podman', { recursive: true, force: true });
}

const withPodman = has('podman');
if (!withPodman)
  process.stderr.write('podman is not installed: bash ../shared/tools/peers-setup.sh install\n');
setup(withPodman);
const tools = withPodman ? [berthTool, podmanTool] : [berthTool];
const samples: Record<string, Record<'cold' | 'warm' | 'changed', number[]>> = {};
for (const t of tools) samples[t.name] = { cold: [], warm: [], changed: [] };
try {
  // One warm-up round per tool (page cache, first-run setup), then RUNS measured rounds, interleaved.
  for (let i = 0; i <= RUNS; i++) {
    for (const t of tools) {
      const cold = t.cold();
      const warm = t.warm();
      changeContextFile();
      const changed = t.warm();
      if (i === 0) continue;
      samples[t.name]!.cold.push(cold);
      samples[t.name]!.warm.push(warm);
      samples[t.name]!.changed.push(changed);
    }
  }
} finally {
  teardown(withPodman);
}

console.log(`multi-stage build (2 stages × 2 RUN, COPY --from ×2, COPY), median of ${RUNS} runs`);
const kinds = ['cold', 'warm', 'changed'] as const;
console.log(`${'tool'.padEnd(8)} ${kinds.map((k) => k.padStart(10)).join(' ')}`);
for (const t of tools) {
  const row = kinds.map((k) => `${median(samples[t.name]![k]).toFixed(0)} ms`.padStart(10));
  console.log(`${t.name.padEnd(8)} ${row.join(' ')}`);
}
if (withPodman) {
  const ratio = (k: (typeof kinds)[number]) => median(samples.berth![k]) / median(samples.podman![k]);
  console.log(
    `berth/podman: cold ${ratio('cold').toFixed(2)}x (target ≤ 1), warm ${ratio('warm').toFixed(2)}x (target ≤ 0.3), changed ${ratio('changed').toFixed(2)}x`,
  );
}
console.log(`berth warm (fully cached) build: ${median(samples.berth!.warm).toFixed(0)} ms`);
