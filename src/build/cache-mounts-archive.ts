import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { Extractor, forEachEntry, Scope } from '../container/copy.ts';
import { errnoCode, openDir } from '../container/export.ts';
import type { StoreContext } from '../engine/context.ts';
import { packDirectory } from '../image/layer-tar.ts';
import { sinkDrained } from '../image/tar-writer.ts';
import { BerthError, NotFoundError } from '../util/errors.ts';
import { lockFile } from './cache-lock.ts';
import { buildTmpDir } from './context.ts';
import { cacheMountsDir } from './mounts.ts';

/*
 * `berth builder cache export/import`: the `RUN --mount=type=cache` directories as one tar.
 *
 *   index.json            {"berthCacheMounts": 1, "mounts": [{id, archive, uid, gid, mode, size}]}
 *   mounts/<key>.tar      the mount's data directory as packDirectory writes a layer (owners,
 *                         modes, xattrs, hardlinks kept), one nested tar per mount
 *
 * A mount's directory name (`key`) is always recomputed from its id, never taken from the archive.
 */

const FORMAT = 1;
const INDEX = 'index.json';
const MAX_INDEX_BYTES = 4 << 20;
const MAX_ID_LENGTH = 4096;

/** One cache mount on disk. */
export interface CacheMountInfo {
  /** The mount's `id=` (its target when the Dockerfile gave none). */
  id: string;
  /** Its directory under `<root>/build/cache-mounts`. */
  key: string;
  /** The data directory bind-mounted into RUN steps. */
  dir: string;
  size: number;
  created: string;
  lastUsed: string;
}

interface IndexEntry {
  id: string;
  archive: string;
  uid: number;
  gid: number;
  mode: number;
  size: number;
}

interface Index {
  berthCacheMounts: number;
  mounts: IndexEntry[];
}

export function cacheMountKey(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 32);
}

/** Apparent size of a tree, each multiply-linked file counted once; symlinks are never followed. */
export function treeSize(dir: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (d: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        walk(p);
        continue;
      }
      if (st.nlink > 1) {
        const k = `${st.dev}:${st.ino}`;
        if (seen.has(k)) continue;
        seen.add(k);
      }
      total += st.size;
    }
  };
  walk(dir);
  return total;
}

/** The cache mounts that exist, most recently changed first. */
export function listCacheMounts(ctx: StoreContext): CacheMountInfo[] {
  const base = cacheMountsDir(ctx);
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: CacheMountInfo[] = [];
  for (const key of names) {
    if (!/^[0-9a-f]{32}$/.test(key)) continue;
    const dir = join(base, key, 'data');
    let id: string;
    let idSt: fs.Stats;
    let dataSt: fs.Stats;
    try {
      id = fs.readFileSync(join(base, key, 'id'), 'utf8');
      idSt = fs.statSync(join(base, key, 'id'));
      dataSt = fs.lstatSync(dir);
    } catch {
      continue; // half made by a build that is still creating it
    }
    if (!dataSt.isDirectory()) continue;
    out.push({
      id,
      key,
      dir,
      size: treeSize(dir),
      created: idSt.mtime.toISOString(),
      lastUsed: new Date(Math.max(dataSt.mtimeMs, idSt.mtimeMs)).toISOString(),
    });
  }
  return out.sort((a, b) => b.lastUsed.localeCompare(a.lastUsed));
}

/** Writes the cache mounts named by `ids` (all when empty) to `out` as one tar. */
export async function exportCacheMounts(
  ctx: StoreContext,
  ids: string[],
  out: NodeJS.WritableStream,
): Promise<void> {
  const all = listCacheMounts(ctx);
  let chosen = all;
  if (ids.length > 0) {
    chosen = [];
    for (const id of ids) {
      const m = all.find((x) => x.id === id);
      if (!m) {
        throw new NotFoundError(
          `no build cache mount with id "${id}"; \`berth builder du --verbose\` lists the cache mounts`,
        );
      }
      if (!chosen.includes(m)) chosen.push(m);
    }
  }
  // Each mount is packed to a scratch file first: a tar entry needs its size before its body.
  const scratch = join(buildTmpDir(ctx), `cm-export-${randomBytes(8).toString('hex')}`);
  fs.mkdirSync(scratch, { mode: 0o700 });
  try {
    const index: Index = { berthCacheMounts: FORMAT, mounts: [] };
    const files: string[] = [];
    for (const m of chosen) {
      const file = join(scratch, `${m.key}.tar`);
      const release = await lockFile(`${m.dir}.lock`);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(m.dir);
        await packDirectory(m.dir, fs.createWriteStream(file, { mode: 0o600 }));
      } finally {
        release();
      }
      index.mounts.push({
        id: m.id,
        archive: `mounts/${m.key}.tar`,
        uid: st.uid,
        gid: st.gid,
        mode: st.mode & 0o7777,
        size: m.size,
      });
      files.push(file);
    }
    await writeOuter(out, index, files);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function writeOuter(out: NodeJS.WritableStream, index: Index, files: string[]): Promise<void> {
  const pack = tarPack();
  const finished = new Promise<void>((resolve, reject) => {
    out.once('finish', resolve);
    out.once('error', reject);
    pack.once('error', reject);
  });
  finished.catch(() => {});
  pack.pipe(out);
  const mtime = new Date();
  try {
    const json = Buffer.from(`${JSON.stringify(index, null, 2)}\n`);
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: INDEX, size: json.length, mode: 0o644, mtime }, json, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: 'mounts/', type: 'directory', mode: 0o755, mtime }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    for (let i = 0; i < files.length; i++) {
      const file = files[i]!;
      const size = fs.statSync(file).size;
      const sink = pack.entry({ name: index.mounts[i]!.archive, size, mode: 0o644, mtime });
      const done = new Promise<void>((resolve, reject) => {
        sink.once('finish', resolve);
        sink.once('error', reject);
      });
      for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
        if (!sink.write(chunk as Buffer)) await sinkDrained(sink);
      }
      sink.end(undefined);
      await done;
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await finished.catch(() => {});
    throw err;
  }
  await finished;
}

function parseIndex(raw: Buffer): Index {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BerthError(
      `the archive's ${INDEX} is not JSON; want a tar made by \`berth builder cache export\``,
    );
  }
  const bad = (why: string) =>
    new BerthError(
      `the archive's ${INDEX} is invalid (${why}); want a tar made by \`berth builder cache export\``,
    );
  if (typeof v !== 'object' || v === null) throw bad('not an object');
  const o = v as Record<string, unknown>;
  if (o.berthCacheMounts !== FORMAT) throw bad(`unknown format ${JSON.stringify(o.berthCacheMounts)}`);
  if (!Array.isArray(o.mounts)) throw bad('no mounts list');
  const seen = new Set<string>();
  const mounts: IndexEntry[] = [];
  for (const m of o.mounts as unknown[]) {
    if (typeof m !== 'object' || m === null) throw bad('a mount is not an object');
    const e = m as Record<string, unknown>;
    if (typeof e.id !== 'string' || e.id === '' || e.id.length > MAX_ID_LENGTH || e.id.includes('\0')) {
      throw bad('a mount has no usable id');
    }
    if (seen.has(e.id)) throw bad(`mount id "${e.id}" appears twice`);
    seen.add(e.id);
    const int = (x: unknown, max: number) =>
      typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max ? x : undefined;
    const uid = int(e.uid, 0xffffffff);
    const gid = int(e.gid, 0xffffffff);
    const mode = int(e.mode, 0o7777);
    if (uid === undefined || gid === undefined || mode === undefined) {
      throw bad(`mount "${e.id}" has an invalid owner or mode`);
    }
    // The archive's member name is ours to decide: only the one derived from the id is accepted.
    mounts.push({
      id: e.id,
      archive: `mounts/${cacheMountKey(e.id)}.tar`,
      uid,
      gid,
      mode,
      size: int(e.size, Number.MAX_SAFE_INTEGER) ?? 0,
    });
  }
  return { berthCacheMounts: FORMAT, mounts };
}

async function readAll(body: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > limit) throw new BerthError(`${what} is larger than ${limit} bytes; refusing the archive`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * Restores cache mounts from a tar `exportCacheMounts` wrote. Everything is unpacked into a
 * scratch directory first, so a hostile or broken archive is refused with the cache as it was;
 * then each mount is merged into the existing one (files from the archive win) or, with
 * `replace`, takes its place. Returns the ids restored.
 */
export async function importCacheMounts(
  ctx: StoreContext,
  input: Readable | NodeJS.ReadableStream,
  replace: boolean,
): Promise<string[]> {
  const base = cacheMountsDir(ctx);
  fs.mkdirSync(base, { recursive: true });
  const scratch = join(buildTmpDir(ctx), `cm-import-${randomBytes(8).toString('hex')}`);
  fs.mkdirSync(scratch, { mode: 0o700 });
  try {
    let index: Index | undefined;
    const unpacked = new Set<string>();
    await forEachEntry(input, async (h, body) => {
      const name = h.name.replace(/^\.\//, '');
      if (index === undefined) {
        if (name !== INDEX || (h.type ?? 'file') !== 'file') {
          throw new BerthError(
            `the archive does not start with ${INDEX}; want a tar made by \`berth builder cache export\``,
          );
        }
        index = parseIndex(await readAll(body, MAX_INDEX_BYTES, INDEX));
        return true;
      }
      if (name === 'mounts/' || name === 'mounts') {
        if (h.type !== 'directory') throw new BerthError(`archive entry "${h.name}" should be a directory`);
        return false;
      }
      const m = index.mounts.find((x) => x.archive === name);
      if (!m || (h.type ?? 'file') !== 'file') {
        throw new BerthError(
          `archive entry "${h.name}" is not a cache mount its ${INDEX} lists; refusing the archive`,
        );
      }
      if (unpacked.has(m.id)) throw new BerthError(`archive entry "${h.name}" appears twice`);
      unpacked.add(m.id);
      const data = join(scratch, cacheMountKey(m.id), 'data');
      fs.mkdirSync(data, { recursive: true, mode: 0o700 });
      const rootFd = openDir(data);
      try {
        const ex = new Extractor(new Scope(rootFd), [], { owner: 'archive' });
        try {
          await forEachEntry(Readable.from(body), (ih, ibody) => ex.apply(ih, ibody));
        } finally {
          ex.finish();
        }
      } finally {
        fs.closeSync(rootFd);
      }
      fs.chownSync(data, m.uid, m.gid);
      fs.chmodSync(data, m.mode);
      return true;
    });
    if (index === undefined)
      throw new BerthError(`the archive is empty; want a tar made by \`berth builder cache export\``);
    const missing = index.mounts.filter((m) => !unpacked.has(m.id));
    if (missing.length > 0) {
      throw new BerthError(
        `the archive lacks the data of cache mount "${missing[0]!.id}"; it is truncated or was not made by \`berth builder cache export\``,
      );
    }
    for (const m of index.mounts) {
      await install(base, join(scratch, cacheMountKey(m.id)), m.id, replace);
    }
    return index.mounts.map((m) => m.id);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Moves one unpacked mount (`staged/data`) into the cache, under the lock builds take for it. */
async function install(base: string, staged: string, id: string, replace: boolean): Promise<void> {
  const key = cacheMountKey(id);
  const home = join(base, key);
  const data = join(home, 'data');
  fs.mkdirSync(home, { recursive: true });
  const release = await lockFile(`${data}.lock`);
  try {
    fs.writeFileSync(join(home, 'id'), id);
    const st = lstatOrNull(data);
    if (!st) {
      fs.renameSync(join(staged, 'data'), data);
    } else if (replace || !st.isDirectory()) {
      const old = join(home, `data.old-${randomBytes(4).toString('hex')}`);
      fs.renameSync(data, old);
      fs.renameSync(join(staged, 'data'), data);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      mergeInto(join(staged, 'data'), data);
      const s = fs.lstatSync(join(staged, 'data'));
      fs.chownSync(data, s.uid, s.gid);
      fs.chmodSync(data, s.mode & 0o7777);
    }
  } finally {
    release();
  }
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Moves the tree `src` into the directory `dst`: what only `src` has moves over, directories on
 * both sides merge (taking `src`'s owner and mode), anything else in `dst` gives way. Every path
 * is checked with lstat before use and only real directories are entered, so a symlink left in the
 * cache by a build is replaced, never followed.
 */
function mergeInto(src: string, dst: string): void {
  for (const name of fs.readdirSync(src)) {
    const s = join(src, name);
    const d = join(dst, name);
    const ss = fs.lstatSync(s);
    const ds = lstatOrNull(d);
    if (ds?.isDirectory() && ss.isDirectory()) {
      mergeInto(s, d);
      fs.lchownSync(d, ss.uid, ss.gid);
      fs.chmodSync(d, ss.mode & 0o7777);
      fs.utimesSync(d, ss.atime, ss.mtime);
      continue;
    }
    if (ds) fs.rmSync(d, { recursive: true, force: true });
    fs.renameSync(s, d);
  }
}
