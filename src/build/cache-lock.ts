import { closeSync, openSync } from 'node:fs';
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from '../util/syscalls.ts';

/**
 * Takes an exclusive flock on `path` without blocking the event loop (other steps of the same
 * build keep running while one waits for a `sharing=locked` cache mount); returns the release.
 */
export async function lockFile(path: string): Promise<() => void> {
  const fd = openSync(path, 'w');
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    try {
      flock(fd, LOCK_EX | LOCK_NB);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  return () => {
    try {
      flock(fd, LOCK_UN);
    } finally {
      closeSync(fd);
    }
  };
}
