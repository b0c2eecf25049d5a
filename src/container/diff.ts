import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import type { StoreContext } from '../engine/context.ts';
import type { ChangeItem } from '../engine/engine.ts';
import { BerthError } from '../util/errors.ts';
import { lgetxattr } from '../util/syscalls.ts';
import { errnoCode, fdPath, openDir, openDirAt } from './export.ts';
import { rootfsDirs } from './rootfs.ts';
import type { ContainerRecord } from './types.ts';

const MODIFIED = 0;
const ADDED = 1;
const DELETED = 2;

/**
 * Mount points the runtime creates in the upper dir when the image lacks them. docker keeps these
 * in an "init" layer below the container's, so they never show in its diff; neither do they here,
 * as long as they are still the empty file or directory the runtime made.
 */
const RUNTIME_MOUNT_POINTS = [
  '/proc',
  '/sys',
  '/dev',
  '/etc/hosts',
  '/etc/hostname',
  '/etc/resolv.conf',
  '/sbin/docker-init',
];

/**
 * `berth diff`: what the container changed relative to its image, read from its overlay upper dir.
 * `A` added, `C` changed, `D` deleted, in path order (a directory before what is inside it). A
 * directory shows as changed when something inside it changed (or its own mode or owner did). A
 * directory the container replaced (removed and created again, overlay's opaque directory) shows
 * as changed, with the image's entries that are gone as deleted and everything in it as added.
 */
export async function containerChanges(ctx: StoreContext, ref: string): Promise<ChangeItem[]> {
  const c = ctx.containers.mustFind(ref);
  const img = ctx.images.get(c.imageId);
  if (!img)
    throw new BerthError(`image ${c.imageId} of container ${c.name} is gone; its changes cannot be computed`);
  const layers: string[] = [];
  for (const l of img.layers) layers.push(await ctx.layers.ensure(l.chainId, ctx.blobs.path(l.blob)));
  const { upper } = rootfsDirs(ctx, c.id);
  let fd: number;
  try {
    fd = openDir(upper);
  } catch (err) {
    // A container that never started has no upper dir yet: nothing changed.
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  try {
    const walk = new UpperWalk(new ImageView(layers.reverse()), mountPoints(c));
    walk.directory(fd, []);
    return walk.changes;
  } finally {
    fs.closeSync(fd);
  }
}

function mountPoints(c: ContainerRecord): Set<string> {
  const out = new Set(RUNTIME_MOUNT_POINTS);
  for (const t of Object.keys(c.config.host.tmpfs ?? {})) out.add(posix.normalize(t));
  for (const m of c.config.host.mounts ?? []) out.add(posix.normalize(m.target));
  return out;
}

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(path: string): boolean {
  try {
    return lgetxattr(path, 'trusted.overlay.opaque')?.toString() === 'y';
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOENT') return false;
    throw err;
  }
}

function lstatOrNull(path: string): fs.Stats | null {
  try {
    return fs.lstatSync(path);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/**
 * The image's file system as overlayfs would show it, computed from the unpacked layers (top-most
 * first) without mounting them: a whiteout hides a path in lower layers, an opaque directory or a
 * non-directory hides everything below it. Layer directories are Berth's own and never change, so
 * plain paths are safe here; symlinks in them are never followed (lstat).
 */
class ImageView {
  constructor(private readonly layers: string[]) {}

  /** What the image has at `parts`, or null. */
  lookup(parts: string[]): fs.Stats | null {
    for (const layer of this.layers) {
      const r = this.inLayer(layer, parts);
      if (r === 'hidden') return null;
      if (r === 'absent') continue;
      if (r === 'absent-opaque') return null;
      return r;
    }
    return null;
  }

  /** The names the image has in directory `parts`. */
  list(parts: string[]): Set<string> {
    const present = new Set<string>();
    const decided = new Set<string>();
    for (const layer of this.layers) {
      const r = this.inLayer(layer, parts);
      if (r === 'hidden' || r === 'absent-opaque') break;
      if (r === 'absent') continue;
      if (!r.isDirectory()) break;
      const dir = join(layer, ...parts);
      for (const name of fs.readdirSync(dir)) {
        if (decided.has(name)) continue;
        decided.add(name);
        if (!isWhiteout(fs.lstatSync(join(dir, name)))) present.add(name);
      }
      if (isOpaque(dir)) break;
    }
    return present;
  }

  /**
   * `parts` in one layer: its stat; 'absent' (lower layers decide); 'absent-opaque' (absent, and an
   * opaque directory above it hides lower layers); 'hidden' (a whiteout or a non-directory here).
   */
  private inLayer(layer: string, parts: string[]): fs.Stats | 'absent' | 'absent-opaque' | 'hidden' {
    let opaque = false;
    for (let i = 0; i < parts.length; i++) {
      const st = lstatOrNull(join(layer, ...parts.slice(0, i + 1)));
      if (!st) return opaque ? 'absent-opaque' : 'absent';
      if (isWhiteout(st)) return 'hidden';
      if (i === parts.length - 1) return st;
      if (!st.isDirectory()) return 'hidden';
      if (isOpaque(join(layer, ...parts.slice(0, i + 1)))) opaque = true;
    }
    return fs.lstatSync(layer);
  }
}

/**
 * How the image shows through an upper directory: 'merged' (overlay merges the image's directory
 * in), 'fresh' (the image has no directory here) or 'replaced' (an opaque directory over one the
 * image has: the container removed it and made it anew).
 */
type Through = 'merged' | 'fresh' | 'replaced';

/** Walks the upper dir through directory file descriptors: the container may be changing it. */
class UpperWalk {
  readonly changes: ChangeItem[] = [];

  constructor(
    private readonly image: ImageView,
    private readonly mountPoints: Set<string>,
  ) {}

  /** Records the changes inside the upper directory open as `fd` (path `parts`); returns whether there were any. */
  directory(fd: number, parts: string[], through: Through = 'merged'): boolean {
    const names = new Set(fs.readdirSync(fdPath(fd)));
    const gone = new Set<string>();
    if (through === 'replaced') {
      for (const n of this.image.list(parts)) if (!names.has(n)) gone.add(n);
    }
    let changed = false;
    for (const name of [...names, ...gone].sort()) {
      const childParts = [...parts, name];
      const path = `/${childParts.join('/')}`;
      if (gone.has(name)) {
        this.changes.push({ Path: path, Kind: DELETED });
        changed = true;
      } else if (this.child(fd, name, childParts, path, through === 'merged')) {
        changed = true;
      }
    }
    return changed;
  }

  private child(dirFd: number, name: string, parts: string[], path: string, merged: boolean): boolean {
    const p = fdPath(dirFd, name);
    const st = lstatOrNull(p);
    if (!st) return false;
    const inImage = merged ? this.image.lookup(parts) : null;
    if (isWhiteout(st)) {
      // A whiteout over nothing (the image never had it) records no change.
      if (!inImage) return false;
      this.changes.push({ Path: path, Kind: DELETED });
      return true;
    }
    if (!st.isDirectory()) {
      if (!inImage && this.mountPoints.has(path) && st.isFile() && st.size === 0) return false;
      this.changes.push({ Path: path, Kind: inImage ? MODIFIED : ADDED });
      return true;
    }
    let fd: number;
    try {
      fd = openDirAt(dirFd, name);
    } catch (err) {
      // Swapped for a non-directory since the lstat: the container is changing it right now.
      if (['ENOENT', 'ELOOP', 'ENOTDIR'].includes(errnoCode(err) ?? '')) return false;
      throw err;
    }
    try {
      const imageDir = inImage?.isDirectory() === true;
      const opaque = imageDir && isOpaque(p);
      const at = this.changes.length;
      const inner = this.directory(fd, parts, !imageDir ? 'fresh' : opaque ? 'replaced' : 'merged');
      let kind: ChangeItem['Kind'] | undefined;
      if (!inImage) {
        // A directory the runtime made for a mount point, holding nothing else, is not the container's change.
        const forMount = [...this.mountPoints].some((m) => m === path || m.startsWith(`${path}/`));
        if (!forMount || inner) kind = ADDED;
      } else if (
        !imageDir ||
        inner ||
        opaque ||
        st.mode !== inImage.mode ||
        st.uid !== inImage.uid ||
        st.gid !== inImage.gid
      ) {
        kind = MODIFIED;
      }
      if (kind === undefined) return false;
      // The directory comes before what is inside it.
      this.changes.splice(at, 0, { Path: path, Kind: kind });
      return true;
    } finally {
      fs.closeSync(fd);
    }
  }
}
