import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary } from '../container/runtime.ts';
import { withFileLock } from '../store/lock.ts';
import type { StorePaths } from '../store/paths.ts';
import { BerthError } from '../util/errors.ts';
import type { NetworkRecord, PortMapping } from './types.ts';

/**
 * netavark's contract (containers/netavark src/network/types.rs): `setup <netns>` and `teardown <netns>`
 * read NetworkOptions as JSON on stdin; setup answers a StatusBlock per network on stdout.
 */
export interface NetavarkOptions {
  container_id: string;
  container_name: string;
  networks: Record<
    string,
    { interface_name: string; static_ips: string[]; static_mac?: string; aliases: string[] }
  >;
  network_info: Record<string, NetavarkNetwork>;
  port_mappings: {
    host_ip: string;
    container_port: number;
    host_port: number;
    range: number;
    protocol: string;
  }[];
  dns_servers?: string[];
}

interface NetavarkNetwork {
  name: string;
  id: string;
  driver: 'bridge';
  network_interface: string;
  subnets: { subnet: string; gateway?: string; lease_range?: { start_ip?: string; end_ip?: string } }[];
  ipv6_enabled: boolean;
  internal: boolean;
  dns_enabled: boolean;
  options: Record<string, string>;
}

export interface StatusBlock {
  dns_search_domains?: string[];
  dns_server_ips?: string[];
  interfaces?: Record<string, { mac_address: string; subnets?: { gateway?: string; ipnet: string }[] }>;
}

const SEARCH = [
  '/usr/libexec/podman',
  '/usr/lib/podman',
  '/usr/local/libexec/podman',
  '/usr/local/lib/podman',
];

function locate(name: string): string | undefined {
  for (const d of SEARCH) if (existsSync(join(d, name))) return join(d, name);
  return findBinary(name);
}

let bins: { netavark: string; aardvark: string } | undefined;

export function netavarkBinaries(): { netavark: string; aardvark: string } {
  if (bins) return bins;
  const netavark = process.env.BERTH_NETAVARK || locate('netavark');
  const aardvark = process.env.BERTH_AARDVARK_DNS || locate('aardvark-dns');
  if (!netavark || !aardvark)
    throw new BerthError(
      'container networking needs netavark and aardvark-dns: apt-get install netavark aardvark-dns (or run with --network none / host)',
    );
  bins = { netavark, aardvark };
  return bins;
}

/** netavark's --config: where aardvark-dns keeps its per-network name files; runtime state, so under runroot. */
export function netavarkConfigDir(paths: StorePaths): string {
  return join(paths.runroot, 'networks');
}

export function netavarkNetwork(n: NetworkRecord): NetavarkNetwork {
  const options: Record<string, string> = {};
  // netavark refuses bridge options it does not know; the others are kept for inspect only.
  if (n.options.mtu) options.mtu = n.options.mtu;
  if (n.options['com.docker.network.driver.mtu']) options.mtu = n.options['com.docker.network.driver.mtu'];
  return {
    name: n.name,
    id: n.id,
    driver: 'bridge',
    network_interface: n.iface,
    subnets: [{ subnet: n.subnet, gateway: n.gateway }],
    ipv6_enabled: false,
    internal: n.internal,
    dns_enabled: n.dnsEnabled,
    options,
  };
}

export function portMappings(ports: readonly PortMapping[]): NetavarkOptions['port_mappings'] {
  return ports.map((p) => ({
    host_ip: p.hostIp === '0.0.0.0' ? '' : p.hostIp,
    container_port: p.containerPort,
    host_port: p.hostPort,
    range: 1,
    protocol: p.protocol,
  }));
}

/**
 * netavark edits host-wide state (iptables chains shared by every network, bridges): concurrent runs,
 * from any Berth store, race on creating and deleting the same chains. One lock for the host.
 */
const HOST_LOCK = '/run/berth-netavark.lock';

async function run(
  paths: StorePaths,
  verb: 'setup' | 'teardown',
  nsPath: string,
  o: NetavarkOptions,
): Promise<string> {
  return withFileLock(HOST_LOCK, () => runUnlocked(paths, verb, nsPath, o));
}

/** Runs netavark with the options on stdin; its stdout is JSON, its stderr the error it reports. */
async function runUnlocked(
  paths: StorePaths,
  verb: 'setup' | 'teardown',
  nsPath: string,
  o: NetavarkOptions,
): Promise<string> {
  const b = netavarkBinaries();
  const dir = netavarkConfigDir(paths);
  mkdirSync(dir, { recursive: true });
  const args = ['--config', dir, '--rootless', 'false', '--aardvark-binary', b.aardvark, verb, nsPath];
  return new Promise((resolve, reject) => {
    const child = spawn(b.netavark, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('error', reject);
    let code: number | null = null;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      child.stdout.destroy();
      child.stderr.destroy();
      if (code === 0) resolve(out);
      else {
        const msg = err
          .split('\n')
          .filter((l) => l.trim() && !l.includes('failed to connect to syslog'))
          .join('; ');
        reject(new BerthError(`netavark ${verb}: ${msg || `exit status ${code}`}`));
      }
    };
    // 'close' comes once netavark's pipes are drained; should a daemon it starts (aardvark-dns) ever
    // keep them open, its exit is enough after a grace period.
    child.once('close', (c) => {
      code = c;
      finish();
    });
    child.once('exit', (c) => {
      code = c;
      setTimeout(finish, 500).unref();
    });
    child.stdin.end(JSON.stringify(o));
  });
}

export async function netavarkSetup(
  paths: StorePaths,
  nsPath: string,
  o: NetavarkOptions,
): Promise<Record<string, StatusBlock>> {
  const out = await run(paths, 'setup', nsPath, o);
  try {
    return JSON.parse(out) as Record<string, StatusBlock>;
  } catch {
    throw new BerthError(`netavark setup: unexpected output: ${out.slice(0, 200)}`);
  }
}

export async function netavarkTeardown(paths: StorePaths, nsPath: string, o: NetavarkOptions): Promise<void> {
  await run(paths, 'teardown', nsPath, o);
}
