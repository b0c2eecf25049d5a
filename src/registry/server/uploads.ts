import { createHash, type Hash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { RegistryError } from './errors.ts';
import type { RegistryStorage } from './storage.ts';

/**
 * Blob upload sessions, each a directory `uploads/<uuid>` holding `state.json` (its repository and
 * start time) and `data` (the bytes received so far). Bodies stream to `data` while being hashed;
 * a session becomes a blob only in `finish`, after its digest is verified, by renaming `data` into
 * the blob store (same filesystem). A client that goes away mid-PATCH leaves the bytes that arrived
 * in the session, where GET shows the range and PATCH resumes; expired sessions are purged.
 */
interface UploadState {
  repo: string;
  startedAt: number;
}

/** The running hash of a session, valid while `offset` equals the data file's size. */
interface LiveHash {
  hash: Hash;
  offset: number;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WRITE_BATCH = 1 << 20;

export interface ContentRange {
  start: number;
  end: number;
}

/** `Content-Range: <start>-<end>` (distribution's form) or `bytes <start>-<end>/<size|*>`. */
export function parseContentRange(v: string | undefined): ContentRange | undefined {
  if (v === undefined) return undefined;
  const m = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(v.trim());
  if (!m) throw new RegistryError('BLOB_UPLOAD_INVALID', `malformed Content-Range "${v}"`, undefined, 416);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) throw new RegistryError('BLOB_UPLOAD_INVALID', `bad Content-Range "${v}"`, undefined, 416);
  return { start, end };
}

export class Uploads {
  private live = new Map<string, LiveHash>();
  private busy = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private store: RegistryStorage,
    private expiryMs: number,
  ) {}

  private dir(uuid: string): string {
    return join(this.store.uploadsDir, uuid);
  }

  private dataPath(uuid: string): string {
    return join(this.dir(uuid), 'data');
  }

  async create(repo: string): Promise<string> {
    const uuid = randomUUID();
    await this.store.mkdirp(this.dir(uuid));
    await writeFile(this.dataPath(uuid), '');
    const state: UploadState = { repo, startedAt: Date.now() };
    await writeFile(join(this.dir(uuid), 'state.json'), JSON.stringify(state));
    this.live.set(uuid, { hash: createHash('sha256'), offset: 0 });
    return uuid;
  }

  /** The number of bytes the session holds; BLOB_UPLOAD_UNKNOWN for a bad, foreign or gone uuid. */
  async size(repo: string, uuid: string): Promise<number> {
    const unknown = () => new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { uuid: uuid.slice(0, 64) });
    if (!UUID_RE.test(uuid)) throw unknown();
    try {
      const state = JSON.parse(await readFile(join(this.dir(uuid), 'state.json'), 'utf8')) as UploadState;
      if (state.repo !== repo) throw unknown();
      return (await stat(this.dataPath(uuid))).size;
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw unknown();
    }
  }

  private claim(uuid: string): void {
    if (this.busy.has(uuid))
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'another request is writing to this upload', {
        uuid,
      });
    this.busy.add(uuid);
  }

  /**
   * Appends a request body. With a Content-Range, its start must be the current size (416 otherwise)
   * and its length the Content-Length. Returns the new size.
   */
  async append(
    repo: string,
    uuid: string,
    body: Readable,
    range: ContentRange | undefined,
    length: number | undefined,
  ): Promise<number> {
    this.claim(uuid);
    try {
      const size = await this.size(repo, uuid);
      return await this.appendClaimed(uuid, size, body, range, length);
    } finally {
      this.busy.delete(uuid);
    }
  }

  private async appendClaimed(
    uuid: string,
    size: number,
    body: Readable,
    range: ContentRange | undefined,
    length: number | undefined,
  ): Promise<number> {
    if (range) {
      if (range.start !== size)
        throw new RegistryError(
          'BLOB_UPLOAD_INVALID',
          `chunk starts at ${range.start} but the upload holds ${size} bytes`,
          undefined,
          416,
        );
      if (length !== undefined && range.end - range.start + 1 !== length)
        throw new RegistryError(
          'BLOB_UPLOAD_INVALID',
          'Content-Range and Content-Length disagree',
          undefined,
          416,
        );
    }
    let live = this.live.get(uuid);
    if (live && live.offset !== size) live = undefined;
    if (!live && size === 0) live = { hash: createHash('sha256'), offset: 0 };
    this.live.delete(uuid);
    const fh = await open(this.dataPath(uuid), 'a');
    let written = size;
    try {
      let batch: Buffer[] = [];
      let batched = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        live?.hash.update(chunk);
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= WRITE_BATCH) {
          await writeAll(fh, batch, batched);
          written += batched;
          batch = [];
          batched = 0;
        }
      }
      if (batched > 0) await writeAll(fh, batch, batched);
      written += batched;
    } finally {
      await fh.close();
    }
    // Only a body read to its end keeps the running hash; after an error `finish` rehashes the file.
    if (live) this.live.set(uuid, { hash: live.hash, offset: written });
    if (length !== undefined && written - size !== length)
      throw new RegistryError(
        'SIZE_INVALID',
        `received ${written - size} bytes, Content-Length said ${length}`,
      );
    return written;
  }

  /**
   * Appends a last body (if any), checks the digest and moves the data into the blob store.
   * A digest mismatch cancels the session: its bytes are not what the client meant.
   */
  async finish(
    repo: string,
    uuid: string,
    digest: string,
    body: Readable | undefined,
    range: ContentRange | undefined,
    length: number | undefined,
  ): Promise<number> {
    this.claim(uuid);
    try {
      let size = await this.size(repo, uuid);
      if (body) size = await this.appendClaimed(uuid, size, body, range, length);
      const live = this.live.get(uuid);
      const actual =
        live && live.offset === size
          ? `sha256:${live.hash.digest('hex')}`
          : await hashFile(this.dataPath(uuid));
      this.live.delete(uuid);
      if (actual !== digest) {
        await this.remove(uuid);
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', {
          expected: digest,
          actual,
        });
      }
      await this.store.commitBlob(this.dataPath(uuid), digest);
      await this.store.linkBlob(repo, digest);
      await this.remove(uuid);
      return size;
    } finally {
      this.busy.delete(uuid);
    }
  }

  async cancel(repo: string, uuid: string): Promise<void> {
    this.claim(uuid);
    try {
      await this.size(repo, uuid);
      await this.remove(uuid);
    } finally {
      this.busy.delete(uuid);
    }
  }

  /** Forgets a session whose only client is gone and which cannot be resumed (a monolithic upload). */
  async discard(uuid: string): Promise<void> {
    if (!this.busy.has(uuid)) await this.remove(uuid);
  }

  private async remove(uuid: string): Promise<void> {
    this.live.delete(uuid);
    await rm(this.dir(uuid), { recursive: true, force: true });
  }

  /** Removes sessions untouched for longer than the expiry. Returns how many went. */
  async purge(now = Date.now()): Promise<number> {
    let n = 0;
    for (const uuid of await readdir(this.store.uploadsDir)) {
      if (this.busy.has(uuid)) continue;
      const dir = this.dir(uuid);
      let last = 0;
      for (const f of ['state.json', 'data', '']) {
        try {
          last = Math.max(last, (await stat(join(dir, f))).mtimeMs);
        } catch {
          // a session cut short before its files were written: its directory's time decides
        }
      }
      if (now - last > this.expiryMs) {
        await this.remove(uuid);
        n++;
      }
    }
    return n;
  }

  /** Purges now and then every `intervalMs` until stop(). */
  startPurging(intervalMs: number, onError: (e: unknown) => void): void {
    const run = () => this.purge().catch(onError);
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

async function writeAll(fh: FileHandle, bufs: Buffer[], total: number): Promise<void> {
  const { bytesWritten } = await fh.writev(bufs);
  if (bytesWritten !== total) {
    // A short write (disk full, signal): finish the rest from where it stopped.
    const rest = Buffer.concat(bufs).subarray(bytesWritten);
    let off = 0;
    while (off < rest.length) off += (await fh.write(rest, off)).bytesWritten;
  }
}

export async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}
