import * as fs from 'node:fs';
import type { Header, Pack } from 'tar-stream';
import { BerthError } from '../util/errors.ts';

const USTAR_MAX_ID = 0o7777777;
const USTAR_MAX_DEV = 0o777777;
const READ_CHUNK = 1 << 20;

export type TarHeader = Partial<Header> & { name: string };
export type TarSink = ReturnType<Pack['entry']>;
/** Extended attributes as (name, raw value): values may be binary (security.capability). */
export type Xattrs = Array<[string, Buffer]>;

/**
 * Emits one entry onto `pack`. When it needs pax records (long or non-ASCII names, large ids or
 * device numbers, xattrs) we write the pax header ourselves rather than via `header.pax`:
 * tar-stream encodes pax values as UTF-8 strings, which cannot carry binary xattrs. The raw header
 * is pushed onto the pack stream between two entries, where tar-stream has nothing in flight, and
 * the entry's own ustar header is kept encodable so that tar-stream does not add a second pax
 * header that would override ours. `header` is rewritten in place to its ustar fallbacks.
 */
export async function writeEntry(
  pack: Pack,
  header: TarHeader,
  xattrs: Xattrs = [],
  body?: (sink: TarSink) => Promise<void>,
): Promise<void> {
  const records: Xattrs = [];
  // Directory names end in '/', as docker and GNU tar write them (tar-stream does not add it).
  if (header.type === 'directory' && !header.name.endsWith('/')) header.name += '/';
  if (!ustarNameFits(header.name)) {
    records.push(['path', Buffer.from(header.name)]);
    header.name = ustarFallback(header.name);
  }
  if (header.linkname && !ustarLinkFits(header.linkname)) {
    records.push(['linkpath', Buffer.from(header.linkname)]);
    header.linkname = ustarFallback(header.linkname);
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
  if (records.length > 0) pack.push(paxBlock(records));

  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err?: Error | null) => (err ? reject(err) : resolve()));
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

/**
 * An entry body that copies `size` bytes of the open file `fd` by offset. A file that turns out
 * shorter than its header said fails with `shrunk`: the header is already out, so the tar would lie.
 */
export function fdBody(fd: number, size: number, shrunk: string): (sink: TarSink) => Promise<void> {
  return async (sink) => {
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(size, 1)));
    let done = 0;
    while (done < size) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - done), done);
      if (n === 0) throw new BerthError(shrunk);
      done += n;
      // Copy: the sink may still hold the previous chunk when `buf` is refilled.
      if (!sink.write(Buffer.from(buf.subarray(0, n)))) await sinkDrained(sink);
    }
  };
}

/** Waits until `sink` takes more; a sink closed meanwhile (its pack destroyed) would never drain. */
export function sinkDrained(sink: TarSink): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      sink.off('drain', onDrain);
      sink.off('error', onError);
      sink.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(new BerthError('the archive was closed while a file was written to it'));
    sink.once('drain', onDrain);
    sink.once('error', onError);
    sink.once('close', onClose);
  });
}

/** glibc's gnu_dev_major / gnu_dev_minor. */
export function splitDev(dev: bigint): [number, number] {
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
function ustarFallback(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '_').slice(0, 100);
}

/** A complete pax extended header ('x' typeflag block, records, padding) with binary values. */
function paxBlock(records: Xattrs): Buffer {
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
  header.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  let sum = 0;
  for (const b of header) sum += b;
  writeOctal(header, sum, 148, 7);
  const pad = (512 - (body.length % 512)) % 512;
  return Buffer.concat([header, body, Buffer.alloc(pad)]);
}

function writeOctal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, 'latin1');
}
