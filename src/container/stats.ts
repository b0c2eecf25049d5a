import { readFileSync } from 'node:fs';
import type { ContainerRecord } from './types.ts';

export interface StatsSample {
  read: number; // ms since epoch
  cpuUsageNs: number;
  systemCpuNs: number;
  onlineCpus: number;
  memoryUsage: number;
  memoryLimit: number;
  memoryCache: number;
  pids: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function num(s: string): number {
  const n = Number.parseInt(s.trim(), 10);
  return Number.isNaN(n) ? 0 : n;
}

function cgroupPaths(pid: number): { v1: Map<string, string>; v2?: string } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of read(`/proc/${pid}/cgroup`).split('\n')) {
    const [, ctrls, path] = line.split(':');
    if (path === undefined || ctrls === undefined) continue;
    if (ctrls === '') v2 = path;
    for (const ctl of ctrls.split(',')) v1.set(ctl, path);
  }
  return { v1, v2 };
}

function systemCpuNs(): number {
  const line = read('/proc/stat')
    .split('\n')
    .find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .map(Number)
    .reduce((a, b) => a + b, 0);
  // USER_HZ is 100 on Linux.
  return ticks * 1e7;
}

function keyed(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of text.split('\n')) {
    const [k, v] = l.trim().split(/\s+/);
    if (k && v !== undefined) m.set(k, Number(v));
  }
  return m;
}

/** One reading of a running container's cgroup counters (cgroup v1, hybrid or v2). */
export function sampleStats(c: ContainerRecord, onlineCpus: number): StatsSample {
  const pid = c.state.pid;
  const cg = cgroupPaths(pid);
  const s: StatsSample = {
    read: Date.now(),
    cpuUsageNs: 0,
    systemCpuNs: systemCpuNs(),
    onlineCpus,
    memoryUsage: 0,
    memoryLimit: 0,
    memoryCache: 0,
    pids: 0,
    netRx: 0,
    netTx: 0,
    blockRead: 0,
    blockWrite: 0,
  };
  const mem = cg.v1.get('memory');
  if (mem !== undefined) {
    const base = `/sys/fs/cgroup/memory${mem}`;
    s.memoryUsage = num(read(`${base}/memory.usage_in_bytes`));
    s.memoryLimit = num(read(`${base}/memory.limit_in_bytes`));
    const st = keyed(read(`${base}/memory.stat`));
    s.memoryCache = st.get('total_inactive_file') ?? 0;
    s.cpuUsageNs = num(read(`/sys/fs/cgroup/cpuacct${cg.v1.get('cpuacct') ?? ''}/cpuacct.usage`));
    s.pids = num(read(`/sys/fs/cgroup/pids${cg.v1.get('pids') ?? ''}/pids.current`));
    for (const l of read(
      `/sys/fs/cgroup/blkio${cg.v1.get('blkio') ?? ''}/blkio.throttle.io_service_bytes`,
    ).split('\n')) {
      const [, op, v] = l.split(' ');
      if (op === 'Read') s.blockRead += Number(v);
      if (op === 'Write') s.blockWrite += Number(v);
    }
  } else if (cg.v2 !== undefined) {
    const base = `/sys/fs/cgroup${cg.v2}`;
    s.memoryUsage = num(read(`${base}/memory.current`));
    const max = read(`${base}/memory.max`).trim();
    s.memoryLimit = max === 'max' || max === '' ? 0 : num(max);
    s.memoryCache = keyed(read(`${base}/memory.stat`)).get('inactive_file') ?? 0;
    s.cpuUsageNs = (keyed(read(`${base}/cpu.stat`)).get('usage_usec') ?? 0) * 1000;
    s.pids = num(read(`${base}/pids.current`));
    for (const l of read(`${base}/io.stat`).split('\n')) {
      for (const kv of l.split(' ').slice(1)) {
        const [k, v] = kv.split('=');
        if (k === 'rbytes') s.blockRead += Number(v);
        if (k === 'wbytes') s.blockWrite += Number(v);
      }
    }
  }
  if (!s.memoryLimit || s.memoryLimit > 2 ** 60) {
    s.memoryLimit = num(read('/proc/meminfo').split('\n')[0]?.replace(/\D+/g, '') ?? '0') * 1024;
  }
  for (const l of read(`/proc/${pid}/net/dev`).split('\n').slice(2)) {
    const [iface, rest] = l.split(':');
    if (!iface || rest === undefined || iface.trim() === 'lo') continue;
    const f = rest.trim().split(/\s+/).map(Number);
    s.netRx += f[0] ?? 0;
    s.netTx += f[8] ?? 0;
  }
  return s;
}

/** docker's CPU %: container CPU time over host CPU time between two samples, times the CPU count. */
export function cpuPercent(prev: StatsSample, cur: StatsSample): number {
  const cpu = cur.cpuUsageNs - prev.cpuUsageNs;
  const sys = cur.systemCpuNs - prev.systemCpuNs;
  if (cpu <= 0 || sys <= 0) return 0;
  return (cpu / sys) * cur.onlineCpus * 100;
}
