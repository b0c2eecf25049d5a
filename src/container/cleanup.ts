import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreContext } from '../engine/context.ts';
import { containerAttributes, recordEvent, recordVolumeEvents } from '../engine/events.ts';
import { detachContainerNetworks, hasNetworkState } from '../network/attach.ts';
import { tryWithLock, withLock } from '../store/lock.ts';
import { removeAnonymousVolumes } from '../volume/container-mounts.ts';
import { holdExitWatch, markExitHandled, readExitFile, waitExitFile } from './exit-file.ts';
import { containerFiles } from './paths.ts';
import { isMounted, removeContainerFiles, rootfsDirs, unmountRootfs } from './rootfs.ts';
import { runtimeExec, selectRuntime } from './runtime.ts';
import type { ContainerRecord, ContainerState } from './types.ts';

export function pidAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface CleanupOptions {
  /** The caller already holds the container's lock. */
  locked?: boolean;
  /** Record an exit even without an exit file (conmon is gone): the container is dead. */
  force?: boolean;
}

export interface CleanupResult {
  container?: ContainerRecord;
  /** Set when the restart policy wants the container back, after `delayMs`. */
  restart?: { delayMs: number; generation: number };
}

/**
 * Records a container's exit and releases what its run held (runtime state, overlay mount).
 * Idempotent: conmon's exit command, an attached `run`, `stop` and `rm` may all call it for the same
 * exit, and only the first does the work.
 */
export async function cleanupContainer(
  ctx: StoreContext,
  id: string,
  opts: CleanupOptions = {},
): Promise<CleanupResult> {
  const run = () => cleanupLocked(ctx, id, opts);
  return opts.locked ? run() : withLock(ctx.paths, id, run);
}

async function cleanupLocked(ctx: StoreContext, id: string, opts: CleanupOptions): Promise<CleanupResult> {
  const c = ctx.containers.get(id);
  if (!c) return {};
  if (c.state.cleanedGeneration >= c.state.generation) return { container: c };
  const f = containerFiles(ctx.paths, id);
  let exitCode = readExitFile(f.exitDir, id);
  if (exitCode === undefined) {
    if (pidAlive(c.state.conmonPid) && !opts.force) return { container: c };
    // No exit file: either we gave up waiting after SIGKILL, or the monitor itself died.
    exitCode = opts.force ? 137 : 255;
  }
  const oomKilled = existsSync(f.oomFile);
  let finishedAt = new Date().toISOString();
  try {
    finishedAt = statSync(join(f.exitDir, id)).mtime.toISOString();
  } catch {
    // no exit file: now is as good as it gets
  }
  // The process is gone: its network can go while the runtime forgets it.
  const detaching = detachContainerNetworks(ctx, id, {
    forget: c.config.host.autoRemove && c.state.status !== 'removing',
  }).catch(() => undefined);
  try {
    const rt = selectRuntime(c.state.runtime || undefined);
    if (existsSync(join(f.runtimeState, id)))
      await runtimeExec(rt, f.runtimeState, ['delete', '--force', id]);
  } catch {
    // the runtime may have removed its state already
  }
  unmountRootfs(ctx, id);
  await detaching;
  // The exit file's mtime has a coarser clock than ours: never finish before the start.
  if (finishedAt < c.state.startedAt) finishedAt = c.state.startedAt;
  const ranMs = Date.parse(finishedAt) - Date.parse(c.state.startedAt);
  const generation = c.state.generation;
  const updated = ctx.containers.update(id, (s) => {
    const next: ContainerState = {
      ...s,
      status: 'exited',
      exitCode: exitCode!,
      oomKilled,
      pid: 0,
      finishedAt,
      cleanedGeneration: generation,
    };
    return next;
  });
  recordEvent(ctx.db, 'container', 'die', id, containerAttributes(c, { exitCode: String(exitCode) }));
  recordVolumeEvents(ctx.db, c, 'unmount');
  if (c.config.host.autoRemove && c.state.status !== 'removing') {
    removeContainerFiles(ctx, id);
    rmSync(f.run, { recursive: true, force: true });
    rmSync(join(f.exitDir, id), { force: true });
    ctx.containers.delete(id);
    removeAnonymousVolumes(ctx, c);
    recordEvent(ctx.db, 'container', 'destroy', id, containerAttributes(c));
    return {};
  }
  const delayMs = restartDelay(updated, ranMs);
  if (delayMs === undefined) {
    markExitHandled(f.run, generation);
    return { container: updated };
  }
  const restarting = ctx.containers.update(id, (s) => ({
    ...s,
    status: 'restarting',
    restartCount: s.restartCount + 1,
  }));
  return { container: restarting, restart: { delayMs, generation } };
}

/**
 * Records the container's next exit from this process, as soon as it happens, so conmon's exit command
 * finds nothing to do (see exit-file.ts). Call it before the container's process starts (or is
 * signalled); it ends by itself after that exit, or when this process exits.
 */
export function watchExit(ctx: StoreContext, id: string): void {
  const f = containerFiles(ctx.paths, id);
  const release = holdExitWatch(f.run);
  const watch = async () => {
    // Gives up when the run ends without an exit file (monitor killed): reconcile repairs that.
    while ((await waitExitFile(f.exitDir, id, 5000)) === undefined) {
      const c = ctx.containers.get(id);
      if (!c || !(c.state.status === 'running' || c.state.status === 'paused')) return;
      if (!pidAlive(c.state.conmonPid)) return;
    }
    await cleanupContainer(ctx, id);
  };
  void watch()
    .catch(() => undefined)
    .finally(release);
}

/** docker's policy: undefined = stay down; otherwise the back-off before the next start. */
export function restartDelay(c: ContainerRecord, ranMs: number): number | undefined {
  const p = c.config.host.restartPolicy;
  const s = c.state;
  if (s.manuallyStopped || s.status === 'removing') return undefined;
  const wanted =
    p.name === 'always' ||
    p.name === 'unless-stopped' ||
    (p.name === 'on-failure' &&
      s.exitCode !== 0 &&
      (p.maximumRetryCount === 0 || s.restartCount < p.maximumRetryCount));
  if (!wanted) return undefined;
  // Back-off doubles from 100 ms up to a minute, and starts over once a run lasted 10 s.
  if (ranMs >= 10_000) return 100;
  return Math.min(60_000, 100 * 2 ** Math.min(s.restartCount, 10));
}

/**
 * Repairs what a crash left behind: containers whose monitor died without recording an exit (host
 * reboot, kill -9), overlays still mounted for containers that are not running (a `berth` killed
 * mid-start), and half-unpacked layers. Containers someone is working on right now (locked) are skipped.
 */
export async function reconcile(ctx: StoreContext): Promise<void> {
  for (const c of ctx.containers.list()) {
    const f = containerFiles(ctx.paths, c.id);
    if (c.state.status === 'running' || c.state.status === 'paused') {
      if (readExitFile(f.exitDir, c.id) !== undefined || !pidAlive(c.state.conmonPid)) {
        // Whoever holds the lock (conmon's exit command, a `run`) is recording this exit already.
        const force = !pidAlive(c.state.conmonPid);
        await tryWithLock(ctx.paths, c.id, () => cleanupContainer(ctx, c.id, { force, locked: true }));
      }
      continue;
    }
    if (c.state.status !== 'restarting' && hasNetworkState(c.id)) {
      await tryWithLock(ctx.paths, c.id, async () => {
        const now = ctx.containers.get(c.id);
        if (now && now.state.status !== 'running' && now.state.status !== 'paused')
          await detachContainerNetworks(ctx, c.id).catch(() => undefined);
      });
    }
    if (c.state.status === 'restarting' || !isMounted(rootfsDirs(ctx, c.id).merged)) continue;
    await tryWithLock(ctx.paths, c.id, () => {
      const now = ctx.containers.get(c.id);
      if (now && now.state.status !== 'running' && now.state.status !== 'paused') unmountRootfs(ctx, c.id);
    });
  }
  ctx.layers.sweep();
}

export { removeContainerFiles };
