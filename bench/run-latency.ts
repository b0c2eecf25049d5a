/**
 * `berth run --rm busybox true` against the peers on the same machine, in the same run:
 * raw `runc run` / `crun run` of the same rootfs (the floor), and `podman run --rm`.
 * Prints medians and ratios. Usage: node --import tsx bench/run-latency.ts [runs]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, busyboxTar, ENV, ensureBusybox } from '../test/helpers.ts';

const RUNS = Number(process.argv[2] ?? 15);
const WORK = '/var/tmp/berth-bench';

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

/** Median wall time in ms of `runs` runs (after one warm-up); undefined if the command fails. */
function time(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number | undefined {
  const samples: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) {
      process.stderr.write(
        `${cmd} ${args.join(' ')} failed: ${r.stderr.toString().trim().split('\n').at(-1)}\n`,
      );
      return undefined;
    }
    if (i > 0) samples.push(ms);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

function bundle(): string {
  const dir = join(WORK, 'bundle');
  if (!existsSync(join(dir, 'config.json'))) {
    mkdirSync(join(dir, 'rootfs'), { recursive: true });
    execFileSync('tar', ['-C', join(dir, 'rootfs'), '-xf', busyboxTar()]);
    execFileSync('runc', ['spec'], { cwd: dir });
    const spec = JSON.parse(execFileSync('cat', [join(dir, 'config.json')], { encoding: 'utf8' })) as {
      process: { terminal: boolean; args: string[] };
    };
    spec.process.terminal = false;
    spec.process.args = ['true'];
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
  }
  return dir;
}

ensureBusybox();
const results: Record<string, number | undefined> = {};
results.berth = time(BERTH, ['run', '--rm', 'busybox', 'true'], ENV);
results['berth --network none'] = time(BERTH, ['run', '--rm', '--network', 'none', 'busybox', 'true'], ENV);
const b = bundle();
results['runc run'] = time('runc', [
  '--root',
  join(WORK, 'runc'),
  'run',
  '--bundle',
  b,
  `bench-${process.pid}`,
]);
if (has('crun'))
  results['crun run'] = time('crun', [
    '--root',
    join(WORK, 'crun'),
    'run',
    '--bundle',
    b,
    `bench-${process.pid}`,
  ]);
if (has('podman')) {
  if (spawnSync('podman', ['image', 'exists', 'busybox']).status !== 0) {
    execFileSync('podman', ['import', '-q', '--change', 'CMD ["sh"]', busyboxTar(), 'busybox:latest']);
  }
  // crun refuses hybrid cgroup hosts (see ../shared/peers.md): give podman the runtime berth picks too.
  const runtime = results['crun run'] === undefined ? ['--runtime', 'runc'] : [];
  // Both default to a bridge network set up by netavark; --network none is loopback only.
  results['podman --network none'] = time('podman', [
    'run',
    '--rm',
    ...runtime,
    '--network',
    'none',
    'busybox',
    'true',
  ]);
  results['podman (default net)'] = time('podman', ['run', '--rm', ...runtime, 'busybox', 'true']);
} else {
  process.stderr.write('podman is not installed: bash ../shared/tools/peers-setup.sh install fixes\n');
}

const berth = results.berth;
console.log(`run --rm busybox true, median of ${RUNS} runs`);
for (const [name, ms] of Object.entries(results)) {
  const ratio = berth && ms && name !== 'berth' ? `  berth/${name} = ${(berth / ms).toFixed(2)}x` : '';
  console.log(`${name.padEnd(22)} ${ms === undefined ? 'failed' : `${ms.toFixed(0)} ms`}${ratio}`);
}
