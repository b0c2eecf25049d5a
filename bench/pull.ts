/**
 * Cold pull of a ~170 MB, 3-layer Debian image from a local docker-registry: Berth vs `podman pull`
 * in the same run, plus the machine's gunzip throughput as the floor.
 * Usage: node --import tsx bench/pull.ts [runs]   (needs mmdebstrap, docker-registry, skopeo, podman)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BERTH } from '../test/helpers.ts';
import { writeOciLayout } from './oci-layout.ts';

const RUNS = Number(process.argv[2] ?? 3);
const WORK = '/var/tmp/berth-bench';

function sh(cmd: string): void {
  execFileSync('bash', ['-c', cmd], { stdio: 'inherit' });
}

/** An OCI layout holding Debian minbase split into three gzip layers. */
function layout(): string {
  const dir = join(WORK, 'debian-oci');
  if (existsSync(join(dir, 'index.json'))) return dir;
  const tar = join(WORK, 'debian.tar');
  if (!existsSync(tar)) sh(`mmdebstrap --variant=minbase --format=tar bookworm ${tar}`);
  const root = join(WORK, 'debian-root');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  sh(`tar -C ${root} -xpf ${tar}`);
  const parts = [
    `tar -C ${root} --exclude=./usr -cf - .`,
    `tar -C ${root} --exclude=./usr/lib -cf - ./usr`,
    `tar -C ${root} -cf - ./usr/lib`,
  ];
  writeOciLayout(dir, {
    layers: parts.length,
    cmd: ['bash'],
    refName: 'deb',
    gzLayer: (i) => {
      const raw = execFileSync('bash', ['-c', parts[i]!], { maxBuffer: 1 << 30 });
      return { raw, gz: gzipSync(raw, { level: 6 }) };
    },
  });
  rmSync(root, { recursive: true, force: true });
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.toString()}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const oci = layout();
const port = await freePort();
const regDir = join(WORK, `registry-${process.pid}`);
mkdirSync(regDir, { recursive: true });
writeFileSync(
  join(regDir, 'config.yml'),
  `version: 0.1\nstorage: {filesystem: {rootdirectory: ${regDir}/data}, delete: {enabled: true}}\nhttp: {addr: 127.0.0.1:${port}}\n`,
);
const registry = spawn('docker-registry', ['serve', join(regDir, 'config.yml')], { stdio: 'ignore' });
try {
  for (let i = 0; i < 50 && spawnSync('curl', ['-sf', `http://127.0.0.1:${port}/v2/`]).status !== 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const ref = `127.0.0.1:${port}/bench/debian:1`;
  sh(`skopeo copy -q --dest-tls-verify=false oci:${oci}:deb docker://${ref}`);
  const manifest = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const layers = (
    JSON.parse(
      readFileSync(join(oci, 'blobs', 'sha256', manifest.manifests[0]!.digest.slice(7)), 'utf8'),
    ) as {
      layers: { digest: string; size: number }[];
    }
  ).layers;
  const compressed = layers.reduce((a, l) => a + l.size, 0);
  const blobPaths = layers.map((l) => join(oci, 'blobs', 'sha256', l.digest.slice(7))).join(' ');
  const gunzipMs = median(
    Array.from({ length: RUNS }, () =>
      timed('bash', ['-c', `cat ${blobPaths} | gzip -dc | wc -c > /dev/null`]),
    ),
  );
  const uncompressed = statSync(join(WORK, 'debian.tar')).size;

  const berth: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const root = join(WORK, `pull-root-${process.pid}`);
    const run = join('/run', `berth-bench-${process.pid}`);
    rmSync(root, { recursive: true, force: true });
    berth.push(timed(BERTH, ['pull', '-q', ref], { ...process.env, BERTH_ROOT: root, BERTH_RUNROOT: run }));
    rmSync(root, { recursive: true, force: true });
  }
  const podman: number[] = [];
  if (spawnSync('sh', ['-c', 'command -v podman']).status === 0) {
    for (let i = 0; i < RUNS; i++) {
      spawnSync('podman', ['rmi', '-f', ref], { stdio: 'ignore' });
      podman.push(timed('podman', ['pull', '-q', '--tls-verify=false', ref]));
    }
    spawnSync('podman', ['rmi', '-f', ref], { stdio: 'ignore' });
  }
  const mb = (n: number) => (n / 1e6).toFixed(0);
  const b = median(berth);
  console.log(
    `cold pull of ${mb(compressed)} MB compressed / ${mb(uncompressed)} MB unpacked, 3 layers, median of ${RUNS}`,
  );
  console.log(
    `berth pull          ${b.toFixed(0)} ms  (${(uncompressed / 1e6 / (b / 1000)).toFixed(0)} MB/s unpacked)`,
  );
  if (podman.length) {
    const p = median(podman);
    console.log(`podman pull         ${p.toFixed(0)} ms  berth/podman = ${(b / p).toFixed(2)}x`);
  }
  console.log(
    `gunzip floor        ${gunzipMs.toFixed(0)} ms  (${(uncompressed / 1e6 / (gunzipMs / 1000)).toFixed(0)} MB/s)  berth/gunzip = ${(b / gunzipMs).toFixed(2)}x`,
  );
} finally {
  registry.kill();
  rmSync(regDir, { recursive: true, force: true });
}
