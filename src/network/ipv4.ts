import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../util/errors.ts';

/** IPv4 arithmetic on unsigned 32-bit numbers. Berth's networks are IPv4 only, as docker's default. */

export interface Cidr {
  /** Network address (host bits cleared). */
  base: number;
  prefix: number;
}

export function parseIp(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) throw new InvalidArgumentError(`invalid IPv4 address: ${s}`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new InvalidArgumentError(`invalid IPv4 address: ${s}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function isIpv4(s: string): boolean {
  try {
    parseIp(s);
    return true;
  } catch {
    return false;
  }
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function parseCidr(s: string): Cidr {
  const [ip = '', len = ''] = s.split('/');
  const prefix = Number(len);
  if (!/^\d+$/.test(len) || prefix < 8 || prefix > 30)
    throw new InvalidArgumentError(`invalid subnet ${s}: give an IPv4 CIDR with a prefix from /8 to /30`);
  return { base: (parseIp(ip) & maskOf(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & maskOf(c.prefix)) >>> 0 === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & maskOf(p)) >>> 0 === (b.base & maskOf(p)) >>> 0;
}

/** The host's IPv4 routes (default routes left out), with the interface each goes through. */
export function hostRoutes(): { cidr: Cidr; iface: string }[] {
  let text: string;
  try {
    text = readFileSync('/proc/net/route', 'utf8');
  } catch {
    return [];
  }
  const out: { cidr: Cidr; iface: string }[] = [];
  // Destination and Mask are little-endian hex.
  const le = (h: string) => {
    const n = Number.parseInt(h, 16);
    return (((n & 255) << 24) | (((n >>> 8) & 255) << 16) | (((n >>> 16) & 255) << 8) | (n >>> 24)) >>> 0;
  };
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const mask = le(f[7]!);
    if (mask === 0) continue;
    const prefix = 32 - Math.log2(2 ** 32 - mask);
    out.push({ cidr: { base: le(f[1]!), prefix: Math.round(prefix) }, iface: f[0]! });
  }
  return out;
}
