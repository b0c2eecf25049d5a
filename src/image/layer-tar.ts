import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { type Header, type Pack, pack as tarPack } from 'tar-stream';
import { BerthError } from '../util/errors.ts';
import { lgetxattr, llistxattr } from '../util/syscalls.ts';

export interface PackOptions {
  /**
   * `dir` is an overlayfs upperdir: turn overlay whiteouts (char device 0/0) into OCI `.wh.<name>`
   * files, opaque directories (trusted.overlay.opaque=y) into `<dir>/.wh..wh..opq`, and leave out
   * the trusted.overlay.* bookkeeping xattrs.
   */
  overlayUpper?: boolean;
}

const USTAR_MAX_ID = 0o7777777;
const USTAR_MAX_DEV = 0o777777;
const READ_CHUNK = 1 << 20;

type Headers = Partial<Header> & { name: string };
type Sink = ReturnType<Pack['entry']>;

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
    const base: Headers = {
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

  private xattrs(abs: string): Array<[string, Buffer]> {
    let names: string[];
    try {
      names = llistxattr(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return [];
      throw err;
    }
    const out: Array<[string, Buffer]> = [];
    for (const name of names.sort()) {
      // An SELinux label describes the host's policy, not the image.
      if (name === 'security.selinux') continue;
      if (this.overlayUpper && name.startsWith('trusted.overlay.')) continue;
      const value = lgetxattr(abs, name);
      if (value !== null) out.push([name, value]);
    }
    return out;
  }

  private async writeFile(abs: string, header: Headers, xattrs: Array<[string, Buffer]>): Promise<void> {
    const size = header.size ?? 0;
    const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      await this.write(header, xattrs, async (sink) => {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(size, 1)));
        let done = 0;
        while (done < size) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - done), done);
          if (n === 0) {
            throw new BerthError(`${abs} shrank while it was being packed; retry once nothing writes to it`);
          }
          done += n;
          // Copy: the sink may still hold the previous chunk when we refill `buf`.
          if (!sink.write(Buffer.from(buf.subarray(0, n)))) await waitDrain(sink);
        }
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Emits one entry. When it needs pax records we write the pax header ourselves rather than via
   * `header.pax`: tar-stream encodes pax values as UTF-8 strings, which cannot carry binary xattrs
   * (security.capability). The raw header is pushed onto the pack stream between two entries, where
   * tar-stream has nothing in flight, and the entry's own ustar header is kept encodable so that
   * tar-stream does not add a second pax header that would override ours.
   */
  private async write(
    header: Headers,
    xattrs: Array<[string, Buffer]> = [],
    body?: (sink: Sink) => Promise<void>,
  ): Promise<void> {
    const records: Array<[string, Buffer]> = [];
    // Directory names end in '/', as docker and GNU tar write them (tar-stream does not add it).
    if (header.type === 'directory' && !header.name.endsWith('/')) header.name += '/';
    if (!ustarNameFits(header.name)) {
      records.push(['path', Buffer.from(header.name)]);
      header.name = ustarFallback(header.name, 100);
    }
    if (header.linkname && !ustarLinkFits(header.linkname)) {
      records.push(['linkpath', Buffer.from(header.linkname)]);
      header.linkname = ustarFallback(header.linkname, 100);
    }
    if ((header.uid ?? 0) > USTAR_MAX_ID) {
      records.push(['uid', Buffer.from(String(header.uid))]);
      header.uid = 0;
    }
    if ((header.gid ?? 0) > USTAR_MAX_ID) {
      records.push(['gid', Buffer.from(String(header.gid))]);
      header.gid = 0;
    }
    // tar-stream writes device numbers as 6 octal digits; star's pax keys carry larger ones.
    if ((header.devmajor ?? 0) > USTAR_MAX_DEV) {
      records.push(['SCHILY.devmajor', Buffer.from(String(header.devmajor))]);
      header.devmajor = 0;
    }
    if ((header.devminor ?? 0) > USTAR_MAX_DEV) {
      records.push(['SCHILY.devminor', Buffer.from(String(header.devminor))]);
      header.devminor = 0;
    }
    for (const [name, value] of xattrs) records.push([`SCHILY.xattr.${name}`, value]);
    if (records.length > 0) this.pack.push(paxBlock(records));

    await new Promise<void>((resolve, reject) => {
      const sink = this.pack.entry(header, (err?: Error | null) => (err ? reject(err) : resolve()));
      if (header.type !== 'file') return;
      const fill = body ?? (async () => {});
      fill(sink).then(
        () => sink.end(undefined),
        (err: Error) => {
          sink.destroy(err);
          reject(err);
        },
      );
    });
  }
}

function waitDrain(sink: Sink): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      sink.off('error', onError);
      resolve();
    };
    const onError = (err: Error) => {
      sink.off('drain', onDrain);
      reject(err);
    };
    sink.once('drain', onDrain);
    sink.once('error', onError);
  });
}

/** glibc's gnu_dev_major / gnu_dev_minor. */
function splitDev(dev: bigint): [number, number] {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return [Number(major), Number(minor)];
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Whether a name fits ustar's 100-byte name plus 155-byte prefix split at a slash. */
function ustarNameFits(name: string): boolean {
  if (!isAscii(name)) return false;
  if (name.length <= 100) return true;
  // The prefix must end at a slash and the remainder must fit in 100 bytes.
  for (let i = name.indexOf('/'); i !== -1 && i <= 155; i = name.indexOf('/', i + 1)) {
    if (name.length - i - 1 <= 100) return i > 0;
  }
  return false;
}

function ustarLinkFits(linkname: string): boolean {
  return isAscii(linkname) && linkname.length <= 100;
}

/** The ustar field for readers that ignore pax; pax `path`/`linkpath` carries the real value. */
function ustarFallback(name: string, max: number): string {
  return name.replace(/[^\x20-\x7e]/g, '_').slice(0, max);
}

/** A complete pax extended header ('x' typeflag block, records, padding) with binary values. */
function paxBlock(records: Array<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    // `<len> <key>=<value>\n` where len counts itself too.
    const rest = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
    let len = rest + String(rest).length;
    if (String(len).length !== String(rest).length) len = rest + String(len).length;
    parts.push(Buffer.from(`${len} ${key}=`), value, Buffer.from('\n'));
  }
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(512);
  header.write('PaxHeader', 0, 'latin1');
  writeOctal(header, 0o644, 100, 8);
  writeOctal(header, 0, 108, 8);
  writeOctal(header, 0, 116, 8);
  writeOctal(header, body.length, 124, 12);
  writeOctal(header, 0, 136, 12);
  header[156] = 0x78; // 'x'
  header.write('ustar\u000000', 257, 'latin1');
  header.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  let sum = 0;
  for (const b of header) sum += b;
  writeOctal(header, sum, 148, 7);
  const pad = (512 - (body.length % 512)) % 512;
  return Buffer.concat([header, body, Buffer.alloc(pad)]);
}

function writeOctal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, 'latin1');
}
