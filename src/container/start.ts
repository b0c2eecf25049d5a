import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoreContext } from '../engine/context.ts';
import { attachContainerNetworks, detachContainerNetworks } from '../network/attach.ts';
import { applyNetworkEtc, resolveExtraHosts } from '../network/etc.ts';
import { withLock } from '../store/lock.ts';
import { BerthError } from '../util/errors.ts';
import { prepareMounts } from '../volume/container-mounts.ts';
import { cleanupContainer } from './cleanup.ts';
import { CreateError, launchConmon } from './conmon.ts';
import { writeEtcFiles } from './etc-files.ts';
import { guardedExitCommand, removeExitFile } from './exit-file.ts';
import { launchHealthMonitor } from './health.ts';
import { startingHealth } from './health-state.ts';
import { buildSpec, serializeSpec } from './oci-spec.ts';
import { containerFiles } from './paths.ts';
import { mountRootfs, unmountRootfs } from './rootfs.ts';
import { cgroupLayout, findBinary, runtimeExec, selectRuntime } from './runtime.ts';
import type { ContainerRecord } from './types.ts';
import { resolveUser } from './user.ts';

export interface StartHooks {
  consoleSize?: { rows: number; cols: number };
  /** Runs after the runtime has created the container and before its process starts, so an attach misses nothing. */
  beforeStart?: (attachSocket: string) => Promise<void>;
  /** A restart policy's start: skipped when `stop` got in first (checked under the container's lock). */
  onlyIfRestarting?: boolean;
}

/** The argv conmon runs when the container exits: `berth container cleanup` in a process of its own. */
function exitCommand(ctx: StoreContext, id: string): string[] {
  const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  if (!existsSync(main)) return [];
  return [
    process.execPath,
    main,
    '--root',
    ctx.paths.root,
    '--runroot',
    ctx.paths.runroot,
    'container',
    'cleanup',
    '--exited',
    id,
  ];
}

function cpuQuota(nanoCpus: number): { quota?: number; period?: number } {
  if (!nanoCpus) return {};
  const period = 100_000;
  return { quota: Math.round((nanoCpus / 1e9) * period), period };
}

export async function startContainer(
  ctx: StoreContext,
  id: string,
  hooks: StartHooks = {},
): Promise<ContainerRecord> {
  return withLock(ctx.paths, id, () => startLocked(ctx, id, hooks));
}

async function startLocked(ctx: StoreContext, id: string, hooks: StartHooks): Promise<ContainerRecord> {
  let c = ctx.containers.mustFind(id);
  if (c.state.status === 'running' || c.state.status === 'paused') return c;
  if (hooks.onlyIfRestarting && (c.state.status !== 'restarting' || c.state.manuallyStopped)) return c;
  if (c.state.cleanedGeneration < c.state.generation) await cleanupContainer(ctx, c.id, { locked: true });
  c = ctx.containers.mustFind(id);
  const f = containerFiles(ctx.paths, c.id);
  const runtime = selectRuntime(c.state.runtime || c.config.host.runtime || undefined);
  const cfg = c.config;
  const generation = c.state.generation + 1;
  c = ctx.containers.update(c.id, (s) => ({ ...s, generation, error: '' }));
  try {
    for (const d of [f.bundle, f.run, f.persist, f.exitDir, f.runtimeState, f.socketDir])
      mkdirSync(d, { recursive: true });
    rmSync(f.oomFile, { force: true });
    rmSync(join(f.persist, 'exit'), { force: true });
    removeExitFile(f.exitDir, c.id);
    // netavark and the overlay mount are independent: let them overlap.
    const netting = attachContainerNetworks(ctx, c);
    netting.catch(() => undefined);
    const rootfs = await mountRootfs(ctx, c).catch(async (err: unknown) => {
      await netting.catch(() => undefined); // settled, so the cleanup below undoes all of it
      throw err;
    });
    const hostNet = cfg.host.networkMode === 'host';
    const net = await netting;
    const etc = writeEtcFiles(
      f.bundle,
      cfg.hostname,
      hostNet,
      resolveExtraHosts(cfg.host.extraHosts ?? [], net.hostGateway),
    );
    applyNetworkEtc(etc, (other) => containerFiles(ctx.paths, other).bundle, cfg.hostname, cfg.host, net);
    const user = resolveUser(rootfs, cfg.user);
    const volumes = prepareMounts(ctx, c, rootfs);
    const env = [...cfg.env];
    if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${cfg.hostname}`);
    if (cfg.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
    if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
    const args = [...(cfg.entrypoint ?? []), ...(cfg.cmd ?? [])];
    const initPath = cfg.host.init ? findBinary('tini-static') : undefined;
    if (cfg.host.init && !initPath) throw new BerthError('--init needs tini-static: apt-get install tini');
    const spec = buildSpec({
      rootfs,
      readonlyRootfs: cfg.host.readonlyRootfs,
      args,
      env,
      cwd: cfg.workingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      terminal: cfg.tty,
      consoleSize: hooks.consoleSize,
      hostname: cfg.hostname,
      domainname: cfg.domainname || undefined,
      etcFiles: etc,
      tmpfs: [
        ...Object.entries(cfg.host.tmpfs).map(([target, opts]) => ({
          target,
          options: opts ? opts.split(',') : [],
        })),
        ...volumes.tmpfs,
      ],
      binds: volumes.binds,
      shmSize: cfg.host.shmSize,
      memory: cfg.host.memory || undefined,
      memorySwap: cfg.host.memorySwap || undefined,
      cpuShares: cfg.host.cpuShares || undefined,
      ...(() => {
        const q = cpuQuota(cfg.host.nanoCpus);
        return { cpuQuota: q.quota, cpuPeriod: q.period };
      })(),
      pidsLimit: cfg.host.pidsLimit || undefined,
      capAdd: cfg.host.capAdd,
      capDrop: cfg.host.capDrop,
      privileged: cfg.host.privileged,
      noNewPrivileges: cfg.host.securityOpt.some((o) => /^no-new-privileges(:true|=true)?$/.test(o)),
      seccomp: cfg.host.securityOpt.some((o) => /^seccomp[=:]unconfined$/.test(o)) ? 'unconfined' : 'default',
      ulimits: cfg.host.ulimits,
      cgroupsPath: `/berth/${c.id}`,
      cgroupV2: cgroupLayout() === 'v2',
      network: net.spec,
      ipc: 'private',
      pid: 'private',
      uts: hostNet ? 'host' : 'private',
      oomScoreAdj: cfg.host.oomScoreAdj || undefined,
      init: initPath ? { hostPath: initPath } : undefined,
      annotations: { 'io.berth.container.name': c.name },
    });
    writeFileSync(join(f.bundle, 'config.json'), serializeSpec(spec));
    // A stale runtime state (crash between create and delete) would make create fail with "already exists".
    if (existsSync(join(f.runtimeState, c.id))) {
      await runtimeExec(runtime, f.runtimeState, ['delete', '--force', c.id]).catch(() => undefined);
    }
    const handle = await launchConmon({
      id: c.id,
      cuuid: c.id,
      name: c.name,
      runtime,
      runtimeStateDir: f.runtimeState,
      bundle: f.bundle,
      pidFile: f.pidFile,
      conmonPidFile: f.conmonPidFile,
      persistDir: f.persist,
      exitDir: f.exitDir,
      socketDir: f.socketDir,
      logPath: f.log,
      logSizeMax: cfg.host.log.maxSize,
      logBackups: cfg.host.log.maxFile - 1,
      stdin: cfg.openStdin,
      tty: cfg.tty,
      exitCommand: guardedExitCommand(f.run, generation, exitCommand(ctx, c.id)),
    });
    handle.sync.close();
    if (hooks.beforeStart) await hooks.beforeStart(f.attach());
    const startedAt = new Date().toISOString();
    await runtimeExec(runtime, f.runtimeState, ['start', c.id]);
    let conmonPid = 0;
    try {
      conmonPid = Number(readFileSync(f.conmonPidFile, 'utf8').trim());
    } catch {
      // conmon writes its pid file before forking; a missing one only costs us liveness checks
    }
    const started = ctx.containers.update(c.id, (s) => ({
      ...s,
      status: 'running',
      pid: handle.pid,
      conmonPid,
      startedAt,
      manuallyStopped: false,
      runtime: runtime.name,
      health: startingHealth(cfg.healthcheck, s.health),
    }));
    launchHealthMonitor(ctx, started);
    return started;
  } catch (err) {
    await runtimeExec(runtime, f.runtimeState, ['delete', '--force', c.id]).catch(() => undefined);
    await detachContainerNetworks(ctx, c.id).catch(() => undefined);
    unmountRootfs(ctx, c.id);
    const msg = err instanceof Error ? err.message : String(err);
    const code = err instanceof BerthError ? err.exitCode : 125;
    ctx.containers.update(c.id, (s) => ({
      ...s,
      status: s.startedAt === '0001-01-01T00:00:00Z' ? 'created' : 'exited',
      exitCode: code === 125 ? 128 : code,
      error: msg,
      cleanedGeneration: generation,
    }));
    if (err instanceof CreateError) throw err;
    throw err instanceof BerthError ? err : new BerthError(`starting container ${c.name}: ${msg}`);
  }
}
