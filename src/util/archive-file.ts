import { closeSync, createReadStream, fstatSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { BerthError } from './errors.ts';

/**
 * Opens the archive file at `path` up front, so that a missing or unreadable file is reported as
 * docker reports it before anything is written; a directory fails with `directoryError`.
 */
export function openArchiveFile(path: string, directoryError: string, highWaterMark?: number): Readable {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new BerthError(`open ${path}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
  }
  if (fstatSync(fd).isDirectory()) {
    closeSync(fd);
    throw new BerthError(directoryError);
  }
  return createReadStream(path, highWaterMark === undefined ? { fd } : { fd, highWaterMark });
}
