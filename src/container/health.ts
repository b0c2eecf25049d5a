import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { StoreContext } from '../engine/context.ts';
import { containerAttributes, recordEvent } from '../engine/events.ts';
import { tryWithLock } from '../store/lock.ts';
import { BerthError, ConflictError } from '../util/errors.ts';
import { pidAlive } from './cleanup.ts';
import { execInContainer } from './exec.ts';
import { readExitFile } from './exit-file.ts';
import { goDuration, HEALTH_DEFAULTS, hasProbe } from './health-config.ts';
import { applyResult, type HealthcheckRunResult, healthStatus } from './health-state.ts';
import { containerFiles } from './paths.ts';
import type { ContainerRecord, HealthLogEntry, HealthState } from './types.ts';

/**
 * Health checks without a daemon: `start` spawns one detached `berth container healthcheck-monitor`
 * per container run. It sleeps between probes holding nothing but its own flock (so at most one
 * monitor per container runs), execs each probe through conmon like `berth exec`, and writes the
 * results into the container's state record, where every berth process and the API read them.
 * It exits on its own once that run of the container is over (stopped, restarted or removed).
 */

/** How often a sleeping monitor looks whether its container is still running. */
const POLL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collects probe output up to docker's 4096 bytes; more is dropped and marked with `...`. */
class LimitedBuffer extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    const keep = Math.min(HEALTH_DEFAULTS.maxOutput - this.size, chunk.length);
    if (keep > 0) {
      this.chunks.push(chunk.subarray(0, keep));
      this.size += keep;
    }
    if (keep < chunk.length) this.truncated = true;
    done();
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8') + (this.truncated ? '...' : '');
  }
}

/** The shell a CMD-SHELL probe runs with: the image's SHELL, else `/bin/sh -c` (docker's getShell). */
function probeShell(ctx: StoreContext, c: ContainerRecord): string[] {
  const shell = ctx.images.get(c.imageId)?.config.config?.Shell;
  return shell?.length ? shell : ['/bin/sh', '-c'];
}

/** Kills an exec'd probe: its pid file sits in the exec's session dir (see exec.ts). */
async function killExec(ctx: StoreContext, c: ContainerRecord, execId: string): Promise<void> {
  const pidFile = join(containerFiles(ctx.paths, c.id).run, 'exec', execId.slice(0, 12), 'pid');
  for (let i = 0; i < 20; i++) {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid > 0) {
        process.kill(pid, 'SIGKILL');
        return;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    }
    await sleep(50);
  }
}

/** Runs the container's probe once, as docker's cmdProbe does; never throws. */
export async function runProbe(ctx: StoreContext, c: ContainerRecord): Promise<HealthLogEntry> {
  const hc = c.config.healthcheck ?? {};
  const test = hc.Test ?? [];
  const start = new Date().toISOString();
  const result = (exitCode: number, output: string): HealthLogEntry => ({
    start,
    end: new Date().toISOString(),
    exitCode,
    output,
  });
  const cmd = test[0] === 'CMD-SHELL' ? [...probeShell(ctx, c), ...test.slice(1)] : test.slice(1);
  if (cmd.length === 0) return result(-1, 'healthcheck has no command');
  const out = new LimitedBuffer();
  try {
    const exec = await execInContainer(
      ctx,
      c.id,
      { cmd, env: [], tty: false, stdin: false, detach: false, privileged: false },
      { stdout: out, stderr: out },
    );
    const timeoutNs = hc.Timeout || HEALTH_DEFAULTS.timeout;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutNs / 1e6);
    });
    const code = await Promise.race([exec.exitCode, timedOut]);
    clearTimeout(timer);
    if (code === 'timeout') {
      await killExec(ctx, c, exec.execId);
      // Wait for the probe to go, so dying probes do not pile up.
      await exec.exitCode.catch(() => undefined);
      const msg = `Health check exceeded timeout (${goDuration(timeoutNs)})`;
      const text = out.text();
      return result(-1, text ? `${msg}: ${text}` : msg);
    }
    return result(code, out.text());
  } catch (err) {
    return result(-1, err instanceof Error ? err.message : String(err));
  }
}

/**
 * Records a probe result for run `generation` of the container (a later run's state is left alone);
 * returns the new health state, or undefined when the result was dropped.
 */
export function recordResult(
  ctx: StoreContext,
  id: string,
  generation: number,
  r: HealthLogEntry,
): HealthState | undefined {
  let before: string | undefined;
  let after: HealthState | undefined;
  let c: ContainerRecord;
  try {
    c = ctx.containers.update(id, (s, rec) => {
      const hc = rec.config.healthcheck;
      if (s.generation !== generation || !hasProbe(hc)) return undefined;
      const h = s.health ?? { status: 'starting', failingStreak: 0, log: [] };
      before = s.health?.status;
      after = applyResult(h, hc, s.startedAt, r);
      return { ...s, health: after };
    });
  } catch {
    return undefined; // removed meanwhile
  }
  if (after && after.status !== before)
    recordEvent(ctx.db, 'container', `health_status: ${after.status}`, id, containerAttributes(c));
  return after;
}

/** `berth healthcheck run`: one probe now, recorded like the monitor's. */
export async function healthcheckRun(ctx: StoreContext, ref: string): Promise<HealthcheckRunResult> {
  const c = ctx.containers.mustFind(ref);
  if (!hasProbe(c.config.healthcheck)) throw new BerthError(`container ${c.name} has no defined healthcheck`);
  if (c.state.status !== 'running') throw new ConflictError(`container ${c.name} is not running`);
  const r = await runProbe(ctx, c);
  const h = recordResult(ctx, c.id, c.state.generation, r);
  return { exitCode: r.exitCode, output: r.output, status: h?.status ?? healthStatus(c) };
}

/** The berth CLI as a command line: dist's main.js beside this module (absent when run from source). */
function berthArgv(ctx: StoreContext, args: string[]): string[] | undefined {
  const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  if (!existsSync(main)) return undefined;
  return [process.execPath, main, '--root', ctx.paths.root, '--runroot', ctx.paths.runroot, ...args];
}

/** The argv of a container's monitor process (tests look for it). */
export function monitorArgs(id: string): string[] {
  return ['container', 'healthcheck-monitor', id];
}

/**
 * Starts the health monitor of a just-started container, if it has a probe. The monitor is a
 * process of its own, in its own session with stdio on /dev/null, so it outlives this `berth`.
 */
export function launchHealthMonitor(ctx: StoreContext, c: ContainerRecord): void {
  if (!hasProbe(c.config.healthcheck)) return;
  const argv = berthArgv(ctx, monitorArgs(c.id));
  if (!argv) return;
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  child.unref();
}

/**
 * The monitor's body: probes container `id` for as long as the run it was started for lasts. Waits
 * for the monitor lock first, because the previous run's monitor may still be winding down.
 */
export async function monitorHealth(ctx: StoreContext, id: string): Promise<void> {
  const first = ctx.containers.get(id);
  if (!first || !hasProbe(first.config.healthcheck)) return;
  const generation = first.state.generation;
  const f = containerFiles(ctx.paths, id);
  const live = (): ContainerRecord | undefined => {
    const c = ctx.containers.get(id);
    if (!c || c.state.generation !== generation) return undefined;
    if (c.state.status !== 'running' && c.state.status !== 'paused') return undefined;
    if (readExitFile(f.exitDir, id) !== undefined) return undefined;
    if (c.state.conmonPid && !pidAlive(c.state.conmonPid)) return undefined;
    return c;
  };
  for (;;) {
    if (!live()) return;
    const done = await tryWithLock(ctx.paths, `${id}.health`, () => probeLoop(ctx, first, live));
    if (done) return;
    await sleep(100);
  }
}

async function probeLoop(
  ctx: StoreContext,
  c: ContainerRecord,
  live: () => ContainerRecord | undefined,
): Promise<true> {
  const hc = c.config.healthcheck ?? {};
  const intervalMs = (hc.Interval || HEALTH_DEFAULTS.interval) / 1e6;
  const startIntervalMs = (hc.StartInterval || HEALTH_DEFAULTS.startInterval) / 1e6;
  const startPeriodMs = (hc.StartPeriod || HEALTH_DEFAULTS.startPeriod) / 1e6;
  const startedMs = Date.parse(c.state.startedAt);
  // moby's getInterval: the start interval while starting inside the start period, else the interval.
  const nextDelay = (cur: ContainerRecord) => {
    if (Date.now() - startedMs >= startPeriodMs) return intervalMs;
    return cur.state.health?.status === 'starting' ? startIntervalMs : intervalMs;
  };
  let cur = c;
  for (;;) {
    const wakeAt = Date.now() + nextDelay(cur);
    for (let left = wakeAt - Date.now(); left > 0; left = wakeAt - Date.now()) {
      await sleep(Math.min(left, POLL_MS));
      if (!live()) return true;
    }
    const now = live();
    if (!now) return true;
    cur = now;
    // docker stops probing while paused; the exec would be refused anyway.
    if (now.state.status === 'paused') continue;
    const r = await runProbe(ctx, now);
    // A probe cut short by the container's exit is not a result (docker drops it too).
    if (!live()) return true;
    recordResult(ctx, now.id, now.state.generation, r);
    cur = live() ?? now;
  }
}
