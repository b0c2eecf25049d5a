/**
 * Push then pull of a ~160 MB, 5-layer image with skopeo through `berth registry serve` and through
 * Debian's docker-registry (distribution 2.8), in the same run: throughput of each and the ratio.
 * Each run starts both registries on empty roots, so every push uploads every blob.
 * Usage: node --import tsx bench/registry-server.ts [runs]   (needs skopeo, docker-registry)
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BERTH } from '../test/helpers.ts';
import { writeOciLayout } from './oci-layout.ts';

const RUNS = Number(process.argv[2] ?? 3);
const LAYERS = 5;
const LAYER_MB = 32;
const WORK = '/var/tmp/berth-bench';

/** An OCI layout of LAYERS gzip layers, each a tar of one file of random bytes (incompressible). */
function layout(): { dir: string; bytes: number } {
  const dir = join(WORK, 'regsrv-oci');
  if (!existsSync(join(dir, 'index.json'))) {
    const src = join(WORK, 'regsrv-src');
    writeOciLayout(dir, {
      layers: LAYERS,
      cmd: [],
      refName: 'big',
      gzLayer: (i) => {
        rmSync(src, { recursive: true, force: true });
        mkdirSync(src, { recursive: true });
        execFileSync('bash', ['-c', `head -c ${LAYER_MB}M /dev/urandom > ${src}/layer${i}.bin`]);
        const raw = execFileSync('tar', ['-C', src, '-cf', '-', `layer${i}.bin`], { maxBuffer: 1 << 30 });
        return { raw, gz: execFileSync('gzip', ['-1', '-c'], { input: raw, maxBuffer: 1 << 30 }) };
      },
    });
    rmSync(src, { recursive: true, force: true });
  }
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const m = JSON.parse(
    readFileSync(join(dir, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8'),
  ) as { config: { size: number }; layers: { size: number }[] };
  return { dir, bytes: m.config.size + m.layers.reduce((a, l) => a + l.size, 0) };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function timed(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('skopeo', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')}: ${r.stderr.toString()}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

interface Registry {
  host: string;
  proc: ChildProcess;
  dir: string;
}

async function waitUp(host: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://${host}/v2/`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`registry on ${host} did not start`);
}

async function startBerth(): Promise<Registry> {
  const port = await freePort();
  const dir = join(WORK, `regsrv-berth-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const proc = spawn(
    BERTH,
    ['registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', dir, '--log-level', 'warn'],
    {
      stdio: 'ignore',
    },
  );
  const host = `127.0.0.1:${port}`;
  await waitUp(host);
  return { host, proc, dir };
}

async function startDistribution(): Promise<Registry> {
  const port = await freePort();
  const dir = join(WORK, `regsrv-dist-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: ${dir}/data}}\nhttp: {addr: 127.0.0.1:${port}}\n`,
  );
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  await waitUp(host);
  return { host, proc, dir };
}

async function stop(r: Registry): Promise<void> {
  const exited = new Promise((res) => r.proc.once('exit', res));
  r.proc.kill('SIGTERM');
  await exited;
  rmSync(r.dir, { recursive: true, force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const { dir: oci, bytes } = layout();
const out = join(WORK, `regsrv-pull-${process.pid}`);
const results: Record<'berth' | 'distribution', { push: number[]; pull: number[] }> = {
  berth: { push: [], pull: [] },
  distribution: { push: [], pull: [] },
};
for (let i = 0; i < RUNS; i++) {
  // alternate which goes first, so that neither always meets a colder or busier disk
  const order: Array<'berth' | 'distribution'> =
    i % 2 ? ['distribution', 'berth'] : ['berth', 'distribution'];
  for (const which of order) {
    const reg = which === 'berth' ? await startBerth() : await startDistribution();
    try {
      const ref = `docker://${reg.host}/bench/big:${i}`;
      results[which].push.push(timed(['copy', '-q', '--dest-tls-verify=false', `oci:${oci}:big`, ref]));
      rmSync(out, { recursive: true, force: true });
      results[which].pull.push(timed(['copy', '-q', '--src-tls-verify=false', ref, `dir:${out}`]));
      rmSync(out, { recursive: true, force: true });
    } finally {
      await stop(reg);
    }
  }
}
const mb = bytes / 1e6;
const rate = (ms: number) => mb / (ms / 1000);
console.log(
  `skopeo push then pull of ${mb.toFixed(0)} MB (${LAYERS} gzip layers + config), median of ${RUNS}`,
);
for (const which of ['berth', 'distribution'] as const) {
  const r = results[which];
  const push = median(r.push);
  const pull = median(r.pull);
  console.log(
    `${which.padEnd(13)} push ${push.toFixed(0).padStart(6)} ms ${rate(push).toFixed(0).padStart(5)} MB/s   pull ${pull.toFixed(0).padStart(6)} ms ${rate(pull).toFixed(0).padStart(5)} MB/s   push+pull ${rate(push + pull).toFixed(0)} MB/s`,
  );
}
const b = results.berth;
const d = results.distribution;
console.log(
  `berth/distribution throughput: push ${(median(d.push) / median(b.push)).toFixed(2)}x, pull ${(median(d.pull) / median(b.pull)).toFixed(2)}x, push+pull ${((median(d.push) + median(d.pull)) / (median(b.push) + median(b.pull))).toFixed(2)}x`,
);
