import * as fs from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { Extractor, forEachEntry, Scope, type TarHeader } from '../container/copy.ts';
import { fdPath, openDir } from '../container/export.ts';
import { BerthError } from '../util/errors.ts';
import type { IgnoreMatcher } from './context/dockerignore.ts';
import { type ContextSource, type SourceRoot, walkSource } from './context.ts';

/** What one COPY/ADD source becomes in the destination. */
export type CopyItem =
  | { kind: 'path'; root: SourceRoot; source: ContextSource; excludes: IgnoreMatcher | null }
  /** A file whose bytes Berth has (heredoc, downloaded URL); `name` is its base name. */
  | { kind: 'bytes'; name: string; data: () => Readable; size: number; mode: number; mtime: Date }
  /** ADD of a local archive: extracted into the destination directory. */
  | { kind: 'archive'; name: string; open: () => Promise<Readable> };

export interface CopyTarget {
  /** Absolute destination inside the root, as written after expansion and WORKDIR. */
  dest: string;
  /** dest ended with '/' (or several sources): it is a directory. */
  destIsDir: boolean;
  owner: { uid: number; gid: number };
  /** --chmod: the mode of every file and directory copied. */
  chmod?: number;
}

/**
 * Copies the items into `root` (a build step's mounted rootfs) with docker's COPY rules: a
 * directory's contents go into the destination, a file lands at the destination path unless that
 * is (or must be) a directory. Every path is resolved inside `root`: no symlink in the image can
 * send a write to the host.
 */
export async function copyInto(root: string, items: CopyItem[], t: CopyTarget): Promise<void> {
  const rootFd = openDir(root);
  try {
    const scope = new Scope(rootFd);
    const mkdir = (parentFd: number, name: string) => {
      const p = fdPath(parentFd, name);
      fs.mkdirSync(p, 0o755);
      fs.lchownSync(p, t.owner.uid, t.owner.gid);
    };
    const existing = lookup(scope, t.dest);
    const intoDir = t.destIsDir || items.length > 1 || existing === 'dir';
    for (const item of items) {
      const isDirSource = item.kind === 'path' && item.source.stat.isDirectory();
      let baseDir: string;
      let name: string | null;
      if (item.kind === 'archive' || isDirSource) {
        baseDir = t.dest;
        name = null;
      } else if (intoDir) {
        baseDir = t.dest;
        name = item.kind === 'path' ? posix.basename(item.source.rel) || '.' : item.name;
      } else {
        baseDir = posix.dirname(t.dest);
        name = posix.basename(t.dest);
      }
      const r = scope.resolve(baseDir, { dir: true, mkdir });
      const base = r.parts;
      r.close();
      const ex = new Extractor(scope, base, {
        owner: item.kind === 'archive' && t.owner.uid === -1 ? 'archive' : t.owner,
      });
      try {
        if (item.kind === 'archive') {
          await forEachEntry(await item.open(), (h, body) => ex.apply(h, body));
        } else if (item.kind === 'bytes') {
          await ex.apply(fileHeader(name!, item.size, t.chmod ?? item.mode, item.mtime), item.data());
        } else if (isDirSource) {
          for (const e of walkSource(item.root, item.source, item.excludes)) {
            await applyPath(ex, e.rel, e.abs, e.stat, t.chmod);
          }
        } else {
          await applyPath(ex, name!, item.source.abs, item.source.stat, t.chmod);
        }
      } finally {
        ex.finish();
      }
    }
  } finally {
    fs.closeSync(rootFd);
  }
}

function lookup(scope: Scope, path: string): 'dir' | 'other' | 'missing' {
  try {
    const r = scope.resolve(path, { followLast: true });
    try {
      if (r.name === null) return 'dir';
      const st = fs.lstatSync(fdPath(r.dirFd, r.name));
      return st.isDirectory() ? 'dir' : 'other';
    } finally {
      r.close();
    }
  } catch {
    return 'missing';
  }
}

function header(h: Partial<TarHeader> & { name: string; type: TarHeader['type'] }): TarHeader {
  return {
    mtime: new Date(0),
    size: 0,
    mode: 0o644,
    uid: 0,
    gid: 0,
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    ...h,
  };
}

function fileHeader(name: string, size: number, mode: number, mtime: Date): TarHeader {
  return header({ name, type: 'file', size, mode, mtime });
}

async function applyPath(
  ex: Extractor,
  name: string,
  abs: string,
  st: fs.Stats,
  chmod?: number,
): Promise<void> {
  const mode = chmod ?? st.mode & 0o7777;
  const base = { name, mode, mtime: st.mtime, uid: 0, gid: 0 };
  if (st.isDirectory()) {
    await ex.apply(header({ ...base, type: 'directory' }), emptyBody());
  } else if (st.isSymbolicLink()) {
    await ex.apply(header({ ...base, type: 'symlink', linkname: fs.readlinkSync(abs) }), emptyBody());
  } else if (st.isFile()) {
    const consumed = await ex.apply(
      header({ ...base, type: 'file', size: st.size }),
      fs.createReadStream(abs),
    );
    if (!consumed) throw new BerthError(`internal error: ${name} was not copied`);
  } else if (st.isFIFO()) {
    await ex.apply(header({ ...base, type: 'fifo' }), emptyBody());
  } else if (st.isCharacterDevice() || st.isBlockDevice()) {
    const rdev = Number(st.rdev);
    await ex.apply(
      header({
        ...base,
        type: st.isCharacterDevice() ? 'character-device' : 'block-device',
        devmajor: (rdev >> 8) & 0xfff,
        devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
      }),
      emptyBody(),
    );
  }
  // Sockets are skipped, as docker skips them.
}

async function* emptyBody(): AsyncIterable<Buffer> {}
