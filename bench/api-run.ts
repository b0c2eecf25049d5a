/**
 * `docker run --rm busybox true` through the Engine API: the docker CLI with DOCKER_HOST at
 * `berth serve`, then at `podman system service`, in the same run. Prints medians and the ratio.
 * Usage: node --import tsx bench/api-run.ts [runs]
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BERTH, ENV, ensureBusybox } from '../test/helpers.ts';

const RUNS = Number(process.argv[2] ?? 15);
const DOCKER = '/usr/local/bin/docker';

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

/** Median wall time in ms of `RUNS` runs (after one warm-up); undefined if the command fails. */
function time(args: string[], env: NodeJS.ProcessEnv): number | undefined {
  const samples: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(DOCKER, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) {
      process.stderr.write(
        `docker ${args.join(' ')} failed: ${r.stderr.toString().trim().split('\n').at(-1)}\n`,
      );
      return undefined;
    }
    if (i > 0) samples.push(ms);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

async function waitFor(path: string, child: ChildProcess, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!existsSync(path)) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    if (Date.now() > end) throw new Error(`${what} did not listen on ${path}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

ensureBusybox();
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-api-'));
const results: Record<string, number | undefined> = {};
const env = { ...ENV };
delete env.DOCKER_HOST;
delete env.BERTH_HOST;

const berthSock = join(dir, 'berth.sock');
const berth = spawn(BERTH, ['serve', '-H', `unix://${berthSock}`], { env, stdio: 'ignore' });
try {
  await waitFor(berthSock, berth, 'berth serve');
  const clientEnv = { ...process.env, DOCKER_HOST: `unix://${berthSock}` };
  results['berth serve'] = time(['run', '--rm', 'busybox', 'true'], clientEnv);
  results['berth serve --network none'] = time(
    ['run', '--rm', '--network', 'none', 'busybox', 'true'],
    clientEnv,
  );
} finally {
  await stop(berth);
}

if (has('podman')) {
  if (spawnSync('podman', ['image', 'exists', 'docker.io/library/busybox:latest']).status !== 0) {
    // the same image: berth's own busybox, saved and loaded
    execFileSync('sh', ['-c', `"${BERTH}" save busybox | podman load -q`], { env, stdio: 'ignore' });
  }
  // crun refuses hybrid cgroup hosts (see ../shared/peers.md); runc works on every host here.
  const crunOk =
    spawnSync('sh', [
      '-c',
      'test ! -d /sys/fs/cgroup/unified || test -z "$(cat /sys/fs/cgroup/unified/cgroup.controllers)"',
    ]).status === 0;
  const podSock = join(dir, 'podman.sock');
  const podman = spawn(
    'podman',
    [...(crunOk ? [] : ['--runtime', 'runc']), 'system', 'service', '--time=0', `unix://${podSock}`],
    { stdio: 'ignore' },
  );
  try {
    await waitFor(podSock, podman, 'podman system service');
    const clientEnv = { ...process.env, DOCKER_HOST: `unix://${podSock}` };
    results['podman service'] = time(['run', '--rm', 'busybox', 'true'], clientEnv);
    results['podman service --network none'] = time(
      ['run', '--rm', '--network', 'none', 'busybox', 'true'],
      clientEnv,
    );
  } finally {
    await stop(podman);
  }
} else {
  process.stderr.write('podman is not installed: bash ../shared/tools/peers-setup.sh install fixes\n');
}
rmSync(dir, { recursive: true, force: true });

console.log(`docker run --rm busybox true through the Engine API, median of ${RUNS} runs`);
for (const [name, ms] of Object.entries(results))
  console.log(`${name.padEnd(32)} ${ms === undefined ? 'failed' : `${ms.toFixed(0)} ms`}`);
const pairs: [string, string][] = [
  ['berth serve', 'podman service'],
  ['berth serve --network none', 'podman service --network none'],
];
for (const [b, p] of pairs) {
  const bv = results[b];
  const pv = results[p];
  if (bv && pv) console.log(`ratio ${b} / ${p} = ${(bv / pv).toFixed(2)}x (target <= 0.5x)`);
}
