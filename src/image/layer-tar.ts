import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { type Pack, pack as tarPack } from 'tar-stream';
import { lgetxattr, llistxattr } from '../util/syscalls.ts';
import { fdBody, splitDev, type TarHeader, writeEntry, type Xattrs } from './tar-writer.ts';

export interface PackOptions {
  /**
   * `dir` is an overlayfs upperdir: turn overlay whiteouts (char device 0/0) into OCI `.wh.<name>`
   * files, opaque directories (trusted.overlay.opaque=y) into `<dir>/.wh..wh..opq`, and leave out
   * the trusted.overlay.* bookkeeping xattrs.
   */
  overlayUpper?: boolean;
}

/**
 * Writes `dir` as an uncompressed layer tar to `out`: entries in depth-first order with each
 * directory's children sorted by name, paths relative to `dir` (the root itself is not an entry),
 * numeric ownership, xattrs as pax SCHILY.xattr.* records, hardlinks by (dev, ino), devices and
 * fifos. Sockets are skipped, as docker does. Resolves when `out` has finished.
 */
export async function packDirectory(dir: string, out: Writable, opts: PackOptions = {}): Promise<void> {
  const root = path.resolve(dir);
  const pack = tarPack();
  const finished = new Promise<void>((resolve, reject) => {
    out.once('finish', resolve);
    out.once('error', (err: Error) => {
      pack.destroy(err);
      reject(err);
    });
    pack.once('error', reject);
  });
  // Keep an early failure of `out` from surfacing as an unhandled rejection while we walk.
  finished.catch(() => {});
  pack.pipe(out);

  const walker = new TreePacker(pack, opts.overlayUpper === true);
  try {
    await walker.walkDir(root, '');
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await finished.catch(() => {});
    throw err;
  }
  await finished;
}

class TreePacker {
  /** `dev:ino` of multiply-linked files already written, to the path they were written under. */
  private readonly links = new Map<string, string>();

  constructor(
    private readonly pack: Pack,
    private readonly overlayUpper: boolean,
  ) {}

  async walkDir(abs: string, rel: string): Promise<void> {
    const names = fs.readdirSync(abs).sort();
    for (const name of names) {
      const childAbs = path.join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      await this.entry(childAbs, childRel);
    }
  }

  private async entry(abs: string, rel: string): Promise<void> {
    const st = fs.lstatSync(abs, { bigint: true });
    const base: TarHeader = {
      name: rel,
      mode: Number(st.mode), // keeps the type bits, so tar-stream never mistakes mode 0 for "unset"
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: new Date(Number(st.mtimeMs / 1000n) * 1000),
    };

    if (st.isCharacterDevice() && st.rdev === 0n && this.overlayUpper) {
      const slash = rel.lastIndexOf('/');
      const whiteout = `${rel.slice(0, slash + 1)}.wh.${rel.slice(slash + 1)}`;
      await this.write({
        ...base,
        name: whiteout,
        mode: 0o100000 | Number(st.mode & 0o7777n),
        type: 'file',
        size: 0,
      });
      return;
    }

    const xattrs = this.xattrs(abs);

    if (st.isDirectory()) {
      await this.write({ ...base, type: 'directory' }, xattrs);
      if (this.overlayUpper && lgetxattr(abs, 'trusted.overlay.opaque')?.toString() === 'y') {
        await this.write({ ...base, name: `${rel}/.wh..wh..opq`, mode: 0o100000, type: 'file', size: 0 });
      }
      await this.walkDir(abs, rel);
      return;
    }

    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        await this.write({ ...base, type: 'link', linkname: first, size: 0 });
        return;
      }
      this.links.set(key, rel);
    }

    if (st.isFile()) {
      await this.writeFile(abs, { ...base, type: 'file', size: Number(st.size) }, xattrs);
    } else if (st.isSymbolicLink()) {
      await this.write({ ...base, type: 'symlink', linkname: fs.readlinkSync(abs) }, xattrs);
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const [devmajor, devminor] = splitDev(st.rdev);
      const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
      await this.write({ ...base, type, devmajor, devminor }, xattrs);
    } else if (st.isFIFO()) {
      await this.write({ ...base, type: 'fifo' }, xattrs);
    }
    // Sockets belong to a running process and mean nothing in an image.
  }

  private xattrs(abs: string): Xattrs {
    let names: string[];
    try {
      names = llistxattr(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return [];
      throw err;
    }
    const out: Xattrs = [];
    for (const name of names.sort()) {
      // An SELinux label describes the host's policy, not the image.
      if (name === 'security.selinux') continue;
      if (this.overlayUpper && name.startsWith('trusted.overlay.')) continue;
      const value = lgetxattr(abs, name);
      if (value !== null) out.push([name, value]);
    }
    return out;
  }

  private async writeFile(abs: string, header: TarHeader, xattrs: Xattrs): Promise<void> {
    const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      await writeEntry(
        this.pack,
        header,
        xattrs,
        fdBody(
          fd,
          header.size ?? 0,
          `${abs} shrank while it was being packed; retry once nothing writes to it`,
        ),
      );
    } finally {
      fs.closeSync(fd);
    }
  }

  private write(header: TarHeader, xattrs?: Xattrs): Promise<void> {
    return writeEntry(this.pack, header, xattrs);
  }
}
