import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from '../util/syscalls.ts';
import { locksDir, type StorePaths } from './paths.ts';

/** Locks this process holds or waits for, by file: flock(2) cannot order two holders in one process. */
const held = new Map<string, Promise<void>>();

async function acquire(file: string): Promise<{ fd: number; release: () => void }> {
  // Queue behind holders in this process first; a second flock from the same process would block it.
  for (;;) {
    const prev = held.get(file);
    if (!prev) break;
    await prev;
  }
  let done!: () => void;
  held.set(
    file,
    new Promise<void>((r) => {
      done = r;
    }),
  );
  const release = () => {
    held.delete(file);
    done();
  };
  let fd: number;
  try {
    fd = openSync(file, 'w');
  } catch (err) {
    release();
    throw err;
  }
  // Another process may hold it: poll rather than block the event loop (other work goes on meanwhile).
  for (let delay = 1; ; delay = Math.min(delay * 2, 25)) {
    try {
      flock(fd, LOCK_EX | LOCK_NB);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  return {
    fd,
    release: () => {
      try {
        flock(fd, LOCK_UN);
      } finally {
        closeSync(fd);
        release();
      }
    },
  };
}

/**
 * An exclusive flock(2) on a file under the runroot. The kernel drops it if the holder dies, so a
 * killed `berth` never leaves a stale lock behind. Holders in one process are queued in order.
 */
export async function withLock<T>(paths: StorePaths, name: string, fn: () => Promise<T> | T): Promise<T> {
  const dir = locksDir(paths);
  mkdirSync(dir, { recursive: true });
  const lock = await acquire(join(dir, `${name}.lock`));
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** withLock on any file path (host-wide locks outside the runroot). */
export async function withFileLock<T>(file: string, fn: () => Promise<T> | T): Promise<T> {
  const lock = await acquire(file);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** Like withLock, but gives up at once (returning undefined) when someone else holds the lock. */
export async function tryWithLock<T>(
  paths: StorePaths,
  name: string,
  fn: () => Promise<T> | T,
): Promise<T | undefined> {
  const dir = locksDir(paths);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.lock`);
  if (held.has(file)) return undefined;
  let done!: () => void;
  held.set(
    file,
    new Promise<void>((r) => {
      done = r;
    }),
  );
  const fd = openSync(file, 'w');
  try {
    try {
      flock(fd, LOCK_EX | LOCK_NB);
    } catch {
      return undefined;
    }
    try {
      return await fn();
    } finally {
      flock(fd, LOCK_UN);
    }
  } finally {
    closeSync(fd);
    held.delete(file);
    done();
  }
}
