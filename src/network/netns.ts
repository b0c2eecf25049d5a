import { execFile } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { findBinary } from '../container/runtime.ts';
import { BerthError } from '../util/errors.ts';
import { MNT_DETACH, type SyscallError, umount2 } from '../util/syscalls.ts';

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

/**
 * A fresh namespace. Its loopback must be brought up too (netavark leaves lo alone; runc does it only
 * for namespaces it makes): `loopback` does that while the caller wires the namespace, and must be
 * awaited before the container runs; on failure the caller deletes the namespace.
 */
export async function createNetns(containerId: string): Promise<{ path: string; loopback: Promise<void> }> {
  const name = netnsName(containerId);
  if (existsSync(netnsPath(containerId))) await deleteNetns(containerId);
  await ip(['netns', 'add', name]);
  const loopback = ip(['-n', name, 'link', 'set', 'lo', 'up']);
  loopback.catch(() => undefined); // reported where it is awaited
  return { path: netnsPath(containerId), loopback };
}

/**
 * What `ip netns delete` does (detach the bind mount that pins the namespace, remove the file), without
 * a process: the namespace goes once its last user (netavark is done, the container exited) is gone.
 */
export async function deleteNetns(containerId: string): Promise<void> {
  const path = netnsPath(containerId);
  if (!existsSync(path)) return;
  try {
    umount2(path, MNT_DETACH);
  } catch (err) {
    // EINVAL: not a mount point (a half-made namespace file); anything else: let iproute2 try
    if ((err as SyscallError).code !== 'EINVAL') {
      await ip(['netns', 'delete', netnsName(containerId)]);
      return;
    }
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new BerthError(`removing network namespace ${path}: ${(err as Error).message}`);
  }
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
