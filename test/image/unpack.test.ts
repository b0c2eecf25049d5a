import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { packDirectory } from '../../src/image/layer-tar.ts';
import { unpackLayer, unpackLayerFile } from '../../src/image/unpack.ts';
import { BerthError } from '../../src/util/errors.ts';
import {
  flock,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  LOCK_UN,
  lgetxattr,
  llistxattr,
  lsetxattr,
  MNT_DETACH,
  MS_RDONLY,
  mknod,
  mount,
  umount2,
} from '../../src/util/syscalls.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-unpack-test-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
function tmpDir(label: string): string {
  const d = path.join(scratch, `${label}-${counter++}`);
  fs.mkdirSync(d);
  return d;
}

interface TarEntry {
  name: string;
  type?: 'file' | 'link' | 'symlink' | 'directory' | 'block-device' | 'character-device' | 'fifo';
  body?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

const T0 = new Date('2021-03-04T05:06:07Z');

/** Builds a tar in memory with tar-stream, the way an image registry would serve a layer. */
async function buildTar(entries: TarEntry[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const { body, ...header } = e;
    await new Promise<void>((resolve, reject) => {
      const h = { mtime: T0, ...header };
      if (body !== undefined) p.entry(h, body, (err) => (err ? reject(err) : resolve()));
      else p.entry(h, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function unpack(entries: TarEntry[], dest: string): Promise<void> {
  await unpackLayer(Readable.from([await buildTar(entries)]), dest);
}

async function packToBuffer(dir: string, overlayUpper = false): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await packDirectory(dir, sink, { overlayUpper });
  return Buffer.concat(chunks);
}

async function listTar(buf: Buffer): Promise<Array<{ name: string; type: string; pax: unknown }>> {
  const ex = tarExtract();
  const out: Array<{ name: string; type: string; pax: unknown }> = [];
  Readable.from([buf]).pipe(ex);
  for await (const entry of ex) {
    out.push({ name: entry.header.name, type: entry.header.type, pax: entry.header.pax });
    for await (const _ of entry);
  }
  return out;
}

function isWhiteout(p: string): boolean {
  const st = fs.lstatSync(p);
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Everything directly under `base` except `keep`: hostile layers must not have written there. */
function strays(base: string, keep: string[]): string[] {
  return fs.readdirSync(base).filter((n) => !keep.includes(n));
}

describe('unpackLayer', () => {
  test('creates files, dirs, symlinks, hardlinks, fifos and devices with their metadata', async () => {
    const dest = tmpDir('basic');
    const mtime = new Date('2020-01-02T03:04:05Z');
    await unpack(
      [
        { name: './', type: 'directory', mode: 0o755 },
        { name: './etc/', type: 'directory', mode: 0o750, uid: 1000, gid: 1001, mtime },
        {
          name: './etc/hello',
          body: 'hello world\n',
          mode: 0o640,
          uid: 1000,
          gid: 1000,
          mtime,
          pax: { 'SCHILY.xattr.user.foo': 'bar' },
        },
        { name: 'bin/', type: 'directory', mode: 0o755 },
        { name: 'bin/su', body: 'binary', mode: 0o4755, uid: 1000, gid: 1000 },
        { name: 'bin/sg', body: 'binary', mode: 0o2711, uid: 0, gid: 1000 },
        { name: 'tmp/', type: 'directory', mode: 0o1777 },
        { name: 'bin/su-link', type: 'link', linkname: 'bin/su' },
        { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 1000, gid: 1000, mtime },
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
        { name: 'run/fifo', type: 'fifo', mode: 0o620, uid: 1000 },
        { name: 'empty', body: '', mode: 0o600 },
      ],
      dest,
    );

    const hello = fs.lstatSync(path.join(dest, 'etc/hello'));
    assert.ok(hello.isFile());
    assert.equal(fs.readFileSync(path.join(dest, 'etc/hello'), 'utf8'), 'hello world\n');
    assert.equal(hello.mode & 0o7777, 0o640);
    assert.equal(hello.uid, 1000);
    assert.equal(hello.mtimeMs, mtime.getTime());
    assert.deepEqual(lgetxattr(path.join(dest, 'etc/hello'), 'user.foo'), Buffer.from('bar'));
    assert.equal(lgetxattr(path.join(dest, 'etc/hello'), 'user.nope'), null);

    const etc = fs.lstatSync(path.join(dest, 'etc'));
    assert.ok(etc.isDirectory());
    assert.equal(etc.mode & 0o7777, 0o750);
    assert.equal(etc.uid, 1000);
    assert.equal(etc.gid, 1001);
    // Directory times are set after their children were written.
    assert.equal(etc.mtimeMs, mtime.getTime());

    // setuid survives the chown to uid 1000.
    const su = fs.lstatSync(path.join(dest, 'bin/su'));
    assert.equal(su.mode & 0o7777, 0o4755);
    assert.equal(su.uid, 1000);
    assert.equal(fs.lstatSync(path.join(dest, 'bin/sg')).mode & 0o7777, 0o2711);
    assert.equal(fs.lstatSync(path.join(dest, 'tmp')).mode & 0o7777, 0o1777);

    const link = fs.lstatSync(path.join(dest, 'bin/su-link'));
    assert.equal(link.ino, su.ino);
    assert.equal(link.nlink, 2);

    const sh = fs.lstatSync(path.join(dest, 'bin/sh'));
    assert.ok(sh.isSymbolicLink());
    assert.equal(fs.readlinkSync(path.join(dest, 'bin/sh')), '/bin/busybox');
    assert.equal(sh.uid, 1000);
    assert.equal(sh.mtimeMs, mtime.getTime());

    const nul = fs.lstatSync(path.join(dest, 'dev/null'));
    assert.ok(nul.isCharacterDevice());
    assert.equal(nul.rdev, (1 << 8) | 3);
    assert.equal(nul.mode & 0o7777, 0o666);
    assert.ok(fs.lstatSync(path.join(dest, 'dev/sda')).isBlockDevice());
    assert.equal(fs.lstatSync(path.join(dest, 'dev/sda')).rdev, 8 << 8);

    const fifo = fs.lstatSync(path.join(dest, 'run/fifo'));
    assert.ok(fifo.isFIFO());
    assert.equal(fifo.mode & 0o7777, 0o620);
    assert.equal(fifo.uid, 1000);

    assert.equal(fs.readFileSync(path.join(dest, 'empty'), 'utf8'), '');
  });

  test('long names via pax and GNU headers', async () => {
    const dest = tmpDir('long');
    const deep = `${'d'.repeat(120)}/${'e'.repeat(150)}`;
    const target = `/${'t'.repeat(200)}`;
    await unpack(
      [
        { name: `${deep}/file.txt`, body: 'deep' },
        { name: 'café/ünïcode', body: 'u' },
        { name: 'longlink', type: 'symlink', linkname: target },
      ],
      dest,
    );
    assert.equal(fs.readFileSync(path.join(dest, deep, 'file.txt'), 'utf8'), 'deep');
    assert.equal(fs.readFileSync(path.join(dest, 'café/ünïcode'), 'utf8'), 'u');
    assert.equal(fs.readlinkSync(path.join(dest, 'longlink')), target);
  });

  test('turns OCI whiteouts into overlayfs whiteouts and opaque dirs', async () => {
    const dest = tmpDir('whiteout');
    await unpack(
      [
        { name: 'a/', type: 'directory' },
        { name: 'a/x', body: 'earlier in this layer' },
        { name: 'a/sub/', type: 'directory' },
        { name: 'a/sub/deep', body: 'deep' },
        { name: 'a/.wh.x', body: '' },
        { name: 'a/.wh.sub', body: '' },
        { name: 'a/.wh.gone', body: '' },
        { name: 'b/', type: 'directory', mode: 0o711 },
        { name: 'b/.wh..wh..opq', body: '' },
        { name: 'b/kept', body: 'k' },
        { name: 'c/d/.wh..wh..opq', body: '' },
        { name: '.wh..wh..plnk/', type: 'directory' },
        { name: 'a/.wh..wh.aufs', body: '' },
      ],
      dest,
    );
    assert.ok(isWhiteout(path.join(dest, 'a/x')));
    assert.ok(isWhiteout(path.join(dest, 'a/sub')));
    assert.ok(isWhiteout(path.join(dest, 'a/gone')));
    assert.deepEqual(fs.readdirSync(path.join(dest, 'a')).sort(), ['gone', 'sub', 'x']);
    assert.deepEqual(lgetxattr(path.join(dest, 'b'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.equal(fs.readFileSync(path.join(dest, 'b/kept'), 'utf8'), 'k');
    assert.equal(fs.lstatSync(path.join(dest, 'b')).mode & 0o7777, 0o711);
    assert.ok(fs.lstatSync(path.join(dest, 'c/d')).isDirectory());
    assert.deepEqual(lgetxattr(path.join(dest, 'c/d'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.equal(lgetxattr(path.join(dest, 'a'), 'trusted.overlay.opaque'), null);
    assert.deepEqual(fs.readdirSync(dest).sort(), ['a', 'b', 'c']);
  });

  test('a later entry replaces an earlier one for the same path', async () => {
    const dest = tmpDir('replace');
    const outside = tmpDir('replace-outside');
    fs.writeFileSync(path.join(outside, 'target'), 'untouched');
    await unpack(
      [
        { name: 'f', body: 'first', mode: 0o644 },
        { name: 'f', body: 'second', mode: 0o600 },
        { name: 'dir/', type: 'directory', mode: 0o700 },
        { name: 'dir/child', body: 'c' },
        { name: 'dir/', type: 'directory', mode: 0o755, uid: 1000 },
        { name: 'todir', body: 'file' },
        { name: 'todir/', type: 'directory' },
        { name: 'tofile/', type: 'directory' },
        { name: 'tofile/inner', body: 'i' },
        { name: 'tofile', body: 'now a file' },
        // Writing a file over a symlink replaces the link; it never writes through it.
        { name: 'ln', type: 'symlink', linkname: path.join(outside, 'target') },
        { name: 'ln', body: 'replaced link' },
        { name: 'h1', body: 'x' },
        { name: 'h2', type: 'link', linkname: 'h1' },
        { name: 'h2', type: 'link', linkname: 'h1' },
      ],
      dest,
    );
    assert.equal(fs.readFileSync(path.join(dest, 'f'), 'utf8'), 'second');
    assert.equal(fs.lstatSync(path.join(dest, 'f')).mode & 0o7777, 0o600);
    const dir = fs.lstatSync(path.join(dest, 'dir'));
    assert.equal(dir.mode & 0o7777, 0o755);
    assert.equal(dir.uid, 1000);
    assert.equal(fs.readFileSync(path.join(dest, 'dir/child'), 'utf8'), 'c');
    assert.ok(fs.lstatSync(path.join(dest, 'todir')).isDirectory());
    assert.equal(fs.readFileSync(path.join(dest, 'tofile'), 'utf8'), 'now a file');
    assert.ok(fs.lstatSync(path.join(dest, 'ln')).isFile());
    assert.equal(fs.readFileSync(path.join(dest, 'ln'), 'utf8'), 'replaced link');
    assert.equal(fs.readFileSync(path.join(outside, 'target'), 'utf8'), 'untouched');
    assert.equal(fs.lstatSync(path.join(dest, 'h2')).ino, fs.lstatSync(path.join(dest, 'h1')).ino);
  });

  test('resumes over a partial earlier attempt in dest', async () => {
    const dest = tmpDir('partial');
    fs.mkdirSync(path.join(dest, 'a'));
    fs.writeFileSync(path.join(dest, 'a/f'), 'stale');
    fs.symlinkSync('/nowhere', path.join(dest, 'a/l'));
    await unpack(
      [
        { name: 'a/', type: 'directory' },
        { name: 'a/f', body: 'fresh' },
        { name: 'a/l', type: 'symlink', linkname: '/somewhere' },
      ],
      dest,
    );
    assert.equal(fs.readFileSync(path.join(dest, 'a/f'), 'utf8'), 'fresh');
    assert.equal(fs.readlinkSync(path.join(dest, 'a/l')), '/somewhere');
  });

  describe('rejects hostile layers', () => {
    const cases: Array<{ label: string; entries: (outside: string) => TarEntry[]; offender: string }> = [
      { label: 'dot-dot at the start', entries: () => [{ name: '../evil', body: 'x' }], offender: '../evil' },
      {
        label: 'dot-dot climbing past the root',
        entries: () => [{ name: 'a/../../evil', body: 'x' }],
        offender: 'a/../../evil',
      },
      {
        label: 'absolute path with dot-dots',
        entries: () => [{ name: '/abs/../../evil', body: 'x' }],
        offender: '/abs/../../evil',
      },
      {
        label: 'file through a symlink the layer created',
        entries: (outside) => [
          { name: 'evil', type: 'symlink', linkname: outside },
          { name: 'evil/passwd', body: 'owned' },
        ],
        offender: 'evil/passwd',
      },
      {
        label: 'file through a symlink to /etc',
        entries: () => [
          { name: 'evil', type: 'symlink', linkname: '/etc' },
          { name: 'evil/berth-unpack-test-must-not-exist', body: 'owned' },
        ],
        offender: 'evil/berth-unpack-test-must-not-exist',
      },
      {
        label: 'directory through a relative symlink',
        entries: () => [
          { name: 'rel', type: 'symlink', linkname: '../..' },
          { name: 'rel/evil/', type: 'directory' },
        ],
        offender: 'rel/evil/',
      },
      {
        label: 'hardlink to a path outside',
        entries: () => [{ name: 'passwd', type: 'link', linkname: '../../etc/passwd' }],
        offender: '../../etc/passwd',
      },
      {
        label: 'hardlink through a symlink',
        entries: (outside) => [
          { name: 'evil', type: 'symlink', linkname: outside },
          { name: 'stolen', type: 'link', linkname: 'evil/secret' },
        ],
        offender: 'evil/secret',
      },
      {
        label: 'whiteout through a symlink',
        entries: (outside) => [
          { name: 'evil', type: 'symlink', linkname: outside },
          { name: 'evil/.wh.secret', body: '' },
        ],
        offender: 'evil/.wh.secret',
      },
      {
        label: 'opaque marker through a symlink',
        entries: (outside) => [
          { name: 'evil', type: 'symlink', linkname: outside },
          { name: 'evil/.wh..wh..opq', body: '' },
        ],
        offender: 'evil/.wh..wh..opq',
      },
      {
        label: 'whiteout of dot-dot',
        entries: () => [{ name: 'a/.wh...', body: '' }],
        offender: 'a/.wh...',
      },
    ];
    for (const c of cases) {
      test(c.label, async () => {
        const base = tmpDir('hostile');
        const dest = path.join(base, 'root');
        const outside = path.join(base, 'outside');
        fs.mkdirSync(dest);
        fs.mkdirSync(outside);
        fs.writeFileSync(path.join(outside, 'secret'), 'secret');
        const outsideBefore = fs.lstatSync(path.join(outside, 'secret'));
        await assert.rejects(unpack(c.entries(outside), dest), (err: unknown) => {
          assert.ok(err instanceof BerthError, `expected a BerthError, got ${String(err)}`);
          assert.equal(err.message, `layer contains an unsafe path: "${c.offender}" escapes the layer root`);
          return true;
        });
        assert.deepEqual(strays(base, ['root', 'outside']), []);
        assert.deepEqual(fs.readdirSync(outside), ['secret']);
        const outsideAfter = fs.lstatSync(path.join(outside, 'secret'));
        assert.equal(outsideAfter.nlink, 1);
        assert.equal(outsideAfter.mtimeMs, outsideBefore.mtimeMs);
        assert.deepEqual(llistxattr(outside), []);
        assert.equal(fs.existsSync('/etc/berth-unpack-test-must-not-exist'), false);
        assert.equal(fs.existsSync(path.join(scratch, 'evil')), false);
      });
    }
  });

  test('a hardlink to a missing target is an error', async () => {
    const dest = tmpDir('badlink');
    await assert.rejects(unpack([{ name: 'h', type: 'link', linkname: 'nope' }], dest), BerthError);
  });

  test('a truncated tar is an error', async () => {
    const dest = tmpDir('truncated');
    const tar = await buildTar([{ name: 'big', body: Buffer.alloc(10_000, 1) }]);
    await assert.rejects(unpackLayer(Readable.from([tar.subarray(0, 4096)]), dest));
  });
});

describe('unpackLayerFile', () => {
  test('reads gzip and plain tars, and refuses zstd', async () => {
    const tar = await buildTar([{ name: 'a/b', body: 'gz' }]);
    const plain = path.join(tmpDir('file'), 'layer.tar');
    fs.writeFileSync(plain, tar);
    const gz = path.join(tmpDir('file'), 'layer.tar.gz');
    fs.writeFileSync(gz, gzipSync(tar));
    const zst = path.join(tmpDir('file'), 'layer.tar.zst');
    fs.writeFileSync(zst, execFileSync('zstd', ['-q', '-c'], { input: tar }));
    const badZst = path.join(tmpDir('file'), 'bad.tar.zst');
    fs.writeFileSync(badZst, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));

    const d1 = tmpDir('plain');
    await unpackLayerFile(plain, d1);
    assert.equal(fs.readFileSync(path.join(d1, 'a/b'), 'utf8'), 'gz');
    const d2 = tmpDir('gz');
    await unpackLayerFile(gz, d2);
    assert.equal(fs.readFileSync(path.join(d2, 'a/b'), 'utf8'), 'gz');
    const d3 = tmpDir('zst');
    await unpackLayerFile(zst, d3);
    assert.equal(fs.readFileSync(path.join(d3, 'a/b'), 'utf8'), 'gz');
    await assert.rejects(unpackLayerFile(badZst, tmpDir('badzst')), BerthError);

    const corrupt = path.join(tmpDir('file'), 'corrupt.tar.gz');
    fs.writeFileSync(corrupt, gzipSync(tar).subarray(0, 30));
    await assert.rejects(unpackLayerFile(corrupt, tmpDir('corrupt')), BerthError);
  });

  test('unpacks a busybox-sized layer quickly', async () => {
    // ~2 MB: one big binary hardlinked a few hundred times, plus small files, like busybox.
    const entries: TarEntry[] = [
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', body: Buffer.alloc(1_900_000, 7), mode: 0o755 },
    ];
    for (let i = 0; i < 400; i++)
      entries.push({ name: `bin/app${i}`, type: 'link', linkname: 'bin/busybox' });
    for (let i = 0; i < 50; i++) entries.push({ name: `etc/conf${i}`, body: `conf ${i}\n` });
    const file = path.join(tmpDir('perf'), 'layer.tar.gz');
    fs.writeFileSync(file, gzipSync(await buildTar(entries)));
    const dest = tmpDir('perf-dest');
    const start = performance.now();
    await unpackLayerFile(file, dest);
    const ms = performance.now() - start;
    assert.equal(fs.lstatSync(path.join(dest, 'bin/busybox')).nlink, 401);
    // The target is well under 100 ms; the bound leaves room for a loaded CI machine.
    assert.ok(ms < 500, `unpacking took ${ms.toFixed(1)} ms`);
  });
});

interface Node {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  content?: string;
  link?: string;
  rdev?: number;
  inoGroup?: string;
  xattrs: Record<string, string>;
}

/** Everything that a layer records about a tree, keyed by relative path. */
function snapshot(root: string): Record<string, Node> {
  const out: Record<string, Node> = {};
  const firstPathOfIno = new Map<number, string>();
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, r);
      const st = fs.lstatSync(abs);
      const xattrs: Record<string, string> = {};
      for (const x of llistxattr(abs).sort())
        xattrs[x] = (lgetxattr(abs, x) ?? Buffer.alloc(0)).toString('hex');
      const node: Node = {
        type: st.isDirectory()
          ? 'dir'
          : st.isFile()
            ? 'file'
            : st.isSymbolicLink()
              ? 'symlink'
              : st.isFIFO()
                ? 'fifo'
                : st.isCharacterDevice()
                  ? 'chr'
                  : 'blk',
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
        xattrs,
      };
      if (st.isFile()) node.content = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
      if (st.isSymbolicLink()) node.link = fs.readlinkSync(abs);
      if (st.isCharacterDevice() || st.isBlockDevice()) node.rdev = st.rdev;
      if (!st.isDirectory() && st.nlink > 1) {
        if (!firstPathOfIno.has(st.ino)) firstPathOfIno.set(st.ino, r);
        node.inoGroup = firstPathOfIno.get(st.ino);
      }
      out[r] = node;
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

describe('packDirectory', () => {
  test('round-trips a tree through unpackLayer, binary xattrs included', async () => {
    const src = tmpDir('rt-src');
    const t = (p: string, sec: number) => fs.lutimesSync(path.join(src, p), sec, sec);
    fs.mkdirSync(path.join(src, 'bin'));
    fs.writeFileSync(path.join(src, 'bin/busybox'), Buffer.alloc(70_000, 3));
    fs.chmodSync(path.join(src, 'bin/busybox'), 0o755);
    fs.linkSync(path.join(src, 'bin/busybox'), path.join(src, 'bin/ls'));
    fs.linkSync(path.join(src, 'bin/busybox'), path.join(src, 'bin/cat'));
    fs.writeFileSync(path.join(src, 'bin/ping'), 'ping');
    fs.chownSync(path.join(src, 'bin/ping'), 1000, 1000);
    fs.chmodSync(path.join(src, 'bin/ping'), 0o4755);
    // security.capability-like bytes: NULs and bytes that are not valid UTF-8.
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    cap[3] = 0xff;
    cap[7] = 0x80;
    lsetxattr(path.join(src, 'bin/ping'), 'user.cap', cap);
    lsetxattr(path.join(src, 'bin/ping'), 'user.text', Buffer.from('plain'));
    fs.symlinkSync('busybox', path.join(src, 'bin/sh'));
    fs.symlinkSync(`/${'l'.repeat(150)}`, path.join(src, 'longtarget'));
    fs.mkdirSync(path.join(src, 'dev'));
    mknod(path.join(src, 'dev/null'), fs.constants.S_IFCHR | 0o666, 1, 3);
    mknod(path.join(src, 'dev/big'), fs.constants.S_IFBLK | 0o600, 259, 300000);
    mknod(path.join(src, 'fifo'), fs.constants.S_IFIFO | 0o644, 0, 0);
    fs.mkdirSync(path.join(src, 'tmp'));
    fs.chmodSync(path.join(src, 'tmp'), 0o1777);
    fs.mkdirSync(path.join(src, 'empty'));
    fs.chownSync(path.join(src, 'empty'), 1000, 1001);
    const long = `${'x'.repeat(110)}/${'y'.repeat(120)}`;
    fs.mkdirSync(path.join(src, long), { recursive: true });
    fs.writeFileSync(path.join(src, long, 'ünïcode-fïle'), 'u');
    fs.writeFileSync(path.join(src, 'zero-mode'), 'z');
    fs.chmodSync(path.join(src, 'zero-mode'), 0);
    for (const p of ['bin/busybox', 'bin/ping', 'bin/sh', 'longtarget', 'dev/null', 'fifo', 'zero-mode']) {
      t(p, 1_600_000_000);
    }
    for (const p of [long, 'x'.repeat(110), 'bin', 'dev', 'tmp', 'empty']) t(p, 1_500_000_000);

    const tar = await packToBuffer(src);
    const names = (await listTar(tar)).map((e) => e.name);
    assert.equal(names[0], 'bin/');
    assert.equal(new Set(names).size, names.length);
    // Depth-first with sorted children: a directory's entries follow it directly.
    assert.deepEqual(names.slice(0, 6), ['bin/', 'bin/busybox', 'bin/cat', 'bin/ls', 'bin/ping', 'bin/sh']);

    const dest = tmpDir('rt-dest');
    await unpackLayer(Readable.from([tar]), dest);
    assert.deepEqual(snapshot(dest), snapshot(src));
    assert.deepEqual(lgetxattr(path.join(dest, 'bin/ping'), 'user.cap'), cap);
    assert.equal(
      fs.lstatSync(path.join(dest, 'bin/ls')).ino,
      fs.lstatSync(path.join(dest, 'bin/busybox')).ino,
    );
    assert.equal(fs.lstatSync(path.join(dest, 'dev/big')).rdev, fs.lstatSync(path.join(src, 'dev/big')).rdev);
  });

  test('overlayUpper turns overlay whiteouts and opaque dirs back into OCI ones', async () => {
    const upper = tmpDir('upper');
    fs.mkdirSync(path.join(upper, 'a'));
    mknod(path.join(upper, 'a/x'), fs.constants.S_IFCHR, 0, 0);
    // Kernels share one whiteout inode between whiteouts; it must not become a hardlink.
    fs.linkSync(path.join(upper, 'a/x'), path.join(upper, 'a/y'));
    fs.mkdirSync(path.join(upper, 'b'));
    lsetxattr(path.join(upper, 'b'), 'trusted.overlay.opaque', Buffer.from('y'));
    fs.writeFileSync(path.join(upper, 'b/new'), 'new');

    const entries = await listTar(await packToBuffer(upper, true));
    assert.deepEqual(
      entries.map((e) => `${e.type} ${e.name}`),
      ['directory a/', 'file a/.wh.x', 'file a/.wh.y', 'directory b/', 'file b/.wh..wh..opq', 'file b/new'],
    );
    assert.equal(entries[3].pax, null);

    // Without the option the tree is packed as it is on disk.
    const raw = await listTar(await packToBuffer(upper, false));
    assert.ok(raw.some((e) => e.name === 'a/x' && e.type === 'character-device'));
    assert.ok(raw.some((e) => e.name === 'b/' && JSON.stringify(e.pax).includes('trusted.overlay.opaque')));

    const dest = tmpDir('upper-rt');
    await unpackLayer(Readable.from([await packToBuffer(upper, true)]), dest);
    assert.ok(isWhiteout(path.join(dest, 'a/x')));
    assert.ok(isWhiteout(path.join(dest, 'a/y')));
    assert.deepEqual(lgetxattr(path.join(dest, 'b'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.equal(fs.readFileSync(path.join(dest, 'b/new'), 'utf8'), 'new');
  });
});

describe('overlay mount of unpacked layers', () => {
  test('whiteouts hide lower files and opaque dirs hide lower contents', async (t) => {
    const lower = tmpDir('lower');
    const upper = tmpDir('upperlayer');
    const merged = tmpDir('merged');
    await unpack(
      [
        { name: 'a/', type: 'directory' },
        { name: 'a/x', body: 'lower x' },
        { name: 'a/y', body: 'lower y' },
        { name: 'b/', type: 'directory' },
        { name: 'b/old1', body: 'old' },
        { name: 'b/old2/', type: 'directory' },
      ],
      lower,
    );
    await unpack(
      [
        { name: 'a/', type: 'directory' },
        { name: 'a/.wh.x', body: '' },
        { name: 'b/', type: 'directory' },
        { name: 'b/.wh..wh..opq', body: '' },
        { name: 'b/new', body: 'upper new' },
      ],
      upper,
    );
    mount('overlay', merged, 'overlay', MS_RDONLY, `lowerdir=${upper}:${lower}`);
    t.after(() => {
      try {
        umount2(merged, MNT_DETACH);
      } catch {}
    });
    assert.deepEqual(fs.readdirSync(path.join(merged, 'a')), ['y']);
    assert.equal(fs.existsSync(path.join(merged, 'a/x')), false);
    assert.deepEqual(fs.readdirSync(path.join(merged, 'b')), ['new']);
    assert.equal(fs.readFileSync(path.join(merged, 'b/new'), 'utf8'), 'upper new');
    umount2(merged, 0);
    assert.deepEqual(fs.readdirSync(merged), []);
  });
});

describe('syscalls', () => {
  test('failures carry the errno name and text', () => {
    const dir = tmpDir('errno');
    assert.throws(() => umount2(dir, 0), {
      message: `umount ${dir}: EINVAL (Invalid argument)`,
      code: 'EINVAL',
    });
    assert.throws(() => mount('overlay', path.join(dir, 'missing'), 'overlay', 0, 'lowerdir=/nonexistent'), {
      message: `mount overlay on ${path.join(dir, 'missing')}: ENOENT (No such file or directory)`,
    });
    mknod(path.join(dir, 'n'), fs.constants.S_IFIFO | 0o600, 0, 0);
    assert.throws(
      () => mknod(path.join(dir, 'n'), fs.constants.S_IFIFO | 0o600, 0, 0),
      /^SyscallError: mknod .*\/n: EEXIST \(File exists\)$/,
    );
    const fd1 = fs.openSync(path.join(dir, 'lock'), 'w');
    const fd2 = fs.openSync(path.join(dir, 'lock'), 'r');
    try {
      flock(fd1, LOCK_EX | LOCK_NB);
      assert.throws(() => flock(fd2, LOCK_SH | LOCK_NB), { code: 'EAGAIN' });
      flock(fd1, LOCK_UN);
      flock(fd2, LOCK_SH | LOCK_NB);
    } finally {
      fs.closeSync(fd1);
      fs.closeSync(fd2);
    }
    assert.equal(lgetxattr(dir, 'user.missing'), null);
    assert.deepEqual(llistxattr(dir), []);
  });
});
