import type { StatsEntry } from '../../engine/types.ts';

/** The CPU-time window the synthesised counters describe, per CPU. */
const WINDOW_NS = 1e9;

/**
 * docker's StatsJSON from an engine StatsEntry. Clients compute the CPU share from
 * (cpu_stats - precpu_stats) over (system - presystem) × online CPUs: the engine's raw counters
 * when it gives them (a local engine does), else counters chosen to give the share it measured.
 */
export function dockerStats(e: StatsEntry, ncpu: number, read: Date, preread: Date): Record<string, unknown> {
  const system = WINDOW_NS * ncpu;
  const cpuTotal = Math.round(((e.cpuPercent / 100) * system) / ncpu);
  const cpu = (total: number, sys: number) => ({
    cpu_usage: { total_usage: total, usage_in_kernelmode: 0, usage_in_usermode: total },
    system_cpu_usage: sys,
    online_cpus: ncpu,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  });
  return {
    id: e.id,
    name: `/${e.name}`,
    read: read.toISOString(),
    preread: preread.toISOString(),
    pids_stats: { current: e.pids },
    blkio_stats: {
      io_service_bytes_recursive: [
        { major: 0, minor: 0, op: 'read', value: e.blockRead },
        { major: 0, minor: 0, op: 'write', value: e.blockWrite },
      ],
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    // The measured cgroup and host counters when the engine has them; else counters giving its share.
    cpu_stats: e.cpu ? cpu(e.cpu.usageNs, e.cpu.systemNs) : cpu(cpuTotal, system * 2),
    precpu_stats: e.cpu ? cpu(e.cpu.preUsageNs, e.cpu.preSystemNs) : cpu(0, system),
    memory_stats: {
      // memUsage already excludes the page cache, so the cache fields are 0.
      usage: e.memUsage,
      limit: e.memLimit,
      stats: { total_inactive_file: 0, inactive_file: 0, cache: 0 },
    },
    networks: {
      eth0: {
        rx_bytes: e.netRx,
        rx_packets: 0,
        rx_errors: 0,
        rx_dropped: 0,
        tx_bytes: e.netTx,
        tx_packets: 0,
        tx_errors: 0,
        tx_dropped: 0,
      },
    },
  };
}
