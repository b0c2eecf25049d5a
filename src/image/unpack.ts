import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type Header, extract as tarExtract } from 'tar-stream';
import { BerthError } from '../util/errors.ts';
import { lsetxattr, mknod } from '../util/syscalls.ts';
import { createZstdDecompress } from '../util/zstd.ts';
import { cleanEntryName } from './tar-name.ts';

const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const WHITEOUT_OPAQUE = '.wh..wh..opq';
const XATTR_SCHILY = 'SCHILY.xattr.';
const XATTR_LIBARCHIVE = 'LIBARCHIVE.xattr.';

const { S_IFCHR, S_IFBLK, S_IFIFO, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

/** tar-stream's header; `pax` holds the entry's pax records decoded as UTF-8 strings. */
type TarHeader = Omit<Header, 'type' | 'pax'> & {
  type: Header['type'] | null;
  pax?: Record<string, string> | null;
};

/** Pax records with their values as raw bytes. */
type RawPax = Map<string, Buffer>;

/** Minimal view of tar-stream 3.x Extract internals used to capture raw pax bytes (see rawPaxTap). */
interface ExtractInternals {
  _header: { type: string | null } | null;
  _decodeLongHeader?: (buf: Buffer) => void;
}

type Extractor = ReturnType<typeof tarExtract>;

/**
 * Unpacks one image layer (an uncompressed tar stream in OCI/docker layer format) into `dest`,
 * translating OCI whiteouts to overlayfs ones so that `dest` can serve as an overlay lowerdir.
 * Entries that would land outside `dest` (`..`, or through a symlink the layer itself created) make
 * it fail with a BerthError; the caller is expected to unpack into a temp dir and discard it then.
 */
export async function unpackLayer(input: NodeJS.ReadableStream | Readable, dest: string): Promise<void> {
  const root = fs.realpathSync(dest);
  const ex = tarExtract();
  const rawPaxOf = rawPaxTap(ex);
  const writer = new LayerWriter(root);

  const onInputError = (err: Error) => ex.destroy(err);
  input.on('error', onInputError);
  input.pipe(ex);
  try {
    for await (const entry of ex) {
      const header = entry.header as TarHeader;
      const consumed = await writer.apply(header, rawPaxOf(header), entry);
      // tar-stream stalls unless every entry's body is read, including bodies we have no use for.
      if (!consumed) for await (const _chunk of entry);
    }
    writer.finish();
  } catch (err) {
    input.unpipe(ex);
    if ('destroy' in input && typeof input.destroy === 'function') input.destroy();
    ex.destroy();
    throw err;
  } finally {
    input.off('error', onInputError);
  }
}

/** The layer blob is not a readable tar (truncated, not a tar at all, bad gzip); `reason` is the parser's. */
export class CorruptLayerError extends BerthError {
  constructor(
    readonly tarPath: string,
    readonly reason: string,
  ) {
    super(`cannot unpack layer ${tarPath}: ${reason}; the blob may be corrupt, pull the image again`);
  }
}

/**
 * Unpacks a layer blob from a file: gzip-compressed (by magic bytes) or plain tar.
 */
export async function unpackLayerFile(tarPath: string, dest: string): Promise<void> {
  const magic = Buffer.alloc(4);
  const fd = fs.openSync(tarPath, 'r');
  let n: number;
  try {
    n = fs.readSync(fd, magic, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  const file = fs.createReadStream(tarPath, { highWaterMark: 1 << 20 });
  const zstd = n >= 4 && magic.readUInt32BE(0) === 0x28b52ffd;
  if (zstd || (n >= 2 && magic[0] === 0x1f && magic[1] === 0x8b)) {
    const gunzip = zstd ? createZstdDecompress() : createGunzip({ chunkSize: 1 << 18 });
    // pipeline() forwards a read error from the file into gunzip, which unpackLayer watches.
    pipeline(file, gunzip, () => {});
    try {
      await unpackLayer(gunzip, dest);
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new CorruptLayerError(tarPath, (err as Error).message);
    }
    return;
  }
  try {
    await unpackLayer(file, dest);
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new CorruptLayerError(tarPath, (err as Error).message);
  }
}

/**
 * tar-stream decodes pax values as UTF-8 strings (headers.decodePax), which irreversibly replaces
 * invalid sequences with U+FFFD, so binary xattrs such as security.capability cannot be recovered
 * from `header.pax`. tar-stream 3.x hands each pax body to the instance method _decodeLongHeader;
 * wrapping it on this one instance lets us parse the same bytes ourselves. If a future tar-stream
 * stops calling it, `header.pax` is set but no raw record was seen, and we fall back to the
 * decoded strings (dropping xattrs whose bytes were lost, with a warning).
 */
function rawPaxTap(ex: Extractor): (header: TarHeader) => RawPax | null {
  const internals = ex as unknown as ExtractInternals;
  const original = internals._decodeLongHeader;
  let global: RawPax | null = null;
  let local: RawPax | null = null;
  const seen = new WeakMap<object, RawPax | null>();
  if (typeof original === 'function') {
    internals._decodeLongHeader = function (this: ExtractInternals, buf: Buffer) {
      const type = this._header?.type;
      if (type === 'pax-header') local = parsePax(buf);
      else if (type === 'pax-global-header') global = parsePax(buf);
      original.call(this, buf);
    };
  }
  // 'entry' is emitted synchronously right after the entry's own pax header was applied.
  ex.on('entry', (header: object) => {
    let records: RawPax | null = null;
    if (global || local) records = new Map([...(global ?? []), ...(local ?? [])]);
    local = null;
    seen.set(header, records);
  });
  return (header) => {
    const raw = seen.get(header) ?? null;
    if (raw || !header.pax) return raw;
    const fallback: RawPax = new Map();
    for (const [key, value] of Object.entries(header.pax)) {
      if (value.includes('\uFFFD') && isXattrKey(key)) {
        process.emitWarning(
          `layer entry "${header.name}": xattr ${key} holds binary data that tar-stream could not decode; skipped`,
        );
        continue;
      }
      fallback.set(key, Buffer.from(value, 'utf8'));
    }
    return fallback;
  };
}

/** Parses pax extended header records: `<len> <key>=<value>\n`, `len` counting the whole record. */
function parsePax(buf: Buffer): RawPax {
  const out: RawPax = new Map();
  let off = 0;
  while (off < buf.length) {
    const space = buf.indexOf(0x20, off);
    if (space === -1) break;
    const len = Number.parseInt(buf.toString('latin1', off, space), 10);
    if (!(len > 0) || off + len > buf.length) break;
    const end = off + len - 1; // the record's trailing newline
    const eq = buf.indexOf(0x3d, space + 1);
    if (eq === -1 || eq > end) break;
    out.set(buf.toString('utf8', space + 1, eq), Buffer.from(buf.subarray(eq + 1, end)));
    off += len;
  }
  return out;
}

function isXattrKey(key: string): boolean {
  return key.startsWith(XATTR_SCHILY) || key.startsWith(XATTR_LIBARCHIVE);
}

function xattrsOf(pax: RawPax | null): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  if (!pax) return out;
  for (const [key, value] of pax) {
    if (key.startsWith(XATTR_SCHILY)) {
      out.push([key.slice(XATTR_SCHILY.length), value]);
    } else if (key.startsWith(XATTR_LIBARCHIVE)) {
      // bsdtar: URL-encoded name, base64 value.
      out.push([
        decodeURIComponent(key.slice(XATTR_LIBARCHIVE.length)),
        Buffer.from(value.toString('latin1'), 'base64'),
      ]);
    }
  }
  return out;
}

function paxNumber(pax: RawPax | null, key: string): number | undefined {
  const v = pax?.get(key);
  if (!v) return undefined;
  const n = Number(v.toString('latin1'));
  return Number.isFinite(n) ? n : undefined;
}

function unsafe(name: string): BerthError {
  return new BerthError(`layer contains an unsafe path: "${name}" escapes the layer root`);
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFile()) return 'file';
  return 'special file';
}

/** Applies tar entries to the layer directory; every path it touches was checked with lstat. */
class LayerWriter {
  /** Relative paths known to be real directories (not symlinks), to skip repeated lstat walks. */
  private readonly dirs = new Set<string>();
  /** Directory times, applied last since writing children changes a directory's mtime. */
  private readonly dirTimes = new Map<string, [atime: number, mtime: number]>();

  constructor(private readonly root: string) {}

  /** Applies one entry; resolves to whether it read the entry's body. */
  async apply(header: TarHeader, pax: RawPax | null, body: AsyncIterable<unknown>): Promise<boolean> {
    const name = header.name;
    const parts = cleanEntryName(name);
    if (parts === null) throw unsafe(name);
    try {
      return await this.applyClean(header, pax, body, parts);
    } catch (err) {
      if (err instanceof BerthError) throw err;
      // No errno: the tar stream failed while the body was read (truncated or corrupt input), which
      // unpackLayerFile reports as a corrupt layer rather than a file system problem.
      if (errnoCode(err) === undefined) throw err;
      throw new BerthError(
        `cannot unpack layer entry "${name}": ${(err as Error).message}; the layer may be corrupt or the disk full`,
      );
    }
  }

  finish(): void {
    for (const [abs, [atime, mtime]] of this.dirTimes) fs.lutimesSync(abs, atime, mtime);
    this.dirTimes.clear();
  }

  private async applyClean(
    header: TarHeader,
    pax: RawPax | null,
    body: AsyncIterable<unknown>,
    parts: string[],
  ): Promise<boolean> {
    const name = header.name;
    const type = header.type ?? 'file';

    if (parts.length === 0) {
      // The layer's root ("./"): only a directory makes sense there.
      if (type !== 'directory') {
        throw new BerthError(`layer entry "${name}" is a ${type} at the layer root; the layer is invalid`);
      }
      this.setMeta(this.root, header, pax, 'directory');
      return false;
    }

    const base = parts[parts.length - 1];
    const parentRel = parts.slice(0, -1).join('/');
    const parentAbs = this.walkParents(parts, parts.length - 1, name, true);

    if (base.startsWith(WHITEOUT_PREFIX)) {
      if (base === WHITEOUT_OPAQUE) {
        // overlayfs hides everything below this directory in lower layers.
        lsetxattr(parentAbs, 'trusted.overlay.opaque', Buffer.from('y'));
        return false;
      }
      // Other .wh..wh.* entries are aufs bookkeeping (hardlink dirs); they mean nothing here.
      if (base.startsWith(WHITEOUT_META_PREFIX)) return false;
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      if (hidden === '' || hidden === '.' || hidden === '..') throw unsafe(name);
      const rel = parentRel ? `${parentRel}/${hidden}` : hidden;
      const abs = path.join(parentAbs, hidden);
      this.replace(rel, abs, () => mknod(abs, S_IFCHR, 0, 0));
      fs.lchownSync(abs, this.uid(header, pax), this.gid(header, pax));
      return false;
    }

    const rel = parts.join('/');
    const abs = path.join(parentAbs, base);

    // Creation is optimistic: an EEXIST (a partial earlier attempt, or an earlier entry for the
    // same path) is handled when it happens, which saves an lstat per entry.
    switch (type) {
      case 'directory': {
        try {
          fs.mkdirSync(abs, 0o700);
        } catch (err) {
          if (errnoCode(err) !== 'EEXIST') throw err;
          // An existing directory is merged into; anything else (a symlink included) is replaced.
          if (!fs.lstatSync(abs).isDirectory()) {
            this.remove(rel, abs);
            fs.mkdirSync(abs, 0o700);
          }
        }
        this.dirs.add(rel);
        this.setMeta(abs, header, pax, 'directory');
        return false;
      }
      case 'file':
      case 'contiguous-file': {
        // O_EXCL fails on an existing symlink too, so this never writes through one.
        const flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
        let fd = -1;
        this.replace(rel, abs, () => {
          fd = fs.openSync(abs, flags, 0o600);
        });
        try {
          for await (const chunk of body) fs.writeSync(fd, chunk as Buffer);
          fs.fchownSync(fd, this.uid(header, pax), this.gid(header, pax));
          fs.fchmodSync(fd, (header.mode ?? 0o644) & 0o7777);
          this.setXattrs(abs, pax, 'file');
          const [atime, mtime] = this.times(header, pax);
          fs.futimesSync(fd, atime, mtime);
        } finally {
          fs.closeSync(fd);
        }
        return true;
      }
      case 'symlink': {
        // The target is kept verbatim: it is resolved inside the container, never by us.
        const target = header.linkname ?? '';
        this.replace(rel, abs, () => fs.symlinkSync(target, abs));
        this.setMeta(abs, header, pax, 'symlink');
        return false;
      }
      case 'link': {
        const linkname = header.linkname ?? '';
        const targetParts = cleanEntryName(linkname);
        if (targetParts === null || targetParts.length === 0) throw unsafe(linkname);
        const targetAbs = path.join(
          this.walkParents(targetParts, targetParts.length - 1, linkname, false),
          targetParts[targetParts.length - 1],
        );
        // link(2) does not follow a symlink target on Linux: a link to a symlink stays in the layer.
        try {
          fs.linkSync(targetAbs, abs);
        } catch (err) {
          const code = errnoCode(err);
          if (code === 'ENOENT') {
            throw new BerthError(
              `layer entry "${name}" is a hardlink to "${linkname}", which the layer does not contain; the layer is invalid`,
            );
          }
          if (code === 'EPERM' && fs.lstatSync(targetAbs).isDirectory()) {
            throw new BerthError(
              `layer entry "${name}" is a hardlink to directory "${linkname}"; the layer is invalid`,
            );
          }
          if (code !== 'EEXIST') throw err;
          const existing = fs.lstatSync(abs);
          const target = fs.lstatSync(targetAbs);
          if (existing.ino === target.ino && existing.dev === target.dev) return false;
          this.remove(rel, abs);
          fs.linkSync(targetAbs, abs);
        }
        return false;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const kind = type === 'fifo' ? S_IFIFO : type === 'block-device' ? S_IFBLK : S_IFCHR;
        const major = paxNumber(pax, 'SCHILY.devmajor') ?? header.devmajor ?? 0;
        const minor = paxNumber(pax, 'SCHILY.devminor') ?? header.devminor ?? 0;
        this.replace(rel, abs, () => mknod(abs, kind | 0o600, major, minor));
        this.setMeta(abs, header, pax, 'special');
        return false;
      }
      default:
        throw new BerthError(
          `layer entry "${name}" has an unsupported tar type (${type ?? 'unknown'}); the layer cannot be unpacked`,
        );
    }
  }

  /**
   * Returns the absolute path of the directory holding parts[0..count), checking each component
   * with lstat: a symlink there would let later writes escape the root, so it is refused outright.
   * Missing components are created when `create` (tar semantics), otherwise reported as missing.
   */
  private walkParents(parts: string[], count: number, name: string, create: boolean): string {
    let rel = '';
    for (let i = 0; i < count; i++) {
      rel = rel ? `${rel}/${parts[i]}` : parts[i];
      if (this.dirs.has(rel)) continue;
      const abs = path.join(this.root, rel);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(abs);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
        if (!create) {
          throw new BerthError(
            `layer refers to "${name}", but "${rel}" does not exist in the layer; the layer is invalid`,
          );
        }
        fs.mkdirSync(abs, 0o755);
        this.dirs.add(rel);
        continue;
      }
      if (st.isSymbolicLink()) throw unsafe(name);
      if (!st.isDirectory()) {
        throw new BerthError(
          `layer entry "${name}" needs "${rel}" to be a directory, but the layer made it a ${kindOf(st)}`,
        );
      }
      this.dirs.add(rel);
    }
    return count === 0 ? this.root : path.join(this.root, rel);
  }

  /** Runs `create`; if something is already at `abs`, removes it (tar semantics) and retries once. */
  private replace(rel: string, abs: string, create: () => void): void {
    try {
      create();
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      this.remove(rel, abs);
      create();
    }
  }

  /** Removes whatever is at `abs` (tar semantics: a later entry replaces an earlier one). */
  private remove(rel: string, abs: string): void {
    fs.rmSync(abs, { recursive: true, force: true });
    if (this.dirs.delete(rel)) {
      const prefix = `${rel}/`;
      for (const d of this.dirs) if (d.startsWith(prefix)) this.dirs.delete(d);
      for (const d of this.dirTimes.keys()) if (d === abs || d.startsWith(`${abs}/`)) this.dirTimes.delete(d);
    }
  }

  private setMeta(
    abs: string,
    header: TarHeader,
    pax: RawPax | null,
    kind: 'directory' | 'symlink' | 'special',
  ): void {
    fs.lchownSync(abs, this.uid(header, pax), this.gid(header, pax));
    // After chown: chown clears setuid/setgid.
    if (kind !== 'symlink') fs.chmodSync(abs, (header.mode ?? 0o755) & 0o7777);
    this.setXattrs(abs, pax, kind);
    const [atime, mtime] = this.times(header, pax);
    if (kind === 'directory') {
      this.dirTimes.set(abs, [atime, mtime]);
    } else {
      fs.lutimesSync(abs, atime, mtime);
    }
  }

  private setXattrs(
    abs: string,
    pax: RawPax | null,
    kind: 'file' | 'directory' | 'symlink' | 'special',
  ): void {
    for (const [name, value] of xattrsOf(pax)) {
      try {
        lsetxattr(abs, name, value);
      } catch (err) {
        const code = errnoCode(err);
        // The filesystem may lack xattr support, and the kernel refuses user.* on symlinks and
        // device nodes; docker/containerd skip those the same way.
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') continue;
        if (code === 'EPERM' && name.startsWith('user.') && (kind === 'symlink' || kind === 'special'))
          continue;
        throw err;
      }
    }
  }

  private uid(header: TarHeader, pax: RawPax | null): number {
    return paxNumber(pax, 'uid') ?? header.uid ?? 0;
  }

  private gid(header: TarHeader, pax: RawPax | null): number {
    return paxNumber(pax, 'gid') ?? header.gid ?? 0;
  }

  /** [atime, mtime] in seconds; pax carries sub-second precision when present. */
  private times(header: TarHeader, pax: RawPax | null): [number, number] {
    const mtime = paxNumber(pax, 'mtime') ?? (header.mtime ? header.mtime.getTime() / 1000 : 0);
    const atime = paxNumber(pax, 'atime') ?? mtime;
    return [atime, mtime];
  }
}
