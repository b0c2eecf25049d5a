import { closeSync, existsSync, openSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flock, LOCK_NB, LOCK_SH } from '../util/syscalls.ts';
import { findBinary } from './runtime.ts';

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

// ---- who records an exit: the caller that is waiting for it, or conmon's exit command ----
//
// conmon runs its exit command (`berth container cleanup --exited`, a Node process: ~100 ms of CPU)
// on every exit. When a live `berth` is already waiting for that exit (stop, rm -f, an attached run),
// that process records it anyway, and the second Node process only competes for the CPU. So a
// waiter holds a shared flock on `<run>/exit.watch`; the exit command is a shell that first takes the
// lock exclusively (waiting for the waiters to finish or die), then runs Berth only if the exit is
// not recorded yet, or the restart policy still has work to do (no `cleaned` marker then).

const WATCH = 'exit.watch';
const CLEANED = 'cleaned';

/**
 * Declares "this process records the next exit of the container whose run dir this is". Returns the
 * release; a no-op when the lock cannot be had at once (the exit command then does the work, as before).
 */
export function holdExitWatch(runDir: string): () => void {
  let fd: number;
  try {
    fd = openSync(join(runDir, WATCH), 'a');
  } catch {
    return () => undefined;
  }
  try {
    flock(fd, LOCK_SH | LOCK_NB);
  } catch {
    closeSync(fd);
    return () => undefined;
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    closeSync(fd); // closing the only descriptor drops the flock
  };
}

/** Tells a waiting exit command that run `generation` is fully handled (recorded, no restart due). */
export function markExitHandled(runDir: string, generation: number): void {
  try {
    writeFileSync(join(runDir, CLEANED), String(generation));
  } catch {
    // run dir gone (container removed): the exit command sees that too and does nothing
  }
}

let flockBin: string | null | undefined;

/**
 * Wraps the exit command so it runs only when needed (see above). Without util-linux `flock` the
 * command is returned as is.
 */
export function guardedExitCommand(runDir: string, generation: number, command: string[]): string[] {
  if (!command.length) return command;
  if (flockBin === undefined) flockBin = findBinary('flock') ?? null;
  if (!flockBin || !existsSync('/bin/sh') || !existsSync('/bin/true')) return command;
  const script =
    '"$0" "$1" /bin/true 2>/dev/null; [ -d "$2" ] || exit 0; g=; { read -r g < "$2/cleaned"; } 2>/dev/null; ' +
    '[ "$g" = "$3" ] && exit 0; shift 3; exec "$@"';
  return ['/bin/sh', '-c', script, flockBin, join(runDir, WATCH), runDir, String(generation), ...command];
}
