/**
 * `compose up -d` and `compose down` of a 5-service app: Berth's built-in compose against Debian's
 * `docker-compose` 1.29 driving `podman system service`, in the same run. Prints medians and ratios.
 * Usage: node --import tsx bench/compose.ts [runs]
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, ENV, ensureBusybox } from '../test/helpers.ts';

const RUNS = Number(process.argv[2] ?? 5);
const WORK = '/var/tmp/berth-bench/compose';
const SOCK = join(WORK, 'podman.sock');

const APP = `version: "3.7"
services:
  web:
    image: busybox
    command: httpd -f -p 80
    init: true
  api:
    image: busybox
    command: sleep 100000
    init: true
    depends_on: [db, cache]
  worker:
    image: busybox
    command: sleep 100000
    init: true
    depends_on: [db]
  db:
    image: busybox
    command: sleep 100000
    init: true
    volumes: [data:/data]
  cache:
    image: busybox
    command: sleep 100000
    init: true
volumes:
  data: {}
`;

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd: WORK, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed: ${r.stderr.toString().trim().split('\n').slice(-3).join(' / ')}`,
    );
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median up and down times of `runs` cycles after one warm-up cycle. */
function cycle(up: () => number, down: () => number): { up: number; down: number } {
  const ups: number[] = [];
  const downs: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const u = up();
    const d = down();
    if (i > 0) {
      ups.push(u);
      downs.push(d);
    }
  }
  return { up: median(ups), down: median(downs) };
}

/**
 * crun refuses this host's hybrid cgroups (../shared/peers.md): podman gets runc, the runtime
 * Berth picks here, through a containers.conf of its own (which keeps the host's ulimit fix).
 */
function podmanConf(): string {
  const conf = join(WORK, 'containers.conf');
  writeFileSync(
    conf,
    '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n',
  );
  return conf;
}

async function startPodman(): Promise<ChildProcess> {
  rmSync(SOCK, { force: true });
  const p = spawn('podman', ['system', 'service', '--time=0', `unix://${SOCK}`], {
    stdio: 'ignore',
    env: { ...process.env, CONTAINERS_CONF: podmanConf() },
  });
  const end = Date.now() + 15_000;
  while (!existsSync(SOCK)) {
    if (Date.now() > end) throw new Error('podman system service did not create its socket');
    await new Promise((r) => setTimeout(r, 50));
  }
  return p;
}

mkdirSync(WORK, { recursive: true });
writeFileSync(join(WORK, 'docker-compose.yml'), APP);
ensureBusybox();
const results: Record<string, { up: number; down: number } | undefined> = {};
const project = `bench${process.pid}`;
results.berth = cycle(
  () => run(BERTH, ['compose', '-p', project, 'up', '-d'], ENV),
  () => run(BERTH, ['compose', '-p', project, 'down', '-v', '-t', '1'], ENV),
);

if (has('docker-compose') && has('podman')) {
  if (spawnSync('podman', ['image', 'exists', 'busybox:latest']).status !== 0) {
    const tar = join(WORK, 'busybox.tar');
    execFileSync(BERTH, ['save', '-o', tar, 'busybox'], { env: ENV });
    execFileSync('podman', ['load', '-q', '-i', tar]);
  }
  const podman = await startPodman();
  try {
    const env = { ...process.env, DOCKER_HOST: `unix://${SOCK}`, COMPOSE_PROJECT_NAME: project };
    results['docker-compose 1.29 on podman'] = cycle(
      () => run('docker-compose', ['up', '-d'], env),
      () => run('docker-compose', ['down', '-v', '-t', '1'], env),
    );
  } catch (err) {
    process.stderr.write(`docker-compose on podman: ${(err as Error).message}\n`);
  } finally {
    podman.kill('SIGTERM');
  }
} else {
  process.stderr.write(
    'docker-compose or podman is missing: bash ../shared/tools/peers-setup.sh install fixes\n',
  );
}

const b = results.berth!;
console.log(`compose up -d / down -v of 5 services, median of ${RUNS} runs`);
for (const [name, r] of Object.entries(results)) {
  if (!r) {
    console.log(`${name.padEnd(30)} failed`);
    continue;
  }
  const ratio =
    name === 'berth'
      ? ''
      : `  berth/peer: up ${(b.up / r.up).toFixed(2)}x, down ${(b.down / r.down).toFixed(2)}x`;
  console.log(`${name.padEnd(30)} up ${r.up.toFixed(0)} ms, down ${r.down.toFixed(0)} ms${ratio}`);
}
