import { availableParallelism } from 'node:os';
import type { StoreContext } from '../engine/context.ts';
import { withLock } from '../store/lock.ts';
import { ConflictError, InvalidArgumentError } from '../util/errors.ts';
import { validateHostConfig } from './create.ts';
import { detectHostFacts } from './oci-spec.ts';
import { containerFiles } from './paths.ts';
import { runtimeExec, selectRuntime } from './runtime.ts';
import type { ContainerRecord, HostConfig, RestartPolicy } from './types.ts';

/**
 * What `docker update` may change. An absent field is left as it is. Berth keeps CPU limits as
 * NanoCpus only, so `--cpu-quota`/`--cpu-period` arrive converted by `nanoCpusFromQuota`.
 */
export interface UpdateOptions {
  /** Bytes; at least 6MB. */
  memory?: number;
  /** Memory plus swap in bytes; -1 is unlimited. */
  memorySwap?: number;
  /** CPUs × 1e9; 0 removes the limit. */
  nanoCpus?: number;
  cpuShares?: number;
  /** 0 or negative is unlimited, as docker's API (≥ 1.40) has it. */
  pidsLimit?: number;
  restartPolicy?: RestartPolicy;
}

const CFS_PERIOD = 100_000;

/**
 * docker's `--cpu-quota`/`--cpu-period` as the CPU fraction they grant: Berth applies every CPU
 * limit with a 100ms period, which grants the same share of CPU time.
 */
export function nanoCpusFromQuota(quota: number | undefined, period: number | undefined): number | undefined {
  if (period !== undefined && period !== 0 && (period < 1000 || period > 1_000_000))
    throw new InvalidArgumentError(
      'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)',
    );
  if (quota === undefined || quota === 0) {
    if (period)
      throw new InvalidArgumentError(
        'a CPU period without a CPU quota is not supported by Berth: give --cpu-quota too, or use --cpus',
      );
    return undefined;
  }
  if (quota < 0) return 0;
  if (quota < 1000) throw new InvalidArgumentError('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  return Math.round((quota * 1e9) / (period || CFS_PERIOD));
}

/** The HostConfig after the update, validated as create validates it plus docker's update rules. */
function updatedHost(c: ContainerRecord, o: UpdateOptions): HostConfig {
  const h: HostConfig = { ...c.config.host };
  if (o.memory !== undefined) {
    // A memory limit above an explicit swap limit would make the kernel refuse; docker asks for both.
    if (o.memorySwap === undefined && h.memorySwap > 0 && o.memory > h.memorySwap)
      throw new ConflictError(
        'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time',
      );
    h.memory = o.memory;
  }
  if (o.memorySwap !== undefined) h.memorySwap = o.memorySwap;
  if (o.nanoCpus !== undefined) {
    const n = availableParallelism();
    if (o.nanoCpus < 0 || o.nanoCpus > n * 1e9)
      throw new InvalidArgumentError(
        `Range of CPUs is from 0.01 to ${n}.00, as there are only ${n} CPUs available`,
      );
    h.nanoCpus = o.nanoCpus;
  }
  if (o.cpuShares !== undefined) {
    if (o.cpuShares < 0)
      throw new InvalidArgumentError(`invalid CPU shares (${o.cpuShares}): value must be a positive integer`);
    h.cpuShares = o.cpuShares;
  }
  if (o.pidsLimit !== undefined) h.pidsLimit = Math.max(o.pidsLimit, 0);
  if (o.restartPolicy) {
    if (o.restartPolicy.name !== 'no' && h.autoRemove)
      throw new ConflictError(
        `Cannot update container ${c.id}: Restart policy cannot be updated because AutoRemove is enabled for the container`,
      );
    h.restartPolicy = o.restartPolicy;
  }
  validateHostConfig(h);
  return h;
}

/** `runc update` arguments that put the changed limits of `h` into a running container's cgroups. */
function runtimeUpdateArgs(h: HostConfig, o: UpdateOptions): string[] {
  const args: string[] = [];
  if ((o.memory !== undefined || o.memorySwap !== undefined) && h.memory > 0) {
    args.push('--memory', String(h.memory));
    // Unset swap means twice the memory, as at start; hosts without memsw cannot limit swap at all.
    const swap = h.memorySwap === 0 ? h.memory * 2 : h.memorySwap;
    if (detectHostFacts().swapLimit) args.push('--memory-swap', String(swap));
  }
  if (o.nanoCpus !== undefined) {
    if (h.nanoCpus > 0)
      args.push(
        '--cpu-period',
        String(CFS_PERIOD),
        '--cpu-quota',
        String(Math.round((h.nanoCpus / 1e9) * CFS_PERIOD)),
      );
    else args.push('--cpu-quota', '-1');
  }
  if (o.cpuShares !== undefined && h.cpuShares > 0) args.push('--cpu-share', String(h.cpuShares));
  // runc reads 0 as "leave as is" and a negative limit as "max".
  if (o.pidsLimit !== undefined) args.push('--pids-limit', String(h.pidsLimit > 0 ? h.pidsLimit : -1));
  return args;
}

/**
 * docker's `update`: stores the new limits and restart policy in the container's HostConfig (the
 * OCI spec is rebuilt from it at every start, so restarts keep them) and, while the container runs,
 * applies the limits to its cgroups with the runtime's `update`.
 */
export async function updateContainer(
  ctx: StoreContext,
  ref: string,
  o: UpdateOptions,
): Promise<{ record: ContainerRecord; warnings: string[] }> {
  const found = ctx.containers.mustFind(ref);
  return withLock(ctx.paths, found.id, async () => {
    const c = ctx.containers.mustFind(found.id);
    if (c.state.status === 'removing' || c.state.status === 'dead')
      throw new ConflictError(`Cannot update container ${c.id}: container is marked for removal`);
    const host = updatedHost(c, o);
    const live = c.state.status === 'running' || c.state.status === 'paused';
    const args = live ? runtimeUpdateArgs(host, o) : [];
    if (args.length) {
      const runtime = selectRuntime(c.state.runtime || c.config.host.runtime || undefined);
      await runtimeExec(runtime, containerFiles(ctx.paths, c.id).runtimeState, ['update', ...args, c.id]);
    }
    const record = ctx.containers.updateConfig(c.id, (cur) => ({
      ...cur.config,
      host: { ...cur.config.host, ...pick(host) },
    }));
    return { record, warnings: [] };
  });
}

/** Only the fields `update` owns, so a concurrent change to others (e.g. networks) is not undone. */
function pick(h: HostConfig): Partial<HostConfig> {
  return {
    memory: h.memory,
    memorySwap: h.memorySwap,
    nanoCpus: h.nanoCpus,
    cpuShares: h.cpuShares,
    pidsLimit: h.pidsLimit,
    restartPolicy: h.restartPolicy,
  };
}
