import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError } from '../util/errors.ts';
import { blobsDir, blobTmpDir, type StorePaths } from './paths.ts';

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function assertDigest(digest: string): void {
  if (!DIGEST.test(digest)) throw new BerthError(`invalid digest "${digest}": want sha256:<64 hex digits>`);
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * Content-addressed blobs in the OCI image layout (blobs/sha256/<hex>). Every write goes to a
 * temporary file, is hashed while written, and is renamed into place only when the digest matches.
 */
export class BlobStore {
  private readonly dir: string;
  private readonly tmp: string;

  constructor(paths: StorePaths) {
    this.dir = blobsDir(paths);
    this.tmp = blobTmpDir(paths);
  }

  path(digest: string): string {
    assertDigest(digest);
    return join(this.dir, digest.slice(7));
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  size(digest: string): number {
    return statSync(this.path(digest)).size;
  }

  open(digest: string): Readable {
    return createReadStream(this.path(digest));
  }

  putBytes(data: Buffer | string, expected?: string): { digest: string; size: number } {
    const digest = sha256(data);
    if (expected && expected !== digest)
      throw new BerthError(`blob digest mismatch: expected ${expected}, got ${digest}`);
    const target = this.path(digest);
    if (!existsSync(target)) {
      const tmp = this.tempName();
      writeFileSync(tmp, data);
      renameSync(tmp, target);
    }
    return { digest, size: Buffer.byteLength(data) };
  }

  /** Streams `input` into the store; rejects (and leaves nothing behind) when `expected` does not match. */
  async putStream(input: Readable, expected?: string): Promise<{ digest: string; size: number }> {
    const tmp = this.tempName();
    const hash = createHash('sha256');
    let size = 0;
    input.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    try {
      await pipeline(input, createWriteStream(tmp));
      const digest = `sha256:${hash.digest('hex')}`;
      if (expected && expected !== digest)
        throw new BerthError(`blob digest mismatch: expected ${expected}, got ${digest}`);
      renameSync(tmp, this.path(digest));
      return { digest, size };
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /**
   * As putStream, for a caller that already hashes the same bytes as they pass (the registry pull
   * verifies every blob it downloads): `digestOf` is asked once `input` has ended, and the file is
   * renamed into place only when that digest is `expected`. Saves hashing each blob twice.
   */
  async putHashedStream(input: Readable, expected: string, digestOf: () => string): Promise<void> {
    assertDigest(expected);
    const tmp = this.tempName();
    try {
      await pipeline(input, createWriteStream(tmp));
      const digest = digestOf();
      if (digest !== expected)
        throw new BerthError(`blob digest mismatch: expected ${expected}, got ${digest}`);
      renameSync(tmp, this.path(digest));
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  delete(digest: string): void {
    rmSync(this.path(digest), { force: true });
  }

  private tempName(): string {
    mkdirSync(this.tmp, { recursive: true });
    mkdirSync(this.dir, { recursive: true });
    return join(this.tmp, `${process.pid}-${randomBytes(6).toString('hex')}`);
  }
}
