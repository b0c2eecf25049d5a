import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { StoreContext } from '../engine/context.ts';
import { BerthError } from '../util/errors.ts';
import { buildTmpDir } from './context.ts';

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz';

/** ADD extracts local archives docker recognises by their first bytes: tar, gzip, bzip2, xz. */
export async function sniffArchive(path: string): Promise<ArchiveKind | null> {
  const fd = fs.openSync(path, 'r');
  try {
    const b = Buffer.alloc(512);
    const n = fs.readSync(fd, b, 0, 512, 0);
    if (n >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (n >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    if (n >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (n >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/** The archive's tar stream, decompressed (bzip2 and xz by the host's tools, as docker's do). */
export async function openArchive(path: string, kind: ArchiveKind): Promise<Readable> {
  const file = fs.createReadStream(path);
  if (kind === 'tar') return file;
  if (kind === 'gzip') return file.pipe(createGunzip());
  const tool = kind === 'bzip2' ? 'bzip2' : 'xz';
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  child.on('error', (err) =>
    child.stdout.destroy(new BerthError(`cannot decompress ${path}: ${tool}: ${err.message}`)),
  );
  file.pipe(child.stdin);
  return child.stdout;
}

/** Downloads an ADD URL into the build's scratch space, checking `--checksum` when given. */
export async function fetchUrl(
  ctx: StoreContext,
  url: string,
  checksum: string | undefined,
): Promise<{ path: string; name: string; size: number; digest: string; mtime: Date }> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (err) {
    throw new BerthError(`failed to load ${url}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new BerthError(`failed to load ${url}: HTTP ${res.status}`);
  const path = join(buildTmpDir(ctx), `url-${randomBytes(8).toString('hex')}`);
  const h = createHash('sha256');
  const out = fs.openSync(path, 'w', 0o600);
  let size = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      h.update(chunk);
      fs.writeSync(out, chunk);
      size += chunk.length;
    }
  } finally {
    fs.closeSync(out);
  }
  const digest = `sha256:${h.digest('hex')}`;
  if (checksum && checksum !== digest) {
    fs.rmSync(path, { force: true });
    throw new BerthError(`digest mismatch for ${url}: got ${digest}, want ${checksum}`);
  }
  const lm = res.headers.get('last-modified');
  const name = posix.basename(new URL(url).pathname) || 'download';
  process.once('exit', () => fs.rmSync(path, { force: true }));
  return { path, name, size, digest, mtime: lm ? new Date(lm) : new Date() };
}
