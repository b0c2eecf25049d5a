import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { findBinary } from '../container/runtime.ts';
import { BerthError } from '../util/errors.ts';

const run = promisify(execFile);

/** Named network namespaces live where iproute2 keeps them, so `ip netns` shows Berth's too. */
export const NETNS_DIR = '/run/netns';

export function netnsName(containerId: string): string {
  return `berth-${containerId.slice(0, 12)}`;
}

export function netnsPath(containerId: string): string {
  return `${NETNS_DIR}/${netnsName(containerId)}`;
}

function ipBin(): string {
  const ip = findBinary('ip') ?? (existsSync('/usr/sbin/ip') ? '/usr/sbin/ip' : undefined);
  if (!ip) throw new BerthError('container networking needs iproute2: apt-get install iproute2');
  return ip;
}

async function ip(args: string[]): Promise<void> {
  try {
    await run(ipBin(), args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new BerthError(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** A fresh namespace with its loopback up (netavark leaves lo alone; runc does it only for namespaces it makes). */
export async function createNetns(containerId: string): Promise<string> {
  const name = netnsName(containerId);
  if (existsSync(netnsPath(containerId))) await deleteNetns(containerId);
  await ip(['netns', 'add', name]);
  try {
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await deleteNetns(containerId).catch(() => undefined);
    throw err;
  }
  return netnsPath(containerId);
}

export async function deleteNetns(containerId: string): Promise<void> {
  if (!existsSync(netnsPath(containerId))) return;
  await ip(['netns', 'delete', netnsName(containerId)]);
}

/** Routing between the bridge and the host's uplinks needs forwarding on; off is the kernel's default. */
export function ensureIpForward(): void {
  const f = '/proc/sys/net/ipv4/ip_forward';
  try {
    if (readFileSync(f, 'utf8').trim() !== '1') writeFileSync(f, '1');
  } catch (err) {
    throw new BerthError(`enabling net.ipv4.ip_forward: ${(err as Error).message}`);
  }
}
