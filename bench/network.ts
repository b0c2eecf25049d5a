/**
 * What container networking costs:
 * 1. `berth run --rm busybox true` on the default bridge network against `--network none` (median ms).
 * 2. TCP throughput container → host over the bridge (iperf3 server on the host bound to the network's
 *    gateway, client in the container's network namespace via `ip netns exec`) against host loopback.
 * Usage: node --import tsx bench/network.ts [runs] [seconds]
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { BERTH, ENV, ensureBusybox } from '../test/helpers.ts';

const RUNS = Number(process.argv[2] ?? 15);
const SECONDS = Number(process.argv[3] ?? 3);

function berth(args: string[]): string {
  return execFileSync(BERTH, args, { env: ENV, encoding: 'utf8' });
}

function median(cmd: string, args: string[]): number {
  const samples: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr.toString()}`);
    if (i > 0) samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function iperfServer(bind: string, port: number): ChildProcess {
  return spawn('iperf3', ['-s', '-1', '-B', bind, '-p', String(port)], { stdio: 'ignore' });
}

async function iperf(clientPrefix: string[], host: string, port: number): Promise<number> {
  const server = iperfServer(host, port);
  try {
    for (let i = 0; i < 50; i++) {
      const [cmd = 'iperf3', ...pre] = [...clientPrefix, 'iperf3'];
      const args = [...pre, '-c', host, '-p', String(port), '-t', String(SECONDS), '-J'];
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      if (r.status === 0) {
        const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
        return j.end.sum_received.bits_per_second / 1e9;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error('iperf3 client never connected');
  } finally {
    server.kill();
  }
}

ensureBusybox();
const bridge = median(BERTH, ['run', '--rm', 'busybox', 'true']);
const none = median(BERTH, ['run', '--rm', '--network', 'none', 'busybox', 'true']);
console.log(`run --rm busybox true, median of ${RUNS} runs`);
console.log(`  default network (bridge)  ${bridge.toFixed(0)} ms`);
console.log(`  --network none            ${none.toFixed(0)} ms`);
console.log(`  network cost              ${(bridge - none).toFixed(0)} ms (${(bridge / none).toFixed(2)}x)`);

if (spawnSync('sh', ['-c', 'command -v iperf3']).status !== 0) {
  console.log('iperf3 is not installed (apt-get install iperf3): throughput skipped');
  process.exit(0);
}
const net = `bench-net-${process.pid}`;
const name = `bench-iperf-${process.pid}`;
berth(['network', 'create', net]);
try {
  const id = berth(['run', '-d', '--name', name, '--network', net, 'busybox', 'sleep', '600']).trim();
  const gw = (
    JSON.parse(berth(['network', 'inspect', net])) as { IPAM: { Config: { Gateway: string }[] } }[]
  )[0]!.IPAM.Config[0]!.Gateway;
  const port = 5201 + (process.pid % 1000);
  const container = await iperf(['ip', 'netns', 'exec', `berth-${id.slice(0, 12)}`], gw, port);
  const loopback = await iperf([], '127.0.0.1', port + 1);
  console.log(`TCP throughput, iperf3 -t ${SECONDS}`);
  console.log(`  container -> host (bridge, ${gw})  ${container.toFixed(2)} Gbit/s`);
  console.log(`  host loopback                     ${loopback.toFixed(2)} Gbit/s`);
  console.log(`  ratio container/loopback          ${(container / loopback).toFixed(2)}`);
} finally {
  spawnSync(BERTH, ['rm', '-f', name], { env: ENV });
  spawnSync(BERTH, ['network', 'rm', net], { env: ENV });
}
