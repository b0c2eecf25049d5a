import * as fs from 'node:fs';
import { type Pack, pack as tarPack } from 'tar-stream';
import type { StoreContext } from '../engine/context.ts';
import {
  fdBody,
  splitDev,
  type TarHeader,
  type TarSink,
  writeEntry,
  type Xattrs,
} from '../image/tar-writer.ts';
import { withLock } from '../store/lock.ts';
import { BerthError, NotFoundError } from '../util/errors.ts';
import { lgetxattr, llistxattr } from '../util/syscalls.ts';
import { pidAlive } from './cleanup.ts';
import { containerFiles } from './paths.ts';
import { isMounted, mountRootfs, rootfsDirs, unmountRootfs } from './rootfs.ts';
import { runtimeExec, selectRuntime } from './runtime.ts';
import type { ContainerRecord } from './types.ts';

/*
 * A container's files are hostile: while Berth walks them, a process in the container can swap a
 * directory for a symlink to /etc. Every walk here therefore goes from directory file descriptor to
 * child through /proc/self/fd/<fd>/<name> (the openat(2) of a runtime that has none): the kernel
 * resolves <fd> to the very directory opened before, and `name` is a single component that is
 * never followed (lstat, O_NOFOLLOW). No host path is ever re-resolved under the container's root.
 */

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** Errors of a file that went away or changed type between lstat and open: a live container's doing. */
const VANISHED = new Set(['ENOENT', 'ELOOP', 'ENOTDIR', 'EINVAL']);

/** The path of `name` inside the directory open as `dirFd` (of the directory itself without a name). */
export function fdPath(dirFd: number, name?: string): string {
  if (name === undefined) return `/proc/self/fd/${dirFd}`;
  if (name === '' || name === '.' || name === '..' || name.includes('/')) {
    throw new BerthError(`internal error: "${name}" is not a single path component`);
  }
  return `/proc/self/fd/${dirFd}/${name}`;
}

/** Opens `path` as a directory; a symlink at its last component is refused, not followed. */
export function openDir(path: string): number {
  return fs.openSync(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
}

export function openDirAt(dirFd: number, name: string): number {
  return openDir(fdPath(dirFd, name));
}

export function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

// ---------------------------------------------------------------------------------------------
// The container's root filesystem
// ---------------------------------------------------------------------------------------------

/**
 * Runs `fn` with the container's merged root mounted, holding the container's lock so that no
 * start, stop or cleanup mounts or unmounts it meanwhile. A root that was not mounted (created or
 * exited container) is mounted for the duration and always unmounted again.
 */
export async function withContainerRoot<T>(
  ctx: StoreContext,
  ref: string,
  fn: (root: string, c: ContainerRecord) => Promise<T>,
): Promise<T> {
  const found = ctx.containers.mustFind(ref);
  return withLock(ctx.paths, found.id, async () => {
    const c = ctx.containers.get(found.id);
    if (!c) throw new NotFoundError(`No such container: ${ref}`);
    if (c.state.status === 'removing') {
      throw new BerthError(`container ${c.name} is being removed; its filesystem is no longer available`);
    }
    const { merged } = rootfsDirs(ctx, c.id);
    const wasMounted = isMounted(merged);
    if (!wasMounted) await mountRootfs(ctx, c);
    try {
      return await fn(merged, c);
    } finally {
      if (!wasMounted) unmountRootfs(ctx, c.id);
    }
  });
}

/**
 * Runs `fn` with a running container frozen (runtime pause), then thaws it. The container is
 * recorded as paused meanwhile, so that `stop` thaws what it kills and a crash leaves something
 * `unpause` can fix. The caller holds the container's lock.
 */
export async function whilePaused<T>(
  ctx: StoreContext,
  c: ContainerRecord,
  pause: boolean,
  fn: () => Promise<T>,
): Promise<T> {
  if (!pause || c.state.status !== 'running') return fn();
  const rt = selectRuntime(c.state.runtime || undefined);
  const state = containerFiles(ctx.paths, c.id).runtimeState;
  try {
    await runtimeExec(rt, state, ['pause', c.id]);
  } catch (err) {
    // It exited since its state was read: there is nothing left to freeze.
    if (!pidAlive(c.state.pid)) return fn();
    throw err;
  }
  ctx.containers.update(c.id, (s) => ({ ...s, status: 'paused' }));
  try {
    return await fn();
  } finally {
    await resume(ctx, c, rt, state);
  }
}

/** Thaws a container frozen by whilePaused; throws when it is alive and still frozen. */
async function resume(
  ctx: StoreContext,
  c: ContainerRecord,
  rt: ReturnType<typeof selectRuntime>,
  state: string,
): Promise<void> {
  let resumeError: unknown;
  try {
    await runtimeExec(rt, state, ['resume', c.id]);
  } catch (err) {
    resumeError = err;
  }
  const now = ctx.containers.get(c.id);
  if (resumeError !== undefined && now && pidAlive(now.state.pid)) {
    throw new BerthError(
      `container ${c.name} stays paused: ${(resumeError as Error).message}; run \`berth unpause ${c.name}\``,
    );
  }
  // Resumed, or it died meanwhile (a stop thaws and kills): either way it is no longer paused.
  if (now?.state.status === 'paused') {
    ctx.containers.update(c.id, (s) => (s.status === 'paused' ? { ...s, status: 'running' } : s));
  }
}

// ---------------------------------------------------------------------------------------------
// Writing tar streams
// ---------------------------------------------------------------------------------------------

/**
 * Builds a tar with `fill` and writes it to `out`, which is left open: it may be stdout, or a
 * stream its owner ends. Resolves once every byte was handed to `out`; rejects when `out` fails
 * (a closed pipe), having stopped the walk.
 */
export async function writeTar(
  out: NodeJS.WritableStream,
  fill: (w: TarWriter) => Promise<void>,
): Promise<void> {
  const pack = tarPack();
  let outError: Error | undefined;
  const onOutError = (err: Error) => {
    outError = err;
    pack.destroy(err);
  };
  out.on('error', onOutError);
  const forward = (async () => {
    for await (const chunk of pack) {
      if (outError) throw outError;
      if (!out.write(chunk as Buffer)) await drained(out);
    }
    if (outError) throw outError;
  })();
  // The walk below reports the failure; keep this one from surfacing as unhandled meanwhile.
  forward.catch(() => {});
  try {
    await fill(new TarWriter(pack));
    pack.finalize();
    await forward;
  } catch (err) {
    pack.destroy(err as Error);
    await forward.catch(() => {});
    throw outError ?? err;
  } finally {
    out.off('error', onOutError);
  }
}

function drained(out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(new BerthError('the output stream was closed before the archive was written'));
    out.once('drain', onDrain);
    out.once('error', onError);
    out.once('close', onClose);
  });
}

/**
 * Writes files as tar entries, walking through directory file descriptors (see the top of this
 * file): numeric ownership, xattrs as binary-safe pax SCHILY.xattr.* records, hardlinks by
 * (dev, ino), devices and fifos; sockets are left out as docker does. Directories' children are
 * written sorted by name.
 */
export class TarWriter {
  private readonly links = new Map<string, string>();

  constructor(private readonly pack: Pack) {}

  /** Writes the children of the directory open as `dirFd`, named `<prefix>/<child>` (or `<child>`). */
  async children(dirFd: number, prefix: string): Promise<void> {
    const names = fs.readdirSync(fdPath(dirFd)).sort();
    for (const name of names) await this.entry(dirFd, name, prefix ? `${prefix}/${name}` : name);
  }

  /**
   * Writes the directory open as `fd` as entry `entryName`, then its contents. `path` names it for
   * reading xattrs without following it (fdPath of its parent and name); without one it has none.
   */
  async directory(fd: number, entryName: string, path?: string): Promise<void> {
    const st = fs.fstatSync(fd, { bigint: true });
    await this.write(this.base(st, entryName, 'directory'), path ? this.xattrs(path) : []);
    await this.children(fd, entryName);
  }

  /** Writes `name` in the directory `dirFd` as `entryName` (recursively for a directory); never follows it. */
  async entry(dirFd: number, name: string, entryName: string): Promise<void> {
    const p = fdPath(dirFd, name);
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(p, { bigint: true });
    } catch (err) {
      // Removed while we walked a live container: it is simply not part of the snapshot.
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    if (st.isDirectory()) {
      let fd: number;
      try {
        fd = openDir(p);
      } catch (err) {
        // Gone or swapped for something else since the lstat (a live container): not in the snapshot.
        if (VANISHED.has(errnoCode(err) ?? '')) return;
        throw err;
      }
      try {
        await this.directory(fd, entryName, p);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        await this.write({ ...this.base(st, entryName, 'link'), linkname: first, size: 0 });
        return;
      }
      this.links.set(key, entryName);
    }
    if (st.isFile()) {
      await this.file(p, entryName);
    } else if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = fs.readlinkSync(p);
      } catch (err) {
        if (VANISHED.has(errnoCode(err) ?? '')) return;
        throw err;
      }
      await this.write({ ...this.base(st, entryName, 'symlink'), linkname: target }, this.xattrs(p));
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const [devmajor, devminor] = splitDev(st.rdev);
      const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
      await this.write({ ...this.base(st, entryName, type), devmajor, devminor }, this.xattrs(p));
    } else if (st.isFIFO()) {
      await this.write(this.base(st, entryName, 'fifo'), this.xattrs(p));
    }
    // Sockets belong to a running process and mean nothing in an archive.
  }

  private base(st: fs.BigIntStats, name: string, type: TarHeader['type']): TarHeader {
    return {
      name,
      type,
      // The type bits stay: tar-stream would otherwise take mode 0 for "unset".
      mode: Number(st.mode),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: new Date(Number(st.mtimeMs / 1000n) * 1000),
    };
  }

  private async file(p: string, entryName: string): Promise<void> {
    let fd: number;
    try {
      // O_NONBLOCK: a fifo swapped in since the lstat must not block the open.
      fd = fs.openSync(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if (VANISHED.has(errnoCode(err) ?? '')) return;
      throw err;
    }
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      if (!st.isFile()) return;
      const size = Number(st.size);
      const xattrs = this.xattrs(p);
      await this.write(
        { ...this.base(st, entryName, 'file'), size },
        xattrs,
        fdBody(fd, size, `/${entryName} shrank while it was being read; retry once nothing writes to it`),
      );
    } finally {
      fs.closeSync(fd);
    }
  }

  private xattrs(p: string): Xattrs {
    let names: string[];
    try {
      names = llistxattr(p);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOENT') return [];
      throw err;
    }
    const out: Xattrs = [];
    for (const name of names.sort()) {
      // An SELinux label describes the host's policy; overlay bookkeeping is not the file's.
      if (name === 'security.selinux' || name.startsWith('trusted.overlay.')) continue;
      const value = lgetxattr(p, name);
      if (value !== null) out.push([name, value]);
    }
    return out;
  }

  private write(header: TarHeader, xattrs?: Xattrs, body?: (sink: TarSink) => Promise<void>): Promise<void> {
    return writeEntry(this.pack, header, xattrs, body);
  }
}

// ---------------------------------------------------------------------------------------------
// berth export
// ---------------------------------------------------------------------------------------------

/**
 * `berth export`: a tar of the container's root filesystem as the container sees it (the merged
 * overlay, so no whiteouts), entries named relative to the root as docker names them. `out` is
 * left open.
 */
export async function exportContainer(
  ctx: StoreContext,
  ref: string,
  out: NodeJS.WritableStream,
): Promise<void> {
  await withContainerRoot(ctx, ref, async (root) => {
    const fd = openDir(root);
    try {
      await writeTar(out, (w) => w.children(fd, ''));
    } finally {
      fs.closeSync(fd);
    }
  });
}
