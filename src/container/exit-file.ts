import { existsSync, readFileSync, rmSync, watch } from 'node:fs';
import { join } from 'node:path';

/** conmon writes the container's exit status to `<exitDir>/<id>` once the container has exited. */
export function readExitFile(exitDir: string, id: string): number | undefined {
  try {
    const s = readFileSync(join(exitDir, id), 'utf8').trim();
    if (s === '') return undefined;
    const n = Number.parseInt(s, 10);
    return Number.isNaN(n) ? undefined : n;
  } catch {
    return undefined;
  }
}

export function removeExitFile(exitDir: string, id: string): void {
  rmSync(join(exitDir, id), { force: true });
}

/**
 * Resolves with the exit status once the exit file appears (inotify on the directory, with a slow
 * poll as a safety net), or undefined after `timeoutMs` (Infinity waits forever).
 */
export function waitExitFile(
  exitDir: string,
  id: string,
  timeoutMs = Number.POSITIVE_INFINITY,
): Promise<number | undefined> {
  const now = readExitFile(exitDir, id);
  if (now !== undefined) return Promise.resolve(now);
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: number | undefined) => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      resolve(v);
    };
    const check = () => {
      const v = readExitFile(exitDir, id);
      if (v !== undefined) finish(v);
    };
    let watcher: ReturnType<typeof watch> | undefined;
    if (existsSync(exitDir)) {
      watcher = watch(exitDir, (_ev, name) => {
        if (name === id) check();
      });
    }
    const poll = setInterval(check, 250);
    const timer = Number.isFinite(timeoutMs) ? setTimeout(() => finish(undefined), timeoutMs) : undefined;
    check();
  });
}
