import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface EtcFiles {
  hosts: string;
  hostname: string;
  resolvConf: string;
}

const HOSTS_BASE = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
`;

/** Nameservers on the host's loopback cannot be reached from a private network namespace. */
export function containerResolvConf(hostConf: string): string {
  const lines = hostConf.split('\n');
  const kept = lines.filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  const hasNs = kept.some((l) => /^\s*nameserver\s+/.test(l));
  const body = kept.join('\n').trimEnd();
  return hasNs ? `${body}\n` : `${body}\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n`.replace(/^\n/, '');
}

/** Writes the container's own /etc/hosts, /etc/hostname and /etc/resolv.conf into `dir`. */
export function writeEtcFiles(
  dir: string,
  hostname: string,
  hostNetwork: boolean,
  extraHosts: string[] = [],
): EtcFiles {
  const files: EtcFiles = {
    hosts: join(dir, 'hosts'),
    hostname: join(dir, 'hostname'),
    resolvConf: join(dir, 'resolv.conf'),
  };
  let hosts: string;
  let resolv: string;
  try {
    resolv = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    resolv = '';
  }
  if (hostNetwork) {
    try {
      hosts = readFileSync('/etc/hosts', 'utf8');
    } catch {
      hosts = HOSTS_BASE;
    }
  } else {
    hosts = HOSTS_BASE;
    resolv = containerResolvConf(resolv);
  }
  for (const e of extraHosts) {
    // name:ip, where an IPv6 address brings colons of its own
    const i = e.indexOf(':');
    hosts += `${e.slice(i + 1)}\t${e.slice(0, i)}\n`;
  }
  writeFileSync(files.hosts, hosts);
  writeFileSync(files.hostname, `${hostname}\n`);
  writeFileSync(files.resolvConf, resolv);
  return files;
}
