import { nanoCpusFromQuota, type UpdateOptions } from '../../container/update.ts';
import { InvalidArgumentError } from '../../util/errors.ts';
import { decodeRestart } from './container-create.ts';
import { bodyObject, type Json, num, obj } from './json-fields.ts';

const WHAT = 'container.UpdateConfig';

/** The UpdateConfig fields Berth can change; any other field asking for a change is refused by name. */
const SUPPORTED = new Set([
  'Memory',
  'MemorySwap',
  'NanoCpus',
  'CpuShares',
  'CpuPeriod',
  'CpuQuota',
  'PidsLimit',
  'RestartPolicy',
]);

/** Whether a JSON value is Go's zero value for its field (what a client sends for "leave as is"). */
function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === '' || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v as Record<string, unknown>).every(isZero);
  return false;
}

/** A number field whose zero value means "leave as is", as docker reads UpdateConfig. */
function nonZero(b: Json, key: string): number | undefined {
  const v = num(b, key, WHAT);
  return v === 0 ? undefined : v;
}

/**
 * `POST /containers/{id}/update`: resource limits and the restart policy. Zero values leave a
 * setting as it is, except PidsLimit, which the docker CLI sends only when asked and where 0 or
 * -1 mean unlimited.
 */
export function decodeUpdate(body: unknown): UpdateOptions {
  const b = bodyObject(body, WHAT);
  const unsupported = Object.entries(b)
    .filter(([k, v]) => !SUPPORTED.has(k) && !isZero(v))
    .map(([k]) => k);
  if (unsupported.length)
    throw new InvalidArgumentError(
      `updating ${unsupported.join(', ')} is not supported by Berth: recreate the container with the new settings`,
    );
  const o: UpdateOptions = {};
  const memory = nonZero(b, 'Memory');
  if (memory !== undefined) o.memory = memory;
  const swap = nonZero(b, 'MemorySwap');
  if (swap !== undefined) o.memorySwap = swap;
  const shares = nonZero(b, 'CpuShares');
  if (shares !== undefined) o.cpuShares = shares;
  const nano = nonZero(b, 'NanoCpus');
  const quota = nonZero(b, 'CpuQuota');
  const period = nonZero(b, 'CpuPeriod');
  if (nano !== undefined && quota !== undefined)
    throw new InvalidArgumentError('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nano !== undefined && period !== undefined)
    throw new InvalidArgumentError('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  const cpus = nano ?? nanoCpusFromQuota(quota, period);
  if (cpus !== undefined) o.nanoCpus = cpus;
  const pids = num(b, 'PidsLimit', WHAT);
  if (pids !== undefined) o.pidsLimit = pids;
  const rp = obj(b, 'RestartPolicy', WHAT);
  if (rp && !isZero(rp)) {
    const policy = decodeRestart(b);
    if (policy) o.restartPolicy = policy;
  }
  return o;
}

/** The UpdateConfig body for `o` (the remote engine's side of `decodeUpdate`). */
export function encodeUpdate(o: UpdateOptions): Json {
  const b: Json = {};
  if (o.memory !== undefined) b.Memory = o.memory;
  if (o.memorySwap !== undefined) b.MemorySwap = o.memorySwap;
  if (o.cpuShares !== undefined) b.CpuShares = o.cpuShares;
  // NanoCpus 0 reads as "leave as is"; a quota of -1 is how the API removes a CPU limit.
  if (o.nanoCpus !== undefined) {
    if (o.nanoCpus > 0) b.NanoCpus = o.nanoCpus;
    else b.CpuQuota = -1;
  }
  if (o.pidsLimit !== undefined) b.PidsLimit = o.pidsLimit;
  if (o.restartPolicy)
    b.RestartPolicy = { Name: o.restartPolicy.name, MaximumRetryCount: o.restartPolicy.maximumRetryCount };
  return b;
}
