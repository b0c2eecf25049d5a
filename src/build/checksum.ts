import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { StoreContext } from '../engine/context.ts';
import { ensureCacheSchema } from './cache.ts';
import type { IgnoreMatcher } from './context/dockerignore.ts';
import { type ContextSource, type SourceRoot, walkSource } from './context.ts';

/**
 * The content digest of COPY/ADD sources: names, types, permission bits, link targets and file
 * contents — what ends up in the layer — never mtimes or inode numbers. File contents are hashed
 * once and remembered under (size, mtime, ctime, inode), so an unchanged context costs one stat
 * per file.
 */
export function sourcesDigest(
  ctx: StoreContext,
  root: SourceRoot,
  sources: ContextSource[],
  excludes: IgnoreMatcher | null,
): string {
  ensureCacheSchema(ctx.db);
  const memo = new FileDigestMemo(ctx);
  const h = createHash('sha256');
  for (const src of sources) {
    h.update(`${src.rel}\0${describe(src.abs, src.stat, memo)}\n`);
    if (src.stat.isDirectory()) {
      for (const e of walkSource(root, src, excludes))
        h.update(`${e.rel}\0${describe(e.abs, e.stat, memo)}\n`);
    }
  }
  memo.flush();
  return `sha256:${h.digest('hex')}`;
}

function describe(abs: string, st: fs.Stats, memo: FileDigestMemo): string {
  const perm = (st.mode & 0o7777).toString(8);
  if (st.isDirectory()) return `d ${perm}`;
  if (st.isSymbolicLink()) return `l ${fs.readlinkSync(abs)}`;
  if (st.isFile()) return `f ${perm} ${st.size} ${memo.digest(abs, st)}`;
  return `s ${perm} ${st.rdev}`;
}

class FileDigestMemo {
  private readonly pending: Array<[string, string, string]> = [];

  constructor(private readonly ctx: StoreContext) {}

  digest(abs: string, st: fs.Stats): string {
    const stamp = `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.dev}`;
    const row = this.ctx.db.prepare('SELECT stamp, digest FROM build_file_digests WHERE path = ?').get(abs) as
      | { stamp: string; digest: string }
      | undefined;
    if (row && row.stamp === stamp) return row.digest;
    const h = createHash('sha256');
    const fd = fs.openSync(abs, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
      }
    } finally {
      fs.closeSync(fd);
    }
    const d = h.digest('hex');
    this.pending.push([abs, stamp, d]);
    return d;
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const put = this.ctx.db.prepare(
      'INSERT INTO build_file_digests (path, stamp, digest) VALUES (?, ?, ?) ON CONFLICT(path) DO UPDATE SET stamp = excluded.stamp, digest = excluded.digest',
    );
    this.ctx.db.transaction(() => {
      for (const [p, s, d] of this.pending) put.run(p, s, d);
    })();
    this.pending.length = 0;
  }
}
