import { HEALTH_DEFAULTS, type HealthConfig, hasProbe } from './health-config.ts';
import type { ContainerRecord, HealthLogEntry, HealthState } from './types.ts';

/** docker's `Up 3 seconds (health: starting)` suffix. */
export function healthText(h: HealthState): string {
  return h.status === 'starting' ? 'health: starting' : h.status;
}

/** The State.Health value docker's `ps --filter health=` compares with: `none` without a monitor. */
export function healthStatus(c: ContainerRecord): string {
  return c.state.health?.status ?? 'none';
}

/** docker's State.Health JSON. */
export function healthJson(h: HealthState) {
  return {
    Status: h.status,
    FailingStreak: h.failingStreak,
    Log: h.log.map((e) => ({ Start: e.start, End: e.end, ExitCode: e.exitCode, Output: e.output })),
  };
}

/** The health state a (re)started container begins with: `starting`, keeping the earlier log (as docker). */
export function startingHealth(hc: HealthConfig | undefined, prev: HealthState | undefined) {
  if (!hasProbe(hc)) return prev;
  return { status: 'starting' as const, failingStreak: 0, log: prev?.log ?? [] };
}

/** moby's handleProbeResult: the next health state after one probe result. */
export function applyResult(
  h: HealthState,
  hc: HealthConfig,
  startedAt: string,
  r: HealthLogEntry,
): HealthState {
  const retries = hc.Retries && hc.Retries > 0 ? hc.Retries : HEALTH_DEFAULTS.retries;
  const log = [...h.log, r].slice(-HEALTH_DEFAULTS.maxLog);
  if (r.exitCode === 0) return { status: 'healthy', failingStreak: 0, log };
  let { status, failingStreak } = h;
  // Failures inside the start period count only once a probe has succeeded.
  const startPeriodMs = (hc.StartPeriod || HEALTH_DEFAULTS.startPeriod) / 1e6;
  const inStartPeriod = status === 'starting' && Date.parse(r.start) - Date.parse(startedAt) < startPeriodMs;
  if (!inStartPeriod) {
    failingStreak++;
    if (failingStreak >= retries) status = 'unhealthy';
  }
  return { status, failingStreak, log };
}

/** One manual probe (`berth healthcheck run`): its exit code and output, and the status it left. */
export interface HealthcheckRunResult {
  exitCode: number;
  output: string;
  status: string;
}
