import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from '../util/syscalls.ts';
import { locksDir, type StorePaths } from './paths.ts';

/**
 * An exclusive flock(2) on a file under the runroot. The kernel drops it if the holder dies, so a
 * killed `berth` never leaves a stale lock behind.
 */
export async function withLock<T>(paths: StorePaths, name: string, fn: () => Promise<T> | T): Promise<T> {
  const dir = locksDir(paths);
  mkdirSync(dir, { recursive: true });
  const fd = openSync(join(dir, `${name}.lock`), 'w');
  try {
    flock(fd, LOCK_EX);
    return await fn();
  } finally {
    try {
      flock(fd, LOCK_UN);
    } finally {
      closeSync(fd);
    }
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
  const fd = openSync(join(dir, `${name}.lock`), 'w');
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
  }
}
