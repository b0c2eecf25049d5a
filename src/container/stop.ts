import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreContext } from '../engine/context.ts';
import { detachContainerNetworks } from '../network/attach.ts';
import { withLock } from '../store/lock.ts';
import { ConflictError } from '../util/errors.ts';
import { removeAnonymousVolumes } from '../volume/container-mounts.ts';
import { cleanupContainer, removeContainerFiles } from './cleanup.ts';
import { holdExitWatch, waitExitFile } from './exit-file.ts';
import { containerFiles } from './paths.ts';
import { runtimeExec, selectRuntime } from './runtime.ts';
import { parseSignal, signalName } from './signals.ts';
import type { ContainerRecord } from './types.ts';

const ACTIVE = new Set(['running', 'paused', 'restarting']);

export function isActive(c: ContainerRecord): boolean {
  return ACTIVE.has(c.state.status);
}

/** Sends a signal to the container's init process through the runtime. */
export async function killContainer(
  ctx: StoreContext,
  ref: string,
  signal = 'KILL',
): Promise<ContainerRecord> {
  const c = ctx.containers.mustFind(ref);
  const sig = parseSignal(signal);
  if (c.state.status !== 'running' && c.state.status !== 'paused') {
    throw new ConflictError(`Cannot kill container: ${ref}: Container ${c.id} is not running`);
  }
  if (
    ['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT', signalName(parseSignal(c.config.stopSignal))].includes(
      signalName(sig),
    )
  ) {
    ctx.containers.update(c.id, (s) => ({ ...s, manuallyStopped: true }));
  }
  await signalContainer(ctx, c, sig);
  return c;
}

export async function stopContainer(
  ctx: StoreContext,
  ref: string,
  timeoutSec?: number,
  signal?: string,
): Promise<ContainerRecord> {
  let c = ctx.containers.mustFind(ref);
  if (!isActive(c)) return c;
  c = ctx.containers.update(c.id, (s) => ({ ...s, manuallyStopped: true }));
  if (c.state.status === 'restarting') {
    // Between runs: the restart loop sees manuallyStopped and gives up. Under the lock, so a start
    // already under way finishes first and is then stopped like any running container.
    const between = await withLock(ctx.paths, c.id, () => {
      const now = ctx.containers.mustFind(c.id);
      return now.state.status === 'restarting'
        ? ctx.containers.update(c.id, (s) => ({ ...s, status: 'exited' }))
        : undefined;
    });
    if (between) return between;
    // that start ended with manuallyStopped cleared: set it again before stopping this run
    c = ctx.containers.update(c.id, (s) => ({ ...s, manuallyStopped: true }));
    if (!isActive(c)) return c;
  }
  const f = containerFiles(ctx.paths, c.id);
  const timeout = timeoutSec ?? c.config.stopTimeout;
  const sig = parseSignal(signal ?? c.config.stopSignal);
  const send = async (s: number) => {
    await signalContainer(ctx, c, s).catch(() => undefined);
    if (c.state.status === 'paused') {
      const rt = selectRuntime(c.state.runtime || undefined);
      await runtimeExec(rt, f.runtimeState, ['resume', c.id]).catch(() => undefined);
    }
  };
  // This process records the exit: conmon's exit command need not start Berth again for it.
  const release = holdExitWatch(f.run);
  try {
    if (timeout !== 0) {
      await send(sig);
    }
    if (
      (await waitExitFile(f.exitDir, c.id, timeout < 0 ? Number.POSITIVE_INFINITY : timeout * 1000)) ===
      undefined
    ) {
      await send(9);
      await waitExitFile(f.exitDir, c.id, 10_000);
    }
    await cleanupContainer(ctx, c.id, { force: true });
  } finally {
    release();
  }
  return ctx.containers.mustFind(c.id);
}

/**
 * Signals the container's init process. Straight from here when its PID is still the container's (it
 * sits in the container's cgroup): the same as `runc kill`, without a runtime process per signal.
 */
async function signalContainer(ctx: StoreContext, c: ContainerRecord, sig: number): Promise<void> {
  const pid = c.state.pid;
  if (pid > 0) {
    let cgroups = '';
    try {
      cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      // gone already: let the runtime say so
    }
    if (cgroups.includes(`/berth/${c.id}\n`)) {
      try {
        process.kill(pid, sig);
        return;
      } catch {
        // exited meanwhile: the runtime call below reports it the usual way
      }
    }
  }
  const rt = selectRuntime(c.state.runtime || undefined);
  await runtimeExec(rt, containerFiles(ctx.paths, c.id).runtimeState, ['kill', c.id, String(sig)]);
}

export interface RemoveOptions {
  force: boolean;
  volumes: boolean;
}

export async function removeContainer(
  ctx: StoreContext,
  ref: string,
  o: RemoveOptions,
): Promise<ContainerRecord> {
  let c = ctx.containers.mustFind(ref);
  if (isActive(c)) {
    if (!o.force) {
      throw new ConflictError(
        `cannot remove container "${c.name}": container is ${c.state.status}: stop the container before removing or force remove`,
      );
    }
    await stopContainer(ctx, c.id, 0);
    // A --rm container is gone once its exit has been recorded.
    const after = ctx.containers.get(c.id);
    if (!after) return c;
    c = after;
  }
  return withLock(ctx.paths, c.id, async () => {
    if (!ctx.containers.get(c.id)) return c;
    ctx.containers.update(c.id, (s) => ({ ...s, status: 'removing' }));
    const f = containerFiles(ctx.paths, c.id);
    if (existsSync(join(f.runtimeState, c.id))) {
      const rt = selectRuntime(c.state.runtime || undefined);
      await runtimeExec(rt, f.runtimeState, ['delete', '--force', c.id]).catch(() => undefined);
    }
    await detachContainerNetworks(ctx, c.id, { forget: true }).catch(() => undefined);
    removeContainerFiles(ctx, c.id);
    rmSync(f.run, { recursive: true, force: true });
    rmSync(join(f.exitDir, c.id), { force: true });
    rmSync(join(f.socketDir, c.id), { force: true });
    ctx.containers.delete(c.id);
    if (o.volumes) removeAnonymousVolumes(ctx, c);
    return c;
  });
}
