import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcFiles } from '../container/etc-files.ts';
import type { HostConfig } from '../container/types.ts';
import type { NetworkAttachResult } from './attach.ts';

/** `--add-host name:host-gateway` names the host as containers reach it (docker's host-gateway). */
export function resolveExtraHosts(extraHosts: readonly string[], hostGateway: string): string[] {
  return extraHosts.map((e) => {
    const i = e.indexOf(':');
    return e.slice(i + 1) === 'host-gateway' && hostGateway ? `${e.slice(0, i)}:${hostGateway}` : e;
  });
}

/**
 * Adjusts the /etc/hosts and resolv.conf that etc-files wrote for what the network brings: the
 * container's own addresses under its hostname, the network's DNS server (aardvark-dns on the gateway),
 * and --dns/--dns-search/--dns-option, which replace the host's values as in docker.
 */
export function applyNetworkEtc(
  etc: EtcFiles,
  bundleOf: (id: string) => string,
  hostname: string,
  h: HostConfig,
  net: NetworkAttachResult,
): void {
  if (net.shareEtcFrom) {
    for (const f of ['hosts', 'resolv.conf']) {
      const src = join(bundleOf(net.shareEtcFrom), f);
      if (existsSync(src)) copyFileSync(src, f === 'hosts' ? etc.hosts : etc.resolvConf);
    }
    return;
  }
  if (net.addresses.length) {
    let hosts = readFileSync(etc.hosts, 'utf8');
    for (const a of net.addresses) hosts += `${a.ip}\t${hostname}\n`;
    writeFileSync(etc.hosts, hosts);
  }
  const dns = h.dns ?? [];
  const search = h.dnsSearch ?? [];
  const opts = h.dnsOptions ?? [];
  if (!net.dnsServers.length && !dns.length && !search.length && !opts.length) return;
  const lines = readFileSync(etc.resolvConf, 'utf8').split('\n');
  const keep = (kw: string, given: string[]) =>
    given.length ? [] : lines.filter((l) => new RegExp(`^\\s*${kw}\\s`).test(l));
  const hostNs = keep('nameserver', dns);
  const nameservers = [...net.dnsServers.map((s) => `nameserver ${s}`), ...dns.map((s) => `nameserver ${s}`)];
  // With a network DNS server the host's nameservers are its upstreams, not the container's.
  if (!net.dnsServers.length) nameservers.push(...hostNs);
  const out = [
    ...(search.length ? [`search ${search.join(' ')}`] : keep('search', search)),
    ...nameservers,
    ...(opts.length ? [`options ${opts.join(' ')}`] : keep('options', opts)),
  ];
  writeFileSync(etc.resolvConf, `${out.join('\n')}\n`);
}
