import * as fs from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { type Header, extract as tarExtract } from 'tar-stream';
import type { StoreContext } from '../engine/context.ts';
import type { CopyFromOptions, PathStat } from '../engine/engine.ts';
import { cleanEntryName } from '../image/tar-name.ts';
import { BerthError, ConflictError, InvalidArgumentError, NotFoundError } from '../util/errors.ts';
import { lsetxattr, mknod } from '../util/syscalls.ts';
import { errnoCode, fdPath, openDir, openDirAt, withContainerRoot, writeTar } from './export.ts';

/*
 * `berth cp`. Paths name files inside the container: every symlink met on the way is resolved
 * against the container's root (as securejoin does: `..` and absolute targets stop at the root),
 * and every step goes through directory file descriptors (see export.ts), so neither a planted
 * symlink nor one swapped in by a running process can make Berth read or write a host file.
 */

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, S_IFCHR, S_IFBLK, S_IFIFO } = fs.constants;
/** Linux's O_PATH (asm-generic and x86 alike); Node does not export it. */
const O_PATH = 0o10000000;
/** Linux's MAXSYMLINKS: more symlinks than this on one path is a loop. */
const MAX_SYMLINKS = 40;

/** Go's os.FileMode type bits, which docker's path stat (and the API's X-Docker-Container-Path-Stat) carries. */
export const GoMode = {
  dir: 0x80000000,
  symlink: 0x08000000,
  device: 0x04000000,
  namedPipe: 0x02000000,
  socket: 0x01000000,
  setuid: 0x00800000,
  setgid: 0x00400000,
  charDevice: 0x00200000,
  sticky: 0x00100000,
} as const;

function goFileMode(st: fs.Stats): number {
  let m = st.mode & 0o777;
  if (st.isDirectory()) m |= GoMode.dir;
  else if (st.isSymbolicLink()) m |= GoMode.symlink;
  else if (st.isFIFO()) m |= GoMode.namedPipe;
  else if (st.isSocket()) m |= GoMode.socket;
  else if (st.isCharacterDevice()) m |= GoMode.device | GoMode.charDevice;
  else if (st.isBlockDevice()) m |= GoMode.device;
  if (st.mode & 0o4000) m |= GoMode.setuid;
  if (st.mode & 0o2000) m |= GoMode.setgid;
  if (st.mode & 0o1000) m |= GoMode.sticky;
  return m >>> 0;
}

function fsError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

// ---------------------------------------------------------------------------------------------
// Resolving paths inside a root
// ---------------------------------------------------------------------------------------------

export interface Resolved {
  /** The directory holding `name`, or (when `name` is null) the directory the path named. */
  dirFd: number;
  name: string | null;
  /** The path's components from the root with every symlink expanded (for `name`, its parent's plus it). */
  parts: string[];
  close(): void;
}

/** What `resolve` does with a missing directory on the way: fail, or create it. */
export type MakeDir = (parentFd: number, name: string) => void;

/**
 * A directory standing in for `/`: paths are resolved inside it, component by component, each
 * symlink expanded against it, and nothing ever leaves it.
 */
export class Scope {
  constructor(readonly rootFd: number) {}

  /**
   * Resolves `path` (components split at '/'). With `dir`, the whole path must be a directory and
   * is opened (`name` null), missing directories made with `mkdir` when given. Otherwise the
   * last component is looked up in its parent but not opened, and expanded only when it is a
   * symlink and `followLast`. Errors carry `code` ENOENT, ENOTDIR or ELOOP.
   */
  resolve(path: string, o: { followLast?: boolean; dir?: boolean; mkdir?: MakeDir } = {}): Resolved {
    const stack: Array<{ name: string; fd: number }> = [];
    const cur = () => (stack.length > 0 ? stack[stack.length - 1]!.fd : this.rootFd);
    const names = () => stack.map((s) => s.name);
    const release = (keep?: number) => {
      for (const s of stack) if (s.fd !== keep) fs.closeSync(s.fd);
    };
    const result = (name: string | null): Resolved => {
      const dirFd = cur();
      const parts = name === null ? names() : [...names(), name];
      release(dirFd);
      let closed = false;
      return {
        dirFd,
        name,
        parts,
        close: () => {
          if (!closed && dirFd !== this.rootFd) fs.closeSync(dirFd);
          closed = true;
        },
      };
    };
    try {
      let queue = path.split('/');
      let links = 0;
      while (queue.length > 0) {
        const part = queue.shift()!;
        if (part === '' || part === '.') continue;
        if (part === '..') {
          const top = stack.pop();
          if (top) fs.closeSync(top.fd);
          continue;
        }
        const last = !o.dir && queue.every((q) => q === '' || q === '.');
        const p = fdPath(cur(), part);
        let st: fs.Stats | undefined;
        try {
          st = fs.lstatSync(p);
        } catch (err) {
          if (errnoCode(err) !== 'ENOENT') throw err;
        }
        if (last && (!st?.isSymbolicLink() || !o.followLast)) return result(part);
        if (!st) {
          if (!o.mkdir)
            throw fsError('ENOENT', `${joinParts([...names(), part])}: no such file or directory`);
          o.mkdir(cur(), part);
          st = fs.lstatSync(p);
        }
        if (st.isSymbolicLink()) {
          if (++links > MAX_SYMLINKS) throw fsError('ELOOP', `${path}: too many levels of symbolic links`);
          const target = fs.readlinkSync(p);
          if (target.startsWith('/')) {
            release();
            stack.length = 0;
          }
          queue = [...target.split('/'), ...queue];
          continue;
        }
        if (!st.isDirectory()) throw fsError('ENOTDIR', `${joinParts([...names(), part])}: not a directory`);
        // O_NOFOLLOW: should it have become a symlink since the lstat, this fails instead of following it.
        stack.push({ name: part, fd: openDirAt(cur(), part) });
      }
      return result(null);
    } catch (err) {
      release();
      throw err;
    }
  }
}

function joinParts(parts: string[]): string {
  return `/${parts.join('/')}`;
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Extracting archives
// ---------------------------------------------------------------------------------------------

/** tar-stream's header, `pax` holding the entry's pax records. */
export type TarHeader = Omit<Header, 'type' | 'pax'> & {
  type: Header['type'] | null;
  pax?: Record<string, string> | null;
};

/** Feeds every entry of the tar `input` to `fn`, which resolves to whether it read the entry's body. */
export async function forEachEntry(
  input: NodeJS.ReadableStream | Readable,
  fn: (header: TarHeader, body: AsyncIterable<Buffer>) => Promise<boolean>,
): Promise<void> {
  const ex = tarExtract();
  const onInputError = (err: Error) => ex.destroy(err);
  input.on('error', onInputError);
  input.pipe(ex);
  let fnError: unknown;
  try {
    for await (const entry of ex) {
      let consumed: boolean;
      try {
        consumed = await fn(entry.header as TarHeader, entry as AsyncIterable<Buffer>);
      } catch (err) {
        fnError = err;
        throw err;
      }
      // tar-stream stalls unless every entry's body is read to its end.
      if (!consumed) for await (const _chunk of entry);
    }
  } catch (err) {
    input.unpipe(ex);
    ex.destroy();
    // The parser's complaints (and a failed input) are about the archive as a whole.
    if (err === fnError || err instanceof BerthError || errnoCode(err) !== undefined) throw err;
    throw new BerthError(`the input is not a valid tar archive: ${(err as Error).message}`);
  } finally {
    input.off('error', onInputError);
  }
}

export interface ExtractOptions {
  /** Ownership of what is extracted: the archive's, fixed ids, or the extracting process's ('none'). */
  owner: 'archive' | 'none' | { uid: number; gid: number };
}

/**
 * Extracts tar entries into the directory `base` (components from the root of `scope`), with
 * docker's rules for `cp`: an existing directory is merged into, other existing files are
 * replaced, but a directory never replaces a non-directory nor the other way round. Entries are
 * resolved inside the scope like any path (symlinks included), so an archive cannot escape it.
 */
export class Extractor {
  /** Parent directories already opened, by their path below `base`; dropped when a symlink is replaced. */
  private readonly parents = new Map<string, number>();
  /** Directory times, set last: writing children changes a directory's mtime. */
  private readonly dirTimes: Array<[parts: string[], mtime: number]> = [];
  private stale = false;

  constructor(
    private readonly scope: Scope,
    private readonly base: string[],
    private readonly o: ExtractOptions,
  ) {}

  /** Extracts one entry; resolves to whether it read the entry's body. */
  async apply(h: TarHeader, body: AsyncIterable<Buffer>): Promise<boolean> {
    try {
      return await this.applyEntry(h, body);
    } catch (err) {
      if (err instanceof BerthError) throw err;
      // No errno: reading the entry's body failed, the archive ends early or is corrupt.
      if (errnoCode(err) === undefined) {
        throw new BerthError(`the input is not a valid tar archive: ${(err as Error).message}`);
      }
      const why = (err as Error).message.replace(/, \w+ '\/proc\/self\/fd\/.*$/, '');
      throw new BerthError(`cannot extract "${h.name}": ${why}`);
    }
  }

  private async applyEntry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<boolean> {
    const parts = cleanEntryName(h.name);
    if (parts === null) {
      throw new BerthError(`archive entry "${h.name}" points outside the destination; refusing the archive`);
    }
    // The destination itself ("./"): docker leaves its metadata alone.
    if (parts.length === 0) return false;
    const type = h.type ?? 'file';
    const shown = joinParts([...this.base, ...parts]);
    const parentFd = this.parent(parts.slice(0, -1));
    const name = parts[parts.length - 1]!;
    const p = fdPath(parentFd, name);
    const existing = lstatOrNull(p);
    if (existing) {
      if (existing.isDirectory() && type !== 'directory') {
        throw new ConflictError(`cannot overwrite directory "${shown}" with non-directory "${h.name}"`);
      }
      if (!existing.isDirectory() && type === 'directory') {
        throw new ConflictError(`cannot overwrite non-directory "${shown}" with directory "${h.name}"`);
      }
      if (type !== 'directory') {
        fs.unlinkSync(p);
        // Cached parents may have been reached through this symlink; the next entry resolves afresh.
        if (existing.isSymbolicLink()) this.stale = true;
      }
    }
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ? h.mtime.getTime() / 1000 : Date.now() / 1000;
    switch (type) {
      case 'directory': {
        if (!existing) fs.mkdirSync(p, 0o700);
        const fd = openDirAt(parentFd, name);
        try {
          this.chown(h, (uid, gid) => fs.fchownSync(fd, uid, gid));
          fs.fchmodSync(fd, mode);
        } finally {
          fs.closeSync(fd);
        }
        this.setXattrs(p, h);
        this.dirTimes.push([[...this.base, ...parts], mtime]);
        return false;
      }
      case 'file':
      case 'contiguous-file': {
        // O_EXCL with O_NOFOLLOW: never writes through anything that appeared at the name meanwhile.
        const fd = fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body) writeAll(fd, chunk);
          this.chown(h, (uid, gid) => fs.fchownSync(fd, uid, gid));
          fs.fchmodSync(fd, mode);
          this.setXattrs(p, h);
          fs.futimesSync(fd, mtime, mtime);
        } finally {
          fs.closeSync(fd);
        }
        return true;
      }
      case 'symlink': {
        // The target is kept verbatim: it is resolved inside the container, never by us.
        fs.symlinkSync(h.linkname ?? '', p);
        this.chown(h, (uid, gid) => fs.lchownSync(p, uid, gid));
        fs.lutimesSync(p, mtime, mtime);
        return false;
      }
      case 'link': {
        const target = cleanEntryName(h.linkname ?? '');
        if (target === null || target.length === 0) {
          throw new BerthError(`archive entry "${h.name}" links to "${h.linkname}", outside the destination`);
        }
        const t = this.scope.resolve([...this.base, ...target].join('/'));
        try {
          const tst = t.name === null ? null : lstatOrNull(fdPath(t.dirFd, t.name));
          if (!tst || tst.isDirectory()) {
            throw new BerthError(
              `archive entry "${h.name}" is a hardlink to "${h.linkname}", which is not a file the archive holds`,
            );
          }
          // link(2) does not follow a symlink at the target: a link to a symlink links the symlink.
          fs.linkSync(fdPath(t.dirFd, t.name!), p);
        } finally {
          t.close();
        }
        return false;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const kind = type === 'fifo' ? S_IFIFO : type === 'block-device' ? S_IFBLK : S_IFCHR;
        mknod(p, kind | 0o600, h.devmajor ?? 0, h.devminor ?? 0);
        // Through an O_PATH descriptor: chmod/chown on /proc/self/fd/N reach exactly the node made.
        const fd = fs.openSync(p, O_PATH | O_NOFOLLOW);
        try {
          const self = fdPath(fd);
          this.chown(h, (uid, gid) => fs.chownSync(self, uid, gid));
          fs.chmodSync(self, mode);
          fs.utimesSync(self, mtime, mtime);
        } finally {
          fs.closeSync(fd);
        }
        return false;
      }
      default:
        throw new BerthError(`archive entry "${h.name}" has a tar type Berth cannot extract (${type})`);
    }
  }

  /** Sets the directories' times and closes what was opened. */
  finish(): void {
    this.dropParents();
    for (const [parts, mtime] of this.dirTimes.reverse()) {
      let r: Resolved;
      try {
        r = this.scope.resolve(parts.join('/'), { dir: true });
      } catch {
        continue;
      }
      try {
        fs.futimesSync(r.dirFd, mtime, mtime);
      } finally {
        r.close();
      }
    }
    this.dirTimes.length = 0;
  }

  /** The directory `rel` below the base, made (tar semantics) when the archive did not list it. */
  private parent(rel: string[]): number {
    if (this.stale || this.parents.size >= 256) this.dropParents();
    this.stale = false;
    const key = rel.join('/');
    const cached = this.parents.get(key);
    if (cached !== undefined) return cached;
    const r = this.scope.resolve([...this.base, ...rel].join('/'), {
      dir: true,
      mkdir: (fd, name) => {
        fs.mkdirSync(fdPath(fd, name), 0o755);
        const dfd = openDirAt(fd, name);
        try {
          this.chown({ uid: 0, gid: 0 }, (uid, gid) => fs.fchownSync(dfd, uid, gid), true);
        } finally {
          fs.closeSync(dfd);
        }
      },
    });
    if (r.dirFd === this.scope.rootFd) return r.dirFd;
    this.parents.set(key, r.dirFd);
    return r.dirFd;
  }

  private dropParents(): void {
    for (const fd of this.parents.values()) fs.closeSync(fd);
    this.parents.clear();
  }

  /** Applies the ownership policy; `implicit` is a directory made for a missing parent. */
  private chown(
    h: { uid?: number; gid?: number },
    apply: (uid: number, gid: number) => void,
    implicit = false,
  ): void {
    const owner = this.o.owner;
    if (owner === 'none') return;
    if (owner === 'archive') {
      // A parent the archive did not list belongs to root, as tar makes it.
      if (!implicit) apply(h.uid ?? 0, h.gid ?? 0);
      return;
    }
    apply(owner.uid, owner.gid);
  }

  private setXattrs(p: string, h: TarHeader): void {
    for (const [key, value] of Object.entries(h.pax ?? {})) {
      if (!key.startsWith('SCHILY.xattr.')) continue;
      const name = key.slice('SCHILY.xattr.'.length);
      // Overlay bookkeeping and SELinux labels are the host's business; a value tar-stream could
      // not decode (binary) would be written wrong.
      if (name.startsWith('trusted.overlay.') || name === 'security.selinux' || value.includes('\ufffd'))
        continue;
      try {
        lsetxattr(p, name, Buffer.from(value, 'utf8'));
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EPERM') continue;
        throw err;
      }
    }
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
}

// ---------------------------------------------------------------------------------------------
// berth cp, the engine's side
// ---------------------------------------------------------------------------------------------

/** docker's reading of a container path: absolute, cleaned, with a trailing `/` or `/.` kept in mind. */
export interface ContainerPath {
  /** Absolute and clean, no trailing slash (but '/'). */
  clean: string;
  /** The name the archive's top entry takes: the base name, or '.' for `dir/.` and `/`. */
  name: string;
  /** The path ends in '/' or '/.': it means the directory itself, symlink or not. */
  dirAsserted: boolean;
}

export function containerPath(path: string): ContainerPath {
  if (path === '') throw new InvalidArgumentError('path cannot be empty');
  const clean = posix.join('/', path).replace(/(.)\/+$/, '$1');
  const dotted = path === '.' || path.endsWith('/.');
  const dirAsserted = dotted || path.endsWith('/');
  const name = dotted || clean === '/' ? '.' : posix.basename(clean);
  return { clean, name, dirAsserted };
}

function notFound(path: string, ref: string): NotFoundError {
  return new NotFoundError(`Could not find the file ${path} in container ${ref}`);
}

/** Maps resolution errors to what docker says about a path. */
function resolveError(err: unknown, path: string, ref: string): unknown {
  const code = errnoCode(err);
  if (code === 'ENOENT') return notFound(path, ref);
  if (code === 'ENOTDIR') return new BerthError(`${path}: not a directory`);
  if (code === 'ELOOP') return new BerthError(`${path}: too many levels of symbolic links`);
  return err;
}

/**
 * Writes a tar of `path` inside the container to `out` (left open): a directory with everything
 * in it, or a single file, its top entry named after the path's base name (`.` for `dir/.`). With
 * `followLink` a symlink at the last component is followed (the entry keeps the link's name).
 */
export async function copyFromContainer(
  ctx: StoreContext,
  ref: string,
  path: string,
  out: NodeJS.WritableStream,
  o: CopyFromOptions,
): Promise<PathStat> {
  const cp = containerPath(path);
  return withContainerRoot(ctx, ref, async (root) => {
    const rootFd = openDir(root);
    try {
      const scope = new Scope(rootFd);
      let r: Resolved;
      try {
        r = scope.resolve(cp.clean, { followLast: o.followLink || cp.dirAsserted });
      } catch (err) {
        throw resolveError(err, path, ref);
      }
      try {
        const st = r.name === null ? fs.fstatSync(r.dirFd) : lstatOrNull(fdPath(r.dirFd, r.name));
        if (!st) throw notFound(path, ref);
        if (cp.dirAsserted && !st.isDirectory()) throw new BerthError(`${path}: not a directory`);
        let linkTarget = '';
        if (st.isSymbolicLink()) {
          try {
            const t = scope.resolve(cp.clean, { followLast: true });
            linkTarget = joinParts(t.parts);
            t.close();
          } catch {
            // A dangling or looping link: docker leaves the target empty too.
          }
        }
        const stat: PathStat = {
          name: cp.name,
          size: st.size,
          mode: goFileMode(st),
          mtime: st.mtime.toISOString(),
          linkTarget,
        };
        if (o.onStat?.(stat) === false) return stat;
        await writeTar(out, async (w) => {
          if (r.name === null) await w.directory(r.dirFd, cp.name);
          else await w.entry(r.dirFd, r.name, cp.name);
        });
        return stat;
      } finally {
        r.close();
      }
    } finally {
      fs.closeSync(rootFd);
    }
  });
}

/**
 * Extracts the tar `input` into the directory `path` inside the container (a symlink there is
 * followed, inside the container). Without `copyUidGid` everything is owned by root, docker's
 * default; with it, by the ids the archive records.
 */
export async function copyToContainer(
  ctx: StoreContext,
  ref: string,
  path: string,
  input: Readable,
  o: { copyUidGid: boolean },
): Promise<void> {
  const cp = containerPath(path);
  await withContainerRoot(ctx, ref, async (root, c) => {
    if (c.config.host.readonlyRootfs) {
      throw new ConflictError('container rootfs is marked read-only');
    }
    const rootFd = openDir(root);
    try {
      const scope = new Scope(rootFd);
      let r: Resolved;
      try {
        r = scope.resolve(cp.clean, { followLast: true });
      } catch (err) {
        throw resolveError(err, path, ref);
      }
      let base: string[];
      try {
        if (r.name !== null) {
          const st = lstatOrNull(fdPath(r.dirFd, r.name));
          if (!st) throw notFound(path, ref);
          if (!st.isDirectory()) throw new BerthError('extraction point is not a directory');
        }
        base = r.parts;
      } finally {
        r.close();
      }
      const ex = new Extractor(scope, base, { owner: o.copyUidGid ? 'archive' : { uid: 0, gid: 0 } });
      try {
        await forEachEntry(input, (h, body) => ex.apply(h, body));
      } finally {
        ex.finish();
      }
    } finally {
      fs.closeSync(rootFd);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The local side (the CLI's)
// ---------------------------------------------------------------------------------------------

/**
 * Writes a tar of the local `path` to `out` with its top entry named `entryName`; `path` ending
 * in '/.' archives the directory's contents under '.'. The last component is not followed.
 */
export async function packLocal(path: string, entryName: string, out: NodeJS.WritableStream): Promise<void> {
  if (path === '.' || path.endsWith('/.') || path === '/') {
    const fd = openDir(fs.realpathSync(path));
    try {
      await writeTar(out, (w) => w.directory(fd, entryName));
    } finally {
      fs.closeSync(fd);
    }
    return;
  }
  const clean = path.replace(/(.)\/+$/, '$1');
  const fd = openDir(fs.realpathSync(posix.dirname(clean)));
  try {
    await writeTar(out, (w) => w.entry(fd, posix.basename(clean), entryName));
  } finally {
    fs.closeSync(fd);
  }
}
